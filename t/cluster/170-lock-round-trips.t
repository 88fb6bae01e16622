# The zone's lock per replicated message: one POST /messages?wc=2 on an
# idle link (a batch of one) takes at most 4 round trips of the zone lock
# on the master and at most 2 on the secondary, as counted by
# replog_zone_locks_total.  With the durable log (path=, fsync=always on
# both nodes) the writer adds its own: two per flush (take the entries,
# publish the marks) and, on the master, one to answer what its fsync
# made durable: at most 6 on the master and 3 on the secondary.
# Heartbeats and the helper's watch are far apart, so nothing else takes
# the lock while a message goes through; the lowest of several samples is
# taken, as worker 0's timer may still look at the registry once after a
# change.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

sub least { my $m = shift; $_ < $m and $m = $_ for @_; $m }

sub round_trips {
    my ($label, $max_m, $max_s, %log) = @_;

    my $c = Replog::Cluster->new(name => "locks-$label", cluster_size => 2,
                                 env => { HEALTHCHECK_DELAY => 3600 });

    $c->start_master(%log ? (DATA_DIR => "$c->{dir}/master-data", %log)
                          : ());
    $c->start_secondary('s1', helper => 0,
                        %log ? (DATA_DIR => "$c->{dir}/s1-data", %log) : ());
    $c->start_helper('s1', '--watch', '3600');

    ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 15),
        "$label: s1 registered";
    ok $c->wait_open, "$label: the master is open for writes";

    my $locks = sub {
        my ($name) = @_;
        my (undef, undef, undef, $raw) = $c->request($name, 'GET',
                                                     '/metrics');
        return ($raw // '') =~ /^replog_zone_locks_total\{[^}]*\} (\d+)$/m
               ? $1 : undef;
    };

    ok defined $locks->('master'),
        "$label: /metrics has replog_zone_locks_total";
    ok defined $locks->('s1'), "$label: on the secondary too";

    # the link connected and s1 level before the samples
    my ($st) = $c->post('/messages?wc=2', 'warm-up');
    is $st, 201, "$label: a first wc=2 message is answered 201";

    my (@master, @secondary, @own_m, @own_s);

    for my $k (1 .. 7) {
        sleep 0.3;

        # what reading the counter costs by itself
        my $m0 = $locks->('master');
        my $m1 = $locks->('master');
        my $s0 = $locks->('s1');
        my $s1 = $locks->('s1');
        push @own_m, $m1 - $m0;
        push @own_s, $s1 - $s0;

        ($st) = $c->post('/messages?wc=2', "sample $k");
        is $st, 201, "$label: sample $k: wc=2 answered 201";

        push @master, $locks->('master') - $m1;
        push @secondary, $locks->('s1') - $s1;
    }

    my $per_m = least(@master) - least(@own_m);
    my $per_s = least(@secondary) - least(@own_s);

    diag "$label: lock round trips per wc=2 message: master $per_m, "
         . "secondary $per_s (samples master @master, secondary "
         . "@secondary; a /metrics read takes " . least(@own_m) . " and "
         . least(@own_s) . ")";

    cmp_ok $per_m, '<=', $max_m,
        "$label: the master takes the zone lock at most $max_m times";
    cmp_ok $per_m, '>', 0, "$label: and at least once (the append)";
    cmp_ok $per_s, '<=', $max_s, "$label: the secondary at most $max_s times";
    cmp_ok $per_s, '>', 0, "$label: and at least once (the apply)";

    ok $c->wait_for(sub { $c->acked('s1') == 8 }, 10),
        "$label: s1 holds every message";

    $c->stop_all;
}

round_trips('memory', 4, 2);
round_trips('durable', 6, 3, FSYNC => 'always');

done_testing;
