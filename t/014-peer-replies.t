# What a master's outbound client makes of its peers' replies: a stand-in
# secondary on tcp_listen (one connection) answers a heartbeat or a push.
# Bad bytes, chunked replies, answers of another node and big replies.
# A push may go over two links at once (live and catch-up): the stand-in
# answers one, the other fails, so the reason a push failed is looked for
# in the debug line of the failing link, not in the one state change.
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET ();

# Ports for the stand-ins, in the environment: config sections read them
# as $TEST_NGINX_PEER_PORT, requests (which the runners do not expand) as
# $ENV{TEST_NGINX_PEER_PORT}.
{
    my @s = map { IO::Socket::INET->new(Listen => 1,
                                        LocalAddr => '127.0.0.1') } 1 .. 1;
    $ENV{"TEST_NGINX_$_"} //= shift(@s)->sockport for qw(PEER_PORT);
}

repeat_each(1);
workers(1);
log_level('info');
no_shuffle();
no_root_location();    # the tests define "location /" themselves

# The answer of a secondary to the push it was sent, as s1 (or as told):
# answer($push, id => ..., epoch => ..., acked => ..., head => extra header
# lines, pad => bytes of white space that end the body).
sub answer {
    my ($push, %o) = @_;
    my ($epoch) = $push =~ /"epoch":"([0-9a-f]{16})"/;
    my @ids = $push =~ /"meta":\{"message_id":(\d+),"registered_at"/g;
    my $acked = $o{acked} // $ids[-1] // 0;
    my $body = qq/{"acked_id":$acked,"id":"/ . ($o{id} // 's1')
             . qq/","epoch":"/ . ($o{epoch} // $epoch // '') . qq/"}\n/;
    $body .= ' ' x ($o{pad} - length $body) if $o{pad};
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
         . ($o{head} // '')
         . "X-Replog-Log: 00000000000000a1\r\n"
         . 'Content-Length: ' . length($body) . "\r\n\r\n" . $body;
}

sub register { qq{POST /register\n{"id":"s1","port":$_[0]}} }

# The configuration most blocks share, given to those without their own.
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => <<'EOF') unless defined $block->http_config;
    replog_zone m 1m;
EOF
    $block->set_value(config => <<'EOF') unless defined $block->config;
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=60s timeout=1s suspect=1 fails=3;
    location / { replog_api; }
EOF
});

run_tests();

__DATA__

=== TEST 1: a NUL in the status line of a heartbeat's answer: a failure, no crash
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=100ms timeout=1s suspect=1 fails=3;
    location / { replog_api; }
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
"HTTP/1.1 200 \0OK\r\nContent-Length: 0\r\n\r\n"
--- request eval
::register($ENV{TEST_NGINX_PEER_PORT})
--- wait: 0.5
--- error_log
HEALTHY -> SUSPECTED: control byte in the reply header
--- no_error_log
[alert]



=== TEST 2: a control byte in a header value: a failure
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=100ms timeout=1s suspect=1 fails=3;
    location / { replog_api; }
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nX-Odd: a\x01b\r\nContent-Length: 0\r\n\r\n"
--- request eval
::register($ENV{TEST_NGINX_PEER_PORT})
--- wait: 0.5
--- error_log
HEALTHY -> SUSPECTED: control byte in the reply header
--- no_error_log
[alert]



=== TEST 3: a bare LF ends no header line: a failure
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=100ms timeout=1s suspect=1 fails=3;
    location / { replog_api; }
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"
--- request eval
::register($ENV{TEST_NGINX_PEER_PORT})
--- wait: 0.5
--- error_log
HEALTHY -> SUSPECTED: bare LF in the reply header
--- no_error_log
[alert]



=== TEST 4: a chunked reply is refused, never read until close
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=100ms timeout=1s suspect=1 fails=3;
    location / { replog_api; }
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
--- request eval
::register($ENV{TEST_NGINX_PEER_PORT})
--- wait: 0.5
--- error_log
HEALTHY -> SUSPECTED: Transfer-Encoding is not supported
--- no_error_log
[alert]



=== TEST 5: an answer naming another secondary satisfies no wc=all, even with a huge acked_id
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
sub { ::answer($_[0], id => 'intruder', acked => 1000000000000) }
--- request eval
[::register($ENV{TEST_NGINX_PEER_PORT}),
 qq{POST /messages?wc=all&timeout=3000\n{"message":"one"}}]
--- timeout: 10
--- error_code eval
[200, 504]
--- response_body_like eval
[qr/"last_id":0/, qr/^\{"error":"write concern not met in time/]
--- log_level: debug
--- error_log
failed: the answer names another secondary
--- no_error_log
[alert]



=== TEST 6: an answer of another epoch satisfies no wc=all
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
sub { ::answer($_[0], epoch => '0123456789abcdef', acked => 1000000000000) }
--- request eval
[::register($ENV{TEST_NGINX_PEER_PORT}),
 qq{POST /messages?wc=all&timeout=3000\n{"message":"one"}}]
--- timeout: 10
--- error_code eval
[200, 504]
--- response_body_like eval
[qr/"last_id":0/, qr/^\{"error":"write concern not met in time/]
--- log_level: debug
--- error_log
failed: the answer is of another epoch
--- no_error_log
[alert]



=== TEST 7: the answer of the secondary itself meets wc=all (the stand-in is fair)
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
sub { ::answer($_[0]) }
--- request eval
[::register($ENV{TEST_NGINX_PEER_PORT}),
 qq{POST /messages?wc=all&timeout=3000\n{"message":"one"}},
 "GET /secondaries"]
--- error_code eval
[200, 201, 200]
--- response_body_like eval
[qr/"last_id":0/, qr/"registered_to":\["m","s1"\]/,
 qr/"id":"s1",.*"acked_id":1,/]
--- no_error_log
[alert]



=== TEST 8: a reply above 4 KiB (the buffer grows): X-Replog-Log is read from the new buffer
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
sub { ::answer($_[0], pad => 20000) }
--- request eval
[::register($ENV{TEST_NGINX_PEER_PORT}),
 qq{POST /messages?wc=all&timeout=3000\n{"message":"one"}},
 "GET /secondaries"]
--- error_code eval
[200, 201, 200]
--- response_body_like eval
[qr/"last_id":0/, qr/"registered_to":\["m","s1"\]/,
 qr/"id":"s1",.*"acked_id":1,/]
--- no_error_log
[alert]



=== TEST 9: a body exactly at the reply limit (1 MiB) after a big header is accepted
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
sub { ::answer($_[0], pad => 1024 * 1024,
               head => 'X-Padding: ' . ('p' x 7000) . "\r\n") }
--- request eval
[::register($ENV{TEST_NGINX_PEER_PORT}),
 qq{POST /messages?wc=all&timeout=3000\n{"message":"one"}}]
--- timeout: 10
--- error_code eval
[200, 201]
--- response_body_like eval
[qr/"last_id":0/, qr/"registered_to":\["m","s1"\]/]
--- no_error_log
[alert]



=== TEST 10: a body one byte above the limit is refused
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
sub { ::answer($_[0], pad => 1024 * 1024 + 1) }
--- request eval
[::register($ENV{TEST_NGINX_PEER_PORT}),
 qq{POST /messages?wc=all&timeout=1000\n{"message":"one"}}]
--- error_code eval
[200, 504]
--- log_level: debug
--- error_log
failed: reply too large
--- no_error_log
[alert]



=== TEST 11: a header above 8 KiB is refused
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=100ms timeout=1s suspect=1 fails=3;
    location / { replog_api; }
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nX-Padding: " . ('p' x 9000) . "\r\nContent-Length: 0\r\n\r\n"
--- request eval
::register($ENV{TEST_NGINX_PEER_PORT})
--- wait: 0.5
--- error_log
HEALTHY -> SUSPECTED: reply header too large
--- no_error_log
[alert]



=== TEST 12: a heartbeat's 200 without the secondary's id (another server at its address): a failure
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=100ms timeout=1s suspect=1 fails=3;
    location / { replog_api; }
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nHEALTHY"
--- request eval
::register($ENV{TEST_NGINX_PEER_PORT})
--- wait: 0.5
--- error_log
HEALTHY -> SUSPECTED: the healthcheck answer names another node
--- no_error_log
[alert]



=== TEST 13: a heartbeat's 200 naming another node: a failure
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=100ms timeout=1s suspect=1 fails=3;
    location / { replog_api; }
--- tcp_listen: $TEST_NGINX_PEER_PORT
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nX-Replog-Id: s2\r\nContent-Length: 7\r\n\r\nHEALTHY"
--- request eval
::register($ENV{TEST_NGINX_PEER_PORT})
--- wait: 0.5
--- error_log
HEALTHY -> SUSPECTED: the healthcheck answer names another node
--- no_error_log
[alert]
