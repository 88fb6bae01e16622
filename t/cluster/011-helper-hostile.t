# replog-register against peers that misbehave: a master (or local node)
# answering garbage, a wrong shape, a nesting bomb, a body of 20 MB, a
# forged log line in its error, nothing at all, or a byte at a time.  The
# helper must neither crash nor hang past its timeouts, must say why in one
# line, and retry at its pace (not in a loop).  The same cases once more
# under valgrind when it is installed: no invalid access, no leak.
#
# The stand-ins are small Perl servers, one connection at a time; no nginx.

use strict;
use warnings;

use Test::More;
use File::Temp ();
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Replog::Helper qw(helper_path spawn_helper wait_exit run_helper
                      slurp_file);

my $Helper = helper_path();

plan skip_all => "$Helper is missing: make helper" unless -x $Helper;

my $Tmp = File::Temp->newdir('replog-hostile-XXXXXX', TMPDIR => 1);
my $Epoch = '0123456789abcdef';
my %Servers;

sub answer {
    my ($status, $body, $type) = @_;
    $type //= 'application/json';
    return "HTTP/1.1 $status X\r\nContent-Type: $type\r\n"
         . 'Content-Length: ' . length($body) . "\r\n"
         . "Connection: close\r\n\r\n$body";
}

# A stand-in node on a free port: %routes maps a path to the raw answer or
# to a sub that writes to the socket itself.  Each request is logged as
# "METHOD PATH" in the returned file.  Returns (port, log file).
sub serve {
    my (%routes) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 16, ReuseAddr => 1)
        or die "listen: $!";
    my $port = $l->sockport;
    my $log = "$Tmp/server-$port.log";

    my $pid = fork // die "fork: $!";

    if (!$pid) {
        $SIG{PIPE} = 'IGNORE';
        while (my $c = $l->accept) {
            my $head = '';
            while (defined(my $line = <$c>)) {
                $head .= $line;
                last if $line =~ /^\r?\n\z/;
            }
            my ($method, $path) = $head =~ /\A(\S+) (\S+)/;
            my ($len) = $head =~ /^content-length:\s*(\d+)/mi;
            my $body = '';
            read $c, $body, $len if $len;
            if (open my $fh, '>>', $log) {
                print $fh ($method // '?') . ' ' . ($path // '?') . "\n";
                close $fh;
            }
            my $r = $routes{$path // ''}
                    // answer(404, '{"error":"no such path"}');
            $c->autoflush(1);
            ref $r ? $r->($c) : print $c $r;
            close $c;
        }
        POSIX::_exit(0);
    }

    close $l;
    $Servers{$pid} = 1;

    return ($port, $log);
}

sub stop_servers {
    for my $pid (keys %Servers) {
        kill KILL => $pid;
        waitpid $pid, 0;
        delete $Servers{$pid};
    }
}

my %Local = (
    '/healthcheck' => answer(200, 'HEALTHY', 'text/plain'),
    '/health'      => answer(200, qq({"epoch":"$Epoch","last_id":0})),
);

my %Bad = (
    'garbage' => answer(200, "not JSON \x00\x01\xff at all"),
    'a wrong shape' =>
        answer(200, '{"epoch":1234,"last_id":"7","master_id":["m"]}'),
    'a negative last_id' =>
        answer(200, qq({"epoch":"$Epoch","last_id":-1})),
    'a nesting bomb' => answer(200, ('[' x 30000) . (']' x 30000)),
    'a 20 MB body' => sub {
        my ($c) = @_;
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               . "Content-Length: 20971520\r\n\r\n";
        my $chunk = '{"epoch":' x 7282;
        for (1 .. 1024) { print $c $chunk or last }
    },
    'a silent master' => sub { sleep 30 },
    'a byte at a time' => sub {
        my ($c) = @_;
        print $c "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        for (1 .. 300) { print $c '{' or last; sleep 0.05 }
    },
);

my @Why = (
    [ 'garbage', qr/no epoch and last_id in its \/register answer/ ],
    [ 'a wrong shape', qr/no epoch and last_id in its \/register answer/ ],
    [ 'a negative last_id', qr/no epoch and last_id in its \/register answer/ ],
    [ 'a nesting bomb', qr/no epoch and last_id in its \/register answer/ ],
    [ 'a 20 MB body', qr/an answer longer than 65536 bytes/ ],
    [ 'a silent master', qr/Timeout was reached/, 'busy' ],
    [ 'a byte at a time', qr/Timeout was reached/, 'busy' ],
);

my ($LPort) = serve(%Local);
my @Base = ('--local', "http://127.0.0.1:$LPort", '--id', 's1',
            '--token', 'k', '--retry-interval', '0.2', '--timeout', '0.5');

# ------------------------------------------- a master that answers badly

for my $w (@Why) {
    my ($case, $why, $busy) = @$w;
    my ($mport, $mlog) = serve('/register' => $Bad{$case});
    my ($code, $err, $took) = run_helper({ limit => 10 },
        [ @Base, '--master', "127.0.0.1:$mport", '--max-delay', '1' ]);

    is $code, 1, "$case: gave up, exit 1";
    like $err, qr/\Areplog-register: master http:\/\/127\.0\.0\.1:$mport unreachable after 1s: [^\n]*\n\z/,
        "$case: one line";
    like $err, $why, "$case: saying why";
    cmp_ok $took, '<', 4, "$case: within its budget and timeouts";

    # a busy stand-in serves one connection at a time: not counted
    next if $busy;

    my $tries = () = slurp_file($mlog) =~ /^POST \/register$/mg;
    cmp_ok $tries, '>=', 2, "$case: tried again ($tries)";
    cmp_ok $tries, '<=', 7, "$case: at the retry interval, not in a loop";
}

{
    # a forged log line and terminal escapes in the error text
    my ($mport) = serve('/register' => answer(403,
        '{"error":"no\n[emerg] forged line \u001b[31mred","detail":"x"}'));
    my ($code, $err) = run_helper({ limit => 10 },
        [ @Base, '--master', "127.0.0.1:$mport" ]);

    is $code, 2, 'a forged line in a refusal: exit 2';
    is $err, "replog-register: master refused registration (403): "
           . "no?[emerg] forged line ?[31mred\n",
        'a forged line in a refusal: one line, the controls as "?"';
}

{
    my ($mport) = serve('/register' => answer(404,
        '<html>' . ('<p>not here</p>' x 20000) . '</html>', 'text/html'));
    my ($code, $err) = run_helper({ limit => 10 },
        [ @Base, '--master', "127.0.0.1:$mport" ]);

    is $code, 2, 'a 300 KB HTML refusal: exit 2';
    is $err, "replog-register: master refused registration (404): "
           . "HTTP 404\n", 'a 300 KB HTML refusal: the status only';
}

{
    my ($mport) = serve('/register' => answer(200,
        qq({"epoch":"$Epoch","last_id":5,"master_id":") . ('m' x 1000)
        . '"}'));
    my ($code, $err) = run_helper({ limit => 10 },
        [ @Base, '--master', "127.0.0.1:$mport" ]);

    is $code, 0, 'a master_id of 1000 bytes: registered anyway, exit 0';
    like $err, qr/^replog-register: registered "s1" with master "\?" \(epoch $Epoch, master last_id 5\)$/m,
        'a master_id of 1000 bytes: shown as "?"';
}

# ------------------------------------------- a local node that answers badly

{
    my ($lport) = serve('/healthcheck' => $Local{'/healthcheck'},
                        '/health' => answer(200, '{"epoch":"zz","last_id":1}'));
    my ($mport, $mlog) = serve();
    my ($code, $err) = run_helper({ limit => 10 },
        [ @Base, '--local', "http://127.0.0.1:$lport",
          '--master', "127.0.0.1:$mport" ]);

    is $code, 1, 'a local epoch that is not 16 hex digits: exit 1';
    like $err, qr/local node http:\/\/127\.0\.0\.1:$lport \/health: no epoch and last_id in its \/health answer/,
        'a local epoch that is not 16 hex digits: saying so';
    is slurp_file($mlog), '', 'a local epoch that is not 16 hex digits: '
                         . 'the master is not asked';
}

# ------------------------------------------- --watch against a garbage master

{
    my ($mport, $mlog) = serve(
        '/register' => answer(200,
            qq({"epoch":"$Epoch","last_id":0,"master_id":"m"})),
        '/health' => answer(200, '{"epoch":'),
        '/secondaries' => answer(200, '{"data":"no list"}'));
    my ($pid, $out) = spawn_helper([ @Base, '--master', "127.0.0.1:$mport",
                                     '--watch', '0.1' ]);

    sleep 1.5;
    is waitpid($pid, WNOHANG), 0, 'watch, a garbage /health: still running';
    kill TERM => $pid;
    my $t0 = time;
    is wait_exit($pid, 5), 0, 'watch, a garbage /health: SIGTERM, exit 0';
    cmp_ok time - $t0, '<', 1, 'watch, a garbage /health: promptly';

    my $err = slurp_file($out);
    is scalar(() = $err =~ /no epoch in its \/health answer/g), 1,
        'watch, a garbage /health: said once';
    is scalar(() = slurp_file($mlog) =~ /^POST \/register$/mg), 1,
        'watch, a garbage /health: no registering again on garbage';
}

# ------------------------------------------- the same under valgrind

SKIP: {
    skip 'valgrind is not installed', 1
        unless grep { -x "$_/valgrind" } split /:/, $ENV{PATH};

    my @vg = ('valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
              '--errors-for-leak-kinds=definite');

    for my $w (@Why) {
        my ($case) = @$w;
        my ($mport) = serve('/register' => $Bad{$case});
        my ($code, $err) = run_helper({ wrap => \@vg, limit => 30 },
            [ @Base, '--master', "127.0.0.1:$mport", '--max-delay', '1',
              '--timeout', '1' ]);

        is $code, 1, "valgrind, $case: exit 1, no memory error or leak"
            or diag $err;
    }

    my ($mport) = serve('/register' => answer(200,
        qq({"epoch":"$Epoch","last_id":3,"master_id":"m"})));
    my ($code, $err) = run_helper({ wrap => \@vg, limit => 30 },
        [ @Base, '--master', "127.0.0.1:$mport", '--timeout', '1' ]);

    is $code, 0, 'valgrind, a registration: exit 0, no memory error or leak'
        or diag $err;

    ($code, $err) = run_helper({ wrap => \@vg, limit => 30 },
                                [ '--id', 'x' x 64 ]);
    is $code, 64, 'valgrind, a 64-byte id: exit 64, no memory error or leak'
        or diag $err;
}

stop_servers();

END { local $?; stop_servers() }

done_testing;
