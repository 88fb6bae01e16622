# GET /openapi.json and GET /docs: the document compiled into the module,
# served on both roles without a token, GET and HEAD only.
use Test::Nginx::Socket 'no_plan';

# the repository's document, byte for byte (prove runs from the top)
our $Doc = do {
    open my $f, '<', 'api/openapi.json' or die "api/openapi.json: $!";
    local $/;
    <$f>;
};

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
    replog_api_key secret;
    location / { replog_api; }
EOF
});

run_tests();

__DATA__

=== TEST 1: a master serves the repository's document without a token
--- request
GET /openapi.json
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body eval
$::Doc
--- no_error_log
[error]



=== TEST 2: a secondary serves the same document without a token
--- config
    replog_node zone=log role=secondary id=s1;
    replog_api_key secret;
    location / { replog_api; }
--- request
GET /openapi.json
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body eval
$::Doc
--- no_error_log
[error]



=== TEST 3: /docs is an HTML page naming the document, without a token
--- request
GET /docs
--- error_code: 200
--- response_headers
Content-Type: text/html; charset=utf-8
--- response_body_like chomp
\A<!DOCTYPE html>.*<a href="openapi\.json">.*<td>POST</td><td><code>/messages/\{wc\}</code></td>.*</html>\n\z
--- no_error_log
[error]



=== TEST 4: a write to the document is 405 with Allow, in JSON
--- request
POST /openapi.json
{"message":"x"}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: application/json
--- response_body_like: "error":"method not allowed"



=== TEST 5: under a prefix location the document is at the prefix
--- config
    replog_node zone=log role=master id=m1;
    location /replog/ { replog_api; }
--- request
GET /replog/openapi.json
--- error_code: 200
--- response_body eval
$::Doc



=== TEST 6: HEAD answers the document's length and no body
--- request
HEAD /openapi.json
--- error_code: 200
--- response_headers eval
"Content-Length: " . length($::Doc)
--- response_body eval
""



=== TEST 7: the other endpoints still need the token
--- request
GET /messages
--- error_code: 403
