# The original's response shapes on a master with secondaries at different
# acked_ids: registered_to of each listed message (the holders when the
# list is read, a few runs), an exact Content-Length for every page, and
# GET /secondary/list with the original's status values and
# last_status_change beside replog's own state.  Secondaries that are not
# running are registered with the acked_id they claim: nothing can move
# their marks, so the holders are known exactly.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget);
use JSON::PP ();
use Time::HiRes qw(time sleep);
use POSIX ();

my $TS = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/;

workers(1);

# s1 runs (HEALTHY); the ports of f1.. have nobody behind them
start_nginx_conf(<<'EOF', http_config => <<'EOF2');
    replog_node zone=m role=master id=m;
    replog_healthcheck interval=100ms timeout=200ms suspect=1 fails=40;
    replog_retry interval=50ms max_delay=100ms;
    location / { replog_api; }
EOF
    replog_zone m 4m;
    replog_zone s1 4m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        replog_node zone=s1 role=secondary id=s1;
        location / { replog_api; }
    }
EOF2

my $Dead = rand_port(2);

sub orig { +{ map { $_->{id} => $_ } @{ jget(port(), '/secondary/list')->{data} } } }
sub mine { +{ map { $_->{id} => $_ } @{ jget(port(), '/secondaries')->{data} } } }

sub register {
    my ($body) = @_;
    my ($st) = http_request(port(), 'POST', '/register', $body);
    return $st // 0;
}

