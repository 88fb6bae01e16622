# The original service's .env, verbatim, through the launchers: the
# project's .env starts with that file byte for byte; `make run`'s
# scripts/run.sh started from it (only the ports moved to free ones, still
# SECONDARY_PORT == MASTER_PORT as in the original) remaps the secondaries
# to the ports after the master's, turns authentication on from API_TOKEN,
# registers both secondaries at once despite CONNECTION_TO_MASTER_RETRY_
# INTERVAL=30 and answers wc=3 at once; a port in use is refused.  Then the
# pieces: two nginx on one port, the helper's short wait for its own
# nginx, MASTER_HOST with a scheme and API_TOKEN in the helper.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use File::Path qw(make_path remove_tree);
use Test::Nginx::HTTP qw(http_request);
use Replog::Cluster;
use Replog::Test qw(free_ports wait_for slurp);
use Replog::OriginalEnv qw(ORIGINAL TOKEN NAMES nginx_bin module run_sh);

my $Top = Replog::Cluster->top;

plan skip_all => 'build/replog-register is missing'
    unless -x "$Top/build/replog-register";

my $Original = ORIGINAL;
my $Token = TOKEN;
my @Names = NAMES;
my $Json = JSON::PP->new->utf8->canonical;

my $env = slurp("$Top/.env");
is substr($env, 0, length $Original), $Original,
    "the project's .env starts with the original's .env byte for byte";
like substr($env, length $Original), qr/\A\n\n#/,
    "replog's own variables follow below a comment";

my $Dir = "$Top/t/servroot-cluster/original-env";
remove_tree($Dir);
make_path($Dir);

# the module under test, and the ASan runtime only in nginx
my $Module = module();
my $Nginx = nginx_bin($Dir);

