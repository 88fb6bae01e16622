# The durable log across restarts of one node: a master replays its log and
# opens at once; replog-log verify|dump read what the module wrote; a torn
# tail is cut with one warning; a bad record in the middle stops a master
# (and nginx -t says so, changing nothing), and makes a secondary discard
# its log and be caught up again.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Replog::Cluster;

my $Top = Replog::Cluster->top;
my $Tool = "$Top/build/replog-log";

plan skip_all => 'build/replog-register or build/replog-log is missing'
    unless -x "$Top/build/replog-register" && -x $Tool;

my $c = Replog::Cluster->new(name => 'durable-restart', cluster_size => 2);
my $mdata = "$c->{dir}/master-data";
my $sdata = "$c->{dir}/s1-data";

sub slurp { local (@ARGV, $/) = @_; <> // '' }
sub tool { my $out = `$Tool @_ 2>&1`; return ($? >> 8, $out) }
sub first_seg { (glob "$_[0]/*.seg")[0] }

# nginx -t of the master's config, with the sanitizer runtime when the
# module under test needs it
sub nginx_t {
    my $dir = "$c->{dir}/master";
    local $ENV{LD_PRELOAD} = $ENV{TEST_NGINX_LD_PRELOAD}
        if $ENV{TEST_NGINX_LD_PRELOAD};
    my $out = `$c->{nginx} -t -p $dir -c $dir/nginx.conf -e $dir/t.log 2>&1`;
    return ($? >> 8, $out);
}

sub patch {
    my ($file, $off, $bytes) = @_;
    open my $fh, '+<:raw', $file or die "$file: $!";
    seek $fh, $off, 0;
    print $fh $bytes;
    close $fh;
}

sub peek {
    my ($file, $off, $len) = @_;
    open my $fh, '<:raw', $file or die "$file: $!";
    seek $fh, $off, 0;
    my $buf;
    read $fh, $buf, $len;
    return $buf;
}

# the master alone (wc=1 needs only it), fsync=always; a first start with
# an empty directory would wait for its secondaries (replog_recovery), a
# restart with its own log does not
$c->start_master(DATA_DIR => $mdata, FSYNC => 'always',
                 REPLOG_RECOVERY => 'off');
ok $c->wait_open, 'a master with path= and no log yet opens';

my $n = 200;
my %sent;
for my $i (1 .. $n) {
    my ($st, $res) = $c->post('/messages?wc=1', "m$i \"q\" \x{e9}");
    $sent{$res->{meta}{message_id}} = "m$i \"q\" \x{e9}" if $st == 201;
}
is scalar(keys %sent), $n, "$n messages answered 201";
my $before = $c->stored('master');

$c->kill9('master');

my ($rc, $out) = tool('verify', $mdata);
is $rc, 0, 'replog-log verify: the log the module wrote is whole';
like $out, qr/$n messages, ids 1\.\.$n, 1 segments, whole/,
    '... every message in it';

($rc, $out) = tool('dump', $mdata);
is $rc, 0, 'replog-log dump exits 0';
my @lines = split /\n/, $out;
is scalar(@lines), $n, "... one line per message";
my @ids = map { (split /\t/)[0] } @lines;
is_deeply \@ids, [1 .. $n], '... in id order';
like $lines[6], qr/^7\t\S+\.seg\t\d+\t"m7 \\"q\\" \\u00e9"$|^7\t\S+\.seg\t\d+\t"m7 \\"q\\" \x{c3}\x{a9}"$/,
    '... with the message as stored';
sub offsets {
    my %o;
    for (split /\n/, $_[0]) {
        my @f = split /\t/;
        $o{$f[0]} = $f[2];
    }
    return %o;
}
my %off = offsets($out);

# a restart replays it: open at once, no recovery wait
$c->start_master(DATA_DIR => $mdata, FSYNC => 'always',
                 REPLOG_RECOVERY => 'on');
is $c->health('master')->{state}, 'open',
    'the restarted master is open at once (its own log)';
is $c->stored('master'), $before, '... with exactly the same messages';
like slurp("$c->{dir}/master/error.log"),
    qr/replog_zone "log": $n messages replayed from "\Q$mdata\E"/,
    '... and says how many it replayed';
my ($st, $res) = $c->post('/messages?wc=1', 'next');
is $res->{meta}{message_id}, $n + 1, 'the next message continues the ids';
$n++;

# a torn tail: garbage after the last whole record
$c->stop('master');
my $seg = first_seg($mdata);
($rc, $out) = tool('verify', $mdata);
my ($end) = $out =~ /\tend (\d+)/;
patch($seg, $end, "\x05\x00\x00\x00garbage-after-the-end");
($rc, $out) = tool('verify', $mdata);
is $rc, 1, 'verify: a torn tail exits 1';
like $out, qr/torn tail at offset $end: 25 bytes would be dropped/,
    '... naming the offset and the bytes';

# nginx -t only reads: the tail is still there after it
my ($trc, $t) = nginx_t();
is $trc, 0, 'nginx -t accepts a log with a torn tail';
is peek($seg, $end, 4), "\x05\x00\x00\x00", '... and leaves the file as it was';

$c->start_master(DATA_DIR => $mdata, FSYNC => 'always');
my $log = slurp("$c->{dir}/master/error.log");
my @warns = $log =~ /(\[warn\].*torn tail.*)/g;
is scalar(@warns), 1, 'one warning for the torn tail';
like $warns[0] // '', qr/torn tail of "\Q$seg\E" cut at offset $end: 25 bytes dropped/,
    '... naming the file, the offset and the bytes dropped';
is scalar(@{ $c->messages('master') }), $n, 'every message before it is served';
($rc) = tool('verify', $mdata);
is $rc, 0, 'the cut log verifies whole';
($st, $res) = $c->post('/messages?wc=1', 'after the cut');
is $st, 201, 'writes go on after the cut';
$n++;

# a bad checksum in the middle: the master refuses to start
$c->stop('master');
my $o7 = $off{7};
my $saved = peek($seg, $o7 + 30, 1);
patch($seg, $off{7} + 30, 'Z');
($rc, $out) = tool('verify', $mdata);
is $rc, 2, 'verify: damage in the middle exits 2';
like $out, qr/damaged at offset $o7: a bad checksum after id 6/,
    '... naming the offset and what is wrong';

($trc, $t) = nginx_t();
isnt $trc, 0, 'nginx -t fails on it';
like $t, qr/"\Q$seg\E" is damaged at offset $o7: a bad checksum after id 6/,
    '... naming the file and the offset';

ok !eval { $c->start_master(DATA_DIR => $mdata, FSYNC => 'always'); 1 },
    'the master does not start';
like slurp("$c->{dir}/master/error.log"),
    qr/\[emerg\].*the master's log in "\Q$mdata\E" is damaged in the middle: restore the directory from a backup, or move it away/,
    '... with an emerg saying what to do';
patch($seg, $off{7} + 30, $saved);

# a secondary with a bad record in the middle discards its log
$c->start_master(DATA_DIR => $mdata, FSYNC => 'always');
$c->start_secondary('s1', DATA_DIR => $sdata, FSYNC => 'always');
ok $c->wait_for(sub { $c->acked('s1') == $n }, 20), "s1 caught up to $n";
$c->stop_helper('s1');
$c->kill9('s1');
my %soff = offsets(scalar `$Tool dump $sdata`);
patch(first_seg($sdata), $soff{9} + 30, 'Z');
$c->start_secondary('s1', DATA_DIR => $sdata, FSYNC => 'always');
like slurp("$c->{dir}/s1/error.log"),
    qr/the secondary's log in "\Q$sdata\E" is damaged: it is discarded, the master catches this node up again/,
    's1 logs that it discards its damaged log';
ok $c->wait_for(sub { $c->health('s1')->{last_id} == $n }, 20),
    's1 is caught up again';
is $c->stored('s1'), $c->stored('master'), 's1 shows what the master does';
($rc) = tool('verify', $sdata);
is $rc, 0, "s1's new log verifies whole";

$c->stop_all;

done_testing;
