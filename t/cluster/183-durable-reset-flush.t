# A /reset while the durable writer flushes a large batch: the writer
# copies entries without the zone lock, and a reset frees them.  The test
# plays the master: it sends a secondary (path=, fsync=always) about 7 MB
# of batches over several connections without waiting for their answers,
# resets it at once, sends a small batch of another epoch and waits for
# its ack.  After a kill -9, replog-log dump shows exactly that batch (no
# record from before the reset, no record with bytes of another entry),
# and a restart serves exactly it.  Three rounds.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET ();
use Time::HiRes qw(sleep);
use Replog::Cluster;

my $Top = Replog::Cluster->top;
my $Tool = "$Top/build/replog-log";

plan skip_all => 'build/replog-register or build/replog-log is missing'
    unless -x "$Top/build/replog-register" && -x $Tool;

my $T = '2026-01-01T00:00:00.000000Z';
my $c = Replog::Cluster->new(name => 'durable-reset-flush',
                             cluster_size => 2);
my $data = "$c->{dir}/s1-data";
my %opt = (helper => 0, DATA_DIR => $data, FSYNC => 'always');

sub batch {
    my ($epoch, $from, $to, $text) = @_;
    return qq/{"epoch":"$epoch","entries":[/
         . join(',', map {
               qq/{"message":"/ . $text->($_) . qq/","meta":{"message_id":$_,/
               . qq/"registered_at":"$T"}}/
           } $from .. $to)
         . ']}';
}

# a batch written whole on its own connection, its answer not read
sub send_batch {
    my ($body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $c->port('s1'))
        or die "connect: $!";
    print $s "POST /replicate HTTP/1.1\r\nHost: localhost\r\n"
           . "x-token: " . $c->service_key . "\r\n"
           . "Content-Type: application/json\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n" . $body;
    return $s;
}

# the log's end and its durable mark, from /metrics
sub marks {
    my (undef, undef, undef, $raw) = $c->request('s1', 'GET', '/metrics');
    $raw //= '';
    my ($l) = $raw =~ /^replog_last_id\{[^}]*\} (\d+)$/m;
    my ($d) = $raw =~ /^replog_log_durable_id\{[^}]*\} (\d+)$/m;
    return ($l // 0, $d // 0);
}

my $hit = 0;
my $pad = 'x' x 960;
my ($per, $conns) = (900, 8);

for my $round (1 .. 3) {
    $c->start_secondary('s1', %opt);

    # from an empty log: any epoch is taken
    my ($st) = $c->request('s1', 'POST', '/reset');
    is $st, 200, "round $round: the secondary is reset first";

    my @socks;
    for my $k (0 .. $conns - 1) {
        my $from = $k * $per + 1;
        push @socks, send_batch(batch("a${round}00000000000000", $from,
                                      $from + $per - 1,
                                      sub { "old-$round-$_[0]-$pad" }));
    }

    # every batch applied (a batch of another epoch after the reset
    # would be refused), then the reset at once, the writer behind
    my ($last, $durable) = (0, 0);
    for (1 .. 2000) {
        ($last, $durable) = marks();
        last if $last >= $per * $conns;
        sleep 0.002;
    }
    is $last, $per * $conns, "round $round: the batches are applied";

    ($st) = $c->request('s1', 'POST', '/reset');
    is $st, 200, "round $round: reset while the writer flushes";
    close $_ for @socks;
    $hit++ if $durable < $last;

    my $n = 50;
    my ($bst, $ack) = $c->request('s1', 'POST', '/replicate',
        batch("b${round}00000000000000", 1, $n, sub { "new-$round-$_[0]" }));
    is $bst, 200, "round $round: a batch of a new epoch after it";
    is ref $ack && $ack->{acked_id}, $n, "... acked durable, $n entries";

    $c->kill9('s1');

    my $out = `$Tool dump $data 2>&1`;
    is $? >> 8, 0, "round $round: replog-log dump of the files exits 0";
    my @lines = split /\n/, $out;
    my @ids = map { (split /\t/)[0] } @lines;
    is_deeply \@ids, [1 .. $n], "... only the ids after the reset";
    my @bad = grep { !/\t"new-$round-(\d+)"$/ || $1 != (split /\t/)[0] }
              @lines;
    is scalar(@bad), 0, '... each with its own message'
        or diag "first: $bad[0]";

    $out = `$Tool verify $data 2>&1`;
    is $? >> 8, 0, '... and the log is whole' or diag $out;

    $c->start_secondary('s1', %opt);
    my $texts = $c->texts('s1');
    is_deeply $texts, [map { "new-$round-$_" } 1 .. $n],
        "round $round: restarted, it serves exactly those";
    $c->stop('s1');
}

diag "$hit of 3 resets came before the durable mark reached the log's end";

$c->stop_all;
done_testing;
