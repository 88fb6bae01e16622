# A full replog_zone answers 507 and keeps everything stored before it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);

my $Full = qq/{"error":"the log is full: replog_zone \\"log\\" has no room for this message","detail":"the log is full: replog_zone \\"log\\" has no room for this message"}\n/;

workers(1);

sub post {
    my ($text) = @_;
    my ($st, $h, $body) = http_request(port(), 'POST', '/messages',
                                       qq/{"message":"$text"}/);
    return ($st // 0, $h, $body // '');
}

sub list {
    my ($st, $h, $body) = http_request(port(), 'GET', '/messages');
    my @got = ($body // '') =~ /\{"message":"([^"]*)","meta":\{"message_id":(\d+),"registered_at":"[^"]+","registered_to":\["m1"\]\}\}/g;
    my (@ids, @texts);
    while (my ($t, $id) = splice @got, 0, 2) { push @ids, $id; push @texts, $t }
    return ($st // 0, \@ids, \@texts, $body // '', $h);
}

sub health {
    my ($st, $h, $body) = http_request(port(), 'GET', '/health');
    my ($last) = ($body // '') =~ /"last_id":(\d+)/;
    my ($bytes) = ($body // '') =~ /"bytes":(\d+)/;
    my ($epoch) = ($body // '') =~ /"epoch":"([0-9a-f]+)"/;
    return ($last, $bytes, $epoch);
}

# Posts messages made by $make->($n) until the first 507; returns the
# texts that were accepted.  Every 201 must carry the next id.
sub fill {
    my ($name, $make, $max) = @_;
    my (@ok, $bad);
    for my $n (1 .. $max) {
        my $text = $make->($n);
        my ($st, $h, $body) = post($text);
        if ($st == 201) {
            my ($id) = $body =~ /"message_id":(\d+)/;
            $bad //= "post $n got id " . ($id // 'none') . ', want ' . (@ok + 1)
                unless defined $id && $id == @ok + 1;
            push @ok, $text;
            next;
        }
        is($st, 507, "$name: the first refused post is a 507");
        is($body, $Full, "$name: 507 body");
        is($h->{'content-type'}, 'application/json', "$name: 507 is JSON");
        last;
    }
    ok(!$bad, "$name: accepted posts got ids 1, 2, 3 ...") or diag($bad);
    return @ok;
}

# The log lists exactly @$want, ids 1..N, and /health agrees.
sub check_log {
    my ($name, $want) = @_;
    my ($st, $ids, $texts, $body, $h) = list();
    is($st, 200, "$name: GET /messages 200");
    is(length $body, $h->{'content-length'} // -1, "$name: list length = Content-Length");
    like($body, qr/^\{"data":\[.*\]\}\n\z/s, "$name: list is well formed");
    is_deeply($ids, [1 .. scalar @$want], "$name: ids 1.." . scalar(@$want) . ', dense');
    ok(join("\n", @$texts) eq join("\n", @$want), "$name: every accepted message, in order");
    my ($last, $bytes) = health();
    is($last, scalar @$want, "$name: /health last_id");
    # what is stored: the list without each entry's holders
    is($bytes, length($body) - length(qq/{"data":[]}\n/)
               - @$want * length(q/,"registered_to":["m1"]}}/), "$name: /health bytes");
}

for my $size (qw(64k 128k)) {
    my $name = "$size zone, 1KB messages";
    start_nginx_conf(<<'EOF', http_config => "replog_zone log $size;");
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
EOF
    my @ok = fill($name, sub { sprintf('%04d', $_[0]) . ('k' x 1020) }, 2000);
    cmp_ok(scalar @ok, '>=', 5, "$name: at least 5 messages fit")
        and diag("$name: " . scalar(@ok) . " messages fit");
    check_log("$name, full", \@ok);

    # Same size again: still no room, nothing changes.
    my $more = 0;
    for (1 .. 20) {
        my ($st) = post('again' . ('k' x 1020));
        $more++ if $st == 201;
    }
    is($more, 0, "$name: a full zone refuses further 1KB posts");
    check_log("$name, after more 1KB posts", \@ok);

    # Small posts may find room or not; the log stays dense either way.
    my ($bad, $n507) = (undef, 0);
    for my $n (1 .. 200) {
        my ($st, $h, $body) = post("s$n");
        if ($st == 201) {
            my ($id) = $body =~ /"message_id":(\d+)/;
            $bad //= "small post $n got id $id, want " . (@ok + 1)
                unless ($id // 0) == @ok + 1;
            push @ok, "s$n";
        }
        elsif ($st == 507) {
            $n507++;
            $bad //= "small post $n: 507 body $body" unless $body eq $Full;
        }
        else {
            $bad //= "small post $n: status $st";
        }
    }
    ok(!$bad, "$name: small posts get 201 with the next id or 507") or diag($bad);
    ok($n507 > 0, "$name: the zone ends up refusing small posts too");
    check_log("$name, after small posts", \@ok);

    # Everything still answers.
    my ($st, undef, $hc) = http_request(port(), 'GET', '/healthcheck');
    is($hc, "HEALTHY", "$name: healthcheck on a full zone");

    # The full log survives a reload, and stays full.
    ok(reload_nginx(), "$name: reload");
    check_log("$name, after reload", \@ok);
    ($st) = post('after reload' . ('k' x 1020));
    is($st, 507, "$name: still full after reload");

    stop_nginx();
    my $log = read_error_log();
    unlike($log, qr/\[(crit|alert|emerg)\]/, "$name: no [crit]/[alert] in error.log");
    unlike($log, qr/ngx_slab_alloc\(\) failed/, "$name: a full zone is not logged as an error");
}

{
    my $name = '64k zone, tiny messages';
    start_nginx_conf(<<'EOF', http_config => 'replog_zone log 64k;');
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
EOF
    my @ok = fill($name, sub { "t$_[0]" }, 5000);
    cmp_ok(scalar @ok, '>=', 50, "$name: at least 50 messages fit")
        and diag("$name: " . scalar(@ok) . ' messages fit');
    check_log($name, \@ok);
    stop_nginx();
}

{
    # A user whose zone is full gives it more room and reloads: the
    # messages stored so far must not vanish (the reload may keep them
    # or be refused, but an emptied log is data loss).
    my $name = 'growing a full zone by reload';
    start_nginx_conf(<<'EOF', http_config => 'replog_zone log 64k;');
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
EOF
    my @ok = fill($name, sub { "g$_[0]" . ('k' x 1000) }, 2000);
    my (undef, undef, $epoch) = health();
    reload_nginx(<<'EOF', http_config => 'replog_zone log 256k;');
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
EOF
    check_log("$name: log after reload", \@ok);
    my (undef, undef, $epoch2) = health();
    is($epoch2, $epoch, "$name: same epoch (same log) after reload");
    my ($st, $h, $body) = post('next');
    like($body, qr/"message_id":@{[ scalar(@ok) + 1 ]},/,
         "$name: the next post continues the ids");
    stop_nginx();
}

{
    my $name = 'a message bigger than the whole zone';
    start_nginx_conf(<<'EOF', http_config => 'replog_zone log 64k;');
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
EOF
    my ($st, $h, $body) = post('small');
    is($st, 201, "$name: a small post first");
    ($st, $h, $body) = post('b' x 100000);
    is($st, 507, "$name: 507");
    is($body, $Full, "$name: 507 body");
    is($h->{'content-type'}, 'application/json', "$name: 507 is JSON");
    check_log("$name: log unchanged", ['small']);
    ($st, $h, $body) = post('small again');
    like($body, qr/"message_id":2,/, "$name: the next small post gets id 2");
    check_log("$name: log after", ['small', 'small again']);
    stop_nginx();
    unlike(read_error_log(), qr/\[(crit|alert|emerg)\]|ngx_slab_alloc\(\) failed/,
           "$name: nothing logged as an error");
}

{
    # The 507 answer must stay valid JSON whatever the zone is called.
    my $name = 'a zone named we"ird\\zone';
    start_nginx_conf(<<'EOF', http_config => q{replog_zone 'we"ird\zone' 64k;});
    replog_node 'zone=we"ird\zone' role=master id=m1;
    location / { replog_api; }
EOF
    my ($st, $h, $body) = post('c' x 200000);
    is($st, 507, "$name: 507");
    is($body, qq/{"error":"the log is full: replog_zone \\"we\\"ird\\\\zone\\" has no room for this message","detail":"the log is full: replog_zone \\"we\\"ird\\\\zone\\" has no room for this message"}\n/,
       "$name: the zone name is escaped in the 507 JSON");
    check_log("$name: log unchanged", []);
    stop_nginx();
}

done_testing();
