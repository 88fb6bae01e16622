# A durable master that lost its log recovers from its secondaries and is
# killed -9 while it does: (a) while it waits for registrations (one of
# the two needed registered), (b) in the middle of the pull (its files
# hold the first page).  Its next start must not take what its files hold
# for its log: it discards the unfinished recovery, recovers again and
# opens with the whole log; every message acknowledged before is on every
# node once, in order, with its id, and a new post gets the next id.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(remove_tree);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit);
use Time::HiRes qw(sleep time);
use Replog::Cluster;
use Replog::Test qw(free_port slurp);

my $Top = Replog::Cluster->top;

plan skip_all => 'build/replog-register or build/replog-log is missing'
    unless -x "$Top/build/replog-register" && -x "$Top/build/replog-log";

# the master's fsync= (the secondaries': always), one cluster per policy
my ($c, %data, $mlog, $MFSYNC);
my $PAGE = 100;
my $M = 600;

sub opts {
    return (DATA_DIR => $data{ $_[0] },
            FSYNC => $_[0] eq 'master' ? $MFSYNC : 'always');
}

# the records in the master's files, and what its meta says
sub on_disk {
    my @l = grep { /^\d+\t/ } `$Top/build/replog-log dump $data{master} 2>&1`;
    return scalar @l;
}
sub meta { (`$Top/build/replog-log verify $data{master} 2>&1` =~ /^meta\t(.*)$/m)[0] // '' }

sub log_count {
    my ($re) = @_;
    return 0 unless -f $mlog;
    my @m = slurp($mlog) =~ /$re/g;
    return scalar @m;
}

# A stand-in for a secondary's address: passes everything on to it, but
# asks the pages of a recovery for $PAGE entries and never answers a page
# after the first, so a master pulling through it stays in the middle
sub proxy {
    my ($to) = @_;
    my $ls = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                   LocalPort => 0, ReuseAddr => 1)
        or die "proxy: $!";
    my $port = $ls->sockport;
    my $pid = fork // die;

    if ($pid) {
        close $ls;
        return ($pid, $port);
    }

    # its own group: the test ends it with its connections
    setpgrp(0, 0);
    $SIG{CHLD} = 'IGNORE';

    while (my $cl = $ls->accept) {
        next if fork;
        close $ls;
        my $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                       PeerPort => $to) or _exit(0);
        my $sel = IO::Select->new($cl, $up);
        my $stalled = 0;
        my $deadline = time + 120;

        while (time < $deadline) {
            for my $fh ($sel->can_read(1)) {
                my $buf;
                _exit(0) unless sysread $fh, $buf, 65536;

                if ($fh == $cl) {
                    $stalled = 1 if $buf =~ m{^GET /messages\?since=[1-9]}m;
                    $buf =~ s{^(GET /messages\?since=\d+&limit=)\d+}{$1$PAGE}mg;
                    syswrite $up, $buf unless $stalled;
                } else {
                    syswrite $cl, $buf unless $stalled;
                }
            }
        }

        _exit(0);
    }

    _exit(0);
}

# a helper registering $name at $port (its own, or a stand-in's)
sub register {
    my ($name, $port) = @_;
    my $node = $c->node($name);
    $c->stop_helper($name);
    $node->{helper_pid} = $c->_spawn("$node->{prefix}/register.log",
        $c->{helper}, '--master', $c->url('master'), '--id', $name,
        '--port', $port, '--token', $c->{api_key},
        '--retry-interval', '0.2', '--max-delay', '1', '--watch', '0.3');
}

# nginx -t on the master's directory
sub nginx_t {
    my ($conf) = @_;
    my $p = $c->node('master')->{prefix};
    local $ENV{LD_PRELOAD} = $ENV{TEST_NGINX_LD_PRELOAD}
        if $ENV{TEST_NGINX_LD_PRELOAD};
    my $out = `$c->{nginx} -p $p -c $conf -e $p/t.log -t 2>&1`;
    return ($? >> 8, $out);
}

