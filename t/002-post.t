# POST /messages: the answer, write concerns, JSON round trips, and every
# way a post can be refused -- a refused post must never reach the log.
use Test::Nginx::Socket 'no_plan';

our $TS = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/;
our $Empty = qq/{"data":[]}\n/;

# A body in HTTP chunked encoding (pieces of at most $size bytes).
sub chunked {
    my ($body, $size) = @_;
    $size ||= 4096;
    my $out = '';
    for (my $i = 0; $i < length $body; $i += $size) {
        my $piece = substr($body, $i, $size);
        $out .= sprintf("%x\r\n", length $piece) . $piece . "\r\n";
    }
    return $out . "0\r\n\r\n";
}

sub msg_body { qq/{"message":"$_[0]"}/ }

# Every JSON escape and some Unicode, as sent and as it must come back.
our $EscIn = <<'EOF';
{"message":"a\"b\\c\/d\n\t\r\b\f\u0001 é \u00e9 ☃ \ud83d\ude00 \u001f\u007f"}
EOF
chomp $EscIn;
our $EscOut = <<'EOF';
"a\"b\\c/d\n\t\r\b\f\u0001 é é ☃ 😀 \u001f"
EOF
chomp $EscOut;
$EscOut =~ s/"\z/\x7f"/;    # DEL is not escaped in JSON

our $Big     = 'x' x (100 * 1024);        # beyond client_body_buffer_size
our $Deep    = '{"message":"x","n":' . ('[' x 100000) . (']' x 100000) . '}';

repeat_each(1);
workers(1);
log_level('info');
no_shuffle();
no_root_location();    # the tests define "location /" themselves

# The configuration most blocks share, given to those without their own.
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => <<'EOF') unless defined $block->http_config;
    replog_zone log 1m;
EOF
    $block->set_value(config => <<'EOF') unless defined $block->config;
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
EOF
});

run_tests();

__DATA__

