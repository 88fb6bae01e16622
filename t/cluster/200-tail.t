# Tailing across workers and nodes: a master and a secondary with 2
# workers each, many GET /messages?since=N&wait=TIME parked on both
# workers of both nodes.  A POST answers every tailer with the new entry
# (the master's at once, the secondary's once the batch is applied); the
# counters show tailers woken by the other worker's wake-up.  A client
# that goes away while parked is forgotten without an error, the worker
# lives on; a reload answers the old workers' tailers with the empty list.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use JSON::PP;
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'tail', cluster_size => 2, workers => 2);

$c->start_master;
$c->start_secondary('s1');

ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 15),
    's1 registered';
ok $c->wait_open, 'the master is open for writes';

# /metrics of a node: the tailers gauge and tail_wakeups_total by cause
sub tails {
    my ($name) = @_;
    my (undef, undef, undef, $raw) = $c->request($name, 'GET', '/metrics');
    my %n;
    $n{tailers} = $1
        if ($raw // '') =~ /^replog_tailers\{node="[^"]*"\} (\d+)$/m;
    $n{$1} = $2 while ($raw // '') =~
        /^replog_tail_wakeups_total\{node="[^"]*",by="(\w+)"\} (\d+)$/mg;
    return \%n;
}

# a tailer: a connection with its GET sent, answered later
sub tail_open {
    my ($name, $since, $wait) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $c->port($name),
                                  Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    print $s "GET /messages?since=$since&wait=$wait HTTP/1.1\r\n"
             . "Host: localhost\r\nx-token: $c->{api_key}\r\n"
             . "Connection: close\r\n\r\n";
    return $s;
}

# its answer: (status, body, Content-Length), undef after the timeout
sub tail_read {
    my ($s, $timeout) = @_;
    my ($buf, $deadline) = ('', time + $timeout);
    my $sel = IO::Select->new($s);

    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }

    close $s;
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    return unless defined $body;
    my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
    my ($len) = $head =~ /^Content-Length: (\d+)/mi;
    return ($status, $body, $len);
}

sub node_workers {
    my $pid = $c->node($_[0])->{pid};
    return grep { $_ } map { /^\s*(\d+)/ ? $1 : () }
        `ps -o pid= --ppid $pid`;
}

# which worker of node $name holds each of the connections @$socks:
# worker pid => count (/proc/net/tcp's inode of the accepted socket, found
# among the worker's descriptors)
sub holders {
    my ($name, $socks) = @_;
    my %client = map { $_->sockport => 1 } @$socks;
    my $port = $c->port($name);
    my (%inode, %per);

    open my $fh, '<', '/proc/net/tcp' or return;
    while (<$fh>) {
        my @f = split;
        next unless @f > 9 && $f[1] =~ /:([0-9A-F]{4})$/;
        my $lport = hex $1;
        my ($rport) = $f[2] =~ /:([0-9A-F]{4})$/;
        $inode{$f[9]} = 1
            if $lport == $port && $client{ hex $rport } && $f[3] eq '01';
    }
    close $fh;

    for my $w (node_workers($name)) {
        opendir my $d, "/proc/$w/fd" or next;
        for (readdir $d) {
            my $l = readlink "/proc/$w/fd/$_" // '';
            $per{$w}++ if $l =~ /^socket:\[(\d+)\]$/ && $inode{$1};
        }
        closedir $d;
    }

    return %per;
}

# tailers parked on node $name until both its workers hold some: with
# EPOLLEXCLUSIVE an idle worker may take every connection, so they come in
# rounds, opened as fast as possible, bounded
sub spread {
    my ($name, $since, $n) = @_;
    my (@socks, %per);

    for my $round (1 .. 10) {
        push @socks, map { tail_open($name, $since, '30s') } 1 .. $n;
        parked($name, scalar @socks) or last;
        %per = holders($name, \@socks);
        last if (grep { $_ > 0 } values %per) >= 2;
    }

    diag "$name: tailers per worker: "
         . join(', ', map { "$_ $per{$_}" } sort keys %per);
    ok +(grep { $_ > 0 } values %per) >= 2,
        "$name: both workers hold some of the " . @socks . " tailers";
    return @socks;
}

sub last_id { my (undef, $h) = $c->request($_[0], 'GET', '/health');
              ref $h ? $h->{last_id} : undef }

sub parked {
    my ($name, $n) = @_;
    return $c->wait_for(sub { (tails($name)->{tailers} // -1) == $n }, 10);
}

# the answers of the tailers @$socks: each the one entry past $since
sub answered_with {
    my ($what, $socks, $id, $text) = @_;
    my $bad = 0;

    for my $s (@$socks) {
        my ($st, $body, $len) = tail_read($s, 15);
        my $data = eval { JSON::PP->new->decode($body // '') };
        my $ok = defined $st && $st == 200
                 && defined $len && $len == length $body
                 && $data && @{ $data->{data} } == 1
                 && $data->{data}[0]{meta}{message_id} == $id
                 && $data->{data}[0]{message} eq $text;
        $bad++ unless $ok;
        diag "$what: got " . ($st // 'nothing') . ' ' . ($body // '')
            unless $ok;
    }

    is $bad, 0, "$what: every tailer got entry $id with its exact length";
}

my $N = 24;
my $base = tails('master');
my $sbase = tails('s1');

ok defined $base->{$_}, "/metrics has replog_tail_wakeups_total by=\"$_\""
    for qw(append worker poll timeout exit);

# many connections at once: both workers of each node hold some
my @m = spread('master', 0, $N);
my @s = spread('s1', 0, $N);

ok parked('master', scalar @m), @m . " tailers parked on the master";
ok parked('s1', scalar @s), @s . " tailers parked on the secondary";

my ($st) = $c->post('/messages?wc=1', 'tailed one');
is $st, 201, 'a POST';

answered_with('master', \@m, 1, 'tailed one');
answered_with('secondary', \@s, 1, 'tailed one');

my $after = tails('master');
my %d = map { $_ => $after->{$_} - $base->{$_} }
    qw(append worker poll timeout exit);
diag "master: tailers woken by append $d{append}, worker $d{worker}, "
     . "poll $d{poll}";
is $d{append} + $d{worker} + $d{poll}, scalar @m,
    'master: every tailer counted once as woken';
cmp_ok $d{worker}, '>', 0,
    'master: tailers of the other worker were woken by its wake-up';
is $d{timeout} + $d{exit}, 0, 'master: none ran out of time';
is $after->{tailers}, 0, 'master: none parked any more';

my $safter = tails('s1');
my %sd = map { $_ => $safter->{$_} - $sbase->{$_} } qw(append worker poll);
diag "secondary: tailers woken by append $sd{append}, worker $sd{worker}, "
     . "poll $sd{poll}";
is $sd{append} + $sd{worker} + $sd{poll}, scalar @s,
    'secondary: every tailer counted once as woken';
cmp_ok $sd{worker}, '>', 0,
    'secondary: tailers of the worker without the batch were woken';

# tailers further ahead wait on while the log grows below them
my @ahead = map { tail_open('master', 3, '30s') } 1 .. 4;
ok parked('master', 4), 'tailers past id 3 parked';
($st) = $c->post('/messages?wc=1', "two");
is $st, 201, 'id 2 posted';
sleep 0.3;
is tails('master')->{tailers}, 4, 'id 2 answers none of the tailers past 3';
$c->post('/messages?wc=1', 'three');
$c->post('/messages?wc=1', 'four');
answered_with('past 3', \@ahead, 4, 'four');

# clients that go away while parked
my $log = $c->node('master')->{prefix} . '/error.log';
my $mark = -s $log;
my @pids = sort { $a <=> $b } node_workers('master');

my @gone = map { tail_open('master', 4, '30s') } 1 .. 8;
my @stay = map { tail_open('master', 4, '30s') } 1 .. 4;
ok parked('master', 12), '12 tailers parked';
close $_ for @gone;
ok parked('master', 4), 'the 8 that went away are no longer parked';

($st) = $c->post('/messages?wc=1', 'five');
is $st, 201, 'a POST after they went away';
$c->post('/messages?wc=1', "more $_") for 1 .. 5;
answered_with('the ones that stayed', \@stay, 5, 'five');

open my $fh, '<', $log or die;
seek $fh, $mark, 0;
my @bad = grep { /\[(error|crit|alert|emerg)\]/ } <$fh>;
close $fh;
is scalar @bad, 0, 'no error logged for the clients that went away'
    or diag @bad;
is_deeply [sort { $a <=> $b } node_workers('master')], \@pids,
    'the same workers, alive';
is last_id('master'), 10, 'the master serves on';

# consumers following the log while parallel writers post: each sees
# every id once, in order; none waits for its wait's end or for the poll
# (a lost wake-up would show there)
sub follow {
    my ($name, $from, $to) = @_;
    my ($last, $deadline) = ($from, time + 60);

    while ($last < $to && time < $deadline) {
        my ($st, $d) = $c->request($name, 'GET',
                                   "/messages?since=$last&wait=10s");
        return "status " . ($st // 'none') unless defined $st && $st == 200;
        for my $e (@{ $d->{data} }) {
            my $id = $e->{meta}{message_id};
            return "id $id after $last" unless $id == $last + 1;
            $last = $id;
        }
    }

    return $last == $to ? '' : "stopped at $last of $to";
}

my ($writers, $each) = (4, 100);
my $from = last_id('master');
my $to = $from + $writers * $each;
my %role;
my $cbefore = tails('master');
my $sbefore = tails('s1');

for my $k (1 .. 12) {
    my $node = $k <= 8 ? 'master' : 's1';
    my $pid = fork // die;
    if ($pid == 0) {
        my $err = follow($node, $from, $to);
        print STDERR "consumer $k on $node: $err\n" if $err;
        exit($err ? 1 : 0);
    }
    $role{$pid} = "consumer $k on $node";
}

ok parked('master', 8), 'consumers parked on the master';
ok parked('s1', 4), 'consumers parked on the secondary';

for my $w (1 .. $writers) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $bad = 0;
        for my $i (1 .. $each) {
            my ($st) = $c->post('/messages?wc=1', "w$w $i");
            $bad++ unless defined $st && $st == 201;
        }
        exit($bad ? 1 : 0);
    }
    $role{$pid} = "writer $w";
}

my @failed;
for my $pid (keys %role) {
    waitpid $pid, 0;
    push @failed, $role{$pid} if $?;
}
is_deeply \@failed, [], "$writers writers posted $each each; 12 consumers "
    . "each saw every id once, in order";

my $cafter = tails('master');
my $safter2 = tails('s1');
diag sprintf 'consumers: master woken by append %d, worker %d, poll %d; '
    . 'secondary by append %d, worker %d, poll %d',
    (map { $cafter->{$_} - $cbefore->{$_} } qw(append worker poll)),
    (map { $safter2->{$_} - $sbefore->{$_} } qw(append worker poll));
is $cafter->{timeout} - $cbefore->{timeout}
   + $safter2->{timeout} - $sbefore->{timeout}, 0,
    'consumers: no wait ran out';
cmp_ok $cafter->{poll} - $cbefore->{poll}
       + $safter2->{poll} - $sbefore->{poll}, '<=', 2,
    'consumers: the safety-net poll answered hardly any (lost wake-ups)';

# a reload while tailers are parked: the old workers answer them empty
my $before = tails('master');
my $at = last_id('master');
my @old = map { tail_open('master', $at, '30s') } 1 .. 8;
ok parked('master', 8), '8 tailers parked before the reload';
$c->signal_master_only('HUP');

my $empty = 0;
for my $s (@old) {
    my ($st, $body, $len) = tail_read($s, 15);
    $empty++ if defined $st && $st == 200 && $body eq qq/{"data":[]}\n/
                && $len == length $body;
}
is $empty, 8, 'reload: every parked tailer got the empty list';

$after = tails('master');
is $after->{exit} - $before->{exit}, 8,
    'reload: counted as answered by their worker\'s exit';
is $after->{tailers}, 0, 'reload: none parked any more';

ok $c->wait_for(sub {
    my %o = map { $_ => 1 } @pids;
    my @now = node_workers('master');
    @now == 2 && !grep { $o{$_} } @now;
}, 15), 'reload: a new generation of workers';

my @new = spread('master', $at, 8);
$c->post('/messages?wc=1', 'after reload');
answered_with('after the reload', \@new, $at + 1, 'after reload');

$c->stop_all;
done_testing;
