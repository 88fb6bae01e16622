package Test::Nginx::Util;

=head1 NAME

Test::Nginx::Util - nginx process control for replog's test harness

=head1 SYNOPSIS

    use Test::More;
    use lib 't/lib';
    use Test::Nginx::Util qw(:util);

    workers(2);
    start_nginx_conf(<<'EOF', http_config => 'replog_zone one 1m;');
        location / { return 200 "ok\n"; }
    EOF

    my ($status, $headers, $body) = http_request(port(), 'GET', '/');
    is $status, 200;

    reload_nginx() or fail 'reload';    # SIGHUP + wait for new workers
    stop_nginx();                       # also reports crashes, see below
    done_testing;

=head1 CONFIGURATION

Environment variables:

  TEST_NGINX_BINARY        nginx binary (default /usr/sbin/nginx)
  TEST_NGINX_PORT          port of the main server (default 1984)
  TEST_NGINX_SERVROOT      server root (default t/servroot)
  TEST_NGINX_LOAD_MODULES  space-separated .so paths, load_module'd first
  TEST_NGINX_LD_PRELOAD    LD_PRELOAD for nginx (e.g. libasan.so);
                           ASAN_OPTIONS/UBSAN_OPTIONS pass through
  TEST_NGINX_USE_VALGRIND  run nginx under valgrind, as CPAN Test::Nginx
                           does: 1 (or any number) for memcheck, any other
                           text for valgrind options of your own; nginx
                           stays in the foreground with its master
                           process, workers are followed across fork();
                           each process logs to logs/valgrind.PID.log

Every C<$TEST_NGINX_NAME> in configuration text is replaced by the
environment variable of that name, except these built-ins:
C<$TEST_NGINX_PORT>, C<$TEST_NGINX_SERVER_PORT> (the main port),
C<$TEST_NGINX_SERVROOT>, C<$TEST_NGINX_SERVER_ROOT>,
C<$TEST_NGINX_HTML_DIR> and C<$TEST_NGINX_RAND_PORT_1> .. C<_5> (free
ports picked at load time).  Block files get only those the real runner
knows (C<_SERVER_PORT>, C<_SERVER_ROOT>, C<_RAND_PORT_n>).

=head1 FUNCTIONS (export tag C<:util>)

=over

=item workers([$n]), log_level([$level]), master_on(), master_off(), env_to_nginx(@names)

Settings used by the next start.  C<master_off> is ignored: the master
process is always on.  Default log level is C<info>.

=item port(), server_port(), rand_port($n), servroot(), html_dir(), error_log_file()

C<rand_port($n)> is the value of C<$TEST_NGINX_RAND_PORT_$n> (1..5).

=item start_nginx_conf($config, %opts)

Wipes the server root, writes F<conf/nginx.conf> and starts nginx in the
foreground as a child process, waiting until it is ready (its pid file is
written, which happens after all listening sockets are bound).  C<$config>
is the body of the main C<server {}> block; C<%opts> may hold
C<http_config>, C<main_config>, C<server_name>, C<workers>, C<log_level>,
C<user_files> (a hashref path =E<gt> content, or C<--- user_files> text)
or C<full_conf =E<gt> 1> to use C<$config> as the whole nginx.conf (only
the C<load_module> lines are prepended).  Dies if nginx does not come up.
Returns the master pid.

=item reload_nginx([$new_config, %opts])

Optionally rewrites nginx.conf (same arguments as C<start_nginx_conf>),
then sends SIGHUP and waits (max 10 s) until a new generation of worker
processes is running and all old workers are gone or shutting down.
Returns true on success, false (with a C<diag>) if nginx rejected the
configuration or timed out.

=item stop_nginx()

SIGQUIT, wait up to 10 s, then SIGKILL the whole process group.  Then
checks the logs for crashes (see below); only if a problem is found it
emits a failing test named C<no crash>.  Also done automatically at exit.

=item nginx_pid()

Pid of the running master, or undef.

