# A reload that resizes the zone of a master in the middle of a recovery
# pull: the new worker 0 pulls on from the copied log and opens; the old
# worker 0, kept alive by a client request, gets its page after the copy
# and drops it quietly (nothing can be stored in the old zone any more),
# rather than logging an alert that the zone is too small; and the new
# worker does not log the source as down (with no address) when it merely
# takes the pull over.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget);
use IO::Socket::INET ();
use Time::HiRes qw(time sleep);

my $EPOCH = '0123456789abcdef';
my $pad = 'x' x 4000;
my $page = '{"data":[' . join(',', map {
    qq/{"message":"m$_$pad","meta":{"message_id":$_,"registered_at":"2026-01-01T00:00:00.000000Z"}}/
} 1 .. 3) . "]}\n";

workers(1);
log_level('info');

# the source: a page sent at 4 KB/s, 3 s for the whole of it
my $http = <<'EOF';
    replog_zone m %SIZE%;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        location = /messages {
            default_type application/json;
            add_header X-Replog-Source "src 0123456789abcdef";
            limit_rate 4k;
            root $TEST_NGINX_HTML_DIR;
            try_files /page.json =404;
        }
        location / {
            default_type application/json;
            add_header X-Replog-Id src always;
            return 200 '{}';
        }
    }
EOF

my $conf = <<'EOF';
    replog_node zone=m role=master id=m;
    replog_cluster_size 2;
    replog_healthcheck interval=200ms timeout=1s;
    replog_retry interval=300ms max_delay=1s;
    replog_batch timeout=10s;
    location / { replog_api; }
EOF

(my $small = $http) =~ s/%SIZE%/4m/;
(my $large = $http) =~ s/%SIZE%/8m/;

start_nginx_conf($conf, http_config => $small,
                 user_files => { 'page.json' => $page });

my $p2 = rand_port(2);
my ($st) = http_request(port(), 'POST', '/register',
    qq/{"id":"src","port":$p2,"epoch":"$EPOCH","acked_id":3}/);
is($st, 200, 'the source registered with 3 messages');

ok(wait_for(sub { read_error_log() =~ /recovering: pulling from/ }, 5),
   'the pull started');

# a client request half sent keeps the old worker alive after the reload
my $req = "POST /register HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{";
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port())
    or die "connect: $!";
syswrite($sock, $req);
sleep 0.2;

ok(reload_nginx($conf, http_config => $large), 'reloaded with a larger zone');

ok(wait_for(sub { (jget(port(), '/health')->{state} // '') eq 'open' }, 15),
   'the new worker recovers and opens');
is(jget(port(), '/health')->{last_id}, 3, 'with the 3 messages of the source');

sleep 1;    # the old worker's page has come in meanwhile
syswrite($sock, '}' x 9);
close $sock;

my $log = read_error_log();
unlike($log, qr/\[alert\].*enlarge replog_zone/,
       'the old worker drops its page without an alert');
unlike($log, qr/the source \S* ?is down/,
       'the source is not said to be down: the new worker takes the pull over');
like($log, qr/\[info\].*the pull is taken over after a reload/,
     'which it says at info');

stop_nginx();

done_testing();
