# Self test of the block runner in t/lib against stock nginx (no replog
# module); its plain-Perl API is tested in t/perl/000-harness.t.  Valid for
# the real Test::Nginx::Socket too.
use Test::Nginx::Socket 'no_plan';

repeat_each(1);
workers(2);
master_on();
no_shuffle();
no_root_location();
log_level('info');

# a default config for the blocks that give none, as the real runner's
# add_block_preprocessor allows (TEST 15, 16)
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(config => <<'EOF') unless defined $block->config;
    location = /default { return 200 "from the preprocessor\n"; }
EOF
});

run_tests();

__DATA__

=== TEST 1: POST body with return 201
--- config
    location /messages { return 201 "x\n"; }
--- request
POST /messages
{"message": "hi"}
--- error_code: 201
--- response_body
x
--- response_headers
Content-Type: text/plain
!X-Nope
--- no_error_log
[error]



=== TEST 2: body and headers reach nginx (Content-Length sent automatically)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "len=$http_content_length body=$http_x_body ct=$http_content_type\n"; }
    }
--- config
    location /echo {
        proxy_set_header X-Body $request_body;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- request
POST /echo
hello world
--- more_headers
Content-Type: application/json
--- response_body
len=11 body=hello world ct=application/json
--- no_error_log
[error]



=== TEST 3: more_headers are sent as they are; a header pattern matches the whole value
--- config
    location / { return 200 "$http_x_token"; }
--- request
GET /
--- more_headers
x-token: secret-$TEST_NGINX_SERVER_PORT
--- response_body_like: ^secret-\$TEST_NGINX_SERVER_PORT$
--- response_headers_like
Server: nginx(?:/[\d.]+)?
Content-Length: \d+



=== TEST 4: request eval with several requests, per-request expectations
--- config
    location /a { return 200 "A\n"; }
    location /b { return 404; }
    location /c { return 200 "see\n"; }
--- request eval
["GET /a", "GET /b", "HEAD /c"]
--- error_code eval
[200, 404, 200]
--- response_body eval
["A\n", qr{<title>404 Not Found</title>}, ""]
--- response_body_like eval
[qr/^A$/m, qr{<title>404 Not Found</title>}, qr/^$/]



=== TEST 5: pipelined requests on one connection, chunked response
--- config
    location /one { return 200 "1\n"; }
    location /chunked {
        sub_filter_types *;
        sub_filter 1 one;
        return 200 "1\n";
    }
    location /two { return 200 "2\n"; }
--- pipelined_requests eval
["GET /one", "GET /chunked", "GET /two"]
--- response_body eval
["1\n", "one\n", "2\n"]
--- response_headers eval
["Content-Length: 2", "Transfer-Encoding: chunked\n!Content-Length", "Connection: close"]
--- no_error_log
[error]
[alert]



=== TEST 6: raw request bytes
--- config
    location /raw { return 200 "raw $request_method $server_protocol\n"; }
--- raw_request eval
"GET /raw HTTP/1.0\r\nHost: x\r\n\r\n"
--- response_body
raw GET HTTP/1.0



=== TEST 7: raw request sent in pieces
--- config
    location /raw { return 200 "$http_x_a\n"; }
--- raw_request eval
["GET /raw HTTP/1.1\r\nHost: x\r\n", "X-A: joined\r\nConnection: close\r\n\r\n"]
--- response_body
joined



=== TEST 8: must_die on an invalid directive
--- config
    location / { no_such_directive on; }
--- must_die
--- error_log
unknown directive "no_such_directive"



=== TEST 9: workers(2) starts two workers; error_log eval with a regex
--- config
    location / { return 200 "ok\n"; }
--- request
GET /
--- response_body
ok
--- wait: 1
--- grep_error_log eval: qr/start worker process(?= \d)/
--- grep_error_log_out
start worker process
start worker process
--- error_log eval
[qr/using the "\w+" event method/, "nginx/"]



=== TEST 10: main_config, user_files, init and wait
--- main_config
    env HARNESS_DUMMY;
--- config
    location /static/ { root $TEST_NGINX_SERVER_ROOT/html; }
--- user_files
>>> static/hello.txt
hello file
--- init
open my $fh, '>', html_dir() . '/static/late.txt' or die $!;
print {$fh} "written by init\n";
--- request eval
["GET /static/hello.txt", "GET /static/late.txt"]
--- wait: 0.1
--- response_body eval
["hello file\n", "written by init\n"]
--- response_headers eval
["Content-Length: 11", "Content-Length: 16"]



=== TEST 11: error_log finds a logged error, no_error_log passes
--- config
    location / { return 200 "ok\n"; }
    location /missing { root /nonexistent-dir; }
--- request
GET /missing/file
--- error_code: 404
--- error_log
No such file or directory
--- no_error_log
[alert]
[emerg]



=== TEST 12: tcp_listen: a stand-in upstream, tcp_query and tcp_reply
--- config
    location /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_http_version 1.0;
        proxy_set_header Host peer;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /p HTTP/1.0\r\nHost: peer\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nX-Peer: yes\r\n\r\nfrom the peer\n"
--- request
GET /p
--- response_body
from the peer
--- response_headers
X-Peer: yes



=== TEST 13: tcp_reply eval: a sub of the query, pieces, tcp_query_len
--- config
    location /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        proxy_http_version 1.0;
        proxy_set_header Host peer;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_2
--- tcp_query_len: 50
--- tcp_reply eval
sub {
    my ($q) = @_;
    my ($line) = $q =~ /^([^\r]*)/;
    return ["HTTP/1.0 200 OK\r\n\r\n", "you sent: ", "$line\n"];
}
--- request
GET /p
--- response_body
you sent: GET /p HTTP/1.0



=== TEST 14: tcp_no_close: the peer keeps the connection, nginx times out
--- config
    location /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_3;
        proxy_read_timeout 300ms;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_3
--- tcp_no_close
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nshort"
--- request
GET /p
--- ignore_response
--- error_log
upstream timed out



=== TEST 15: add_block_preprocessor gives a block without config its default
--- request
GET /default
--- response_body
from the preprocessor



=== TEST 16: a block's own config wins over the preprocessor's default
--- config
    location = /default { return 200 "own\n"; }
--- request
GET /default
--- response_body
own
