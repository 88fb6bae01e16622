# replog-register (helper/replog-register.c): registration of a secondary
# with its master, refusals, giving up, the environment form, --watch.
#
# One nginx runs a master "m" (key "secret"), a master "m2" (key "other")
# and a secondary "s1" (key "secret") as three server blocks.  "m" drops
# a secondary it cannot reach within a second or two.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for slurp);
use Cwd ();
use File::Temp ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

my $Helper = Cwd::abs_path('.') . '/build/replog-register';

plan skip_all => 'TEST_NGINX_LOAD_MODULES is not set'
    unless $ENV{TEST_NGINX_LOAD_MODULES};
plan skip_all => "$Helper is missing: cc -O2 -Wall -Wextra -Werror "
    . '-o build/replog-register helper/replog-register.c -lcurl'
    unless -x $Helper;

my ($PM, $PS, $PDEAD, $PM2) = map { rand_port($_) } 1 .. 4;

# the environment the helper reads: none of it leaks in from outside
my @EnvNames = qw(MASTER_HOST MASTER_PORT HOSTNAME SECONDARY_PORT API_KEY
    API_TOKEN CONNECTION_TO_MASTER_RETRY_INTERVAL CONNECTION_TO_MASTER_RETRY_MECHANISM
    MAX_CONNECTION_TO_MASTER_DELAY REPLOG_WATCH);

my $Tmp = File::Temp->newdir('replog-helper-XXXXXX', TMPDIR => 1);
my %Running;    # helper pid => 1, killed at the end if still there
my $Runs = 0;

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

    server {
        listen 127.0.0.1:$PM;
        replog_node zone=m role=master id=m;
        replog_api_key secret;
        replog_cluster_size 2;
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
}
EOF
}

# Starts the helper with @args and %env (on top of a clean environment);
# returns its pid and the file that collects its stderr.
sub spawn_helper {
    my ($args, %env) = @_;
    my $log = "$Tmp/helper-" . ++$Runs . '.log';

    my $pid = fork // die "fork: $!";

    if (!$pid) {
        delete @ENV{@EnvNames};
        @ENV{keys %env} = values %env;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        exec { $Helper } $Helper, @$args or POSIX::_exit(127);
    }

    $Running{$pid} = 1;

    return ($pid, $log);
}

# Exit code of $pid within $limit seconds; undef (and killed) if it ran on.
sub wait_exit {
    my ($pid, $limit) = @_;
    my $until = time + $limit;

    while (time < $until) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $Running{$pid};
            return $? & 127 ? -($? & 127) : $? >> 8;
        }
        sleep 0.02;
    }

    kill KILL => $pid;
    waitpid($pid, 0);
    delete $Running{$pid};

    return undef;
}

# Runs the helper to its end: (exit code, stderr text, seconds taken).
sub run_helper {
    my ($args, %env) = @_;
    my $t0 = time;
    my ($pid, $log) = spawn_helper($args, %env);
    my $code = wait_exit($pid, 20);

    return ($code, slurp($log), time - $t0);
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
    my ($pid, $log) = spawn_helper([ @base, '--id', 'sw', '--watch', '0.2' ]);

    ok wait_for(sub { listed('sw') }, 5), 'watch: registered';

    my $epoch = master_epoch();
    sleep 0.5;
    is scalar(() = slurp($log) =~ /registered/g), 1,
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

    my $err = slurp($log);
    like $err, qr/^replog-register: registered "sw" with master "m" \(epoch [0-9a-f]{16}, master last_id \d+\) again: /m,
        'watch: says it registered again, and why';
    is scalar(() = $err =~ /\) again: /g), 1, 'watch: once';
    diag $err if $err =~ /again:.*again:/s;
}

{
    # a longer outage: seen as one, and the way back is a registration
    my ($pid, $log) = spawn_helper([ @base, '--id', 'sw2', '--watch', '0.2' ]);

    ok wait_for(sub { listed('sw2') }, 5), 'watch: sw2 registered';

    stop_nginx();
    sleep 0.5;    # down for a few rounds: "unreachable" once, not per round
    start_nginx_conf(conf(), full_conf => 1);

    ok wait_for(sub { listed('sw2') }, 5), 'watch: sw2 registered again';

    kill INT => $pid;
    is wait_exit($pid, 5), 0, 'watch: SIGINT: exit 0';

    my $err = slurp($log);
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

    ok wait_for(sub { slurp($log) =~ /^.*\) again: .*$/m }, 10),
        'watch: registered again after the master removed the entry';
    like slurp($log), qr/again: the master does not list it$/m,
        'watch: because the master does not list it';

    kill TERM => $pid;
    is wait_exit($pid, 5), 0, 'watch: SIGTERM: exit 0';
    note slurp($log);
    like read_error_log(), qr/secondary "sgone" removed/,
        'the master did remove it';
}

stop_nginx();

is_deeply [ keys %Running ], [], 'no helper left running';

END {
    for my $pid (keys %Running) {
        kill KILL => $pid;
        waitpid($pid, 0);
    }
}

done_testing;
