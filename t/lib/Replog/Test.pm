package Replog::Test;

=head1 NAME

Replog::Test - the one helper library of the plain-Perl tests (t/perl/,
t/cluster/): polling, JSON reads, the error log, files and free ports

=head1 SYNOPSIS

    use lib 't/lib';
    use Test::More;
    use Test::Nginx::Util qw(:util);       # one nginx: start, reload, stop
    use Replog::Test qw(wait_for jget no_bad_log);
    use Replog::Cluster;                   # several nginx processes

    ok(wait_for(sub { jget(port(), '/health')->{state} eq 'open' }, 5,
                'the master opens'));
    no_bad_log('after the reload');

Block tests (t/*.t) use none of this: they are written for the standard
Test::Nginx::Socket alone.

=cut

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET ();
use JSON::PP ();
use Test::More ();
use Time::HiRes qw(time sleep);
use Test::Nginx::HTTP qw(http_request);
use Test::Nginx::Util qw(read_error_log);

our @EXPORT_OK = qw(wait_for jget no_bad_log slurp free_port free_ports
                    cluster_http);

# Polls $cond every 20 ms for at most $secs seconds (a dying $cond counts
# as false); true as soon as it holds.  With $what, a timeout is diag'ed.
sub wait_for {
    my ($cond, $secs, $what) = @_;
    my $until = time + $secs;
    while (time < $until) {
        return 1 if eval { $cond->() };
        sleep 0.02;
    }
    return 1 if eval { $cond->() };
    Test::More::diag("timed out after ${secs}s waiting for: $what") if $what;
    return 0;
}

# GET a JSON document that must answer 200
sub jget {
    my ($port, $uri, $hdr) = @_;
    my ($st, $h, $body) = http_request($port, 'GET', $uri, undef, $hdr);
    die "GET $port$uri: " . ($st // $Test::Nginx::HTTP::Error) . "\n"
        unless ($st // 0) == 200;
    return JSON::PP::decode_json($body);
}

# One test: nothing at [alert], [crit] or [emerg] in the (one) nginx's log
sub no_bad_log {
    my ($what) = @_;
    my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, read_error_log();
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::ok(!@bad, "$what: nothing at [alert]/[crit] in the error log")
        or Test::More::diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
}

# The http{} text of a cluster inside one nginx, for a master in the main
# server (zone m): secondaries s1 .. sN (n, default 2), each its own zone
# (size zone, default 1m) and server on $TEST_NGINX_RAND_PORT_i, with the
# directives given as si => '...'.
sub cluster_http {
    my (%o) = @_;
    my $size = $o{zone} // '1m';
    my @ids = map { "s$_" } 1 .. ($o{n} // 2);
    my $text = join '', map { "    replog_zone $_ $size;\n" } 'm', @ids;
    for my $i (1 .. @ids) {
        my $id = $ids[$i - 1];
        $text .= "    server {\n"
               . "        listen 127.0.0.1:\$TEST_NGINX_RAND_PORT_$i;\n"
               . "        replog_node zone=$id role=secondary id=$id;\n"
               . ($o{$id} ? "        $o{$id}\n" : '')
               . "        location / { replog_api; }\n"
               . "    }\n";
    }
    return $text;
}

# A file's text, '' when it is absent
sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return <$fh> // '';
}

# A port nobody listens on now
sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# The first of $n consecutive ports nobody listens on
sub free_ports {
    my ($n) = @_;
    for (1 .. 50) {
        my $p = 20000 + int rand 30000;
        my @s = map {
            IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => $p + $_, ReuseAddr => 1)
        } 0 .. $n - 1;
        next if grep { !defined } @s;
        close $_ for @s;
        return $p;
    }
    die "no $n free consecutive ports";
}

1;
