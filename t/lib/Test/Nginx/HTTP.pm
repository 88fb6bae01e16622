package Test::Nginx::HTTP;

# Minimal blocking HTTP/1.x client for the test harness.
#
# Written on IO::Socket::INET; all waits go through IO::Select against an
# absolute deadline, so a misbehaving server can never hang a test.

=head1 NAME

Test::Nginx::HTTP - tiny HTTP client used by replog's nginx test harness

=head1 SYNOPSIS

    use Test::Nginx::HTTP qw(http_request);

    my ($status, $headers, $body) =
        http_request(1984, 'POST', '/messages', '{"m":1}',
                     { 'Content-Type' => 'application/json' });
    # $headers keys are lower-cased; repeated headers are joined by ", ".
    # On a network error or timeout $status is undef and
    # $Test::Nginx::HTTP::Error says why.

=head1 FUNCTIONS

=over

=item http_request($port, $method, $uri, $body, \%headers, %opts)

One request on a fresh connection (C<Connection: close>), returns
C<($status, \%headers, $body)>.  Adds C<Host> and C<Content-Length> unless
given.  Options: C<timeout> (seconds, default 10), C<host> (default
127.0.0.1).

=item build_request($method, $uri, $version, $body, \@header_lines, %opts)

Serialises a request.  C<keepalive =E<gt> 1> omits C<Connection: close>;
C<no_length =E<gt> 1> adds no C<Content-Length> (the caller gives one in
C<@header_lines>, or none, as the block runner does).

=item exchange($port, \@requests, %opts)

Low level: connects once, sends every element of C<@requests> (each a hash
C<{ data =E<gt> $bytes_or_arrayref_of_pieces, method =E<gt> $m }>) and reads
one response per request from the same connection.  Returns a list of
response hashes C<{ status, reason, protocol, headers, header_list, body,
error }>.  Pieces of an arrayref C<data> are written with C<delay> seconds
(option C<piece_delay>, default 0.01) in between.

=back

=cut

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time sleep);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);

our @EXPORT_OK = qw(http_request build_request exchange);
our $Error;

# Serialise one request.  @$hdrs holds "Name: value" lines given by the user.
sub build_request {
    my ($method, $uri, $version, $body, $hdrs, %opt) = @_;
    $version ||= 'HTTP/1.1';
    my @lines = @{ $hdrs || [] };
    my %has = map { /^\s*([^:\s]+)\s*:/ ? (lc $1 => 1) : () } @lines;

    unshift @lines, 'Host: localhost' unless $has{host};
    push @lines, 'Connection: close'
        unless $opt{keepalive} or $has{connection};

    my $has_body = defined $body && length $body;
    if (!$opt{no_length} && !$has{'content-length'}
        && !$has{'transfer-encoding'}
        && ($has_body || $method =~ /^(?:POST|PUT|PATCH)$/))
    {
        push @lines, 'Content-Length: ' . ($has_body ? length $body : 0);
    }

    return "$method $uri $version\r\n"
         . join('', map { "$_\r\n" } @lines)
         . "\r\n" . ($has_body ? $body : '');
}

sub http_request {
    my ($port, $method, $uri, $body, $headers, %opt) = @_;
    my @lines = map { "$_: $headers->{$_}" } sort keys %{ $headers || {} };
    my $data = build_request($method, $uri, undef, $body, \@lines);
    my ($res) = exchange($port, [ { data => $data, method => $method } ], %opt);
    if ($res->{error}) {
        $Error = $res->{error};
        return (undef, $res->{headers} || {}, $res->{body});
    }
    undef $Error;
    return ($res->{status}, $res->{headers}, $res->{body});
}

# Connect, write every request, then read one response per request.
sub exchange {
    my ($port, $reqs, %opt) = @_;
    local $SIG{PIPE} = 'IGNORE';    # a closed peer must not kill the test
    my $timeout  = $opt{timeout} // 10;
    my $deadline = time + $timeout;
    my $host     = $opt{host} // '127.0.0.1';

    my $sock = IO::Socket::INET->new(
        PeerAddr => $host, PeerPort => $port, Proto => 'tcp',
        Timeout  => $timeout,
    ) or return map { +{ error => "connect to $host:$port failed: $@" } } @$reqs;
    $sock->blocking(0);

    for my $r (@$reqs) {
        my @pieces = ref $r->{data} ? @{ $r->{data} } : ($r->{data});
        for my $i (0 .. $#pieces) {
            sleep($opt{piece_delay} // 0.01) if $i;
            my $err = _write_all($sock, $pieces[$i], $deadline);
            # A server may answer (and close) before reading everything,
            # e.g. 413 or 400: stop writing and read what it said.
            last if $err;
        }
    }

    my $buf = '';
    my $eof = 0;
    my @res;
    for my $r (@$reqs) {
        my $res = _read_response($sock, \$buf, \$eof, $r->{method} // 'GET',
                                 $deadline);
        push @res, $res;
        # Nothing more can come after an error or a closed connection.
        if ($res->{error}) {
            push @res, { error => 'no response (connection broken)' }
                for @res .. $#$reqs;
            last;
        }
    }
    close $sock;
    return @res;
}

sub _write_all {
    my ($sock, $data, $deadline) = @_;
    my $sel = IO::Select->new($sock);
    my $off = 0;
    while ($off < length $data) {
        my $left = $deadline - time;
        return 'write timeout' if $left <= 0;
        next unless $sel->can_write($left);
        my $n = syswrite($sock, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return "write failed: $!";
        }
        $off += $n;
    }
    return;
}

# Read more bytes into $$buf.  Returns >0 bytes, 0 on EOF, undef on timeout
# or error (with the reason in the second return value).
sub _fill {
    my ($sock, $buf, $deadline) = @_;
    my $sel = IO::Select->new($sock);
    while (1) {
        my $left = $deadline - time;
        return (undef, 'timeout') if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($sock, $$buf, 65536, length $$buf);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return (undef, "read failed: $!");
        }
        return ($n);
    }
}

