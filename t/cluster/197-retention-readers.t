# Retention against readers of the files (issue 14): a GET /messages of
# an evicted range whose client is slow, while appends make retention
# drop the segments it reads.
#  (a) the segment the reader holds open is dropped: it is read to its
#      end through the open file, the client gets the whole list, exact;
#  (b) the reader must then open a segment already dropped: the stream is
#      cut short of its Content-Length, logged at error naming the file,
#      and the client reads again from the new first id K;
#  (c) a late secondary's catch-up from the files overtaken the same way
#      goes on from the new first id; and no worker keeps a dropped file
#      open once the streams and the catch-up are over.
# Segments of 8m (eight 1 MiB windows of the reader each), a 4m zone, and
# size=24m: each new segment drops exactly the oldest one.  The slow
# client is a raw socket with a small receive buffer that reads the head
# of the answer, then pauses; which file a worker holds is seen in
# /proc/PID/fd, how far the reader got in /metrics.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Socket qw(SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in);
use Time::HiRes qw(sleep time);
use Replog::Cluster;

my $Top = Replog::Cluster->top;

plan skip_all => 'build/replog-register is missing'
    unless -x "$Top/build/replog-register";
plan skip_all => 'no /proc to see the files a worker holds'
    unless -d "/proc/$$/fd";

my $SEG = 8 * 1024 * 1024;
my $json = JSON::PP->new->utf8->canonical;
my $c = Replog::Cluster->new(name => 'retention-readers', cluster_size => 2);
my $mdata = "$c->{dir}/master-data";

# the text of message i: 500..900 bytes, its id recognisable in it
sub text { my $i = shift; "q$i " . ('w' x (500 + ($i * 7919) % 400)) }

# the first ids of the segments, ascending
sub segs {
    my @s = sort { $a <=> $b } map { m{/(\d+)\.seg$} ? $1 + 0 : () }
            glob "$mdata/*.seg";
    return @s;
}

sub metric {
    my ($m) = @_;
    my (undef, $raw) = $c->request('master', 'GET', '/metrics');
    return $raw =~ /^replog_\Q$m\E\{[^}]*\} (\d+)$/m ? $1 : undef;
}

sub log_first { $c->health('master')->{log_first_id} // 0 }

# pipelined keepalive posts of ids from..to, 100 a window: the statuses
sub post_range {
    my ($from, $to) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $c->port('master'),
                                  Timeout => 30) or die "connect: $!";
    binmode $s;
    my ($buf, @st) = ('');
    for (my $i = $from; $i <= $to; $i += 100) {
        my $last = $i + 99 < $to ? $i + 99 : $to;
        my $out = '';
        for my $k ($i .. $last) {
            my $body = $json->encode({ message => text($k) });
            $out .= "POST /messages?wc=1 HTTP/1.1\r\nHost: x\r\n"
                  . "x-token: $c->{api_key}\r\n"
                  . "Content-Type: application/json\r\n"
                  . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
        }
        print $s $out;
        for (1 .. $last - $i + 1) {
            until ($buf =~ /\r\n\r\n/) {
                sysread($s, $buf, 65536, length $buf) or die "eof";
            }
            $buf =~ s/^HTTP\/1\.1 (\d+)[^\r]*\r\n(.*?)\r\n\r\n//s or die;
            my ($code, $head) = ($1, $2);
            my ($len) = $head =~ /Content-Length: (\d+)/i;
            while (length($buf) < $len) {
                sysread($s, $buf, 65536, length $buf) or die "eof";
            }
            substr($buf, 0, $len, '');
            push @st, $code;
        }
    }
    close $s;
    return @st;
}

# posts a thousand at a time (at most $max) until $cond holds: bad count.
# Each step waits for the writer to have written it, so that posting
# faster than the files take it never runs the small zone full (507).
my $N = 0;
sub post_until {
    my ($cond, $max, $step) = @_;
    my $bad = 0;
    $step //= 1000;
    for (1 .. $max / $step) {
        last if $cond->();
        $bad += grep { $_ != 201 } post_range($N + 1, $N + $step);
        $N += $step;
        $c->wait_for(sub { metric('log_durable_id') >= $N }, 30,
                     "id $N written") or return -1;
    }
    return $cond->() ? $bad : -1;
}

# the nginx workers of the master, and the segment files they hold open
sub workers {
    my $ppid = $c->node('master')->{pid};
    return grep { (slurp_stat($_))[3] == $ppid }
           map { m{/proc/(\d+)$} ? $1 : () } glob '/proc/[0-9]*';
}

sub slurp_stat {
    open my $fh, '<', "/proc/$_[0]/stat" or return (0, 0, 0, 0);
    my $st = <$fh> // '';
    $st =~ s/^.*\) //s;
    return (0, 0, split ' ', $st);
}

