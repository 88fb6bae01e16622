package Test::Nginx::Socket;

=head1 NAME

Test::Nginx::Socket - replog's own data-driven nginx test runner

=head1 SYNOPSIS

    # run by prove -I t/lib, or under the real runner with no -I t/lib
    use Test::Nginx::Socket 'no_plan';
    # or: use Test::Nginx::Socket; plan tests => repeat_each() * blocks() * 2;

    repeat_each(1);
    workers(2);
    log_level('info');
    run_tests();

    __DATA__

    === TEST 1: post a message
    --- http_config
        replog_zone one 1m;
    --- config
        location / { return 201 "ok\n"; }
    --- request
    POST /messages
    {"message": "hi"}
    --- more_headers
    Content-Type: application/json
    --- error_code: 201
    --- response_body
    ok
    --- no_error_log
    [error]

=head1 DESCRIPTION

A compatible subset of the CPAN Test::Nginx::Socket block format, written
from scratch on L<Test::Base>.  Every block (times C<repeat_each>) runs on
a wiped server root with a fresh nginx started in the foreground; nginx is
stopped after the block and the logs are checked for crashes and sanitizer
reports (a failing C<no crash> test appears only when something is found,
so plans written for CPAN Test::Nginx stay valid).

Where the two differ, the real runner (openresty/test-nginx) is the
reference: a block file valid here is valid there.  As there, a request
body is sent without its leading and trailing white space, with a
C<Content-Length> of what is sent (none for an empty body; more_headers
giving C<Content-Length> or C<Transfer-Encoding: chunked> send it as is);
a C<response_body> section checks every request (an C<undef> element
expects no body, a qr// element is matched); a C<response_body_like> text
keeps its last newline; every server block gets C<client_max_body_size
30M> and ends with a C<location /> serving F<html/> unless
C<no_root_location()> is called.

Exports: C<run_tests repeat_each workers master_on master_off no_shuffle
log_level no_long_string no_root_location env_to_nginx server_port port
rand_port servroot html_dir add_block_preprocessor> plus Test::Base's
(C<plan blocks is ok like diag> ...).  C<add_block_preprocessor(sub { my
$block = shift; ... })> works as in the real runner: each sub runs on
every block (the last added first) before it is run, and may give
defaults with C<< $block->set_value(config => ...) >>.
Block files use nothing else: a test that needs plain Perl (reloads with a
new config, parallel clients, several nodes) lives under F<t/perl/> or
F<t/cluster/>, on L<Test::Nginx::Util> and L<Replog::Test>.

=head2 Sections

Configuration: C<main_config>, C<http_config>, C<config>, C<server_name>,
C<user_files> (C<E<gt>E<gt>E<gt> path> lines, then content), C<log_level>
(the number of workers is the file's C<workers(n)>, as in the real runner).

Requests: C<request> (C<METHOD URI [HTTP/x.y]>, then the body; the body's
body trimmed as said above), C<request eval> returning a string or an
arrayref (one connection each),
C<pipelined_requests eval> (one keep-alive connection), C<raw_request>
(bytes as-is; an arrayref is sent piece by piece), C<more_headers> (under
C<eval> an arrayref: one element per request),
C<timeout> (seconds, default 10), C<init> (Perl run after start), C<wait>
(seconds to sleep before checking logs), C<must_die>.

Checks: C<error_code> (default 200), C<response_body>,
C<response_body_like>, C<response_body_unlike>, C<response_headers>
(C<Name: value>, C<!Name> = absent), C<response_headers_like>,
C<error_log>, C<no_error_log> (lines, or C<eval> giving strings/qr//),
C<grep_error_log> + C<grep_error_log_out>, C<ignore_response>.  Any
check may be an arrayref under C<eval>, one element per request.

A stand-in peer, as in CPAN Test::Nginx: C<tcp_listen> (a port, or a
path ending in C<.sock>) starts a TCP server before nginx that accepts
B<one> connection, reads C<tcp_query_len> bytes (the length of
C<tcp_query> when only that is given; else one read), waits
C<tcp_reply_delay>, sends C<tcp_reply> (a string; under C<eval> an
arrayref, sent piece by piece, or a sub called with what was read that
returns either) and closes the connection, unless C<tcp_no_close> keeps
it open until the block ends.  After the requests, C<tcp_query> and
C<tcp_query_len> check what the server read.  Further connections are
refused (the listening socket is closed after the one accept); a peer that
answers many connections belongs in a plain-Perl test.

C<$TEST_NGINX_*> variables are expanded where the real runner expands
them: in C<main_config>, C<http_config>, C<config>, C<user_files>,
C<pipelined_requests>, C<response_body>, C<grep_error_log_out> and
C<tcp_listen>; besides the environment's, only C<$TEST_NGINX_SERVER_PORT>,
C<$TEST_NGINX_SERVER_ROOT> and C<$TEST_NGINX_RAND_PORT_1> .. C<_5> are
known.  A C<response_headers_like> value matches the whole header value.  C<ONLY>, C<SKIP>
and C<LAST> work as in Test::Base; an unknown section fails the block.

=head2 Not supported

Blocks are never shuffled; nginx is always restarted per block; no HTTP/2,
SSL client, C<curl>, C<stap>, C<abort>, C<response_body_json>, chunk
timing in C<request eval> elements, or C<skip_nginx> evaluation (ignored).
The error log is checked once, after the last request of a block, on all
of it: the real runner checks it after every request, on the lines since
the previous one (with C<TEST_NGINX_CHECK_ACCUM_ERR_LOG=1>, on all of
them), so a block whose line is logged by a later request passes only
here.  The default C<timeout> is 10 s (3 s in the real runner).

=cut

use strict;
use warnings;

use Test::Base ();
use Test::More ();
use Test::LongString ();
use Time::HiRes qw(time sleep);
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use IO::Select ();
use POSIX ();
use Socket qw(SOCK_STREAM);
use Test::Nginx::Util qw(:all);
use Test::Nginx::HTTP qw(build_request exchange);

our @ISA = ('Test::Base');
our @EXPORT = qw(
    run_tests repeat_each workers master_on master_off no_shuffle
    log_level no_long_string no_root_location env_to_nginx server_port port
    rand_port servroot html_dir add_block_preprocessor
);

my $RepeatEach   = 1;
my $NoLongString = 0;

sub repeat_each      { $RepeatEach = $_[0] if @_; $RepeatEach }
sub no_long_string   { $NoLongString = 1 }
my $RootLocation = 1;
my @Preprocessors;

sub no_shuffle       { 1 }    # blocks always run in file order

# as in the real runner: a "location /" serving html/ ends every server
# block unless a test file asks for none
sub no_root_location { $RootLocation = 0 }

# as in the real runner: the last one added runs first, once per block
# before its repeats; it may set_value sections of the block
sub add_block_preprocessor(&) { unshift @Preprocessors, shift }

my %Known = map { $_ => 1 } qw(
    ONLY SKIP LAST skip_nginx skip_eval
    main_config http_config config server_name user_files log_level
    request raw_request pipelined_requests more_headers timeout init wait
    must_die raw_request_middle_delay
    tcp_listen tcp_reply tcp_reply_delay tcp_query tcp_query_len tcp_no_close
    error_code response_body response_body_like response_body_unlike
    response_headers response_headers_like ignore_response
    error_log no_error_log grep_error_log grep_error_log_out
);
my %Warned;

sub run_tests {
    # Test::Base insists on a plan; default to no_plan like "use ... 'no_plan'".
    Test::More::plan('no_plan') unless Test::Builder->new->has_plan;
    for my $block (Test::Base::blocks()) {
        $_->($block) for @Preprocessors;
        for my $rep (1 .. $RepeatEach) {
            _run_block($block, $rep);
        }
    }
}

# ----------------------------------------------------------- block helpers

# Section value (scalar context), or undef if absent.
sub _sec {
    my ($block, $name) = @_;
    return exists $block->{$name} ? scalar $block->$name : undef;
}

sub _has_filter {
    my ($block, $name, $filter) = @_;
    my $f = $block->{_section_map}[0]{$name}{filters} // '';
    return $f =~ /(?:^|\s)\Q$filter\E(?:\s|$)/;
}

# Expand $TEST_NGINX_* in a string or in each string of an arrayref.
sub _expand {
    my ($v) = @_;
    return [ map { _expand($_) } @$v ] if ref $v eq 'ARRAY';
    return expand_env($v, 'block');
}

# Expectation for request $i: arrayrefs are per request, scalars for all.
sub _nth {
    my ($v, $i) = @_;
    return ref $v eq 'ARRAY' ? $v->[$i] : $v;
}

sub _trim { my $s = shift; return $s unless defined $s; $s =~ s/^\s+|\s+$//g; $s }

# "METHOD [URI [VERSION]]\nbody" -> (method, uri, version, body), as the
# real runner splits it: the body is everything after the first line.
sub _parse_request {
    my ($text) = @_;
    die "request must be a string, got a " . ref($text) . "\n" if ref $text;
    my ($line, $body) = $text =~ /\A([^\n]*\n?)(.*)\z/s;
    my ($method, $uri, $version) = split ' ', $line // '';
    die "bad request line: '" . ($line // '') . "'\n" unless defined $method;
    return ($method, $uri // '/', $version, $body // '');
}

# more_headers text -> "Name: value" lines (comment lines dropped)
sub _header_lines {
    my ($text) = @_;
    return map { my ($k, $v) = split /:\s*/, $_, 2; "$k: " . ($v // '') }
           grep { !/^\s*#/ } split /\n+/, $text // '';
}

# One request as the real runner sends it: a body gets a Content-Length
# (unless more_headers give one or say chunked) and is then sent without
# its leading and trailing white space; an empty body gets no header.
sub _request_data {
    my ($text, $hdr_text, $conn) = @_;
    my ($m, $u, $v, $body) = _parse_request($text);
    my @hdrs = _header_lines($hdr_text);
    my $own = grep { /^Content-Length:/ } @hdrs;
    my $chunked = grep { /^transfer-encoding: chunked$/i } @hdrs;
    if ($body ne '' && !$own && !$chunked) {
        $body =~ s/^\s+|\s+$//gs;
        push @hdrs, 'Content-Length: ' . length $body;
    }
    unshift @hdrs, "Connection: $conn"
        unless grep { /^Connection/i } @hdrs;
    return { method => $m,
             data => build_request($m, $u, $v, $body, \@hdrs,
                                   keepalive => 1, no_length => 1) };
}

# Connections to open: a list of lists of { data, method }.
sub _build_connections {
    my ($block) = @_;
    my $more = _sec($block, 'more_headers');
    my $hdr_of = sub {
        my ($i) = @_;
        return $more unless ref $more eq 'ARRAY';
        die "more_headers lacks data for request $i\n"
            unless defined $more->[$i];
        return $more->[$i];
    };

    if (exists $block->{raw_request}) {
        my $raw = _sec($block, 'raw_request');
        my $first = ref $raw ? join('', @$raw) : $raw;
        my ($m) = $first =~ /^\s*(\S+)/;
        return [ [ { method => $m // 'GET', data => $raw } ] ];
    }
    if (exists $block->{pipelined_requests}) {
        my $list = _sec($block, 'pipelined_requests');
        die "pipelined_requests must be an arrayref (use eval)\n"
            unless ref $list eq 'ARRAY';
        my @reqs = map {
            _request_data(_expand($list->[$_]), $hdr_of->($_),
                          $_ < $#$list ? 'keep-alive' : 'close')
        } 0 .. $#$list;
        return [ \@reqs ];
    }
    if (exists $block->{request}) {
        my $r = _sec($block, 'request');
        if (!ref $r) {
            # leading white space and comment lines are skipped
            1 while $r =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
            return [ [ _request_data($r, $hdr_of->(0), 'close') ] ];
        }
        return [ map { [ _request_data($r->[$_], $hdr_of->($_),
                                       'close') ] } 0 .. $#$r ];
    }
    return [];
}

# Error-log patterns of a section: strings (one per line) or qr//s.
sub _log_patterns {
    my ($block, $name) = @_;
    my $v = _sec($block, $name);
    return () unless defined $v;
    my @items = ref $v eq 'ARRAY' ? @$v : ($v);
    return map {
        ref $_ ? $_ : grep { length } map { _trim($_) } split /\n/, $_
    } @items;
}

sub _log_has {
    my ($log, $pat) = @_;
    return ref $pat ? ($log =~ $pat ? 1 : 0) : (index($log, $pat) >= 0 ? 1 : 0);
}

sub _pat_text { my $p = shift; ref $p ? "$p" : $p }

sub _tail {
    my ($text, $n) = @_;
    my @l = split /\n/, $text // '';
    @l = @l[-$n .. -1] if @l > $n;
    return join '', map { "    $_\n" } @l;
}

# ------------------------------------------------------------ block runner

sub _run_block {
    my ($block, $rep) = @_;
    my $name = $block->name;
    $name .= " (repeat $rep)" if $RepeatEach > 1;

    my @unknown = grep { !$Known{$_} } @{ $block->{_section_order}[0] || [] };
    if (@unknown) {
        Test::More::fail("$name - known sections");
        Test::More::diag("section '$_' is not supported by this runner")
            for @unknown;
        return;
    }

    my $ok = eval { _run_block_body($block, $name); 1 };
    my $err = $@;
    stop_nginx_unchecked();    # crash reporting is done just below
    _stop_tcp_server();
    if (!$ok) {
        Test::More::fail("$name - harness");
        Test::More::diag("error: $err");
    }
    check_no_crash($name);
}

sub _run_block_body {
    my ($block, $name) = @_;
    my %conf = (
        map({ ($_ => _expand(_sec($block, $_))) }
            qw(main_config http_config config server_name user_files)),
        log_level => _trim(_sec($block, 'log_level')),
    );
    @conf{qw(block root_location)} = (1, $RootLocation);
    $conf{server_name} = _trim($conf{server_name});
    defined $conf{$_} or delete $conf{$_} for keys %conf;
    write_servroot(%conf);

    if (exists $block->{must_die}) {
        return _run_must_die($block, $name);
    }

    _start_tcp_server($block, $name) if exists $block->{tcp_listen};

    my ($pid, $err) = start_nginx();
    if (!$pid) {
        Test::More::fail("$name - nginx started");
        Test::More::diag("$err\n"
            . _tail(slurp(stderr_log_file()) . read_error_log(), 30));
        return;
    }

    if (exists $block->{init}) {
        my $code = _sec($block, 'init');
        my $ok = ref $code eq 'CODE'
            ? eval { $code->(); 1 }
            : eval "package main; no strict; $code; 1";
        if (!$ok) {
            Test::More::fail("$name - init");
            Test::More::diag("init failed: $@");
        }
    }

    my $conns   = _build_connections($block);
    my $timeout = _trim(_sec($block, 'timeout')) || 10;
    my $delay   = _trim(_sec($block, 'raw_request_middle_delay'));
    my @responses;
    for my $c (@$conns) {
        push @responses, exchange(port(), $c, timeout => $timeout,
                                  piece_delay => $delay);
    }
    _check_responses($block, $name, \@responses)
        unless exists $block->{ignore_response};
    _check_tcp_query($block, $name) if exists $block->{tcp_listen};

    my $wait = _trim(_sec($block, 'wait'));
    sleep $wait if $wait;
    _check_logs($block, $name, \&read_error_log);
}

sub _run_must_die {
    my ($block, $name) = @_;
    my ($status, $err) = start_nginx(must_die => 1);
    if (defined $status && $status != 0) {
        Test::More::pass("$name - nginx failed to start, as expected");
    }
    else {
        Test::More::fail("$name - nginx failed to start, as expected");
        Test::More::diag($err // 'nginx exited with code 0');
    }
    _check_logs($block, $name,
                sub { slurp(stderr_log_file()) . read_error_log() });
}

sub _check_responses {
    my ($block, $name, $responses) = @_;
    my $multi = @$responses > 1;

    my $code  = _sec($block, 'error_code');
    my $body  = _expand(_sec($block, 'response_body'));
    my $like  = _sec($block, 'response_body_like');
    my $unlike = _sec($block, 'response_body_unlike');
    my $hdrs  = _sec($block, 'response_headers');
    my $hlike = _sec($block, 'response_headers_like');

    for my $i (0 .. $#$responses) {
        my $res = $responses->[$i];
        my $n = $multi ? " (req $i)" : '';

        if ($res->{error}) {
            Test::More::diag("$name$n: $res->{error}");
        }
        my $want_code = _trim(_nth($code, $i)) // 200;
        Test::More::is($res->{status}, $want_code,
                       "$name - status code ok$n");

        # as in the real runner: every request is checked once the
        # section is there (an undef element expects no body at all), and
        # a qr// element is matched
        if (defined $body) {
            my $want = _nth($body, $i);
            my $t = "$name - response_body - response is expected$n";
            if (ref $want) {
                Test::More::like($res->{body}, $want, $t);
            }
            else {
                $NoLongString
                    ? Test::More::is($res->{body}, $want, $t)
                    : Test::LongString::is_string($res->{body}, $want, $t);
            }
        }
        for ([ $like, 1 ], [ $unlike, 0 ]) {
            my ($pat, $pos) = @$_;
            next unless defined($pat = _nth($pat, $i));
            $pat = _regex($pat);
            my $t = "$name - response_body_" . ($pos ? 'like' : 'unlike')
                  . " - response is expected$n";
            $pos ? Test::More::like($res->{body} // '', $pat, $t)
                 : Test::More::unlike($res->{body} // '', $pat, $t);
        }
        _check_headers($name, $n, $res, _nth($hdrs, $i), 0);
        _check_headers($name, $n, $res, _nth($hlike, $i), 1);
    }
}

# A regex from a section value: qr// as is, text as the real runner
# takes it, its last newline included (use "--- response_body_like: re" or
# the chomp filter for a pattern without one).
sub _regex {
    my ($pat) = @_;
    return $pat if ref $pat;
    return qr/$pat/s;
}

sub _check_headers {
    my ($name, $n, $res, $spec, $is_like) = @_;
    return unless defined $spec;
    for my $line (split /\n/, $spec) {
        next unless $line =~ /\S/;
        my $got_h = $res->{headers} || {};
        if ($line =~ /^\s*!\s*([^:\s]+)\s*$/) {
            Test::More::ok(!exists $got_h->{lc $1},
                           "$name - header $1 not present$n");
            next;
        }
        my ($k, $v) = $line =~ /^\s*([^:\s]+)\s*:\s*(.*?)\s*$/
            or die "bad response_headers line: $line\n";
        my $got = $got_h->{lc $k};
        if ($is_like) {
            Test::More::like($got // '', qr/^$v$/, "$name - header $k like ok$n");
        }
        elsif ($v eq '') {    # "Name:" means absent or empty
            Test::More::ok(!defined $got || $got eq '', "$name - header $k ok$n");
        }
        else {
            Test::More::is($got, $v, "$name - header $k ok$n");
        }
    }
}

# error_log / no_error_log / grep_error_log against $read->().
sub _check_logs {
    my ($block, $name, $read) = @_;
    my @want = _log_patterns($block, 'error_log');
    my @not  = _log_patterns($block, 'no_error_log');
    my $grep = _sec($block, 'grep_error_log');
    return unless @want || @not || defined $grep;

    # Give late log writes a moment: poll for expected lines, or settle.
    my $log = $read->();
    my $until = time + 0.5;
    while (@want && time < $until && grep { !_log_has($log, $_) } @want) {
        sleep 0.02;
        $log = $read->();
    }
    if (!@want) {
        sleep 0.1;
        $log = $read->();
    }

    for my $p (@want) {
        my $t = "$name - pattern \"" . _pat_text($p)
              . '" should match a line in error.log';
        Test::More::ok(_log_has($log, $p), $t)
            or Test::More::diag("error.log (tail):\n" . _tail($log, 20));
    }
    for my $p (@not) {
        my $t = "$name - pattern \"" . _pat_text($p)
              . '" should not match any line in error.log';
        my @hits = grep { _log_has($_, $p) } split /\n/, $log;
        Test::More::ok(!@hits, $t)
            or Test::More::diag(join '', map { "    $_\n" } @hits[0 .. ($#hits > 9 ? 9 : $#hits)]);
    }
    if (defined $grep) {
        my $pat = ref $grep ? $grep : qr/\Q${\ _trim($grep)}\E/;
        my $got = '';
        $got .= "$&\n" while $log =~ /$pat/g;
        Test::More::is($got, _expand(_sec($block, 'grep_error_log_out')) // '',
                       "$name - grep_error_log - log is expected");
    }
}

# ------------------------------------------------------ stand-in TCP peer

my ($TcpPid, $TcpQueryFile);

sub _tcp_query_len {
    my ($block) = @_;
    my $len = _trim(_sec($block, 'tcp_query_len'));
    return $len if defined $len && length $len;
    my $q = _sec($block, 'tcp_query');
    return defined $q ? length $q : undef;
}

sub _start_tcp_server {
    my ($block, $name) = @_;
    my $target = _trim(_expand(_sec($block, 'tcp_listen')));
    die "tcp_listen needs a tcp_reply\n" unless exists $block->{tcp_reply};
    my $reply = _sec($block, 'tcp_reply');
    my $delay   = _trim(_sec($block, 'tcp_reply_delay')) || 0;
    my $len     = _tcp_query_len($block);
    my $timeout = _trim(_sec($block, 'timeout')) || 10;

    my $listen;
    if ($target =~ /^\d+$/) {
        $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => $target, Proto => 'tcp', ReuseAddr => 1,
            Listen => 5);
    }
    elsif ($target =~ /\.sock$/) {
        unlink $target;
        $listen = IO::Socket::UNIX->new(Local => $target,
            Type => SOCK_STREAM, Listen => 5);
    }
    else {
        die "bad tcp_listen target: $target\n";
    }
    die "tcp_listen $target: $!\n" unless $listen;

    $TcpQueryFile = servroot() . '/tcp_query';
    unlink $TcpQueryFile;

    my $pid = fork // die "fork: $!\n";
    if ($pid) {
        close $listen;    # one connection: later ones are refused
        $TcpPid = $pid;
        return;
    }

    # the child: every wait is bounded by the block's timeout
    my $until = time + $timeout + 5;
    my $sel = IO::Select->new($listen);
    my $c;
    $c = $listen->accept if $sel->can_read($timeout + 5);
    close $listen;
    POSIX::_exit(0) unless $c;

    my $buf = '';
    $sel = IO::Select->new($c);
    while (time < $until && $sel->can_read($until - time)) {
        my $n = sysread($c, $buf, 65536, length $buf);
        last unless $n;
        if (open my $fh, '>', "$TcpQueryFile.tmp") {
            binmode $fh;
            print {$fh} $buf;
            close $fh;
            rename "$TcpQueryFile.tmp", $TcpQueryFile;
        }
        last if !defined $len || length $buf >= $len;
    }

    sleep $delay if $delay;

    my $r = ref $reply eq 'CODE' ? $reply->($buf) : $reply;
    for my $piece (ref $r eq 'ARRAY' ? @$r : ($r)) {
        next unless defined $piece && length $piece;
        my $off = 0;
        while ($off < length $piece) {
            my $n = syswrite($c, $piece, length($piece) - $off, $off);
            last unless $n;
            $off += $n;
        }
    }

    sleep 1 while exists $block->{tcp_no_close} && time < $until;
    close $c;
    POSIX::_exit(0);
}

# What the peer read, against tcp_query / tcp_query_len.
sub _check_tcp_query {
    my ($block, $name) = @_;
    my $want = _sec($block, 'tcp_query');
    my $len  = _trim(_sec($block, 'tcp_query_len'));
    return unless defined $want || (defined $len && length $len);

    # nginx may talk to the peer after the client's answer: a moment
    my $need = _tcp_query_len($block);
    my $until = time + 2;
    sleep 0.02 while time < $until
        && length(slurp($TcpQueryFile)) < $need;

    my $got = slurp($TcpQueryFile);
    if (defined $want) {
        my $t = "$name - tcp_query ok";
        $NoLongString ? Test::More::is($got, $want, $t)
                      : Test::LongString::is_string($got, $want, $t);
    }
    Test::More::is(length $got, $len, "$name - TCP query length ok")
        if defined $len && length $len;
}

sub _stop_tcp_server {
    return unless $TcpPid;
    kill KILL => $TcpPid;
    waitpid($TcpPid, 0);
    undef $TcpPid;
}

1;
