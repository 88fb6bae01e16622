# Write concerns across a whole cluster inside one nginx: a master and two
# secondaries, each its own server block and zone.  Registration is done by
# the test (POST /register to the master).
# The plain-Perl checks (parked clients, late joins, reloads) are in
# t/perl/012-write-concern.t.
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET ();

# Ports for the stand-ins, in the environment: config sections read them
# as $TEST_NGINX_S1_PORT ..., requests (which the runners do not expand) as
# $ENV{TEST_NGINX_S1_PORT}.
{
    my @s = map { IO::Socket::INET->new(Listen => 1,
                                        LocalAddr => '127.0.0.1') } 1 .. 2;
    $ENV{"TEST_NGINX_$_"} //= shift(@s)->sockport for qw(S1_PORT S2_PORT);
}

our $TS = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/;

# The secondaries; $S1 and $S2 are extra directives for each.
sub cluster_http {
    my (%o) = @_;
    my $s1 = $o{s1} // '';
    my $s2 = $o{s2} // '';
    return <<"EOF";
    replog_zone m 4m;
    replog_zone s1 4m;
    replog_zone s2 4m;
    server {
        listen 127.0.0.1:\$TEST_NGINX_S1_PORT;
        replog_node zone=s1 role=secondary id=s1;
        $s1
        location / { replog_api; }
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_S2_PORT;
        replog_node zone=s2 role=secondary id=s2;
        $s2
        location / { replog_api; }
    }
EOF
}

our $HttpConfig = cluster_http();

sub reg { 'POST /register' . "\n" . qq/{"id":"$_[0]","port":$_[1]}/ }

repeat_each(1);
workers(1);
log_level('info');
no_shuffle();
no_root_location();    # the tests define "location /" themselves

# The configuration most blocks share, given to those without their own.
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => $::HttpConfig) unless defined $block->http_config;
    $block->set_value(config => <<'EOF') unless defined $block->config;
    replog_node zone=m role=master id=m;
    location / { replog_api; }
EOF
});

run_tests();

__DATA__

=== TEST 1: wc=1, 2, 3, majority, all with two registered secondaries
--- request eval
[::reg('s1', $ENV{TEST_NGINX_S1_PORT}),
 ::reg('s2', $ENV{TEST_NGINX_S2_PORT}),
 "POST /messages?wc=1\n{\"message\":\"w1\"}",
 "POST /messages?wc=2\n{\"message\":\"w2\"}",
 "POST /messages?wc=3\n{\"message\":\"w3\"}",
 "POST /messages?wc=majority\n{\"message\":\"wmaj\"}",
 "POST /messages?wc=all\n{\"message\":\"wall\"}",
 "POST /messages/3\n{\"message\":\"p3\"}",
 "POST /messages/all\n{\"message\":\"pall\"}",
 "POST /messages/2\n{\"message\":\"p2\"}",
 "GET /health"]
--- error_code eval
[200, 200, (201) x 8, 200]
--- response_body_like eval
[qr/^\{"id":"s1","master_id":"m",/,
 qr/^\{"id":"s2","master_id":"m",/,
 qr/^\{"message":"w1","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\["m"(,"s1")?(,"s2")?\]\}\}\n\z/,
 qr/^\{"message":"w2","meta":\{"message_id":2,"registered_at":"$::TS","registered_to":\["m",("s1"|"s2"|"s1","s2")\]\}\}\n\z/,
 qr/^\{"message":"w3","meta":\{"message_id":3,"registered_at":"$::TS","registered_to":\["m","s1","s2"\]\}\}\n\z/,
 qr/^\{"message":"wmaj","meta":\{"message_id":4,"registered_at":"$::TS","registered_to":\["m",("s1"|"s2"|"s1","s2")\]\}\}\n\z/,
 qr/^\{"message":"wall","meta":\{"message_id":5,"registered_at":"$::TS","registered_to":\["m","s1","s2"\]\}\}\n\z/,
 qr/^\{"message":"p3","meta":\{"message_id":6,"registered_at":"$::TS","registered_to":\["m","s1","s2"\]\}\}\n\z/,
 qr/^\{"message":"pall","meta":\{"message_id":7,"registered_at":"$::TS","registered_to":\["m","s1","s2"\]\}\}\n\z/,
 qr/^\{"message":"p2","meta":\{"message_id":8,"registered_at":"$::TS","registered_to":\["m",("s1"|"s2"|"s1","s2")\]\}\}\n\z/,
 qr/"last_id":8,.*"cluster_size":3,"quorum":\{"up":3,"needed":2\}/]
--- no_error_log
[alert]
[crit]



=== TEST 2: wc=1 with the master alone answers at once, held by the master only
--- request eval
[::reg('s1', $ENV{TEST_NGINX_S1_PORT}),
 "POST /messages?wc=1\n{\"message\":\"a\"}",
 "POST /messages/1\n{\"message\":\"b\"}"]
--- response_body_like eval
[qr/^\{"id":"s1"/,
 qr/"message_id":1,"registered_at":"$::TS","registered_to":\["m"\]\}\}\n\z/,
 qr/"message_id":2,"registered_at":"$::TS","registered_to":\["m"(,"s1")?\]\}\}\n\z/]
