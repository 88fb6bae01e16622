#!/usr/bin/env perl
# What the durable log's writer costs, measured so that a shared, noisy
# machine matters less than in bench/run.sh's throughput: a master (2
# workers) and 2 secondaries (1 worker each) on loopback take
# POST /messages?wc=W from bench/client.c (64 connections, closed loop) for
# a few seconds, in memory and with path= and each fsync= given; for every
# case the script reports the rate (noisy) and, per message, the CPU time
# of all three nodes (every process and thread, from /proc), the zone lock
# round trips on the master and on a secondary (replog_zone_locks_total),
# messages per fsync and per write (flush), and what answered the parked
# clients.  Several
# modules are measured in turn, round after round, so that a before/after
# pair runs back to back:
#
#   bench/writer-cost.pl [-d SECS] [-w WC] [-r ROUNDS] [-f off,always]
#                        NAME=MODULE.so ...
#
# Run from the top of the tree after `make module helper` and building
# build/bench-client (bench/run.sh does).  Ports are free ones, as in the
# tests; the nodes live under t/servroot-cluster/writer-cost-*.
use strict;
use warnings;
use lib 't/lib';
use Getopt::Long;
use File::Spec;
use Test::More;
use Replog::Cluster;

my ($secs, $wc, $rounds, $fsyncs) = (5, 2, 1, 'off,always');
GetOptions('d=f' => \$secs, 'w=i' => \$wc, 'r=i' => \$rounds,
           'f=s' => \$fsyncs) or die "bad options\n";
# modules by absolute path: the nodes run from their own directories
my @mods = map { my ($n, $m) = split /=/, $_, 2;
                 [$n, defined $m ? File::Spec->rel2abs($m) : undef] } @ARGV;
die "usage: $0 [-d S] [-w WC] [-r N] [-f LIST] NAME=MODULE.so ...\n"
    unless @mods && !grep { !defined $_->[1] || !-f $_->[1] } @mods;

my $top = Replog::Cluster->top;
my $client = "$top/build/bench-client";
die "$client is missing (bench/run.sh builds it)\n" unless -x $client;

my $tick = `getconf CLK_TCK` + 0 || 100;

# CPU seconds of a node: every process in its nginx's process group,
# every thread of each (the thread pool's writers included)
sub cpu {
    my ($pgid, $threads) = @_;
    my $t = 0;
    for my $stat (glob '/proc/[0-9]*/task/[0-9]*/stat') {
        my ($pid, $tid) = $stat =~ m{/proc/(\d+)/task/(\d+)/};
        # $threads: the pool's threads only (not a process's main thread)
        next if $threads && $pid == $tid;
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        $line =~ s/^.*\) //;
        my @f = split ' ', $line;
        # fields after the name: state ppid pgrp ... utime(12) stime(13)
        next unless $f[2] == $pgid;
        $t += $f[11] + $f[12];
    }
    return $t / $tick;
}

sub metric {
    my ($c, $name, $re) = @_;
    my (undef, undef, undef, $raw) = $c->request($name, 'GET', '/metrics');
    my %m;
    for (split /\n/, $raw // '') {
        next unless /^(replog_\w+)\{([^}]*)\} (\d+)$/;
        my ($k, $labels, $v) = ($1, $2, $3);
        $k .= ":$1" if $labels =~ /by="(\w+)"/;
        $m{$k} = $v;
    }
    return \%m;
}

