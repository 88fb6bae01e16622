# A reload that resizes a zone copies the log and the registry into the new
# zone; old workers still finishing a request must then not change the old
# copy that nobody reads any more.  A /register on the master, a /replicate
# and a /reset on a secondary, all read in part before the reload
# and finished after it: each answers 503 with Retry-After in JSON (the new
# workers take the retry), never 200 for a change that is lost.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget);
use IO::Socket::INET ();
use IO::Select ();
use JSON::PP ();
use Time::HiRes qw(time sleep);

workers(2);
log_level('info');

my $EPOCH = '0123456789abcdef';

sub http_conf {
    my ($size) = @_;
    return "replog_zone z $size;";
}

# reads $n whole replies (Content-Length bodies) within 5 s
sub read_replies {
    my ($sock, $n) = @_;
    my ($buf, @r) = ('');
    my $sel = IO::Select->new($sock);
    my $until = time + 5;

    while (@r < $n && time < $until) {
        if ($buf =~ /\A(HTTP\/1\.\d (\d{3})[^\r]*\r\n(.*?)\r\n\r\n)/s) {
            my ($head, $st, $hdr) = ($1, $2, $3);
            my ($len) = $hdr =~ /^content-length:\s*(\d+)/mi;
            $len //= 0;
            if (length($buf) >= length($head) + $len) {
                push @r, { status => $st, head => $hdr,
                           body => substr($buf, length($head), $len) };
                substr($buf, 0, length($head) + $len) = '';
                next;
            }
        }
        last unless $sel->can_read($until - time);
        my $got = sysread($sock, $buf, 65536, length $buf);
        last unless $got;
    }

    return @r;
}

sub connect_port {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => port(), Timeout => 2)
        or die "connect: $!";
    return $s;
}

sub request {
    my ($method, $uri, $body) = @_;
    return "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Length: " . length($body) . "\r\n\r\n$body";
}

# the master: a registration half read across a resizing reload
{
    my $conf = <<'EOF';
    replog_node zone=z role=master id=m;
    replog_cluster_size 1;
    location / { replog_api; }
EOF
    start_nginx_conf($conf, http_config => http_conf('4m'));

    my $dead = rand_port(3);
    my $body = qq/{"id":"s1","port":$dead,"epoch":"$EPOCH","acked_id":0}/;
    my $req = request('POST', '/register', $body);
    my $cut = length($req) - 5;

    my $sock = connect_port();
    syswrite($sock, substr($req, 0, $cut));
    sleep 0.2;

    ok(reload_nginx($conf, http_config => http_conf('8m')),
       'master: reloaded with a larger zone');

    syswrite($sock, substr($req, $cut));
    my ($r) = read_replies($sock, 1);

    is($r->{status} // '', 503, 'master: the old worker answers 503');
    like($r->{head} // '', qr/^Retry-After: 1\r?$/mi, 'master: with Retry-After');
    like($r->{body} // '', qr/^\{"error":"the registry moved to the resized replog_zone/,
         'master: in JSON');

    my @ids = map { $_->{id} } @{ jget(port(), '/secondaries')->{data} };
    is_deeply(\@ids, [], 'master: the refused registration left nothing behind');

    my ($st) = http_request(port(), 'POST', '/register', $body);
    is($st, 200, 'master: the retry on a new worker registers');
    @ids = map { $_->{id} } @{ jget(port(), '/secondaries')->{data} };
    is_deeply(\@ids, ['s1'], 'master: and is listed');

    stop_nginx();
}

# a secondary: a batch half read, a /reset with half its header
{
    my $conf = <<'EOF';
    replog_node zone=z role=secondary id=s1;
    location / { replog_api; }
EOF
    start_nginx_conf($conf, http_config => http_conf('4m'));

    my $entry = sub {
        my ($id) = @_;
        qq/{"message":"m$id","meta":{"message_id":$id,"registered_at":"2026-01-01T00:00:00.00000${id}Z"}}/;
    };

    my ($st) = http_request(port(), 'POST', '/replicate',
        qq/{"epoch":"$EPOCH","entries":[/ . $entry->(1) . ',' . $entry->(2) . ']}');
    is($st, 200, 'secondary: holds 2 messages');

    my $batch = request('POST', '/replicate',
                        qq/{"epoch":"$EPOCH","entries":[/ . $entry->(3) . ']}');
    my $cut = length($batch) - 5;

    my $reset = request('POST', '/reset', '');

    my $sock = connect_port();
    syswrite($sock, substr($batch, 0, $cut));
    my $rsock = connect_port();
    syswrite($rsock, substr($reset, 0, length($reset) - 2));
    sleep 0.2;

    ok(reload_nginx($conf, http_config => http_conf('8m')),
       'secondary: reloaded with a larger zone');

    syswrite($sock, substr($batch, $cut));
    syswrite($rsock, "\r\n");
    my @r = (read_replies($sock, 1), read_replies($rsock, 1));

    is($r[0]{status} // '', 503, 'secondary: the batch is answered 503');
    like($r[0]{head} // '', qr/^Retry-After: 1\r?$/mi, 'secondary: with Retry-After');
    like($r[0]{body} // '', qr/^\{"error":"the log moved to a resized replog_zone.*"acked_id":2,"id":"s1"/,
         'secondary: in JSON, with its acked_id and id');
    like($r[1]{body} // '', qr/^\{"error":"the log moved to a resized replog_zone/,
         'secondary: in JSON');
    is($r[1]{status} // '', 503, 'secondary: the /reset is answered 503')
        or diag explain $r[1];

    my $data = jget(port(), '/messages')->{data};
    is(scalar @$data, 2, 'secondary: the new zone holds the 2 messages');

    ($st) = http_request(port(), 'POST', '/replicate',
        qq/{"epoch":"$EPOCH","entries":[/ . $entry->(3) . ']}');
    is($st, 200, 'secondary: the batch again is stored by a new worker');
    is(scalar @{ jget(port(), '/messages')->{data} }, 3, 'secondary: 3 messages');

    stop_nginx();
}

done_testing;
