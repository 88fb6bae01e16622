# Who may do what: the client key and the service key, the keys of a
# location, the registered address behind realip, and where the master's
# URL shown to clients comes from.
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET ();

# Ports for the stand-ins, in the environment: config sections read them
# as $TEST_NGINX_S1_PORT, requests (which the runners do not expand) as
# $ENV{TEST_NGINX_S1_PORT}.
{
    my @s = map { IO::Socket::INET->new(Listen => 1,
                                        LocalAddr => '127.0.0.1') } 1 .. 1;
    $ENV{"TEST_NGINX_$_"} //= shift(@s)->sockport for qw(S1_PORT);
}

our $T  = '2026-01-01T00:00:00.000000Z';
our $EA = '0123456789abcdef';
our $EB = 'fedcba9876543210';

# hex SHA-256 of "KEY&028ABC...61702", computed once with Python's hashlib
our $DerivedSecret = 'a7aa795d89c5c07ddaee29a5e7e97fdd20754f5aef5d1c067aa295783e5aed8d';
our $DerivedEnv    = '1b3ffcfc930b83806fa7de7111f8554601191b9509a9212c6c36e7548639760a';

our $Forbidden = qq/{"error":"missing or invalid x-token","detail":"missing or invalid x-token"}\n/;

sub rep {
    my ($epoch, $id, $m) = @_;
    return "POST /replicate\n"
         . qq/{"epoch":"$epoch","entries":[{"message":"$m","meta":{"message_id":$id,"registered_at":"$T"}}]}/;
}

sub reg { qq/POST $_[0]\n{"id":"$_[1]","port":$_[2]}/ }

# One request on its own connection with its own headers (for init).
sub raw_http {
    my ($port, $method, $uri, $headers, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5)
        or die "connect: $!";
    my $req = "$method $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            . join('', map { "$_\r\n" } @$headers)
            . 'Content-Length: ' . length($body // '') . "\r\n\r\n" . ($body // '');
    print $s $req;
    my $res = '';
    while (defined(my $l = <$s>)) { $res .= $l; last if length $res > 65536 }
    close $s;
    my ($st) = $res =~ m{^HTTP/1\.1 (\d+)};
    die "init request $uri: status " . ($st // 'none') . "\n$res" unless $st && $st == 200;
    return $res;
}

repeat_each(1);
workers(1);
log_level('info');
no_shuffle();
no_root_location();    # the tests define "location /" themselves

# The configuration most blocks share, given to those without their own.
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => <<'EOF') unless defined $block->http_config;
    replog_zone s 1m;
EOF
});

run_tests();

__DATA__

=== TEST 1: replog_api_key only in a location: /replicate and /reset are not open
--- config
    replog_node zone=s role=secondary id=s1;
    location / { replog_api_key secret; replog_api; }
--- request eval
[::rep($::EA, 1, 'forged'),
 "POST /reset\n{}",
 "GET /messages"]
--- error_code eval
[403, 403, 403]
--- response_body eval
[($::Forbidden) x 3]
--- no_error_log
[error]



=== TEST 2: replog_api_key only in a location: /register on a master is not open
--- http_config
    replog_zone m 1m;
--- config
    replog_node zone=m role=master id=m;
    location / { replog_api_key secret; replog_api; }
--- request eval
[::reg('/register', 's1', 1), ::reg('/secondary/register', 's2', 2)]
--- error_code eval
[403, 403]
--- response_body eval
[($::Forbidden) x 2]
--- no_error_log
[error]



=== TEST 3: the client key is refused on /replicate and /reset, the derived key is taken
--- config
    replog_node zone=s role=secondary id=s1;
    replog_api_key secret;
    location / { replog_api; }
--- more_headers
x-token: secret
--- request eval
[::rep($::EA, 1, 'forged'),
 "POST /reset\n{}",
 "GET /messages"]
--- error_code eval
[403, 403, 200]
--- response_body eval
[$::Forbidden, $::Forbidden, qq/{"data":[]}\n/]
--- no_error_log
[error]



=== TEST 4: the derived key applies a batch, reads the list and resets; the client key reads
--- config
    replog_node zone=s role=secondary id=s1;
    replog_api_key secret;
    location / { replog_api; }
