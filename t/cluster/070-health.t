# Health and quorum with separate processes: SIGSTOP and SIGKILL of a
# secondary move it HEALTHY -> SUSPECTED -> UNHEALTHY in time, nothing is
# pushed to it while UNHEALTHY, it comes back level; one worker of four sends
# the heartbeats; quorum turns the master read-only; remove_after removes.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use File::Path qw(make_path);
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'health', cluster_size => 3,
    env => { HEALTHCHECK_DELAY => 1, REPLOG_HEALTHCHECK_TIMEOUT => '500ms',
             REPLOG_HEALTHCHECK_FAILS => 3, REPLOG_QUORUM => 'on',
             MESSAGE_POST_RETRY_INTERVAL => '0.2' });

$c->start_master(REPLOG_WORKERS => 4);
$c->start_secondary($_) for qw(s1 s2);
ok $c->wait_for(sub {
    $c->status('s1') eq 'HEALTHY' && $c->status('s2') eq 'HEALTHY'
}, 15), 'master (4 workers) + 2 secondaries';
ok $c->wait_open, 'open for writes';

# heartbeats: one worker, once per interval, however many workers
sub heartbeats {
    my ($name) = @_;
    my $log = "$c->{nodes}{$name}{prefix}/access.log";
    return scalar grep { m{"GET /healthcheck } } do {
        open my $fh, '<', $log or return 0; <$fh>
    };
}
my $h0 = heartbeats('s1');
sleep 4.2;
my $beats = heartbeats('s1') - $h0;
cmp_ok $beats, '>=', 3, "heartbeats arrive every second ($beats in 4.2 s)";
cmp_ok $beats, '<=', 6, 'from one worker only, not four';

# SIGSTOP: accepts connections, never answers
my ($st) = $c->post('/messages?wc=3', 'before stop');
is $st, 201, 'wc=3 with everybody up';

$c->signal('s2', 'STOP');
my $t0 = time;
ok $c->wait_for(sub { $c->status('s2') eq 'SUSPECTED' }, 5),
    'SIGSTOP: SUSPECTED after a missed heartbeat';
ok $c->wait_for(sub { $c->status('s2') eq 'UNHEALTHY' }, 10),
    'SIGSTOP: then UNHEALTHY';
my $dt = time - $t0;
cmp_ok $dt, '<=', 4.5, sprintf('UNHEALTHY within fails + 1 = 4 s (%.1f s)',
                               $dt);

my $sec = $c->secondaries->{s2};
ok $sec->{last_error}, "last_error says why: $sec->{last_error}";

($st) = $c->post('/messages?wc=2', "while s2 is stopped $_") for 1 .. 5;
is $st, 201, 'wc=2 still served by master + s1';

$c->signal('s2', 'CONT');
ok $c->wait_for(sub { $c->status('s2') eq 'HEALTHY' }, 10),
    'SIGCONT: HEALTHY again';
my $last = $c->health('master')->{last_id};
ok $c->wait_for(sub { $c->acked('s2') >= $last }, 15),
    'and level with the master';
my $m = $c->stored('master');
my $s = $c->stored('s2');
ok $s eq $m, 's2 equals the master byte for byte';

# SIGKILL, then a stand-in on its port that answers 503 to everything:
# the master must send it heartbeats and never a batch while UNHEALTHY
$c->stop_helper('s1');
$c->kill9('s1');
ok $c->wait_for(sub { $c->status('s1') eq 'UNHEALTHY' }, 10),
    'SIGKILL: UNHEALTHY';

my $stand = "$c->{dir}/standin";
make_path("$stand/logs");
open my $fh, '>', "$stand/nginx.conf" or die;
printf $fh <<'CONF', $c->port('s1');
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events {}
http {
    access_log logs/access.log;
    client_body_temp_path logs;
    server { listen 127.0.0.1:%d; location / { return 503; } }
}
CONF
close $fh;
system('/usr/sbin/nginx', '-p', "$stand/", '-c', "$stand/nginx.conf") == 0
    or die 'stand-in did not start';

my $posted = 0;
for my $i (1 .. 20) {
    my ($s) = $c->post('/messages?wc=2', "while s1 is unhealthy $i");
    $posted++ if defined $s && $s == 201;
}
is $posted, 20, 'writes go on with master + s2';
sleep 2.5;
is $c->status('s1'), 'UNHEALTHY', 's1 stays UNHEALTHY (503 to heartbeats)';

my @lines = do { open my $a, '<', "$stand/logs/access.log" or die; <$a> };
cmp_ok scalar(grep { m{"GET /healthcheck } } @lines), '>=', 2,
    'its access log shows heartbeats';
is scalar(grep { m{"POST /replicate } } @lines), 0,
    'and not a single push while UNHEALTHY';
system('/usr/sbin/nginx', '-p', "$stand/", '-c', "$stand/nginx.conf", '-s',
       'stop');
sleep 0.3;

# quorum: both secondaries down, 1 of 3 up
$c->kill9('s2');
ok $c->wait_for(sub { $c->status('s2') eq 'UNHEALTHY' }, 10),
    's2 down too';
my ($qs, $qr, $qh) = $c->post('/messages?wc=1', 'no quorum');
is $qs, 503, 'without a majority the master refuses writes';
ok $qh->{'retry-after'}, '... with Retry-After';
is_deeply [ @{$qr}{qw(up needed cluster_size)} ], [1, 2, 3],
    '... naming 1 node up of the 2 needed';
like $qr->{error}, qr/no quorum/, '... and saying why';
my ($gs) = $c->request('master', 'GET', '/messages?limit=1');
is $gs, 200, 'reads keep working';
ok $c->health('master')->{read_only}, '/health says read-only';

$c->start_secondary('s1');
ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 15), 's1 is back';
my ($bs) = $c->post('/messages?wc=1', 'quorum again');
is $bs, 201, 'one secondary back: writes accepted again';
ok $c->wait_for(sub { $c->acked('s1') >= $c->health('master')->{last_id} },
                20), 's1 is level';

# /metrics is Prometheus text
my (undef, undef, undef, $metrics) = $c->request('master', 'GET', '/metrics');
my @bad = grep { !/^#/ && !/^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$/ }
          split /\n/, $metrics;
is_deeply \@bad, [], '/metrics parses as Prometheus text';
like $metrics, qr/replog_secondary_status\{node="master",secondary="s2",status="UNHEALTHY"\} 1/,
    'it shows s2 UNHEALTHY';

$c->stop_all;

# remove_after: unhealthy that long, gone from the registry
my $r = Replog::Cluster->new(name => 'remove',
    env => { HEALTHCHECK_DELAY => 1, REPLOG_HEALTHCHECK_TIMEOUT => '500ms',
             REPLOG_HEALTHCHECK_FAILS => 2, SECONDARY_REMOVAL_DELAY => 2 });
$r->start_master;
$r->start_secondary('gone');
ok $r->wait_for(sub { $r->status('gone') eq 'HEALTHY' }, 15), 'registered';
$r->stop_helper('gone');
$r->kill9('gone');
ok $r->wait_for(sub { $r->status('gone') eq 'UNHEALTHY' }, 10), 'UNHEALTHY';
ok $r->wait_for(sub { $r->status('gone') eq 'ABSENT' }, 10),
    'removed after remove_after';
is $r->health('master')->{cluster_size}, 1, 'the cluster size shrinks';
$r->stop_all;

done_testing;
