# replog-register (helper/): registration of a secondary
# with its master, refusals, giving up, the environment form, --watch.
#
# One nginx runs a master "m" (key "secret"), a master "m2" (key "other")
# and secondaries "s1", "sw", "sw2" (key "secret") as server blocks.  "m" drops
# a secondary it cannot reach within a second or two.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use Test::Nginx::Util qw(:util);
use IO::Socket::INET;
use Replog::Test qw(wait_for free_port);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use Replog::Helper qw(helper_path spawn_helper wait_exit run_helper
                      slurp_file running_helpers);

my $Helper = helper_path();

plan skip_all => 'TEST_NGINX_LOAD_MODULES is not set'
    unless $ENV{TEST_NGINX_LOAD_MODULES};
plan skip_all => "$Helper is missing: make helper"
    unless -x $Helper;

my ($PM, $PS, $PDEAD, $PM2) = map { rand_port($_) } 1 .. 4;
my $PSW = rand_port(5);
my $PSW2 = free_port();

sub conf {
    my $root = servroot();
    my $user = $> == 0 ? "user root;\n" : '';
    my $v = `'${\ ($ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx')}' -V 2>&1`;
    my $temp = "    client_body_temp_path $root/client_body_temp;\n";

    for my $m (qw(proxy fastcgi uwsgi scgi)) {
        $temp .= "    ${m}_temp_path $root/${m}_temp;\n"
            unless $v =~ /--without-http_${m}_module/;
    }

    return <<"EOF";
daemon off;
master_process on;
worker_processes 1;
${user}error_log logs/error.log info;
pid logs/nginx.pid;

events {
    worker_connections 256;
}

http {
    access_log logs/access.log;
$temp
    replog_zone m 4m;
    replog_zone m2 1m;
    replog_zone s1 4m;
    replog_zone sw 1m;
    replog_zone sw2 1m;

    server {
        listen 127.0.0.1:$PM;
        replog_node zone=m role=master id=m;
        replog_api_key secret;
        replog_cluster_size 2;
        # a restarted master opens at once with its new epoch: recovering
        # first, it would open with another epoch after the helper's
        # registration, and the helper would rightly register twice
        replog_recovery off;
        replog_healthcheck interval=100ms fails=1 remove_after=1s;
        location / { replog_api; }
    }

    server {
        listen 127.0.0.1:$PM2;
        replog_node zone=m2 role=master id=m2;
        replog_api_key other;
        location / { replog_api; }
    }

    server {
        listen 127.0.0.1:$PS;
        replog_node zone=s1 role=secondary id=s1;
        replog_api_key secret;
        location / { replog_api; }
    }

    # the secondaries the --watch helpers register: the master's
    # heartbeats count only the answers of the node of that id
    server {
        listen 127.0.0.1:$PSW;
        replog_node zone=sw role=secondary id=sw;
        replog_api_key secret;
        location / { replog_api; }
    }

    server {
        listen 127.0.0.1:$PSW2;
        replog_node zone=sw2 role=secondary id=sw2;
        replog_api_key secret;
        location / { replog_api; }
    }
}
EOF
}

