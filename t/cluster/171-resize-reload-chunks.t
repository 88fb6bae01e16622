# A reload that resizes a secondary's zone copies its log a chunk of ids
# at a time (the old workers keep applying meanwhile), then what is left
# in one last look: a log of more ids than one chunk, with entries held
# past a gap, comes out of the new zone byte for byte, its prefix and
# pending set as they were, and the gap filled after the reload moves the
# prefix over the copied entries with the list's exact length.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(jget);
use Test::Nginx::HTTP qw(http_request);

workers(2);
log_level('info');

my $EPOCH = '0123456789abcdef';
my $N = 9000;         # ids 1..N, but for the gap at $GAP
my $GAP = 8901;

sub entry {
    my ($id) = @_;
    return qq/{"message":"m$id","meta":{"message_id":$id,/
         . qq/"registered_at":"2026-01-01T00:00:00.000000Z"}}/;
}

sub replicate {
    my (@ids) = @_;
    my ($st) = http_request(port(), 'POST', '/replicate',
        qq/{"epoch":"$EPOCH","entries":[/ . join(',', map { entry($_) } @ids)
        . ']}');
    return $st;
}

my $conf = <<'EOF_CONF';
    replog_node zone=z role=secondary id=s1;
    location / { replog_api; }
EOF_CONF

start_nginx_conf($conf, http_config => 'replog_zone z 8m;');

my $bad = 0;
for (my $from = 1; $from <= $N; $from += 500) {
    my @ids = grep { $_ != $GAP } $from .. ($from + 499 > $N ? $N : $from + 499);
    $bad++ unless (replicate(@ids) // 0) == 200;
}
is($bad, 0, "secondary: $N ids applied but one, in batches of 500");

my $h = jget(port(), '/health');
is($h->{last_id}, $GAP - 1, 'the prefix ends before the gap');
is($h->{pending}, $N - $GAP, 'the entries past the gap are pending');

my ($st, $hd, $before) = http_request(port(), 'GET', '/messages');
is($st, 200, 'the list before the reload');

ok(reload_nginx($conf, http_config => 'replog_zone z 16m;'),
   'reloaded with a larger zone');
like(read_error_log(),
     qr/replog_zone "z" resized: its @{[$GAP - 1]} messages moved/,
     'the log moved into the new zone');

my $after;
($st, $hd, $after) = http_request(port(), 'GET', '/messages');
is($st, 200, 'the list after the reload');
ok($after eq $before, 'the same bytes: ' . length($after));

$h = jget(port(), '/health');
is($h->{last_id}, $GAP - 1, 'the same prefix');
is($h->{pending}, $N - $GAP, 'the same pending set');

is(replicate($GAP), 200, 'the gap filled after the reload');
$h = jget(port(), '/health');
is($h->{last_id}, $N, 'the prefix moves over the copied entries');
is($h->{pending}, 0, 'nothing pending');

my ($hdr, $all);
($st, $hdr, $all) = http_request(port(), 'GET', '/messages');
is($hdr->{'content-length'}, length($all // ''),
   'Content-Length is the exact length');
my $list = eval { JSON::PP::decode_json($all) } // {};
is(scalar @{ $list->{data} // [] }, $N, "all $N messages listed");
is_deeply([ map { $_->{meta}{message_id} } @{ $list->{data} } ], [ 1 .. $N ],
          'in id order');

stop_nginx();
done_testing();
