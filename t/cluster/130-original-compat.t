# The compatibility suite (issue 10 item 5): the original service's calls
# (ibeliuha/log-replication-service at 0f0081c: its README and its
# app/api/api.py) made as its clients make them, x-token and all, against a
# replog cluster started by `make run`'s scripts/run.sh from the project's
# .env (the original's file verbatim; only the ports moved to free ones,
# SECONDARY_PORT == MASTER_PORT as in it).  Each answer is held to the
# original's status code and JSON shape, except where README "Differences
# from the original" says otherwise: there, to what that section states.
# One cluster start; every wait bounded.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path remove_tree);
use Time::HiRes qw(time);
use POSIX qw(strftime);
use Test::Nginx::HTTP qw(http_request);
use Replog::Cluster;
use Replog::Test qw(free_ports wait_for slurp);
use Replog::OriginalEnv qw(ORIGINAL TOKEN run_sh stop_run);

my $Top = Replog::Cluster->top;

plan skip_all => 'build/replog-register is missing'
    unless -x "$Top/build/replog-register";

my $Token = TOKEN;
# the node-to-node token, derived from API_TOKEN as the original derives it
my $Service = sha256_hex($Token . '&' . Replog::Cluster::SALT);
my $Json = JSON::PP->new->utf8->canonical;
my $Ids = qr/\A(?:master|secondary-[12])\z/;
my $Rfc3339 = qr/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\z/;
my $Original_time = qr/\A\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\z/;

is substr(slurp("$Top/.env"), 0, length ORIGINAL), ORIGINAL,
    "the cluster runs from the project's .env: the original's, verbatim";

my $Dir = "$Top/t/servroot-cluster/original-compat";
remove_tree($Dir);
make_path($Dir);

# --- the cluster: make run with the original's .env -------------------------

my $M = free_ports(3);
my @S = ($M + 1, $M + 2);
my $run_dir = "$Dir/run";
my $run = run_sh("$Dir/run.log", MASTER_PORT => $M, SECONDARY_PORT => $M,
                 RUN_DIR => $run_dir);

