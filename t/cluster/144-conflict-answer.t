# A secondary that refuses a batch with 409 (its log is of another epoch)
# answers with the acked_id of its own log: that counts ids of another log.
# It is a CONFLICT, whatever that acked_id is (even beyond the master's last
# id), not a protocol error retried for ever, and it is never stored as an
# acked_id of the master's log.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget);
use Time::HiRes qw(sleep);

workers(2);
log_level('info');

for my $acked (1000, 1) {
    (my $http = <<'EOF') =~ s/%ACKED%/$acked/;
    replog_zone m 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_3;
        location = /healthcheck {
            add_header X-Replog-Id other always;
            return 200 "HEALTHY\n";
        }
        location / {
            default_type application/json;
            add_header X-Replog-Log 0000000000000001 always;
            return 409 '{"error":"the batch is of another epoch than this log: refused","acked_id":%ACKED%,"id":"other","epoch":"fedcba9876543210"}';
        }
    }
EOF
    start_nginx_conf(<<'EOF', http_config => $http);
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=200ms timeout=500ms;
    replog_retry interval=50ms max_delay=200ms;
    location / { replog_api; }
EOF

    my $p3 = rand_port(3);
    my ($st) = http_request(port(), 'POST', '/register', qq/{"id":"other","port":$p3}/);
    is($st, 200, "$acked: a secondary registered empty");

    ($st) = http_request(port(), 'POST', '/messages?wc=1', '{"message":"one"}');
    is($st, 201, "$acked: a write");

    my $s;
    ok(wait_for(sub {
        ($s) = grep { $_->{id} eq 'other' } @{ jget(port(), '/secondaries')->{data} };
        ($s->{status} // '') eq 'CONFLICT';
    }, 5), "$acked: its 409 with acked_id $acked (the master holds 1) makes it a CONFLICT")
        or diag explain $s;
    is($s->{acked_id}, 0, "$acked: the acked_id of its other log is not stored");
    unlike(read_error_log(), qr/beyond the master's last id/,
           "$acked: not taken for a protocol error");
    like(read_error_log(), qr/secondary "other" .* -> CONFLICT: it refused our epoch/,
         "$acked: logged with the reason");

    stop_nginx();
}

done_testing();
