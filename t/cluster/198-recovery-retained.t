# A master that lost its whole log recovers from secondaries whose
# retention dropped the start of theirs: the source's GET /messages?since=0
# answers 410 with first_id K, the master's log starts at K too (its files
# as well: a restart still says K), it pulls K..N and opens; new posts
# replicate, and a secondary whose log is behind K starts again at K.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(remove_tree);
use JSON::PP;
use Replog::Cluster;

my $Top = Replog::Cluster->top;

plan skip_all => 'build/replog-register is missing'
    unless -x "$Top/build/replog-register";

my $json = JSON::PP->new->utf8->canonical;
my $c = Replog::Cluster->new(name => 'recovery-retained', cluster_size => 3);
my %data = map { $_ => "$c->{dir}/$_-data" } qw(master s1 s2);

sub text { my $i = shift; "k$i " . ('x' x (150 + ($i * 7919) % 100)) }

sub opts {
    return (DATA_DIR => $data{ $_[0] }, FSYNC => 'off',
            REPLOG_ZONE_SIZE => '1m', REPLOG_SEGMENT => '64k',
            REPLOG_RETENTION => 'size=512k');
}

sub post_range {
    my ($from, $to, $wc) = @_;
    my $bad = 0;
    for my $i ($from .. $to) {
        my ($s) = $c->post("/messages?wc=$wc&timeout=10000", text($i));
        $bad++ unless defined $s && $s == 201;
    }
    return $bad;
}

# a list as stored: each node names its own holders in registered_to
sub list {
    my ($name, $uri) = @_;
    my ($st, undef, $h, $raw) = $c->request($name, 'GET', $uri, undef,
                                             timeout => 60);
    my $d = eval { $json->decode($raw // '') };
    $raw //= '';
    $raw =~ s/,"registered_to":\[[^\]]*\]//g;
    return ($st, $d, $raw);
}

sub ids { [ map { $_->{meta}{message_id} } @{ $_[0]{data} // [] } ] }

$c->start_master(opts('master'));
$c->start_secondary($_, opts($_)) for qw(s1 s2);
ok $c->wait_for(sub {
    $c->status('s1') eq 'HEALTHY' && $c->status('s2') eq 'HEALTHY'
}, 15), 'master + 2 durable secondaries, segment=64k, retention size=512k';
ok $c->wait_open, 'open';

my $N = 4000;
is post_range(1, $N, 1), 0, "$N messages of 150-250 bytes: all 201";
ok $c->wait_for(sub { $c->acked('s1') == $N && $c->acked('s2') == $N }, 60),
    "... both secondaries hold $N";

my %h = map { $_ => $c->health($_) } qw(s1 s2);
ok $h{s1}{log_first_id} > 1 && $h{s2}{log_first_id} > 1,
    "the secondaries' logs start past 1: s1 at $h{s1}{log_first_id}, s2 at "
    . "$h{s2}{log_first_id}";

# the master loses its whole log
$c->kill9('master');
remove_tree($data{master});
$c->start_master(opts('master'));
ok $c->wait_open(60), 'the master, restarted with an empty directory, opens';

my $mlog = Replog::Test::slurp("$c->{dir}/master/error.log");
my ($src) = $mlog =~ /recovering: .*adopting epoch \S+ of "(s\d)"/;
ok $src, 'it recovered from ' . ($src // 'nothing');
$src //= 's1';
# read again: a drop the writer made after the acks would move K on
%h = map { $_ => $c->health($_) } qw(s1 s2);
my $K = $h{$src}{log_first_id};
my $mh = $c->health('master');
is_deeply [$mh->{log_first_id}, $mh->{last_id}], [$K, $N],
    "/health: log_first_id $K, the source's, and last_id $N";
like $mlog, qr/\[warn\].*recovering: the log of "$src" starts at id $K .*this log ended at id 0: it starts at id $K too/,
    '... said once at warn, with the ids';
my @warns = $mlog =~ /recovering: the log of "s\d" starts at id/g;
is scalar(@warns), 1, '... once';

my ($s, $d, $mraw) = list('master', '/messages?since=' . ($K - 1));
is $s, 200, 'GET since=K-1 on the master: 200';
is_deeply ids($d), [$K .. $N], "... ids $K..$N";
my (undef, undef, $sraw) = list($src, '/messages?since=' . ($K - 1));
is $mraw, $sraw, '... the same messages, ids and order as on the source';
my $other = $src eq 's1' ? 's2' : 's1';
my $OK = $h{$other}{log_first_id};
my $from = $K > $OK ? $K : $OK;
(undef, undef, $mraw) = list('master', '/messages?since=' . ($from - 1));
(undef, undef, $sraw) = list($other, '/messages?since=' . ($from - 1));
is $mraw, $sraw, "... and as on $other from $from";
($s, $d) = list('master', '/messages?since=0');
is_deeply [$s, $d->{first_id}], [410, $K], 'since=0: 410 with first_id K';

is post_range($N + 1, $N + 100, 3), 0, 'new posts with wc=3: all 201';
$N += 100;
ok $c->wait_for(sub { $c->acked('s1') == $N && $c->acked('s2') == $N }, 30),
    '... on both secondaries';
(undef, undef, $mraw) = list('master', '/messages?since=' . ($N - 100));
(undef, undef, $sraw) = list($other, '/messages?since=' . ($N - 100));
is $mraw, $sraw, "... the same on $other";

# the files start at K too: a restart replays them from K
$c->kill9('master');
$c->start_master(opts('master'));
ok $c->wait_open(30), 'the master restarts with its files';
$mh = $c->health('master');
is_deeply [$mh->{log_first_id}, $mh->{last_id}], [$K, $N],
    "... and still says first id $K, last id $N";
($s, $d) = list('master', '/messages?since=' . ($K - 1) . '&limit=3');
is_deeply [$s, ids($d)], [200, [$K .. $K + 2]], '... and serves from K';

# a secondary behind K (its log lost) starts again at K
$c->stop_helper($other);
$c->stop($other);
remove_tree($data{$other});
$c->start_secondary($other, opts($other));
ok $c->wait_for(sub { $c->acked($other) == $N }, 60),
    "$other, restarted empty, is caught up to $N";
my $oh = $c->health($other);
is_deeply [$oh->{log_first_id}, $oh->{last_id}], [$K, $N],
    "... its log starts at the master's first id $K";
like Replog::Test::slurp("$c->{dir}/master/error.log"),
    qr/\[warn\].*secondary "$other" lacks ids 1\.\.@{[$K - 1]} that retention dropped/,
    '... by the batch with first_id';

$c->stop_all;
done_testing;
