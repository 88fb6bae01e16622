# Several worker processes share one log: ids are dense and unique across
# workers, nothing is lost or doubled, and reloads keep it all.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use IO::Socket::INET ();
use IO::Select ();
use POSIX ();
use Time::HiRes qw(time sleep);

my $Clients = 8;
my $Posts   = 160;    # 8 x 160 = 1280: past the first 1024-entry index chunk

# ------------------------------------------------------------- helpers

# A minimal keep-alive client: one request at a time on one connection.
sub ka_connect {
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port(),
                                 Proto => 'tcp', Timeout => 10);
}

sub ka_request {
    my ($sock, $method, $uri, $body) = @_;
    $body //= '';
    my $req = "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
            . 'Content-Length: ' . length($body) . "\r\n\r\n" . $body;
    print {$sock} $req or return;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $deadline = time + 10;
    my ($head, $len);
    while (time < $deadline) {
        if (!defined $head && (my $i = index($buf, "\r\n\r\n")) >= 0) {
            $head = substr($buf, 0, $i + 4, '');
            ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            $len //= 0;
        }
        if (defined $head && length $buf >= $len) {
            my ($st) = $head =~ m{^HTTP/1\.\d (\d+)};
            return ($st, substr($buf, 0, $len));
        }
        $sel->can_read(1) or next;
        my $n = sysread($sock, $buf, 65536, length $buf);
        return if !$n;
    }
    return;
}

# Starts $code->($k) in $n children; each returns lines of text that the
# parent collects with collect(), one list per child.
sub spawn {
    my ($n, $code) = @_;
    my @kids;
    for my $k (1 .. $n) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $r;
            my @lines = eval { $code->($k) };
            push @lines, "FAILED died: $@" if $@;
            print {$w} map { "$_\n" } @lines;
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [ $pid, $r ];
    }
    return \@kids;
}

sub collect {
    my ($kids) = @_;
    my @out;
    for my $kid (@$kids) {
        my ($pid, $r) = @$kid;
        my @lines = <$r>;
        chomp @lines;
        close $r;
        waitpid($pid, 0);
        push @out, \@lines;
    }
    return @out;
}

