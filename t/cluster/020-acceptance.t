# The acceptance scenario of the design, run as written, with separate nginx
# processes and the replog-register helper: cluster size 3, M + S1, then S2
# late.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'acceptance', cluster_size => 3);

# the first start of a cluster: nothing to recover.  (A master that starts
# empty cannot tell a first start from a restart; with recovery on it waits
# for N - N/2 = 2 secondaries, see t/cluster/100.)
$c->start_master(REPLOG_RECOVERY => 'off');
$c->start_secondary('s1');
ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 15),
    'S1 registered by its helper';
ok $c->wait_for(sub { $c->health('master')->{state} eq 'open' }, 10),
    'the master is open for writes';

my ($st, $res) = $c->post('/messages?wc=1', 'Msg1');
is $st, 201, 'Msg1 w=1 ok';

($st, $res) = $c->post('/messages?wc=2', 'Msg2');
is $st, 201, 'Msg2 w=2 ok';
is_deeply $res->{meta}{registered_to}, ['master', 's1'],
    'Msg2 is on the master and S1';

# Msg3 w=3 waits: its client runs in a child process
my $out = "$c->{dir}/msg3.out";
my $pid = fork // die;
if ($pid == 0) {
    my ($s, undef, undef, $raw) = $c->post('/messages?wc=3', 'Msg3',
                                           timeout => 60);
    open my $fh, '>', "$out.tmp" or die;
    print $fh ($s // 'none'), "\n", $raw // '';
    close $fh;
    rename "$out.tmp", $out;
    exit 0;
}

ok $c->wait_for(sub { ($c->health('master')->{last_id} // 0) >= 3 }, 10),
    'Msg3 is appended on the master';

my $t0 = time;
($st, $res) = $c->post('/messages?wc=1', 'Msg4');
is $st, 201, 'Msg4 w=1 ok while Msg3 waits';
cmp_ok time - $t0, '<', 1, 'Msg4 answered at once';
is $res->{meta}{message_id}, 4, 'Msg4 has id 4';
ok !-e $out, 'Msg3 is still waiting';

$c->start_secondary('s2');

ok $c->wait_for(sub { -e $out }, 20), "Msg3's client is answered";
waitpid $pid, 0;

my ($status, $body) = split /\n/, do { local (@ARGV, $/) = $out; <> }, 2;
is $status, 201, 'Msg3 answered 201 once S2 holds it';
like $body, qr/"registered_to":\["master","s\d","s\d"\]/,
    'Msg3 registered_to lists all three nodes';

ok $c->wait_for(sub { $c->acked('s2') >= 4 }, 10), 'S2 acked all four';
is_deeply $c->texts('s2'), [qw(Msg1 Msg2 Msg3 Msg4)],
    'S2 shows [Msg1, Msg2, Msg3, Msg4]';
is_deeply $c->texts('s1'), [qw(Msg1 Msg2 Msg3 Msg4)], 'S1 too';

my $m = $c->stored('master');
my $s2 = $c->stored('s2');
is $s2, $m, 'S2 is byte for byte the master';

$c->stop_all;
done_testing;