--- more_headers
x-token: a7aa795d89c5c07ddaee29a5e7e97fdd20754f5aef5d1c067aa295783e5aed8d
--- request eval
[::rep($::EA, 1, 'one'),
 "GET /messages",
 "POST /reset\n{}",
 "GET /messages"]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/"acked_id":1\b/,
 qr/^\{"data":\[\{"message":"one","meta":\{"message_id":1,"registered_at":"[^"]+","registered_to":\[[^]]*\]\}\}\]\}\n\z/,
 qr/"reset":true/,
 qr/^\{"data":\[\]\}\n\z/]
--- no_error_log
[error]
are open to anyone



=== TEST 5: the client key is refused on a master's /register
--- http_config
    replog_zone m 1m;
--- config
    replog_node zone=m role=master id=m;
    replog_api_key secret;
    location / { replog_api; }
--- more_headers
x-token: secret
--- request eval
[::reg('/register', 's1', 1), ::reg('/secondary/register', 's2', 2),
 "GET /secondaries"]
--- error_code eval
[403, 403, 200]
--- response_body eval
[$::Forbidden, $::Forbidden, qq/{"data":[]}\n/]
--- no_error_log
[error]



=== TEST 6: the original's .env token: the key Python derives registers
--- http_config
    replog_zone m 1m;
--- config
    replog_node zone=m role=master id=m;
    replog_api_key hog32422of24gr5t;
    location / { replog_api; }
--- more_headers
x-token: 1b3ffcfc930b83806fa7de7111f8554601191b9509a9212c6c36e7548639760a
--- request eval
[::reg('/register', 's1', 1), "GET /secondaries"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"id":"s1","master_id":"m",/, qr/^\{"data":\[\{"id":"s1",/]
--- no_error_log
[crit]
[alert]



=== TEST 7: locations with different api keys and no replog_service_key: nginx -t refuses
--- http_config
    replog_zone m 1m;
--- config
    replog_node zone=m role=master id=m;
    location /a/ { replog_api_key one; replog_api; }
    location /b/ { replog_api_key two; replog_api; }
--- must_die
--- error_log
its locations set different replog_api_key values, add "replog_service_key KEY;"



=== TEST 8: different api keys with replog_service_key: the service key only
--- http_config
    replog_zone m 1m;
--- config
    replog_node zone=m role=master id=m;
    replog_service_key svc-key;
    location /a/ { replog_api_key one; replog_api; }
    location /b/ { replog_api_key two; replog_api; }
--- more_headers
x-token: svc-key
--- request eval
[::reg('/a/register', 's1', 1), ::reg('/b/register', 's2', 2),
 "GET /a/secondaries"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"id":"s1"/, qr/"id":"s2"/, qr/"id":"s1".*"id":"s2"/]
--- no_error_log
[crit]
[alert]



=== TEST 9: an api key in one location, none in another: the derived key guards both
--- http_config
    replog_zone m 1m;
--- config
    replog_node zone=m role=master id=m;
    location /open/ { replog_api; }
    location / { replog_api_key secret; replog_api; }
--- request eval
[::reg('/open/register', 's1', 1), ::reg('/register', 's2', 2),
 "GET /open/secondaries"]
--- error_code eval
[403, 403, 200]
--- no_error_log
[error]



=== TEST 10: "replog_service_key off" while the client API has a key: nginx -t refuses
--- config
    replog_node zone=s role=secondary id=s1;
    replog_service_key off;
    location / { replog_api_key secret; replog_api; }
--- must_die
--- error_log
leaves /register, /replicate and /reset open: set "replog_service_key KEY;"



=== TEST 11: replog_service_key equal to an api key: nginx -t refuses
--- config
    replog_node zone=s role=secondary id=s1;
    replog_service_key secret;
    location / { replog_api_key secret; replog_api; }
--- must_die
--- error_log
replog_service_key is the same as a replog_api_key



=== TEST 12: no key at all: node endpoints as open as the client API, and a warning
--- config
    replog_node zone=s role=secondary id=s1;
    location / { replog_api; }
--- request eval
[::rep($::EA, 1, 'one'), "GET /messages"]
--- error_code eval
[200, 200]
--- error_log
no replog_api_key nor replog_service_key: /register, /replicate and /reset are open to anyone
--- no_error_log
[error]



=== TEST 13: realip and X-Forwarded-For: the registered host is the connection's peer
--- http_config
    replog_zone m 1m;
--- config
    replog_node zone=m role=master id=m;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location / { replog_api; }
--- more_headers
X-Forwarded-For: 127.0.0.2
--- request eval
[::reg('/register', 's1', 8001), "GET /secondaries"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"id":"s1",/,
 qr/^\{"data":\[\{"id":"s1","host":"127\.0\.0\.1","port":8001,/]
--- no_error_log
[crit]
[alert]



=== TEST 14: a 409 batch with x-replog-master does not change the 405's URL
The first batch, accepted, names the master; a batch of another epoch is
refused and its header is not taken.
--- config
    replog_node zone=s role=secondary id=s1;
    location / { replog_api; }
--- init
::raw_http(server_port(), 'POST', '/replicate',
           ['x-replog-master: http://good.example:8000'],
           substr(::rep($::EA, 1, 'a'), length "POST /replicate\n"));
--- more_headers
x-replog-master: http://phish.example
--- request eval
[::rep($::EB, 2, 'b'), "POST /messages\n{\"message\":\"x\"}"]
--- error_code eval
[409, 405]
--- response_body eval
[qq/{"error":"the batch is of another epoch than this log: refused","acked_id":1,"id":"s1","epoch":"$::EA"}\n/,
 qq/{"error":"this node is a secondary: write to the master","detail":"this node is a secondary: write to the master","master":"http:\/\/good.example:8000"}\n/]
--- no_error_log
[error]



=== TEST 15: replog_master_url: the 405 shows it, whatever an accepted batch says
--- config
    replog_node zone=s role=secondary id=s1;
    replog_master_url http://master.example:8000;
    location / { replog_api; }
--- more_headers
x-replog-master: http://phish.example
--- request eval
["POST /messages\n{\"message\":\"x\"}", ::rep($::EA, 1, 'a'),
 "PUT /messages\n{\"message\":\"x\"}"]
--- error_code eval
[405, 200, 405]
--- response_body eval
[(qq/{"error":"this node is a secondary: write to the master","detail":"this node is a secondary: write to the master","master":"http:\/\/master.example:8000"}\n/) x 1,
 qq/{"acked_id":1,"id":"s1","epoch":"$::EA"}\n/,
 qq/{"error":"this node is a secondary: write to the master","detail":"this node is a secondary: write to the master","master":"http:\/\/master.example:8000"}\n/]
--- no_error_log
[error]



=== TEST 16: replog_master_url needs http:// or https:// and a clean host
--- config
    replog_node zone=s role=secondary id=s1;
    replog_master_url master.example:8000;
    location / { replog_api; }
--- must_die
--- error_log
replog_master_url: expected "http://" or "https://" and a host



=== TEST 17: a master's Host header never becomes the URL its secondaries show
The master has no replog_master_url: its secondary shows no URL, though
the registration came with Host: phish.example.
--- http_config
    replog_zone m 1m;
    replog_zone s 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_S1_PORT;
        replog_node zone=s role=secondary id=s1;
        location / { replog_api; }
    }
--- config
    replog_node zone=m role=master id=m;
    location /s/ { proxy_pass http://127.0.0.1:$TEST_NGINX_S1_PORT/; }
    location / { replog_api; }
--- more_headers
Host: phish.example
--- request eval
[::reg('/register', 's1', $ENV{TEST_NGINX_S1_PORT}),
 "POST /messages?wc=all&timeout=5000\n{\"message\":\"x\"}",
 "POST /s/messages\n{\"message\":\"y\"}"]
--- error_code eval
[200, 201, 405]
--- response_body_like eval
[qr/^\{"id":"s1",/, qr/"registered_to":\["m","s1"\]/,
 qr/^\{"error":"this node is a secondary: write to the master","detail":"this node is a secondary: write to the master"\}\n\z/]
--- no_error_log
[error]



=== TEST 18: a master's replog_master_url reaches its secondaries with the batches
--- http_config
    replog_zone m 1m;
    replog_zone s 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_S1_PORT;
        replog_node zone=s role=secondary id=s1;
        location / { replog_api; }
    }
--- config
    replog_node zone=m role=master id=m;
    replog_master_url https://writes.example:8443;
    location /s/ { proxy_pass http://127.0.0.1:$TEST_NGINX_S1_PORT/; }
    location / { replog_api; }
--- more_headers
Host: phish.example
--- request eval
[::reg('/register', 's1', $ENV{TEST_NGINX_S1_PORT}),
 "POST /messages?wc=all&timeout=5000\n{\"message\":\"x\"}",
 "POST /s/messages\n{\"message\":\"y\"}"]
--- error_code eval
[200, 201, 405]
--- response_body_like eval
[qr/^\{"id":"s1",/, qr/"registered_to":\["m","s1"\]/,
 qr/^\{"error":"this node is a secondary: write to the master","detail":"this node is a secondary: write to the master","master":"https:\/\/writes\.example:8443"\}\n\z/]
--- no_error_log
[error]
