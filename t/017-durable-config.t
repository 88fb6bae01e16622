# The durable log's directive: replog_zone NAME SIZE path=DIR fsync=...;
# what nginx refuses to start with, and a log that survives a restart.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use File::Path qw(remove_tree make_path);

# the log of TESTs 8-10 lives beside the server root, which each block
# renews; it starts empty in every run
our $Data = $ENV{TEST_NGINX_SERVER_ROOT} . '-017-log';
remove_tree($Data);
$ENV{TEST_NGINX_017_LOG} = $Data;

# a directory only root may write to, for a worker running as nobody
our $Closed = $ENV{TEST_NGINX_SERVER_ROOT} . '-017-closed';
remove_tree($Closed);
make_path($Closed);
chmod 0755, $Closed;
$ENV{TEST_NGINX_017_CLOSED} = $Closed;

repeat_each(1);
workers(2);
log_level('info');
no_shuffle();
no_root_location();

run_tests();

__DATA__

=== TEST 1: an unknown parameter of replog_zone
--- http_config
    replog_zone log 1m paht=/tmp/x;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_zone "log": unknown parameter "paht=/tmp/x"



=== TEST 2: fsync= without path=
--- http_config
    replog_zone log 1m fsync=always;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_zone "log": fsync= needs path=DIR



=== TEST 3: fsync= that is neither always, off nor a time
--- http_config
    replog_zone log 1m path=$TEST_NGINX_SERVER_ROOT/log fsync=sometimes;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_zone "log": fsync= takes "always", "off" or a time, not "sometimes"



=== TEST 4: two zones on one directory
--- http_config
    replog_zone log 1m path=$TEST_NGINX_SERVER_ROOT/log;
    replog_zone other 1m path=$TEST_NGINX_SERVER_ROOT/log/;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log eval
qr{replog_zone "other": path="[^"]+/log" is already the log of replog_zone "log"}



=== TEST 5: path= is a file
--- http_config
    replog_zone log 1m path=$TEST_NGINX_SERVER_ROOT/conf/nginx.conf;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log eval
qr{replog_zone "log": path="\S+/conf/nginx\.conf" cannot be created or used}



=== TEST 6: path= the worker user cannot write to
--- main_config
    user nobody nogroup;
--- http_config
    replog_zone log 1m path=$TEST_NGINX_017_CLOSED;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log eval
qr{replog_zone "log": path="\S+-017-closed" cannot be written by the worker user "nobody"}



=== TEST 7: a directory that is missing is created, owned by the worker user
--- http_config
    replog_zone log 1m path=$TEST_NGINX_SERVER_ROOT/log;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- pipelined_requests eval
["POST /messages?wc=1\n{\"message\":\"one\"}", "GET /messages"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/"message_id":1,/, qr/"message":"one"/]
--- error_log eval
qr{replog_zone "log": created "\S+/log"}



=== TEST 8: messages written with fsync=always
--- http_config
    replog_zone log 1m path=$TEST_NGINX_017_LOG fsync=always;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; client_max_body_size 1m; }
--- pipelined_requests eval
["POST /messages?wc=1\n{\"message\":\"one\"}",
 "POST /messages?wc=1\n{\"message\":\"two \\\"2\\\"\"}",
 "POST /messages?wc=1\n{\"message\":\"three\"}",
 "POST /messages?wc=1\n{\"message\":\"" . ('x' x 100000) . "\"}",
 "GET /metrics"]
--- error_code eval
[201, 201, 201, 201, 200]
--- response_body_like eval
[qr/"message_id":1,/, qr/"message_id":2,/, qr/"message_id":3,/,
 qr/"message_id":4,/,
 qr/replog_log_fsyncs_total\{node="m1"\} [1-9].*replog_log_synced_entries_total\{node="m1"\} 4\n/s]
--- no_error_log
[error]



=== TEST 9: after a restart the master replays them and opens at once
--- http_config
    replog_zone log 1m path=$TEST_NGINX_017_LOG fsync=always;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- pipelined_requests eval
["GET /health", "GET /messages",
 "POST /messages?wc=1\n{\"message\":\"four\"}"]
--- error_code eval
[200, 200, 201]
--- response_body_like eval
[qr/"state":"open".*"last_id":4,/,
 qr/^\{"data":\[\{"message":"one","meta":\{"message_id":1,.*\{"message":"two \\"2\\"","meta":\{"message_id":2,.*\{"message":"three","meta":\{"message_id":3,.*\{"message":"x{50000}x{50000}","meta":\{"message_id":4,.*\]\}$/,
 qr/"message_id":5,/]
--- error_log
replog_zone "log": 4 messages replayed from



=== TEST 10: a zone that cannot hold its log's index and newest chunk stops the start
A log larger than the zone replays its newest entries into it and leaves
the rest to the files (t/cluster/190); a zone must still hold the sparse
index and the newest chunk of 1024 ids whole: here a 100 kB message in a
64k zone.
--- http_config
    replog_zone log 64k path=$TEST_NGINX_017_LOG fsync=off;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log eval
qr{replog_zone "log" is too small for its log in "\S+-017-log": the index of its 5 messages and the chunk of id 4 need about 1M, make the zone at least that large}
