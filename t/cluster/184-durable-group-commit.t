# Group commit without fsync=always: with fsync=off the writer takes the
# appends of a millisecond in one write (fewer writes than messages under
# parallel posts), and a graceful stop right after the last answer still
# leaves every message in the files; with fsync=100ms there are about as
# many fdatasyncs as intervals while messages come, not one per write,
# and the durable mark reaches the end soon after they stop.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use Replog::Cluster;

my $Top = Replog::Cluster->top;
my $Tool = "$Top/build/replog-log";

plan skip_all => 'build/replog-register or build/replog-log is missing'
    unless -x "$Top/build/replog-register" && -x $Tool;

my $c = Replog::Cluster->new(name => 'durable-group', cluster_size => 1);

sub metrics {
    my (undef, undef, undef, $raw) = $c->request('master', 'GET', '/metrics');
    my %m;
    $m{$1} = $2 while ($raw // '') =~ /^replog_(\w+)\{[^}]*\} (\d+)$/mg;
    return \%m;
}

# $procs processes posting wc=1 for $secs seconds or $n messages each;
# returns the ids answered 201
sub post_parallel {
    my ($procs, $n, $secs, $tag) = @_;
    my @kids;
    for my $k (1 .. $procs) {
        pipe my $r, my $w or die $!;
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $r;
            my $until = time + $secs;
            for my $i (1 .. $n) {
                last if time > $until;
                my ($st, $res) = $c->post('/messages?wc=1', "$tag-$k-$i");
                print $w "$res->{meta}{message_id}\n" if $st == 201;
            }
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    my @ids;
    for (@kids) {
        my ($pid, $r) = @$_;
        push @ids, map { chomp; $_ } <$r>;
        waitpid $pid, 0;
    }
    return @ids;
}

# fsync=off: one write for many appends, all of them written by a stop
my $data = "$c->{dir}/off-data";
$c->start_master(DATA_DIR => $data, FSYNC => 'off', REPLOG_RECOVERY => 'off');
ok $c->wait_open, 'fsync=off: the master opens';

my @ids = post_parallel(8, 150, 30, 'off');
is scalar(@ids), 1200, 'fsync=off: 1200 messages answered 201';
my $m = metrics();
cmp_ok $m->{log_flushes_total}, '>', 0, '... the writer wrote';
cmp_ok $m->{log_flushes_total}, '<', 1200 / 2,
    '... in fewer writes than half the messages (group commit)';
diag "fsync=off: 1200 messages in $m->{log_flushes_total} writes";

$c->stop('master');

my $out = `$Tool dump $data 2>&1`;
is $? >> 8, 0, 'a graceful stop right after: replog-log dump exits 0';
my @lines = split /\n/, $out;
is_deeply [map { (split /\t/)[0] } @lines], [1 .. 1200],
    '... every answered message is in the files';

# fsync=100ms: fdatasyncs by the interval, not by the write
$data = "$c->{dir}/time-data";
$c->start_master(DATA_DIR => $data, FSYNC => '100ms',
                 REPLOG_RECOVERY => 'off');
ok $c->wait_open, 'fsync=100ms: the master opens';

my $m0 = metrics();
my $t0 = time;
@ids = post_parallel(4, 100000, 1.5, 'time');
my $elapsed = time - $t0;
my $m1 = metrics();
my $fsyncs = $m1->{log_fsyncs_total} - $m0->{log_fsyncs_total};
my $writes = $m1->{log_flushes_total} - $m0->{log_flushes_total};
diag sprintf "fsync=100ms: %d messages in %.2f s: %d writes, %d fsyncs",
    scalar(@ids), $elapsed, $writes, $fsyncs;
cmp_ok scalar(@ids), '>', 100, 'fsync=100ms: messages answered 201';
cmp_ok $fsyncs, '<=', int($elapsed / 0.1) + 2,
    '... at most one fdatasync per interval';
cmp_ok $fsyncs, '<', $writes, '... fewer than the writes';

my $last = $m1->{last_id};
ok $c->wait_for(sub { metrics()->{log_durable_id} == $last }, 2),
    '... and the durable mark reaches the end after the writes stop';

$c->stop_all;
done_testing;
