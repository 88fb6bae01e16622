# A secondary's POST /replicate, driven directly (no master): prefix acks,
# gaps and held entries, duplicates, epochs, every bad batch, body limits,
# the service key, and what a secondary refuses to do.
# The plain-Perl checks (the service key, replog_delay) are in
# t/perl/010-replicate.t.
use Test::Nginx::Socket 'no_plan';

our $T  = '2026-01-01T00:00:00.000000Z';
our $EA = '0123456789abcdef';
our $EB = 'fedcba9876543210';
our $Empty = qq/{"data":[]}\n/;

# An entry of a batch, the original's message shape, from raw JSON values:
# ent(message_id, registered_at, message); an undef member is left out.
sub ent {
    my ($id, $t, $m) = @_;
    my @meta = ((defined $id ? qq/"message_id":$id/ : ()),
                (defined $t ? qq/"registered_at":$t/ : ()));
    return '{' . (defined $m ? qq/"message":$m,/ : '')
         . '"meta":{' . join(',', @meta) . '}}';
}

# A batch body: batch($epoch, id => text, id => text, ...)
sub batch {
    my ($epoch, @pairs) = @_;
    my @e;
    while (my ($id, $m) = splice @pairs, 0, 2) {
        push @e, ent($id, qq/"$T"/, qq/"$m"/);
    }
    return qq/{"epoch":"$epoch","entries":[/ . join(',', @e) . ']}';
}

# The request of a batch, for "request eval".
sub rep { "POST /replicate\n" . batch(@_) }

# The exact GET /messages text of these entries on the secondary s1: it
# names itself as the holder.
sub list {
    my (@pairs) = @_;
    my @e;
    while (my ($id, $m) = splice @pairs, 0, 2) {
        push @e, qq/{"message":"$m","meta":{"message_id":$id,"registered_at":"$T","registered_to":["s1"]}}/;
    }
    return '{"data":[' . join(',', @e) . "]}\n";
}

# An answer of s1: its acked_id, id and the epoch of its log (EA unless told)
sub acked {
    my ($n, $e) = @_;
    $e //= $EA;
    return qq/{"acked_id":$n,"id":"s1","epoch":"$e"}\n/;
}

# A regex for GET /health of the secondary s1: the given fields, any order.
sub health {
    my (%f) = @_;
    my $re = '^(?=\{"role":"secondary","id":"s1",)';
    for my $k (sort keys %f) {
        my $v = $k ne 'epoch' && $f{$k} =~ /^\d+$/ ? $f{$k} : qq/"$f{$k}"/;
        $re .= qq/(?=.*"$k":\Q$v\E[,}])/;
    }
    return qr/$re/s;
}

sub err { qq/{"error":"$_[0]","detail":"$_[0]"}\n/ }

# A regex for the error answer of a bad case: one text or alternatives.
sub err_re {
    my ($e) = @_;
    my $alt = join '|', map { quotemeta err($_) } ref $e ? @$e : ($e);
    return qr/^(?:$alt)\z/;
}

our $Entry = 'each entry needs a string \"message\" and a \"meta\" object '
           . 'with an integer \"message_id\" from 1 and \"registered_at\"';

# Bad batches: [ body, error text ].  None may change anything.
our @Bad = (
    [ '{',                                   'invalid JSON' ],
    [ 'not json',                            'invalid JSON' ],
    [ qq/{"epoch":"$EA","entries":[]} x/,    'invalid JSON' ],
    [ qq/{"epoch":"$EA","epoch":"$EA","entries":[]}/, 'invalid JSON' ],
    [ '[]',                                  'the batch must be a JSON object' ],
    # a scalar at the top: either answer is fine
    [ '"a string"',                          [ 'invalid JSON', 'the batch must be a JSON object' ] ],
    [ '42',                                  [ 'invalid JSON', 'the batch must be a JSON object' ] ],
    [ '[{"epoch":"0123456789abcdef","entries":[]}]', 'the batch must be a JSON object' ],
    [ '{"entries":[]}',                      '\"epoch\" must be 16 hex digits' ],
    [ '{"epoch":null,"entries":[]}',         '\"epoch\" must be 16 hex digits' ],
    [ '{"epoch":"","entries":[]}',           '\"epoch\" must be 16 hex digits' ],
    [ '{"epoch":"0123456789abcde","entries":[]}',   '\"epoch\" must be 16 hex digits' ],
    [ '{"epoch":"0123456789abcdef0","entries":[]}', '\"epoch\" must be 16 hex digits' ],
    [ '{"epoch":"0123456789abcdeg","entries":[]}',  '\"epoch\" must be 16 hex digits' ],
    [ '{"epoch":"0000000000000000","entries":[]}',  '\"epoch\" must be 16 hex digits' ],
    [ '{"epoch":81985529216486895,"entries":[]}',   '\"epoch\" must be 16 hex digits' ],
    [ qq/{"epoch":"$EA"}/,                   '\"entries\" must be an array' ],
    [ qq/{"epoch":"$EA","entries":{}}/,      '\"entries\" must be an array' ],
    [ qq/{"epoch":"$EA","entries":"x"}/,     '\"entries\" must be an array' ],
    [ qq/{"epoch":"$EA","entries":null}/,    '\"entries\" must be an array' ],
    map({ [ qq/{"epoch":"$EA","entries":[$_]}/, $Entry ] }
        '1',
        '"x"',
        'null',
        '[]',
        ent(undef, qq/"$T"/, '"m"'),
        ent(0, qq/"$T"/, '"m"'),
        ent(-1, qq/"$T"/, '"m"'),
        ent('"1"', qq/"$T"/, '"m"'),
        ent('1.0', qq/"$T"/, '"m"'),
        ent('null', qq/"$T"/, '"m"'),
        ent(1, undef, '"m"'),
        ent(1, 'null', '"m"'),
        ent(1, '12', '"m"'),
        ent(1, '"2026-01-01T00:00:00Z"', '"m"'),
        ent(1, '"2026-01-01T00:00:00.000000"', '"m"'),
        ent(1, '"2026-01-01 00:00:00.000000Z"', '"m"'),
        ent(1, '"2026-01-01T00:00:00.00000aZ"', '"m"'),
        ent(1, '"2026-01-01T00:00:00.000000Z "', '"m"'),
        ent(1, '"2026-01-01T00:00:00.0000000Z"', '"m"'),
        ent(1, '""', '"m"'),
        ent(1, qq/"$T"/, undef),
        ent(1, qq/"$T"/, '1'),
        ent(1, qq/"$T"/, 'null'),
        ent(1, qq/"$T"/, '["m"]'),
        # meta missing or not an object, registered_to not an array
        '{"message":"m"}',
        '{"message":"m","meta":null}',
        '{"message":"m","meta":[]}',
        qq/{"message":"m","meta":"1"}/,
        qq/{"message":"m","meta":{"message_id":1,"registered_at":"$T","registered_to":"m"}}/,
        # the flat entries of earlier versions: one format, no mixing
        qq/{"id":1,"registered_at":"$T","message":"m"}/,
        # a good entry, then a bad one: the whole batch is refused
        ent(2, qq/"$T"/, '"ok"') . ',' . ent(3, qq/"$T"/, undef),
    ),
);

# registered_at of the right form that is no real time: refused whole.
our $TimeErr = '\"registered_at\" must be a valid RFC 3339 UTC time: '
             . 'YYYY-MM-DDTHH:MM:SS.uuuuuuZ';
our @BadTime = (
    '9999-99-99T99:99:99.999999Z',
    '2026-00-10T00:00:00.000000Z', '2026-13-10T00:00:00.000000Z',
    '2026-01-00T00:00:00.000000Z', '2026-01-32T00:00:00.000000Z',
    '2026-04-31T00:00:00.000000Z', '2026-02-29T00:00:00.000000Z',
    '2100-02-29T00:00:00.000000Z', '2026-01-01T24:00:00.000000Z',
    '2026-01-01T00:60:00.000000Z', '2026-01-01T00:00:61.000000Z',
);

# A body over 1k (client_max_body_size 1k in the blocks that use it).
our $Huge = batch($EA, map { ($_ => 'x' x 100) } 2 .. 40);

# The same, chunked.
sub chunked {
    my ($body, $size) = @_;
    my $out = '';
    for (my $i = 0; $i < length $body; $i += $size) {
        my $piece = substr($body, $i, $size);
        $out .= sprintf("%x\r\n", length $piece) . $piece . "\r\n";
    }
    return $out . "0\r\n\r\n";
}

repeat_each(1);
workers(1);
log_level('info');
no_shuffle();
no_root_location();    # the tests define "location /" themselves

# The configuration most blocks share, given to those without their own.
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => <<'EOF') unless defined $block->http_config;
    replog_zone s 1m;
