# A recovering master (a cluster of 3, no secondary registered yet):
# its 503 tells the N - floor(N/2) registrations it waits for, as /health
# does; and a reload that turns recovery off (replog_recovery off, or
# replog_cluster_size 1) opens it, as the README says, instead of leaving it
# answering 503 forever.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget);
use JSON::PP ();
use Time::HiRes qw(sleep);

workers(2);
log_level('info');

my $Http = 'replog_zone m 4m;';

sub conf {
    my ($n, $recovery) = @_;
    return <<"EOF";
    replog_node zone=m role=master id=m;
    replog_cluster_size $n;
    $recovery
    replog_healthcheck interval=200ms timeout=1s;
    location / { replog_api; }
EOF
}

sub post {
    my ($text) = @_;
    my ($st, $h, $b) = http_request(port(), 'POST', '/messages?wc=1&timeout=500',
                                    qq/{"message":"$text"}/);
    return ($st, $b // '');
}

for my $case ([ 'replog_recovery off', conf(3, 'replog_recovery off;') ],
              [ 'replog_cluster_size 1', conf(1, '') ])
{
    my ($what, $new) = @$case;

    start_nginx_conf(conf(3, ''), http_config => $Http);

    my ($st, $b) = post('early');
    is($st, 503, "$what: recovering, a write is answered 503");
    my $j = eval { JSON::PP->new->decode($b) } // {};
    is($j->{needed}, 2, "$what: the 503 asks for 2 of 2 secondaries (N - N/2 for N = 3)");
    is(jget(port(), '/health')->{recovery}{needed}, 2,
       "$what: as /health does");

    ok(reload_nginx($new, http_config => $Http), "$what: reloaded");

    ok(wait_for(sub { (jget(port(), '/health')->{state} // '') eq 'open' }, 5),
       "$what: the master is open after the reload");

    ($st, $b) = post('after');
    is($st, 201, "$what: a write is accepted") or diag "$b " . ($Test::Nginx::HTTP::Error // "");
    like($b, qr/"message_id":1\b/, "$what: with the first id");
    like(read_error_log(),
         qr/\[warn\].*replog: open for writes: recovery is off since the reload/,
         "$what: the opening is logged at warn");

    stop_nginx();
}

done_testing;
