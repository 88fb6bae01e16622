package Replog::Cluster;

=head1 NAME

Replog::Cluster - separate nginx processes (a master, secondaries) and
replog-register helpers for the multi-process tests in t/cluster/

=head1 SYNOPSIS

    use lib 't/lib';
    use Replog::Cluster;

    my $c = Replog::Cluster->new(name => 'accept', cluster_size => 3);
    $c->start_master;
    $c->start_secondary('s1');           # nginx + helper in watch mode
    my ($status, $body) = $c->post('/messages?wc=2', 'hello');
    $c->wait_for(sub { $c->acked('s1') >= 1 }, 10, 's1 acked');
    $c->kill9('s1'); $c->start_secondary('s1');
    $c->stop_all;                        # also fails on crashes

Configs are rendered by scripts/render-conf.sh from conf/templates/, the
same path `make run` and the Docker image use.  Every node listens on
127.0.0.1 on a free port.  Options of new(): name, cluster_size, workers,
api_key, env (hash of extra variables for every node).  Per node, extra
variables go as a hash to start_master / start_secondary.

=cut

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA ();
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Test::More;
use Test::Nginx::HTTP qw(http_request);
use Replog::Test qw(free_port slurp);

# the salt of the original service's (and the module's) derived service key
use constant SALT =>
    '028ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ61702';

my $Top = abs_path(__FILE__ =~ s{t/lib/Replog/Cluster\.pm$}{}r || '.');

sub top { $Top }

sub new {
    my ($class, %o) = @_;

    my $module = (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '')[0]
        // "$Top/build/ngx_http_replog_module.so";

    my $self = bless {
        name         => $o{name} // 'cluster',
        cluster_size => $o{cluster_size},
        workers      => $o{workers} // 2,
        api_key      => $o{api_key} // 'test-key',
        env          => $o{env} // {},
        module       => $module,
        nginx        => $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx',
        helper       => "$Top/build/replog-register",
        nodes        => {},
        json         => JSON::PP->new->utf8->canonical,
        owner        => $$,
    }, $class;

    $self->{dir} = "$Top/t/servroot-cluster/$self->{name}";
    remove_tree($self->{dir});
    make_path($self->{dir});

    return $self;
}

sub node { $_[0]{nodes}{$_[1]} // die "no node $_[1]" }
sub port { $_[0]->node($_[1])->{port} }
sub url  { "http://127.0.0.1:" . $_[0]->port($_[1]) }

sub _render {
    my ($self, $node) = @_;

    my %env = (
        %{ $self->{env} },
        %{ $node->{env} },
        REPLOG_PREFIX   => $node->{prefix},
        REPLOG_ID       => $node->{name},
        REPLOG_MODULE   => $self->{module},
        REPLOG_LISTEN   => '127.0.0.1',
        REPLOG_WORKERS  => $node->{env}{REPLOG_WORKERS} // $self->{workers},
        REPLOG_ZONE_SIZE => $node->{env}{REPLOG_ZONE_SIZE}
                            // $self->{env}{REPLOG_ZONE_SIZE} // '64m',
        # the original's name of the client token; API_KEY is its alias
        API_TOKEN       => $self->{api_key},
        API_KEY         => '',
        MASTER_HOST     => '127.0.0.1',
        MASTER_PORT     => $self->{master_port},
        SECONDARY_PORT  => $node->{port},
        HEALTHCHECK_DELAY => $node->{env}{HEALTHCHECK_DELAY}
                             // $self->{env}{HEALTHCHECK_DELAY} // 1,
        MESSAGE_POST_RETRY_INTERVAL => $self->{env}{MESSAGE_POST_RETRY_INTERVAL}
                                       // '0.2',
        MAX_MESSAGE_POST_RETRY_DELAY => $self->{env}{MAX_MESSAGE_POST_RETRY_DELAY}
                                        // 2,
    );

    $env{REPLOG_CLUSTER_SIZE} = $self->{cluster_size}
        if $self->{cluster_size} && $node->{role} eq 'master';

    local %ENV = (%ENV, %env);
    my $conf = `$Top/scripts/render-conf.sh $node->{role}`;
    die "render-conf failed for $node->{name}" if $?;

    open my $fh, '>', "$node->{prefix}/nginx.conf" or die $!;
    print $fh $conf;
    close $fh;
}

sub _spawn {
    my ($self, $log, @cmd) = @_;

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        setpgrp(0, 0);
        open STDOUT, '>>', $log or die;
        open STDERR, '>>', $log or die;
        exec @cmd or die "exec $cmd[0]: $!";
    }

    return $pid;
}

