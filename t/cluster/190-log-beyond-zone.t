# A master whose durable log is many times its zone (issue 14): the zone
# keeps the newest entries and a sparse index, the rest is read from the
# segment files.  Every id is readable in order and exactly once, by pages
# and as one stream, with an exact Content-Length; reads of evicted ranges
# run while appends do; a secondary registered late is caught up from the
# files; a restart replays with the tail; a damaged record in an evicted
# range cuts the stream, is logged, and the worker lives on.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Replog::Cluster;

my $Top = Replog::Cluster->top;

plan skip_all => 'build/replog-register is missing'
    unless -x "$Top/build/replog-register";

my $N = $ENV{REPLOG_BEYOND_N} // 60000;
my $c = Replog::Cluster->new(name => 'log-beyond-zone', cluster_size => 2);
my $mdata = "$c->{dir}/master-data";
my $json = JSON::PP->new->utf8->canonical;

sub slurp { local (@ARGV, $/) = @_; <> // '' }

# the text of message i: 100..300 bytes, its id recognisable in it
sub text { my $i = shift; "m$i " . ('x' x (100 + ($i * 7919) % 200)) }

# raw keepalive HTTP, pipelined a window at a time, a connection per 1000
# (nginx's keepalive_requests): returns the statuses in order
sub post_many {
    my ($from, $to) = @_;
    my @st;
    for (my $i = $from; $i <= $to; $i += 1000) {
        push @st, post_conn($i, $i + 999 < $to ? $i + 999 : $to);
    }
    return @st;
}

sub post_conn {
    my ($from, $to) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $c->port('master'),
                                  Timeout => 30) or die "connect: $!";
    binmode $s;
    my @st;
    my $buf = '';
    for (my $i = $from; $i <= $to; $i += 100) {
        my $last = $i + 99 < $to ? $i + 99 : $to;
        my $out = '';
        for my $k ($i .. $last) {
            my $body = $json->encode({ message => text($k) });
            $out .= "POST /messages?wc=1 HTTP/1.1\r\nHost: x\r\n"
                  . "x-token: $c->{api_key}\r\n"
                  . "Content-Type: application/json\r\n"
                  . "Content-Length: " . length($body) . "\r\n\r\n$body";
        }
        print $s $out;
        my $want = $last - $i + 1;
        while ($want) {
            if ($buf =~ s/^HTTP\/1\.1 (\d+)[^\r]*\r\n(.*?)\r\n\r\n//s) {
                my ($code, $h) = ($1, $2);
                my ($len) = $h =~ /Content-Length: (\d+)/i;
                while (length($buf) < $len) {
                    sysread($s, $buf, 65536, length $buf) or die "eof: [" . substr($buf, 0, 300) . "]";
                }
                substr($buf, 0, $len, '');
                push @st, $code;
                $want--;
                next;
            }
            sysread($s, $buf, 65536, length $buf) or die "eof: [" . substr($buf, 0, 300) . "]";
        }
    }
    close $s;
    return @st;
}

# GET a list: (status, body, Content-Length, whole)
sub get_raw {
    my ($name, $uri) = @_;
    my ($st, undef, $h, $raw) = $c->request($name, 'GET', $uri,
                                             undef, timeout => 120);
    my $cl = $h->{'content-length'} // -1;
    return ($st, $raw // '', $cl);
}

sub ids_of {
    my $raw = shift;
    my $d = eval { $json->decode($raw) } or return;
    return [ map { $_->{meta}{message_id} } @{ $d->{data} } ], $d->{data};
}

sub metric {
    my ($name, $m) = @_;
    my (undef, $raw) = $c->request($name, 'GET', '/metrics');
    return $raw =~ /^replog_\Q$m\E\{[^}]*\} (\d+)$/m ? $1 : undef;
}

$c->start_master(DATA_DIR => $mdata, FSYNC => 'off',
                 REPLOG_RECOVERY => 'off', REPLOG_ZONE_SIZE => '2m');
ok $c->wait_open, 'a master with a 2m zone and path= opens';

my @st = post_many(1, $N);
my %count;
$count{$_}++ for @st;
is $count{201} // 0, $N, "$N messages of 100-300 bytes all answered 201"
    or diag explain \%count;

my $h = $c->health('master');
is $h->{last_id}, $N, '... the log holds them all';
ok $h->{zone}{first_id} > 1024, '... the zone holds only the newest '
    . "(first id $h->{zone}{first_id})";
ok metric('master', 'evicted_total') >= $h->{zone}{first_id} - 1,
    '... and counts the evicted';

# one stream of the whole log
my ($s, $raw, $cl) = get_raw('master', '/messages');
is $s, 200, 'GET /messages of a log beyond the zone: 200';
is $cl, length $raw, '... Content-Length exact';
my ($ids, $data) = ids_of($raw);
is_deeply $ids, [1 .. $N], '... every id, in order, exactly once';
my @bad = grep { $data->[$_]{message} ne text($_ + 1) } 0 .. $#$data;
is scalar(@bad), 0, '... each with its own message';
ok metric('master', 'file_reads_total') > 0, '... read from the files';

