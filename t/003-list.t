# GET /messages (order, paging, HEAD, large messages, snapshots), the
# secondaries list, /health, /healthcheck, and tokens on GET endpoints.
use Test::Nginx::Socket 'no_plan';

our $TS = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/;
our $Empty = qq/{"data":[]}\n/;
our $Big = join '', map { chr(ord('a') + $_ % 26) x 1000 } 0 .. 199;   # 200,000 bytes

sub post { "POST /messages\n" . qq/{"message":"$_[0]"}/ }

# The exact list text for messages with these ids, in the original's shape:
# a master with no secondary holds each message alone.
our $To = ',"registered_to":["m1"]}}';
sub list_re {
    my (@pairs) = @_;    # id, text, id, text ...
    my @e;
    while (my ($id, $m) = splice @pairs, 0, 2) {
        push @e, qq/\\{"message":"\Q$m\E","meta":\\{"message_id":$id,"registered_at":"$TS"\Q$To\E/;
    }
    my $re = '^\{"data":\[' . join(',', @e) . '\]\}\n\z';
    return qr/$re/;
}

# Bytes of that list: registered_at always has the same length.
sub list_len {
    my (@pairs) = @_;
    my @e;
    while (my ($id, $m) = splice @pairs, 0, 2) {
        push @e, qq/{"message":"$m","meta":{"message_id":$id,"registered_at":"/
                 . ('t' x 27) . qq/"$To/;
    }
    return length('{"data":[' . join(',', @e) . "]}\n");
}

our @Five = map { ($_ => "m$_") } 1 .. 5;
sub five { my %h = @Five; map { ($_ => $h{$_}) } @_ }
our @PostFive = map { post("m$_") } 1 .. 5;
# /health's bytes: what is stored, the list without its holders
our $FiveBytes = list_len(@Five) - length($Empty) - 5 * length $To;

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

=== TEST 1: an empty log lists as {"data":[]}
--- request
GET /messages
--- response_body eval
$::Empty
--- response_headers
Content-Type: application/json
Content-Length: 12
!Transfer-Encoding



=== TEST 2: messages are listed in id order with a Content-Length
--- request eval
[@::PostFive, "GET /messages"]
--- error_code eval
[201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"message_id":\d+,/) x 5, main::list_re(@::Five)]
--- response_headers eval
[("Content-Type: application/json") x 5,
 "Content-Type: application/json\nContent-Length: " . main::list_len(@::Five) . "\n!Transfer-Encoding"]



=== TEST 3: since and limit page through the log
--- request eval
[@::PostFive,
 "GET /messages?since=0",
 "GET /messages?since=2",
 "GET /messages?limit=2",
 "GET /messages?since=1&limit=2",
 "GET /messages?limit=2&since=3",
 "GET /messages?since=4&limit=10",
 "GET /messages?since=3&limit=1",
 "GET /messages?since=5",
 "GET /messages?since=6",
 "GET /messages?since=100&limit=3",
 "GET /messages?limit=0",
 "GET /messages?since=2&limit=0",
 "GET /messages?limit=5",
 "GET /messages?limit=1000000"]
--- error_code eval
[(201) x 5, (200) x 14]
--- response_body_like eval
[(qr/"message_id":\d+,/) x 5,
 main::list_re(main::five(1 .. 5)),
 main::list_re(main::five(3 .. 5)),
 main::list_re(main::five(1, 2)),
 main::list_re(main::five(2, 3)),
 main::list_re(main::five(4, 5)),
 main::list_re(main::five(5)),
 main::list_re(main::five(4)),
 qr/^\{"data":\[\]\}\n\z/,
 qr/^\{"data":\[\]\}\n\z/,
 qr/^\{"data":\[\]\}\n\z/,
 main::list_re(main::five(1 .. 5)),
 main::list_re(main::five(3 .. 5)),
 main::list_re(main::five(1 .. 5)),
 main::list_re(main::five(1 .. 5))]
--- response_headers eval
[(undef) x 5,
 map { "Content-Length: $_" }
 main::list_len(main::five(1 .. 5)), main::list_len(main::five(3 .. 5)),
 main::list_len(main::five(1, 2)), main::list_len(main::five(2, 3)),
 main::list_len(main::five(4, 5)), main::list_len(main::five(5)),
 main::list_len(main::five(4)), 12, 12, 12,
 main::list_len(main::five(1 .. 5)), main::list_len(main::five(3 .. 5)),
 main::list_len(main::five(1 .. 5)), main::list_len(main::five(1 .. 5))]



=== TEST 4: paging a longer log 7 at a time gives every message once
--- request eval
[(map { main::post("n$_") } 1 .. 30),
 (map { "GET /messages?since=" . (7 * $_) . "&limit=7" } 0 .. 4)]
--- error_code eval
[(201) x 30, (200) x 5]
--- response_body_like eval
[(qr/"message_id":\d+,/) x 30,
 (map { my $p = $_; main::list_re(map { ($_ => "n$_") } grep { $_ <= 30 } 7 * $p + 1 .. 7 * $p + 7) } 0 .. 4)]



=== TEST 5: bad since or limit: 400 in JSON
--- request eval
["GET /messages?since=-1",
 "GET /messages?since=abc",
 "GET /messages?since=1.5",
 "GET /messages?since=",
 "GET /messages?since=1e3",
 "GET /messages?since=%2B1",
 "GET /messages?since=99999999999999999999999",
 "GET /messages?limit=-1",
 "GET /messages?limit=x",
 "GET /messages?limit=",
 "GET /messages?since=1&limit=two",
 "HEAD /messages?since=abc"]
--- error_code eval
[(400) x 12]
--- response_body_like eval
[(qr/^\{"error":"([^"]*(since|limit)[^"]*)","detail":"\1"\}\n\z/) x 11, qr/^\z/]
--- response_headers eval
[("Content-Type: application/json") x 12]



=== TEST 6: HEAD /messages: headers of the GET, no body
--- request eval
["HEAD /messages", @::PostFive, "HEAD /messages", "HEAD /messages?since=3", "GET /messages"]
--- error_code eval
[200, (201) x 5, 200, 200, 200]
--- response_body eval
["", (map { qr/^\{"message":"m$_","meta":\{"message_id":$_,"registered_at":"$::TS"/ } 1 .. 5),
 "", "", main::list_re(@::Five)]
--- response_headers eval
["Content-Length: 12\nContent-Type: application/json",
 (undef) x 5,
 "Content-Length: " . main::list_len(@::Five) . "\nContent-Type: application/json",
 "Content-Length: " . main::list_len(main::five(4, 5)),
 "Content-Length: " . main::list_len(@::Five)]



=== TEST 7: a GET with a body is answered, the body ignored
--- pipelined_requests eval
["POST /messages\n{\"message\":\"one\"}",
 "GET /messages\n{\"message\":\"not posted\"}",
 "GET /messages"]
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/"message_id":1,/, main::list_re(1 => 'one'), main::list_re(1 => 'one')]



=== TEST 8: a 200KB message round-trips through GET /messages
--- request eval
[main::post("before"), main::post($::Big), main::post("after"),
 "GET /messages", "GET /messages?since=1&limit=1", "GET /messages?since=2",
 "HEAD /messages"]
--- error_code eval
[201, 201, 201, 200, 200, 200, 200]
--- response_body_like eval
[qr/"message_id":1,/, qr/"message_id":2,/, qr/"message_id":3,/,
 main::list_re(1 => "before", 2 => $::Big, 3 => "after"),
 main::list_re(2 => $::Big),
 main::list_re(3 => "after"),
 qr/^\z/]
--- response_headers eval
[undef, undef, undef,
 "Content-Length: " . main::list_len(1 => "before", 2 => $::Big, 3 => "after"),
 "Content-Length: " . main::list_len(2 => $::Big),
 "Content-Length: " . main::list_len(3 => "after"),
 "Content-Length: " . main::list_len(1 => "before", 2 => $::Big, 3 => "after")]



=== TEST 9: a 200KB message first in the log, then many small ones
--- request eval
[main::post($::Big), (map { main::post("s$_") } 2 .. 40), "GET /messages"]
--- error_code eval
[(201) x 40, 200]
--- response_body_like eval
[(qr/"message_id":\d+,/) x 40,
 main::list_re(1 => $::Big, map { ($_ => "s$_") } 2 .. 40)]



=== TEST 10: 1100 messages (past the first index chunk) list in order
--- http_config
    replog_zone log 4m;
--- request eval
[(map { main::post("k$_") } 1 .. 1100),
 "GET /messages?since=1020&limit=10",
 "GET /messages?since=1095",
 "GET /messages"]
--- error_code eval
[(201) x 1100, (200) x 3]
--- response_body_like eval
[(map { qr/"message_id":$_,/ } 1 .. 1100),
 main::list_re(map { ($_ => "k$_") } 1021 .. 1030),
 main::list_re(map { ($_ => "k$_") } 1096 .. 1100),
 main::list_re(map { ($_ => "k$_") } 1 .. 1100)]
--- timeout: 30



=== TEST 11: /secondaries and /secondary/list are empty for now
--- request eval
["GET /secondaries", "GET /secondary/list", "HEAD /secondaries"]
--- error_code eval
[200, 200, 200]
--- response_body eval
["{\"data\":[]}\n", "{\"data\":[]}\n", ""]
--- response_headers eval
[("Content-Type: application/json") x 3]



=== TEST 12: /health of a fresh master
--- request
GET /health
--- response_headers
Content-Type: application/json
--- response_body_like eval
qr/^\{(?=.*"role":"master"[,}])(?=.*"id":"m1"[,}])(?=.*"epoch":"[0-9a-f]{16}"[,}])(?=.*"read_only":false[,}])(?=.*"last_id":0[,}])(?=.*"bytes":0[,}])(?=.*"pending":0[,}])(?=.*"cluster_size":1[,}])(?=.*"quorum":\{"up":1,"needed":1\}).*\}\n\z/



