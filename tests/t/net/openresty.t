# ngx.socket and ngx.thread against OpenResty: the same content scripts
# (tests/t/net/corpus) run by Debian's ngx_lua and by luafcgid behind one
# nginx, against the same redis, answer the same: arguments and their
# errors, receive's patterns, receiveuntil, sends of nested tables, the
# pool, a connect to a unix socket whose listen queue is full, a socket
# whose peer closed or reset (what receive, send and close then answer),
# light threads taking turns at sleeps and socket waits and waiting inside
# iterators and metamethods, and udp sockets (against inet and unix
# datagram echo servers started here).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(slurp);
use LFNgx;
use LFNet;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Socket qw(PF_UNIX SOCK_DGRAM SOCK_STREAM pack_sockaddr_un);

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
$h->compare("until_inclusive.lua?$q", name => 'receiveuntil inclusive, sized');
# a peer that never accepts, nor reads: a send fills the buffers and waits
my $stall = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 4, Proto => 'tcp')
    or die "listen: $!";
$h->compare("tcp_send_timeout.lua?$q&stall=" . $stall->sockport . "&run=$$",
            name => 'a send timed out closes the write side; setkeepalive\'s pool_size');
# a unix socket whose listen queue one connection fills: its next connect
# fails at once (EAGAIN); a peer that answers a line with half a reply and
# closes
my $full = $h->lf->dir . '/full.sock';
socket(my $fl, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
bind($fl, pack_sockaddr_un($full)) or die "bind $full: $!";
listen($fl, 0) or die "listen $full: $!";
chmod 0777, $full;
my $filler = IO::Socket::UNIX->new(Peer => $full, Type => SOCK_STREAM) or die "connect $full: $!";
my $cut = LFNet::fault('cut');
my $reset = LFNet::fault('reset');
$h->compare("tcp_peer_gone.lua?$q&full=$full&cut=$cut->{port}&reset=$reset->{port}",
            name => 'a unix listen queue full refuses; methods on a socket its peer closed');
LFNet::stop($cut);
LFNet::stop($reset);
close $filler;
close $fl;
$h->compare("threads.lua?$q", name => 'spawn, wait, kill; threads take turns at sleeps and sockets',
            log => qr/lua user thread aborted: runtime error: boom/);
$h->compare("threads_boundaries.lua?$q", name => 'a light thread waits in an iterator and in metamethods');

# datagram echo servers, inet and unix: "big" is answered by 60000 bytes
my $udp = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp') or die "udp: $!";
my $dgram_path = $h->lf->dir . '/dgram.sock';
my $dgram = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $dgram_path) or die "unix dgram: $!";
chmod 0777, $dgram_path;
my @echo;
for my $sock ($udp, $dgram) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        while (1) {
            my $from = $sock->recv(my $buf, 65536) // next;
            next unless defined $from && length $from;
            $sock->send($buf eq 'big' ? 'B' . ('0123456789' x 5999) . 'E' x 9 : "echo:$buf", 0, $from);
        }
    }
    LFTest::track($pid, 'datagram echo');
    push @echo, $pid;
}
$h->compare("udp.lua?$q&udp=" . $udp->sockport . "&unix=$dgram_path",
            name => 'udp: nested tables sent, a 60000-byte datagram, a unix peer, no port');
LFTest::stop_pid($_, 'KILL', 5) for @echo;

LFNet::stop($redis);
done_testing;