# "first id" => 1 (open) or 2 (open, and unlinked)
sub held {
    my %h;
    for my $pid (workers()) {
        for my $fd (glob "/proc/$pid/fd/*") {
            my $to = readlink($fd) // next;
            next unless index($to, $mdata) == 0;
            $h{$1 + 0} = $2 ? 2 : 1 if $to =~ m{/(\d+)\.seg( \(deleted\))?$};
        }
    }
    return \%h;
}

# a GET whose client reads the head of the answer and stops: its socket
# (a small receive buffer), the status, Content-Length and the body so far
sub slow_get {
    my ($uri) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 16384) or die "rcvbuf: $!";
    connect($s, pack_sockaddr_in($c->port('master'), inet_aton('127.0.0.1')))
        or die "connect: $!";
    binmode $s;
    print $s "GET $uri HTTP/1.1\r\nHost: x\r\nx-token: $c->{api_key}\r\n"
           . "Connection: close\r\n\r\n";
    my ($buf, $sel, $until) = ('', IO::Select->new($s), time + 30);
    while ($buf !~ /\r\n\r\n/ || length($buf) < 8192) {
        die 'no head in 30 s' if time > $until || !$sel->can_read(1);
        sysread($s, $buf, 4096, length $buf) or last;
    }
    $buf =~ s/^HTTP\/1\.1 (\d+)[^\r]*\r\n(.*?)\r\n\r\n//s or die "no head";
    my ($st, $head) = ($1, $2);
    my ($cl) = $head =~ /Content-Length: (\d+)/i;
    return { s => $s, status => $st, cl => $cl // -1, body => $buf };
}

# the rest of it, until the end of the stream (or 120 s): eof seen?
sub finish {
    my ($g) = @_;
    my ($sel, $until, $eof) = (IO::Select->new($g->{s}), time + 120, 0);
    while (time < $until && length($g->{body}) < $g->{cl}) {
        next unless $sel->can_read(1);
        my $n = sysread($g->{s}, $g->{body}, 65536, length $g->{body});
        if (!$n) { $eof = 1; last }
    }
    close $g->{s};
    return $eof;
}

# read_bytes counted by the reads of the files, once they stopped
sub settled_reads {
    my $prev = -1;
    for (1 .. 50) {
        my $now = metric('file_read_bytes_total');
        return $now if $now == $prev;
        $prev = $now;
        sleep 0.2;
    }
    return $prev;
}

$c->start_master(DATA_DIR => $mdata, FSYNC => 'off',
                 REPLOG_RECOVERY => 'off', REPLOG_ZONE_SIZE => '4m',
                 REPLOG_SEGMENT => '8m', REPLOG_RETENTION => 'size=24m',
                 REPLOG_HEALTHCHECK_FAILS => 100);
ok $c->wait_open, 'a master with a 4m zone, segment=8m, retention size=24m';

# three segments: two full, the third written
is post_until(sub { segs() >= 3 }, 60000), 0,
    'messages of 500-900 bytes until a third segment: all 201';
my @seg = segs();
is_deeply [$seg[0], log_first()], [1, 1], '... none dropped yet';
my $h = $c->health('master');
ok $h->{zone}{first_id} > $seg[1], "... the zone holds only the newest "
    . "(from $h->{zone}{first_id}): the first segments are read from files";

# (a) the slow reader in segment 1 when it is dropped
my $N1 = $N;
my $r0 = settled_reads();
my $g = slow_get('/messages');
is $g->{status}, 200, "(a) a slow GET /messages of 1..$N1: 200";
ok $c->wait_for(sub { held()->{1} }, 10, 'segment 1 open'),
    '... a worker holds segment 1 open';
my $read = settled_reads() - $r0;
ok $read > 0 && $read < $SEG - 1024 * 1024,
    "... its reader paused after $read bytes of the segment's $SEG";

is post_until(sub { log_first() > 1 }, 20000, 200), 0,
    'appends go on until a new segment: all 201';
my $K = log_first();
is_deeply [(segs())[0], $K], [$seg[1], $seg[1]],
    "... retention dropped segment 1 only: the log starts at $K";
is held()->{1}, 2, '... its file, unlinked, is still open in the worker';

my $eof = finish($g);
is length($g->{body}), $g->{cl},
    '(a) the client reads on: the whole Content-Length';