# one call as the original's clients make it: (status, headers, raw body,
# decoded JSON or undef)
sub call {
    my ($port, $method, $uri, $body, %h) = @_;
    $h{'Content-Type'} //= 'application/json' if defined $body;
    my ($st, $hd, $raw) = http_request($port, $method, $uri, $body, \%h,
                                       timeout => 10);
    return ($st // 0, $hd // {}, $raw // '',
            eval { $Json->decode($raw // '') });
}

sub tok { ('x-token' => $Token) }

sub keys_of { [ sort keys %{ ref $_[0] eq 'HASH' ? $_[0] : {} } ] }

# the original's message shape, exactly: {"message","meta":{"message_id",
# "registered_at","registered_to"}}, registered_to a list of node ids
sub message_shape {
    my ($m, $what) = @_;
    is_deeply keys_of($m), [qw(message meta)], "$what: keys message, meta";
    is_deeply keys_of($m->{meta}),
        [qw(message_id registered_at registered_to)],
        "$what: meta has message_id, registered_at, registered_to";
    my $meta = $m->{meta} // {};
    ok !ref $m->{message}, "$what: message is a string";
    like $meta->{message_id} // '', qr/\A[1-9][0-9]*\z/,
        "$what: message_id is a positive integer";
    ok defined $meta->{message_id}
        && !JSON::PP::is_bool($meta->{message_id})
        && ($Json->encode([$meta->{message_id}]) =~ /\A\[\d+\]\z/),
        "$what: message_id is a JSON number";
    # Differences: RFC 3339 UTC with microseconds, not Python's str()
    like $meta->{registered_at} // '', $Rfc3339,
        "$what: registered_at is RFC 3339 UTC (a documented difference)";
    ok ref $meta->{registered_to} eq 'ARRAY'
        && !grep({ ref || !/$Ids/ } @{ $meta->{registered_to} }),
        "$what: registered_to is a list of node ids";
}

# every error body: {"error":..,"detail":..}, detail a string, the same text
sub error_shape {
    my ($d, $what) = @_;
    ok ref $d eq 'HASH' && defined $d->{detail} && !ref $d->{detail},
        "$what: the body has detail, a string";
    is $d->{detail}, $d->{error}, "$what: detail is the error's text";
}

ok wait_for(sub { slurp("$Dir/run.log") =~ /Ctrl-C stops everything/ }, 15),
    'run.sh started the master and two secondaries'
    or diag slurp("$Dir/run.log");

# --- POST /secondary/register: the secondaries joined -----------------------

# the original's README step 1 (secondaries register at start; replog's
# helper does it with MASTER_HOST, API_TOKEN), seen in /secondary/list
my $list;
ok wait_for(sub {
        my ($st, undef, undef, $d) = call($M, 'GET', '/secondary/list',
                                          undef, tok);
        $list = $d;
        $st == 200 && 2 == grep { ($_->{status} // '') eq 'HEALTHY' }
                                @{ $d->{data} // [] };
    }, 15),
    'both secondaries registered, HEALTHY in /secondary/list, within 15 s '
    . '(CONNECTION_TO_MASTER_RETRY_INTERVAL=30)'
    or diag explain $list;

ok wait_for(sub {
        my (undef, undef, undef, $h) = call($M, 'GET', '/health', undef, tok);
        ($h->{state} // '') eq 'open';
    }, 10), 'the master opens for writes';

# --- PUT /messages?wc=N, the original's write -------------------------------

my ($st, $hd, $raw, $d) = call($M, 'PUT', '/messages?wc=1',
                               '{"message":"hello world"}', tok);
is $st, 200, "the README's PUT /messages?wc=1: 200, as the original";
like $hd->{'content-type'} // '', qr{\Aapplication/json}, 'JSON';
message_shape($d, 'its answer');
is $d->{message}, 'hello world', 'the message as sent';
is $d->{meta}{message_id}, 1, 'message_id 1';
ok grep({ $_ eq q(master) } @{ $d->{meta}{registered_to} // [] }),
    'registered_to names the master';
my $first = $d;

($st, undef, undef, $d) = call($M, 'PUT', '/messages?wc=3',
                               '{"message":"everywhere"}', tok);
is $st, 200, 'PUT /messages?wc=3 (all nodes): 200';
message_shape($d, 'the wc=3 answer');
is_deeply [ sort @{ $d->{meta}{registered_to} // [] } ],
    [qw(master secondary-1 secondary-2)],
    'registered_to names the master and both secondaries';

# wc omitted: the original's default is the quorum
($st, undef, undef, $d) = call($M, 'PUT', '/messages', '{"message":"q"}',
                               tok);
is $st, 200, 'PUT /messages without wc: 200';
ok @{ $d->{meta}{registered_to} // [] } >= 2,
    'held by a quorum (2 of 3) when answered, the original\'s default';

# SECONDARY_PORT=8000 in the original's .env: every write lands on the
# master (no second nginx sharing its port answers 405)
my @codes = map {
    (call($M, 'PUT', '/messages?wc=1', qq({"message":"n$_"}), tok))[0]
} 1 .. 10;
is_deeply \@codes, [ (200) x 10 ], 'ten more PUTs: all 200';

# pydantic ignores members it does not know, and the client's meta
($st, undef, undef, $d) = call($M, 'PUT', '/messages?wc=1',
    '{"message":"extra","x":1,"meta":{"message_id":99,"registered_at":"x"}}',
    tok);
is $st, 200, 'unknown members and a meta of the client: 200, as pydantic';
is $d->{meta}{message_id}, 14, 'the master numbers it (14), not the client';

# --- GET /messages, master and secondaries -----------------------------------

($st, $hd, $raw, $d) = call($M, 'GET', '/messages', undef, tok);
is $st, 200, "the README's GET /messages: 200";
is_deeply keys_of($d), ['data'], '{"data": [...]}';
is length $raw, $hd->{'content-length'}, 'an exact Content-Length';
my @items = @{ $d->{data} // [] };
is scalar @items, 14, 'all fourteen messages';
message_shape($items[0], 'a list item');
is_deeply [ map { $_->{meta}{message_id} } @items ], [ 1 .. 14 ],
    'in message_id order';
is_deeply [ map { $_->{message} } @items[0, 1] ], ['hello world',
    'everywhere'], 'the messages as written';
is_deeply [ @{ $items[0]{meta} // {} }{qw(message_id registered_at)},
            $items[0]{message} ],
    [ @{ $first->{meta} // {} }{qw(message_id registered_at)},
      $first->{message} ],
    "a list item is the write's answer (registered_to as of the read)";

# registered_to as the list is read: every secondary acked everything
ok wait_for(sub {
        my (undef, undef, undef, $l) = call($M, 'GET', '/messages', undef,
                                            tok);
        14 == grep { 3 == @{ $_->{meta}{registered_to} // [] } }
                   @{ $l->{data} // [] };
    }, 10), 'once replicated, every item\'s registered_to names 3 nodes';

for my $i (1, 2) {
    my $sp = $S[$i - 1];
    my $sl;
    ok wait_for(sub {
            (undef, undef, undef, $sl) = call($sp, 'GET', '/messages', undef,
                                              tok);
            @{ $sl->{data} // [] } == 14;
        }, 10), "secondary-$i: the README's GET /messages with x-token";
    message_shape($sl->{data}[0], "secondary-$i\'s list item");
    is_deeply [ map { $_->{message} } @{ $sl->{data} // [] } ],
        [ map { $_->{message} } @items ], "secondary-$i holds the same log";
    # Differences: on a secondary registered_to names that secondary alone
    is_deeply [ map { @{ $_->{meta}{registered_to} // [] } }
                    @{ $sl->{data} // [] } ],
        [ ("secondary-$i") x 14 ],
        "secondary-$i\'s registered_to names itself (documented)";
}

# --- GET /secondary/list ----------------------------------------------------

($st, $hd, undef, $d) = call($M, 'GET', '/secondary/list', undef, tok);
is $st, 200, "the README's GET /secondary/list: 200";
is_deeply keys_of($d), ['data'], '{"data": [...]}';
my $now = time;
my @sec = sort { $a->{id} cmp $b->{id} } @{ $d->{data} // [] };
is_deeply [ map { $_->{id} } @sec ], [qw(secondary-1 secondary-2)],
    'the two secondaries, by id';
for my $s (@sec) {
    my $w = $s->{id};
    ok !grep({ !exists $s->{$_} }
             qw(id host port status last_status_change)),
        "$w: the original's keys id, host, port, status, last_status_change";
    like $s->{host} // '', qr/\A127\.0\.0\.1\z/, "$w: host is its address";
    ok $Json->encode([$s->{port}]) =~ /\A\[\d+\]\z/, "$w: port a number";
    like $s->{status} // '', qr/\A(?:HEALTHY|UNHEALTHY)\z/,
        "$w: status is HEALTHY or UNHEALTHY (the original's names)";
    like $s->{last_status_change} // '', $Original_time,
        "$w: last_status_change as YYYY-MM-DD HH:MM:SS";
    my $t = $s->{last_status_change} // '';
    ok $t le strftime('%Y-%m-%d %H:%M:%S', gmtime $now)
        && $t ge strftime('%Y-%m-%d %H:%M:%S', gmtime($now - 120)),
        "$w: last_status_change is a time of this run (UTC)";
    # the README's own example shows last_healthy_status: kept, replog's
    ok exists $s->{last_healthy_status} && exists $s->{state},
        "$w: replog's own members kept (state, last_healthy_status)";
}
is_deeply [ sort map { $_->{port} } @sec ], [@S],
    'SECONDARY_PORT == MASTER_PORT: the secondaries on the ports after';

# --- GET /healthcheck -------------------------------------------------------

for my $p ($M, @S) {
    ($st, $hd, $raw) = call($p, 'GET', '/healthcheck');
    is $st, 200, "port $p: GET /healthcheck without a token: 200";
    is $raw, 'HEALTHY', 'exactly HEALTHY, no newline';
    like $hd->{'content-type'} // '', qr{\Atext/plain}, 'text/plain';
}

# --- GET /openapi.json, /docs: served, without a token ----------------------

for my $p ($M, $S[0]) {
    ($st, $hd, undef, $d) = call($p, 'GET', '/openapi.json');
    is $st, 200, "port $p: GET /openapi.json without a token: 200";
    like $hd->{'content-type'} // '', qr{\Aapplication/json}, 'JSON';
    like $d->{openapi} // '', qr/\A3\./, 'an OpenAPI 3 document';
    ok !grep({ !exists $d->{paths}{$_} }
             qw(/messages /secondary/list /healthcheck)),
        'describing /messages, /secondary/list, /healthcheck';
    ($st, $hd, $raw) = call($p, 'GET', '/docs');
    is $st, 200, "port $p: GET /docs: 200";
    like $hd->{'content-type'} // '', qr{\Atext/html}, 'HTML';
}

# --- errors: the original's codes and detail, or the documented ones --------

my @errors = (
    # [what, port, method, uri, body, headers, status]
    ['wc above the nodes (the original: 400)', $M, 'PUT', '/messages?wc=4',
     '{"message":"x"}', [tok], 400],
    ['a wrong x-token (the original: 403)', $M, 'PUT', '/messages?wc=1',
     '{"message":"x"}', ['x-token' => 'wrong'], 403],
    ['a wrong x-token on GET /messages', $M, 'GET', '/messages', undef,
     ['x-token' => 'wrong'], 403],
    ['a wrong x-token on GET /secondary/list', $M, 'GET', '/secondary/list',
     undef, ['x-token' => 'wrong'], 403],
    ['a wrong x-token on a secondary\'s GET /messages', $S[0], 'GET',
     '/messages', undef, ['x-token' => 'wrong'], 403],
    ['no x-token on PUT (documented: 403, FastAPI 422)', $M, 'PUT',
     '/messages', '{"message":"x"}', [], 403],
    ['no x-token on GET /messages (documented: 403)', $M, 'GET', '/messages',
     undef, [], 403],
    ['no x-token on GET /secondary/list (documented: 403)', $M, 'GET',
     '/secondary/list', undef, [], 403],
    ['no x-token on a secondary (documented: 403)', $S[1], 'GET',
     '/messages', undef, [], 403],
    ['wc=0 (documented: 400)', $M, 'PUT', '/messages?wc=0',
     '{"message":"x"}', [tok], 400],
    ['wc=-1 (the original: 400)', $M, 'PUT', '/messages?wc=-1',
     '{"message":"x"}', [tok], 400],
    ['wc not a number (documented: 400, FastAPI 422)', $M, 'PUT',
     '/messages?wc=abc', '{"message":"x"}', [tok], 400],
    ['no message (documented: 400, FastAPI 422)', $M, 'PUT', '/messages',
     '{}', [tok], 400],
    ['message not a string (documented: 400, pydantic 2 422)', $M, 'PUT',
     '/messages', '{"message":1}', [tok], 400],
    ['invalid JSON (documented: 400, FastAPI 422)', $M, 'PUT', '/messages',
     'hello', [tok], 400],
    ['duplicate keys (documented: 400)', $M, 'PUT', '/messages',
     '{"message":"a","message":"b"}', [tok], 400],
    ['a write to a secondary (documented: 405)', $S[0], 'PUT', '/messages',
     '{"message":"x"}', [tok], 405],
    ['GET /secondary/list on a secondary (the original: 404)', $S[0], 'GET',
     '/secondary/list', undef, [tok], 404],
    ['an unknown path (the original: 404)', $M, 'GET', '/nothing', undef,
     [tok], 404],
    ['DELETE /messages (the original: 405)', $M, 'DELETE', '/messages',
     undef, [tok], 405],
    # the original's own registration, POST /secondary/register?_id= with
    # no body: replog's registration carries a JSON body (documented: 400)
    ['the original\'s registration form (documented: 400)', $M, 'POST',
     '/secondary/register?_id=abc', undef,
     ['x-token' => $Service], 400],
    ['a registration with the client token (the original: 403)', $M,
     'POST', '/secondary/register?_id=abc', undef, [tok], 403],
);

for my $e (@errors) {
    my ($what, $p, $m, $uri, $body, $h, $want) = @$e;
    ($st, $hd, $raw, $d) = call($p, $m, $uri, $body, @$h);
    is $st, $want, "$what: $want" or diag $raw;
    error_shape($d, $what);
}

# replog's own words in detail (documented)
(undef, undef, undef, $d) = call($M, 'GET', '/nothing', undef, tok);
is $d->{detail}, 'no such endpoint', '404: detail "no such endpoint"';
(undef, undef, undef, $d) = call($M, 'GET', '/messages', undef,
                                 'x-token' => 'wrong');
is $d->{detail}, 'missing or invalid x-token',
    '403: detail "missing or invalid x-token"';
(undef, undef, undef, $d) = call($M, 'POST', '/secondary/register?_id=abc',
                                 undef, 'x-token' => $Service);
is $d->{detail}, 'empty body', "the original's registration: \"empty body\"";

($st, $hd) = call($M, 'DELETE', '/messages', undef, tok);
like $hd->{allow} // '', qr/\bPUT\b/, '405 names the methods in Allow';
($st, undef, undef, $d) = call($S[0], 'PUT', '/messages', '{"message":"x"}',
                               tok);
is $d->{master}, "http://127.0.0.1:$M", 'a secondary\'s 405 names the master';

# --- the documented extras on the original's calls --------------------------

# POST /messages/{wc}: in the original's README, not in its code: replog's
($st, undef, undef, $d) = call($M, 'POST', '/messages/2',
                               '{"message":"by path"}', tok);
is $st, 201, "the README's POST /messages/{wc}: 201 (replog's, documented)";
message_shape($d, 'its answer');
ok @{ $d->{meta}{registered_to} // [] } >= 2, 'wc=2 met';
($st, undef, undef, $d) = call($M, 'POST', '/messages?wc=1',
                               '{"message":"post"}', tok);
is $st, 201, 'POST /messages: 201 (replog\'s, documented)';

# nothing the errors answered was stored
(undef, undef, undef, $d) = call($M, 'GET', '/messages', undef, tok);
is_deeply [ map { $_->{message} } @{ $d->{data} // [] }[14 .. 15] ],
    ['by path', 'post'], 'no refused write was stored';
is scalar @{ $d->{data} // [] }, 16, 'sixteen messages in all';

# the derived service token: the original took it on GET /messages only;
# replog's client endpoints take it too (documented)
($st) = call($M, 'GET', '/messages', undef, 'x-token' => $Service);
is $st, 200, 'GET /messages with the service token: 200, as the original';
($st) = call($M, 'GET', '/secondary/list', undef, 'x-token' => $Service);
is $st, 200, 'GET /secondary/list with it: 200 (documented; original 403)';

# --- stop -------------------------------------------------------------------

ok stop_run($run), 'run.sh stops on SIGTERM';
my @bad = grep { /exited on signal|AddressSanitizer|runtime error:|\[alert\]/ }
    map { split /\n/, slurp($_) } glob "$run_dir/*/error.log";
ok !@bad, 'no crash or sanitizer report' or diag join "\n", @bad;

done_testing;
