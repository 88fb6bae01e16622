# The durable log on a full disk: a small tmpfs mounted by the test, a
# master with fsync=always whose first segment cannot be allocated.  Writes
# get 507 with Retry-After while the disk is full, resume by themselves
# when space returns, and nothing answered 201 is lost.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';
plan skip_all => 'mounting a tmpfs needs root' if $> != 0;

my $c = Replog::Cluster->new(name => 'durable-full', cluster_size => 1);
my $mnt = "$c->{dir}/disk";
mkdir $mnt or die "$mnt: $!";
system('mount', '-t', 'tmpfs', '-o', 'size=80m', 'tmpfs', $mnt) == 0
    or plan skip_all => 'cannot mount a tmpfs here';

my $data = "$mnt/data";
my $ballast = "$mnt/ballast";

# 40 of the 80 MiB taken: the first 64 MiB segment does not fit
system('dd', 'if=/dev/zero', "of=$ballast", 'bs=1M', 'count=40',
       'status=none') == 0 or die 'dd';

$c->start_master(DATA_DIR => $data, FSYNC => 'always',
                 REPLOG_RECOVERY => 'off');

my ($st, $res) = $c->post('/messages?wc=1&timeout=500', 'first');
is $st, 504, 'the first write waits for a disk that has no room, then 504';

my $h;
($st, $res, $h) = $c->post('/messages?wc=1', 'refused');
is $st, 507, 'while the disk is full, writes get 507';
like $res->{error} // '', qr/durable log .* cannot be written \(disk full\)/,
    '... saying why, in JSON';
ok $h->{'retry-after'}, '... with Retry-After';

unlink $ballast or die;

ok $c->wait_for(sub {
    my ($s) = $c->post('/messages?wc=1&timeout=2000', 'probe');
    $s == 201;
}, 20), 'writes resume by themselves once there is room';

my @ok;
for my $i (1 .. 20) {
    ($st, $res) = $c->post('/messages?wc=1', "after $i");
    push @ok, $res->{meta}{message_id} if $st == 201;
}
is scalar(@ok), 20, '20 more answered 201';

my $before = $c->stored('master');
$c->kill9('master');
$c->start_master;
is $c->stored('master'), $before, 'after kill -9 and a restart: the same log';
my @texts = @{ $c->texts('master') };
is $texts[0], 'first', 'the message of the 504 is in the log (committed)';
ok !grep({ $_ eq 'refused' } @texts), 'the one answered 507 is not';
my (undef, undef, undef, $metrics) = $c->request('master', 'GET', '/metrics');
like $metrics // '', qr/replog_log_synced_entries_total\{node="master"\} 0\n/,
    'a fresh start has made nothing durable yet';

$c->stop_all;
system('umount', $mnt);

done_testing;
