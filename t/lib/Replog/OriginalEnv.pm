package Replog::OriginalEnv;

=head1 NAME

Replog::OriginalEnv - the original service's .env verbatim, and `make
run`'s scripts/run.sh started from the project's .env, for the tests of
t/cluster/ that run replog as a drop-in for the original (120, 130)

=head1 SYNOPSIS

    use lib 't/lib';
    use Replog::Test qw(free_ports slurp wait_for);
    use Replog::OriginalEnv qw(run_sh stop_run);

    my $p   = free_ports(3);
    my $pid = run_sh("$dir/run.log", MASTER_PORT => $p,
                     SECONDARY_PORT => $p, RUN_DIR => "$dir/run");
    ...
    stop_run($pid);

The module under test is the first of TEST_NGINX_LOAD_MODULES (or the
build's); with TEST_NGINX_LD_PRELOAD (the ASan runtime) nginx alone is
started through a wrapper that preloads it, never run.sh or the helper.

=cut

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Replog::Cluster;
use Replog::Test qw(wait_for);

our @EXPORT_OK = qw(ORIGINAL TOKEN NAMES nginx_bin module run_sh stop_run);

# the original's .env (ibeliuha/log-replication-service at 0f0081c), which
# has no newline at its end
my $Original = <<'ENV';
API_TOKEN=hog32422of24gr5t

MASTER_HOST=http://master
MASTER_PORT=8000
SECONDARY_PORT=8000

HEALTHCHECK_DELAY=20
SECONDARY_REMOVAL_DELAY=40

MAX_CONNECTION_TO_MASTER_DELAY=300
CONNECTION_TO_MASTER_RETRY_INTERVAL=30
CONNECTION_TO_MASTER_RETRY_MECHANISM=uniform

MAX_MESSAGE_POST_RETRY_DELAY=20
MESSAGE_POST_RETRY_INTERVAL=5
MESSAGE_POST_RETRIES_MECHANISM=exponential
ENV
chomp $Original;

sub ORIGINAL { $Original }
sub TOKEN    { 'hog32422of24gr5t' }

# what the .env sets, and what run.sh would otherwise read from outside
my @Names = qw(API_TOKEN API_KEY SERVICE_KEY SERVICE_TYPE SERVER_TYPE
    MASTER_HOST MASTER_PORT SECONDARY_PORT HEALTHCHECK_DELAY
    SECONDARY_REMOVAL_DELAY MAX_CONNECTION_TO_MASTER_DELAY
    CONNECTION_TO_MASTER_RETRY_INTERVAL CONNECTION_TO_MASTER_RETRY_MECHANISM
    MAX_MESSAGE_POST_RETRY_DELAY MESSAGE_POST_RETRY_INTERVAL
    MESSAGE_POST_RETRIES_MECHANISM DELAY SECONDARIES DELAYED_SECONDARIES
    REPLOG_CLUSTER_SIZE REPLOG_WATCH ENV_FILE RUN_DIR DATA_DIR FSYNC);

sub NAMES { @Names }

sub module {
    (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '')[0]
        // Replog::Cluster->top . '/build/ngx_http_replog_module.so';
}

# nginx, through a wrapper in $dir preloading the ASan runtime if asked
sub nginx_bin {
    my ($dir) = @_;
    my $nginx = $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx';
    return $nginx unless $ENV{TEST_NGINX_LD_PRELOAD};

    open my $fh, '>', "$dir/nginx" or die "$dir/nginx: $!";
    print $fh "#!/bin/sh\nLD_PRELOAD='$ENV{TEST_NGINX_LD_PRELOAD}' "
            . "exec '$nginx' \"\$@\"\n";
    close $fh;
    chmod 0755, "$dir/nginx";
    return "$dir/nginx";
}

# scripts/run.sh with the project's .env, %env on top, in its own process
# group; its output in $log (nginx's wrapper next to $log)
sub run_sh {
    my ($log, %env) = @_;
    my $top = Replog::Cluster->top;
    my $nginx = nginx_bin($log =~ s{/[^/]*$}{}r);
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        setpgrp(0, 0);
        delete @ENV{@Names};
        @ENV{keys %env} = values %env;
        $ENV{REPLOG_MODULE} = module();
        $ENV{NGINX_BIN} = $nginx;
        $ENV{REPLOG_WORKERS} = 1;
        $ENV{REPLOG_ZONE_SIZE} = '16m';
        open STDOUT, '>>', $log or die;
        open STDERR, '>>', $log or die;
        exec "$top/scripts/run.sh" or die "exec: $!";
    }

    return $pid;
}

# SIGTERM to run.sh, then whatever is left of its group; true if run.sh
# stopped on SIGTERM within $seconds
sub stop_run {
    my ($pid, $seconds) = @_;
    kill 'TERM', $pid;
    my $ok = wait_for(sub { waitpid($pid, WNOHANG) == $pid }, $seconds // 15);
    kill 'KILL', -$pid;
    waitpid $pid, 0 unless $ok;
    return $ok;
}

1;