sub _start_nginx {
    my ($self, $node) = @_;

    make_path("$node->{prefix}/tmp");
    $self->_render($node);

    local $ENV{LD_PRELOAD} = $ENV{TEST_NGINX_LD_PRELOAD}
        if $ENV{TEST_NGINX_LD_PRELOAD};

    $node->{pid} = $self->_spawn("$node->{prefix}/stderr.log",
        $self->{nginx}, '-p', $node->{prefix}, '-c',
        "$node->{prefix}/nginx.conf", '-e', "$node->{prefix}/error.log",
        '-g', 'daemon off;');

    $self->wait_for(sub { $self->_answers($node) }, 15,
                    "$node->{name} answers /healthcheck")
        or die "$node->{name} did not start: "
               . `tail -n 5 $node->{prefix}/error.log $node->{prefix}/stderr.log`;
}

sub _answers {
    my ($self, $node) = @_;
    my ($status) = eval {
        http_request($node->{port}, 'GET', '/healthcheck', undef, {},
                     timeout => 1)
    };
    return defined $status && $status == 200;
}

sub _add_node {
    my ($self, $name, $role, %env) = @_;

    my $node = $self->{nodes}{$name} //= {
        name   => $name,
        role   => $role,
        port   => $role eq 'master' ? ($self->{master_port} //= free_port())
                                    : free_port(),
        prefix => "$self->{dir}/$name",
    };

    $node->{env} = { %{ $node->{env} // {} }, %env };
    make_path($node->{prefix});

    return $node;
}

sub start_master {
    my ($self, %env) = @_;
    my $node = $self->_add_node('master', 'master', %env);
    $self->_start_nginx($node);
    return $node;
}

# a secondary nginx and, unless helper => 0, its replog-register --watch
sub start_secondary {
    my ($self, $name, %env) = @_;
    my $helper = delete $env{helper} // 1;
    my $node = $self->_add_node($name, 'secondary', %env);

    $self->_start_nginx($node);
    $self->start_helper($name) if $helper && !$node->{helper_pid};

    return $node;
}

sub start_helper {
    my ($self, $name, @args) = @_;
    my $node = $self->node($name);

    @args = ('--watch', '0.3') unless @args;

    $node->{helper_pid} = $self->_spawn("$node->{prefix}/register.log",
        $self->{helper}, '--master', $self->url('master'), '--id', $name,
        '--port', $node->{port}, '--token', $self->{api_key},
        length($self->{env}{SERVICE_KEY} // '')
            ? ('--service-key', $self->{env}{SERVICE_KEY}) : (),
        '--retry-interval', '0.2', '--max-delay', '30', @args);
}

# a signal to the nginx master process alone (HUP: reload)
sub signal_master_only {
    my ($self, $sig) = @_;
    my $node = $self->node('master');
    kill $sig, $node->{pid} if $node->{pid};
}

sub signal {
    my ($self, $name, $sig) = @_;
    my $node = $self->node($name);
    kill $sig, -$node->{pid} if $node->{pid};
}

# kill -9 of the whole nginx (master process and workers)
sub kill9 {
    my ($self, $name) = @_;
    my $node = $self->node($name);
    return unless $node->{pid};
    kill 'KILL', -$node->{pid};
    waitpid $node->{pid}, 0;
    delete $node->{pid};
}

sub stop {
    my ($self, $name) = @_;
    my $node = $self->node($name);
    return unless $node->{pid};

    kill 'CONT', -$node->{pid};
    kill 'QUIT', $node->{pid};

    my $deadline = time + 10;
    while (time < $deadline) {
        last if waitpid($node->{pid}, WNOHANG) > 0;
        sleep 0.05;
    }

    if (kill 0, $node->{pid}) {
        kill 'KILL', -$node->{pid};
        waitpid $node->{pid}, 0;
    }

    delete $node->{pid};
}

sub stop_helper {
    my ($self, $name) = @_;
    my $node = $self->node($name);
    return unless $node->{helper_pid};
    kill 'TERM', $node->{helper_pid};
    waitpid $node->{helper_pid}, 0;
    delete $node->{helper_pid};
}

# stops everything; one test per node that no crash or sanitizer report
# was logged
sub stop_all {
    my ($self) = @_;

    for my $name (sort keys %{ $self->{nodes} }) {
        $self->stop_helper($name);
        $self->stop($name);
    }

    for my $name (sort keys %{ $self->{nodes} }) {
        my $prefix = $self->{nodes}{$name}{prefix};
        my $logs = join '', map { -f $_ ? slurp($_) : '' }
            "$prefix/error.log", "$prefix/stderr.log";
        my @bad = grep { /exited on signal|AddressSanitizer|runtime error:|LeakSanitizer|\[alert\]/ }
            split /\n/, $logs;
        # a worker the test killed itself
        @bad = grep { !/exited on signal 9\b/ } @bad
            if $self->{nodes}{$name}{killed_workers};
        ok !@bad, "$self->{name}: no crash or sanitizer report on $name"
            or diag join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)];
    }

    $self->{stopped} = 1;
}

sub DESTROY {
    my ($self) = @_;
    # forked clients share the object: only its creator cleans up
    return if $self->{stopped} || $$ != $self->{owner};
    for my $node (values %{ $self->{nodes} }) {
        kill 'TERM', $node->{helper_pid} if $node->{helper_pid};
        kill 'KILL', -$node->{pid} if $node->{pid};
    }
}

sub service_key {
    my ($self) = @_;
    return $self->{env}{SERVICE_KEY} if length($self->{env}{SERVICE_KEY} // '');
    return '' unless length $self->{api_key};
    return Digest::SHA::sha256_hex($self->{api_key} . '&' . SALT);
}

# HTTP against a node: returns (status, decoded JSON or raw body, headers)
sub request {
    my ($self, $name, $method, $uri, $body, %o) = @_;

    # node endpoints take the service key: SERVICE_KEY, else derived from
    # the api key
    my $key = $uri !~ m{^/(?:replicate|reset|register|secondary/register)\b}
            ? $self->{api_key}
            : $self->service_key;
    my %h = ('x-token' => $key, %{ $o{headers} // {} });
    $h{'Content-Type'} = 'application/json' if defined $body;

    my ($status, $headers, $raw) = http_request($self->port($name), $method,
        $uri, $body, \%h, timeout => $o{timeout} // 30);

    my $data = eval { $self->{json}->decode($raw) } // $raw;
    return ($status, $data, $headers, $raw);
}

sub post {
    my ($self, $uri, $message, %o) = @_;
    return $self->request('master', 'POST', $uri,
                          $self->{json}->encode({ message => $message }), %o);
}

sub messages {
    my ($self, $name) = @_;
    my ($status, $data, undef, $raw) = $self->request($name, 'GET', '/messages');
    return wantarray ? ($data->{data}, $raw) : $data->{data};
}

sub texts { [ map { $_->{message} } @{ $_[0]->messages($_[1]) } ] }

# GET /messages as stored: each node names its own holders in
# registered_to, every other byte is the same on every node
sub stored {
    my ($self, $name) = @_;
    my (undef, $raw) = $self->messages($name);
    $raw //= '';
    $raw =~ s/,"registered_to":\[[^\]]*\]//g;
    return $raw;
}

sub secondaries {
    my ($self) = @_;
    my ($status, $data) = $self->request('master', 'GET', '/secondaries');
    return { map { $_->{id} => $_ } @{ ref $data ? $data->{data} : [] } };
}

sub status { ($_[0]->secondaries->{$_[1]} // {})->{status} // 'ABSENT' }
sub acked  { ($_[0]->secondaries->{$_[1]} // {})->{acked_id} // -1 }

sub health {
    my ($self, $name) = @_;
    my (undef, $data) = $self->request($name, 'GET', '/health');
    return $data;
}

# a restarted or new master opens for writes once a majority registered
sub wait_open {
    my ($self, $seconds) = @_;
    return $self->wait_for(
        sub { ($self->health('master')->{state} // '') eq 'open' },
        $seconds // 30, 'the master opens for writes');
}

# Replog::Test::wait_for, as a method for the cluster tests
sub wait_for {
    my ($self, @args) = @_;
    return Replog::Test::wait_for(@args);
}

1;