for my $mf (qw(always off)) {
    # a plain assignment: the named subs see this variable, not an alias
    $MFSYNC = $mf;
    $c = Replog::Cluster->new(name => "durable-recovery-kill9-$MFSYNC",
                              cluster_size => 3);
    %data = map { ($_ => "$c->{dir}/$_-data") } qw(master s1 s2);
    $mlog = "$c->{dir}/master/error.log";

    $c->start_master(opts('master'), REPLOG_RECOVERY => 'off');
    $c->start_secondary($_, opts($_), helper => 0) for qw(s1 s2);
    register($_, $c->port($_)) for qw(s1 s2);
    ok $c->wait_for(sub {
        $c->status('s1') eq 'HEALTHY' && $c->status('s2') eq 'HEALTHY'
    }, 15), "master (fsync=$MFSYNC) + 2 secondaries (fsync=always), all with path=";

    my (%acked, $bad);
    for my $i (1 .. $M) {
        my $wc = $i % 2 ? 'majority' : '3';
        my ($st, $res) = $c->post("/messages?wc=$wc&timeout=10000", "m$i");
        if (defined $st && $st == 201) {
            $acked{ $res->{meta}{message_id} } = "m$i";
        } else {
            $bad++;
        }
    }
    ok !$bad && keys %acked == $M, "$M messages acknowledged with wc=majority "
        . "and wc=3";
    ok $c->wait_for(sub { $c->acked('s1') == $M && $c->acked('s2') == $M }, 30),
        "... both secondaries hold $M";

    # the master loses its log
    $c->kill9('master');
    remove_tree($data{master});

    # (a) killed while it waits: s2 does not register
    $c->stop_helper('s2');
    $c->start_master(opts('master'), REPLOG_RECOVERY => 'on');
    register('s1', $c->port('s1'));
    ok $c->wait_for(sub {
        log_count(qr/recovering: 1 of 2 secondaries needed registered, waiting/)
    }, 15), '(a) restarted empty with recovery on: s1 registered, it waits';
    is $c->health('master')->{state}, 'recovering', '... recovering';

    # a reload that resizes the zone and changes fsync= rewrites meta: still
    # no epoch
    $c->_add_node('master', 'master', FSYNC => '100ms',
                  REPLOG_ZONE_SIZE => '32m');
    $c->_render($c->node('master'));
    $c->signal_master_only('HUP');
    ok $c->wait_for(sub {
        log_count(qr/fsync= changed by the reload from $MFSYNC to 100ms/)
    }, 15), '... reloaded with a resized zone and fsync=100ms';
    is $c->health('master')->{state}, 'recovering', '... still recovering';
    $c->kill9('master');
    $c->_add_node('master', 'master', REPLOG_ZONE_SIZE => '64m');
    like meta(), qr/^epoch none/, '... killed -9: its meta names no epoch';

    # (b) killed in the middle of the pull: both register through stand-ins
    my %proxy;
    for my $name (qw(s1 s2)) {
        my ($pid, $port) = proxy($c->port($name));
        $proxy{$name} = $pid;
        register($name, $port);
    }
    my $warned = log_count(qr/unfinished recovery/);
    $c->start_master(opts('master'), REPLOG_RECOVERY => 'on');
    ok $c->wait_for(sub { on_disk() >= $PAGE }, 30),
        "(b) restarted: it pulls, the first page of $PAGE is in its files";
    sleep 0.3;
    my $held = on_disk();
    my $st = $c->health('master')->{state};
    ok $st ne 'open' && $held < $M, "... and it is still pulling ($st, $held of "
        . "$M messages in its files)";
    $c->kill9('master');
    like meta(), qr/^epoch none/, '... killed -9: its meta names no epoch';
    is log_count(qr/\[warn\].*unfinished recovery/) - $warned, 0,
        '... that start had nothing to discard';

    # nginx -t only reads; with recovery off the master does not start
    my $mconf = $c->node('master')->{prefix} . '/nginx.conf';
    my ($rc, $out) = nginx_t($mconf);
    ok $rc == 0 && $out =~ /\[warn\].*unfinished recovery: the next start discards its $held messages and recovers again/,
        "nginx -t: the next start discards the $held messages";
    is on_disk(), $held, '... and its files are as they were';
    (my $off = slurp($mconf)) =~ s/replog_recovery on;/replog_recovery off;/
        or die 'no replog_recovery on in the config';
    open my $fh, '>', "$mconf.off" or die $!;
    print $fh $off;
    close $fh;
    ($rc, $out) = nginx_t("$mconf.off");
    ok $rc != 0 && $out =~ /\[emerg\].*"\Q$data{master}\E" is an unfinished recovery \($held messages pulled, "meta" names no epoch\): turn replog_recovery on/,
        'with replog_recovery off it does not start, and says what to do';
    is on_disk(), $held, '... its files as they were';

    for my $name (qw(s1 s2)) {
        $c->stop_helper($name);
        kill 'KILL', -$proxy{$name};
        waitpid $proxy{$name}, 0;
    }

    # everything up: the whole log recovered again
    $c->start_master(opts('master'), REPLOG_RECOVERY => 'on');
    register($_, $c->port($_)) for qw(s1 s2);
    ok $c->wait_open(60), 'restarted with both secondaries: it opens';
    like slurp($mlog), qr/\[warn\].*"\Q$data{master}\E" is an unfinished recovery .*its $held messages are discarded, it recovers again/,
        "... after it discarded the $held messages of the unfinished recovery, "
        . 'at warn';
    my $h = $c->health('master');
    is $h->{last_id}, $M, "... with the whole log: last id $M";

    for my $node (qw(master s1 s2)) {
        my $list = $c->messages($node);
        my (%seen, $dups, $order, $wrong);
        my $prev = 0;
        for my $m (@$list) {
            my $id = $m->{meta}{message_id};
            $dups++ if $seen{ $m->{message} }++;
            $order++ unless $id == $prev + 1;
            $prev = $id;
            $wrong++ unless ($acked{$id} // '') eq $m->{message};
        }
        my %at = map { ($_->{meta}{message_id} => 1) } @$list;
        my $missing = grep { !$at{$_} } keys %acked;
        ok !$dups && !$order && !$missing && !$wrong && @$list == $M,
            "$node: the $M acknowledged messages, once each, in order, with "
            . 'their ids';
    }
    # compared whole, without a diff of 600 messages
    ok $c->stored('s1') eq $c->stored('master'), 's1 is the same log as the master';
    ok $c->stored('s2') eq $c->stored('master'), 's2 is the same log as the master';

    my $res;
    ($st, $res) = $c->post('/messages?wc=3&timeout=20000', 'after');
    is $st, 201, 'a new post with wc=3: 201';
    is $res->{meta}{message_id}, $M + 1, '... with the next id, ' . ($M + 1);
    ok $c->wait_for(sub { meta() =~ /^epoch [0-9a-f]{16}/ }, 10),
        '... and the master\'s meta names its epoch';

    # its files are its log now: a restart opens from them at once
    $c->stop_helper($_) for qw(s1 s2);
    $c->kill9('master');
    $c->start_master(opts('master'), REPLOG_RECOVERY => 'on');
    is $c->health('master')->{state}, 'open',
        'killed -9 once open: it opens from its files at once';
    is $c->health('master')->{last_id}, $M + 1, '... with all ' . ($M + 1);

    $c->stop_all;
}

done_testing;
