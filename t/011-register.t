# A master's POST /register (and /secondary/register): the answer, the
# registry it fills (GET /secondaries, /secondary/list), re-registration,
# bad bodies, tokens, methods, and the limits of the registry.
# The plain-Perl checks of the registry are in t/perl/011-register.t.
use Test::Nginx::Socket 'no_plan';


sub err { qq/{"error":"$_[0]","detail":"$_[0]"}\n/ }

# A regex for the error answer of a bad case: one text or alternatives.
sub err_re {
    my ($e) = @_;
    my $alt = join '|', map { quotemeta err($_) } ref $e ? @$e : ($e);
    return qr/^(?:$alt)\z/;
}

our $IdErr    = '\"id\" must be a string of 1 to 63 printable ASCII characters, without spaces, quotes or backslashes';
our $PortErr  = '\"port\" must be an integer from 1 to 65535';
our $EpochErr = '\"epoch\" must be 16 hex digits';
our $AckErr   = '\"acked_id\" must be an integer from 0';

# Bad registrations: [ body, error text ]
our @Bad = (
    [ '{',                                        'invalid JSON' ],
    [ 'id=s1&port=1',                             'invalid JSON' ],
    [ '{"id":"s1","port":1} trailing',            'invalid JSON' ],
    [ '{"id":"s1","id":"s2","port":1}',           'invalid JSON' ],
    [ '"s1"',                                     [ 'invalid JSON', 'the body must be a JSON object' ] ],
    [ '[{"id":"s1","port":1}]',                   'the body must be a JSON object' ],
    [ '{"port":1}',                               $IdErr ],
    [ '{"id":"","port":1}',                       $IdErr ],
    [ '{"id":null,"port":1}',                     $IdErr ],
    [ '{"id":1,"port":1}',                        $IdErr ],
    [ '{"id":["s1"],"port":1}',                   $IdErr ],
    [ '{"id":"' . ('x' x 64) . '","port":1}',     $IdErr ],
    [ '{"id":"a\\n[emerg] x","port":1}',          $IdErr ],
    [ '{"id":"a\\u0000b","port":1}',              $IdErr ],
    [ '{"id":"a b","port":1}',                    $IdErr ],
    [ '{"id":"a\\"b","port":1}',                  $IdErr ],
    [ "{\"id\":\"a'b\",\"port\":1}",                 $IdErr ],
    [ '{"id":"a\\\\b","port":1}',                 $IdErr ],
    [ '{"id":"a\\u007fb","port":1}',              $IdErr ],
    [ '{"id":"\\u00e9","port":1}',                $IdErr ],
    [ '{"id":"s1"}',                              $PortErr ],
    [ '{"id":"s1","port":0}',                     $PortErr ],
    [ '{"id":"s1","port":-1}',                    $PortErr ],
    [ '{"id":"s1","port":65536}',                 $PortErr ],
    [ '{"id":"s1","port":"8080"}',                $PortErr ],
    [ '{"id":"s1","port":8080.0}',                $PortErr ],
    [ '{"id":"s1","port":null}',                  $PortErr ],
    [ '{"id":"s1","port":1,"epoch":"xyz"}',       $EpochErr ],
    [ '{"id":"s1","port":1,"epoch":"0123456789abcdeg"}', $EpochErr ],
    [ '{"id":"s1","port":1,"epoch":"0123456789abcdef0"}', $EpochErr ],
    [ '{"id":"s1","port":1,"epoch":81985529216486895}',  $EpochErr ],
    [ '{"id":"s1","port":1,"epoch":true}',        $EpochErr ],
    [ '{"id":"s1","port":1,"acked_id":-1}',       $AckErr ],
    [ '{"id":"s1","port":1,"acked_id":"3"}',      $AckErr ],
    [ '{"id":"s1","port":1,"acked_id":1.5}',      $AckErr ],
    [ '{"id":"s1","port":1,"acked_id":null}',     $AckErr ],
);

repeat_each(1);
workers(1);
log_level('info');
no_shuffle();
no_root_location();    # the tests define "location /" themselves

# The configuration most blocks share, given to those without their own.
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => <<'EOF') unless defined $block->http_config;
    replog_zone m 1m;
EOF
    $block->set_value(config => <<'EOF') unless defined $block->config;
    replog_node zone=m role=master id=m;
    location / { replog_api; }