--- error_code eval
[200, 201, 201]



=== TEST 3: wc=4 with two registered and no replog_cluster_size -> 400, nothing stored
--- request eval
[::reg('s1', $ENV{TEST_NGINX_S1_PORT}),
 ::reg('s2', $ENV{TEST_NGINX_S2_PORT}),
 "POST /messages?wc=4\n{\"message\":\"x\"}",
 "POST /messages/4\n{\"message\":\"x\"}",
 "POST /messages?wc=100&timeout=10\n{\"message\":\"x\"}",
 "GET /messages",
 "POST /messages?wc=3\n{\"message\":\"ok\"}"]
--- error_code eval
[200, 200, 400, 400, 400, 200, 201]
--- response_body eval
[qr/^\{"id":"s1","master_id":"m","epoch":"[0-9a-f]{16}"/,
 qr/^\{"id":"s2","master_id":"m","epoch":"[0-9a-f]{16}"/,
 qq/{"error":"write concern 4 is above the cluster size 3","detail":"write concern 4 is above the cluster size 3"}\n/,
 qq/{"error":"write concern 4 is above the cluster size 3","detail":"write concern 4 is above the cluster size 3"}\n/,
 qq/{"error":"write concern 100 is above the cluster size 3","detail":"write concern 100 is above the cluster size 3"}\n/,
 qq/{"data":[]}\n/,
 qr/^\{"message":"ok","meta":\{"message_id":1,/]



=== TEST 4: wc=2 with no secondary registered and no replog_cluster_size -> 400
--- request eval
["POST /messages?wc=2\n{\"message\":\"x\"}",
 "POST /messages?wc=all\n{\"message\":\"y\"}"]
--- error_code eval
[400, 201]
--- response_body_like eval
[qr/^\{"error":"write concern 2 is above the cluster size 1","detail":"write concern 2 is above the cluster size 1"\}\n\z/,
 qr/"registered_to":\["m"\]/]



=== TEST 5: replog_cluster_size 3: wc=4 -> 400, wc=3 is allowed before anyone joined
--- config
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_recovery off;
    location / { replog_api; }
--- request eval
["POST /messages?wc=4\n{\"message\":\"x\"}",
 "POST /messages?wc=3&timeout=50\n{\"message\":\"y\"}",
 "POST /messages?wc=majority&timeout=50\n{\"message\":\"z\"}"]
--- error_code eval
[400, 504, 504]
--- response_body_like eval
[qr/^\{"error":"write concern 4 is above the cluster size 3","detail":"write concern 4 is above the cluster size 3"\}\n\z/,
 qr/^\{"error":"write concern not met in time: the message is stored on the master and replication continues","detail":"write concern not met in time: the message is stored on the master and replication continues","write_concern":3,"acks":1,"message":"y","meta":\{"message_id":1,"registered_at":"$::TS","registered_to":\["m"\]\}\}\n\z/,
 qr/"write_concern":2,"acks":1,"message":"z",/]



=== TEST 6: replog_retry mechanism=exponential and the other new directives are accepted
--- http_config eval: ::cluster_http(s1 => 'replog_fail_rate 0.25; replog_max_pending 1000;', s2 => 'replog_delay 0 5ms;')
--- config
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_recovery off;
    replog_healthcheck interval=1s timeout=500ms suspect=1 fails=3;
    replog_retry interval=100ms max_delay=1s mechanism=exponential;
    replog_batch max=4096 bytes=1m timeout=60s;
    location / { replog_api; }
--- request eval
[::reg('s1', $ENV{TEST_NGINX_S1_PORT}),
 ::reg('s2', $ENV{TEST_NGINX_S2_PORT}),
 "POST /messages?wc=3&timeout=20000\n{\"message\":\"x\"}"]
--- error_code eval
[200, 200, 201]
--- response_body_like eval
[qr/^\{"id":"s1"/, qr/^\{"id":"s2"/, qr/"registered_to":\["m","s1","s2"\]/]
--- no_error_log
[alert]
[crit]



=== TEST 7: an invalid timeout -> 400 and nothing stored
--- request eval
["POST /messages?wc=1&timeout=abc\n{\"message\":\"x\"}",
 "POST /messages?wc=1&timeout=-1\n{\"message\":\"x\"}",
 "POST /messages?wc=1&timeout=1.5\n{\"message\":\"x\"}",
 "POST /messages?wc=1&timeout=\n{\"message\":\"x\"}",
 "POST /messages/1?timeout=1s\n{\"message\":\"x\"}",
 "GET /messages"]
--- error_code eval
[400, 400, 400, 400, 400, 200]
--- response_body eval
[(qq/{"error":"invalid timeout: use milliseconds","detail":"invalid timeout: use milliseconds"}\n/) x 5,
 qq/{"data":[]}\n/]
