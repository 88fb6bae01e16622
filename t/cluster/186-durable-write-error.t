# The durable log when the disk refuses a write that is not "disk full":
# the directory is replaced by a file before the first segment is made, so
# creating it fails (ENOTDIR).  The write that was taken waits, new writes
# get 503 with Retry-After and a JSON error while the log cannot be
# written, the writer tries again by itself, and once the directory is
# back every write is answered 201 and nothing answered is lost: the files
# and a restart hold every id, in order.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Test::Nginx::HTTP qw(http_request);
use Replog::Test qw(wait_for jget);
use Replog::Cluster;
use File::Path qw(make_path remove_tree);
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep);

my $Top = Replog::Cluster->top;
my $Tool = "$Top/build/replog-log";

plan skip_all => 'build/replog-log is missing' unless -x $Tool;

workers(2);
log_level('info');

my $Data = "$Top/t/servroot-cluster/186-durable-write-error";
remove_tree($Data);
make_path($Data);
my $D = "$Data/log";

my $Http = "replog_zone log 4m path=$D fsync=always;";
my $Conf = <<'EOF';
    replog_node zone=log role=master id=m;
    replog_cluster_size 1;
    location / { replog_api; }
EOF

sub post {
    my ($text, $timeout) = @_;
    my ($st, $h, $b) = http_request(port(), 'POST', '/messages?wc=1',
                                    qq/{"message":"$text"}/, {},
                                    timeout => $timeout // 5);
    my $j = eval { JSON::PP->new->decode($b // '') } // {};
    return ($st // 0, $h // {}, $j);
}

sub dumped {
    my $out = `$Tool dump $D 2>&1`;
    return [ map { [ (split /\t/)[0, 3] ] } split /\n/, $out ];
}

start_nginx_conf($Conf, http_config => $Http);
ok(-d $D, 'the directory is made at the start');

# no segment yet: the first write must create one, and cannot
rename $D, "$D.away" or die "rename: $!";
open my $fh, '>', $D or die "$D: $!";
close $fh;

# the first write waits for the disk, in a child
my $first = fork // die "fork: $!";
if ($first == 0) {
    my ($st, $h, $j) = post('first', 15);
    POSIX::_exit($st == 201 && ($j->{meta}{message_id} // 0) == 1 ? 0 : 1);
}

ok(wait_for(sub { read_error_log() =~ /\[crit\].*writing the log/ }, 10),
   'the writer fails on the first write');

my ($st, $h, $j) = post('refused');
is($st, 503, 'while the log cannot be written, a write gets 503');
is($h->{'retry-after'}, 1, '... with Retry-After');
like($j->{error} // '', qr/the durable log of replog_zone "log" cannot be written \(write error\): nothing was stored, retry/,
     '... and a JSON error saying so');
like(read_error_log(), qr/\[crit\].*replog_zone "log": writing the log in "\Q$D\E" failed after id 0: .*\(20: Not a directory\)/,
     'the failure is logged with its cause');
is(waitpid($first, WNOHANG), 0, 'the first write is still waiting');

# the directory comes back: the writer tries again by itself
unlink $D or die "unlink: $!";
rename "$D.away", $D or die "rename: $!";

ok(wait_for(sub { !kill(0, $first) || waitpid($first, WNOHANG) > 0 }, 10),
   'the first write is answered');
is($? >> 8, 0, '... 201 with id 1');

my @ids = (1);
for my $i (1 .. 5) {
    ($st, $h, $j) = post("after $i");
    push @ids, $j->{meta}{message_id} if $st == 201;
}
is(scalar @ids, 6, 'writes resume: 5 more answered 201');
is_deeply(\@ids, [1 .. 6], '... with the ids that follow');

ok(wait_for(sub { @{ dumped() } == 6 }, 5), 'the files hold 6 messages');
is_deeply([ map { $_->[1] } @{ dumped() } ],
          [ '"first"', map { qq/"after $_"/ } 1 .. 5 ],
          '... the ones answered 201, in order; the refused one is not there');

stop_nginx();
start_nginx_conf($Conf, http_config => $Http);
is_deeply([ map { $_->{meta}{message_id} } @{ jget(port(), '/messages')->{data} } ],
          [1 .. 6], 'a restart serves all 6');
like(scalar `$Tool verify $D`, qr/6 messages, ids 1\.\.6, 1 segments, whole/,
     '... and replog-log verify finds the log whole');
stop_nginx();

done_testing;
