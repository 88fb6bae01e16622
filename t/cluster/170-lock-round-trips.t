# The zone's lock per replicated message: one POST /messages?wc=2 on an
# idle link (a batch of one) takes at most 4 round trips of the zone lock
# on the master and at most 2 on the secondary, as counted by
# replog_zone_locks_total.  Heartbeats and the helper's watch are far
# apart, so nothing else takes the lock while a message goes through; the
# lowest of several samples is taken, as worker 0's timer may still look
# at the registry once after a change.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'locks', cluster_size => 2,
                             env => { HEALTHCHECK_DELAY => 3600 });

$c->start_master;
$c->start_secondary('s1', helper => 0);
$c->start_helper('s1', '--watch', '3600');

ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 15),
    's1 registered';
ok $c->wait_open, 'the master is open for writes';

sub locks {
    my ($name) = @_;
    my (undef, undef, undef, $raw) = $c->request($name, 'GET', '/metrics');
    return ($raw // '') =~ /^replog_zone_locks_total\{[^}]*\} (\d+)$/m
           ? $1 : undef;
}

ok defined locks('master'), '/metrics has replog_zone_locks_total';
ok defined locks('s1'), 'on the secondary too';

# the link connected and s1 level before the samples
my ($st) = $c->post('/messages?wc=2', 'warm-up');
is $st, 201, 'a first wc=2 message is answered 201';

my (@master, @secondary, @own_m, @own_s);

for my $k (1 .. 7) {
    sleep 0.3;

    # what reading the counter costs by itself
    my $m0 = locks('master');
    my $m1 = locks('master');
    my $s0 = locks('s1');
    my $s1 = locks('s1');
    push @own_m, $m1 - $m0;
    push @own_s, $s1 - $s0;

    ($st) = $c->post('/messages?wc=2', "sample $k");
    is $st, 201, "sample $k: wc=2 answered 201";

    push @master, locks('master') - $m1;
    push @secondary, locks('s1') - $s1;
}

sub least { my $m = shift; $_ < $m and $m = $_ for @_; $m }

my $own_m = least(@own_m);
my $own_s = least(@own_s);
my $per_m = least(@master) - $own_m;
my $per_s = least(@secondary) - $own_s;

diag "lock round trips per wc=2 message: master $per_m, secondary $per_s "
     . "(samples master @master, secondary @secondary; a /metrics read "
     . "takes $own_m and $own_s)";

cmp_ok $per_m, '<=', 4, 'the master takes the zone lock at most 4 times';
cmp_ok $per_m, '>', 0, 'and at least once (the append)';
cmp_ok $per_s, '<=', 2, 'the secondary at most 2 times';
cmp_ok $per_s, '>', 0, 'and at least once (the apply)';

ok $c->wait_for(sub { $c->acked('s1') == 8 }, 10), 's1 holds every message';

$c->stop_all;
done_testing;
