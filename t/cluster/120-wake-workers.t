# Wake-ups across workers: a master with 2 workers and one secondary that
# answers its batches after a random 1-30 ms, so that batches of the two
# workers overtake each other and an ack read by one worker covers clients
# parked in the other.  Those clients are answered through the wake-up
# channel: /metrics counts them as woken by another worker, and the 1 s
# safety-net poll answers none of them in rounds far shorter than it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'wake', cluster_size => 2, workers => 2);

$c->start_master;
$c->start_secondary('s1', DELAY => '1ms,30ms');

ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 15),
    's1 registered';
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

# rounds of 12 parallel clients, one wc=2 post each: every round is over
# in far less than the poll's 1 s, and each starts with no parked client
my ($rounds, $clients, $bad, $longest) = (10, 12, 0, 0);

for my $round (1 .. $rounds) {
    my $t0 = time;
    my @pids;

    for my $k (1 .. $clients) {
        my $pid = fork // die;
        if ($pid == 0) {
            my ($st) = $c->post('/messages?wc=2', "round $round client $k");
            exit(defined $st && $st == 201 ? 0 : 1);
        }
        push @pids, $pid;
    }

    for (@pids) { waitpid $_, 0; $bad++ if $? }

    my $took = time - $t0;
    $longest = $took if $took > $longest;
}

is $bad, 0, 'every wc=2 post was answered 201';
diag sprintf 'longest round %.3f s (the poll runs after 1 s)', $longest;

my $after = wakeups();
my %d = map { $_ => ($after->{$_} // 0) - ($before->{$_} // 0) }
    qw(ack worker poll);

diag "answered parked clients: ack $d{ack}, worker $d{worker}, poll $d{poll}";

cmp_ok $d{worker}, '>', 0,
    'clients parked in one worker were woken by the other';
cmp_ok $d{ack}, '>', 0, 'and others by an ack their own worker read';
is $d{poll}, 0, 'the poll answered none of them';
cmp_ok $d{ack} + $d{worker}, '<=', $rounds * $clients,
    'no client is counted twice';

is $c->acked('s1'), $rounds * $clients, 's1 holds every message';

$c->stop_all;
done_testing;