# pages, with since inside evicted chunks, across the zone's first id
my $first = $h->{zone}{first_id};
my @seen;
my ($since, $ok_len, $pages) = (0, 1, 0);
while ($since < $N && $pages < 200) {
    my ($ps, $praw, $pcl) = get_raw('master',
                                    "/messages?since=$since&limit=777");
    $ok_len &&= ($ps == 200 && $pcl == length $praw);
    my ($pids) = ids_of($praw);
    last unless $pids && @$pids;
    push @seen, @$pids;
    $since = $pids->[-1];
    $pages++;
}
ok $ok_len, "pages of 777: every one 200 with an exact Content-Length";
is_deeply \@seen, [1 .. $N], '... together every id, in order, once';

for my $r ([1500, 10], [1023, 3], [1024, 1], [$first - 5, 10],
           [$first - 1, 1], [7, 2000])
{
    my ($a, $l) = @$r;
    my ($ps, $praw, $pcl) = get_raw('master', "/messages?since=$a&limit=$l");
    my ($pids) = ids_of($praw);
    is_deeply [$ps, $pcl == length $praw, $pids],
              [200, 1, [$a + 1 .. $a + $l]],
              "since=$a&limit=$l: exact length, ids " . ($a + 1) . '..'
              . ($a + $l);
}

# reads of evicted ranges while appends run
my $pid = fork // die;
if ($pid == 0) {
    my @r = post_many($N + 1, $N + 5000);
    exit((grep { $_ != 201 } @r) ? 1 : 0);
}
my $par_ok = 1;
my $step = int($N / 5);
for my $k (0 .. 4) {
    my ($ps, $praw, $pcl) = get_raw('master',
                                    "/messages?since=" . ($k * $step + 3)
                                    . "&limit=$step");
    my ($pids) = ids_of($praw);
    $par_ok &&= $ps == 200 && $pcl == length $praw
                && "@$pids" eq join(' ', $k * $step + 4
                                         .. $k * $step + 3 + $step);
}
waitpid $pid, 0;
is $?, 0, 'appends while evicted ranges are read: all 201';
ok $par_ok, '... and the reads meanwhile exact and in order';
$N += 5000;

# a secondary registered late is caught up from the files
# with its own durable log in a zone as small: it evicts too
$c->start_secondary('s1', REPLOG_ZONE_SIZE => '2m', FSYNC => 'off',
                    DATA_DIR => "$c->{dir}/s1-data");
ok $c->wait_for(sub { $c->acked('s1') == $N }, 120,
                's1 catches up'), "a late secondary is caught up to $N";
is $c->stored('s1'), $c->stored('master'),
    '... and holds the same bytes as the master';
ok $c->health('s1')->{zone}{first_id} > 1,
    '... evicting from its own small zone as it applies';

# a restart replays with the tail and serves all
$c->stop('s1');
$c->stop('master');
$c->start_master(DATA_DIR => $mdata, FSYNC => 'off',
                 REPLOG_RECOVERY => 'off', REPLOG_ZONE_SIZE => '2m');
$h = $c->health('master');
is $h->{last_id}, $N, 'a restarted master replays the log beyond its zone';
ok $h->{zone}{first_id} > 1, '... keeping the newest in the zone';
($s, $raw, $cl) = get_raw('master', '/messages');
($ids) = ids_of($raw);
ok $s == 200 && $cl == length $raw && "@$ids" eq join(' ', 1 .. $N),
    '... and serves every id again';

# a reload to a smaller zone copies the tail into it, evicting what the
# new zone cannot hold: every id is still served, appends go on
my $node = $c->node('master');
$node->{env}{REPLOG_ZONE_SIZE} = '1536k';
$c->_render($node);
$c->signal_master_only('HUP');
ok $c->wait_for(sub { slurp("$c->{dir}/master/error.log")
                          =~ /resized: its $N messages moved/ }, 30,
                'the resize'), 'a reload to a smaller zone moves the log';
ok $c->wait_for(sub { ($c->health('master')->{zone}{first_id} // 0)
                          > $h->{zone}{first_id} }, 30, 'new workers'),
    '... which holds fewer of the newest';
($s, $raw, $cl) = get_raw('master', '/messages');
($ids) = ids_of($raw);
ok $s == 200 && $cl == length $raw && "@$ids" eq join(' ', 1 .. $N),
    '... and serves every id';
@st = post_many($N + 1, $N + 2000);
is scalar(grep { $_ == 201 } @st), 2000, '... appends go on after it';
$N += 2000;

# a damaged record in an evicted range, made while the master runs (a
# start refuses a master log damaged in the middle): the stream is cut
# short of its Content-Length and logged, the worker lives on
my $seg = (glob "$mdata/*.seg")[0];
open my $fh, '+<:raw', $seg or die "$seg: $!";
seek $fh, 200000, 0;
print $fh 'CORRUPT';
close $fh;
($s, $raw, $cl) = get_raw('master', '/messages');
ok $cl > length $raw, 'a damaged record: the stream is cut short ('
    . length($raw) . " of $cl bytes)";
my $log = slurp("$c->{dir}/master/error.log");
like $log, qr/\[error\].*\Q$seg\E" at offset \d+: a bad checksum/,
    '... logged at error with the file and the offset';
unlike $log, qr/exited on signal/, '... no worker crashed';
my ($hs) = $c->request('master', 'GET', '/healthcheck');
is $hs, 200, '... and the master still answers';

$c->stop('master');

done_testing;

