# Tailing: GET /messages?since=N&wait=TIME.  Bad wait values, an answer
# at once when the log already has entries past N (the same bytes as
# without wait), the empty list at TIME when nothing comes, and /metrics.
# Tailers woken by appends (other workers, secondaries, disconnects,
# reloads) are in t/cluster/200-tail.t.
use Test::Nginx::Socket 'no_plan';

our $TS = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/;
our $Empty = qq/{"data":[]}\n/;

sub post { "POST /messages\n" . qq/{"message":"$_[0]"}/ }

# the exact list of these ids of a master without secondaries
our $To = ',"registered_to":["m1"]}}';
sub list_re {
    my @e = map {
        qq/\\{"message":"m$_","meta":\\{"message_id":$_,"registered_at":"$TS"\Q$To\E/
    } @_;
    my $re = '^\{"data":\[' . join(',', @e) . '\]\}\n\z';
    return qr/$re/;
}

# its bytes: registered_at always has the same length
sub list_len {
    my @e = map {
        qq/{"message":"m$_","meta":{"message_id":$_,"registered_at":"/
        . ('t' x 27) . qq/"$To/
    } @_;
    return length('{"data":[' . join(',', @e) . "]}\n");
}

our $BadWait = qr/^\{"error":"(wait must be a time [^"]*at most (\d+) ms[^"]*)","detail":"\1"\}\n\z/;

repeat_each(1);
workers(1);
log_level('info');
no_shuffle();
no_root_location();

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

=== TEST 1: bad wait values: 400 in JSON, naming the limit
--- request eval
["GET /messages?wait=",
 "GET /messages?wait=abc",
 "GET /messages?wait=-1",
 "GET /messages?wait=1.5s",
 "GET /messages?wait=5x",
 "GET /messages?wait=1%20s",
 "GET /messages?wait=1s%202s",
 "GET /messages?wait=61s",
 "GET /messages?wait=2m",
 "GET /messages?wait=99999999999999999999",
 "GET /messages?since=3&wait=ms",
 "HEAD /messages?wait=abc"]
--- error_code eval
[(400) x 12]
--- response_body_like eval
[(qr/$::BadWait/) x 11, qr/^\z/]
--- response_headers eval
[("Content-Type: application/json") x 12]
--- no_error_log
[error]



=== TEST 2: the error names the configured replog_tail_max_wait
--- config
    replog_node zone=log role=master id=m1;
    location / { replog_api; replog_tail_max_wait 2s; }
--- request
GET /messages?wait=3s
--- error_code: 400
--- response_body_like eval
qr/^\{"error":"wait must be a time [^"]*at most 2000 ms/
--- no_error_log
[error]



=== TEST 3: entries past since already there: answered at once with them, as without wait
--- request eval
[(map { main::post("m$_") } 1 .. 5),
 "GET /messages?since=2&wait=30s",
 "GET /messages?since=2",
 "GET /messages?since=1&limit=2&wait=30s",
 "GET /messages?wait=60s",
 "HEAD /messages?since=4&wait=30s"]
--- error_code eval
[(201) x 5, 200, 200, 200, 200, 200]
--- response_body_like eval
[(qr/"message_id":\d+,/) x 5,
 main::list_re(3 .. 5), main::list_re(3 .. 5), main::list_re(2, 3),
 main::list_re(1 .. 5), qr/^\z/]
--- response_headers eval
[(undef) x 5,
 "Content-Length: " . main::list_len(3 .. 5) . "\nContent-Type: application/json",
 "Content-Length: " . main::list_len(3 .. 5),
 "Content-Length: " . main::list_len(2, 3),
 "Content-Length: " . main::list_len(1 .. 5),
 "Content-Length: " . main::list_len(5)]
--- timeout: 10
--- no_error_log
[error]



=== TEST 4: nothing past since: the empty list at the end of the wait
--- request eval
["GET /messages?wait=1s",
 main::post("m1"),
 "GET /messages?since=1&wait=500ms",
 "GET /messages?since=7&wait=1",
 "GET /messages?since=1&wait=0",
 "HEAD /messages?since=1&wait=300ms",
 "GET /messages"]
--- error_code eval
[200, 201, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^\Q$::Empty\E\z/, qr/"message_id":1,/, qr/^\Q$::Empty\E\z/,
 qr/^\Q$::Empty\E\z/, qr/^\Q$::Empty\E\z/, qr/^\z/, main::list_re(1)]
--- response_headers eval
["Content-Length: 12\nContent-Type: application/json", undef,
 "Content-Length: 12", "Content-Length: 12", "Content-Length: 12",
 "Content-Length: 12", undef]
--- timeout: 10
--- no_error_log
[error]



=== TEST 5: /metrics: no reader parked after, each wait that ran out counted
--- request eval
["GET /messages?wait=200ms",
 "GET /messages?since=0&wait=200ms",
 "GET /messages?wait=0",
 "GET /metrics"]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/^\Q$::Empty\E\z/, qr/^\Q$::Empty\E\z/, qr/^\Q$::Empty\E\z/,
 qr/^replog_tailers\{node="m1"\} 0\s.*\sreplog_tail_wakeups_total\{node="m1",by="append"\} 0\s+replog_tail_wakeups_total\{node="m1",by="worker"\} 0\s+replog_tail_wakeups_total\{node="m1",by="poll"\} 0\s+replog_tail_wakeups_total\{node="m1",by="timeout"\} 2\s+replog_tail_wakeups_total\{node="m1",by="exit"\} 0\s/ms]
--- no_error_log
[error]



=== TEST 6: a secondary's log is tailed too
--- config
    replog_node zone=log role=secondary id=s1;
    location / { replog_api; }
--- request eval
["GET /messages?wait=300ms",
 "GET /messages?wait=x"]
--- error_code eval
[200, 400]
--- response_body_like eval
[qr/^\Q$::Empty\E\z/, qr/$::BadWait/]
--- no_error_log
[error]



=== TEST 7: replog_tail_max_wait that is not a time fails the configuration
--- http_config
    replog_zone log 1m;
    replog_tail_max_wait forever;
--- must_die
--- error_log
"replog_tail_max_wait" directive invalid value



=== TEST 8: replog_tail_max_wait at http level holds for the API; 0 refuses any wait but 0
--- http_config
    replog_zone log 1m;
    replog_tail_max_wait 0;
--- request eval
["GET /messages?wait=1ms",
 "GET /messages?wait=0",
 "GET /messages?wait=0ms"]
--- error_code eval
[400, 200, 200]
--- response_body_like eval
[qr/at most 0 ms/, qr/^\Q$::Empty\E\z/, qr/^\Q$::Empty\E\z/]
--- no_error_log
[error]
