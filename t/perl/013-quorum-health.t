# replog_quorum, GET /health and GET /metrics over a running cluster in
# plain Perl (a master and two secondaries in one nginx).  The block tests
# of the cluster directives are in t/013-quorum-health.t.
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget no_bad_log cluster_http);
use JSON::PP ();
use Time::HiRes qw(time sleep);

our $TS = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/;

our $HttpConfig = cluster_http(zone => '4m');

sub noquorum {
    my ($up, $n) = @_;
    my $k = int($n / 2) + 1;
    return qq/{"error":"no quorum: the master is read-only while $up of $n nodes are up and $k are needed","detail":"no quorum: the master is read-only while $up of $n nodes are up and $k are needed","up":$up,"needed":$k,"cluster_size":$n}\n/;
}

workers(1);
log_level('info');

sub register {
    my ($id, $port) = @_;
    my ($st) = http_request(port(), 'POST', '/register', qq/{"id":"$id","port":$port}/);
    return $st;
}

sub post {
    my ($text, $query) = @_;
    return http_request(port(), 'POST', '/messages' . ($query // ''),
                        qq/{"message":"$text"}/);
}

# Checks Prometheus text: every sample line is well formed, every metric
# has one HELP and one TYPE before its samples.  Returns name{labels} => value.
sub check_prometheus {
    my ($text, $what) = @_;
    my (%help, %type, %samples, @bad, @orphan);
    like($text, qr/\n\z/, "$what: ends with a newline");
    for my $line (split /\n/, $text) {
        if ($line =~ /^# HELP ([a-z_]+) \S/) {
            push @bad, "second HELP: $line" if $help{$1}++;
            next;
        }
        if ($line =~ /^# TYPE ([a-z_]+) (counter|gauge)$/) {
            push @bad, "second TYPE: $line" if $type{$1}++;
            push @bad, "a counter not named _total: $line"
                if $2 eq 'counter' && $1 !~ /_total$/;
            next;
        }
        if ($line =~ /^#/) {
            push @bad, "comment: $line";
            next;
        }
        if ($line !~ /^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+)$/) {
            push @bad, "sample: $line";
            next;
        }
        my ($name, $labels, $v) = ($1, $2 // '', $3);
        push @orphan, $line unless $help{$name} && $type{$name};
        push @bad, "labels: $line"
            if $labels ne ''
               && $labels !~ /^\{[a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*\}$/;
        push @bad, "duplicate sample: $line" if exists $samples{"$name$labels"};
        $samples{"$name$labels"} = $v;
    }
    ok(!@bad, "$what: every line is Prometheus text") or diag(join "\n", @bad);
    ok(!@orphan, "$what: every sample has HELP and TYPE before it")
        or diag(join "\n", @orphan);
    is_deeply([ sort keys %help ], [ sort keys %type ], "$what: HELP and TYPE name the same metrics");
    return \%samples;
}

our $P1 = rand_port(1);
our $P2 = rand_port(2);
our $Dead = rand_port(5);

# Quorum with replog_cluster_size 3: the master is read-only alone, opens
# when one secondary is up, and closes again when it goes unhealthy.
{
    start_nginx_conf(<<'EOF', http_config => $HttpConfig);
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_quorum on;
    replog_recovery off;
    replog_healthcheck interval=100ms timeout=200ms suspect=1 fails=2;
    replog_retry interval=50ms max_delay=200ms;
    location / { replog_api; }
EOF
    my ($st, $h, $b) = post('x');
    is($st, 503, 'quorum: alone -> 503');
    is($h->{'retry-after'}, 1, 'quorum: Retry-After: 1');
    is($h->{'content-type'}, 'application/json', 'quorum: JSON');
    ok(eval { JSON::PP::decode_json($b); 1 }, 'quorum: the 503 body is valid JSON')
        or diag("body: $b");
    is($b, noquorum(1, 3), 'quorum: the body names up, needed and the cluster size');
    ($st, $h, $b) = post('x', '?wc=1');
    is($st, 503, 'quorum: wc=1 too -> 503');
    ($st, $h, $b) = http_request(port(), 'GET', '/messages');
    is($st, 200, 'quorum: reads still 200');
    is($b, qq/{"data":[]}\n/, 'quorum: nothing was stored');
    my $health = jget(port(), '/health');
    is($health->{read_only}, JSON::PP::true, 'quorum: /health read_only true');
    is_deeply($health->{quorum}, { up => 1, needed => 2 }, 'quorum: /health quorum');
    is($health->{cluster_size}, 3, 'quorum: /health cluster_size');
    is($health->{role}, 'master', 'quorum: /health role');
    is($health->{id}, 'm', 'quorum: /health id');
    like($health->{epoch}, qr/^[0-9a-f]{16}\z/, 'quorum: /health epoch');
    is($health->{last_id}, 0, 'quorum: /health last_id');

    is(register('s1', $P1), 200, 'quorum: s1 registered');
    ($st, $h, $b) = post('one', '?wc=2');
    is($st, 201, 'quorum: with s1 up -> 201');
    like($b, qr/"registered_to":\["m","s1"\]/, 'quorum: held by m and s1');
    $health = jget(port(), '/health');
    is($health->{read_only}, JSON::PP::false, 'quorum: /health read_only false');
    is_deeply($health->{quorum}, { up => 2, needed => 2 }, 'quorum: up 2 of 2 needed');
    is($health->{last_id}, 1, 'quorum: /health last_id 1');

    # s1 "moves" to a port where nothing listens: its heartbeats fail
    is(register('s1', $Dead), 200, 'quorum: s1 re-registered at a dead port');
    ok(wait_for(sub { jget(port(), '/health')->{read_only} }, 10),
       'quorum: read_only again once s1 is unhealthy');
    my ($s) = @{ jget(port(), '/secondaries')->{data} };
    is($s->{status}, 'UNHEALTHY', 'quorum: s1 UNHEALTHY');
    ok(defined $s->{last_error} && length $s->{last_error}, 'quorum: with its last error');
    cmp_ok($s->{fails}, '>=', 2, 'quorum: fails counted');
    ($st, $h, $b) = post('two');
    is($st, 503, 'quorum: lost -> 503');
    is($b, noquorum(1, 3), 'quorum: lost: up 1');

    # back at its real port
    is(register('s1', $P1), 200, 'quorum: s1 back');
    ok(wait_for(sub { !jget(port(), '/health')->{read_only} }, 5), 'quorum: writable again');
    ($st, $h, $b) = post('three', '?wc=2');
    is($st, 201, 'quorum: regained -> 201');
    like($b, qr/"message_id":2,/, 'quorum: refused posts took no id');
    no_bad_log('quorum');
    stop_nginx();
}

# Quorum without replog_cluster_size: the cluster is what registered.
{
    start_nginx_conf(<<'EOF', http_config => $HttpConfig);
    replog_node zone=m role=master id=m;
    replog_quorum on;
    replog_healthcheck interval=100ms timeout=200ms suspect=1 fails=1;
    location / { replog_api; }
EOF
    my ($st) = post('alone');
    is($st, 201, 'dynamic quorum: the master alone is a majority of 1');
    is(register('a', $Dead), 200, 'dynamic quorum: a registered (dead)');
    is(register('b', $Dead), 200, 'dynamic quorum: b registered (dead)');
    ok(wait_for(sub { jget(port(), '/health')->{read_only} }, 10),
       'dynamic quorum: read-only once both are unhealthy');
    my ($st2, $h, $b) = post('x');
    is($st2, 503, 'dynamic quorum: 503');
    is($b, noquorum(1, 3), 'dynamic quorum: 1 of 3 up');
    is(register('s1', $P1), 200, 'dynamic quorum: s1 registered');
    my $health = jget(port(), '/health');
    is_deeply($health->{quorum}, { up => 2, needed => 3 }, 'dynamic quorum: 2 of 4, 3 needed');
    ($st2, $h, $b) = post('y');
    is($st2, 503, 'dynamic quorum: still 503 with 2 of 4');
    is($b, noquorum(2, 4), 'dynamic quorum: 2 of 4');
    is(register('s2', $P2), 200, 'dynamic quorum: s2 registered');
    ($st2, $h, $b) = post('z', '?wc=3');
    is($st2, 201, 'dynamic quorum: 3 of 5 up -> 201');
    stop_nginx();
}

# Without replog_quorum the master writes whatever is up.
{
    start_nginx_conf(<<'EOF', http_config => $HttpConfig);
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_recovery off;
    location / { replog_api; }
EOF
    my ($st, $h, $b) = post('x', '?wc=1');
    is($st, 201, 'no quorum directive: alone, wc=1 -> 201');
    my $health = jget(port(), '/health');
    is($health->{read_only}, JSON::PP::false, 'no quorum directive: not read-only');
    is_deeply($health->{quorum}, { up => 1, needed => 2 }, 'no quorum directive: quorum still reported');
    stop_nginx();
}

# With recovery (the default with replog_cluster_size > 1) a master that
# starts empty is closed until N - N/2 secondaries registered (2 of 3: a
# write that a majority acknowledged may be held by one of them alone):
# 503 + Retry-After, and /health lists what it waits for.
{
    start_nginx_conf(<<'EOF', http_config => $HttpConfig);
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_quorum on;
    location / { replog_api; }
EOF
    my ($st, $h, $b) = post('x');
    is($st, 503, 'recovering: 503 before anyone registered');
    is($h->{'retry-after'}, 1, 'recovering: Retry-After: 1');
    ok(eval { JSON::PP::decode_json($b)->{error} }, 'recovering: a JSON error');
    my $rb = eval { JSON::PP::decode_json($b) } // {};
    is_deeply([ @$rb{qw(error detail)} ], [ 'recovering', 'recovering' ],
              'recovering: "detail" says what "error" says, as every error');
    like($rb->{reason} // '', qr/^the master restarted with an empty log/,
         'recovering: the explanation is in "reason"');
    my $health = jget(port(), '/health');
    is($health->{read_only}, JSON::PP::true, 'recovering: read_only');
    is_deeply($health->{recovery}, { needed => 2, awaited => 2, registered => [] },
              'recovering: /health awaits 2 registrations');
    is(register('s1', $P1), 200, 'recovering: s1 registered');
    ok(!wait_for(sub { !jget(port(), '/health')->{read_only} }, 1.5),
       'recovering: one of two is not enough, it stays closed');
    ($st) = post('x');
    is($st, 503, 'recovering: still 503 with s1 alone');
    is_deeply(jget(port(), '/health')->{recovery},
              { needed => 2, awaited => 1, registered => ['s1'] },
              'recovering: /health shows s1 registered, one awaited');
    is(register('s2', $P2), 200, 'recovering: s2 registered');
    ok(wait_for(sub { !jget(port(), '/health')->{read_only} }, 5), 'recovering: open');
    ok(!exists jget(port(), '/health')->{recovery}, 'recovering: open, nothing awaited');
    ($st) = post('y', '?wc=2');
    is($st, 201, 'recovering: then 201');
    stop_nginx();
}

# The operator's way out: a reload with replog_recovery unsafe_open_after=
# opens with fewer registrations (counted from the start of the recovery),
# logged at warn.
{
    my $conf = <<'EOF';
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_recovery %s;
    location / { replog_api; }
EOF
    start_nginx_conf(sprintf($conf, 'on'), http_config => $HttpConfig);
    is(register('s1', $P1), 200, 'unsafe: s1 registered');
    ok(!wait_for(sub { jget(port(), '/health')->{state} eq 'open' }, 1.5),
       'unsafe: not open with s1 alone');
    ok(reload_nginx(sprintf($conf, 'unsafe_open_after=1s'), http_config => $HttpConfig),
       'unsafe: reloaded with unsafe_open_after=1s');
    ok(wait_for(sub { jget(port(), '/health')->{state} eq 'open' }, 5),
       'unsafe: open after the reload');
    like(read_error_log(),
         qr/\[warn\].*opening after unsafe_open_after=1000 with 1 of 2 secondaries needed registered.*acknowledged writes may be lost/,
         'unsafe: logged at warn');
    my ($st) = post('z', '?wc=2');
    is($st, 201, 'unsafe: then 201');
    stop_nginx();
}

# /metrics of a master with two secondaries, and of a secondary.
{
    start_nginx_conf(<<'EOF', http_config => $HttpConfig);
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_quorum on;
    replog_recovery off;
    location / { replog_api; }
EOF
    is(register('s1', $P1), 200, 'metrics: s1 registered');
    is(register('s2', $P2), 200, 'metrics: s2 registered');
    is(scalar(grep { (post("m$_", '?wc=3'))[0] == 201 } 1 .. 5), 5, 'metrics: five posts, wc=3');
    my (undef, undef, $b) = post('big' x 10, '?wc=majority');

    my ($st, $h, $text) = http_request(port(), 'GET', '/metrics');
    is($st, 200, 'metrics: 200');
    like($h->{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'metrics: Prometheus content type');
    my $m = check_prometheus($text, 'metrics of the master');
    is($m->{'replog_messages_appended_total{node="m"}'}, 6, 'metrics: appended 6');
    is($m->{'replog_last_id{node="m"}'}, 6, 'metrics: last id 6');
    is($m->{'replog_cluster_size{node="m"}'}, 3, 'metrics: cluster size');
    is($m->{'replog_nodes_up{node="m"}'}, 3, 'metrics: nodes up');
    is($m->{'replog_waiters{node="m"}'}, 0, 'metrics: no waiters');
    is($m->{'replog_write_concern_timeouts_total{node="m"}'}, 0, 'metrics: no timeouts');
    for my $s (qw(s1 s2)) {
        ok(wait_for(sub {
            my (undef, undef, $t) = http_request(port(), 'GET', '/metrics');
            $t =~ /^replog_secondary_acked_id\{node="m",secondary="$s"\} 6$/m }, 5),
           "metrics: replog_secondary_acked_id of $s reaches 6");
    }
    (undef, undef, $text) = http_request(port(), 'GET', '/metrics');
    $m = check_prometheus($text, 'metrics of the master, later');
    for my $s (qw(s1 s2)) {
        is($m->{qq/replog_secondary_status{node="m",secondary="$s",status="HEALTHY"}/}, 1,
           "metrics: $s HEALTHY 1");
        is($m->{qq/replog_secondary_status{node="m",secondary="$s",status="$_"}/}, 0,
           "metrics: $s $_ 0") for qw(SUSPECTED UNHEALTHY CONFLICT);
        is($m->{qq/replog_secondary_lag{node="m",secondary="$s"}/}, 0, "metrics: $s lag 0");
    }

    ($st, $h, $text) = http_request($P1, 'GET', '/metrics');
    is($st, 200, 'metrics of a secondary: 200');
    $m = check_prometheus($text, 'metrics of a secondary');
    is($m->{'replog_last_id{node="s1"}'}, 6, 'metrics of a secondary: last id');
    is($m->{'replog_messages_appended_total{node="s1"}'}, 6, 'metrics of a secondary: appended');

    # HEAD /metrics: headers only
    my ($hst, $hh, $hb) = http_request(port(), 'HEAD', '/metrics');
    is($hst, 200, 'HEAD /metrics: 200');
    is($hb // '', '', 'HEAD /metrics: no body');
    ($st) = http_request(port(), 'POST', '/metrics', '{}');
    is($st, 405, 'POST /metrics: 405');
    stop_nginx();
}

# /health of a secondary.
{
    start_nginx_conf(<<'EOF', http_config => $HttpConfig);
    replog_node zone=m role=master id=m;
    location / { replog_api; }
EOF
    my $h = jget($P1, '/health');
    is($h->{role}, 'secondary', 'secondary /health: role');
    is($h->{id}, 's1', 'secondary /health: id');
    is($h->{read_only}, JSON::PP::true, 'secondary /health: read_only');
    is($h->{epoch}, '0000000000000000', 'secondary /health: no epoch before a batch');
    is(register('s1', $P1), 200, 'secondary /health: registered');
    is((post('x', '?wc=2'))[0], 201, 'secondary /health: one message');
    $h = jget($P1, '/health');
    is($h->{epoch}, jget(port(), '/health')->{epoch}, 'secondary /health: the master\'s epoch');
    is($h->{last_id}, 1, 'secondary /health: last_id 1');
    my ($st) = http_request(port(), 'POST', '/health', '{}');
    is($st, 405, 'POST /health: 405');
    stop_nginx();
}

done_testing();
