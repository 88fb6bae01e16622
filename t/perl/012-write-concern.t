# Write concerns across a whole cluster inside one nginx, in plain Perl:
# parked clients, secondaries that join late or disconnect, reloads.  The
# block tests are in t/012-write-concern.t.
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget no_bad_log cluster_http);
use JSON::PP ();
use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time sleep);

our $TS = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/;

our $HttpConfig = cluster_http(zone => '4m');

workers(1);
log_level('info');

sub body_of { (http_request($_[0], 'GET', $_[1]))[2] }

# A list as stored: each node names its own holders, the rest is the same
# bytes on every node.
sub stored_of {
    my $b = body_of(@_) // '';
    $b =~ s/,"registered_to":\[[^\]]*\]//g;
    return $b;
}

sub register {
    my ($id, $port) = @_;
    my ($st, $h, $b) = http_request(port(), 'POST', '/register',
                                    qq/{"id":"$id","port":$port}/);
    return $st;
}

sub post {
    my ($text, $query) = @_;
    my ($st, $h, $b) = http_request(port(), 'POST', "/messages$query",
                                    qq/{"message":"$text"}/);
    return ($st, $b, $h);
}

sub acked_of {
    my ($id) = @_;
    my ($s) = grep { $_->{id} eq $id } @{ jget(port(), '/secondaries')->{data} };
    return $s ? $s->{acked_id} : -1;
}

sub metric {
    my ($name) = @_;
    my $m = body_of(port(), '/metrics');
    return $m =~ /^\Q$name\E (\S+)$/m ? $1 : undef;
}

sub master_open {
    my $h = jget(port(), '/health');
    return ($h->{state} // 'open') eq 'open';
}

# A post whose answer is read later: the socket.
sub start_post {
    my ($uri, $text) = @_;
    my $body = qq/{"message":"$text"}/;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port(),
                                  Proto => 'tcp', Timeout => 5)
        or die "connect: $@";
    print {$s} "POST $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             . "Content-Type: application/json\r\n"
             . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    return $s;
}

# Reads the whole answer of start_post: (status, body) or () on timeout.
sub finish_post {
    my ($s, $secs) = @_;
    my $sel = IO::Select->new($s);
    my $buf = '';
    my $until = time + $secs;
    while (time < $until) {
        next unless $sel->can_read(0.05);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    close $s;
    my ($st) = $buf =~ m{^HTTP/1\.\d (\d+)} or return ();
    my (undef, $body) = split /\r\n\r\n/, $buf, 2;
    return ($st, $body);
}

our $P1 = rand_port(1);
our $P2 = rand_port(2);

# replog_cluster_size 3 with one secondary: wc=3 times out (504), the
# message is replicated anyway; then the second joins and is caught up.
{
    start_nginx_conf(<<'EOF', http_config => $HttpConfig);
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_recovery off;    # a first start: open with s1 alone
    replog_healthcheck interval=200ms timeout=500ms;
    replog_retry interval=50ms max_delay=500ms;
    location / { replog_api; }
EOF
    is(register('s1', $P1), 200, 'cluster of 3: s1 registered');
    ok(wait_for(\&master_open, 5), 'cluster of 3: the master is open for writes');

    my ($st, $b) = post('early', '?wc=1');
    is($st, 201, 'cluster of 3: wc=1 -> 201');

    my $t0 = time;
    ($st, $b) = post('late', '?wc=3&timeout=300');
    my $took = time - $t0;
    is($st, 504, 'cluster of 3, one secondary: wc=3&timeout=300 -> 504');
    like($b, qr/^\{"error":"write concern not met in time: the message is stored on the master and replication continues","detail":"write concern not met in time: the message is stored on the master and replication continues","write_concern":3,"acks":2,"message":"late","meta":\{"message_id":2,"registered_at":"$TS","registered_to":\["m","s1"\]\}\}\n\z/,
         '504: the documented body, acks and holders');
    cmp_ok($took, '>=', 0.29, '504: after the timeout');
    cmp_ok($took, '<', 3, '504: not much later');
    is(metric('replog_write_concern_timeouts_total{node="m"}'), 1,
       '504: counted in /metrics');

    # wc=3 is not met until s1 holds it: also with the path form
    ($st, $b) = post('path', '/3?timeout=100');
    is($st, 504, 'wc in the path: /messages/3?timeout=100 -> 504');

    ok(wait_for(sub { acked_of('s1') == 3 }, 5), '504: s1 acks the timed-out messages');
    is(stored_of($P1, '/messages'), stored_of(port(), '/messages'),
       '504: s1 holds the master\'s log byte for byte');

    # a wc=3 without timeout waits for a secondary to join
    my $sock = start_post('/messages?wc=3', 'waits');
    ok(wait_for(sub { (metric('replog_waiters{node="m"}') // -1) == 1 }, 5),
       'wc=3 without timeout: parked (replog_waiters 1)');

    is(register('s2', $P2), 200, 'cluster of 3: s2 registered');
    my ($wst, $wb) = finish_post($sock, 10);
    is($wst, 201, 'the parked wc=3 post is answered 201 once s2 caught up');
    like($wb // '', qr/^\{"message":"waits","meta":\{"message_id":4,"registered_at":"$TS","registered_to":\["m","s1","s2"\]\}\}\n\z/,
         'the parked post: held by all three');

    ($st, $b) = post('all three', '?wc=3');
    is($st, 201, 'wc=3 with three nodes -> 201');
    like($b, qr/"message_id":5,.*"registered_to":\["m","s1","s2"\]\}\}\n\z/,
         'wc=3: registered to m, s1, s2');
    ok(wait_for(sub { acked_of('s2') == 5 && acked_of('s1') == 5 }, 5),
       'both secondaries acked 5');
    my $master = stored_of(port(), '/messages');
    is(stored_of($P2, '/messages'), $master,
       'catch-up: the newly registered s2 holds the master\'s whole log, byte for byte');
    is(stored_of($P1, '/messages'), $master, 's1 too');
    like($master, qr/"message_id":5,/, 'the log has five messages');
    my @to = body_of(port(), '/messages') =~ /"registered_to":(\[[^\]]*\])/g;
    is_deeply(\@to, [ ('["m","s1","s2"]') x 5 ],
              'the master lists every message as held by all three');
    like(body_of($P2, '/messages'), qr/^\{"data":\[(?:\{[^\]]*"registered_to":\["s2"\]\}\},?){5}\]\}\n\z/,
         's2 lists itself as the holder of each');
    is(metric('replog_waiters{node="m"}'), 0, 'no waiter left');
    no_bad_log('cluster of 3');
    stop_nginx();
}