sub run_case {
    my ($mname, $module, $fsync) = @_;

    local $ENV{TEST_NGINX_LOAD_MODULES} = $module;
    my $label = $fsync // 'memory';
    my $c = Replog::Cluster->new(name => "writer-cost-$label",
                                 cluster_size => 3, api_key => '',
                                 env => { HEALTHCHECK_DELAY => 1,
                                          REPLOG_ZONE_SIZE => '512m' });
    my %l = (master => [], s1 => [], s2 => []);
    for my $n (qw(master s1 s2)) {
        push @{ $l{$n} }, DATA_DIR => "$c->{dir}/$n-data", FSYNC => $fsync
            if defined $fsync;
    }

    $c->start_master(@{ $l{master} }, REPLOG_RECOVERY => 'off');
    $c->start_secondary($_, REPLOG_WORKERS => 1, @{ $l{$_} })
        for qw(s1 s2);
    $c->wait_for(sub { $c->status('s1') eq 'HEALTHY'
                       && $c->status('s2') eq 'HEALTHY' }, 20)
        or die "the secondaries did not register\n";
    $c->wait_open or die "the master did not open\n";

    my @nodes = qw(master s1 s2);
    my %m0 = map { $_ => metric($c, $_) } @nodes;
    my $cpu0 = 0;
    $cpu0 += cpu($c->node($_)->{pid}) for @nodes;
    my %n0 = map { $_ => cpu($c->node($_)->{pid}) } @nodes;
    my $th0 = 0;
    $th0 += cpu($c->node($_)->{pid}, 1) for @nodes;

    my $port = $c->port('master');
    my $out = `$client -c 64 -d $secs -w 1 -m http -p $port -u '/messages?wc=$wc'`;
    my ($rate) = $out =~ /rate=([\d.]+)/;
    my ($errors) = $out =~ /errors=(\d+)/;

    my $cpu1 = 0;
    $cpu1 += cpu($c->node($_)->{pid}) for @nodes;
    my %n1 = map { $_ => cpu($c->node($_)->{pid}) } @nodes;
    my $th1 = 0;
    $th1 += cpu($c->node($_)->{pid}, 1) for @nodes;
    my %m1 = map { $_ => metric($c, $_) } @nodes;

    my $d = sub { my ($n, $k) = @_; ($m1{$n}{$k} // 0) - ($m0{$n}{$k} // 0) };
    my $n = $d->('master', 'replog_messages_appended_total') || 1;

    my %r = (
        rate    => $rate // 0,
        errors  => $errors // -1,
        msgs    => $n,
        cpu_us  => ($cpu1 - $cpu0) * 1e6 / $n,
        nodes_us => join('/', map { sprintf '%.1f',
                                    ($n1{$_} - $n0{$_}) * 1e6 / $n } @nodes),
        threads_us => ($th1 - $th0) * 1e6 / $n,
        locks_m => $d->('master', 'replog_zone_locks_total') / $n,
        locks_s => $d->('s1', 'replog_zone_locks_total') / $n,
        per_fsync_m => $d->('master', 'replog_log_fsyncs_total')
                       ? $n / $d->('master', 'replog_log_fsyncs_total') : 0,
        per_fsync_s => $d->('s1', 'replog_log_fsyncs_total')
                       ? $d->('s1', 'replog_last_id')
                         / $d->('s1', 'replog_log_fsyncs_total') : 0,
        per_flush_m => $d->('master', 'replog_log_flushes_total')
                       ? $n / $d->('master', 'replog_log_flushes_total') : 0,
        woken => join(' ', map {
                     my $node = $_;
                     "$node:" . join('/', map {
                         $d->($node, "replog_wakeups_total:$_")
                     } qw(ack worker poll fsync))
                 } @nodes),
    );

    $c->stop_all;

    printf "%-8s %-7s %9.0f/s %7.1f us/msg (m/s1/s2 %s, pool threads %.2f)"
           . "  locks/msg m %.2f s1 %.2f  "
           . "msgs/fsync m %.1f s1 %.1f  msgs/flush m %.1f  "
           . "woken ack/worker/poll/fsync %s"
           . "  (%d msgs, %d errors)\n",
           $mname, $label, @r{qw(rate cpu_us nodes_us threads_us locks_m locks_s per_fsync_m
                                 per_fsync_s per_flush_m woken msgs
                                 errors)};
}

printf "# load at start: %s", `cat /proc/loadavg`;

for my $round (1 .. $rounds) {
    for my $f (undef, split /,/, $fsyncs) {
        run_case(@$_, $f) for @mods;
    }
}

printf "# load at end: %s", `cat /proc/loadavg`;

done_testing;
