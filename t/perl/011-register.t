# A master's registry in plain Perl: registration answers and lists,
# re-registration, tokens and the registry's limits, polled over time.
# The block tests are in t/011-register.t.
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget cluster_http);
use JSON::PP ();
use Time::HiRes qw(time sleep);

our $TS  = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/;

our $HEX = qr/[0-9a-f]{16}/;

sub err { qq/{"error":"$_[0]","detail":"$_[0]"}\n/ }

workers(1);
log_level('info');

sub register {
    my ($body, $hdr) = @_;
    my ($st, $h, $b) = http_request(port(), 'POST', '/register',
        ref $body ? JSON::PP::encode_json($body) : $body,
        { 'Content-Type' => 'application/json', %{ $hdr || {} } });
    return ($st, $b);
}

sub post_msg {
    my ($text, $wc) = @_;
    my ($st, $h, $b) = http_request(port(), 'POST', '/messages?wc=' . ($wc // 1),
                                    qq/{"message":"$text"}/);
    return $st;
}

# answers name the node that gives them: each secondary has a server
our $ClusterConf = cluster_http(n => 3);

our $MasterConf = <<'EOF';
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=200ms timeout=500ms;
    replog_retry interval=50ms max_delay=200ms;
    location / { replog_api; }
EOF

# Registration: the answer, the list, the epoch, both aliases.
{
    start_nginx_conf($MasterConf, http_config => $ClusterConf);
    my ($p1, $p2) = (rand_port(1), rand_port(2));

    my $health = jget(port(), '/health');
    like($health->{epoch}, qr/^$HEX\z/, 'register: the master has an epoch');

    my ($st, $b) = register(qq/{"id":"s1","port":$p1}/);
    is($st, 200, 'register: 200');
    is($b, qq/{"id":"s1","master_id":"m","epoch":"$health->{epoch}","last_id":0}\n/,
       'register: the answer names the node, the master, its epoch and last id');

    my ($st2, undef, $list) = http_request(port(), 'GET', '/secondaries');
    is($st2, 200, 'GET /secondaries: 200');
    like($list, qr/^\{"data":\[\{"id":"s1","host":"127\.0\.0\.1","port":$p1,"status":"HEALTHY","last_healthy_status":"$TS","registered_at":"$TS","acked_id":0,"first_id":1,"lag":0,"fails":0,"epoch":"0000000000000000","last_error":null\}\]\}\n\z/,
         'GET /secondaries: the shape of an entry');
    # the original's path: its status values and last_status_change, then
    # replog's own status in "state" and the same other members
    my (undef, undef, $alias) = http_request(port(), 'GET', '/secondary/list');
    like($alias, qr/^\{"data":\[\{"id":"s1","host":"127\.0\.0\.1","port":$p1,"status":"HEALTHY","last_status_change":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d","state":"HEALTHY","last_healthy_status"/,
         'GET /secondary/list: the original\'s keys and values first, replog\'s state');
    (my $rest = $alias) =~ s/"last_status_change":"[^"]*","state":"[^"]*",//;
    is($rest, $list, 'GET /secondary/list: otherwise the members of /secondaries');

    ($st, $b) = register(qq/{"id":"s2","port":$p2,"epoch":"$health->{epoch}","acked_id":0}/);
    is($st, 200, 'register s2 with epoch and acked_id 0: 200');

    # the alias path
    my ($st3, undef, $b3) = http_request(port(), 'POST', '/secondary/register',
                                         qq/{"id":"s3","port":${\ rand_port(3)}}/);
    is($st3, 200, 'POST /secondary/register: 200');
    like($b3, qr/^\{"id":"s3","master_id":"m","epoch":"$health->{epoch}","last_id":0\}\n\z/,
         'POST /secondary/register: same answer');

    my $l = jget(port(), '/secondaries');
    is_deeply([ sort map { $_->{id} } @{ $l->{data} } ], [qw(s1 s2 s3)],
              'three registered');
    is(jget(port(), '/health')->{cluster_size}, 4,
       'cluster size without replog_cluster_size: registered + 1');

    # messages now reach the registered secondaries
    is(post_msg('one', 'all'), 201, 'wc=all with three registered: 201');
    stop_nginx();
}

# Re-registration of the same id updates the entry; its acked_id is taken.
# s1 "restarts" from port 1 to port 2: the node there answers as s1.
{
    my $conf = $ClusterConf =~ s/id=s1;/id=s1-before;/r =~ s/id=s2;/id=s1;/r;
    start_nginx_conf($MasterConf, http_config => $conf);
    my ($p1, $p2) = (rand_port(1), rand_port(2));
    my $epoch = jget(port(), '/health')->{epoch};

    is(post_msg("m$_"), 201, "re-register: message $_ on the master") for 1 .. 3;

    # it claims to hold all three (it holds none): believed
    my ($st, $b) = register(qq/{"id":"s1","port":$p1,"epoch":"$epoch","acked_id":3}/);
    is($st, 200, 're-register: first registration');
    is($b, qq/{"id":"s1","master_id":"m","epoch":"$epoch","last_id":3}\n/,
       're-register: last_id of the master is 3');

    my $l = jget(port(), '/secondaries');
    is(scalar @{ $l->{data} }, 1, 're-register: one entry');
    is($l->{data}[0]{acked_id}, 3, 're-register: the acked_id reported is taken');
    is($l->{data}[0]{lag}, 0, 're-register: no lag');
    is($l->{data}[0]{epoch}, $epoch, 're-register: the epoch reported is shown');

    sleep 0.7;    # past the catch-up grace: nothing is sent, it is "caught up"
    is(jget($p1, '/messages')->{data}[0], undef,
       're-register: nothing was pushed to a secondary that claims everything');

    # it restarts empty on another port and says so
    ($st, $b) = register(qq/{"id":"s1","port":$p2,"acked_id":0}/);
    is($st, 200, 're-register: again, acked_id 0, another port');
    $l = jget(port(), '/secondaries');
    is(scalar @{ $l->{data} }, 1, 're-register: still one entry');
    is($l->{data}[0]{port}, $p2, 're-register: the port is updated');
    is($l->{data}[0]{epoch}, '0000000000000000', 're-register: the epoch is updated');
    ok($l->{data}[0]{acked_id} == 0 || $l->{data}[0]{acked_id} == 3,
       're-register: acked_id 0 taken (or already caught up)');

    ok(wait_for(sub { jget(port(), '/secondaries')->{data}[0]{acked_id} == 3 }, 5),
       're-register: caught up to 3 from its reported acked_id');
    my (undef, undef, $want) = http_request(port(), 'GET', '/messages');
    my (undef, undef, $got)  = http_request($p2, 'GET', '/messages');
    # each node names its own holders; the stored entries are the same
    s/,"registered_to":\[[^\]]*\]//g for $want, $got;
    is($got, $want, 're-register: the new address holds the master\'s log, byte for byte');
    is(jget(port(), '/health')->{cluster_size}, 2, 're-register: cluster size counts it once');

    # the registration time moves on, the entry stays one
    my $before = jget(port(), '/secondaries')->{data}[0]{registered_at};
    ($st) = register(qq/{"id":"s1","port":$p2,"epoch":"$epoch","acked_id":3}/);
    is($st, 200, 're-register: a third time');
    $l = jget(port(), '/secondaries');
    is(scalar @{ $l->{data} }, 1, 're-register: one entry after three registrations');
    cmp_ok($l->{data}[0]{registered_at}, 'ge', $before, 're-register: registered_at does not go back');
    stop_nginx();
}

# An acked_id beyond the master's log is no proof of holding what comes
# next: a secondary that claims 5 of an empty master (and is unreachable)
# must not satisfy wc=2 for message 1.
{
    start_nginx_conf($MasterConf, http_config => $ClusterConf);
    my $dead = rand_port(5);    # nothing listens there
    my ($st, $b) = register(qq/{"id":"liar","port":$dead,"acked_id":5}/);
    is($st, 200, 'claim: registered with acked_id 5 while the master has none');
    my ($pst, undef, $pb) = http_request(port(), 'POST', '/messages?wc=2&timeout=300',
                                         '{"message":"x"}');
    is($pst, 504, 'claim: wc=2 is not met by a secondary that never got the message');
    like($pb // '', qr/"acks":1,.*"registered_to":\["m"\]/, 'claim: held by the master only');
    my $l = jget(port(), '/secondaries');
    cmp_ok($l->{data}[0]{acked_id}, '<=', 1, 'claim: its acked_id is not past the master\'s log');
    stop_nginx();
}

# The address is the connection's, whatever the body says; extra keys and
# ids that need escaping.
{
    start_nginx_conf($MasterConf, http_config => $ClusterConf);
    my $p1 = rand_port(1);
    my ($st, $b) = register(qq/{"id":"s1","port":$p1,"host":"10.9.9.9","url":"http:\/\/10.9.9.9\/"}/);
    is($st, 200, 'address: extra keys are ignored');
    my $l = jget(port(), '/secondaries');
    is($l->{data}[0]{host}, '127.0.0.1', 'address: the host is the connection\'s');

    # every printable character but space, quotes and backslash
    my $odd = q{a/b:c.d-e_f@g!#$%&()*+,;<=>?[]^`{|}~};
    ($st, $b) = register({ id => $odd, port => 1 });
    is($st, 200, 'odd id: 200');
    my $ans = JSON::PP::decode_json($b);
    is($ans->{id}, $odd, 'odd id: the answer is valid JSON with the id');
    $l = jget(port(), '/secondaries');
    is_deeply([ sort map { $_->{id} } @{ $l->{data} } ], [ sort 's1', $odd ],
              'odd id: /secondaries is valid JSON with the id');
    my (undef, undef, $metrics) = http_request(port(), 'GET', '/metrics');
    like($metrics, qr/^replog_secondary_acked_id\{node="m",secondary="\Q$odd\E"\} \d+$/m,
         'odd id: /metrics has the label value');

    # 63 bytes is the longest id
    my $long = 'i' x 63;
    ($st, $b) = register({ id => $long, port => 1 });
    is($st, 200, 'id of 63 bytes: 200');
    is(JSON::PP::decode_json($b)->{id}, $long, 'id of 63 bytes: kept whole');
    stop_nginx();
}

# A secondary that registers after the master opened, with the master's
# epoch and more than the master holds, may hold entries the master never
# recovered (or ids given since to other messages): CONFLICT, never counted.
{
    start_nginx_conf($MasterConf, http_config => $ClusterConf);
    my $dead = rand_port(5);    # nothing listens there
    my $epoch = jget(port(), '/health')->{epoch};
    is(post_msg("m$_"), 201, "ahead: message $_ on the master") for 1 .. 2;

    my ($st, $b) = register(qq/{"id":"ahead","port":$dead,"epoch":"$epoch","acked_id":5}/);
    is($st, 200, 'ahead: registered with acked_id 5 of the master\'s epoch, the master at 2');
    my $l = jget(port(), '/secondaries');
    is($l->{data}[0]{status}, 'CONFLICT', 'ahead: it is a CONFLICT');
    is($l->{data}[0]{acked_id}, 5, 'ahead: /secondaries shows what it reported');
    is($l->{data}[0]{epoch}, $epoch, 'ahead: ... and its epoch');

    my ($pst, undef, $pb) = http_request(port(), 'POST', '/messages?wc=2&timeout=300',
                                         '{"message":"x"}');
    is($pst, 504, 'ahead: it is not counted as holding the new id 3');
    like($pb // '', qr/"registered_to":\["m"\]/, 'ahead: held by the master only');

    # the same report of the master's own position is fine
    ($st) = register(qq/{"id":"level","port":$dead,"epoch":"$epoch","acked_id":3}/);
    is($st, 200, 'level: registered with acked_id 3, the master at 3');
    my %by = map { $_->{id} => $_ } @{ jget(port(), '/secondaries')->{data} };
    isnt($by{level}{status}, 'CONFLICT', 'level: not a CONFLICT');
    like(read_error_log(), qr/secondary "ahead" .* -> CONFLICT: it holds more than the master/,
         'ahead: logged with the reason');
    stop_nginx();
}

# While the master recovers, the same report is a candidate source like any
# other: the master adopts its epoch and pulls its log.
{
    start_nginx_conf(<<'EOF', http_config => $ClusterConf);
    replog_node zone=m role=master id=m;
    replog_cluster_size 2;
    replog_healthcheck interval=200ms timeout=500ms;
    replog_retry interval=50ms max_delay=200ms;
    location / { replog_api; }
EOF
    my $p1 = rand_port(1);
    my $epoch = '0123456789abcdef';
    my $batch = join ',', map {
        qq/{"message":"r$_","meta":{"message_id":$_,"registered_at":"2026-01-01T00:00:00.00000${_}Z"}}/
    } 1 .. 3;
    my ($st) = http_request($p1, 'POST', '/replicate',
                            qq/{"epoch":"$epoch","entries":[$batch]}/);
    is($st, 200, 'source: s1 holds 3 messages of another master\'s epoch');
    is(jget(port(), '/health')->{state}, 'recovering', 'source: the master is recovering');
    ($st) = register(qq/{"id":"s1","port":$p1,"epoch":"$epoch","acked_id":3}/);
    is($st, 200, 'source: s1 registered with acked_id 3, the master at 0');
    ok(wait_for(sub { jget(port(), '/health')->{state} eq 'open' }, 5),
       'source: the master opens');
    my $h = jget(port(), '/health');
    is($h->{epoch}, $epoch, 'source: with the epoch of s1');
    is($h->{last_id}, 3, 'source: and its 3 messages');
    is(jget(port(), '/secondaries')->{data}[0]{status}, 'HEALTHY', 'source: s1 is HEALTHY');
    stop_nginx();
}

# An acked_id in a reply beyond the master's log is a protocol error of that
# secondary: not stored, a failure, logged once.  A stand-in answers every
# batch with {"acked_id":1000000000000} in an answer that otherwise passes
# the identity check (its id, the master's epoch, X-Replog-Log), so that the
# bound itself is what refuses it: it learns the epoch by a reload, which
# keeps the master's zone.
{
    my $master = <<'EOF';
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=200ms timeout=500ms;
    replog_retry interval=50ms max_delay=200ms;
    location / { replog_api; }
EOF
    my $standin = <<'EOF';
    replog_zone m 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_3;
        location = /healthcheck {
            add_header X-Replog-Id liar always;
            return 200 "HEALTHY\n";
        }
        location / {
            default_type application/json;
            add_header X-Replog-Log 0000000000000001 always;
            return 200 '{"acked_id":1000000000000,"id":"liar","epoch":"%EPOCH%"}';
        }
    }
EOF
    start_nginx_conf($master, http_config => $standin);
    my $epoch = jget(port(), '/health')->{epoch};
    $standin =~ s/%EPOCH%/$epoch/;
    ok(reload_nginx($master, http_config => $standin), 'huge ack: the stand-in knows the epoch');
    my $p3 = rand_port(3);
    my ($st) = register(qq/{"id":"liar","port":$p3}/);
    is($st, 200, 'huge ack: the stand-in registered');
    my ($pst) = http_request(port(), 'POST', '/messages?wc=1', '{"message":"one"}');
    is($pst, 201, 'huge ack: wc=1 -> 201');
    sleep 0.5;    # its answers to the push of message 1 came back

    my $t0 = time;
    my ($ast, undef, $ab) = http_request(port(), 'POST', '/messages?wc=all&timeout=600',
                                         '{"message":"two"}');
    is($ast, 504, 'huge ack: a later wc=all write is not met');
    cmp_ok(time - $t0, '>=', 0.5, 'huge ack: ... only after its timeout');
    like($ab // '', qr/"registered_to":\["m"\]/, 'huge ack: held by the master only');

    my $s = jget(port(), '/secondaries')->{data}[0];
    cmp_ok($s->{acked_id}, '<=', 2, 'huge ack: its acked_id is not stored');
    is($s->{lag}, 2 - $s->{acked_id}, 'huge ack: the lag is within the log');
    is($s->{last_error}, "acked_id beyond the master's log", 'huge ack: last_error says why');
    my @lines = grep { /beyond the master's last id/ } split /\n/, read_error_log();
    is(scalar @lines, 1, 'huge ack: logged once, however many replies')
        or diag join "\n", @lines[0 .. ($#lines > 4 ? 4 : $#lines)];
    stop_nginx();
}

# The registry holds 32 secondaries.
{
    start_nginx_conf($MasterConf, http_config => $ClusterConf);
    my $dead = rand_port(5);    # nothing listens there
    my $ok = 0;
    for my $i (1 .. 32) {
        my ($st) = register(qq/{"id":"n$i","port":$dead}/);
        $ok++ if $st == 200;
    }
    is($ok, 32, 'registry: 32 secondaries registered');
    my ($st, $b) = register(qq/{"id":"n33","port":$dead}/);
    is($st, 507, 'registry: the 33rd -> 507');
    is($b, err('the registry is full: at most 32 secondaries'), 'registry: full, in JSON');
    ($st) = register(qq/{"id":"n7","port":$dead}/);
    is($st, 200, 'registry: a registered id may register again when full');
    is(scalar @{ jget(port(), '/secondaries')->{data} }, 32, 'registry: 32 listed');
    stop_nginx();
}

done_testing();