my $d = eval { $json->decode($g->{body}) };
ok $d, '... valid JSON';
my @ids = map { $_->{meta}{message_id} } @{ $d->{data} // [] };
is_deeply \@ids, [1 .. $N1], "... ids 1..$N1 in order, once, "
    . 'those of the dropped segment read through its open file';
my @bad = grep { $d->{data}[$_]{message} ne text($_ + 1) } 0 .. $#ids;
is scalar(@bad), 0, '... each with its own message';
ok $c->wait_for(sub { !held()->{1} }, 10, 'segment 1 closed'),
    '... and then the dropped file is closed';

# (b) the slow reader in segment 2, then 2 and 3 are dropped: it reads 2
# to its end through the open file, then cannot open 3
@seg = segs();
my $read0 = settled_reads();
$g = slow_get('/messages?since=' . ($K - 1));
is $g->{status}, 200, "(b) a slow GET from K=$K: 200";
ok $c->wait_for(sub { held()->{$K} }, 10, "segment $K open"),
    "... a worker holds segment $K open";
$r0 = settled_reads();
ok $r0 - $read0 < $SEG - 1024 * 1024,
    '... its reader paused after ' . ($r0 - $read0) . ' bytes of it';

is post_until(sub { log_first() > $seg[1] }, 40000, 200), 0,
    'appends go on until two new segments: all 201';
my $K2 = log_first();
is_deeply [(segs())[0], $K2], [$seg[2], $seg[2]],
    "... retention dropped segments $K and $seg[1]: the log starts at $K2";
is held()->{$K}, 2, "... segment $K, unlinked, is still open";

$eof = finish($g);
my $got = length $g->{body};
ok $eof && $got < $g->{cl},
    "(b) the stream is cut: the connection closed at $got of $g->{cl} bytes";
ok !eval { $json->decode($g->{body}) }, '... the body is no whole JSON';
@ids = $g->{body} =~ /"message_id":(\d+)/g;
is_deeply \@ids, [$K .. $seg[1] - 1],
    "... the ids of segment $K, all of them, through its open file";
my $name = sprintf '%s/%020d.seg', $mdata, $seg[1];
my $cut = qr/"\Q$name\E" at offset \d+: the segment was dropped by /
        . qr/retention at id $seg[1], the read is cut/;
like Replog::Test::slurp("$c->{dir}/master/error.log"), qr/\[error\].*$cut/,
    '... logged at error, naming the dropped file it had to open';

my (undef, undef, $hd, $raw) = $c->request('master', 'GET',
    '/messages?since=' . ($K2 - 1) . '&limit=100');
$d = eval { $json->decode($raw) };
is_deeply [$hd->{'content-length'} == length $raw,
           [map { $_->{meta}{message_id} } @{ $d->{data} // [] }]],
          [1, [$K2 .. $K2 + 99]], "... read again from K=$K2: exact, in order";
my ($s, $e) = $c->request('master', 'GET', '/messages?since=' . ($K2 - 2));
is_deeply [$s, ref $e ? $e->{first_id} : undef], [410, $K2],
    '... and since below K-1: 410 with first_id K';

# (c) a secondary registered late, caught up from the files (each batch
# applied after 0.3 s), stopped while the master reads K's segment for
# it; two drops later it goes on: its next batch starts at the new first
# id, as the batch's first_id says, and it ends with the master's bytes
@seg = segs();
$c->start_secondary('s1', DELAY => '0.3,0.3');
ok $c->wait_for(sub { held()->{$seg[0]} && $c->acked('s1') >= $seg[0] },
                30, "s1 caught up from segment $seg[0]"),
    "(c) a late secondary is caught up from the files of K=$seg[0]";
$c->signal('s1', 'STOP');
my $acked = $c->acked('s1');
ok $acked < $seg[1] - 1, "... stopped at $acked, within that segment";
is post_until(sub { log_first() > $seg[1] }, 40000, 200), 0,
    'appends go on until two new segments: all 201';
my $K3 = log_first();
$c->signal('s1', 'CONT');
ok $c->wait_for(sub { $c->acked('s1') == $N }, 90, "s1 acks $N"),
    "... the secondary goes on and is caught up to $N";
is $c->health('s1')->{log_first_id}, $K3,
    "... its log starting again at the master's first id $K3";
is $c->stored('s1'), $c->stored('master'),
    '... with the same bytes as the master from there';
like Replog::Test::slurp("$c->{dir}/master/error.log"),
    qr/\[warn\].*secondary "s1" lacks ids \d+\.\.@{[$K3 - 1]} that retention dropped: its log starts again at id $K3/,
    '... logged at warn on the master';
$c->stop_helper('s1');
$c->stop('s1');

# what the catch-up read last leaves the files too
@seg = segs();
is post_until(sub { log_first() > $seg[-1] }, 40000), 0,
    "appends until segment $seg[-1] is dropped too: all 201";

# no worker keeps a dropped file once the streams are over
ok $c->wait_for(sub { !grep { $_ == 2 } values %{ held() } }, 10,
                'no dropped file open'),
    'no worker holds a dropped segment when the streams and the '
    . 'catch-up are over'
    or diag explain held();
my $log = Replog::Test::slurp("$c->{dir}/master/error.log");
unlike $log, qr/is missing|\[alert\]|\[crit\]/, '... no alert in the log';

$c->stop_all;

done_testing;
