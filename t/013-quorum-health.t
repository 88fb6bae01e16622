# replog_quorum (read-only master without a majority), GET /health,
# GET /metrics as Prometheus text, and misconfiguration of the cluster
# directives (replog_healthcheck, replog_retry, replog_batch, replog_delay,
# replog_fail_rate, replog_cluster_size ...).
# The plain-Perl checks (quorum, /health and /metrics over a running
# cluster) are in t/perl/013-quorum-health.t.
use Test::Nginx::Socket 'no_plan';

repeat_each(1);
workers(1);
log_level('info');
no_shuffle();
no_root_location();    # the tests define "location /" themselves

# The configuration most blocks share, given to those without their own.
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => <<'EOF') unless defined $block->http_config;
    replog_zone m 1m;
EOF
});

run_tests();

__DATA__

=== TEST 1: replog_healthcheck interval=abc
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=abc;
    location / { replog_api; }
--- must_die
--- error_log
replog_healthcheck: invalid value "interval=abc"



=== TEST 2: replog_healthcheck foo=1
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck foo=1;
    location / { replog_api; }
--- must_die
--- error_log
replog_healthcheck: unknown parameter "foo=1"



=== TEST 3: replog_healthcheck suspect=3 fails=2
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck suspect=3 fails=2;
    location / { replog_api; }
--- must_die
--- error_log
replog_healthcheck: fails=2 is below suspect=3



=== TEST 4: replog_retry mechanism=linear
--- config
    replog_node zone=m role=master id=m;
    replog_retry mechanism=linear;
    location / { replog_api; }
--- must_die
--- error_log
replog_retry: invalid value "mechanism=linear"



=== TEST 5: replog_delay 5s 1s
--- http_config
    replog_zone s 1m;
--- config
    replog_node zone=s role=secondary id=s;
    replog_delay 5s 1s;
    location / { replog_api; }
--- must_die
--- error_log
replog_delay: needs two times, LOW <= HIGH, got "5s" "1s"



=== TEST 6: replog_fail_rate 1.5
--- http_config
    replog_zone s 1m;
--- config
    replog_node zone=s role=secondary id=s;
    replog_fail_rate 1.5;
    location / { replog_api; }
--- must_die
--- error_log
replog_fail_rate: "1.5" is not a probability from 0 to 1



=== TEST 7: replog_batch max=0
--- config
    replog_node zone=m role=master id=m;
    replog_batch max=0;
    location / { replog_api; }
--- must_die
--- error_log
must be above zero



=== TEST 8: replog_healthcheck interval=0
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=0;
    location / { replog_api; }
--- must_die
--- error_log
must be above zero



=== TEST 9: replog_healthcheck fails=0
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck suspect=0 fails=0;
    location / { replog_api; }
--- must_die
--- error_log
must be above zero



=== TEST 10: replog_retry interval=0
--- config
    replog_node zone=m role=master id=m;
    replog_retry interval=0;
    location / { replog_api; }
--- must_die
--- error_log
must be above zero



=== TEST 11: replog_batch timeout=0
--- config
    replog_node zone=m role=master id=m;
    replog_batch timeout=0;
    location / { replog_api; }
--- must_die
--- error_log
must be above zero



=== TEST 12: replog_batch bytes=lots
--- config
    replog_node zone=m role=master id=m;
    replog_batch bytes=lots;
    location / { replog_api; }
--- must_die
--- error_log
replog_batch: invalid value "bytes=lots"



=== TEST 13: replog_batch max=-1 and max= (empty)
--- config
    replog_node zone=m role=master id=m;
    replog_batch max=-1;
    location / { replog_api; }
--- must_die
--- error_log
replog_batch: invalid value "max=-1"



=== TEST 14: replog_healthcheck interval= (empty)
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=;
    location / { replog_api; }
--- must_die
--- error_log
replog_healthcheck: invalid value "interval="



=== TEST 15: replog_healthcheck interval (no =)
--- config
    replog_node zone=m role=master id=m;
    replog_healthcheck interval;
    location / { replog_api; }
--- must_die
--- error_log
replog_healthcheck: unknown parameter "interval"



=== TEST 16: replog_retry max_delay=abc
--- config
    replog_node zone=m role=master id=m;
    replog_retry max_delay=abc;
    location / { replog_api; }
--- must_die
--- error_log
replog_retry: invalid value "max_delay=abc"



=== TEST 17: replog_retry mechanism=Exponential (case matters)
--- config
    replog_node zone=m role=master id=m;
    replog_retry mechanism=Exponential;
    location / { replog_api; }
--- must_die
--- error_log
replog_retry: invalid value "mechanism=Exponential"



=== TEST 18: replog_delay abc 1s
--- http_config
    replog_zone s 1m;
--- config
    replog_node zone=s role=secondary id=s;
    replog_delay abc 1s;
    location / { replog_api; }
--- must_die
--- error_log
replog_delay: needs two times, LOW <= HIGH, got "abc" "1s"



=== TEST 19: replog_delay with one time
--- http_config
    replog_zone s 1m;
--- config
    replog_node zone=s role=secondary id=s;
    replog_delay 1s;
    location / { replog_api; }
--- must_die
--- error_log
invalid number of arguments in "replog_delay" directive



=== TEST 20: replog_fail_rate -0.1
--- http_config
    replog_zone s 1m;
--- config
    replog_node zone=s role=secondary id=s;
    replog_fail_rate -0.1;
    location / { replog_api; }
--- must_die
--- error_log
replog_fail_rate: "-0.1" is not a probability from 0 to 1



=== TEST 21: replog_fail_rate half
--- http_config
    replog_zone s 1m;
