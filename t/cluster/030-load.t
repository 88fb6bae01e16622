# 2,000 messages from parallel clients into a master with 2 workers, while
# one secondary fails 30% of its answers (after storing) and another delays
# every batch: afterwards each secondary equals the master byte for byte.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'load', cluster_size => 3, workers => 2);

$c->start_master;
$c->start_secondary('flaky', FAIL_RATE => '0.3');
$c->start_secondary('slow', DELAY => '10ms,60ms');

ok $c->wait_for(sub {
    $c->status('flaky') eq 'HEALTHY' && $c->status('slow') eq 'HEALTHY'
}, 15), 'both secondaries registered';
ok $c->wait_open, 'the master is open for writes';

my $clients = 8;
my $each = 250;
my @pids;

for my $k (1 .. $clients) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $bad = 0;
        for my $i (1 .. $each) {
            my $wc = $i % 2 ? 1 : 2;
            my ($st) = $c->post("/messages?wc=$wc&timeout=30000",
                                "client $k message $i");
            $bad++ unless defined $st && $st == 201;
        }
        exit($bad ? 1 : 0);
    }
    push @pids, $pid;
}

my $failed = 0;
for (@pids) { waitpid $_, 0; $failed++ if $? }
is $failed, 0, 'every post was answered 201';

my $total = $clients * $each;
my $m = $c->messages('master');
is scalar @$m, $total, "the master holds $total messages";
is_deeply [ map { $_->{meta}{message_id} } @$m ], [ 1 .. $total ], 'ids 1..N, dense';

my %seen;
$seen{ $_->{message} }++ for @$m;
is scalar(grep { $_ != 1 } values %seen), 0, 'each message exactly once';

for my $s (qw(flaky slow)) {
    ok $c->wait_for(sub { $c->acked($s) >= $total }, 60),
        "$s caught up to $total";
    my $raw_m = $c->stored('master');
    my $raw_s = $c->stored($s);
    ok $raw_s eq $raw_m, "$s GET /messages equals the master's, byte for byte";
}

my $sec = $c->secondaries;
cmp_ok $sec->{flaky}{fails} + 0, '>=', 0, 'flaky is listed';

$c->stop_all;
done_testing;
