# Self test of the plain-Perl API of the harness (Test::Nginx::Util) against
# stock nginx (no replog module): start, requests, reload under parallel
# clients, stop, the crash detector, and an unknown block section.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use POSIX ();

workers(2);
log_level('info');


start_nginx_conf(<<'EOF', http_config => 'map $host $gen { default "one"; }');
    location /gen { return 200 "$gen\n"; }
EOF
ok(nginx_pid(), 'start_nginx_conf: nginx running');

my ($st, $h, $body) = http_request(port(), 'GET', '/gen');
is($st, 200, 'http_request: status');
is($body, "one\n", 'http_request: body');
like($h->{server}, qr/nginx/, 'http_request: lower-cased headers');

($st, $h, $body) = http_request(port(), 'POST', '/gen', 'abc',
                                { 'X-Foo' => 'bar' });
is($st, 200, 'http_request: POST with body and headers');

# Parallel clients while reloading into a new config.
my @kids;
for my $k (1 .. 4) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $bad = 0;
        for (1 .. 25) {
            my ($s, undef, $b) = http_request(port(), 'GET', '/gen');
            $bad++ unless defined $s && $s == 200 && $b =~ /^(one|two)$/;
        }
        POSIX::_exit($bad ? 1 : 0);
    }
    push @kids, $pid;
}
ok(reload_nginx(<<'EOF', http_config => 'map $host $gen { default "two"; }'),
    location /gen { return 200 "$gen\n"; }
EOF
   'reload_nginx: new worker generation up');
($st, undef, $body) = http_request(port(), 'GET', '/gen');
is($body, "two\n", 'reload_nginx: new config in effect');
for my $pid (@kids) {
    waitpid($pid, 0);
    is($? >> 8, 0, "parallel client $pid got only 200s");
}

ok(!reload_nginx('this is not valid;'), 'reload_nginx: bad config rejected');
($st, undef, $body) = http_request(port(), 'GET', '/gen');
is($body, "two\n", 'old config still serving after rejected reload');

stop_nginx();
ok(!nginx_pid(), 'stop_nginx: stopped');
is_deeply([crash_problems()], [], 'no crash findings after a clean run');

# The detector itself, on a synthetic log line.
{
    open my $fh, '>>', servroot() . '/logs/error.log' or die $!;
    print {$fh} "2024/01/01 00:00:00 [alert] 1#1: worker process 42 exited on signal 11\n";
    close $fh;
    my @p = crash_problems();
    is(scalar @p, 1, 'crash detector finds "exited on signal"');
    like($p[0], qr/signal 11/, 'crash excerpt names the signal');
}

# An unknown section fails its block (it is not silently ignored).
{
    my $dir = servroot() . '-unknown';
    mkdir $dir;
    my $file = "$dir/unknown.t";
    open my $fh, '>', $file or die $!;
    print {$fh} "use lib 't/lib';\nuse Test::Nginx::Socket 'no_plan';\n"
              . "run_tests();\n__DATA__\n\n=== TEST 1: a typo\n"
              . "--- config\n    location / { return 200; }\n"
              . "--- request\nGET /\n--- no_such_section\nx\n";
    close $fh;
    local $ENV{TEST_NGINX_SERVROOT} = "$dir/servroot";
    my $out = `$^X -I t/lib $file 2>&1`;
    isnt($? >> 8, 0, 'unknown section: the test file fails');
    like($out, qr/^not ok \d+ - TEST 1: a typo - known sections$/m,
         'unknown section: the block fails by name');
    like($out, qr/section 'no_such_section' is not supported/,
         'unknown section: named in the diagnostics');
    system('rm', '-rf', $dir);
}

done_testing();
