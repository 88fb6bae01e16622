# The durable log across the seams of a running nginx.  A reload that keeps
# the zone (same size) keeps its log and the writer's marks, which belong
# to the directory the zone was opened on: a reload that changes path=,
# adds it or removes it is refused with an emerg naming the directive and
# the paths, and the running configuration keeps serving and writing the
# old directory.  fsync= changes take effect at the reload, and a node that
# acknowledged under fsync=off comes back from a restart with a new
# incarnation, even under fsync=always (it may hold less than it said).  A
# binary upgrade (USR2) cannot take the directory's lock from the old
# master: the new binary stops with one emerg, the old nginx keeps serving.
# Nothing answered 201 is lost: every id is in the files and served after
# a restart.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Test::Nginx::HTTP qw(http_request);
use Replog::Test qw(wait_for jget);
use Replog::Cluster;
use File::Path qw(make_path remove_tree);
use JSON::PP ();
use Time::HiRes qw(sleep);

my $Top = Replog::Cluster->top;
my $Tool = "$Top/build/replog-log";

plan skip_all => 'build/replog-log is missing' unless -x $Tool;

workers(2);
log_level('info');

my $Data = "$Top/t/servroot-cluster/185-durable-reload";
remove_tree($Data);
make_path($Data);
my ($A, $B, $C, $S) = map { "$Data/$_" } qw(a b c s);

my $EPOCH = '0123456789abcdef';

sub zone { "replog_zone log 4m @_;" }

my $Master = <<'EOF';
    replog_node zone=log role=master id=m;
    replog_cluster_size 1;
    location / { replog_api; }
EOF

my $Secondary = <<'EOF';
    replog_node zone=log role=secondary id=s1;
    location / { replog_api; }
EOF

my $n = 0;

