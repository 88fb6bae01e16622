# Master restart: the secondaries keep running, the restarted master answers
# 503 "recovering" until N - N/2 secondaries registered (both of 2), then
# recovers the log from the most advanced secondary and continues the ids.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'restart', cluster_size => 3);

$c->start_master;
$c->start_secondary($_) for qw(s1 s2);
ok $c->wait_for(sub {
    $c->status('s1') eq 'HEALTHY' && $c->status('s2') eq 'HEALTHY'
}, 15), 'master + 2 secondaries';
ok $c->wait_open, 'open once both registered';

my $total = 1000;
my @pids;
for my $k (0 .. 3) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $bad = 0;
        for my $i (1 .. $total / 4) {
            my ($st) = $c->post('/messages?wc=majority&timeout=20000',
                                "m" . ($k * $total / 4 + $i));
            $bad++ unless defined $st && $st == 201;
        }
        exit($bad ? 1 : 0);
    }
    push @pids, $pid;
}
my $bad = 0;
for (@pids) { waitpid $_, 0; $bad++ if $? }
is $bad, 0, "$total messages acknowledged with wc=majority";

my $before = $c->stored('master');
my $epoch = $c->health('master')->{epoch};

sub restart_master {
    my ($how, $before_open) = @_;

    # the helpers are paused so that "recovering" can be seen for sure
    $c->stop_helper($_) for qw(s1 s2);
    $how eq 'kill' ? $c->kill9('master') : $c->stop('master');
    $c->start_master;

    my ($st, $res, $h) = $c->post('/messages?wc=1', 'too early');
    is $st, 503, "$how: the restarted master answers 503";
    is $res->{error}, 'recovering', "$how: ... with error \"recovering\"";
    ok $h->{'retry-after'}, "$how: ... and Retry-After";

    $c->start_helper($_) for grep { $c->node($_)->{pid} } qw(s1 s2);
    $before_open->() if $before_open;

    ok $c->wait_for(sub { $c->health('master')->{state} eq 'open' }, 30),
        "$how: the master opens once both secondaries registered";
}

restart_master('kill');

my $after = $c->stored('master');
is $after, $before, 'kill -9: the master shows exactly the same messages';
is $c->health('master')->{epoch}, $epoch, 'the epoch is kept';

my ($st, $res) = $c->post('/messages?wc=3&timeout=20000', 'after restart');
is $st, 201, 'the next append is acknowledged by all three';
is $res->{meta}{message_id}, $total + 1, 'it gets id 1001';
for my $s (qw(s1 s2)) {
    ok $c->wait_for(sub { $c->acked($s) >= $total + 1 }, 20), "$s has 1001";
    my $l = $c->messages($s);
    is $l->[-1]{meta}{message_id}, $total + 1, "$s: the last id is 1001";
    is $l->[-1]{message}, 'after restart', "$s: and it is that message";
}

# one secondary down during the restart: s1 alone is not enough (s2 might
# have held a majority write), s2 back empty is
$c->kill9('s2');
restart_master('kill', sub {
    ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 15),
        's1 registered';
    sleep 1;
    is $c->health('master')->{state}, 'recovering',
        'with s2 down the master does not open with s1 alone';
    $c->start_secondary('s2');
});
my $l = $c->messages('master');
is scalar @$l, $total + 1, 'with s2 back empty the master recovers from s1';
($st, $res) = $c->post('/messages?wc=2&timeout=20000', 'after s2 came back');
is $res->{meta}{message_id}, $total + 2, 'and continues at 1002';

# s2 came back empty and is caught up
ok $c->wait_for(sub { $c->acked('s2') >= $total + 2 }, 30),
    's2 is caught up after its restart';

# a clean stop and start
restart_master('stop');
is scalar @{ $c->messages('master') }, $total + 2,
    'nginx -s stop and start: nothing lost';

# a late secondary whose log diverges: CONFLICT, then --reset rejoins
$c->start_secondary('s3', helper => 0);
my ($rs) = $c->request('s3', 'POST', '/replicate',
    '{"epoch":"00000000deadbeef","entries":[{"message":"diverging","meta":'
    . '{"message_id":1,"registered_at":"2026-01-01T00:00:00.000000Z"}}]}');
is $rs, 200, 's3 holds a log of another epoch';

$c->start_helper('s3');
ok $c->wait_for(sub { $c->status('s3') eq 'CONFLICT' }, 15),
    'the late secondary with a diverging log is CONFLICT';
($st, $res) = $c->post('/messages?wc=1', 'while s3 conflicts');
is_deeply $c->texts('s3'), ['diverging'], 's3 receives nothing, is not wiped';
my $sec = $c->secondaries->{s3};
is $sec->{epoch}, '00000000deadbeef', '/secondaries shows its epoch';
is $sec->{acked_id}, 1, '... and its acked_id';

$c->stop_helper('s3');
system($c->{helper}, '--master', $c->url('master'), '--id', 's3',
       '--port', $c->port('s3'), '--token', $c->{api_key}, '--reset', '-q');
is $? >> 8, 0, 'replog-register --reset';
ok $c->wait_for(sub {
    $c->status('s3') eq 'HEALTHY'
        && $c->acked('s3') == $c->health('master')->{last_id}
}, 30), 's3 rejoined and is level';
my $m = $c->stored('master');
my $s3 = $c->stored('s3');
ok $s3 eq $m, 's3 equals the master byte for byte';

$c->stop_all;
done_testing;
