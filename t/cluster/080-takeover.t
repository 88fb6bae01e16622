# Heartbeats survive a reload (old workers stop theirs, the new worker 0
# takes over: not doubled, not lost) and a crash of the workers (the
# respawned worker 0 resumes).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'takeover', workers => 2,
    env => { HEALTHCHECK_DELAY => 1, REPLOG_HEALTHCHECK_TIMEOUT => '500ms',
             REPLOG_HEALTHCHECK_FAILS => 2 });

$c->start_master;
$c->start_secondary('s1');
ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 15), 'registered';

sub beats_in {
    my ($seconds) = @_;
    my $log = "$c->{nodes}{s1}{prefix}/access.log";
    my $count = sub {
        open my $fh, '<', $log or return 0;
        scalar grep { m{"GET /healthcheck } } <$fh>;
    };
    my $before = $count->();
    sleep $seconds;
    return $count->() - $before;
}

sub workers {
    my $pid = $c->node('master')->{pid};
    return grep { $_ } map { /^\s*(\d+)/ ? $1 : () }
        `ps -o pid= --ppid $pid`;
}

my $n = beats_in(3.1);
ok $n >= 2 && $n <= 4, "one heartbeat a second before ($n in 3.1 s)";

# reload: new workers, old ones exit
my @old = workers();
$c->signal_master_only('HUP');
ok $c->wait_for(sub {
    my %old = map { $_ => 1 } @old;
    my @now = workers();
    @now && !grep { $old{$_} } @now;
}, 15), 'reload: a new generation of workers';

$n = beats_in(3.1);
ok $n >= 2 && $n <= 4, "after the reload: still one a second ($n in 3.1 s)";
is $c->status('s1'), 'HEALTHY', 'the registry survived the reload';

# crash: every worker killed, the master respawns them
kill 'KILL', workers();
ok $c->wait_for(sub { scalar(workers()) == 2 }, 10), 'workers respawned';
$n = beats_in(3.1);
ok $n >= 2 && $n <= 4, "after a crash: heartbeats resume ($n in 3.1 s)";

# and they still detect a stall
$c->signal('s1', 'STOP');
ok $c->wait_for(sub { $c->status('s1') eq 'UNHEALTHY' }, 6),
    'a stalled secondary is still detected';
$c->signal('s1', 'CONT');
ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 6), 'and recovers';

# the workers this test killed are not a crash of the module
$c->{nodes}{master}{killed_workers} = 1;
$c->stop_all;
done_testing;
