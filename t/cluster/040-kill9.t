# kill -9 a secondary under load, start it again (empty): it is caught up
# from its acked_id 0 without re-registering, no duplicates, no gaps.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'kill9', cluster_size => 3);

$c->start_master;
$c->start_secondary('s1');
$c->start_secondary('s2');

ok $c->wait_for(sub {
    $c->status('s1') eq 'HEALTHY' && $c->status('s2') eq 'HEALTHY'
}, 15), 'both secondaries registered';
ok $c->wait_open, 'the master is open for writes';

my $total = 1500;
my $pid = fork // die;
if ($pid == 0) {
    my $bad = 0;
    for my $i (1 .. $total) {
        my ($st) = $c->post('/messages?wc=1', "message $i");
        $bad++ unless defined $st && $st == 201;
    }
    exit($bad ? 1 : 0);
}

ok $c->wait_for(sub { ($c->health('master')->{last_id} // 0) >= 300 }, 30),
    'load is running';

$c->kill9('s1');
ok $c->wait_for(sub { $c->status('s1') ne 'HEALTHY' }, 15),
    's1 is no longer HEALTHY after kill -9';

ok $c->wait_for(sub { ($c->health('master')->{last_id} // 0) >= 800 }, 30),
    'the master keeps accepting';

$c->start_secondary('s1');    # same port, empty log, helper still watching

waitpid $pid, 0;
is $?, 0, 'every post answered 201 while s1 was down';

ok $c->wait_for(sub { $c->acked('s1') >= $total }, 60),
    's1 caught up after its restart';
ok $c->wait_for(sub { $c->acked('s2') >= $total }, 30), 's2 level too';

for my $s (qw(s1 s2)) {
    my $list = $c->messages($s);
    is_deeply [ map { $_->{meta}{message_id} } @$list ], [ 1 .. $total ],
        "$s: ids 1..$total, no duplicates, no gaps";
    my $raw_m = $c->stored('master');
    my $raw_s = $c->stored($s);
    ok $raw_s eq $raw_m, "$s equals the master byte for byte";
}

$c->stop_all;
done_testing;
