# connect's `backlog`: a connect that waits its turn for a key whose
# pool_size connections are all in use waits at most its connect timeout
# and never past the request's deadline, as every other wait; and while it
# waits the request's light threads take their turns (the connection it
# waits for may be the request's own, held by the thread that spawned it,
# as ngx_lua's waits are events and the holder runs on). Here each wait
# would otherwise last socket_timeout (60 s): the worker is written off
# as stuck in C and the serving process replaced.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest;
use LFNet;

plan skip_all => 'redis-server is not installed (tools/deps --test)' unless -x '/usr/bin/redis-server';

my $t = LFTest->new(conf => { workers => 2, timeout => 2 });
my $redis = LFNet::redis($t->dir);
$t->script('backlog.lua', <<'LUA');
local q, port = ngx.var.arg_q, tonumber(ngx.var.arg_port)
local opts = { pool = "bk", pool_size = 1, backlog = 2 }
local s1 = ngx.socket.tcp()
assert(s1:connect("127.0.0.1", port, opts))
if q == "thread" then
  local th = ngx.thread.spawn(function()
    local s2 = ngx.socket.tcp()
    return s2:connect("127.0.0.1", port, opts)
  end)
  s1:setkeepalive()
  ngx.say(ngx.thread.wait(th))
else
  local s2 = ngx.socket.tcp()
  if q == "short" then s2:settimeout(300) end
  ngx.say(s2:connect("127.0.0.1", port, opts))
end
LUA
$t->script('quick.lua', "function main(env, req) req:puts('quick') end\n");
$t->start;
my $pid = LFTest::serving_pid($t);

my $t0 = time;
my $r = $t->get('backlog.lua', QUERY_STRING => "q=short&port=$redis->{port}");
is($r->{body}, "niltimeout\n", 'a connect timeout of 300 ms: "timeout" after it');
ok(time - $t0 < 1.5, sprintf('in time (%.2f s)', time - $t0));

$t0 = time;
$r = $t->get('backlog.lua', QUERY_STRING => "q=same&port=$redis->{port}");
my $dt = time - $t0;
like($r->{body}, qr/timeout: the request ran too long/, 'waiting for the request\'s own connection: ends at the request\'s timeout') or diag $r->{body};
ok($dt < 3.5, sprintf('within the request\'s timeout of 2 s (%.2f s)', $dt));

$t0 = time;
$r = $t->get('backlog.lua', QUERY_STRING => "q=thread&port=$redis->{port}");
$dt = time - $t0;
is($r->{body}, "true1\n", 'a light thread waits its turn while its parent puts the connection back: it gets it');
ok($dt < 1, sprintf('at once (%.2f s)', $dt));

unlike($t->log, qr/written off|stuck in a C function/, 'no worker was written off as stuck in C');
is(LFTest::serving_pid($t), $pid, 'the serving process was not replaced');
is($t->get('quick.lua')->{body}, 'quick', 'the daemon serves on');
$t->stop;
LFNet::stop($redis);
done_testing;
