# A keepalive client sending wc=1 messages is never slowed by a secondary
# that delays every batch by 5 s: replication runs on the module's own
# connections, not inside client requests.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time);
use Replog::Cluster;

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $c = Replog::Cluster->new(name => 'keepalive', cluster_size => 2);

$c->start_master;
$c->start_secondary('slow', DELAY => '5,5');
ok $c->wait_for(sub { $c->status('slow') eq 'HEALTHY' }, 15),
    'the delayed secondary registered';
ok $c->wait_open, 'the master is open for writes';

my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => $c->port('master'),
                                 Timeout => 10) or die $!;

my ($worst, $n, $start) = (0, 20, time);

for my $i (1 .. $n) {
    my $body = qq({"message":"keepalive $i"});
    my $t0 = time;
    print $sock "POST /messages?wc=1 HTTP/1.1\r\nHost: x\r\n"
        . "x-token: $c->{api_key}\r\nContent-Length: " . length($body)
        . "\r\n\r\n$body";

    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        sysread($sock, $head, 1, length $head) or die "closed";
    }
    my ($len) = $head =~ /Content-Length: (\d+)/i;
    my $got = '';
    sysread($sock, $got, $len - length($got), length $got)
        while length($got) < $len;

    like $head, qr{^HTTP/1.1 201}, "message $i: 201 on the same connection"
        if $i == 1 || $i == $n;
    my $dt = time - $t0;
    $worst = $dt if $dt > $worst;
}

cmp_ok $worst, '<', 0.5, "no answer took 0.5 s (worst ${\ sprintf '%.3f', $worst} s)";
cmp_ok time - $start, '<', 2, "$n answers well under one 5 s delay";

ok $c->wait_for(sub { $c->acked('slow') >= $n }, 30),
    'the delayed secondary gets them all in the end';

$c->stop_all;
done_testing;