=== TEST 13: /health follows the log: last_id, bytes = size of the stored entries
--- request eval
[@::PostFive, "GET /health", "HEAD /health"]
--- error_code eval
[(201) x 5, 200, 200]
--- response_body_like eval
[(qr/"message_id":\d+,/) x 5,
 qr/^\{(?=.*"last_id":5[,}])(?=.*"bytes":$::FiveBytes[,}])(?=.*"role":"master").*\}\n\z/,
 qr/^\z/]



=== TEST 14: /health with replog_cluster_size 5
--- config
    replog_node zone=log role=master id=m1;
    replog_cluster_size 5;
    location / { replog_api; }
--- request
GET /health
--- response_body_like eval
qr/^\{(?=.*"cluster_size":5[,}])(?=.*"quorum":\{"up":1,"needed":3\}).*\}\n\z/



=== TEST 15: /healthcheck
--- request eval
["GET /healthcheck", "HEAD /healthcheck"]
--- error_code eval
[200, 200]
--- response_body eval
["HEALTHY", ""]
--- response_headers eval
["Content-Type: text/plain\nContent-Length: 7", "Content-Type: text/plain\nContent-Length: 7"]



=== TEST 16: with replog_api_key, GET endpoints want the token, /healthcheck does not
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key s3cr3t;
    location / { replog_api; }
