package Replog::TestUtil;

# Small helpers shared by the plain-Perl parts of the t/*.t suites.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use Time::HiRes qw(time sleep);
use Test::Nginx::HTTP qw(http_request);

our @EXPORT_OK = qw(wait_for jget);

# polls a condition every 20 ms for at most $secs seconds
sub wait_for {
    my ($secs, $cond) = @_;
    my $until = time + $secs;
    while (time < $until) {
        return 1 if $cond->();
        sleep 0.02;
    }
    return $cond->();
}

# GET a JSON document that must answer 200
sub jget {
    my ($port, $uri, $hdr) = @_;
    my ($st, $h, $body) = http_request($port, 'GET', $uri, undef, $hdr);
    die "GET $port$uri: " . ($st // $Test::Nginx::HTTP::Error) . "\n"
        unless ($st // 0) == 200;
    return JSON::PP::decode_json($body);
}

1;