sub req {
    my ($port, $method, $uri, $body, %h) = @_;
    my ($st, undef, $raw) = http_request($port, $method, $uri, $body, \%h,
                                         timeout => 10);
    return ($st // 0, eval { $Json->decode($raw) } // $raw);
}

sub listed {
    my ($port) = @_;
    my ($st, $d) = req($port, 'GET', '/secondaries', undef,
                       'x-token' => $Token);
    return {} unless $st == 200 && ref $d;
    return { map { $_->{id} => $_ } @{ $d->{data} } };
}

# --- make run with the original's .env ------------------------------------

my $P = free_ports(3);
my $run_dir = "$Dir/run";
my $log = "$Dir/run.log";
my $t0 = time;
my $run = run_sh($log, MASTER_PORT => $P, SECONDARY_PORT => $P,
                 RUN_DIR => $run_dir);

ok wait_for(sub { slurp($log) =~ /Ctrl-C stops everything/ }, 15),
    'run.sh started the master and two secondaries'
    or diag slurp($log);

like slurp($log),
    qr/SECONDARY_PORT=$P overlaps MASTER_PORT=$P .*the secondaries take ports ${\ ($P + 1)}\.\.${\ ($P + 2)}/,
    'SECONDARY_PORT == MASTER_PORT: the remap to the ports after the '
    . "master's is stated at start";

ok wait_for(sub {
        my $l = listed($P);
        2 == grep { ($l->{$_}{status} // '') eq 'HEALTHY' }
                  qw(secondary-1 secondary-2);
    }, 10),
    'both secondaries register within 10 s (retry interval 30 s in .env)'
    or diag explain listed($P), slurp("$run_dir/secondary-1/register.log");
diag sprintf 'cluster formed %.1f s after run.sh started', time - $t0;

my $l = listed($P);
is_deeply [ sort map { $l->{$_}{port} } keys %$l ], [ $P + 1, $P + 2 ],
    'the secondaries registered on the ports after the master\'s';

# a master with a known cluster size (REPLOG_CLUSTER_SIZE) first recovers
# its log from the secondaries that registered
ok wait_for(sub {
        my (undef, $h) = req($P, 'GET', '/health', undef, 'x-token' => $Token);
        ($h->{state} // '') eq 'open';
    }, 10), 'the master opens for writes';

my $t = time;
my ($st, $res) = req($P, 'POST', '/messages?wc=3', '{"message":"hi"}',
                     'x-token' => $Token,
                     'Content-Type' => 'application/json');
my $took = time - $t;
is $st, 201, 'a write with x-token and wc=3: 201' or diag explain $res;
ok $took < 2, sprintf('it answers at once, no artificial delay (%.2f s)',
                      $took);
is_deeply [ sort @{ $res->{meta}{registered_to} // [] } ],
    [qw(master secondary-1 secondary-2)],
    'held by the master and both secondaries';

($st, $res) = req($P, 'POST', '/messages?wc=1', '{"message":"no token"}',
                  'Content-Type' => 'application/json');
is $st, 403, 'API_TOKEN in .env: a write without x-token is refused (403)';
($st) = req($P, 'GET', '/messages');
is $st, 403, 'and GET /messages without x-token: 403';
($st, $res) = req($P + 1, 'GET', '/messages', undef, 'x-token' => $Token);
is_deeply [ map { $_->{message} } @{ ref $res ? $res->{data} : [] } ],
    ['hi'], 'secondary-1 holds the message';

like slurp("$run_dir/master/nginx.conf"),
     qr/^\s*replog_retry interval=5s max_delay=20s mechanism=exponential;$/m,
     'the master retries as MESSAGE_POST_* in .env say';
like slurp("$run_dir/master/nginx.conf"),
     qr/^\s*replog_healthcheck interval=20s .*remove_after=40s;$/m,
     'and checks health as HEALTHCHECK_DELAY, SECONDARY_REMOVAL_DELAY say';

# a second make run on the same ports: refused, clearly, at once
my $log2 = "$Dir/run2.log";
$t = time;
my $run2 = run_sh($log2, MASTER_PORT => $P, SECONDARY_PORT => $P,
                  RUN_DIR => "$Dir/run2");
my $done = wait_for(sub { waitpid($run2, WNOHANG) == $run2 }, 10);
my $rc = $? >> 8;
ok $done && $rc != 0, "a second run.sh on the same ports exits ($rc)";
like slurp($log2), qr/port $P on 127\.0\.0\.1 is already in use; not starting/,
    'naming the port in use';
unless ($done) { kill 'KILL', -$run2; waitpid $run2, 0 }

kill 'TERM', $run;
ok wait_for(sub { waitpid($run, WNOHANG) == $run }, 15),
    'run.sh stops on SIGTERM';
kill 'KILL', -$run;
ok wait_for(sub {
        !grep { IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $P + $_) } 0 .. 2
    }, 10), 'and everything it started is gone';

my @bad = grep { /exited on signal|AddressSanitizer|runtime error:|\[alert\]/ }
    map { split /\n/, slurp($_) } glob "$run_dir/*/error.log";
ok !@bad, 'no crash or sanitizer report in the run' or diag join "\n", @bad;

# --- the pieces ------------------------------------------------------------

my $c = Replog::Cluster->new(name => 'original-env-parts', cluster_size => 2,
                             api_key => $Token, workers => 1);
$c->start_master;

# a second nginx rendered for the master's port must not share it
{
    my $prefix = "$Dir/twin";
    make_path("$prefix/tmp");
    local %ENV = (%ENV, REPLOG_PREFIX => $prefix, REPLOG_ID => 'twin',
                  REPLOG_MODULE => $Module, REPLOG_LISTEN => '127.0.0.1',
                  REPLOG_WORKERS => 1, REPLOG_ZONE_SIZE => '16m',
                  API_TOKEN => $Token, API_KEY => '',
                  MASTER_PORT => $c->port('master'));
    system("$Top/scripts/render-conf.sh master > $prefix/nginx.conf") == 0
        or die 'render-conf';
    local $ENV{LD_PRELOAD} = $ENV{TEST_NGINX_LD_PRELOAD}
        if $ENV{TEST_NGINX_LD_PRELOAD};
    my $pid = fork // die;
    if ($pid == 0) {
        setpgrp(0, 0);
        open STDOUT, '>', "$prefix/stderr.log";
        open STDERR, '>', "$prefix/stderr.log";
        exec $Nginx, '-p', $prefix, '-c', "$prefix/nginx.conf",
             '-e', "$prefix/error.log", '-g', 'daemon off;';
        exit 127;
    }
    my $exited = wait_for(sub { waitpid($pid, WNOHANG) == $pid }, 10);
    ok $exited, 'a second nginx on the master\'s port does not start';
    like slurp("$prefix/error.log") . slurp("$prefix/stderr.log"),
         qr/Address already in use/, 'nginx says the address is in use';
    # with its workers: a twin that did start shares the port
    unless ($exited) { kill 'KILL', -$pid; waitpid $pid, 0 }
}

# the helper started before its nginx, with the .env's 30 s retry interval:
# it waits for its own nginx briefly, not 30 s
{
    my $node = $c->_add_node('s1', 'secondary');
    $c->start_helper('s1', '--retry-interval', '30', '--watch', '0.3');
    sleep 0.5;
    $t = time;
    $c->_start_nginx($node);
    ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 5),
        'the helper registers within 5 s of its nginx (retry interval 30 s)'
        or diag slurp("$node->{prefix}/register.log");
    diag sprintf 'registered %.1f s after its nginx started', time - $t;
}

# the helper from the original's variables alone: API_TOKEN, MASTER_HOST
# with a scheme, MASTER_PORT, SECONDARY_PORT, HOSTNAME
{
    my $node = $c->_add_node('s2', 'secondary');
    $c->_start_nginx($node);
    local %ENV = %ENV;
    delete @ENV{@Names};
    @ENV{qw(API_TOKEN MASTER_HOST MASTER_PORT SECONDARY_PORT HOSTNAME
            CONNECTION_TO_MASTER_RETRY_INTERVAL MAX_CONNECTION_TO_MASTER_DELAY)}
        = ($Token, 'http://127.0.0.1', $c->port('master'), $node->{port},
           's2', '0.2', '10');
    $node->{helper_pid} = $c->_spawn("$node->{prefix}/register.log",
                                     "$Top/build/replog-register", '-q');
    ok $c->wait_for(sub { $c->status('s2') eq 'HEALTHY' }, 10),
        'API_TOKEN and MASTER_HOST=http://127.0.0.1: the helper registers'
        or diag slurp("$node->{prefix}/register.log");
    my $w = waitpid $node->{helper_pid}, 0;
    is $? >> 8, 0, 'and exits 0';
    delete $node->{helper_pid};

    # API_TOKEN and a different API_KEY: a mistake, said so
    $ENV{API_KEY} = 'other';
    my $out = `'$Top/build/replog-register' 2>&1`;
    is $? >> 8, 64, 'API_TOKEN and a different API_KEY: the helper exits 64';
    like $out, qr/API_TOKEN and API_KEY are both set and differ/,
        'saying why';
    $out = `'$Top/scripts/render-conf.sh' master 2>&1 >/dev/null`;
    ok $? != 0 && $out =~ /API_TOKEN and API_KEY are both set and differ/,
        'render-conf.sh refuses the same';
}

$c->stop_all;

done_testing;
