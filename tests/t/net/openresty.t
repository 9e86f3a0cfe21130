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
use IO::Socket::INET;

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
# a peer that never accepts, nor reads: a send fills the buffers and waits
my $stall = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 4, Proto => 'tcp')
    or die "listen: $!";
$h->compare("tcp_send_timeout.lua?$q&stall=" . $stall->sockport . "&run=$$",
            name => 'a send timed out closes the write side; setkeepalive\'s pool_size');
$h->compare("threads.lua?$q", name => 'spawn, wait, kill; threads take turns at sleeps and sockets',
            log => qr/lua user thread aborted: runtime error: boom/);

LFNet::stop($redis);
done_testing;