--- config
    replog_node zone=s role=secondary id=s;
    replog_fail_rate half;
    location / { replog_api; }
--- must_die
--- error_log
replog_fail_rate: "half" is not a probability from 0 to 1



=== TEST 22: replog_fail_rate twice
--- http_config
    replog_zone s 1m;
--- config
    replog_node zone=s role=secondary id=s;
    replog_fail_rate 0.1;
    replog_fail_rate 0.2;
    location / { replog_api; }
--- must_die
--- error_log
"replog_fail_rate" directive is duplicate



=== TEST 23: replog_cluster_size 0
--- config
    replog_node zone=m role=master id=m;
    replog_cluster_size 0;
    location / { replog_api; }
--- must_die
--- error_log
value must be between 1 and 255



=== TEST 24: replog_cluster_size 256
--- config
    replog_node zone=m role=master id=m;
    replog_cluster_size 256;
    location / { replog_api; }
--- must_die
--- error_log
value must be between 1 and 255



=== TEST 25: replog_cluster_size abc
--- config
    replog_node zone=m role=master id=m;
    replog_cluster_size abc;
    location / { replog_api; }
--- must_die
--- error_log
"replog_cluster_size" directive invalid number



=== TEST 26: replog_quorum maybe
--- config
    replog_node zone=m role=master id=m;
    replog_quorum maybe;
    location / { replog_api; }
--- must_die
--- error_log
invalid value "maybe" in "replog_quorum" directive, it must be "on" or "off"



=== TEST 27: replog_max_pending abc
--- http_config
    replog_zone s 1m;
--- config
    replog_node zone=s role=secondary id=s;
    replog_max_pending abc;
    location / { replog_api; }
--- must_die
--- error_log
"replog_max_pending" directive invalid number



=== TEST 28: replog_healthcheck outside a server block
--- http_config
    replog_zone m 1m;
    replog_healthcheck interval=1s;
--- config
    replog_node zone=m role=master id=m;
    location / { replog_api; }
--- must_die
--- error_log
"replog_healthcheck" directive is not allowed here



=== TEST 29: every new directive with good values: nginx starts and serves
--- http_config
    replog_zone m 1m;
    replog_zone s 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        replog_node zone=s role=secondary id=s;
        replog_fail_rate 0;
        replog_delay 0 0;
        replog_max_pending 1;
        location / { replog_api; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        replog_node zone=s2 role=secondary id=s2;
        replog_fail_rate 1;
        replog_delay 1ms 1ms;
        location / { replog_api; }
    }
    replog_zone s2 1m;
--- config
    replog_node zone=m role=master id=m;
    replog_cluster_size 255;
    replog_quorum off;
    replog_healthcheck interval=1s timeout=500ms suspect=1 fails=3 remove_after=1m;
    replog_retry interval=100ms max_delay=1s mechanism=uniform;
    replog_batch max=1 bytes=1k timeout=1s;
    location / { replog_api; }
--- request
GET /health
--- response_body_like: "cluster_size":255,"quorum":\{"up":1,"needed":128\}
--- no_error_log
[emerg]
[alert]



=== TEST 30: replog_fail_rate 1 answers every batch 500 after storing it
--- http_config
    replog_zone s 1m;
--- config
    replog_node zone=s role=secondary id=s;
    replog_fail_rate 1;
    location / { replog_api; }
--- request eval
["POST /replicate\n{\"epoch\":\"0123456789abcdef\",\"entries\":[{\"message\":\"a\",\"meta\":{\"message_id\":1,\"registered_at\":\"2026-01-01T00:00:00.000000Z\"}}]}",
 "GET /health"]
--- error_code eval
[500, 200]
--- response_body_like eval
[qr/^\{"error":"failure simulated by replog_fail_rate","acked_id":1,"id":"[^"]+","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/"last_id":1,/]



=== TEST 31: replog_recovery timeout=30s is refused, naming the opt-in
--- config
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_recovery timeout=30s;
    location / { replog_api; }
--- must_die
--- error_log
replog_recovery: "timeout=30s" is gone: a master waits for enough secondaries to register; to open anyway after a time, at the risk of losing acknowledged writes, use "unsafe_open_after=TIME"



=== TEST 32: replog_recovery unsafe_open_after=abc
--- config
    replog_node zone=m role=master id=m;
    replog_recovery unsafe_open_after=abc;
    location / { replog_api; }
--- must_die
--- error_log
replog_recovery: use "on", "off" or "unsafe_open_after=TIME", not "unsafe_open_after=abc"



=== TEST 33: replog_recovery unsafe_open_after=0
--- config
    replog_node zone=m role=master id=m;
    replog_recovery unsafe_open_after=0;
    location / { replog_api; }
--- must_die
--- error_log
replog_recovery: use "on", "off" or "unsafe_open_after=TIME", not "unsafe_open_after=0"



=== TEST 34: replog_recovery on: a restarted master of 5 awaits 3 registrations
--- config
    replog_node zone=m role=master id=m;
    replog_cluster_size 5;
    replog_recovery on;
    location / { replog_api; }
--- request
GET /health
--- response_body_like
"state":"recovering",.*"recovery":\{"needed":3,"awaited":3,"registered":\[\]\},"secondaries":\[\]\}
--- no_error_log
[emerg]
[alert]



=== TEST 35: replog_recovery unsafe_open_after=10m is accepted and waits
--- config
    replog_node zone=m role=master id=m;
    replog_cluster_size 3;
    replog_recovery unsafe_open_after=10m;
    location / { replog_api; }
--- request
POST /messages
{"message":"x"}
--- error_code: 503
--- response_body_like: "error":"recovering","detail":"recovering"
--- no_error_log
[emerg]
unsafe_open_after
