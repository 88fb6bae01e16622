# replog_retention NAME size= age=; and replog_zone ... segment=SIZE: what
# nginx refuses to start with, and a node that starts with them.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';

repeat_each(1);
workers(2);
log_level('info');
no_shuffle();
no_root_location();

run_tests();

__DATA__

=== TEST 1: replog_retention of an in-memory zone: its log starts at 1
--- http_config
    replog_zone log 1m;
    replog_retention log size=1m;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- pipelined_requests eval
["POST /messages?wc=1\n{\"message\":\"one\"}", "GET /messages?since=0"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/"message_id":1,/, qr/"message":"one"/]
--- no_error_log
[error]



=== TEST 2: replog_retention of a zone not defined before it
--- http_config
    replog_retention log size=1m;
    replog_zone log 1m path=$TEST_NGINX_SERVER_ROOT/log;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_retention: no replog_zone "log" before it



=== TEST 3: a size that is no size
--- http_config
    replog_zone log 1m path=$TEST_NGINX_SERVER_ROOT/log;
    replog_retention log size=lots;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_retention "log": invalid parameter "size=lots", use size=SIZE or age=TIME



=== TEST 4: an age that is no time, and a duplicate
--- http_config
    replog_zone log 1m path=$TEST_NGINX_SERVER_ROOT/log;
    replog_retention log age=old;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_retention "log": invalid parameter "age=old"



=== TEST 5: replog_retention twice for a zone
--- http_config
    replog_zone log 1m path=$TEST_NGINX_SERVER_ROOT/log;
    replog_retention log size=1m;
    replog_retention log age=1h;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
"replog_retention" directive is duplicate



=== TEST 6: segment= out of its range
--- http_config
    replog_zone log 1m path=$TEST_NGINX_SERVER_ROOT/log segment=4k;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_zone "log": segment= takes a size from 64k to 64m, not "4k"



=== TEST 7: segment= without path=
--- http_config
    replog_zone log 1m segment=1m;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_zone "log": segment= needs path=DIR



=== TEST 8: a node with both starts; a whole log starts at id 1
--- http_config
    replog_zone log 1m path=$TEST_NGINX_SERVER_ROOT/log segment=64k;
    replog_retention log size=1m age=1h;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- pipelined_requests eval
["GET /health", "POST /messages?wc=1\n{\"message\":\"one\"}",
 "GET /health", "GET /messages?since=0", "GET /metrics"]
--- error_code eval
[200, 201, 200, 200, 200]
--- response_body_like eval
[qr/"last_id":0,.*"log_first_id":0,/, qr/"message_id":1,/,
 qr/"last_id":1,.*"log_first_id":1,/, qr/"message":"one"/,
 qr/replog_log_first_id\{node="m1"\} 1\n.*replog_log_segments_dropped_total\{node="m1"\} 0\n/s]
--- no_error_log
[error]