EOF
    $block->set_value(config => <<'EOF') unless defined $block->config;
    replog_node zone=s role=secondary id=s1;
    location / { replog_api; }
EOF
});

run_tests();

__DATA__

=== TEST 1: apply 1, 2: acked 2, both listed
--- request eval
[::rep($::EA, 1 => 'a', 2 => 'b'),
 "GET /messages"]
--- error_code eval
[200, 200]
--- response_body eval
[::acked(2), ::list(1 => 'a', 2 => 'b')]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- no_error_log
[error]
[alert]



=== TEST 2: a gap: 1, 2, 4 lists 1, 2 and acks 2; then 3 closes it: 1..4
--- request eval
[::rep($::EA, 1 => 'a'),
 ::rep($::EA, 2 => 'b'),
 ::rep($::EA, 4 => 'd'),
 "GET /messages",
 "GET /health",
 ::rep($::EA, 3 => 'c'),
 "GET /messages",
 "GET /health"]
--- response_body_like eval
[qr/^\{"acked_id":1,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\{"acked_id":2,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\{"acked_id":2,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a', 2 => 'b')}\E\z/,
 ::health(epoch => $::EA, last_id => 2, pending => 1),
 qr/^\{"acked_id":4,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a', 2 => 'b', 3 => 'c', 4 => 'd')}\E\z/,
 ::health(epoch => $::EA, last_id => 4, pending => 0)]
--- no_error_log
[error]
[alert]



=== TEST 3: gaps in one batch, out of order, and a batch that closes several
--- request eval
[::rep($::EA, 5 => 'e', 3 => 'c', 7 => 'g'),
 "GET /messages",
 ::rep($::EA, 2 => 'b', 1 => 'a'),
 ::rep($::EA, 6 => 'f', 4 => 'd'),
 "GET /messages"]
--- response_body eval
[::acked(0),
 $::Empty,
 ::acked(3),
 ::acked(7),
 ::list(map { ($_ => chr(ord('a') + $_ - 1)) } 1 .. 7)]



=== TEST 4: duplicates are ignored: the same batch twice lists byte for byte the same
--- request eval
[::rep($::EA, 1 => 'a', 2 => 'b', 3 => 'c'),
 "GET /messages",
 ::rep($::EA, 1 => 'a', 2 => 'b', 3 => 'c'),
 "GET /messages",
 ::rep($::EA, 2 => 'b', 2 => 'b', 4 => 'd', 4 => 'd'),
 ::rep($::EA, 1 => 'CHANGED', 4 => 'CHANGED', 5 => 'e'),
 "GET /messages",
 "GET /health"]
--- response_body_like eval
[qr/^\{"acked_id":3,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a', 2 => 'b', 3 => 'c')}\E\z/,
 qr/^\{"acked_id":3,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a', 2 => 'b', 3 => 'c')}\E\z/,
 qr/^\{"acked_id":4,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\{"acked_id":5,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a', 2 => 'b', 3 => 'c', 4 => 'd', 5 => 'e')}\E\z/,
 ::health(last_id => 5, pending => 0)]



=== TEST 5: a held entry is kept once: the same entry past a gap sent twice
--- request eval
[::rep($::EA, 3 => 'c'),
 ::rep($::EA, 3 => 'other'),
 "GET /health",
 ::rep($::EA, 1 => 'a', 2 => 'b'),
 "GET /messages",
 "GET /health"]
--- response_body_like eval
[qr/^\{"acked_id":0,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\{"acked_id":0,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 ::health(last_id => 0, bytes => 0, pending => 1),
 qr/^\{"acked_id":3,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a', 2 => 'b', 3 => 'c')}\E\z/,
 ::health(last_id => 3, pending => 0)]



=== TEST 6: an empty secondary adopts the first batch's epoch; another epoch is refused whole
--- request eval
["GET /health",
 ::rep($::EA, 1 => 'a', 2 => 'b'),
 "GET /health",
 ::rep($::EB, 3 => 'x', 4 => 'y'),
 ::rep($::EB, 1 => 'x'),
 ::rep($::EB, 1 => 'x', 2 => 'y', 3 => 'z'),
 "GET /messages",
 "GET /health",
 ::rep($::EA, 3 => 'c'),
 "GET /messages"]
--- error_code eval
[200, 200, 200, 409, 409, 409, 200, 200, 200, 200]
--- response_body_like eval
[::health(epoch => '0000000000000000'),
 qr/^\{"acked_id":2,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 ::health(epoch => $::EA),
 qr/^\{"error":"the batch is of another epoch than this log: refused","acked_id":2,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\{"error":"the batch is of another epoch than this log: refused","acked_id":2,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\{"error":"the batch is of another epoch than this log: refused","acked_id":2,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a', 2 => 'b')}\E\z/,
 ::health(epoch => $::EA, last_id => 2, pending => 0),
 qr/^\{"acked_id":3,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a', 2 => 'b', 3 => 'c')}\E\z/]
--- response_headers eval
[("Content-Type: application/json") x 10]



=== TEST 7: an epoch taken from entries held past a gap is kept too
--- request eval
[::rep($::EA, 5 => 'e'),
 ::rep($::EB, 1 => 'x'),
 "GET /messages",
 ::rep($::EA, map { ($_ => chr(ord('a') + $_ - 1)) } 1 .. 4),
 "GET /messages"]
--- error_code eval
[200, 409, 200, 200, 200]
--- response_body eval
[::acked(0),
 qq/{"error":"the batch is of another epoch than this log: refused","acked_id":0,"id":"s1","epoch":"$::EA"}\n/,
 $::Empty,
 ::acked(5),
 ::list(map { ($_ => chr(ord('a') + $_ - 1)) } 1 .. 5)]



=== TEST 8: every bad batch on a log holding 1: 400 JSON, nothing changes
--- request eval
[::rep($::EA, 1 => 'a'),
 (map { "POST /replicate\n$_->[0]" } @::Bad),
 "POST /replicate\n",
 "GET /messages",
 "GET /health"]
--- error_code eval
[200, (400) x @::Bad, 400, 200, 200]
--- response_body_like eval
[qr/^\{"acked_id":1,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 (map { ::err_re($_->[1]) } @::Bad),
 qr/^\{"error":"empty body","detail":"empty body"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a')}\E\z/,
 ::health(epoch => $::EA, last_id => 1, pending => 0)]
--- response_headers eval
[("Content-Type: application/json") x (@::Bad + 4)]
--- no_error_log
[alert]
[crit]



=== TEST 9: bad batches on an empty secondary adopt no epoch
--- request eval
[(map { "POST /replicate\n$_->[0]" } @::Bad),
 "GET /messages",
 "GET /health",
 ::rep($::EB, 1 => 'b1'),
 "GET /messages"]
--- error_code eval
[(400) x @::Bad, 200, 200, 200, 200]
--- response_body_like eval
[(map { ::err_re($_->[1]) } @::Bad),
 qr/^\Q$::Empty\E\z/,
 ::health(epoch => '0000000000000000', last_id => 0, bytes => 0, pending => 0),
 qr/^\{"acked_id":1,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'b1')}\E\z/]



=== TEST 10: message texts round-trip: escapes, Unicode, NUL
--- request eval
[qq{POST /replicate\n{"epoch":"$::EA","entries":[{"message":"q\\"b\\\\s\\/n\\nt\\tu\\u0001 \\u00e9 \\u2603 \\ud83d\\ude00 nul\\u0000end","meta":{"message_id":1,"registered_at":"$::T"}}]}},
 "GET /messages"]
--- response_body eval
[::acked(1),
 qq/{"data":[{"message":"q\\"b\\\\s\/n\\nt\\tu\\u0001 \xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 nul\\u0000end","meta":{"message_id":1,"registered_at":"$::T","registered_to":["s1"]}}]}\n/]



=== TEST 11: a batch over client_max_body_size: 413 JSON, nothing applied
--- config
    replog_node zone=s role=secondary id=s1;
    location / { client_max_body_size 1k; replog_api; }
--- request eval
[::rep($::EA, 1 => 'a'),
 "POST /replicate\n$::Huge",
 "GET /messages",
 ::rep($::EA, 2 => 'b'),
 "GET /messages"]
--- error_code eval
[200, 413, 200, 200, 200]
--- response_body eval
[::acked(1),
 ::err('the body is larger than 1024 bytes'),
 ::list(1 => 'a'),
 ::acked(2),
 ::list(1 => 'a', 2 => 'b')]
--- response_headers eval
[("Content-Type: application/json") x 5]
--- no_error_log
[alert]
[crit]



=== TEST 12: a chunked batch over client_max_body_size: 413 JSON
--- config
    replog_node zone=s role=secondary id=s1;
    location / { client_max_body_size 1k; replog_api; }
--- raw_request eval
"POST /replicate HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" . ::chunked($::Huge, 300)
--- error_code: 413
--- response_body eval
::err('the body is larger than 1024 bytes')
--- response_headers
Content-Type: application/json
--- no_error_log
[alert]
[crit]



=== TEST 13: a chunked batch within the limit is applied
--- raw_request eval
"POST /replicate HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" . ::chunked(::batch($::EA, 1 => 'a', 2 => 'b'), 7)
--- response_body eval
::acked(2)



=== TEST 14: a batch larger than client_body_buffer_size is applied, read in memory (no temp file)
--- http_config
    replog_zone s 4m;
--- config
    replog_node zone=s role=secondary id=s1;
    client_body_buffer_size 1k;
    location / { replog_api; }
--- request eval
[::rep($::EA, map { ($_ => "m$_" . ('y' x 1000)) } 1 .. 300),
 "GET /health"]
--- response_body_like eval
[qr/^\{"acked_id":300,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 ::health(last_id => 300)]
--- no_error_log
buffered to a temporary file



=== TEST 15: POST and PUT /messages on a secondary: 405, before and after the master is known
--- more_headers
x-replog-master: http://127.0.0.1:8000
--- request eval
["POST /messages\n{\"message\":\"x\"}",
 "PUT /messages\n{\"message\":\"x\"}",
 "POST /messages/1\n{\"message\":\"x\"}",
 ::rep($::EA, 1 => 'a'),
 "POST /messages\n{\"message\":\"x\"}",
 "POST /messages?wc=1\n{\"message\":\"x\"}",
 "DELETE /messages",
 "GET /messages"]
--- error_code eval
[405, 405, 405, 200, 405, 405, 405, 200]
--- response_body eval
[(::err('this node is a secondary: write to the master')) x 3,
 ::acked(1),
 (qq/{"error":"this node is a secondary: write to the master","detail":"this node is a secondary: write to the master","master":"http:\/\/127.0.0.1:8000"}\n/) x 2,
 ::err('method not allowed'),
 ::list(1 => 'a')]
--- response_headers eval
["Allow: GET, HEAD", "Allow: GET, HEAD", "Allow: GET, HEAD", "!Allow",
 "Allow: GET, HEAD", "Allow: GET, HEAD", "Allow: GET, HEAD", "!Allow"]



=== TEST 16: a secondary is not a master: /register, /secondary/register, /secondaries -> 404
--- request eval
["POST /register\n{\"id\":\"s9\",\"port\":1}",
 "POST /secondary/register\n{\"id\":\"s9\",\"port\":1}",
 "GET /secondaries",
 "GET /secondary/list",
 "GET /register"]
--- error_code eval
[404, 404, 404, 404, 405]
--- response_body eval
[(::err('this node is a secondary: register with the master')) x 2,
 (::err('this node is a secondary: the master keeps the list')) x 2,
 ::err('method not allowed')]



=== TEST 17: GET /replicate -> 405 with Allow: POST
--- request
GET /replicate
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json



=== TEST 18: the master does not take batches: /replicate -> 404
--- http_config
    replog_zone m 1m;
--- config
    replog_node zone=m role=master id=m;
    location / { replog_api; }
--- request eval
[::rep($::EA, 1 => 'a'),
 "GET /messages"]
--- error_code eval
[404, 200]
--- response_body eval
[::err('this node is the master: it does not replicate from anyone'),
 $::Empty]



=== TEST 19: replog_max_pending 2: an entry 5 past the prefix is dropped, 2 past is held
--- config
    replog_node zone=s role=secondary id=s1;
    replog_max_pending 2;
    location / { replog_api; }
--- request eval
[::rep($::EA, 1 => 'a'),
 ::rep($::EA, 3 => 'c', 6 => 'f'),
 "GET /health",
 ::rep($::EA, 2 => 'b'),
 ::rep($::EA, 4 => 'd', 5 => 'e'),
 "GET /messages",
 ::rep($::EA, 6 => 'f'),
 "GET /messages"]
--- response_body_like eval
[qr/^\{"acked_id":1,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\{"acked_id":1,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 ::health(last_id => 1, pending => 1),
 qr/^\{"acked_id":3,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\{"acked_id":5,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a', 2 => 'b', 3 => 'c', 4 => 'd', 5 => 'e')}\E\z/,
 qr/^\{"acked_id":6,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a', 2 => 'b', 3 => 'c', 4 => 'd', 5 => 'e', 6 => 'f')}\E\z/]



=== TEST 20: replog_max_pending bounds entries past a gap, not a contiguous batch longer than it
--- config
    replog_node zone=s role=secondary id=s1;
    replog_max_pending 2;
    location / { replog_api; }
--- request eval
[::rep($::EA, map { ($_ => "m$_") } 1 .. 5),
 "GET /messages",
 ::rep($::EA, map { ($_ => "m$_") } 3 .. 10),
 "GET /messages"]
--- response_body eval
[::acked(5),
 ::list(map { ($_ => "m$_") } 1 .. 5),
 ::acked(10),
 ::list(map { ($_ => "m$_") } 1 .. 10)]



=== TEST 21: a huge id far past the prefix is dropped, not allocated
--- request eval
[::rep($::EA, 9223372036854775807 => 'far', 1 => 'a'),
 ::rep($::EA, 65537 => 'edge'),
 "GET /messages",
 "GET /health"]
--- response_body_like eval
[qr/^\{"acked_id":1,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\{"acked_id":1,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 qr/^\Q${\ ::list(1 => 'a')}\E\z/,
 ::health(last_id => 1, pending => 1)]
--- no_error_log
[alert]
[crit]



=== TEST 22: an empty list of entries from the adopted epoch is a no-op
--- request eval
[::rep($::EA, 1 => 'a'),
 ::rep($::EA),
 "GET /messages"]
--- response_body eval
[::acked(1), ::acked(1), ::list(1 => 'a')]



=== TEST 23: registered_at that is no real time: 400 JSON, nothing stored, pending right
--- request eval
[::rep($::EA, 1 => 'a', 3 => 'c'),
 (map { "POST /replicate\n"
        . qq/{"epoch":"$::EA","entries":[/ . ::ent(2, qq/"$::T"/, '"ok"') . ','
        . ::ent(4, qq/"$_"/, '"bad"') . ']}' } @::BadTime),
 "GET /messages",
 "GET /health"]
--- error_code eval
[200, (400) x @::BadTime, 200, 200]
--- response_body_like eval
[qr/^\{"acked_id":1,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 (map { ::err_re($::TimeErr) } @::BadTime),
 qr/^\Q${\ ::list(1 => 'a')}\E\z/,
 ::health(epoch => $::EA, last_id => 1, pending => 1)]
--- response_headers eval
[("Content-Type: application/json") x (@::BadTime + 3)]
--- no_error_log
[alert]
[crit]



=== TEST 24: registered_at at the edges of real times is taken: leap days, a leap second
--- request eval
["POST /replicate\n" . qq/{"epoch":"$::EA","entries":[/
 . CORE::join(',', map { ::ent($_->[0], qq/"$_->[1]"/, qq/"t$_->[0]"/) }
             [1, '2024-02-29T00:00:00.000000Z'], [2, '2000-02-29T12:30:30.500000Z'],
             [3, '2026-12-31T23:59:60.999999Z'], [4, '0001-01-01T00:00:00.000000Z'],
             [5, '9999-12-31T23:59:59.999999Z'], [6, '2026-04-30T00:00:00.000000Z'])
 . ']}',
 "GET /health"]
--- response_body_like eval
[qr/^\{"acked_id":6,"id":"s1","epoch":"[0-9a-f]{16}"\}\n\z/,
 ::health(last_id => 6, pending => 0)]
--- no_error_log
[error]
[alert]



=== TEST 25: the master's own batch form, byte for byte: raw UTF-8, every escape it makes, NUL, DEL
--- request eval
["POST /replicate\n" . qq/{"epoch":"$::EA","entries":[/
 . ::ent(1, qq/"$::T"/, qq/"caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf q\\" b\\\\ \\n\\r\\t\\b\\f \\u0000\\u0001\\u001f \x7f"/) . ','
 . ::ent(2, qq/"$::T"/, '""') . ','
 . ::ent(123456789012345678, qq/"$::T"/, '"far"')
 . ']}',
 "GET /messages"]
--- response_body eval
[::acked(2),
 qq/{"data":[{"message":"caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf q\\" b\\\\ \\n\\r\\t\\b\\f \\u0000\\u0001\\u001f \x7f","meta":{"message_id":1,"registered_at":"$::T","registered_to":["s1"]}},{"message":"","meta":{"message_id":2,"registered_at":"$::T","registered_to":["s1"]}}]}\n/]
--- no_error_log
[error]
[alert]



=== TEST 26: that form with escapes it does not make: stored as the master would store them
--- request eval
["POST /replicate\n" . qq/{"epoch":"$::EA","entries":[/
 . ::ent(1, qq/"$::T"/, qq/"\\u00E9 \\\/ \\u0041 \\u000a \\u007F \\uD83D\\uDE00"/) . ']}',
 "GET /messages"]
--- response_body eval
[::acked(1),
 qq/{"data":[{"message":"\xc3\xa9 \/ A \\n \x7f \xf0\x9f\x98\x80","meta":{"message_id":1,"registered_at":"$::T","registered_to":["s1"]}}]}\n/]
--- no_error_log
[error]
[alert]



=== TEST 27: that form with bytes JSON does not allow: 400, nothing stored
--- request eval
[(map { "POST /replicate\n" . qq/{"epoch":"$::EA","entries":[/
        . ::ent(1, qq/"$::T"/, qq/"$_"/) . ']}' }
      "overlong \xc0\xaf", "overlong \xe0\x80\xaf", "overlong \xf0\x80\x80\xaf",
      "surrogate \xed\xa0\x80", "past U+10FFFF \xf4\x90\x80\x80", "\xf5\x80\x80\x80",
      "lone \x80", "cut \xe2\x98", "cut at the end \xc3",
      "raw tab \t", "raw nul \x00", "bad escape \\x", "short \\u00e", "\\u00g0"),
 (map { "POST /replicate\n" . qq/{"epoch":"$::EA","entries":[/
        . ::ent($_, qq/"$::T"/, '"m"') . ']}' }
      '01', '1e2', '-1', '99999999999999999999'),
 "GET /health"]
--- error_code eval
[(400) x 18, 200]
--- response_body_like eval
[(qr/^\{"error":"invalid JSON","detail":"invalid JSON"\}\n\z/) x 15,
 qr/^\{"error":"each entry needs/,
 qr/^\{"error":"each entry needs/,
 qr/^\{"error":"invalid JSON","detail":"invalid JSON"\}\n\z/,
 ::health(epoch => '0000000000000000', last_id => 0, pending => 0)]
--- no_error_log
[alert]
[crit]