sub post {
    my ($st, $h, $b) = http_request(port(), 'POST', '/messages?wc=1',
                                    qq/{"message":"m@{[$n + 1]}"}/,
                                    {}, timeout => 5);
    $n++ if ($st // 0) == 201;
    return ($st // 0, $b // '');
}

sub post_all {
    my ($k, $what) = @_;
    my $ok = 0;
    for (1 .. $k) {
        my ($st) = post();
        $ok++ if $st == 201;
    }
    is($ok, $k, "$what: $k writes answered 201");
}

sub tool { my $out = `$Tool @_ 2>&1`; return ($? >> 8, $out) }

sub dumped_ids {
    my ($dir) = @_;
    my (undef, $out) = tool('dump', $dir);
    return [ map { (split /\t/)[0] } split /\n/, $out ];
}

sub listed_ids {
    return [ map { $_->{meta}{message_id} }
             @{ jget(port(), '/messages')->{data} } ];
}

sub new_log { substr(read_error_log(), $_[0]) }

sub metric {
    my ($name) = @_;
    my ($st, $h, $b) = http_request(port(), 'GET', '/metrics');
    my ($v) = ($b // '') =~ /^\Q$name\E\{[^}]*\} (\d+)$/m;
    return $v // -1;
}

# --- path= changed, removed: refused, the old directory keeps the log ---

start_nginx_conf($Master, http_config => zone("path=$A"));
post_all(5, 'path=a');

my $pos = length read_error_log();
ok(!reload_nginx($Master, http_config => zone("path=$B")),
   'a reload that changes path= is refused');
like(new_log($pos),
     qr/\[emerg\].*replog_zone "log": path= changed by a reload from "\Q$A\E" to "\Q$B\E": .*restart nginx to move the log \(the reload is refused, the running configuration is kept\)/,
     '... with an emerg naming the directive and the two paths');
ok(!-e $B, '... and the new directory is not made');
post_all(5, 'after the refused path change');
is_deeply(dumped_ids($A), [1 .. $n], '... and they are written to the old directory');

$pos = length read_error_log();
ok(!reload_nginx($Master, http_config => zone('')),
   'a reload that removes path= is refused');
like(new_log($pos),
     qr/\[emerg\].*replog_zone "log": path="\Q$A\E" removed by a reload: .*restart nginx to run in memory only/,
     '... with an emerg naming the path');
post_all(3, 'after the refused removal');
ok(wait_for(sub { "@{ dumped_ids($A) }" eq "@{[1 .. $n]}" }, 5),
   '... still written to the directory');

$pos = length read_error_log();
ok(!reload_nginx($Master, http_config => zone("path=$A")
                 . "\nreplog_zone other 4m path=$A;"),
   'two zones on one directory are refused');
like(new_log($pos),
     qr/\[emerg\].*replog_zone "other": path="\Q$A\E" is already the log of replog_zone "log"/,
     '... naming both zones');

(my $renamed = $Master) =~ s/zone=log /zone=renamed /;
$pos = length read_error_log();
ok(!reload_nginx($renamed, http_config => "replog_zone renamed 4m path=$A;"),
   'a reload that hands the directory to a renamed zone is refused');
like(new_log($pos),
     qr/\[emerg\].*replog_zone "renamed": path="\Q$A\E" is the log of replog_zone "log" of the running configuration: a reload cannot hand it to another zone; restart nginx to rename the zone/,
     '... naming the zone that writes it');
post_all(2, 'after the refused reloads');
is_deeply(listed_ids(), [1 .. $n], '... the running log serves every message');

# --- fsync= changes take effect at the reload ---

my $fs = metric('replog_log_fsyncs_total');
cmp_ok($fs, '>', 0, 'fsync=always: the writes were fsynced');
ok(reload_nginx($Master, http_config => zone("path=$A fsync=off")),
   'a reload from fsync=always to fsync=off is accepted');
like(read_error_log(), qr/\[notice\].*replog_zone "log": fsync= changed by the reload from always to off/,
     '... and logged');
post_all(20, 'fsync=off');
ok(wait_for(sub { "@{ dumped_ids($A) }" eq "@{[1 .. $n]}" }, 5),
   '... written to the files');
is(metric('replog_log_fsyncs_total'), $fs, '... and never fsynced');

ok(reload_nginx($Master, http_config => zone("path=$A fsync=always")),
   'a reload back to fsync=always is accepted');
post_all(3, 'fsync=always again');
cmp_ok(metric('replog_log_fsyncs_total'), '>', $fs, '... fsynced again');

# a restart replays every message
stop_nginx();
start_nginx_conf($Master, http_config => zone("path=$A fsync=always"));
is_deeply(listed_ids(), [1 .. $n], "a restart serves all $n messages, in order");
is((tool('verify', $A))[0], 0, '... and the log verifies whole');

# --- USR2: the new binary cannot take the lock, the old one serves on ---

stop_nginx();

# nginx takes USR2 only from a master whose parent is gone (a daemon), so
# this nginx runs as one, on its own config
my $Up = "$Data/usr2";

# a config of its own for a daemon nginx in $dir on $port
sub daemon_conf {
    my ($dir, $port) = @_;
    make_path("$dir/logs");
    open my $fh, '>', "$dir/nginx.conf" or die "$dir/nginx.conf: $!";
    print $fh map { "load_module $_;\n" }
        grep { length } split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    print $fh map { "env $_;\n" } qw(LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS)
        if $ENV{TEST_NGINX_LD_PRELOAD};
    print $fh "daemon on;\nworker_processes 2;\n",
        $> == 0 ? "user root;\n" : '',
        "error_log $dir/logs/error.log info;\npid $dir/logs/nginx.pid;\n",
        "events { worker_connections 256; }\n",
        "http {\n    access_log off;\n    ", zone("path=$A fsync=always"),
        "\n    server {\n        listen 127.0.0.1:$port;\n",
        $Master, "    }\n}\n";
    close $fh;
}

# runs it: the exit code
sub daemon_start {
    my ($dir) = @_;
    local $ENV{LD_PRELOAD} = $ENV{TEST_NGINX_LD_PRELOAD}
        if $ENV{TEST_NGINX_LD_PRELOAD};
    my $bin = $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx';
    system("$bin -p $dir/ -c $dir/nginx.conf 2>>$dir/logs/stderr.log");
    return $? >> 8;
}

sub up_log { -f "$Up/logs/error.log" ? Replog::Test::slurp("$Up/logs/error.log") : '' }
sub up_pid { (Replog::Test::slurp("$Up/logs/nginx.pid") // '') =~ /(\d+)/ ? $1 : 0 }

daemon_conf($Up, port());
is(daemon_start($Up), 0, 'a daemon nginx on the directory starts');
ok(wait_for(sub { up_pid() && (http_request(port(), 'GET', '/healthcheck',
                                            undef, {}, timeout => 1))[0] }, 10),
   'the daemon nginx answers');
my $old = up_pid();
is_deeply(listed_ids(), [1 .. $n], "... with the $n messages");

my $Second = "$Data/second";
daemon_conf($Second, rand_port(2));
isnt(daemon_start($Second), 0,
     'a second nginx on the same directory does not start');
like(join('', map { Replog::Test::slurp("$Second/logs/$_") }
              qw(error.log stderr.log)),
     qr/\[emerg\].*replog_zone "log": path="\Q$A\E" is locked by another running node/,
     '... the directory is locked by the running one');

$pos = length up_log();
kill USR2 => $old;
ok(wait_for(sub { substr(up_log(), $pos) =~ /exited with code|binary upgrade/ }, 10),
   'USR2: the new binary stops');
like(substr(up_log(), $pos),
     qr/\[emerg\].*replog_zone "log": path="\Q$A\E" is locked by the running nginx \(master process $old\): a binary upgrade \(USR2\) cannot take over a durable log that the old workers still write; the old nginx keeps serving: stop it, then start the new binary/,
     '... with one emerg naming the path and the old master');
ok(wait_for(sub { !-e "$Up/logs/nginx.pid.oldbin" && up_pid() == $old }, 5),
   '... the old master keeps its pid file');
ok(kill(0, $old), '... and runs');
post_all(3, 'after the USR2');
is_deeply(listed_ids(), [1 .. $n], '... every message is still served');

kill QUIT => $old;
ok(wait_for(sub { !kill(0, $old) }, 10), 'the daemon nginx stops');
my @bad = grep { /AddressSanitizer|runtime error:|\[alert\]|exited on signal/ }
    split /\n/, up_log();
ok(!@bad, '... without a crash or alert') or diag join "\n", @bad;

start_nginx_conf($Master, http_config => zone("path=$A fsync=always"));
is_deeply(listed_ids(), [1 .. $n], "restarted: all $n messages");
stop_nginx();

# --- path= added: refused, nothing made ---

start_nginx_conf($Master, http_config => zone(''));
$pos = length read_error_log();
ok(!reload_nginx($Master, http_config => zone("path=$C")),
   'a reload that adds path= is refused');
like(new_log($pos),
     qr/\[emerg\].*replog_zone "log": path="\Q$C\E" added by a reload: the running log is in memory only .*restart nginx to make it durable/,
     '... with an emerg naming the path');
ok(!-e $C, '... and the directory is not made');
stop_nginx();

# --- a secondary's incarnation after running with fsync=off ---

sub entry {
    my ($id) = @_;
    qq/{"message":"m$id","meta":{"message_id":$id,"registered_at":"2026-01-01T00:00:00.000001Z"}}/;
}

sub replicate {
    my (@ids) = @_;
    my ($st, $h, $b) = http_request(port(), 'POST', '/replicate',
        qq/{"epoch":"$EPOCH","entries":[/ . join(',', map { entry($_) } @ids)
        . ']}');
    my $j = eval { JSON::PP->new->decode($b // '') } // {};
    return ($st // 0, $h->{'x-replog-log'} // '', $j->{acked_id} // -1);
}

start_nginx_conf($Secondary, http_config => zone("path=$S fsync=always"));
my ($st, $inc1, $acked) = replicate(1 .. 3);
is($st, 200, 'a secondary with fsync=always takes a batch');
is($acked, 3, '... acked 3');
my $h = jget(port(), '/health');
is($h->{acked_id}, 3, '... /health shows acked_id 3, what its helper registers');
is($h->{acked_id}, metric('replog_log_durable_id'), '... its durable id');

# a restart under fsync=always keeps the incarnation
stop_nginx();
start_nginx_conf($Secondary, http_config => zone("path=$S fsync=always"));
my $inc;
($st, $inc, $acked) = replicate(4);
is($acked, 4, 'restarted with fsync=always, it holds 1..4');
is($inc, $inc1, '... in the same incarnation');

ok(reload_nginx($Secondary, http_config => zone("path=$S fsync=off")),
   'reloaded with fsync=off');
($st, $inc, $acked) = replicate(5 .. 7);
is($acked, 7, '... it acks 7');
is($inc, $inc1, '... still in the same incarnation while it runs');

stop_nginx();
start_nginx_conf($Secondary, http_config => zone("path=$S fsync=always"));
($st, $inc, $acked) = replicate(8);
is($acked, 8, 'restarted with fsync=always: 1..7 were kept');
isnt($inc, $inc1, '... but it starts a new incarnation (it acked under fsync=off)');
like($inc, qr/^[0-9a-f]{16}$/, '... named as usual');
my $inc2 = $inc;

# fsync=always since that start: the next restart keeps this incarnation
stop_nginx();
start_nginx_conf($Secondary, http_config => zone("path=$S fsync=always"));
($st, $inc, $acked) = replicate(9);
is($acked, 9, 'restarted again: it holds 1..9');
is($inc, $inc2, '... and keeps the incarnation it took');

# a torn tail: cut at the start, and a new incarnation
stop_nginx();
my ($seg) = glob "$S/*.seg";
my (undef, $v) = tool('verify', $S);
my ($end) = $v =~ /\tend (\d+)/;
{
    open my $fh, '+<:raw', $seg or die "$seg: $!";
    seek $fh, $end, 0;
    print $fh "\x07\x00\x00\x00torn";
    close $fh;
}
start_nginx_conf($Secondary, http_config => zone("path=$S fsync=always"));
like(read_error_log(), qr/\[warn\].*torn tail of "\Q$seg\E" cut at offset $end/,
     'a torn tail is cut at the start');
($st, $inc, $acked) = replicate(10);
is($acked, 10, '... everything before it is kept');
isnt($inc, $inc2, '... and it starts a new incarnation');
$inc2 = $inc;

# started with fsync=off, restarted with fsync=always: a new incarnation
stop_nginx();
start_nginx_conf($Secondary, http_config => zone("path=$S fsync=off"));
($st, $inc, $acked) = replicate(11);
is($acked, 11, 'started with fsync=off: it holds 1..11');
$inc2 = $inc;
stop_nginx();
start_nginx_conf($Secondary, http_config => zone("path=$S fsync=always"));
($st, $inc, $acked) = replicate(12);
is($acked, 12, 'restarted with fsync=always: 1..11 were kept');
isnt($inc, $inc2, '... in a new incarnation (it acked under fsync=off)');
$inc2 = $inc;

# /reset: the segments removed, a new incarnation, a new log
($st) = http_request(port(), 'POST', '/reset', '');
is($st, 200, '/reset on the secondary');
ok(wait_for(sub { !@{ dumped_ids($S) } }, 5),
   '... its segments hold no message any more');
($st, $inc, $acked) = replicate(1, 2);
is($acked, 2, '... a new log: it takes 1..2 again');
isnt($inc, $inc2, '... in a new incarnation');
$inc2 = $inc;
stop_nginx();
is_deeply(dumped_ids($S), [1, 2], 'after a stop the files hold the new log only');
start_nginx_conf($Secondary, http_config => zone("path=$S fsync=always"));
is_deeply(listed_ids(), [1, 2], '... and a restart serves it');
($st, $inc, $acked) = replicate(3);
is($inc, $inc2, '... in the incarnation the reset started');
stop_nginx();

done_testing;
