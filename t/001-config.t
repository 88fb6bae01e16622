# Configuration: what nginx refuses to start with, and valid setups.
use Test::Nginx::Socket 'no_plan';
use Sys::Hostname ();

our $Host = lc Sys::Hostname::hostname();
$Host = substr($Host, 0, 63);

repeat_each(1);
workers(1);
log_level('info');
no_shuffle();
no_root_location();    # the tests define "location /" themselves

run_tests();

__DATA__

=== TEST 1: replog_node names a zone nobody declared
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=x role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log eval
qr/replog_node in \S*nginx\.conf:\d+: unknown zone "x", declare it with replog_zone/



=== TEST 2: replog_zone below 16 pages
--- http_config
    replog_zone log 63k;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_zone "log" is too small



=== TEST 3: replog_zone with a size that is not a size
--- http_config
    replog_zone log lots;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_zone "log": invalid size "lots"



=== TEST 4: replog_node without a role
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_node: role=master or role=secondary is missing



=== TEST 5: replog_node without a zone
--- http_config
    replog_zone log 1m;
--- config
    replog_node role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_node: zone=NAME is missing



=== TEST 6: replog_api in a server block without replog_node
--- http_config
    replog_zone log 1m;
--- config
    location / { replog_api; }
--- must_die
--- error_log eval
qr/replog_api in \S*nginx\.conf:\d+: no replog_node in its server block/



=== TEST 7: replog_node with an unknown parameter
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master foo=bar;
    location / { replog_api; }
--- must_die
--- error_log
replog_node: invalid parameter "foo=bar"



=== TEST 8: replog_node with an unknown role
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=leader;
    location / { replog_api; }
--- must_die
--- error_log
replog_node: invalid parameter "role=leader"



=== TEST 9: replog_node with an empty id
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=;
    location / { replog_api; }
--- must_die
--- error_log
replog_node: id must be 1 to 63 printable ASCII characters



=== TEST 10: replog_node with a 64-byte id
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;
    location / { replog_api; }
--- must_die
--- error_log
replog_node: id must be 1 to 63 printable ASCII characters



=== TEST 11: replog_write_concern default=0
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_write_concern default=0;
    location / { replog_api; }
--- must_die
--- error_log
replog_write_concern: invalid "default=0"



=== TEST 12: replog_write_concern default=abc
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_write_concern default=abc;
    location / { replog_api; }
--- must_die
--- error_log
replog_write_concern: invalid "default=abc"



=== TEST 13: replog_write_concern with a bad timeout
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_write_concern default=1 timeout=soon;
    location / { replog_api; }
--- must_die
--- error_log
replog_write_concern: invalid timeout "soon"



=== TEST 14: replog_write_concern with an unknown parameter
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_write_concern w=1;
    location / { replog_api; }
--- must_die
--- error_log
replog_write_concern: invalid parameter "w=1"



=== TEST 15: the same replog_zone twice
--- http_config
    replog_zone log 1m;
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
replog_zone "log" is already defined



=== TEST 16: two nodes on one zone
--- http_config
    replog_zone log 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        replog_node zone=log role=master id=m2;
        location / { replog_api; }
    }
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log eval
qr/replog_node in \S*nginx\.conf:\d+: zone "log" is already used by another node/



=== TEST 17: two nodes with one id
--- http_config
    replog_zone log 1m;
    replog_zone log2 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        replog_node zone=log2 role=master id=m1;
        location / { replog_api; }
    }
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
id "m1" is already used by another node



=== TEST 18: replog_cluster_size out of range (0)
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_cluster_size 0;
    location / { replog_api; }
--- must_die
--- error_log
value must be between 1 and 255



=== TEST 19: replog_cluster_size out of range (256)
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_cluster_size 256;
    location / { replog_api; }
--- must_die
--- error_log
value must be between 1 and 255



=== TEST 20: an empty replog_api_key
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key "";
    location / { replog_api; }
--- must_die
--- error_log
replog_api_key: empty key



=== TEST 21: replog_node twice in a server block
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_node zone=log role=master id=m2;
    location / { replog_api; }
--- must_die
--- error_log
"replog_node" directive is duplicate



=== TEST 22: replog_node outside a server block
--- http_config
    replog_zone log 1m;
    replog_node zone=log role=master id=m1;
--- config
    location / { return 200; }
--- must_die
--- error_log
"replog_node" directive is not allowed here



=== TEST 23: replog_zone inside a server block
--- config
    replog_zone log 1m;
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
"replog_zone" directive is not allowed here