sub get {
    my ($uri) = @_;
    my ($st, $h, $b) = http_request(port(), 'GET', $uri);
    return ($st // 0, $h, $b // '');
}

# The exact list of these ids: [id, holders...] with the texts "mN"
sub list_of {
    my @e = map {
        my ($id, @to) = @$_;
        qq/\\{"message":"m$id","meta":\\{"message_id":$id,"registered_at":"$TS",/
        . '"registered_to":\\[' . join(',', map { qq/"$_"/ } @to) . '\\]\\}\\}'
    } @_;
    my $re = '^\{"data":\[' . join(',', @e) . '\]\}\n\z';
    return qr/$re/;
}

for my $i (1 .. 5) {
    my ($st) = http_request(port(), 'POST', '/messages?wc=1',
                            qq/{"message":"m$i"}/);
    is($st, 201, "post m$i");
}
my $epoch = jget(port(), '/health')->{epoch};

# registration order is slot order, the order of registered_to
is(register(qq/{"id":"f1","port":$Dead,"epoch":"$epoch","acked_id":2}/), 200,
   'f1 claims 1..2');
is(register(qq/{"id":"f2","port":$Dead,"epoch":"$epoch","acked_id":4}/), 200,
   'f2 claims 1..4');
is(register(qq/{"id":"f3","port":$Dead,"epoch":"$epoch","acked_id":0}/), 200,
   'f3 holds nothing');
is(register(qq/{"id":"f4","port":$Dead,"epoch":"$epoch","acked_id":5}/), 200,
   'f4 claims all 5');
is(register(qq/{"id":"f5","port":$Dead,"epoch":"$epoch","acked_id":9}/), 200,
   'f5 claims more than the master holds');
is(register(qq/{"id":"fc","port":$Dead,"epoch":"00000000deadbeef","acked_id":3}/),
   200, 'fc holds a log of another epoch');

my %acked = map { $_->{id} => $_->{acked_id} } @{ jget(port(), '/secondaries')->{data} };
is_deeply(\%acked, { f1 => 2, f2 => 4, f3 => 0, f4 => 5, f5 => 9, fc => 3 },
          'the acked_ids as registered');
is(mine()->{f5}{status}, 'CONFLICT',
   'f5, ahead of the master in its epoch, is CONFLICT: it holds nothing here');

my @all = ([1, qw(m f1 f2 f4)], [2, qw(m f1 f2 f4)], [3, qw(m f2 f4)],
           [4, qw(m f2 f4)], [5, qw(m f4)]);

for my $page (
    [ '/messages',                  @all ],
    [ '/messages?since=1&limit=3',  @all[1 .. 3] ],
    [ '/messages?since=2&limit=1',  $all[2] ],
    [ '/messages?since=4',          $all[4] ],
    [ '/messages?limit=2',          @all[0, 1] ],
) {
    my ($uri, @want) = @$page;
    my ($st, $h, $b) = get($uri);
    is($st, 200, "$uri: 200");
    like($b, list_of(@want),
         "$uri: each message held by the master and the secondaries at or "
         . 'past its id (not the CONFLICT ones)');
    is($h->{'content-length'} // -1, length $b,
       "$uri: Content-Length is the exact length of the body");
}

{
    my ($st, $h, $b) = get('/messages?since=5');
    is($b, qq/{"data":[]}\n/, 'past the last id: empty');
    is($h->{'content-length'}, 12, 'past the last id: Content-Length 12');
    my ($hst, $hh) = http_request(port(), 'HEAD', '/messages');
    is($hh->{'content-length'}, length((get('/messages'))[2]),
       'HEAD: the Content-Length of the GET');
}

# a real secondary: caught up, it holds everything and the runs follow
is(register(qq/{"id":"s1","port":${\ rand_port(1)}}/), 200, 's1 registers');
ok(wait_for(sub { (grep { $_->{id} eq 's1' && $_->{acked_id} == 5 }
                      @{ jget(port(), '/secondaries')->{data} }) }, 5),
   's1 caught up to 5');
{
    my ($st, $h, $b) = get('/messages');
    like($b, list_of(map { [@$_, 's1'] } @all),
         'with s1 caught up: it holds every message');
    is($h->{'content-length'} // -1, length $b, 'Content-Length still exact');
    my (undef, undef, $sb) = http_request(rand_port(1), 'GET', '/messages');
    like($sb, qr/^\{"data":\[(?:\{"message":"m\d","meta":\{"message_id":\d,"registered_at":"$TS","registered_to":\["s1"\]\}\},?){5}\]\}\n\z/,
         's1 lists the same messages, each as held by itself');
}

# ------------------------------------------ GET /secondary/list


sub utc_now { POSIX::strftime('%Y-%m-%d %H:%M:%S', gmtime(time)) }

ok(wait_for(sub { (mine()->{f1}{status} // '') eq 'SUSPECTED' }, 5),
   'f1 misses a heartbeat: SUSPECTED');
my $o = orig();
my $m = mine();
is_deeply([ map { $o->{$_}{status} } qw(s1 f1 fc) ],
          [ qw(HEALTHY HEALTHY UNHEALTHY) ],
          '/secondary/list status: HEALTHY, SUSPECTED as HEALTHY, CONFLICT as UNHEALTHY');
is_deeply([ map { $o->{$_}{state} } qw(s1 f1 fc) ],
          [ qw(HEALTHY SUSPECTED CONFLICT) ],
          '/secondary/list state: replog\'s own');
is_deeply([ map { $m->{$_}{status} } qw(s1 f1 fc) ],
          [ qw(HEALTHY SUSPECTED CONFLICT) ],
          '/secondaries keeps replog\'s values');
ok(!exists $m->{f1}{last_status_change} && !exists $m->{f1}{state},
   '/secondaries: no last_status_change, no state');
my @keys = sort keys %{ $o->{f1} };
is_deeply([ grep { /^(id|host|port|status|last_status_change)$/ } @keys ],
          [ qw(host id last_status_change port status) ],
          '/secondary/list: the original\'s keys');
is($o->{f1}{port}, $Dead, '/secondary/list: port');
is($o->{f1}{host}, '127.0.0.1', '/secondary/list: host');
like($o->{$_}{last_status_change}, qr/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\z/,
     "last_status_change of $_ as the original formats it")
    for qw(s1 f1 fc);
my $at = $o->{f1}{last_status_change};
cmp_ok($at, 'le', utc_now(), 'last_status_change: not in the future (UTC)');

# UNHEALTHY after 40 failures (>= 2 s): the original's status changes now
ok(wait_for(sub { (mine()->{f1}{status} // '') eq 'UNHEALTHY' }, 20),
   'f1 after 40 failures: UNHEALTHY');
$o = orig();
is($o->{f1}{status}, 'UNHEALTHY', '/secondary/list: UNHEALTHY');
is($o->{f1}{state}, 'UNHEALTHY', '/secondary/list: state UNHEALTHY');
cmp_ok($o->{f1}{last_status_change}, 'gt', $at,
       'last_status_change moved when HEALTHY became UNHEALTHY, '
       . 'not when HEALTHY became SUSPECTED');
cmp_ok($o->{f1}{last_status_change}, 'le', utc_now(), 'and it is a time of now');

stop_nginx();
my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, read_error_log();
ok(!@bad, 'nothing at [alert]/[crit]') or diag(join "\n", @bad[0 .. 4]);

done_testing();