EOF
});

run_tests();

__DATA__

=== TEST 1: every bad body -> 400 JSON, and nothing is registered
--- request eval
[(map { "POST /register\n$_->[0]" } @::Bad),
 (map { "POST /secondary/register\n$_->[0]" } @::Bad[0, 6, 13, 20, 25]),
 "POST /register\n",
 "GET /secondaries",
 "GET /health"]
--- error_code eval
[(400) x (@::Bad + 5), 400, 200, 200]
--- response_body_like eval
[(map { ::err_re($_->[1]) } @::Bad, @::Bad[0, 6, 13, 20, 25]),
 qr/^\{"error":"empty body","detail":"empty body"\}\n\z/,
 qr/^\{"data":\[\]\}\n\z/,
 qr/"cluster_size":1,/]
--- response_headers eval
[("Content-Type: application/json") x (@::Bad + 8)]
--- no_error_log
[alert]
[crit]



=== TEST 2: optional fields: epoch "" and null, acked_id 0; a huge acked_id without an epoch proves nothing (0)
--- request eval
["POST /register\n{\"id\":\"a\",\"port\":65535,\"epoch\":\"\"}",
 "POST /register\n{\"id\":\"b\",\"port\":1,\"epoch\":null,\"acked_id\":0}",
 "POST /register\n{\"id\":\"c\",\"port\":2,\"acked_id\":9223372036854775807}",
 "GET /secondaries"]
