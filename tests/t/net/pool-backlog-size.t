# connect's `backlog` holds a key to pool_size connections, kept ones and
# in use together, under load: when a connection is put back while
# several connects wait, only one of them may count on it. Redis, which
# counts every connection it accepts, sees pool_size of them in all.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest;
use LFNet;

plan skip_all => 'redis-server is not installed (tools/deps --test)' unless -x '/usr/bin/redis-server';

my $t = LFTest->new(conf => { workers => 4, timeout => 10 });
my $redis = LFNet::redis($t->dir);
$t->script('blk.lua', <<'LUA');
local s = ngx.socket.tcp()
s:settimeout(5000)
local ok, err = s:connect("127.0.0.1", tonumber(ngx.var.arg_port), { pool = "blk", pool_size = 2, backlog = 64 })
if not ok then ngx.say("connect: ", err) return end
s:send("PING\r\n")
local line = s:receive()
ngx.sleep(0.002)
s:setkeepalive(60000)
ngx.say(line)
LUA
$t->start;

sub accepted { my ($n) = map { /^total_connections_received:(\d+)/ ? $1 : () } LFNet::redis_cli($redis, 'INFO', 'stats'); $n }

my $before = accepted();
my @out = LFTest::run_clients(8, 60, sub {
    my $bad = 0;
    for (1 .. 60) {
        my $r = $t->get('blk.lua', QUERY_STRING => "port=$redis->{port}");
        $bad++ unless $r->{status} == 200 && $r->{body} eq "+PONG\n";
    }
    return $bad;
});
is(join(',', map { $_ // 'unfinished' } @out), join(',', (0) x 8), '480 requests through a pool of 2, all answered PONG');
# redis_cli's own connections: the one that read $before, and the next
is(accepted() - $before - 1, 2, 'redis accepted 2 connections from luafcgid, the pool\'s size');

$t->stop;
LFNet::stop($redis);
done_testing;