# The whole log as [ [id, registered_at, message] ... ].
sub get_log {
    my ($st, $h, $body) = http_request(port(), 'GET', '/messages', undef, {},
                                       timeout => 30);
    return unless ($st // 0) == 200;
    return if length($body) != ($h->{'content-length'} // -1);
    return unless $body =~ /^\{"data":\[.*\]\}\n\z/s;
    my @e;
    while ($body =~ /\{"message":"([^"]*)","meta":\{"message_id":(\d+),"registered_at":"([^"]+)","registered_to":\["m1"\]\}\}/g) {
        push @e, [ $2, $3, $1 ];
    }
    return \@e;
}

# Compares the log with the answers of the posts: "id text" lines.
sub check_log_against {
    my ($name, $answers) = @_;
    my %by_id;
    my $dup = 0;
    for (@$answers) {
        my ($id, $text) = split / /, $_, 2;
        $dup++ if exists $by_id{$id};
        $by_id{$id} = $text;
    }
    is($dup, 0, "$name: no id was given to two posts");
    my $n = scalar @$answers;
    is_deeply([ sort { $a <=> $b } keys %by_id ], [ 1 .. $n ],
              "$name: the POST answers carry ids 1..$n");

    my $log = get_log();
    ok($log, "$name: GET /messages is whole and well formed") or return;
    is_deeply([ map { $_->[0] } @$log ], [ 1 .. $n ], "$name: the list has ids 1..$n in order");
    my ($wrong, %seen, $twice) = (0);
    for my $e (@$log) {
        $wrong++ unless defined $by_id{ $e->[0] } && $by_id{ $e->[0] } eq $e->[2];
        $twice++ if $seen{ $e->[2] }++;
    }
    is($wrong, 0, "$name: each listed message is the one its POST was answered with");
    ok(!$twice, "$name: each message is listed exactly once");
    my $order = 1;
    for my $i (1 .. $#$log) {
        $order = 0 if $log->[$i][1] lt $log->[$i - 1][1];
    }
    ok($order, "$name: registered_at never goes back as ids grow");
    return $log;
}

sub health_field {
    my ($field) = @_;
    my (undef, undef, $body) = http_request(port(), 'GET', '/health');
    my ($v) = ($body // '') =~ /"\Q$field\E":"?([^",}]+)/;
    return $v;
}

my $http_config = <<'EOF';
    replog_zone log 8m;
    log_format pids '$pid $request_method';
EOF
my $config = <<'EOF';
    replog_node zone=log role=master id=m1;
    access_log logs/pids.log pids;
    location / { replog_api; }
EOF

# ------------------------------------------- concurrent posts, 2 workers

workers(2);
start_nginx_conf($config, http_config => $http_config);

my @results = collect(spawn($Clients, sub {
    my ($k) = @_;
    my @lines;
    my $sock = $k % 2 ? ka_connect() : undef;    # odd clients keep alive
    for my $i (1 .. $Posts) {
        my $text = "c$k-$i";
        my ($st, $body);
        if ($sock) {
            ($st, $body) = ka_request($sock, 'POST', '/messages',
                                      qq/{"message":"$text"}/);
        }
        else {
            (my $s, undef, $body) = http_request(port(), 'POST', '/messages',
                                                 qq/{"message":"$text"}/);
            $st = $s;
        }
        my ($id) = ($body // '') =~ /"message_id":(\d+),/;
        push @lines, ($st // 0) == 201 && $id ? "$id $text" : "FAILED $text: " . ($st // 'no answer');
    }
    return @lines;
}));

my @answers = map { @$_ } @results;
my @failed = grep { /^FAILED/ } @answers;
is(scalar @failed, 0, "all $Clients x $Posts concurrent posts answered 201")
    or diag(join "\n", @failed[0 .. ($#failed > 9 ? 9 : $#failed)]);
@answers = grep { !/^FAILED/ } @answers;
my $total = $Clients * $Posts;
check_log_against("$Clients clients x $Posts posts on 2 workers", \@answers);

# Each client's own posts are in its own order.
{
    my $ok = 1;
    for my $lines (@results) {
        my @ids = map { /^(\d+) / ? $1 : () } @$lines;
        for my $i (1 .. $#ids) { $ok = 0 if $ids[$i] <= $ids[$i - 1] }
    }
    ok($ok, "a client's later post always gets a higher id");
}

{
    my %pids;
    open my $fh, '<', servroot() . '/logs/pids.log';
    while (<$fh>) { $pids{$1}++ if /^(\d+) POST/ }
    diag('posts per worker pid: ' . join(', ', map { "$_=$pids{$_}" } sort keys %pids));
    cmp_ok(scalar keys %pids, '>=', 2, 'both workers took posts');
}

is(health_field('last_id'), $total, "/health last_id is $total");
my $epoch = health_field('epoch');

# ------------------------------------------------------------- reload

ok(reload_nginx(), 'reload');
is(health_field('epoch'), $epoch, 'same epoch after reload');
my ($st, $h, $body) = http_request(port(), 'POST', '/messages', '{"message":"after reload"}');
is($st, 201, 'post after reload: 201');
like($body // '', qr/"message_id":@{[ $total + 1 ]},/, 'post after reload continues the ids');
push @answers, ($total + 1) . ' after reload';
check_log_against('after reload', \@answers);

# ------------------------------------------------ posts during reloads

# Clients post on fresh connections for a few seconds while nginx is
# reloaded several times: every post is answered 201, and every answered
# post is in the log under the id it was given.
my $kids = spawn(4, sub {
    my ($k) = @_;
    my @lines;
    my $until = time + 4;
    my $i = 0;
    while (time < $until) {
        $i++;
        my $text = "r$k-$i";
        my ($st, undef, $body) = http_request(port(), 'POST', '/messages',
                                             qq/{"message":"$text"}/);
        my ($id) = ($body // '') =~ /"message_id":(\d+),/;
        push @lines, ($st // 0) == 201 && $id
            ? "$id $text"
            : "FAILED $text: " . ($st // $Test::Nginx::HTTP::Error // 'no answer');
        sleep 0.002;
    }
    return @lines;
});
for my $n (1 .. 4) {
    sleep 0.5;
    ok(reload_nginx(), "reload $n while clients post");
}
my @during = map { @$_ } collect($kids);
@failed = grep { /^FAILED/ } @during;
is(scalar @failed, 0, 'no post failed during the reloads')
    or diag(join "\n", @failed[0 .. ($#failed > 9 ? 9 : $#failed)]);
cmp_ok(scalar @during, '>', 100, 'clients kept posting through the reloads')
    and diag(scalar(@during) . ' posts during reloads');
push @answers, grep { !/^FAILED/ } @during;
check_log_against('after posting through reloads', \@answers);
is(health_field('epoch'), $epoch, 'same epoch after all the reloads');
stop_nginx();

# ------------------------ a reload that resizes the zone under a request

# A client has sent the head and half the body of a POST when a reload
# changes the zone size: the old worker that holds it must not append to
# the old zone once it was copied.  It answers 503 JSON with Retry-After,
# and the log keeps every post answered 201, each id once.
workers(2);
start_nginx_conf($config, http_config => $http_config);
{
    my @ok;
    for my $i (1 .. 5) {
        my ($st, undef, $body) = http_request(port(), 'POST', '/messages',
                                             qq/{"message":"before $i"}/);
        my ($id) = ($body // '') =~ /"message_id":(\d+),/;
        push @ok, "$id before $i" if ($st // 0) == 201 && $id;
    }
    is(scalar @ok, 5, 'resize: 5 posts before the reload');

    my @half;
    for my $k (1 .. 2) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => port(), Proto => 'tcp',
                                      Timeout => 10) or die "connect: $@";
        my $body = qq/{"message":"half $k"}/;
        my $cut = int(length($body) / 2);
        print {$s} "POST /messages HTTP/1.1\r\nHost: localhost\r\n"
                 . "Connection: close\r\nContent-Length: " . length($body)
                 . "\r\n\r\n" . substr($body, 0, $cut);
        push @half, [ $s, substr($body, $cut), "half $k" ];
    }
    sleep 0.3;    # the heads are read by the old workers

    (my $resized = $http_config) =~ s/replog_zone log 8m;/replog_zone log 16m;/;
    ok(reload_nginx($config, http_config => $resized),
       'resize: reload with replog_zone 8m -> 16m');
    like(read_error_log(), qr/replog_zone "log" resized: its 5 messages moved/,
         'resize: the log moved into the new zone');

    for my $i (1 .. 5) {
        my ($st, undef, $body) = http_request(port(), 'POST', '/messages',
                                             qq/{"message":"after $i"}/);
        my ($id) = ($body // '') =~ /"message_id":(\d+),/;
        push @ok, "$id after $i" if ($st // 0) == 201 && $id;
    }
    is(scalar @ok, 10, 'resize: 5 posts after the reload, to the new workers');

    for my $h (@half) {
        my ($s, $rest, $text) = @$h;
        print {$s} $rest;
        my ($buf, $sel) = ('', IO::Select->new($s));
        my $until = time + 10;
        while (time < $until && $sel->can_read(1)) {
            my $n = sysread($s, $buf, 65536, length $buf);
            last if !$n;
        }
        close $s;
        my ($head, $body) = split /\r\n\r\n/, $buf, 2;
        my ($st) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
        if (($st // 0) == 201) {
            # answered 201: then it must be in the log like any other
            my ($id) = ($body // '') =~ /"message_id":(\d+),/;
            push @ok, "$id $text";
        }
        is($st, 503, "resize: '$text', finished after the reload: 503");
        like($head // '', qr/^Retry-After: 1\r?$/mi, "resize: '$text': Retry-After: 1");
        like($head // '', qr{^Content-Type: application/json}mi, "resize: '$text': JSON");
        like($body // '', qr/^\{"error":"the log moved to the resized replog_zone/,
             "resize: '$text': the error says why");
    }

    check_log_against('resize under half-sent posts', \@ok);
    my ($st, undef, $body) = http_request(port(), 'POST', '/messages',
                                         '{"message":"last"}');
    like($body // '', qr/"message_id":11,/, 'resize: the next post gets id 11');
}
stop_nginx();

# A resizing reload that fails after the copy (a listen that cannot bind):
# the old zone stays the log, and the old workers keep taking posts.
workers(1);
start_nginx_conf($config, http_config => $http_config);
{
    my @ok;
    for my $i (1 .. 2) {
        my ($st, undef, $body) = http_request(port(), 'POST', '/messages',
                                             qq/{"message":"kept $i"}/);
        my ($id) = ($body // '') =~ /"message_id":(\d+),/;
        push @ok, "$id kept $i" if ($st // 0) == 201 && $id;
    }
    my $busy_port = rand_port(1);
    my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => $busy_port, Listen => 1,
                                     Proto => 'tcp')
        or die "listen on $busy_port: $!";
    (my $bad = $http_config) =~ s/replog_zone log 8m;/replog_zone log 16m;\n    server { listen 127.0.0.1:$busy_port; }/;
    ok(!reload_nginx($config, http_config => $bad),
       'failed resize: the reload is refused (the port is taken)');
    # nginx tries to bind for a while before it gives the reload up
    my $until = time + 10;
    sleep 0.1 while time < $until
        && read_error_log() !~ /still could not bind|the reload failed/;
    sleep 0.2;
    close $busy;
    like(read_error_log(), qr/the reload failed, the log stays in the old zone/,
         'failed resize: the old zone stays the log');
    my ($st, undef, $body) = http_request(port(), 'POST', '/messages',
                                         '{"message":"kept 3"}');
    is($st, 201, 'failed resize: the old workers still take posts');
    my ($id) = ($body // '') =~ /"message_id":(\d+),/;
    push @ok, "$id kept 3" if ($st // 0) == 201 && $id;
    check_log_against('after a failed resize', \@ok);
}
stop_nginx();

# A secondary holding entries past a gap becomes the master (a reload, the
# same zone): a post fills the gap, the held entries are kept and counted
# once, and a later resizing reload still moves every one of them.
workers(1);
start_nginx_conf(<<'EOF', http_config => "    replog_zone log 1m;\n");
    replog_node zone=log role=secondary id=s1;
    location / { replog_api; }
EOF
{
    my $T = '2026-01-01T00:00:00.000000Z';
    my $entries = join ',', map { qq/{"message":"held $_","meta":{"message_id":$_,"registered_at":"$T"}}/ } 1, 2, 4, 5;
    my ($st, undef, $body) = http_request(port(), 'POST', '/replicate',
        qq/{"epoch":"0123456789abcdef","entries":[$entries]}/);
    like($body // '', qr/"acked_id":2\b/, 'gap: 1, 2, 4, 5 applied, acked 2');
    like(health_field('pending') // '', qr/^2$/, 'gap: 2 entries held past it');

    ok(reload_nginx(<<'EOF', http_config => "    replog_zone log 1m;\n"),
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
EOF
       'gap: reload as the master, same zone');
    ($st, undef, $body) = http_request(port(), 'POST', '/messages',
                                       '{"message":"fills 3"}');
    is($st, 201, 'gap: a post on the new master');
    like($body // '', qr/"message_id":3,/, 'gap: the post takes id 3, the gap');
    is(health_field('last_id'), 5, 'gap: last_id 5, over the held entries');
    is(health_field('pending'), 0, 'gap: nothing pending any more');

    ok(reload_nginx(<<'EOF', http_config => "    replog_zone log 2m;\n"),
    replog_node zone=log role=master id=m1;
    location / { replog_api; }
EOF
       'gap: a resizing reload');
    my $log = get_log();
    ok($log, 'gap: the list is whole after the resize');
    is_deeply([ map { "$_->[0] $_->[2]" } @{ $log // [] } ],
              [ '1 held 1', '2 held 2', '3 fills 3', '4 held 4', '5 held 5' ],
              'gap: every entry moved, the held ones kept as they were');
    ($st, undef, $body) = http_request(port(), 'POST', '/messages',
                                       '{"message":"next"}');
    like($body // '', qr/"message_id":6,/, 'gap: the next post gets id 6');
    is(health_field('pending'), 0, 'gap: still nothing pending');
}
stop_nginx();

# ------------------------------------ filling a zone from 4 workers at once

workers(4);
start_nginx_conf($config, http_config => "    replog_zone log 128k;\n    log_format pids '\$pid \$request_method';\n");
$kids = spawn(6, sub {
    my ($k) = @_;
    my @lines;
    for my $i (1 .. 400) {
        my $text = "f$k-$i" . ('z' x 300);
        my ($st, undef, $body) = http_request(port(), 'POST', '/messages',
                                             qq/{"message":"$text"}/);
        my ($id) = ($body // '') =~ /"message_id":(\d+),/;
        if (($st // 0) == 201 && $id) { push @lines, "$id $text"; next }
        if (($st // 0) == 507) { push @lines, "FULL"; next }
        push @lines, "FAILED $text: " . ($st // 'no answer');
    }
    return @lines;
});
my @fill = map { @$_ } collect($kids);
@failed = grep { /^FAILED/ } @fill;
is(scalar @failed, 0, 'filling from 4 workers: every post got 201 or 507')
    or diag(join "\n", @failed[0 .. ($#failed > 9 ? 9 : $#failed)]);
cmp_ok(scalar(grep { $_ eq 'FULL' } @fill), '>', 0, 'filling from 4 workers: the zone filled up');
my @stored = grep { /^\d+ / } @fill;
diag(scalar(@stored) . ' messages stored before the zone was full');
check_log_against('zone filled from 4 workers', \@stored);
stop_nginx();

done_testing();
