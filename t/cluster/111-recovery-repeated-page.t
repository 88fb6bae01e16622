# A recovery source that serves the same page whatever it is asked (a
# stand-in answering GET /messages with a fixed file of 4096 entries), or a
# page that is not JSON: a pull that does not advance is a failure of that
# source, retried at the retry interval, never in a tight loop.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget slurp);
use Time::HiRes qw(time sleep);

my $EPOCH = '0123456789abcdef';
my $page = '{"data":[' . join(',', map {
    qq/{"message":"m$_","meta":{"message_id":$_,"registered_at":"2026-01-01T00:00:00.000000Z"}}/
} 1 .. 4096) . "]}\n";

workers(1);
log_level('info');

for my $case ([ 'page.json', 'the same page' ], [ 'bad.json', 'a bad page' ]) {
    my ($file, $what) = @$case;

    (my $http = <<'EOF') =~ s/%FILE%/$file/;
    replog_zone m 4m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        access_log $TEST_NGINX_SERVROOT/logs/standin.log;
        location = /messages {
            default_type application/json;
            # it claims the registered source's identity (see 122)
            add_header X-Replog-Source "standin 0123456789abcdef";
            root $TEST_NGINX_HTML_DIR;
            try_files /%FILE% =404;
        }
        location / {
            default_type application/json;
            add_header X-Replog-Id standin always;
            return 200 '{}';
        }
    }
EOF
    start_nginx_conf(<<'EOF', http_config => $http,
    replog_node zone=m role=master id=m;
    replog_cluster_size 2;
    replog_healthcheck interval=200ms timeout=1s;
    replog_retry interval=500ms max_delay=1s;
    location / { replog_api; }
EOF
        user_files => { 'page.json' => $page, 'bad.json' => "not json\n" });

    my $p2 = rand_port(2);
    my ($st) = http_request(port(), 'POST', '/register',
        qq/{"id":"standin","port":$p2,"epoch":"$EPOCH","acked_id":10000}/);
    is($st, 200, "$what: the stand-in registered, claiming 10000 messages");

    sleep 3;

    my $access = eval { slurp(servroot() . '/logs/standin.log') } // '';
    my $pulls = () = $access =~ /"GET \/messages\?/g;
    cmp_ok($pulls, '>=', 2, "$what: it was pulled from");
    cmp_ok($pulls, '<=', 10, "$what: $pulls pulls in 3 s at a 500 ms retry interval, no tight loop");

    my $h = jget(port(), '/health');
    is($h->{state}, 'pulling', "$what: the master does not open");
    is($h->{last_id}, $file eq 'page.json' ? 4096 : 0, "$what: it keeps what it got");
    ($st) = http_request(port(), 'POST', '/messages', '{"message":"x"}');
    is($st, 503, "$what: writes get 503");

    my @warn = grep { /replog: recovering: pull from .* failed/ }
        split /\n/, read_error_log();
    is(scalar @warn, 1, "$what: the failure is logged once")
        or diag(join "\n", @warn[0 .. ($#warn > 4 ? 4 : $#warn)]);
    like($warn[0] // '', $file eq 'page.json' ? qr/its page does not advance/
                                              : qr/bad page/,
         "$what: and says why");
    stop_nginx();
}

done_testing();