--- request eval
["GET /messages", "HEAD /messages", "GET /messages?since=0&limit=1",
 "GET /health", "GET /secondaries", "GET /secondary/list",
 "GET /nope",
 "GET /healthcheck", "HEAD /healthcheck"]
--- error_code eval
[(403) x 7, 200, 200]
--- response_body eval
["{\"error\":\"missing or invalid x-token\",\"detail\":\"missing or invalid x-token\"}\n", "",
 ("{\"error\":\"missing or invalid x-token\",\"detail\":\"missing or invalid x-token\"}\n") x 5,
 "HEALTHY", ""]



=== TEST 17: with the right token every GET endpoint answers
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key s3cr3t;
    location / { replog_api; }
--- more_headers
x-token: s3cr3t
--- request eval
[main::post("tok"), "GET /messages", "HEAD /messages", "GET /health",
 "GET /secondaries", "GET /secondary/list", "GET /healthcheck"]
--- error_code eval
[201, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/"message_id":1,/, main::list_re(1 => "tok"), qr/^\z/,
 qr/"last_id":1[,}]/, qr/^\{"data":\[\]\}\n\z/, qr/^\{"data":\[\]\}\n\z/,
 qr/^HEALTHY\z/]



=== TEST 18: a wrong token on GET endpoints
--- config
    replog_node zone=log role=master id=m1;
    replog_api_key s3cr3t;
    location / { replog_api; }
--- more_headers
x-token: s3cr3
--- request eval
["GET /messages", "GET /health", "GET /secondaries", "GET /healthcheck"]
--- error_code eval
[403, 403, 403, 200]
--- response_body eval
[("{\"error\":\"missing or invalid x-token\",\"detail\":\"missing or invalid x-token\"}\n") x 3, "HEALTHY"]
