# A master's outbound client against a hostile stand-in secondary that
# answers every connection (plain Perl: Test::Nginx's tcp_listen answers
# one).  1. A NUL in the status line of every heartbeat answer, 100 ms
# apart for 3.5 s: the worker never crashes, the secondary is failing with
# the reason.  2. A header trickled a byte per write: each byte is scanned
# once (the client's debug counter).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET ();
use IO::Select ();
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget);

log_level('debug');
workers(1);

my $peer_port = rand_port(1);

# A stand-in secondary: answers each connection with $o{reply}, written in
# $o{piece}-byte writes $o{gap} s apart; at most $o{max} connections and
# $o{secs} seconds.
sub stand_in {
    my (%o) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $peer_port, Listen => 16, ReuseAddr => 1)
        or die "listen $peer_port: $!";
    my $pid = fork // die "fork: $!";
    if ($pid) {
        close $l;
        return $pid;
    }
    my ($n, $until) = (0, time + $o{secs});
    my $sel = IO::Select->new($l);
    while ($n < $o{max} && time < $until) {
        next unless $sel->can_read(0.1);
        my $c = $l->accept or next;
        $n++;
        setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
        my $req = '';
        my $cs = IO::Select->new($c);
        while ($req !~ /\r\n\r\n/ && $cs->can_read(1)) {
            sysread($c, $req, 65536, length $req) or last;
        }
        my $r = $o{reply};
        for (my $i = 0; $i < length $r && time < $until; $i += $o{piece}) {
            syswrite($c, substr($r, $i, $o{piece})) or last;
            sleep $o{gap} if $o{gap};
        }
        close $c;
    }
    POSIX::_exit(0);
}

sub register {
    my ($st) = http_request(port(), 'POST', '/register',
                            qq/{"id":"s1","port":$peer_port}/);
    return $st;
}

my $conf = <<'EOF';
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=100ms timeout=1s suspect=1 fails=3;
    location / { replog_api; }
EOF

# 1. NUL in every answer
{
    start_nginx_conf($conf, http_config => 'replog_zone m 1m;');
    my $pid = stand_in(reply => "HTTP/1.1 200 \0OK\r\nContent-Length: 0\r\n\r\n",
                       piece => 1 << 20, gap => 0, max => 100, secs => 3.5);
    is(register(), 200, 'NUL: the stand-in registered');
    sleep 3;    # while it still answers: later heartbeats find it gone

    my $s = jget(port(), '/secondaries')->{data}[0];
    waitpid($pid, 0);
    is($s->{status}, 'UNHEALTHY', 'NUL: the secondary is unhealthy');
    is($s->{last_error}, 'control byte in the reply header',
       'NUL: last_error says why');
    cmp_ok($s->{fails}, '>=', 10, 'NUL: every answer counted as a failure');
    is(jget(port(), '/health')->{role}, 'master', 'NUL: the master answers');

    my $log = read_error_log();
    my @crash = $log =~ /(exited on signal \d+)/g;
    is(scalar @crash, 0, 'NUL: no worker crashed');
    my @changes = $log =~ /(HEALTHY -> SUSPECTED|SUSPECTED -> UNHEALTHY)/g;
    is(scalar @changes, 2, 'NUL: two state changes logged, once each');
    stop_nginx();
}

# 2. A header trickled in a byte at a time
{
    start_nginx_conf($conf, http_config => 'replog_zone m 1m;');
    my $head = "HTTP/1.1 200 OK\r\nX-Padding: " . ('p' x 300)
             . "\r\nContent-Length: 0\r\n\r\n";
    my $pid = stand_in(reply => $head, piece => 1, gap => 0.002,
                       max => 1, secs => 10);
    is(register(), 200, 'trickle: the stand-in registered');
    waitpid($pid, 0);

    my $len = length $head;
    my ($scanned, $reads);
    wait_for(sub {
        (undef, $scanned, $reads) = read_error_log()
            =~ /replog: reply 200 from "[^"]+": header of (\d+) bytes, (\d+) scanned, in (\d+) reads/;
        defined $reads;
    }, 2);
    ok(defined $reads, 'trickle: the header was read');
    cmp_ok($reads // 0, '>', 30, 'trickle: it came in many reads');
    is($scanned, $len, "trickle: its $len bytes were scanned once each");
    stop_nginx();
}

done_testing();