# A client that goes away while parked leaves no waiter behind.
{
    start_nginx_conf(<<'EOF', http_config => $HttpConfig);
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_recovery off;    # a first start: open with s1 alone
    replog_healthcheck interval=200ms timeout=500ms;
    location / { replog_api; }
EOF
    is(register('s1', $P1), 200, 'disconnect: s1 registered');
    ok(wait_for(\&master_open, 5), 'disconnect: the master is open');

    my @socks = map { start_post('/messages?wc=3', "gone$_") } 1 .. 3;
    ok(wait_for(sub { (metric('replog_waiters{node="m"}') // -1) == 3 }, 5),
       'disconnect: three clients parked');
    close $_ for @socks;
    ok(wait_for(sub { (metric('replog_waiters{node="m"}') // -1) == 0 }, 5),
       'disconnect: replog_waiters{node="m"} 0 once they closed');

    # one with a timeout that closes before it fires
    my $s = start_post('/messages?wc=3&timeout=400', 'gone4');
    ok(wait_for(sub { (metric('replog_waiters{node="m"}') // -1) == 1 }, 5),
       'disconnect: one with a timeout parked');
    close $s;
    ok(wait_for(sub { (metric('replog_waiters{node="m"}') // -1) == 0 }, 5),
       'disconnect: gone before its timeout');
    sleep 0.5;    # its timer must not fire on a freed request

    # the messages were stored and replicated all the same
    ok(wait_for(sub { acked_of('s1') == 4 }, 5), 'disconnect: s1 acked all four');
    my ($st) = post('after', '?wc=2');
    is($st, 201, 'disconnect: the master still serves wc=2');
    is(metric('replog_waiters{node="m"}'), 0, 'disconnect: no waiter left');
    no_bad_log('disconnect');
    stop_nginx();
}

# A reload does not drop parked clients: the old worker answers them.
{
    start_nginx_conf(<<'EOF', http_config => $HttpConfig);
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_recovery off;
    location / { replog_api; }
EOF
    is(register('s1', $P1), 200, 'reload: s1 registered');
    my $sock = start_post('/messages?wc=3', 'parked');
    ok(wait_for(sub { (metric('replog_waiters{node="m"}') // -1) == 1 }, 5),
       'reload: a wc=3 post is parked');
    my $sock2 = start_post('/messages?wc=3&timeout=5000', 'parked with timeout');
    ok(wait_for(sub { (metric('replog_waiters{node="m"}') // -1) == 2 }, 5),
       'reload: a wc=3&timeout=5000 post is parked');
    ok(reload_nginx(), 'reload: new workers');
    my ($st, $b) = finish_post($sock, 5);
    is($st, 504, 'reload: the parked post is answered 504');
    like($b // '', qr/^\{"error":"write concern not met in time: the message is stored on the master and replication continues","detail":"write concern not met in time: the message is stored on the master and replication continues","write_concern":3,"acks":2,"message":"parked","meta":\{"message_id":1,/,
         'reload: with the documented body');
    ($st, $b) = finish_post($sock2, 5);
    is($st, 504, 'reload: the parked post with a timeout is answered 504 too');
    ok(wait_for(sub { (metric('replog_waiters{node="m"}') // -1) == 0 }, 5),
       'reload: no waiter counted after');
    my ($st2) = post('after reload', '?wc=2');
    is($st2, 201, 'reload: the new workers serve wc=2');
    no_bad_log('reload');
    stop_nginx();
}

# wc=2 / wc=3 with a write concern timeout configured per location.
{
    start_nginx_conf(<<'EOF', http_config => $HttpConfig);
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_recovery off;
    location / { replog_api; }
    location /short/ { replog_api; replog_write_concern default=all timeout=200ms; }
EOF
    my ($st, $b) = post('x', '?wc=2&timeout=200');
    is($st, 504, 'no secondary: wc=2&timeout=200 -> 504');
    like($b, qr/"write_concern":2,"acks":1,"message":"x","meta":\{"message_id":1,.*"registered_to":\["m"\]\}\}\n\z/,
         'no secondary: acks 1, held by the master only');
    my ($st2, $h2, $b2) = http_request(port(), 'POST', '/short/messages', '{"message":"y"}');
    is($st2, 504, 'replog_write_concern default=all timeout=200ms -> 504');
    like($b2, qr/"write_concern":3,"acks":1,/, 'default=all is the cluster size');
    my (undef, undef, $list) = http_request(port(), 'GET', '/messages');
    like($list, qr/"message":"x","meta":\{"message_id":1,.*"message":"y","meta":\{"message_id":2,/,
         'timed out messages are stored on the master');
    stop_nginx();
}

# Dedup: s1 answers 500 half the time after storing, s2 delays each batch.
# Every message reaches both exactly once.
for my $variant (
    [ 'uniform retry, 1 worker', 1, 'mechanism=uniform' ],
    [ 'exponential retry, 2 workers', 2, 'mechanism=exponential' ],
) {
    my ($what, $workers, $mech) = @$variant;
    my $n = 200;
    start_nginx_conf(<<"EOF", workers => $workers, http_config => cluster_http(zone => '4m',
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=200ms timeout=500ms suspect=1 fails=3;
    replog_retry interval=100ms max_delay=1s $mech;
    replog_batch max=4096 bytes=1m timeout=60s;
    location / { replog_api; }
EOF
        s1 => 'replog_fail_rate 0.5;', s2 => 'replog_delay 10ms 50ms;'));
    is(register('s1', $P1), 200, "$what: s1 registered");
    is(register('s2', $P2), 200, "$what: s2 registered");

    my $ok = 0;
    for my $i (1 .. $n) {
        my ($st) = post("msg $i", '?wc=1');
        $ok++ if $st == 201;
    }
    is($ok, $n, "$what: $n posts with wc=1 -> 201");

    ok(wait_for(sub { acked_of('s1') == $n }, 60), "$what: s1 acked_id reaches $n")
        or diag(JSON::PP::encode_json(jget(port(), '/secondaries')));
    ok(wait_for(sub { acked_of('s2') == $n }, 60), "$what: s2 acked_id reaches $n")
        or diag(JSON::PP::encode_json(jget(port(), '/secondaries')));

    my $list = JSON::PP::decode_json(body_of(port(), '/messages'))->{data};
    is_deeply([ map { $_->{meta}{message_id} } @$list ], [ 1 .. $n ], "$what: the master holds 1..$n");
    my $master = stored_of(port(), '/messages');
    is(stored_of($P1, '/messages'), $master,
       "$what: s1 (fail rate 0.5) equals the master byte for byte: no duplicates");
    is(stored_of($P2, '/messages'), $master,
       "$what: s2 (delay 10ms..50ms) equals the master byte for byte");
    is(jget($P1, '/health')->{pending}, 0, "$what: s1 holds nothing past a gap");
    is(jget($P2, '/health')->{pending}, 0, "$what: s2 holds nothing past a gap");
    cmp_ok(metric('replog_secondary_retries_total{node="m",secondary="s1"}') // 0,
           '>', 0, "$what: batches to s1 were retried");
    no_bad_log($what);
    stop_nginx();
}

done_testing();
