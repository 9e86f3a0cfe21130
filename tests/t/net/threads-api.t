# ngx.thread as ngx_lua has it, where luafcgid differed (each expected
# value below is what Debian's ngx_lua answers to the same script):
# - the bound on light threads is on those alive: a request that spawns
#   and waits for one thread at a time, 5,000 times, runs to its end;
# - coroutine.resume on a light thread is refused ("cannot resume running
#   coroutine"), so the script cannot break the scheduler's thread: it
#   still ends with its own results, and nothing is logged as aborted;
# - wait's argument errors name no internals ("net:8", 'prim').
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest;

my $t = LFTest->new(conf => { workers => 2, timeout => 10 });
$t->script('thr.lua', <<'LUA');
local q = ngx.var.arg_q
if q == "loop" then
  local n = 0
  for i = 1, 5000 do
    local th = ngx.thread.spawn(function() return i end)
    local ok, v = ngx.thread.wait(th)
    if v == i then n = n + 1 end
  end
  ngx.say("loop ", n)
elseif q == "resume" then
  local th = ngx.thread.spawn(function() ngx.sleep(0.05) return "slept" end)
  ngx.say(tostring(coroutine.resume(th)))
  ngx.say(ngx.thread.wait(th))
elseif q == "waitargs" then
  ngx.say(select(2, pcall(ngx.thread.wait)))
  ngx.say(select(2, pcall(ngx.thread.wait, "x")))
end
LUA
$t->start;
is($t->get('thr.lua', QUERY_STRING => 'q=loop')->{body}, "loop 5000\n",
   'spawn and wait 5,000 times, one alive at a time: all run');
is($t->get('thr.lua', QUERY_STRING => 'q=resume')->{body}, "false\ntrueslept\n",
   'coroutine.resume on a light thread is refused; the thread ends with its results');
unlike($t->log, qr/lua user thread aborted/, 'and no thread was aborted');
my $w = $t->get('thr.lua', QUERY_STRING => 'q=waitargs')->{body};
is($w, "at least one coroutine should be specified\nbad argument #1 to '?' (lua thread expected)\n",
   'wait\'s argument errors are ngx_lua\'s, naming no internals');
$t->stop;
done_testing;
