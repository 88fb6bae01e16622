# The durable log under kill -9 of every nginx process of the cluster: a
# master and two secondaries with fsync=always, parallel wc=1 and
# wc=majority writes, everything killed at once, everything restarted.
# Every message answered 201 is on every node exactly once, in order, with
# the id it was answered with.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'durable-kill9', cluster_size => 3);
my %data = map { ($_ => "$c->{dir}/$_-data") } qw(master s1 s2);

# an empty directory: nothing to recover the first time
$c->start_master(DATA_DIR => $data{master}, FSYNC => 'always',
                 REPLOG_RECOVERY => 'off');
$c->start_secondary($_, DATA_DIR => $data{$_}, FSYNC => 'always')
    for qw(s1 s2);
ok $c->wait_for(sub {
    $c->status('s1') eq 'HEALTHY' && $c->status('s2') eq 'HEALTHY'
}, 15), 'master + 2 secondaries, all with path= fsync=always';

# four writers, two with wc=1 and two with wc=majority, until killed
my $stop = "$c->{dir}/stop";
my @pids;
for my $k (0 .. 3) {
    my $wc = $k % 2 ? 'majority' : '1';
    my $pid = fork // die;
    if ($pid == 0) {
        open my $out, '>', "$c->{dir}/acked-$k" or die;
        $out->autoflush(1);
        for (my $i = 1; !-e $stop; $i++) {
            my ($st, $res) = eval {
                $c->post("/messages?wc=$wc&timeout=10000", "w$k-$i",
                         timeout => 5)
            };
            next unless defined $st;
            print $out "$res->{meta}{message_id}\tw$k-$i\n" if $st == 201;
        }
        exit 0;
    }
    push @pids, $pid;
}

sleep 3;

# every nginx process of every node at once, the writers still writing
$c->stop_helper($_) for qw(s1 s2);
$c->kill9($_) for qw(master s1 s2);
open my $fh, '>', $stop or die;
close $fh;
waitpid $_, 0 for @pids;

my %acked;
for my $k (0 .. 3) {
    open my $in, '<', "$c->{dir}/acked-$k" or die;
    while (<$in>) {
        chomp;
        my ($id, $msg) = split /\t/;
        $acked{$id} = $msg;
    }
}
my $max = (sort { $b <=> $a } keys %acked)[0] // 0;
cmp_ok scalar(keys %acked), '>', 50, scalar(keys %acked)
    . " messages answered 201 before the kill (up to id $max)";

# a cold start of the whole cluster
$c->start_master(REPLOG_RECOVERY => 'on');
is $c->health('master')->{state}, 'open',
    'the restarted master opens at once from its own log';
my $last = $c->health('master')->{last_id};
cmp_ok $last, '>=', $max, "the master holds every id answered ($last)";
$c->start_secondary($_) for qw(s1 s2);
ok $c->wait_for(sub {
    $c->health('s1')->{last_id} == $last
    && $c->health('s2')->{last_id} == $last
}, 30), 'both secondaries hold the whole log again';

for my $node (qw(master s1 s2)) {
    my $list = $c->messages($node);
    my (%seen, $dups, $order, $missing, $wrong);
    my $prev = 0;
    for my $m (@$list) {
        my $id = $m->{meta}{message_id};
        $dups++ if $seen{$m->{message}}++;
        $order++ unless $id == $prev + 1;
        $prev = $id;
        $wrong++ if exists $acked{$id} && $acked{$id} ne $m->{message};
    }
    my %at = map { ($_->{meta}{message_id} => 1) } @$list;
    $missing = grep { !$at{$_} } keys %acked;
    ok !$dups, "$node: every message once";
    ok !$order, "$node: ids 1.. in order, no gap";
    ok !$missing, "$node: every message answered 201 is there";
    ok !$wrong, "$node: each with the id it was answered with";
}
is $c->stored('s1'), $c->stored('master'), 's1 is the same log as the master';
is $c->stored('s2'), $c->stored('master'), 's2 is the same log as the master';

my ($st, $res) = $c->post('/messages?wc=3&timeout=20000', 'after');
is $st, 201, 'the cluster takes wc=3 writes after the cold start';
is $res->{meta}{message_id}, $last + 1, '... with the next id';

$c->stop_all;

done_testing;
