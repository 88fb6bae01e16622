# The launchers' keys and master URL, end to end: configs rendered by
# scripts/render-conf.sh, the helper registering.  With the original's .env
# token the module and the helper derive the same service key; SERVICE_KEY
# replaces it on every node; the client key never opens /replicate; a
# secondary's 405 names the master it was rendered with.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use Replog::Cluster;
use Replog::Test qw(slurp);

plan skip_all => 'build/replog-register is missing'
    unless -x Replog::Cluster->top . '/build/replog-register';

my $Batch = '{"epoch":"0123456789abcdef","entries":[{"message":"forged",'
          . '"meta":{"message_id":1,"registered_at":"2026-01-01T00:00:00.000000Z"}}]}';

# the original service's .env token and the key derived from it
{
    my $c = Replog::Cluster->new(name => 'trust', cluster_size => 2,
                                 api_key => 'hog32422of24gr5t', workers => 1);
    is $c->service_key,
       '1b3ffcfc930b83806fa7de7111f8554601191b9509a9212c6c36e7548639760a',
       'the derived key of the original .env token is what Python computes';

    $c->start_master;
    $c->start_secondary('s1');
    ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 15),
        'derived key: the helper registers s1';

    ok $c->wait_open, 'the master is open';
    my ($st, $res) = $c->post('/messages?wc=all&timeout=5000', 'one');
    is $st, 201, 'derived key: the master replicates to s1 (wc=all)';

    ($st, $res) = $c->request('s1', 'POST', '/replicate', $Batch,
                              headers => { 'x-token' => 'hog32422of24gr5t' });
    is $st, 403, 'the client key on /replicate of s1: 403';
    ($st, $res) = $c->request('s1', 'POST', '/reset', '{}',
                              headers => { 'x-token' => 'hog32422of24gr5t' });
    is $st, 403, 'the client key on /reset of s1: 403';
    is_deeply $c->texts('s1'), ['one'], 's1 holds the replicated entry only';

    ($st, $res) = $c->request('s1', 'POST', '/messages', '{"message":"x"}');
    is $st, 405, 'a write to s1: 405';
    is $res->{master}, $c->url('master'),
        'the 405 names the master rendered from MASTER_HOST:MASTER_PORT';

    my $conf = slurp($c->node('s1')->{prefix} . '/nginx.conf');
    unlike $conf, qr/replog_service_key/,
        'without SERVICE_KEY no replog_service_key is rendered';
    $c->stop_all;
}

# SERVICE_KEY: a key of its own on every node and in the helper
{
    my $c = Replog::Cluster->new(name => 'trust-svc', cluster_size => 2,
                                 api_key => 'client-key', workers => 1,
                                 env => { SERVICE_KEY => 'node-key-42' });
    $c->start_master;
    $c->start_secondary('s1');
    ok $c->wait_for(sub { $c->status('s1') eq 'HEALTHY' }, 15),
        'SERVICE_KEY: the helper registers s1 with it';
    ok $c->wait_open, 'SERVICE_KEY: the master is open';
    my ($st) = $c->post('/messages?wc=all&timeout=5000', 'two');
    is $st, 201, 'SERVICE_KEY: the master replicates with it';

    my $derived = sha256_hex('client-key&'
        . '028ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ61702');
    ($st) = $c->request('s1', 'POST', '/replicate', $Batch,
                        headers => { 'x-token' => $derived });
    is $st, 403, 'SERVICE_KEY: the derived key no longer opens /replicate';

    like slurp($c->node('master')->{prefix} . '/nginx.conf'),
         qr/^\s*replog_service_key node-key-42;$/m,
         'SERVICE_KEY is rendered into the master';
    $c->stop_all;
}

done_testing;
