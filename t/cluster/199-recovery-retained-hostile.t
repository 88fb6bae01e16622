# A recovering master takes a source's log start (its 410 with first_id K)
# only from the source it chose and only within what that source
# registered with: a 410 naming no source or another, one without a valid
# first_id, or one whose K is beyond the source's last id is refused,
# logged, and the pull is tried again; nothing is stored.  A sound one
# starts the (in-memory) master's log at K.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Nginx::Util qw(:util);
use Replog::Test qw(wait_for jget);
use Time::HiRes qw(time);

my $EPOCH = '0123456789abcdef';
my $SOURCE = "add_header X-Replog-Source \"standin $EPOCH\" always;";
my $page = '{"data":[' . join(',', map {
    qq/{"message":"kept$_","meta":{"message_id":$_,"registered_at":"2026-01-01T00:00:00.000000Z"}}/
} 2 .. 3) . "]}\n";

workers(1);
log_level('info');

# a stand-in source of 1..3: 410 with $gone for since=0, else ids 2..3
sub stand_in {
    my ($header, $gone) = @_;

    (my $http = <<'EOF') =~ s/%HEADER%/$header/;
    replog_zone m 4m;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        location = /messages {
            default_type application/json;
            %HEADER%
            if ($arg_since = 0) {
                return 410 '%GONE%';
            }
            root $TEST_NGINX_HTML_DIR;
            try_files /page.json =404;
        }
        location / {
            default_type application/json;
            add_header X-Replog-Id standin always;
            return 200 '{}';
        }
    }
EOF
    $http =~ s/%GONE%/$gone/;

    start_nginx_conf(<<'EOF', http_config => $http,
    replog_node zone=m role=master id=m;
    replog_cluster_size 2;
    replog_healthcheck interval=200ms timeout=1s;
    replog_retry interval=300ms max_delay=1s;
    location / { replog_api; }
EOF
        user_files => { 'page.json' => $page });

    my $p2 = rand_port(2);
    my ($st) = http_request(port(), 'POST', '/register',
        qq/{"id":"standin","port":$p2,"epoch":"$EPOCH","acked_id":3}/);
    return $st;
}

for my $case (
    [ 'a 410 of no source', '', '{"error":"gone","first_id":2}',
      qr/its 410 is not of the registered source/ ],
    [ 'a 410 of another source',
      "add_header X-Replog-Source \"other $EPOCH\" always;",
      '{"error":"gone","first_id":2}',
      qr/its 410 is not of the registered source/ ],
    [ 'a 410 without first_id', $SOURCE, '{"error":"gone"}',
      qr/its 410 has no valid first_id/ ],
    [ 'a first id past its last id', $SOURCE,
      '{"error":"gone","first_id":4}',
      qr/its first id is not in its log/,
      qr/\[error\].*says its log starts at id 4, asked since 0, registered with last id 3: refused/ ],
    [ 'a first id far beyond it', $SOURCE,
      '{"error":"gone","first_id":9000000000000000000}',
      qr/its first id is not in its log/ ])
{
    my ($what, $header, $gone, $reason, $logged) = @$case;

    is(stand_in($header, $gone), 200,
       "$what: a stand-in registered as the source of 3 messages");

    my $t0 = time;
    ok(wait_for(sub {
           my @n = read_error_log() =~ /recovering: pulling from/g;
           @n >= 3
       }, 10), "$what: refused, and pulled again");
    ok(time - $t0 >= 0.5, "$what: ... at the retry interval, not at once");

    my $h = jget(port(), '/health');
    isnt($h->{state}, 'open', "$what: the master does not open");
    is_deeply([$h->{last_id}, $h->{log_first_id} // 1], [0, 1],
              "$what: nothing is stored, its log starts at 1");

    my ($s) = grep { $_->{id} eq 'standin' }
        @{ jget(port(), '/secondaries')->{data} };
    like($s->{last_error} // '', $reason,
         "$what: a failure of that source, with the reason");
    like(read_error_log(), $logged, "$what: logged with the ids")
        if $logged;
    unlike(read_error_log(), qr/starts at id \d+ too/,
           "$what: the log is not started anew");

    stop_nginx();
}

# a sound 410: first_id 2 of the source of 1..3
is(stand_in($SOURCE, '{"error":"gone","first_id":2}'), 200,
   'a stand-in whose log starts at 2 registered');
ok(wait_for(sub { (jget(port(), '/health')->{state} // '') eq 'open' }, 10),
   'the master recovers and opens');
my $h = jget(port(), '/health');
is_deeply([$h->{log_first_id}, $h->{last_id}], [2, 3],
          '... its log starts at 2, last id 3');
my $list = jget(port(), '/messages?since=1');
is_deeply([map { [$_->{meta}{message_id}, $_->{message}] }
               @{ $list->{data} }],
          [[2, 'kept2'], [3, 'kept3']], '... with the source\'s messages');
my ($st, undef, $body) = http_request(port(), 'GET', '/messages?since=0');
is($st, 410, '... since=0: 410');
like($body // '', qr/"first_id":2\b/, '... with first_id 2');
like(read_error_log(), qr/\[warn\].*the log of "standin" starts at id 2 .*this log ended at id 0: it starts at id 2 too/,
     '... said at warn');
stop_nginx();

done_testing();