# Parse one response from $$buf (refilling from $sock as needed).
sub _read_response {
    my ($sock, $buf, $eof, $method, $deadline) = @_;
    my $res;

    while (1) {    # loop to skip interim 1xx responses
        $res = { headers => {}, header_list => [], body => '' };

        # Status line and headers.
        my $end;
        while (($end = _header_end($$buf)) < 0) {
            return { %$res, error => 'connection closed before response' }
                if $$eof;
            my ($n, $err) = _fill($sock, $buf, $deadline);
            return { %$res, error => "$err while reading headers" }
                unless defined $n;
            $$eof = 1 if $n == 0;
        }
        my $head = substr($$buf, 0, $end, '');
        $$buf =~ s/\A\r?\n\r?\n//;
        my ($status_line, @lines) = split /\r?\n/, $head;
        @$res{qw(protocol status reason)} =
            $status_line =~ m{^(HTTP/\d\.\d)\s+(\d{3})(?:\s+(.*))?$}
            or return { %$res, error => "bad status line: $status_line" };
        $res->{reason} //= '';

        for my $line (@lines) {
            my ($k, $v) = $line =~ /^([^:]+):\s*(.*?)\s*$/ or next;
            push @{ $res->{header_list} }, [ $k, $v ];
            my $lk = lc $k;
            $res->{headers}{$lk} = exists $res->{headers}{$lk}
                ? "$res->{headers}{$lk}, $v" : $v;
        }
        last unless $res->{status} =~ /^1/ && $res->{status} != 101;
    }

    my $h = $res->{headers};
    my $st = $res->{status};
    return $res if $method eq 'HEAD' || $st == 204 || $st == 304 || $st == 101;

    if (($h->{'transfer-encoding'} // '') =~ /chunked/i) {
        my $err = _read_chunked($sock, $buf, $eof, $res, $deadline);
        $res->{error} = $err if $err;
    }
    elsif (defined $h->{'content-length'}) {
        my $len = $h->{'content-length'};
        while (length $$buf < $len) {
            if ($$eof) { $res->{error} = 'connection closed mid-body'; last }
            my ($n, $err) = _fill($sock, $buf, $deadline);
            if (!defined $n) { $res->{error} = "$err while reading body"; last }
            $$eof = 1 if $n == 0;
        }
        $res->{body} = substr($$buf, 0, $len, '');
    }
    else {    # read until the server closes
        until ($$eof) {
            my ($n, $err) = _fill($sock, $buf, $deadline);
            if (!defined $n) { $res->{error} = "$err while reading body"; last }
            $$eof = 1 if $n == 0;
        }
        $res->{body} = $$buf;
        $$buf = '';
    }
    return $res;
}

sub _header_end {
    my $pos = index($_[0], "\r\n\r\n");
    return $pos if $pos >= 0;
    return index($_[0], "\n\n");
}

# De-chunk a body into $res->{body}; returns an error string on failure.
sub _read_chunked {
    my ($sock, $buf, $eof, $res, $deadline) = @_;
    # Refill until $ready->() is true; returns an error string or undef.
    my $need = sub {
        my ($ready) = @_;
        until ($ready->()) {
            return 'connection closed mid-chunk' if $$eof;
            my ($n, $err) = _fill($sock, $buf, $deadline);
            return "$err while reading chunked body" unless defined $n;
            $$eof = 1 if $n == 0;
        }
        return;
    };
    my $have_line = sub { index($$buf, "\n") >= 0 };
    while (1) {
        my $err = $need->($have_line);
        return $err if $err;
        $$buf =~ s/\A([0-9a-fA-F]+)[^\n]*\n//
            or return 'bad chunk size line: ' . substr($$buf, 0, 40);
        my $size = hex $1;
        if ($size == 0) {    # skip trailers up to the empty line
            while (1) {
                $err = $need->($have_line);
                return $err if $err;
                $$buf =~ s/\A([^\n]*)\n//;
                last if $1 =~ /^\r?$/;
            }
            return;
        }
        # chunk data plus its CRLF
        $err = $need->(sub {
            length $$buf > $size && index($$buf, "\n", $size) >= 0 });
        return $err if $err;
        $res->{body} .= substr($$buf, 0, $size, '');
        $$buf =~ s/\A\r?\n//;
    }
}

1;
