# A restarted master whose recovery source stalls in the middle: the source
# is given up once the heartbeats find it down, the master never opens
# without the log a down secondary holds, and it recovers from another.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'source', cluster_size => 3,
    env => { HEALTHCHECK_DELAY => 1, REPLOG_HEALTHCHECK_TIMEOUT => '500ms',
             REPLOG_HEALTHCHECK_FAILS => 2 });

$c->start_master;
$c->start_secondary($_) for qw(s1 s2);
ok $c->wait_for(sub {
    $c->status('s1') eq 'HEALTHY' && $c->status('s2') eq 'HEALTHY'
}, 15), 'master + 2 secondaries';
ok $c->wait_open, 'open';

my $bad = 0;
for my $i (1 .. 300) {
    my ($st) = $c->post('/messages?wc=3&timeout=10000', "m$i");
    $bad++ unless defined $st && $st == 201;
}
is $bad, 0, '300 messages on every node';
my $before = $c->stored('master');

$c->stop_helper($_) for qw(s1 s2);
my %h = map { $_ => $c->health($_) } qw(s1 s2);
$c->kill9('master');
$c->start_master;

# s1 registers, then stalls: the master adopts it and its pull hangs
$c->signal('s1', 'STOP');
my $port = $c->port('s1');
my ($st) = $c->request('master', 'POST', '/register',
    qq/{"id":"s1","port":$port,"epoch":"$h{s1}{epoch}","acked_id":$h{s1}{last_id}}/);
is $st, 200, 's1 registered (and stalled)';

ok $c->wait_for(sub { $c->status('s1') eq 'UNHEALTHY' }, 10),
    'the heartbeats find the source down';
ok $c->wait_for(sub { $c->health('master')->{state} eq 'recovering' }, 5),
    'the master gives the source up and waits';
($st) = $c->post('/messages?wc=1', 'too early');
is $st, 503, 'it does not open without the log s1 holds';

$c->start_helper('s2');
ok $c->wait_open(20), 'once s2 registered, the master recovers from it';

my $after = $c->stored('master');
is $after, $before, 'exactly the messages from before the restart';
($st, my $res) = $c->post('/messages?wc=2', 'after');
is $res->{meta}{message_id}, 301, 'the ids go on at 301';

$c->signal('s1', 'CONT');
$c->stop_all;
done_testing;
