# ngx.socket and ngx.thread against OpenResty: the same content scripts
# (tests/t/net/corpus) run by Debian's ngx_lua and by luafcgid behind one
# nginx, against the same redis, answer the same: arguments and their
# errors, receive's patterns, receiveuntil, sends of nested tables, the
# pool, and light threads taking turns at sleeps and socket waits.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(slurp);
use LFNgx;
use LFNet;

plan skip_all => "Debian's ngx_lua (libnginx-mod-http-lua) is not installed" unless LFNgx::available();
plan skip_all => 'redis-server is not installed (tools/deps --test)' unless -x '/usr/bin/redis-server';

my %scripts = map { my $f = $_; $f =~ s{.*/}{}; ($f => slurp($_)) } glob("$FindBin::Bin/corpus/*.lua");
my $h = LFNgx->new(scripts => \%scripts, conf => { workers => 2, timeout => 10 });
my $redis = LFNet::redis($h->lf->dir);
my $refused = LFTest::free_port();
$h->start;

my $q = "port=$redis->{port}&refused=$refused";
$h->compare("tcp_errors.lua?$q", name => 'connect, close and the methods\' argument errors');
$h->compare("tcp_receive.lua?$q", name => 'receive, receiveany, receiveuntil, send, setkeepalive');
$h->compare("threads.lua?$q", name => 'spawn, wait, kill; threads take turns at sleeps and sockets',
            log => qr/lua user thread aborted: runtime error: boom/);

LFNet::stop($redis);
done_testing;
