# A wc=majority write survives a master restart even when the secondary
# that holds it comes back last: N=3 (master, A, B); A partitioned, m2
# acknowledged by the master and B; the master dies; A heals, B stalls; the
# restarted master must not open with A alone, and opens once B registered,
# with m2 on every node.  No id ever holds two different messages, and a
# late node of the same epoch holding more than the master is CONFLICT.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'majority', cluster_size => 3,
    env => { HEALTHCHECK_DELAY => '0.3', REPLOG_HEALTHCHECK_TIMEOUT => '300ms',
             REPLOG_HEALTHCHECK_FAILS => 2 });

$c->start_master;
$c->start_secondary($_) for qw(A B);
ok $c->wait_for(sub {
    $c->status('A') eq 'HEALTHY' && $c->status('B') eq 'HEALTHY'
}, 15), 'master + A + B';
ok $c->wait_open, 'open';

my ($st, $res) = $c->post('/messages?wc=3&timeout=10000', 'm1');
is $st, 201, 'm1 on every node';

# partition A: the master marks it down
$c->signal('A', 'STOP');
ok $c->wait_for(sub { $c->status('A') eq 'UNHEALTHY' }, 10),
    'A is partitioned and marked down';

($st, $res) = $c->post('/messages?wc=majority&timeout=10000', 'm2');
is $st, 201, 'm2 acknowledged with wc=majority';
is $res->{meta}{message_id}, 2, 'm2 is id 2';
is_deeply [ sort @{ $res->{meta}{registered_to} // [] } ], [qw(B master)],
    'm2 is held by the master and B only';

$c->kill9('master');
$c->signal('A', 'CONT');
$c->signal('B', 'STOP');
$c->start_master;

ok $c->wait_for(sub {
    grep { $_ eq 'A' } @{ $c->health('master')->{recovery}{registered} // [] }
}, 15), 'the restarted master sees A registered';

# A alone holds m1 only: opening now would give id 2 to another message
my $deadline = time + 3;
my ($opened, $early) = (0, 0);
while (time < $deadline) {
    $opened++ if ($c->health('master')->{state} // '') eq 'open';
    sleep 0.1;
}
is $opened, 0, 'it does not open with A alone (3 s)';
($st, $res) = $c->post('/messages?wc=1', 'too early');
is $st, 503, 'a write meanwhile gets 503';
is $res->{error}, 'recovering', '... "recovering"';
is_deeply $c->health('master')->{recovery},
    { needed => 2, awaited => 1, registered => ['A'] },
    '/health: 2 registrations needed, A registered, 1 awaited';

$c->signal('B', 'CONT');
ok $c->wait_open(30), 'once B registered, the master opens';

is_deeply $c->texts('master'), [qw(m1 m2)], 'the master holds m1 and m2';
ok $c->wait_for(sub { $c->acked('A') >= 2 }, 15), 'A is caught up';

($st, $res) = $c->post('/messages?wc=3&timeout=10000', 'm3');
is $st, 201, 'the next write reaches all three';
is $res->{meta}{message_id}, 3, '... as id 3';

for my $n (qw(master A B)) {
    is_deeply $c->texts($n), [qw(m1 m2 m3)], "$n holds m1 m2 m3";
}

# a late node of the same epoch with more than the master: it may hold what
# the master never recovered, and its id 4 is not the master's
my $epoch = $c->health('master')->{epoch};
my $log = $c->messages('master');
$c->start_secondary('C', helper => 0);
my $batch = join ',', map {
    sprintf '{"message":"%s","meta":{"message_id":%d,"registered_at":"%s"}}',
        $_->{message}, $_->{meta}{message_id}, $_->{meta}{registered_at}
} @$log, { message => 'only on C',
           meta => { message_id => 4,
                     registered_at => $log->[-1]{meta}{registered_at} } };
($st) = $c->request('C', 'POST', '/replicate',
                    qq/{"epoch":"$epoch","entries":[$batch]}/);
is $st, 200, 'C holds 4 messages of the master\'s epoch';
$c->start_helper('C');
ok $c->wait_for(sub { $c->status('C') eq 'CONFLICT' }, 15),
    'C, ahead of the master in its epoch, is CONFLICT';

($st, $res) = $c->post('/messages?wc=3&timeout=10000', 'm4');
is $st, 201, 'm4 reaches the master, A and B';
is $res->{meta}{message_id}, 4, '... as id 4';
ok !(grep { $_ eq 'C' } @{ $res->{meta}{registered_to} }), 'C does not count';
is_deeply $c->texts('C'), ['m1', 'm2', 'm3', 'only on C'],
    'C receives nothing and is not wiped';

# no id holds two different messages on nodes that are not CONFLICT, and
# every node whose log differs from the master's is CONFLICT
my %held;
my $sec = $c->secondaries;
for my $n (qw(master A B C)) {
    my $diverges = 0;
    for my $e (@{ $c->messages($n) }) {
        $held{$e->{meta}{message_id}} //= $e->{message};
        $diverges++ if $held{$e->{meta}{message_id}} ne $e->{message};
    }
    if ($n eq 'master') {
        next;
    }
    if ($diverges) {
        is $sec->{$n}{status}, 'CONFLICT', "$n diverges and is CONFLICT";
    } else {
        isnt $sec->{$n}{status}, 'CONFLICT', "$n agrees with the master";
    }
}

$c->stop_all;
done_testing;