=item read_error_log(), crash_problems()

Text of F<logs/error.log>; list of crash/sanitizer findings so far.

=item http_request($port, $method, $uri, $body, \%headers)

From L<Test::Nginx::HTTP>: returns C<($status, \%lc_headers, $body)>.

=back

=head1 CRASH DETECTION

After every stop, F<logs/error.log> and F<logs/stderr.log> are searched for
C<exited on signal>, C<process N exited with code> non-zero,
C<AddressSanitizer>, C<LeakSanitizer> and C<runtime error:> (UBSan); an
unexpected exit of the master or a failed graceful stop is reported too.
Under valgrind, F<logs/valgrind.*.log> are searched for invalid reads,
writes and frees, uses of uninitialised values and overlapping copies.

=head1 FORKING

Child processes that a test forks should leave with C<POSIX::_exit>; the
END block only stops nginx in the process that started it anyway.

=cut

use strict;
use warnings;

use Exporter 'import';
use Cwd ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use File::Basename qw(dirname);
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use Test::More ();
use Test::Nginx::HTTP qw(http_request);

our @UTIL = qw(
    workers log_level master_on master_off env_to_nginx
    port server_port rand_port servroot html_dir error_log_file
    start_nginx_conf reload_nginx stop_nginx nginx_pid
    read_error_log crash_problems http_request
);
our @EXPORT_OK = (@UTIL, qw(
    expand_env write_servroot start_nginx nginx_alive stderr_log_file
    slurp check_no_crash stop_nginx_unchecked
));
our %EXPORT_TAGS = (util => \@UTIL, all => \@EXPORT_OK);

# ---------------------------------------------------------------- settings

my $Port     = $ENV{TEST_NGINX_PORT} || 1984;
my $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
$ServRoot =~ s{/+$}{};
# as the real runner: blocks and their preamble code may read it
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
my $Binary   = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $Workers  = 1;
my $LogLevel = 'info';
my @EnvToNginx;
my @RandPorts = _free_ports(5, $Port);

# seconds to wait for nginx to come up, and for a graceful stop
my $StartTimeout = $ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 10;
my $StopTimeout  = $ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 10;

sub workers   { $Workers  = $_[0] if @_; $Workers }
sub log_level { $LogLevel = $_[0] if @_; $LogLevel }
sub master_on { 1 }

my $warned_master_off;
sub master_off {
    Test::More::diag('master_off() ignored: the master process is always on')
        unless $warned_master_off++;
}

