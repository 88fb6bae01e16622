# A recovering master pulls its log from the secondary it chose; a page
# from whatever answers at that address now (a process that took over a
# dead source's port, a node of another cluster) must not become the
# master's log.  Pages name their source in X-Replog-Source ("<id> <epoch>");
# one that names no source, another id or another epoch is a failure of that
# source: nothing of it is stored and the master does not open.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget);
use Time::HiRes qw(time sleep);

my $EPOCH = '0123456789abcdef';
my $page = '{"data":[' . join(',', map {
    qq/{"message":"forged$_","meta":{"message_id":$_,"registered_at":"2026-01-01T00:00:00.000000Z"}}/
} 1 .. 3) . "]}\n";

workers(1);
log_level('info');

for my $case ([ 'no X-Replog-Source', '' ],
              [ 'another id', "add_header X-Replog-Source \"other $EPOCH\";" ],
              [ 'another epoch', 'add_header X-Replog-Source "standin fedcba9876543210";' ])
{
    my ($what, $header) = @$case;

    (my $http = <<'EOF') =~ s/%HEADER%/$header/;
    replog_zone m 4m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        location = /messages {
            default_type application/json;
            %HEADER%
            root $TEST_NGINX_HTML_DIR;
            try_files /page.json =404;
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
    replog_retry interval=300ms max_delay=1s;
    location / { replog_api; }
EOF
        user_files => { 'page.json' => $page });

    my $p2 = rand_port(2);
    my ($st) = http_request(port(), 'POST', '/register',
        qq/{"id":"standin","port":$p2,"epoch":"$EPOCH","acked_id":3}/);
    is($st, 200, "$what: a stand-in registered as the source of 3 messages");

    ok(wait_for(sub { read_error_log() =~ /recovering: pulling from/ }, 5),
       "$what: it is pulled from");
    sleep 1;

    my $h = jget(port(), '/health');
    isnt($h->{state}, 'open', "$what: the master does not open with its page");
    is($h->{last_id}, 0, "$what: nothing of the page is stored");

    my ($s) = grep { $_->{id} eq 'standin' }
        @{ jget(port(), '/secondaries')->{data} };
    like($s->{last_error} // '', qr/the page is not of the registered source/,
         "$what: a failure of that source, with the reason");
    like(read_error_log(), qr/\[error\].*the page from .* is not of the registered source/,
         "$what: logged");

    stop_nginx();
}

done_testing();
