package Replog::Helper;

# Runs build/replog-register for the helper's own tests (t/cluster/010,
# 011): in a clean environment (none of the variables it reads leaks in
# from outside), its stderr collected in a file, every run it left behind
# killed at the end.

use strict;
use warnings;

use Exporter 'import';
use Cwd ();
use File::Temp ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(helper_path spawn_helper wait_exit run_helper
                    slurp_file running_helpers);

# the environment the helper reads
my @EnvNames = qw(MASTER_HOST MASTER_PORT HOSTNAME SECONDARY_PORT API_KEY
    API_TOKEN SERVICE_KEY CONNECTION_TO_MASTER_RETRY_INTERVAL
    CONNECTION_TO_MASTER_RETRY_MECHANISM MAX_CONNECTION_TO_MASTER_DELAY
    REPLOG_WATCH);

my $Helper = Cwd::abs_path('.') . '/build/replog-register';
my $Tmp = File::Temp->newdir('replog-helper-XXXXXX', TMPDIR => 1);
my %Running;    # helper pid => 1, killed at the end if still there
my $Runs = 0;

sub helper_path { $Helper }

sub running_helpers { keys %Running }

# Starts the helper ([ options ] and %env on top of a clean environment),
# under the command in $opt->{wrap} if given (valgrind); returns its pid
# and the file that collects its stderr.
sub spawn_helper {
    my $opt = ref $_[0] eq 'HASH' ? shift : {};
    my ($args, %env) = @_;
    my $log = "$Tmp/helper-" . ++$Runs . '.log';
    my @cmd = (@{ $opt->{wrap} // [] }, $Helper, @$args);

    my $pid = fork // die "fork: $!";

    if (!$pid) {
        delete @ENV{@EnvNames};
        @ENV{keys %env} = values %env;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }

    $Running{$pid} = 1;

    return ($pid, $log);
}

# Exit code of $pid within $limit seconds (minus the signal that ended it,
# if one did); undef (and killed) if it ran on.
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

# Runs the helper to its end, at most $opt->{limit} seconds (20): (exit
# code, stderr text, seconds taken).
sub run_helper {
    my $opt = ref $_[0] eq 'HASH' ? shift : {};
    my $t0 = time;
    my ($pid, $log) = spawn_helper($opt, @_);
    my $code = wait_exit($pid, $opt->{limit} // 20);

    return ($code, slurp_file($log), time - $t0);
}

sub slurp_file {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return <$fh> // '';
}

END {
    local $?;    # the test's exit status

    for my $pid (keys %Running) {
        kill KILL => $pid;
        waitpid($pid, 0);
    }
}

1;