=== TEST 1: POST /messages answers 201 with the message and its meta
--- request
POST /messages
{"message":"hello"}
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_headers
Content-Type: application/json
--- response_body_like eval
qr/^\{"message":"hello","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\["m1"\]\}\}\n\z/
--- no_error_log
[error]
[alert]



=== TEST 2: PUT /messages is a post too, answered 200 as the original does; ids go on
--- request eval
["POST /messages\n{\"message\":\"first\"}",
 "PUT /messages\n{\"message\":\"second\"}",
 "POST /messages\n{\"message\":\"third\"}",
 "GET /messages"]
--- error_code eval
[201, 200, 201, 200]
--- response_body_like eval
[qr/^\{"message":"first","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\["m1"\]\}\}\n\z/,
 qr/^\{"message":"second","meta":\{"message_id":2,"registered_at":"$::TS","registered_to":\["m1"\]\}\}\n\z/,
 qr/^\{"message":"third","meta":\{"message_id":3,"registered_at":"$::TS","registered_to":\["m1"\]\}\}\n\z/,
 qr/^\{"data":\[\{"message":"first","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\},\{"message":"second","meta":\{"message_id":2,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\},\{"message":"third","meta":\{"message_id":3,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\}\]\}\n\z/]



=== TEST 3: write concerns a single node can meet: path and query forms
--- request eval
["POST /messages/1\n{\"message\":\"p1\"}",
 "POST /messages/majority\n{\"message\":\"pmaj\"}",
 "POST /messages/all\n{\"message\":\"pall\"}",
 "POST /messages?wc=1\n{\"message\":\"q1\"}",
 "POST /messages?wc=majority\n{\"message\":\"qmaj\"}",
 "POST /messages?wc=all\n{\"message\":\"qall\"}",
 "PUT /messages/1\n{\"message\":\"put1\"}",
 "POST /messages?wc=1&timeout=100\n{\"message\":\"t100\"}",
 "POST /messages/1?timeout=0\n{\"message\":\"t0\"}",
 "GET /messages"]
--- error_code eval
[201, 201, 201, 201, 201, 201, 200, 201, 201, 200]
--- response_body_like eval
[qr/^\{"message":"p1","meta":\{"message_id":1,/,
 qr/^\{"message":"pmaj","meta":\{"message_id":2,/,
 qr/^\{"message":"pall","meta":\{"message_id":3,/,
 qr/^\{"message":"q1","meta":\{"message_id":4,/,
 qr/^\{"message":"qmaj","meta":\{"message_id":5,/,
 qr/^\{"message":"qall","meta":\{"message_id":6,/,
 qr/^\{"message":"put1","meta":\{"message_id":7,/,
 qr/^\{"message":"t100","meta":\{"message_id":8,/,
 qr/^\{"message":"t0","meta":\{"message_id":9,/,
 qr/^\{"data":\[\{"message":"p1","meta":\{"message_id":1,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"pmaj","meta":\{"message_id":2,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"pall","meta":\{"message_id":3,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"q1","meta":\{"message_id":4,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"qmaj","meta":\{"message_id":5,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"qall","meta":\{"message_id":6,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"put1","meta":\{"message_id":7,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"t100","meta":\{"message_id":8,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"t0","meta":\{"message_id":9,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\}\]\}\n\z/]



=== TEST 4: invalid write concerns are refused and store nothing
--- request eval
["POST /messages/0\n{\"message\":\"x\"}",
 "POST /messages/-1\n{\"message\":\"x\"}",
 "POST /messages/abc\n{\"message\":\"x\"}",
 "POST /messages/1.5\n{\"message\":\"x\"}",
 "POST /messages/1000\n{\"message\":\"x\"}",
 "POST /messages?wc=0\n{\"message\":\"x\"}",
 "POST /messages?wc=-1\n{\"message\":\"x\"}",
 "POST /messages?wc=abc\n{\"message\":\"x\"}",
 "POST /messages?wc=1.5\n{\"message\":\"x\"}",
 "POST /messages?wc=\n{\"message\":\"x\"}",
 "POST /messages/MAJORITY\n{\"message\":\"x\"}",
 "GET /messages"]
--- error_code eval
[(400) x 11, 200]
--- response_body eval
[("{\"error\":\"invalid write concern: use a number from 1, \\\"majority\\\" or \\\"all\\\"\",\"detail\":\"invalid write concern: use a number from 1, \\\"majority\\\" or \\\"all\\\"\"}\n") x 11,
 $::Empty]
--- response_headers eval
[("Content-Type: application/json") x 12]



=== TEST 5: a write concern above the cluster size is refused and stores nothing
--- request eval
["POST /messages/2\n{\"message\":\"x\"}",
 "POST /messages?wc=3\n{\"message\":\"x\"}",
 "PUT /messages/999\n{\"message\":\"x\"}",
 "GET /messages"]
--- error_code eval
[400, 400, 400, 200]
--- response_body eval
["{\"error\":\"write concern 2 is above the cluster size 1\",\"detail\":\"write concern 2 is above the cluster size 1\"}\n",
 "{\"error\":\"write concern 3 is above the cluster size 1\",\"detail\":\"write concern 3 is above the cluster size 1\"}\n",
 "{\"error\":\"write concern 999 is above the cluster size 1\",\"detail\":\"write concern 999 is above the cluster size 1\"}\n",
 $::Empty]



=== TEST 6: an invalid timeout is refused and stores nothing
--- request eval
["POST /messages?timeout=abc\n{\"message\":\"x\"}",
 "POST /messages?timeout=-5\n{\"message\":\"x\"}",
 "POST /messages?timeout=1.5\n{\"message\":\"x\"}",
 "POST /messages?timeout=\n{\"message\":\"x\"}",
 "GET /messages"]
--- error_code eval
[400, 400, 400, 400, 200]
--- response_body eval
[("{\"error\":\"invalid timeout: use milliseconds\",\"detail\":\"invalid timeout: use milliseconds\"}\n") x 4, $::Empty]



=== TEST 7: every JSON escape and Unicode round trip (POST answer and list)
--- request eval
["POST /messages\n$::EscIn", "GET /messages"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/^\{"message":\Q$::EscOut\E,"meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\["m1"\]\}\}\n\z/,
 qr/^\{"data":\[\{"message":\Q$::EscOut\E,"meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\}\]\}\n\z/]



=== TEST 8: escapes come back as a JSON decoder reads them
--- request eval
["POST /messages\n{\"message\":\"\\u0000nul \\u00e9\\u2603 \\\\u00e9 tab\\ttab \\\"q\\\"\"}",
 "GET /messages"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/^\{"message":"\\u0000nul é☃ \\\\u00e9 tab\\ttab \\"q\\"","meta":/,
 qr/"message":"\\u0000nul é☃ \\\\u00e9 tab\\ttab \\"q\\"","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\["m1"\]\}\}\]\}\n\z/]



=== TEST 9: raw UTF-8 in, same bytes out; whitespace around the JSON is fine
--- request eval
["POST /messages\n \r\n\t{ \"message\" : \"Grüße, 世界 — 🙂\" }\n\n",
 "GET /messages"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/^\{"message":"Grüße, 世界 — 🙂","meta":\{"message_id":1,/,
 qr/^\{"data":\[\{"message":"Grüße, 世界 — 🙂","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\}\]\}\n\z/]



=== TEST 10: invalid JSON in many shapes: 400, nothing stored
--- request eval
["POST /messages\n{\"message\":\"x\"",
 "POST /messages\n{\"message\":\"x\"} trailing",
 "POST /messages\n{\"message\":\"x\"}{\"message\":\"y\"}",
 "POST /messages\n{message:\"x\"}",
 "POST /messages\n{'message':'x'}",
 "POST /messages\n{\"message\":\"x\",}",
 "POST /messages\nnot json at all",
 "POST /messages\n   ",
 "POST /messages\n{\"message\":\"x\",\"message\":\"y\"}",
 "POST /messages\n{\"message\":\"bad \\x escape\"}",
 "POST /messages\n{\"message\":\"lone \\ud83d surrogate\"}",
 "POST /messages\n{\"message\":\"raw \x01 control\"}",
 "POST /messages\n{\"message\":\"bad utf-8 \xff\xfe\"}",
 "POST /messages\n{\"message\":\"overlong \xc0\xaf\"}",
 "POST /messages\n{\"message\":\"cut \xe2\x98\"}",
 "GET /messages"]
--- error_code eval
[(400) x 15, 200]
--- more_headers eval
[("") x 7, "Content-Length: 3", ("") x 8]
--- response_body eval
[("{\"error\":\"invalid JSON\",\"detail\":\"invalid JSON\"}\n") x 15, $::Empty]
--- response_headers eval
[("Content-Type: application/json") x 16]
--- no_error_log
[alert]



=== TEST 11: deeply nested JSON is refused without harm
--- request eval
["POST /messages\n$::Deep", "GET /messages"]
--- error_code eval
[400, 200]
--- response_body eval
["{\"error\":\"invalid JSON\",\"detail\":\"invalid JSON\"}\n", $::Empty]



=== TEST 12: a JSON array is not an object: 400, nothing stored
--- request eval
["POST /messages\n[]",
 "POST /messages\n[{\"message\":\"x\"}]",
 "GET /messages"]
--- error_code eval
[400, 400, 200]
--- response_body eval
["{\"error\":\"the body must be a JSON object\",\"detail\":\"the body must be a JSON object\"}\n",
 "{\"error\":\"the body must be a JSON object\",\"detail\":\"the body must be a JSON object\"}\n",
 $::Empty]



=== TEST 13: JSON scalars are not objects: 400 "the body must be a JSON object"
--- request eval
["POST /messages\n\"just a string\"",
 "POST /messages\n42",
 "POST /messages\nnull",
 "POST /messages\ntrue",
 "GET /messages"]
--- error_code eval
[400, 400, 400, 400, 200]
--- response_body eval
[("{\"error\":\"the body must be a JSON object\",\"detail\":\"the body must be a JSON object\"}\n") x 4, $::Empty]



=== TEST 14: no "message" key: 400, nothing stored
--- request eval
["POST /messages\n{}",
 "POST /messages\n{\"Message\":\"x\"}",
 "POST /messages\n{\"msg\":\"x\"}",
 "POST /messages\n{\"meta\":{\"message\":\"x\"}}",
 "GET /messages"]
--- error_code eval
[400, 400, 400, 400, 200]
--- response_body eval
[("{\"error\":\"\\\"message\\\" is missing\",\"detail\":\"\\\"message\\\" is missing\"}\n") x 4, $::Empty]



=== TEST 15: "message" that is not a string: 400, nothing stored
--- request eval
["POST /messages\n{\"message\":1}",
 "POST /messages\n{\"message\":null}",
 "POST /messages\n{\"message\":true}",
 "POST /messages\n{\"message\":[\"x\"]}",
 "POST /messages\n{\"message\":{\"text\":\"x\"}}",
 "POST /messages\n{\"message\":1.5e3}",
 "GET /messages"]
--- error_code eval
[(400) x 6, 200]
--- response_body eval
[("{\"error\":\"\\\"message\\\" must be a string\",\"detail\":\"\\\"message\\\" must be a string\"}\n") x 6, $::Empty]



=== TEST 16: an empty body: 400, nothing stored
--- request eval
["POST /messages\n", "PUT /messages\n", "POST /messages/1\n", "GET /messages"]
--- error_code eval
[400, 400, 400, 200]
--- response_body eval
["{\"error\":\"empty body\",\"detail\":\"empty body\"}\n", "{\"error\":\"empty body\",\"detail\":\"empty body\"}\n",
 "{\"error\":\"empty body\",\"detail\":\"empty body\"}\n", $::Empty]



=== TEST 17: a POST without Content-Length nor body
--- raw_request eval
"POST /messages HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body
{"error":"empty body","detail":"empty body"}



=== TEST 18: an empty chunked body
--- more_headers
Transfer-Encoding: chunked
--- request eval
["POST /messages\n0\r\n\r\n", "GET /messages\n0\r\n\r\n"]
--- error_code eval
[400, 200]
--- response_body eval
["{\"error\":\"empty body\",\"detail\":\"empty body\"}\n", $::Empty]



=== TEST 19: a body over client_max_body_size (Content-Length): JSON 413, nothing stored
--- config
    replog_node zone=log role=master id=m1;
    location / { client_max_body_size 100; replog_api; }
--- request eval
["POST /messages\n" . main::msg_body('a' x 200),
 "POST /messages\n" . main::msg_body('b' x 87),
 "POST /messages\n" . main::msg_body('c' x 86),
 "GET /messages"]
--- error_code eval
[413, 413, 201, 200]
--- response_body_like eval
[qr/^\{"error":"the body is larger than 100 bytes","detail":"the body is larger than 100 bytes"\}\n\z/,
 qr/^\{"error":"the body is larger than 100 bytes","detail":"the body is larger than 100 bytes"\}\n\z/,
 qr/^\{"message":"c{86}","meta":\{"message_id":1,/,
 qr/^\{"data":\[\{"message":"c{86}","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\}\]\}\n\z/]
--- response_headers eval
[("Content-Type: application/json") x 4]



=== TEST 20: a chunked body over client_max_body_size: JSON 413, nothing stored
--- config
    replog_node zone=log role=master id=m1;
    location / { client_max_body_size 100; replog_api; }
--- more_headers
Transfer-Encoding: chunked
--- request eval
["POST /messages\n" . main::chunked(main::msg_body('a' x 200), 50),
 "POST /messages\n" . main::chunked(main::msg_body('b' x 87), 30),
 "POST /messages\n" . main::chunked(main::msg_body('c' x 86), 30),
 "POST /messages\n" . main::chunked(main::msg_body('d' x 5000), 1000),
 "GET /messages\n0\r\n\r\n"]
--- error_code eval
[413, 413, 201, 413, 200]
--- response_body_like eval
[qr/^\{"error":"the body is larger than 100 bytes","detail":"the body is larger than 100 bytes"\}\n\z/,
 qr/^\{"error":"the body is larger than 100 bytes","detail":"the body is larger than 100 bytes"\}\n\z/,
 qr/^\{"message":"c{86}","meta":\{"message_id":1,/,
 qr/^\{"error":"the body is larger than 100 bytes","detail":"the body is larger than 100 bytes"\}\n\z/,
 qr/^\{"data":\[\{"message":"c{86}","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\}\]\}\n\z/]
--- response_headers eval
[("Content-Type: application/json") x 5]



=== TEST 20b: a chunked body over the limit that fills a small client_body_buffer_size: JSON 413, not 500
--- config
    replog_node zone=log role=master id=m1;
    location / {
        client_max_body_size 1k;
        client_body_buffer_size 1k;
        replog_api;
    }
--- more_headers
Transfer-Encoding: chunked
--- request eval
["POST /messages\n" . main::chunked(main::msg_body('e' x 5000), 300),
 "POST /messages\n" . main::chunked(main::msg_body('f' x 10), 5),
 "GET /messages\n0\r\n\r\n"]
--- error_code eval
[413, 201, 200]
--- response_body_like eval
[qr/^\{"error":"the body is larger than 1024 bytes","detail":"the body is larger than 1024 bytes"\}\n\z/,
 qr/^\{"message":"f{10}","meta":\{"message_id":1,/,
 qr/^\{"data":\[\{"message":"f{10}","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\}\]\}\n\z/]
--- no_error_log
[alert]
[crit]



=== TEST 21: client_max_body_size 1m in the location: 413 in JSON past 1048576 bytes
--- http_config
    replog_zone log 4m;
--- config
    replog_node zone=log role=master id=m1;
    location / { client_max_body_size 1m; replog_api; }
--- request eval
["POST /messages\n" . main::msg_body('z' x (1024 * 1024)), "GET /messages"]
--- error_code eval
[413, 200]
--- response_body eval
["{\"error\":\"the body is larger than 1048576 bytes\",\"detail\":\"the body is larger than 1048576 bytes\"}\n", $::Empty]



=== TEST 22: after a 413 the keep-alive connection still works
--- config
    replog_node zone=log role=master id=m1;
    location / { client_max_body_size 100; replog_api; }
--- pipelined_requests eval
["POST /messages\n" . main::msg_body('a' x 300),
 "POST /messages\n" . main::msg_body('ok'),
 "GET /messages"]
--- error_code eval
[413, 201, 200]
--- response_body_like eval
[qr/^\{"error":"the body is larger than 100 bytes","detail":"the body is larger than 100 bytes"\}\n\z/,
 qr/^\{"message":"ok","meta":\{"message_id":1,/,
 qr/^\{"data":\[\{"message":"ok","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\}\]\}\n\z/]



=== TEST 23: a 100KB body beyond client_body_buffer_size is stored whole, read in memory (no temp file)
--- config
    replog_node zone=log role=master id=m1;
    client_body_buffer_size 8k;
    location / { replog_api; }
--- request eval
["POST /messages\n" . main::msg_body($::Big), "GET /messages"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/^\{"message":"(?:x{1024}){100}","meta":\{"message_id":1,/,
 qr/^\{"data":\[\{"message":"(?:x{1024}){100}","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\}\]\}\n\z/]
--- no_error_log
buffered to a temporary file



=== TEST 24: a 100KB chunked body beyond client_body_buffer_size is stored whole, read in memory (no temp file)
--- config
    replog_node zone=log role=master id=m1;
    client_body_buffer_size 8k;
    location / { replog_api; }
--- more_headers
Transfer-Encoding: chunked
--- request eval
["POST /messages\n" . main::chunked(main::msg_body($::Big), 3000), "GET /messages\n0\r\n\r\n"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/^\{"message":"(?:x{1024}){100}","meta":\{"message_id":1,/,
 qr/^\{"data":\[\{"message":"(?:x{1024}){100}","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\}\]\}\n\z/]
--- no_error_log
buffered to a temporary file



=== TEST 25: missing or wrong x-token: 403, nothing stored
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key secret;
    location / { replog_api; }
    location /open/ { replog_api_key off; replog_api; }
--- request eval
["POST /messages\n{\"message\":\"x\"}",
 "PUT /messages\n{\"message\":\"x\"}",
 "POST /messages/1\n{\"message\":\"x\"}",
 "GET /open/messages"]
--- error_code eval
[403, 403, 403, 200]
--- response_body eval
[("{\"error\":\"missing or invalid x-token\",\"detail\":\"missing or invalid x-token\"}\n") x 3, $::Empty]
--- response_headers eval
[("Content-Type: application/json") x 4]



=== TEST 26: x-token that is wrong
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key secret;
    location / { replog_api; }
    location /open/ { replog_api_key off; replog_api; }
--- more_headers
x-token: Secret
--- request eval
["POST /messages\n{\"message\":\"x\"}", "GET /messages", "GET /open/messages"]
--- error_code eval
[403, 403, 200]
--- response_body eval
["{\"error\":\"missing or invalid x-token\",\"detail\":\"missing or invalid x-token\"}\n",
 "{\"error\":\"missing or invalid x-token\",\"detail\":\"missing or invalid x-token\"}\n", $::Empty]



=== TEST 27: x-token that is a prefix of the key
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key secret;
    location / { replog_api; }
    location /open/ { replog_api_key off; replog_api; }
--- more_headers
x-token: secre
--- request eval
["POST /messages\n{\"message\":\"x\"}", "GET /open/messages"]
--- error_code eval
[403, 200]
--- response_body eval
["{\"error\":\"missing or invalid x-token\",\"detail\":\"missing or invalid x-token\"}\n", $::Empty]



=== TEST 28: x-token that extends the key
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key secret;
    location / { replog_api; }
    location /open/ { replog_api_key off; replog_api; }
--- more_headers
x-token: secretX
--- request eval
["POST /messages\n{\"message\":\"x\"}", "GET /open/messages"]
--- error_code eval
[403, 200]
--- response_body eval
["{\"error\":\"missing or invalid x-token\",\"detail\":\"missing or invalid x-token\"}\n", $::Empty]



=== TEST 29: an empty x-token
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key secret;
    location / { replog_api; }
    location /open/ { replog_api_key off; replog_api; }
--- more_headers
x-token:
--- request eval
["POST /messages\n{\"message\":\"x\"}", "GET /open/messages"]
--- error_code eval
[403, 200]
--- response_body eval
["{\"error\":\"missing or invalid x-token\",\"detail\":\"missing or invalid x-token\"}\n", $::Empty]



=== TEST 30: the right x-token posts
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key secret;
    location / { replog_api; }
--- more_headers
x-token: secret
--- request eval
["POST /messages\n{\"message\":\"x\"}", "GET /messages"]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/"message_id":1,/, qr/^\{"data":\[\{"message":"x","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\[[^]]*\]\}\}\]\}\n\z/]



=== TEST 31: unknown paths: JSON 404, nothing stored
--- request eval
["POST /nope\n{\"message\":\"x\"}",
 "POST /messages/\n{\"message\":\"x\"}",
 "POST /messagesX\n{\"message\":\"x\"}",
 "POST /message\n{\"message\":\"x\"}",
 "POST /\n{\"message\":\"x\"}",
 "PUT /healthcheckX\n{\"message\":\"x\"}",
 "GET /messages/1",
 "GET /messages/",
 "GET /secondaries/1",
 "GET /messages"]
--- error_code eval
[(404) x 9, 200]
--- response_body eval
[("{\"error\":\"no such endpoint\",\"detail\":\"no such endpoint\"}\n") x 9, $::Empty]
--- response_headers eval
[("Content-Type: application/json") x 10]



=== TEST 32: wrong methods: 405 with Allow, nothing stored
--- request eval
["DELETE /messages\n{\"message\":\"x\"}",
 "PATCH /messages\n{\"message\":\"x\"}",
 "OPTIONS /messages",
 "DELETE /messages/1",
 "POST /health\n{\"message\":\"x\"}",
 "PUT /health\n{\"message\":\"x\"}",
 "POST /healthcheck\n{\"message\":\"x\"}",
 "DELETE /healthcheck",
 "POST /secondaries\n{\"message\":\"x\"}",
 "POST /secondary/list\n{\"message\":\"x\"}",
 "GET /messages"]
--- error_code eval
[(405) x 10, 200]
--- response_headers eval
[("Allow: GET, HEAD, POST, PUT\nContent-Type: application/json") x 4,
 ("Allow: GET, HEAD\nContent-Type: application/json") x 6,
 "!Allow"]
--- response_body eval
[("{\"error\":\"method not allowed\",\"detail\":\"method not allowed\"}\n") x 10, $::Empty]



=== TEST 33: ids increase by one per accepted post, refused posts take none
--- config
    replog_node zone=log role=master id=m1;
    location / { client_max_body_size 100; replog_api; }
--- request eval
["POST /messages\n{\"message\":\"a\"}",
 "POST /messages\nbroken",
 "POST /messages/2\n{\"message\":\"x\"}",
 "POST /messages\n{\"message\":\"b\"}",
 "POST /messages\n" . main::msg_body('y' x 200),
 "DELETE /messages",
 "POST /messages\n{}",
 "POST /messages\n{\"message\":\"c\"}",
 "GET /messages"]
--- error_code eval
[201, 400, 400, 201, 413, 405, 400, 201, 200]
--- response_body_like eval
[qr/"message_id":1,/, qr/invalid JSON/, qr/above the cluster size/,
 qr/"message_id":2,/, qr/larger than/, qr/method not allowed/,
 qr/is missing/, qr/"message_id":3,/,
 qr/^\{"data":\[\{"message":"a","meta":\{"message_id":1,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"b","meta":\{"message_id":2,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\},\{"message":"c","meta":\{"message_id":3,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\}\]\}\n\z/]
--- no_error_log
[alert]
[emerg]
