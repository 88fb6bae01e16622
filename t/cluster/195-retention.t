# Retention (issue 14 item 3): replog_retention drops whole old segments
# of a durable log past size= or age=; the log then starts at its first
# retained id K.  GET /messages without since starts at K, since below
# K-1 answers 410 with first_id, /health and /metrics show K, a restart
# keeps K.  Segments of 64k (segment=) so that a few MB roll many.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use Replog::Cluster;

my $Top = Replog::Cluster->top;

plan skip_all => 'build/replog-register is missing'
    unless -x "$Top/build/replog-register";

my $json = JSON::PP->new->utf8->canonical;
my $c = Replog::Cluster->new(name => 'retention', cluster_size => 2);
my $mdata = "$c->{dir}/master-data";

sub text { my $i = shift; "r$i " . ('y' x (150 + ($i * 7919) % 100)) }

sub post_range {
    my ($from, $to) = @_;
    my $bad = 0;
    for my $i ($from .. $to) {
        my ($s) = $c->post('/messages?wc=1', text($i));
        $bad++ if $s != 201;
    }
    return $bad;
}

sub get_list {
    my ($name, $uri) = @_;
    my ($st, undef, $h, $raw) = $c->request($name, 'GET', $uri, undef,
                                             timeout => 60);
    my $d = eval { $json->decode($raw // '') };
    return ($st, $d, ($h->{'content-length'} // -1) == length($raw // ''));
}

sub metric {
    my ($name, $m) = @_;
    my (undef, $raw) = $c->request($name, 'GET', '/metrics');
    return $raw =~ /^replog_\Q$m\E\{[^}]*\} (\d+)$/m ? $1 : undef;
}

sub segs { sort { $a <=> $b } map { m{/(\d+)\.seg$} ? $1 + 0 : () }
               glob "$_[0]/*.seg" }

my %opt = (DATA_DIR => $mdata, FSYNC => 'off', REPLOG_RECOVERY => 'off',
           REPLOG_ZONE_SIZE => '1m', REPLOG_SEGMENT => '64k',
           REPLOG_RETENTION => 'size=1m');

$c->start_master(%opt);
ok $c->wait_open, 'a master with segment=64k and replog_retention size=1m';

my $N = 6000;
is post_range(1, $N), 0, "$N messages of 150-250 bytes: all 201";

my @seg = segs($mdata);
my $K = $seg[0];
ok @seg >= 12 && @seg <= 17, 'the files are bounded: ' . scalar(@seg)
    . ' segments of 64k kept of about 23';
ok $K > 1, "the oldest segments were dropped: the first starts at $K";

my $h = $c->health('master');
is $h->{log_first_id}, $K, '/health: log_first_id is the first segment\'s';
is $h->{last_id}, $N, '... and last_id is still the last message';
is metric('master', 'log_first_id'), $K, '/metrics: replog_log_first_id';
ok $h->{zone}{first_id} > $K,
    "... the zone holds only the newest (from $h->{zone}{first_id}): the "
    . 'start of the log is read from the files';
ok metric('master', 'log_segments_dropped_total') >= 4,
    '... and the segments dropped counted';

my ($s, $d, $exact) = get_list('master', '/messages');
is $s, 200, 'GET /messages without since: 200';
ok $exact, '... Content-Length exact';
my @ids = map { $_->{meta}{message_id} } @{ $d->{data} // [] };
is_deeply \@ids, [$K .. $N], "... ids $K..$N, from the log's first id";
is $d->{data}[0]{message}, text($K), '... each its own message';

($s, $d, $exact) = get_list('master', '/messages?since=' . ($K - 1)
                                      . '&limit=5');
is_deeply [$s, $exact, [map { $_->{meta}{message_id} } @{ $d->{data} }]],
          [200, 1, [$K .. $K + 4]], 'since=K-1: 200, from K, exact length';

for my $since (0, $K - 2) {
    ($s, $d) = get_list('master', "/messages?since=$since");
    is $s, 410, "since=$since, below K-1: 410";
    is $d->{first_id}, $K, '... with first_id K in the JSON';
    ok $d->{error} && $d->{detail}, '... and an error with its detail';
}

# pages from K-1 across chunks evicted from the small zone
my @seen;
my ($since, $ok, $pages) = ($K - 1, 1, 0);
while ($since < $N && $pages < 100) {
    my ($ps, $pd, $pe) = get_list('master', "/messages?since=$since"
                                             . '&limit=333');
    $ok &&= $ps == 200 && $pe;
    my @p = map { $_->{meta}{message_id} } @{ $pd->{data} // [] };
    last unless @p;
    push @seen, @p;
    $since = $p[-1];
    $pages++;
}
ok $ok, 'pages of 333 from K-1: each 200 with an exact Content-Length';
is_deeply \@seen, [$K .. $N], '... together every id from K, once';

# a restart keeps K (the first segment's name) and serves from it
$c->stop('master');
$c->start_master(%opt);
ok $c->wait_open, 'the master restarts';
$h = $c->health('master');
is_deeply [$h->{log_first_id}, $h->{last_id}], [$K, $N],
    '... with the same first and last ids';
($s, $d, $exact) = get_list('master', '/messages');
@ids = map { $_->{meta}{message_id} } @{ $d->{data} // [] };
ok $s == 200 && $exact && "@ids" eq join(' ', $K .. $N),
    '... and serves K..N again';
($s, $d) = get_list('master', '/messages?since=' . ($K - 2));
is_deeply [$s, $d->{first_id}], [410, $K], '... and 410 below K-1';

is post_range($N + 1, $N + 3000), 0, 'appends go on after the restart';
$N += 3000;
my $K2 = (segs($mdata))[0];
ok $K2 > $K, "... and retention moves the first id on to $K2";
($s, $d, $exact) = get_list('master', '/messages');
@ids = map { $_->{meta}{message_id} } @{ $d->{data} // [] };
ok $s == 200 && $exact && "@ids" eq join(' ', $K2 .. $N),
    "... GET serves $K2..$N";

# a secondary registered after retention dropped the start: the batch
# says the master's log starts at K2, the secondary's log starts there
$c->start_secondary('s1', DATA_DIR => "$c->{dir}/s1-data", FSYNC => 'off',
                    REPLOG_ZONE_SIZE => '1m', REPLOG_SEGMENT => '64k');
ok $c->wait_for(sub { $c->acked('s1') == $N }, 60, 's1 catches up'),
    "a secondary registered after the drop is caught up to $N";
my $sh = $c->health('s1');
is_deeply [$sh->{log_first_id}, $sh->{last_id}], [$K2, $N],
    "... its log starts at the master's first id $K2";
is $c->secondaries->{s1}{first_id}, $K2,
    "... and the master's /secondaries shows its first_id $K2";
is $c->stored('s1'), $c->stored('master'),
    '... and holds the same bytes as the master from there';
($s, $d) = get_list('s1', '/messages?since=0');
is_deeply [$s, $d->{first_id}], [410, $K2], '... and answers 410 below it';
like Replog::Test::slurp("$c->{dir}/s1/error.log"),
    qr/\[warn\].*the master's log starts at id $K2 .*this log ended at id 0: it starts again at id $K2/,
    '... logged at warn on the secondary';
like Replog::Test::slurp("$c->{dir}/master/error.log"),
    qr/\[warn\].*secondary "s1" lacks ids 1\.\.@{[$K2 - 1]} that retention dropped/,
    '... and on the master';
is post_range($N + 1, $N + 200), 0, 'appends go on';
$N += 200;
ok $c->wait_for(sub { $c->acked('s1') == $N }, 30, 's1 acks'),
    '... and reach the secondary';
$c->stop('s1');
$c->start_secondary('s1', DATA_DIR => "$c->{dir}/s1-data", FSYNC => 'off',
                    REPLOG_ZONE_SIZE => '1m', REPLOG_SEGMENT => '64k');
$sh = $c->health('s1');
is_deeply [$sh->{log_first_id}, $sh->{last_id}], [$K2, $N],
    '... a restart of the secondary replays its log from K2';
ok $c->wait_for(sub { $c->acked('s1') == $N }, 30, 's1 again'),
    '... and it is healthy again';
$c->stop('s1');

my $log = Replog::Test::slurp("$c->{dir}/master/error.log");
like $log, qr/retention dropped \d+ segments, the log starts at id $K2/,
    'the drop is logged with the new first id';
unlike $log, qr/exited on signal|\[alert\]|\[crit\]/,
    '... no crash, no alert';
$c->stop('master');
my $K3 = (segs($mdata))[0];
my $v = `$Top/build/replog-log verify $mdata 2>&1`;
like $v, qr/ids $K3\.\.$N, \d+ segments, whole/,
    'replog-log verify: the log whole, from K';

# age=: segments whose last write is older than it are dropped
my $adata = "$c->{dir}/age-data";
my %aopt = (%opt, DATA_DIR => $adata, REPLOG_RETENTION => 'age=2s');
$c->start_master(%aopt);
ok $c->wait_open, 'a master with replog_retention age=2s';
is post_range(1, 1500), 0, '1500 messages';
my @before = segs($adata);
is $before[0], 1, '... the first segment starts at 1 while young';
sleep 3;
is post_range(1501, 1600), 0, 'more messages 3 s later';
ok $c->wait_for(sub { ((segs($adata))[0] // 0) > 1 }, 10, 'age drop'),
    '... the segments older than 2 s are dropped';
my @after = segs($adata);
$h = $c->health('master');
is $h->{log_first_id}, $after[0], '... log_first_id is the first kept: '
    . $after[0];
ok $after[0] >= $before[-1], '... none of the old ones but the one '
    . 'written then is kept';
($s, $d, $exact) = get_list('master', '/messages');
@ids = map { $_->{meta}{message_id} } @{ $d->{data} // [] };
ok $s == 200 && $exact && "@ids" eq join(' ', $after[0] .. 1600),
    '... GET serves from it to the end';
$c->stop('master');

done_testing;
