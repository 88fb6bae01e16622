# A secondary's POST /replicate in plain Perl: the service key against every
# token, the key derived from the api key, and replog_delay (a batch waits
# on a timer while the worker serves others).  The block tests are in
# t/010-replicate.t.
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time sleep);

our $T  = '2026-01-01T00:00:00.000000Z';

our $EA = '0123456789abcdef';

our $Empty = qq/{"data":[]}\n/;

# An entry of a batch, the original's message shape, from raw JSON values:
# ent(message_id, registered_at, message); an undef member is left out.
sub ent {
    my ($id, $t, $m) = @_;
    my @meta = ((defined $id ? qq/"message_id":$id/ : ()),
                (defined $t ? qq/"registered_at":$t/ : ()));
    return '{' . (defined $m ? qq/"message":$m,/ : '')
         . '"meta":{' . join(',', @meta) . '}}';
}

# A batch body: batch($epoch, id => text, id => text, ...)
sub batch {
    my ($epoch, @pairs) = @_;
    my @e;
    while (my ($id, $m) = splice @pairs, 0, 2) {
        push @e, ent($id, qq/"$T"/, qq/"$m"/);
    }
    return qq/{"epoch":"$epoch","entries":[/ . join(',', @e) . ']}';
}

# The exact GET /messages text of these entries on the secondary s1: it
# names itself as the holder.
sub list {
    my (@pairs) = @_;
    my @e;
    while (my ($id, $m) = splice @pairs, 0, 2) {
        push @e, qq/{"message":"$m","meta":{"message_id":$id,"registered_at":"$T","registered_to":["s1"]}}/;
    }
    return '{"data":[' . join(',', @e) . "]}\n";
}

# An answer of s1: its acked_id, id and the epoch of its log (EA unless told)
sub acked {
    my ($n, $e) = @_;
    $e //= $EA;
    return qq/{"acked_id":$n,"id":"s1","epoch":"$e"}\n/;
}

sub err { qq/{"error":"$_[0]","detail":"$_[0]"}\n/ }

workers(1);
log_level('info');

# The service key: node-to-node endpoints take only it, client endpoints
# take only the api key.
{
    start_nginx_conf(<<'EOF', http_config => 'replog_zone s 1m;');
    replog_node zone=s role=secondary id=s1;
    replog_api_key secret;
    replog_service_key svc;
    location / { replog_api; }
EOF
    my $b1 = batch($EA, 1 => 'one');
    my @cases = (
        [ undef,        403, 'no x-token' ],
        [ 'wrong',      403, 'a wrong x-token' ],
        [ 'secret',     403, 'the api key, while a service key is set' ],
        [ 'sv',         403, 'a prefix of the service key' ],
        [ 'svcc',       403, 'the service key and more' ],
        [ 'SVC',        403, 'the service key in other case' ],
    );
    for my $c (@cases) {
        my ($tok, $want, $what) = @$c;
        my ($st, $h, $body) = http_request(port(), 'POST', '/replicate', $b1,
            { 'Content-Type' => 'application/json',
              defined $tok ? ('x-token' => $tok) : () });
        is($st, $want, "service key: $what -> $want");
        is($body, err('missing or invalid x-token'), "service key: $what: JSON body");
    }

    my ($st, $h, $body) = http_request(port(), 'GET', '/messages', undef,
                                       { 'x-token' => 'secret' });
    is($st, 200, 'service key: nothing was applied (api key reads)');
    is($body, $Empty, 'service key: the log is still empty');

    ($st, $h, $body) = http_request(port(), 'POST', '/replicate', $b1,
                                    { 'x-token' => 'svc' });
    is($st, 200, 'service key: the service key is taken');
    is($body, acked(1), 'service key: applied');

    # nodes read each other's logs (recovery) with the service key
    ($st, $h, $body) = http_request(port(), 'GET', '/messages', undef,
                                    { 'x-token' => 'svc' });
    is($st, 200, 'service key: reads GET /messages (node to node)');
    ($st, $h, $body) = http_request(port(), 'GET', '/messages');
    is($st, 403, 'service key: GET /messages without a token');
    ($st, $h, $body) = http_request(port(), 'GET', '/messages', undef,
                                    { 'x-token' => 'secret' });
    is($body, list(1 => 'one'), 'service key: the api key reads the entry');

    # GET /replicate: the token is checked first, then the method
    ($st, $h, $body) = http_request(port(), 'GET', '/replicate');
    is($st, 403, 'service key: GET /replicate without a token -> 403');
    ($st, $h, $body) = http_request(port(), 'GET', '/replicate', undef,
                                    { 'x-token' => 'svc' });
    is($st, 405, 'service key: GET /replicate with the token -> 405');
    is($h->{allow}, 'POST', 'service key: Allow: POST');
    stop_nginx();
}

# Without replog_service_key the key derived from the api key serves node
# to node, never the api key itself.
{
    start_nginx_conf(<<'EOF', http_config => 'replog_zone s 1m;');
    replog_node zone=s role=secondary id=s1;
    replog_api_key secret;
    location / { replog_api; }
EOF
    my $b1 = batch($EA, 1 => 'one');
    my ($st, $h, $body) = http_request(port(), 'POST', '/replicate', $b1);
    is($st, 403, 'api key only: no token -> 403');
    ($st, $h, $body) = http_request(port(), 'POST', '/replicate', $b1,
                                    { 'x-token' => 'other' });
    is($st, 403, 'api key only: wrong token -> 403');
    ($st, $h, $body) = http_request(port(), 'POST', '/replicate', $b1,
                                    { 'x-token' => 'secret' });
    is($st, 403, 'api key only: the api key -> 403');
    ($st, $h, $body) = http_request(port(), 'POST', '/replicate', $b1,
        { 'x-token' => 'a7aa795d89c5c07ddaee29a5e7e97fdd20754f5aef5d1c067aa295783e5aed8d' });
    is($st, 200, 'api key only: the derived key is the service key');
    is($body, acked(1), 'api key only: applied');
    stop_nginx();
}

# A service key without an api key: the node endpoints need it, the client
# API is open ("replog_service_key off" with an api key is refused, see
# t/015-trust.t).
{
    start_nginx_conf(<<'EOF', http_config => 'replog_zone s 1m;');
    replog_node zone=s role=secondary id=s1;
    replog_service_key svc;
    location / { replog_api; }
EOF
    my ($st, $h, $body) = http_request(port(), 'POST', '/replicate',
                                       batch($EA, 1 => 'one'));
    is($st, 403, 'service key only: /replicate without a token -> 403');
    ($st, $h, $body) = http_request(port(), 'POST', '/replicate',
                                    batch($EA, 1 => 'one'),
                                    { 'x-token' => 'svc' });
    is($st, 200, 'service key only: /replicate with it');
    is($body, acked(1), 'service key only: applied');
    ($st, $h, $body) = http_request(port(), 'GET', '/messages');
    is($st, 200, 'service key only: GET /messages needs no token');
    stop_nginx();
}

# replog_delay: a batch waits on a timer, the worker serves others meanwhile;
# a client that goes away during the delay leaves nothing behind.
{
    start_nginx_conf(<<'EOF', http_config => 'replog_zone s 1m;');
    replog_node zone=s role=secondary id=s1;
    replog_delay 1500ms 1500ms;
    location / { replog_api; }
EOF
    my $send = sub {
        my ($body) = @_;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port(),
                                      Proto => 'tcp', Timeout => 5) or die "connect: $@";
        print {$s} "POST /replicate HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                 . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
        return $s;
    };
    my $t0 = time;
    my $s = $send->(batch($EA, 1 => 'a'));
    sleep 0.05;
    my ($st, $h, $body) = http_request(port(), 'GET', '/messages');
    is($st, 200, 'delay: the worker answers others during the delay');
    is($body, $Empty, 'delay: not applied yet');
    cmp_ok(time - $t0, '<', 1.2, 'delay: without waiting for it');

    my $sel = IO::Select->new($s);
    my $buf = '';
    my $until = time + 5;
    while (time < $until) {
        next unless $sel->can_read(0.05);
        last unless sysread($s, $buf, 65536, length $buf);
    }
    close $s;
    like($buf, qr/^HTTP\/1\.1 200 .*\r\n\r\n\{"acked_id":1,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/s, 'delay: then applied and acked');
    cmp_ok(time - $t0, '>=', 1.49, 'delay: after the delay');

    # gone during the delay
    $s = $send->(batch($EA, 2 => 'b'));
    sleep 0.05;
    close $s;
    sleep 1.6;
    ($st, $h, $body) = http_request(port(), 'GET', '/health');
    is($st, 200, 'delay: alive after a client left during the delay');

    # a batch still delayed when nginx stops
    $s = $send->(batch($EA, 3 => 'c'));
    sleep 0.05;
    stop_nginx();
    close $s;
    my @bad = grep { /\[(alert|crit)\]/ } split /\n/, read_error_log();
    ok(!@bad, 'delay: nothing at [alert]/[crit]') or diag(join "\n", @bad);
}

done_testing();