sub env_to_nginx   { push @EnvToNginx, @_ }
sub port           { $Port = $_[0] if @_; $Port }
sub server_port    { $Port }
sub rand_port      { $RandPorts[ ($_[0] // 1) - 1 ] }    # 1 .. 5
sub servroot       { $ServRoot }
sub html_dir       { "$ServRoot/html" }
sub error_log_file { "$ServRoot/logs/error.log" }
sub stderr_log_file { "$ServRoot/logs/stderr.log" }

# Ask the kernel for $n distinct free ports (none equal to $avoid).
sub _free_ports {
    my ($n, $avoid) = @_;
    my (%seen, @socks);
    while (keys %seen < $n) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
            Listen => 1,
        ) or die "cannot pick a free port: $@";
        push @socks, $s;    # keep open so the kernel gives distinct ones
        my $p = $s->sockport;
        $seen{$p} = 1 unless $p == $avoid;
    }
    close $_ for @socks;
    return sort { $a <=> $b } keys %seen;
}

# Replace $TEST_NGINX_* variables; dies on an unknown one.
# With 'block', only the names the real Test::Nginx::Socket knows.
sub expand_env {
    my ($text, $block) = @_;
    return $text if !defined $text || ref $text;
    my %builtin = (
        TEST_NGINX_SERVER_PORT => $Port,
        TEST_NGINX_SERVER_ROOT => $ServRoot,
        (map { ("TEST_NGINX_RAND_PORT_$_" => $RandPorts[$_ - 1]) } 1 .. 5),
        $block ? () : (TEST_NGINX_PORT     => $Port,
                       TEST_NGINX_SERVROOT => $ServRoot,
                       TEST_NGINX_HTML_DIR => html_dir()),
    );
    $text =~ s{\$(TEST_NGINX_[A-Z_0-9]+)}{
        $builtin{$1} // $ENV{$1}
            // die "no value for \$$1 (set the environment variable)\n"
    }ge;
    return $text;
}

# ------------------------------------------------------------ nginx -V info

my %Build;
sub _build_info {
    return \%Build if %Build;
    my $v = `'$Binary' -V 2>&1`;
    die "cannot run $Binary -V (set TEST_NGINX_BINARY)\n" if $? || !$v;
    my ($maj, $min, $pat) = $v =~ m{version: \w+/(\d+)\.(\d+)\.(\d+)};
    %Build = (
        text => $v,
        # -e (startup error log) exists since 1.19.5
        has_e => defined $maj
            && ($maj * 1e6 + $min * 1e3 + $pat) >= 1_019_005,
    );
    return \%Build;
}

# ----------------------------------------------------------- configuration

# A user's section, verbatim (re-indenting could alter multi-line strings).
sub _section {
    my ($text) = @_;
    return '' unless defined $text && $text =~ /\S/;
    $text .= "\n" unless $text =~ /\n\z/;
    return $text;
}

# Build the text of nginx.conf from its parts.
sub _nginx_conf {
    my (%p) = @_;
    my @mods = grep { length } split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    my $conf = join '', map { "load_module $_;\n" } @mods;
    return $conf . $p{config} if $p{full_conf};

    my $main    = $p{main_config} // '';
    my $workers = $p{workers}   // $Workers;
    my $level   = $p{log_level} // $LogLevel;

    $conf .= "daemon off;\nmaster_process on;\n"
           . "worker_processes $workers;\n"
           . "error_log logs/error.log $level;\n"
           . "pid logs/nginx.pid;\n";
    # As root, run workers as root too: no permission surprises in servroot.
    $conf .= "user root;\n" if $> == 0 && $main !~ /^\s*user\s/m;
    $conf .= "env $_;\n" for @EnvToNginx;
    $conf .= "\n" . _section($main) if $main =~ /\S/;

    my $v = _build_info()->{text};
    my $temp = "    client_body_temp_path $ServRoot/client_body_temp;\n";
    for my $m (qw(proxy fastcgi uwsgi scgi)) {
        $temp .= "    ${m}_temp_path $ServRoot/${m}_temp;\n"
            unless $v =~ /--without-http_${m}_module/;
    }

    $conf .= "\nevents {\n    worker_connections 1024;\n}\n\n"
           . "http {\n"
           . "    access_log logs/access.log;\n"
           . "    default_type text/plain;\n"
           . "    keepalive_timeout 68;\n"
           . $temp
           . ($p{http_config} && $p{http_config} =~ /\S/
              ? "\n" . _section($p{http_config}) : '')
           . "\n"
           . "    server {\n"
           . "        listen 127.0.0.1:$Port;\n"
           . "        server_name " . ($p{server_name} // 'localhost') . ";\n"
           # a block's server, as the real runner writes it
           . ($p{block} ? "        client_max_body_size 30M;\n" : '')
           . "\n"
           . _section($p{config})
           . ($p{root_location}
              ? "        location / {\n            root " . html_dir()
                . ";\n            index index.html index.htm;\n        }\n"
              : '')
           . "    }\n}\n";
    return $conf;
}

# Write user files under html/: a hashref, or "--- user_files" text made
# of ">>> path" lines each followed by the file's content.
sub _write_user_files {
    my ($files) = @_;
    return unless defined $files;
    my @pairs;
    if (ref $files eq 'HASH') {
        @pairs = map { [ $_, $files->{$_} ] } sort keys %$files;
    }
    else {
        for my $part (split /^>>> /m, $files) {
            next unless $part =~ /\S/;
            my ($path, $body) = $part =~ /\A(\S+)[^\n]*\n?(.*)\z/s or next;
            push @pairs, [ $path, $body ];
        }
    }
    for my $pair (@pairs) {
        my $file = html_dir() . "/$pair->[0]";
        make_path(dirname($file));
        open my $fh, '>', $file or die "cannot write $file: $!\n";
        print {$fh} $pair->[1];
        close $fh;
    }
}

# Fresh server root with conf/nginx.conf and user files.
sub write_servroot {
    my (%p) = @_;
    _kill_stale();
    remove_tree($ServRoot);
    make_path(map { "$ServRoot/$_" } qw(conf logs html));
    _write_conf(%p);
    _write_user_files($p{user_files});
}

sub _write_conf {
    my (%p) = @_;
    my $file = "$ServRoot/conf/nginx.conf";
    open my $fh, '>', $file or die "cannot write $file: $!\n";
    print {$fh} _nginx_conf(%p);
    close $fh;
}

# ------------------------------------------------------------ processes

my $NginxPid;        # master pid while running
my $OwnerPid;        # process that started it (forked children never stop it)
my $ExitStatus;      # wait status once reaped
my $Unexpected;      # reaped although we did not stop it
my $StopProblem;     # graceful stop failed
my $CheckOnStop;     # emit "no crash" on stop (plain Perl API)
my $CurWorkers = 1;

sub nginx_pid { $NginxPid }

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    my $text = <$fh>;
    return $text // '';
}

sub read_error_log { slurp(error_log_file()) }

sub _pid_alive { my ($pid) = @_; $pid && kill(0, $pid) }

# Reap the master if it exited; returns true while it is running.
sub nginx_alive {
    return 0 unless $NginxPid;
    return 0 if defined $ExitStatus;    # already reaped
    my $r = waitpid($NginxPid, WNOHANG);
    return 1 if $r == 0;
    $ExitStatus = $?;
    return 0;
}

# A previous run may have left nginx behind (killed test): end it.
sub _kill_stale {
    my $pidfile = "$ServRoot/logs/nginx.pid";
    my ($pid) = slurp($pidfile) =~ /(\d+)/;
    return unless $pid && $pid != ($NginxPid // 0);
    # only our own nginx: its command line names this server root
    return unless slurp("/proc/$pid/cmdline") =~ /\Q$ServRoot\E/;
    kill QUIT => $pid;
    my $until = time + 5;
    sleep 0.05 while kill(0, $pid) && time < $until;
    kill KILL => -$pid, $pid;    # whole process group, workers included
    sleep 0.1;
}

sub _port_busy {
    my $s = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => $Port, Proto => 'tcp',
        ReuseAddr => 1, Listen => 1,
    );
    return !$s;
}

# Start nginx on the prepared servroot.  Returns the pid, or (undef, $why).
# With must_die => 1, waits for nginx to exit instead and returns
# (exit status, undef) or (undef, $why) if it kept running.
sub start_nginx {
    my (%opt) = @_;
    die "nginx already running (pid $NginxPid)\n" if $NginxPid;
    return (undef, "port $Port is already in use by another process")
        if _port_busy();

    my @cmd = ($Binary, '-p', "$ServRoot/", '-c', 'conf/nginx.conf');
    push @cmd, '-e', 'logs/error.log' if _build_info()->{has_e};
    unshift @cmd, _valgrind() if $ENV{TEST_NGINX_USE_VALGRIND};

    my $pid = fork // die "fork: $!\n";
    if (!$pid) {
        # Own process group so stragglers can be killed together.
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', stderr_log_file() or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        $ENV{LD_PRELOAD} = $ENV{TEST_NGINX_LD_PRELOAD}
            if defined $ENV{TEST_NGINX_LD_PRELOAD};
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    ($NginxPid, $OwnerPid) = ($pid, $$);
    ($ExitStatus, $Unexpected, $StopProblem) = ();
    _install_signal_handlers();

    my $pidfile = "$ServRoot/logs/nginx.pid";
    my $until = time + ($opt{must_die} ? 5 : $StartTimeout);
    while (time < $until) {
        if (!nginx_alive()) {
            my $st = $ExitStatus;
            undef $NginxPid;
            return ($st, undef) if $opt{must_die};
            return (undef, 'nginx exited during startup, ' . _status_text($st));
        }
        # The pid file is written after all listening sockets are bound.
        return ($pid) if !$opt{must_die} && slurp($pidfile) =~ /^\Q$pid\E\b/;
        sleep 0.01;
    }
    return (undef, "nginx kept running (it was expected to fail)")
        if $opt{must_die};
    return (undef, "nginx not ready after $StartTimeout s");
}

# The valgrind command line: memcheck, one log per process.
sub _valgrind {
    my $v = $ENV{TEST_NGINX_USE_VALGRIND};
    my @opts = $v =~ /^\d+$/
        ? qw(--tool=memcheck --leak-check=no --num-callers=30
             --track-origins=no --error-limit=no)
        : split ' ', $v;
    return ('valgrind', '-q', @opts,
            "--log-file=$ServRoot/logs/valgrind.%p.log");
}

sub _status_text {
    my ($st) = @_;
    return 'status unknown' unless defined $st;
    return 'killed by signal ' . ($st & 127) if $st & 127;
    return 'exit code ' . ($st >> 8);
}

# Stop the master (and its group); remembers how it went for the crash check.
sub stop_nginx_unchecked {
    return unless $NginxPid && $$ == ($OwnerPid // 0);
    my $pid = $NginxPid;
    if (!nginx_alive()) {
        $Unexpected = 'nginx master exited unexpectedly, '
                    . _status_text($ExitStatus);
    }
    else {
        kill QUIT => $pid;
        my $until = time + $StopTimeout;
        sleep 0.01 while nginx_alive() && time < $until;
        if (nginx_alive()) {
            $StopProblem = "nginx did not stop within $StopTimeout s "
                         . 'after SIGQUIT: killed';
            kill KILL => -$pid, $pid;
            waitpid($pid, 0);
            $ExitStatus = $?;
        }
        elsif ($ExitStatus) {
            $StopProblem = 'nginx master ended with ' . _status_text($ExitStatus);
        }
    }
    kill KILL => -$pid;    # leftovers of the group, if any
    undef $NginxPid;
}

sub stop_nginx {
    my $was_running = $NginxPid;
    local $?;
    stop_nginx_unchecked();
    if ($was_running && $CheckOnStop) {
        undef $CheckOnStop;
        check_no_crash('nginx');
    }
    return 1;
}

# What memcheck reports as an error (with -q it reports nothing else).
my $ValgrindError = join '|', 'Invalid (?:read|write|free)', 'Mismatched free',
    'Source and destination overlap', 'Conditional jump or move depends',
    'Use of uninitialised', 'Syscall param .* uninitialised';
$ValgrindError = qr/^==\d+== (?:$ValgrindError)/;

# Crash and sanitizer findings in this run's logs, each with an excerpt.
sub crash_problems {
    my @found;
    push @found, $Unexpected  if $Unexpected;
    push @found, $StopProblem if $StopProblem;
    my @vg = sort glob("$ServRoot/logs/valgrind.*.log");
    for my $file (error_log_file(), stderr_log_file(), @vg) {
        my @lines = split /\n/, slurp($file);
        my $name = (File::Spec->splitpath($file))[2];
        for my $i (0 .. $#lines) {
            my $l = $lines[$i];
            my $ctx;
            if ($l =~ /exited on signal|process \d+ exited with code [1-9]/) {
                $ctx = 3;
            }
            elsif ($l =~ /AddressSanitizer|LeakSanitizer|runtime error:/) {
                $ctx = 40;
            }
            elsif ($l =~ $ValgrindError) {
                $ctx = 30;
            }
            next unless $ctx;
            my $from = $i > 3 ? $i - 3 : 0;
            my $to   = $i + $ctx > $#lines ? $#lines : $i + $ctx;
            push @found, "$name: $l\n"
                . join('', map { "    $_\n" } @lines[$from .. $to]);
            last if @found > 10;    # enough to go on
        }
    }
    return @found;
}

# Emit a failing "<name> - no crash" test if anything was found.
sub check_no_crash {
    my ($name) = @_;
    my @p = crash_problems();
    return 1 unless @p;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::ok(0, "$name - no crash");
    Test::More::diag($_) for @p;
    return 0;
}

my $handlers_installed;
sub _install_signal_handlers {
    return if $handlers_installed++;
    for my $sig (qw(INT TERM HUP)) {
        next if ref $SIG{$sig} || ($SIG{$sig} // 'DEFAULT') ne 'DEFAULT';
        $SIG{$sig} = sub {
            stop_nginx_unchecked() if $$ == ($OwnerPid // 0);
            $SIG{$sig} = 'DEFAULT';
            kill $sig => $$;
        };
    }
}

END {
    local $?;
    if ($NginxPid && $$ == ($OwnerPid // 0)) {
        stop_nginx();
    }
}

# ------------------------------------------------------- plain-Perl API

sub start_nginx_conf {
    my ($config, %opt) = @_;
    stop_nginx() if $NginxPid;
    my %p = _conf_parts($config, %opt);
    write_servroot(%p);
    $CurWorkers = $p{full_conf} ? 1 : ($p{workers} // $Workers);
    my ($pid, $err) = start_nginx();
    if (!$pid) {
        my $why = "nginx failed to start: $err\n"
                . slurp(stderr_log_file()) . read_error_log();
        stop_nginx_unchecked();
        die $why;
    }
    $CheckOnStop = 1;
    return $pid;
}

sub _conf_parts {
    my ($config, %opt) = @_;
    my %p = (%opt, config => $config);
    for my $k (qw(config http_config main_config server_name)) {
        $p{$k} = expand_env($p{$k}) if defined $p{$k};
    }
    return %p;
}

# Children of the master that are worker processes: pid => title.
sub _workers {
    my %w;
    return %w unless $NginxPid;
    opendir my $dh, '/proc' or return %w;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my ($ppid) = slurp("/proc/$pid/stat") =~ /\)\s+\S+\s+(\d+)/ or next;
        next unless $ppid == $NginxPid;
        (my $title = slurp("/proc/$pid/cmdline")) =~ tr/\0/ /;
        $w{$pid} = $title if $title =~ /worker process/;
    }
    return %w;
}

sub reload_nginx {
    my ($config, %opt) = @_;
    if (!$NginxPid || !nginx_alive()) {
        Test::More::diag('reload_nginx: nginx is not running');
        return 0;
    }
    if (defined $config) {
        my %p = _conf_parts($config, %opt);
        _write_conf(%p);
        $CurWorkers = $p{full_conf} ? 1 : ($p{workers} // $Workers);
    }
    my %old = _workers();
    my $log_pos = length read_error_log();
    kill HUP => $NginxPid;

    my $until = time + 10;
    while (time < $until) {
        my $new_log = substr(read_error_log(), $log_pos);
        if ($new_log =~ /^.*\[emerg\].*$/m) {
            Test::More::diag("reload_nginx: nginx rejected the config: $&");
            return 0;
        }
        my %now = _workers();
        my @fresh = grep { !$old{$_} && $now{$_} !~ /shutting down/ } keys %now;
        my $started = () = $new_log =~ /start worker process/g;
        my $old_busy = grep { $now{$_} && $now{$_} !~ /shutting down/ } keys %old;
        return 1
            if (@fresh >= $CurWorkers || $started >= $CurWorkers) && !$old_busy;
        sleep 0.01;
    }
    Test::More::diag('reload_nginx: no new worker generation within 10 s');
    return 0;
}

1;