=== TEST 24: a zone name already used by another module
--- http_config
    limit_req_zone $binary_remote_addr zone=log:1m rate=1r/s;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- must_die
--- error_log
the shared memory zone "log" is already declared for a different use



=== TEST 25: minimal valid config (64k zone): post and list
--- http_config
    replog_zone log 64k;
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
--- request eval
["POST /messages\n{\"message\":\"one\"}", "GET /messages"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/^\{"message":"one","meta":\{"message_id":1,/,
 qr/^\{"data":\[\{"message":"one","meta":\{"message_id":1,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\}\]\}\n\z/]
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 26: the API under a prefix location
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    location /api/ { replog_api; }
    location / { return 200 "static\n"; }
--- request eval
["POST /api/messages\n{\"message\":\"under a prefix\"}",
 "GET /api/messages",
 "GET /api/healthcheck",
 "GET /api/health",
 "GET /api/nope",
 "GET /messages"]
--- error_code eval
[201, 200, 200, 200, 404, 200]
--- response_body_like eval
[qr/^\{"message":"under a prefix","meta":\{"message_id":1,"registered_at":"[^"]+","registered_to":\["m1"\]\}\}\n\z/,
 qr/^\{"data":\[\{"message":"under a prefix","meta":\{"message_id":1,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\}\]\}\n\z/,
 qr/^HEALTHY\z/,
 qr/^\{"role":"master","id":"m1",.*"last_id":1,/,
 qr/^\{"error":"no such endpoint","detail":"no such endpoint"\}\n\z/,
 qr/^static\n\z/]
--- no_error_log
[error]



=== TEST 27: the API under a nested prefix, with POST /api/v1/messages/1
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    location /api/v1/ { replog_api; }
--- request eval
["POST /api/v1/messages/1\n{\"message\":\"v1\"}", "GET /api/v1/messages?since=0&limit=5"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/"message_id":1,/, qr/"message":"v1"/]



=== TEST 28: replog_api_key at server level, "off" in one location
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key secret;
    location /open/ { replog_api_key off; replog_api; }
    location /closed/ { replog_api; }
--- request eval
["POST /open/messages\n{\"message\":\"no token needed\"}",
 "POST /closed/messages\n{\"message\":\"refused\"}",
 "GET /closed/messages",
 "GET /open/messages"]
--- error_code eval
[201, 403, 403, 200]
--- response_body_like eval
[qr/"message_id":1,/,
 qr/^\{"error":"missing or invalid x-token","detail":"missing or invalid x-token"\}\n\z/,
 qr/^\{"error":"missing or invalid x-token","detail":"missing or invalid x-token"\}\n\z/,
 qr/^\{"data":\[\{"message":"no token needed","meta":\{"message_id":1,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\}\]\}\n\z/]



=== TEST 29: replog_api_key at http level is inherited, off disables it
--- http_config
    replog_zone log 1m;
    replog_api_key topsecret;
--- config
    replog_node zone=log role=master id=m1;
    location /k/ { replog_api; }
    location /o/ { replog_api_key off; replog_api; }
--- request eval
["GET /k/messages", "GET /o/messages"]
--- error_code eval
[403, 200]
--- response_body eval
["{\"error\":\"missing or invalid x-token\",\"detail\":\"missing or invalid x-token\"}\n", "{\"data\":[]}\n"]



=== TEST 30: replog_api_key given with x-token (header name in any case)
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key secret;
    location / { replog_api; }
--- more_headers
X-Token: secret
--- request eval
["POST /messages\n{\"message\":\"with token\"}", "GET /messages"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/"message_id":1,/, qr/"message":"with token"/]



=== TEST 31: id defaults to the host name
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master;
    location / { replog_api; }
--- request eval
["POST /messages\n{\"message\":\"x\"}", "GET /health"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/"registered_to":\["\Q$::Host\E"\]/, qr/^\{"role":"master","id":"\Q$::Host\E",/]



=== TEST 32: replog_write_concern and replog_cluster_size 3: accepted, wc above 3 refused
Only what does not depend on secondaries: the config loads, /health shows
the cluster size and its quorum, a write concern of 4 is refused.
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_cluster_size 3;
    replog_write_concern default=1 timeout=5s;
    location / { replog_api; }
--- request eval
["POST /messages/4\n{\"message\":\"too many\"}",
 "POST /messages?wc=4\n{\"message\":\"too many\"}",
 "GET /health",
 "GET /messages"]
--- error_code eval
[400, 400, 200, 200]
--- response_body_like eval
[qr/^\{"error":"write concern 4 is above the cluster size 3","detail":"write concern 4 is above the cluster size 3"\}\n\z/,
 qr/^\{"error":"write concern 4 is above the cluster size 3","detail":"write concern 4 is above the cluster size 3"\}\n\z/,
 qr/"last_id":0,.*"cluster_size":3,"quorum":\{"up":1,"needed":2\}/,
 qr/^\{"data":\[\]\}\n\z/]
--- no_error_log
[emerg]



=== TEST 33: replog_write_concern default=all on a single node
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_write_concern default=all;
    location / { replog_api; }
--- request
POST /messages
{"message":"all of one"}
--- error_code: 201
--- response_body_like: "message_id":1,



=== TEST 34: replog_write_concern default above the cluster size refuses posts, not the config
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    replog_write_concern default=2;
    location / { replog_api; }
--- request eval
["POST /messages\n{\"message\":\"x\"}", "POST /messages/1\n{\"message\":\"y\"}", "GET /messages"]
--- error_code eval
[400, 201, 200]
--- response_body_like eval
[qr/^\{"error":"write concern 2 is above the cluster size 1","detail":"write concern 2 is above the cluster size 1"\}\n\z/,
 qr/"message_id":1,/,
 qr/^\{"data":\[\{"message":"y","meta":\{"message_id":1,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\}\]\}\n\z/]



=== TEST 35: two nodes in two servers keep separate logs
--- http_config
    replog_zone log 1m;
    replog_zone other 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        replog_node zone=other role=master id=n2;
        location / { replog_api; }
    }
--- config
    replog_node zone=log role=master id=n1;
    location /other/ { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
    location / { replog_api; }
--- request eval
["POST /messages\n{\"message\":\"to n1\"}",
 "POST /other/messages\n{\"message\":\"to n2 a\"}",
 "POST /other/messages\n{\"message\":\"to n2 b\"}",
 "GET /messages",
 "GET /other/messages",
 "GET /other/health"]
--- error_code eval
[201, 201, 201, 200, 200, 200]
--- response_body_like eval
[qr/"message_id":1,.*"registered_to":\["n1"\]/,
 qr/"message_id":1,.*"registered_to":\["n2"\]/,
 qr/"message_id":2,.*"registered_to":\["n2"\]/,
 qr/^\{"data":\[\{"message":"to n1","meta":\{"message_id":1,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\}\]\}\n\z/,
 qr/^\{"data":\[\{"message":"to n2 a","meta":\{"message_id":1,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"to n2 b","meta":\{"message_id":2,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\}\]\}\n\z/,
 qr/^\{"role":"master","id":"n2",.*"last_id":2,/]
--- no_error_log
[error]



=== TEST 36: a secondary node starts and answers its health check
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=secondary id=s1;
    location / { replog_api; }
--- request
GET /healthcheck
--- response_body eval
"HEALTHY"
--- no_error_log
[emerg]
[alert]



=== TEST 37: an id with quotes, a backslash or UTF-8 is refused; other printable ids are kept
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master 'id=a"b\c é';
    location / { replog_api; }
--- must_die
--- error_log
replog_node: id must be 1 to 63 printable ASCII characters, without spaces, quotes or backslashes



=== TEST 37b: a printable id with punctuation is used as it is
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=a/b:c.d-e_f@g;
    location / { replog_api; }
--- request eval
["POST /messages\n{\"message\":\"x\"}", "GET /health"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/"registered_to":\["a\/b:c\.d-e_f\@g"\]\}\}\n\z/, qr/^\{"role":"master","id":"a\/b:c\.d-e_f\@g",/]



=== TEST 38: replog_api in an exact location serves its own path
The location's URI is the endpoint: /messages should not become "".
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    location = /messages { replog_api; }
    location = /health { replog_api; }
--- request eval
["POST /messages\n{\"message\":\"exact\"}", "GET /messages", "GET /health"]
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/"message_id":1,/, qr/"message":"exact"/, qr/"role":"master"/]



=== TEST 39: replog_api in "location /messages" (no trailing slash) serves /messages
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    location /messages { replog_api; }
--- request eval
["POST /messages\n{\"message\":\"prefix without slash\"}", "GET /messages"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/"message_id":1,/, qr/"message":"prefix without slash"/]



=== TEST 40: client_body_in_file_only in an API location is refused (bodies are read in memory)
--- http_config
    replog_zone log 1m;
--- config
    replog_node zone=log role=master id=m1;
    location / { client_body_in_file_only on; replog_api; }
--- must_die
--- error_log eval
qr/replog_api in \S*nginx\.conf:\d+: client_body_in_file_only must be off/
