# A restarted master recovers a log whose pages of 4096 entries exceed its
# 64 MiB reply limit (messages of ~17 KiB): it sees the Content-Length
# before the body, asks for fewer entries and opens with the whole log.
# One nginx: a secondary's server block holds the log, the master recovers.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget);
use Digest::MD5 qw(md5_hex);
use Time::HiRes qw(time sleep);

my $N     = 4200;                 # past one page of 4096
my $SIZE  = 17000;                # 4096 of them: ~70 MB > 64 MiB
my $EPOCH = '0123456789abcdef';

workers(1);
log_level('info');

start_nginx_conf(<<'EOF', http_config => <<'EOF2');
    replog_node zone=m role=master id=m;
    replog_cluster_size 2;
    replog_healthcheck interval=500ms timeout=5s;
    replog_retry interval=200ms max_delay=1s;
    location / { replog_api; }
EOF
    replog_zone m 160m;
    replog_zone s1 160m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        replog_node zone=s1 role=secondary id=s1;
        client_max_body_size 4m;
        location / { replog_api; }
    }
EOF2

my $p1 = rand_port(1);

my $bad = 0;
for (my $id = 1; $id <= $N; $id += 100) {
    my $last = $id + 99 > $N ? $N : $id + 99;
    my $batch = join ',', map {
        my $m = sprintf('%06d', $_) . ('x' x ($SIZE - 6));
        qq/{"message":"$m","meta":{"message_id":$_,"registered_at":"2026-01-01T00:00:00.000000Z"}}/
    } $id .. $last;
    my ($st) = http_request($p1, 'POST', '/replicate',
                            qq/{"epoch":"$EPOCH","entries":[$batch]}/);
    $bad++ unless defined $st && $st == 200;
}
is($bad, 0, "s1 holds $N messages of $SIZE bytes");
is(jget($p1, '/health')->{last_id}, $N, "s1 last_id $N");

is(jget(port(), '/health')->{state}, 'recovering', 'the master is recovering');
my ($st) = http_request(port(), 'POST', '/register',
    qq/{"id":"s1","port":$p1,"epoch":"$EPOCH","acked_id":$N}/);
is($st, 200, 's1 registered with its log');

ok(wait_for(sub { jget(port(), '/health')->{state} eq 'open' }, 120),
   'the master opens')
    or diag(join "\n", grep { /replog: recovering/ } split /\n/, read_error_log());
my $h = jget(port(), '/health');
is($h->{last_id}, $N, "with all $N messages");
is($h->{epoch}, $EPOCH, 'in the epoch of s1');

my $log = read_error_log();
like($log, qr/a page of 4096 entries from \S+ is \d+ bytes, over the reply limit of 67108864: asking for \d+/,
     'the page over the limit was seen by its Content-Length');
my @pulls = ($log =~ /replog: recovering: pulling from /g);
cmp_ok(scalar @pulls, '<=', 8, 'a few pulls: ' . scalar @pulls);

my (undef, undef, $mb) = http_request(port(), 'GET', '/messages', undef, {},
                                      timeout => 60);
my (undef, undef, $sb) = http_request($p1, 'GET', '/messages', undef, {},
                                      timeout => 60);
ok(length($mb) > 64 * 1024 * 1024, 'the log is over 64 MiB: ' . length($mb));
# each node names its own holders in registered_to; the rest is the same
s/,"registered_to":\[[^\]]*\]//g for $mb, $sb;
is(md5_hex($mb), md5_hex($sb), 'the master\'s log is the one of s1, byte for byte');

($st) = http_request(port(), 'POST', '/messages?wc=2&timeout=10000',
                     '{"message":"after"}');
is($st, 201, 'the next write is acknowledged by both');
is(jget(port(), '/health')->{last_id}, $N + 1, 'as id ' . ($N + 1));

stop_nginx();
done_testing();