sub master_get {
    my ($uri) = @_;
    my ($st, undef, $body) = http_request($PM, 'GET', $uri, undef,
                                          { 'x-token' => 'secret' },
                                          timeout => 2);
    return ($st // 0) == 200 ? $body : undef;
}

sub listed {
    my ($id) = @_;
    my $body = master_get('/secondaries') // return 0;
    return $body =~ /\{"id":"\Q$id\E"/ ? 1 : 0;
}

sub master_epoch {
    my $body = master_get('/health') // return '';
    return $body =~ /"epoch":"([0-9a-f]{16})"/ ? $1 : '';
}

my @base = ('--master', "http://127.0.0.1:$PM", '--port', $PS,
            '--token', 'secret', '--retry-interval', '0.2',
            '--max-delay', '5');

start_nginx_conf(conf(), full_conf => 1);

# ----------------------------------------------------------- registration

{
    my ($code, $err) = run_helper([ @base, '--id', 's1' ]);

    is $code, 0, 'registration: exit 0';
    like $err, qr/^replog-register: registered "s1" with master "m" \(epoch [0-9a-f]{16}, master last_id \d+\)$/m,
        'registration: one success line';
    is scalar(() = $err =~ /\n/g), 1, 'registration: nothing else said';
    ok wait_for(sub { listed('s1') }, 5), 'registration: master lists s1';
    my $body = master_get('/secondaries') // '';
    like $body, qr/\{"id":"s1","host":"127\.0\.0\.1","port":$PS,/,
        'registration: at 127.0.0.1 and the given port';
}

{
    my ($code, $err) = run_helper([ @base, '--id', 'quiet:one/2', '-q' ]);

    is $code, 0, '-q: exit 0';
    is $err, '', '-q: silent';
    ok wait_for(sub { listed('quiet:one/2') }, 5),
        '-q: an id with punctuation is listed';
}

# -------------------------------------------------------------- refusals

{
    my ($code, $err) = run_helper([ '--master', "127.0.0.1:$PM2",
                                    '--port', $PS, '--token', 'secret',
                                    '--id', 's1' ]);

    is $code, 2, 'wrong token for the master: exit 2';
    is $err, "replog-register: master refused registration (403): "
           . "missing or invalid x-token\n",
        'wrong token for the master: the refusal line';
}

{
    my ($code, $err) = run_helper([ @base, '--token', 'wrong', '--id', 's1' ]);

    is $code, 2, 'wrong token for the local node: exit 2';
    like $err, qr/^replog-register: local node refused \/health \(403\): missing or invalid x-token$/m,
        'wrong token for the local node: the refusal line';
}

{
    my $IdErr = qr/^replog-register: invalid --id: expected 1 to 63 printable ASCII characters, without spaces, quotes or backslashes$/m;

    for my $c ([ 'x' x 64, 'too long' ], [ 'quiet "one"', 'with quotes' ],
               [ "a\n[emerg] x", 'with a newline' ], [ 'a b', 'with a space' ])
    {
        my ($code, $err) = run_helper([ @base, '--id', $c->[0] ]);

        is $code, 64, "an id $c->[1]: exit 64, before asking the master";
        like $err, $IdErr, "an id $c->[1]: the usage error";
        unlike $err, qr/^\[emerg\]/m, "an id $c->[1]: not echoed";
    }
}

{
    # the master's id limit, 63 bytes, kept by the helper itself: a 64-byte
    # id reaches no node; a listener in place of both nodes shows it, and
    # that it would have seen the helper had the id been valid
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 8, ReuseAddr => 1)
        or die "listen: $!";
    my $p = $l->sockport;
    my @at = ('--master', "127.0.0.1:$p", '--local', "http://127.0.0.1:$p",
              '--token', 'secret', '--max-delay', '0.5', '--timeout', '0.3');
    $l->blocking(0);

    my ($code, $err) = run_helper([ @at, '--id', 'x' x 64 ]);

    is $code, 64, 'a 64-byte id: exit 64';
    like $err, qr/^replog-register: invalid --id: expected 1 to 63 /m,
        'a 64-byte id: the id rule named';
    ok !$l->accept, 'a 64-byte id: no connection to any node';

    ($code, $err) = run_helper([ @at ], HOSTNAME => 'h' x 64);

    is $code, 64, 'a 64-byte HOSTNAME: exit 64';
    like $err, qr/^replog-register: invalid HOSTNAME: expected 1 to 63 /m,
        'a 64-byte HOSTNAME: named as the variable';
    ok !$l->accept, 'a 64-byte HOSTNAME: no connection to any node';

    ($code, $err) = run_helper([ @at, '--id', 'x' x 63 ]);

    is $code, 1, 'a 63-byte id towards the silent listener: gave up (exit 1)';
    ok $l->accept, 'a 63-byte id: the helper did connect';

    my $id = join '', map { chr(0x21 + $_ % 90) =~ tr/"'\\/-/r } 0 .. 62;
    ($code, $err) = run_helper([ @base, '--id', $id ]);

    is length $id, 63, 'an id of 63 printable bytes';
    is $code, 0, 'a 63-byte id: registered, exit 0' or diag $err;
    ok wait_for(sub { listed($id) }, 5), 'a 63-byte id: the master lists it';
}

{
    # the service key, not the api key, goes to /register
    my ($code, $err) = run_helper([ @base, '--id', 's9' ],
                                  SERVICE_KEY => 'not-the-key');

    is $code, 2, 'SERVICE_KEY is what /register gets: a wrong one, exit 2';
    like $err, qr/^replog-register: master refused registration \(403\): missing or invalid x-token$/m,
        'SERVICE_KEY: the refusal line';
}

# ------------------------------------------------------------- giving up

{
    my ($code, $err, $took) = run_helper([ '--master', "127.0.0.1:$PDEAD",
                                           '--port', $PS, '--token', 'secret',
                                           '--id', 's1', '--max-delay', '1',
                                           '--retry-interval', '0.2' ]);

    is $code, 1, 'unreachable master: exit 1';
    is $err, "replog-register: master http://127.0.0.1:$PDEAD unreachable "
           . "after 1s: Couldn't connect to server\n",
        'unreachable master: the reason';
    cmp_ok $took, '<', 3, 'unreachable master: gave up within 3 s';
    cmp_ok $took, '>', 0.8, 'unreachable master: kept trying for 1 s';
}

{
    my ($code, $err, $took) = run_helper([ '--master', "127.0.0.1:$PDEAD",
                                           '--port', $PS, '--token', 'secret',
                                           '--id', 's1', '--max-delay', '1',
                                           '--retry-interval', '0.1',
                                           '--retry-mechanism',
                                           'exponential' ]);

    is $code, 1, 'unreachable master, exponential backoff: exit 1';
    cmp_ok $took, '<', 3, 'exponential backoff: gave up within 3 s';
}

{
    my ($code, $err, $took) = run_helper([ @base, '--port', $PDEAD,
                                           '--id', 's1', '--max-delay', '1' ]);

    is $code, 1, 'local node not answering: exit 1';
    like $err, qr/^replog-register: local node http:\/\/127\.0\.0\.1:$PDEAD does not answer \/healthcheck after 1s/m,
        'local node not answering: the reason';
    cmp_ok $took, '<', 3, 'local node not answering: gave up within 3 s';
}

# ----------------------------------------------------------- usage errors

for my $args ([ '--port', 'abc' ], [ '--bogus' ], [ '--retry-interval', '0' ],
              [ '--retry-mechanism', 'linear' ], [ '--watch' ], [ 'extra' ])
{
    my ($code, $err) = run_helper([ @base, '--id', 's1', @$args ]);

    is $code, 64, "usage error: @$args: exit 64";
    like $err, qr/\Areplog-register: [^\n]+\nTry "replog-register --help"\.\n\z/,
        "usage error: @$args: one line and a hint";
}

{
    my ($code, $err) = run_helper([ '--id', 's1' ], SECONDARY_PORT => 'x');

    is $code, 64, 'bad SECONDARY_PORT: exit 64';
    like $err, qr/invalid SECONDARY_PORT "x"/, 'bad SECONDARY_PORT: named';
}

# ------------------------------------------------------- environment form

{
    my ($code, $err) = run_helper([], MASTER_HOST => '127.0.0.1',
                                  MASTER_PORT => $PM, SECONDARY_PORT => $PS,
                                  HOSTNAME => 's-env', API_KEY => 'secret',
                                  CONNECTION_TO_MASTER_RETRY_INTERVAL => '0.2',
                                  MAX_CONNECTION_TO_MASTER_DELAY => '5');

    is $code, 0, 'environment: exit 0';
    like $err, qr/registered "s-env" with master "m"/, 'environment: said so';
    ok wait_for(sub { listed('s-env') }, 5), 'environment: master lists s-env';
}

{
    my ($code, $err) = run_helper([ '--master', "127.0.0.1:$PM",
                                    '--id', 's-opt', '--max-delay', '1' ],
                                  MASTER_HOST => '127.0.0.1',
                                  MASTER_PORT => $PDEAD, SECONDARY_PORT => $PS,
                                  HOSTNAME => 's-env', API_KEY => 'secret');

    is $code, 0, 'options win over the environment: exit 0';
    ok wait_for(sub { listed('s-opt') }, 5),
        'options win over the environment: master lists s-opt';
}

{
    my $host = (POSIX::uname())[1];
    my ($code, $err) = run_helper([ @base ]);

    is $code, 0, 'no --id, no HOSTNAME: exit 0';
    ok wait_for(sub { listed($host) }, 5),
        "no --id, no HOSTNAME: registered as the host name \"$host\"";
}

{
    my ($pid, $log) = spawn_helper([ '--id', 's-late', '--max-delay', '5' ],
                                   MASTER_HOST => '127.0.0.1',
                                   MASTER_PORT => $PDEAD,
                                   SECONDARY_PORT => $PS, API_KEY => 'secret',
                                   CONNECTION_TO_MASTER_RETRY_INTERVAL => '0.1');
    sleep 0.3;
    my $t0 = time;
    kill TERM => $pid;
    my $code = wait_exit($pid, 3);

    is $code, 1, 'SIGTERM while still retrying: exit 1 (not registered)';
    cmp_ok time - $t0, '<', 1, 'SIGTERM while still retrying: at once';
}

# ---------------------------------------------------------------- --watch

{
    my ($pid, $log) = spawn_helper([ @base, '--id', 'sw', '--port', $PSW,
                                     '--watch', '0.2' ]);

    ok wait_for(sub { listed('sw') }, 5), 'watch: registered';

    my $epoch = master_epoch();
    sleep 0.5;
    is scalar(() = slurp_file($log) =~ /registered/g), 1,
        'watch: no registering again while nothing changes';

    stop_nginx();
    start_nginx_conf(conf(), full_conf => 1);

    isnt master_epoch(), $epoch, 'watch: the restarted master has a new epoch';
    ok wait_for(sub { listed('sw') }, 5),
        'watch: registered again after the master restarted';
    is waitpid($pid, WNOHANG), 0, 'watch: still running';

    my $t0 = time;
    kill TERM => $pid;
    is wait_exit($pid, 5), 0, 'watch: SIGTERM: exit 0';
    cmp_ok time - $t0, '<', 1, 'watch: SIGTERM: promptly';

    my $err = slurp_file($log);
    like $err, qr/^replog-register: registered "sw" with master "m" \(epoch [0-9a-f]{16}, master last_id \d+\) again: /m,
        'watch: says it registered again, and why';
    is scalar(() = $err =~ /\) again: /g), 1, 'watch: once';
    diag $err if $err =~ /again:.*again:/s;
}

{
    # a longer outage: seen as one, and the way back is a registration
    my ($pid, $log) = spawn_helper([ @base, '--id', 'sw2', '--port', $PSW2,
                                     '--watch', '0.2' ]);

    ok wait_for(sub { listed('sw2') }, 5), 'watch: sw2 registered';

    stop_nginx();
    sleep 0.5;    # down for a few rounds: "unreachable" once, not per round
    start_nginx_conf(conf(), full_conf => 1);

    ok wait_for(sub { listed('sw2') }, 5), 'watch: sw2 registered again';

    kill INT => $pid;
    is wait_exit($pid, 5), 0, 'watch: SIGINT: exit 0';

    my $err = slurp_file($log);
    is scalar(() = $err =~ /unreachable/g), 1,
        'watch: the outage logged once';
    like $err, qr/again: the master is reachable again$/m,
        'watch: registered again when the master came back';
}

{
    # the master keeps running but drops us: registered with a port where
    # nothing answers, the master's health checks fail and remove the entry
    my ($pid, $log) = spawn_helper([ @base, '--id', 'sgone', '--port', $PDEAD,
                                     '--local', "http://127.0.0.1:$PS",
                                     '--watch', '0.2' ]);

    ok wait_for(sub { slurp_file($log) =~ /^.*\) again: .*$/m }, 10),
        'watch: registered again after the master removed the entry';
    like slurp_file($log), qr/again: the master does not list it$/m,
        'watch: because the master does not list it';

    kill TERM => $pid;
    is wait_exit($pid, 5), 0, 'watch: SIGTERM: exit 0';
    note slurp_file($log);
    like read_error_log(), qr/secondary "sgone" removed/,
        'the master did remove it';
}

stop_nginx();

is_deeply [ running_helpers() ], [], 'no helper left running';

done_testing;
