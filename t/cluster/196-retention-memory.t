# Retention of in-memory nodes (issue 14 item 3): replog_retention on a
# zone without path= drops its oldest chunks of 1024 ids instead of
# answering 507 when the zone is full, and by size= (the log's list
# bytes) or age= (registered_at); the log then starts after them, 410
# below, and a secondary registered after the drop starts there.
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

my $json = JSON::PP->new->utf8->canonical;
my $c = Replog::Cluster->new(name => 'retention-memory', cluster_size => 2);

sub text { my $i = shift; "q$i " . ('z' x (100 + ($i * 31) % 100)) }

# keepalive, pipelined 100 at a time: the statuses in order
sub post_range {
    my ($from, $to) = @_;
    my %st;
    for (my $i = $from; $i <= $to; $i += 500) {
        my $last = $i + 499 < $to ? $i + 499 : $to;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $c->port('master'),
                                      Timeout => 30) or die "connect: $!";
        binmode $s;
        my $buf = '';
        for (my $k = $i; $k <= $last; $k += 100) {
            my $l = $k + 99 < $last ? $k + 99 : $last;
            my $out = '';
            for my $m ($k .. $l) {
                my $b = $json->encode({ message => text($m) });
                $out .= "POST /messages?wc=1 HTTP/1.1\r\nHost: x\r\n"
                      . "x-token: $c->{api_key}\r\nContent-Length: "
                      . length($b) . "\r\n\r\n$b";
            }
            print $s $out;
            my $want = $l - $k + 1;
            while ($want) {
                if ($buf =~ s/^HTTP\/1\.1 (\d+)[^\r]*\r\n(.*?)\r\n\r\n//s) {
                    my ($code, $h) = ($1, $2);
                    my ($len) = $h =~ /Content-Length: (\d+)/i;
                    while (length($buf) < $len) {
                        sysread($s, $buf, 65536, length $buf) or die 'eof';
                    }
                    substr($buf, 0, $len, '');
                    $st{$code}++;
                    $want--;
                    next;
                }
                sysread($s, $buf, 65536, length $buf) or die 'eof';
            }
        }
        close $s;
    }
    return \%st;
}

sub get_list {
    my ($name, $uri) = @_;
    my ($st, undef, $h, $raw) = $c->request($name, 'GET', $uri, undef,
                                             timeout => 60);
    my $d = eval { $json->decode($raw // '') };
    return ($st, $d, ($h->{'content-length'} // -1) == length($raw // ''),
            length($raw // ''));
}

sub ids { [ map { $_->{meta}{message_id} } @{ $_[0]{data} // [] } ] }

# a 1m zone holds about 6,000 of these: 20,000 are more than three zones
$c->start_master(REPLOG_ZONE_SIZE => '1m', REPLOG_RECOVERY => 'off',
                 REPLOG_RETENTION => 'age=1h');
ok $c->wait_open, 'an in-memory master with a 1m zone and replog_retention';

my $N = 20000;
my $st = post_range(1, $N);
is_deeply $st, { 201 => $N }, "$N messages, more than the zone: all 201, "
    . 'no 507';

my $h = $c->health('master');
my $K = $h->{log_first_id};
is $h->{last_id}, $N, '/health: last_id is the last message';
ok $K > 1 && ($K - 1) % 1024 == 0,
    "... log_first_id $K: the oldest chunks of 1024 were dropped";
my (undef, $mraw) = $c->request('master', 'GET', '/metrics');
like $mraw, qr/^replog_log_first_id\{node="master"\} $K$/m,
    '/metrics: replog_log_first_id';

my ($s, $d, $exact) = get_list('master', '/messages');
is $s, 200, 'GET /messages without since: 200';
ok $exact, '... Content-Length exact';
is_deeply ids($d), [$K .. $N], "... ids $K..$N";
is $d->{data}[0]{message}, text($K), '... each its own message';
($s, $d) = get_list('master', '/messages?since=' . ($K - 2));
is_deeply [$s, $d->{first_id}], [410, $K], 'since=K-2: 410 with first_id K';
($s, $d, $exact) = get_list('master', '/messages?since=' . ($K - 1)
                                      . '&limit=3');
is_deeply [$s, $exact, ids($d)], [200, 1, [$K .. $K + 2]],
    'since=K-1: from K';

# a secondary registered after the drop starts at the master's first id
$c->start_secondary('s1', REPLOG_ZONE_SIZE => '4m');
ok $c->wait_for(sub { $c->acked('s1') == $N }, 60, 's1 catches up'),
    "a secondary registered after the drop is caught up to $N";
$h = $c->health('s1');
is_deeply [$h->{log_first_id}, $h->{last_id}], [$K, $N],
    "... its log starts at $K too";
is $c->secondaries->{s1}{first_id}, $K,
    "... and the master's /secondaries shows its first_id $K";
is $c->stored('s1'), $c->stored('master'), '... the same bytes as the master';
like Replog::Test::slurp("$c->{dir}/s1/error.log"),
    qr/\[warn\].*the master's log starts at id $K /,
    '... said at warn on the secondary';
$c->stop('s1');
$c->stop('master');

# size=: the log's list bytes bounded, by whole chunks
$c->start_master(REPLOG_ZONE_SIZE => '8m', REPLOG_RECOVERY => 'off',
                 REPLOG_RETENTION => 'size=400k');
ok $c->wait_open, 'an in-memory master with replog_retention size=400k';
$st = post_range(1, 10000);
is_deeply $st, { 201 => 10000 }, '10000 messages of about 250 list bytes';
($s, $d, $exact, my $len) = get_list('master', '/messages');
$K = ids($d)->[0];
ok $s == 200 && $exact && $K > 1, "GET /messages: from $K";
ok $len <= 400 * 1024 + 1024 * 300, "... the list is within size= and a "
    . "chunk ($len bytes)";
ok $len > 400 * 1024 - 1024 * 300, '... and not much less';
is_deeply ids($d), [$K .. 10000], '... every id from K';

my $log = Replog::Test::slurp("$c->{dir}/master/error.log");
unlike $log, qr/exited on signal|\[alert\]|\[crit\]/, 'no crash, no alert';
$c->stop('master');

done_testing;
