# Wake-ups across workers: a master with 2 workers and two secondaries
# that answer their batches after a random 1-30 ms, so that batches of the
# two workers overtake each other and an ack read by one worker covers
# clients parked in the other (wc=2: either secondary; wc=3: both, and a
# worker is woken only once both hold its clients' ids).  Those clients are answered through the wake-up
# channel: /metrics counts them as woken by another worker, and the 1 s
# safety-net poll answers none of them in rounds far shorter than it.
# The same after a reload (new workers, new slots) and after a worker was
# killed and respawned.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'wake', cluster_size => 3, workers => 2);

$c->start_master;
$c->start_secondary($_, DELAY => '1ms,30ms') for qw(s1 s2);

ok $c->wait_for(sub {
    $c->status('s1') eq 'HEALTHY' && $c->status('s2') eq 'HEALTHY'
}, 15), 's1 and s2 registered';
ok $c->wait_open, 'the master is open for writes';

# replog_wakeups_total by cause; undef when the series is absent
sub wakeups {
    my (undef, undef, undef, $raw) = $c->request('master', 'GET', '/metrics');
    my %n;
    $n{$1} = $2 while ($raw // '') =~
        /^replog_wakeups_total\{node="[^"]*",by="(\w+)"\} (\d+)$/mg;
    return \%n;
}

my $before = wakeups();
ok defined $before->{$_}, "/metrics has replog_wakeups_total by=\"$_\""
    for qw(ack worker poll);

sub workers {
    my $pid = $c->node('master')->{pid};
    return grep { $_ } map { /^\s*(\d+)/ ? $1 : () }
        `ps -o pid= --ppid $pid`;
}

# rounds of 12 parallel clients, one post each: every round is over in far
# less than the poll's 1 s, and each starts with no parked client
my ($rounds, $clients, $posted) = (10, 12, 0);

sub phase {
    my ($name, $wc) = @_;
    my ($bad, $longest) = (0, 0);
    my $before = wakeups();

    for my $round (1 .. $rounds) {
        my $t0 = time;
        my @pids;

        for my $k (1 .. $clients) {
            my $pid = fork // die;
            if ($pid == 0) {
                my ($st) = $c->post("/messages?wc=$wc",
                                    "$name round $round client $k");
                exit(defined $st && $st == 201 ? 0 : 1);
            }
            push @pids, $pid;
        }

        for (@pids) { waitpid $_, 0; $bad++ if $? }

        my $took = time - $t0;
        $longest = $took if $took > $longest;
    }

    $posted += $rounds * $clients;

    is $bad, 0, "$name: every wc=$wc post was answered 201";
    diag sprintf '%s: longest round %.3f s (the poll runs after 1 s)',
        $name, $longest;

    my $after = wakeups();
    my %d = map { $_ => ($after->{$_} // 0) - ($before->{$_} // 0) }
        qw(ack worker poll);

    diag "$name: answered parked clients: ack $d{ack}, worker $d{worker}, "
         . "poll $d{poll}";

    cmp_ok $d{worker}, '>', 0,
        "$name: clients parked in one worker were woken by the other";
    cmp_ok $d{ack}, '>', 0, "$name: and others by an ack their own worker read";
    is $d{poll}, 0, "$name: the poll answered none of them";
    cmp_ok $d{ack} + $d{worker}, '<=', $rounds * $clients,
        "$name: no client is counted twice";
}

phase('start', 2);
phase('start wc=3', 3);

# a reload: the new workers register under other slots, the old ones leave
my @old = workers();
$c->signal_master_only('HUP');
ok $c->wait_for(sub {
    my %old = map { $_ => 1 } @old;
    my @now = workers();
    @now == 2 && !grep { $old{$_} } @now;
}, 15), 'reload: a new generation of workers';
phase('reload', 3);

# a crashed worker: its respawn takes its slot's entry over
my ($victim) = workers();
kill 'KILL', $victim;
ok $c->wait_for(sub {
    my @now = workers();
    @now == 2 && !grep { $_ == $victim } @now;
}, 10), 'a killed worker is respawned';
phase('respawn', 2);

for my $s (qw(s1 s2)) {
    ok $c->wait_for(sub { $c->acked($s) == $posted }, 10),
        "$s holds every message";
}

# the worker this test killed is not a crash of the module
$c->{nodes}{master}{killed_workers} = 1;

$c->stop_all;
done_testing;