--- response_body_like eval
[qr/^\{"id":"a","master_id":"m","epoch":"[0-9a-f]{16}","last_id":0\}\n\z/,
 qr/^\{"id":"b","master_id":"m","epoch":"[0-9a-f]{16}","last_id":0\}\n\z/,
 qr/^\{"id":"c","master_id":"m","epoch":"[0-9a-f]{16}","last_id":0\}\n\z/,
 qr/^\{"data":\[\{"id":"a","host":"127\.0\.0\.1","port":65535,.*"acked_id":0,"first_id":1,"lag":0,.*\{"id":"b",.*"port":1,.*\{"id":"c",.*"port":2,.*"acked_id":0,"first_id":1,"lag":0,/]



=== TEST 3: GET /register and /secondary/register -> 405 with Allow: POST
--- request eval
["GET /register", "GET /secondary/register", "PUT /register\n{}", "DELETE /register"]
--- error_code eval
[405, 405, 405, 405]
--- response_body eval
[(::err('method not allowed')) x 4]
--- response_headers eval
[("Allow: POST\nContent-Type: application/json") x 4]



=== TEST 4: POST /secondaries -> 405
--- request eval
["POST /secondaries\n{}", "POST /secondary/list\n{}"]
--- error_code eval
[405, 405]
--- response_headers eval
["Allow: GET, HEAD", "Allow: GET, HEAD"]



=== TEST 5: service key: /register without a token, with a wrong one, with the api key -> 403
--- config
    replog_node zone=m role=master id=m;
    replog_api_key secret;
    replog_service_key svc;
    location / { replog_api; }
--- more_headers
x-token: secret
--- request eval
["POST /register\n{\"id\":\"s1\",\"port\":1}",
 "POST /secondary/register\n{\"id\":\"s1\",\"port\":1}",
 "GET /register",
 "GET /secondaries"]
--- error_code eval
[403, 403, 403, 200]
--- response_body eval
[(::err('missing or invalid x-token')) x 3, qq/{"data":[]}\n/]



=== TEST 6: service key: without a token -> 403
--- config
    replog_node zone=m role=master id=m;
    replog_api_key secret;
    replog_service_key svc;
    location / { replog_api; }
--- request eval
["POST /register\n{\"id\":\"s1\",\"port\":1}", "GET /secondaries"]
--- error_code eval
[403, 403]
--- response_body eval
[(::err('missing or invalid x-token')) x 2]



=== TEST 7: service key: the right token registers
--- config
    replog_node zone=m role=master id=m;
    replog_api_key secret;
    replog_service_key svc;
    location / { replog_api; }
--- more_headers
x-token: svc
--- request eval
["POST /register\n{\"id\":\"s1\",\"port\":1}",
 "POST /secondary/register\n{\"id\":\"s2\",\"port\":2}",
 "GET /register"]
--- error_code eval
[200, 200, 405]
--- response_body_like eval
[qr/^\{"id":"s1","master_id":"m",/, qr/^\{"id":"s2","master_id":"m",/, qr/method not allowed/]



=== TEST 8: api key only: the key derived from it serves /register, the api key does not
--- config
    replog_node zone=m role=master id=m;
    replog_api_key secret;
    location / { replog_api; }
--- more_headers
x-token: a7aa795d89c5c07ddaee29a5e7e97fdd20754f5aef5d1c067aa295783e5aed8d
--- request eval
["POST /register\n{\"id\":\"s1\",\"port\":1}", "GET /secondaries"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"id":"s1","master_id":"m",/, qr/^\{"data":\[\{"id":"s1",/]



=== TEST 9: api key only: a wrong token -> 403
--- config
    replog_node zone=m role=master id=m;
    replog_api_key secret;
    location / { replog_api; }
--- more_headers
x-token: secreT
--- request
POST /register
{"id":"s1","port":1}
--- error_code: 403
--- response_body eval
::err('missing or invalid x-token')



=== TEST 10: a body over client_max_body_size -> 413 JSON
--- config
    replog_node zone=m role=master id=m;
    location / { client_max_body_size 100; replog_api; }
--- request eval
["POST /register\n{\"id\":\"s1\",\"port\":1,\"pad\":\"" . ('x' x 200) . "\"}",
 "GET /secondaries"]
--- error_code eval
[413, 200]
--- response_body eval
[::err('the body is larger than 100 bytes'), qq/{"data":[]}\n/]



=== TEST 11: a registration with another epoch and a log is a CONFLICT; an empty one is not
--- request eval
["POST /register\n{\"id\":\"c\",\"port\":1,\"epoch\":\"0123456789abcdef\",\"acked_id\":5}",
 "POST /register\n{\"id\":\"e\",\"port\":2,\"epoch\":\"0123456789abcdef\",\"acked_id\":0}",
 "GET /secondaries",
 "POST /messages?wc=1\n{\"message\":\"x\"}"]
--- error_code eval
[200, 200, 200, 201]
--- response_body_like eval
[qr/^\{"id":"c",/,
 qr/^\{"id":"e",/,
 qr/^\{"data":\[\{"id":"c","host":"127\.0\.0\.1","port":1,"status":"CONFLICT",.*"epoch":"0123456789abcdef","last_error":.*\},\{"id":"e","host":"127\.0\.0\.1","port":2,"status":"(HEALTHY|SUSPECTED|UNHEALTHY)",/,
 qr/"registered_to":\["m"\]/]
--- error_log
its log has another epoch



=== TEST 12: an id that would forge a log line -> 400, and no such line in the log
--- request eval
["POST /register\n{\"id\":\"a\\n[emerg] x\",\"port\":1}",
 "POST /register\n{\"id\":\"b\\u0000[emerg] y\",\"port\":1}",
 "GET /secondaries"]
--- error_code eval
[400, 400, 200]
--- response_body eval
[(::err($::IdErr)) x 2, qq/{"data":[]}\n/]
--- no_error_log
[emerg] x
[emerg] y
[alert]



=== TEST 13: the api key only in a location: /register is not open
--- config
    replog_node zone=m role=master id=m;
    location / { replog_api_key secret; replog_api; }
--- request eval
["POST /register\n{\"id\":\"s1\",\"port\":1}",
 "POST /secondary/register\n{\"id\":\"s2\",\"port\":2}"]
--- error_code eval
[403, 403]
--- response_body eval
[(::err('missing or invalid x-token')) x 2]



=== TEST 14: a secondary registered over IPv6: its address with the port, in brackets, in the log
--- config
    listen [::1]:$TEST_NGINX_SERVER_PORT;
    replog_node zone=m role=master id=m;
    location = /v6/register {
        proxy_pass http://[::1]:$TEST_NGINX_SERVER_PORT/register;
    }
    location / { replog_api; }
--- request eval
["POST /v6/register\n{\"id\":\"s6\",\"port\":9}",
 "GET /secondaries"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"id":"s6","master_id":"m",/,
 qr/^\{"data":\[\{"id":"s6","host":"::1","port":9,/]
--- error_log
secondary "s6" at [::1]:9 FREE -> HEALTHY
--- no_error_log
[alert]
[crit]
