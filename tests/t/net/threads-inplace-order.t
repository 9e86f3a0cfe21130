# A light thread waiting inside a pcall (where Lua 5.1 cannot yield) waits
# in place, and the other threads take their turns from inside that wait.
# The waits then nest: a thread resumed from inside another's wait must
# not keep that other one from going on once its own wait is over. Here A
# sleeps 100 ms under pcall and then sets a flag; B, resumed meanwhile,
# polls the flag under pcall. ngx_lua (whose pcall yields) answers "a",
# "b saw the flag" at once; luafcgid's B polled until it gave up, A stuck
# beneath it on the C stack (without B's bound, the request timed out).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest;

my $t = LFTest->new(conf => { workers => 1, timeout => 10 });
$t->script('order.lua', <<'LUA');
local flag = false
local A = ngx.thread.spawn(function()
  ngx.sleep(0)
  pcall(ngx.sleep, 0.1)
  flag = true
  return "a"
end)
local B = ngx.thread.spawn(function()
  ngx.sleep(0)
  local n = 0
  pcall(function() while not flag and n < 200 do ngx.sleep(0.01) n = n + 1 end end)
  return flag and "b saw the flag" or "b gave up"
end)
ngx.say(select(2, ngx.thread.wait(A)))
ngx.say(select(2, ngx.thread.wait(B)))
LUA
$t->start;
my $t0 = time;
is($t->get('order.lua')->{body}, "a\nb saw the flag\n", 'B sees what A did after its wait, as under ngx_lua');
ok(time - $t0 < 1.5, sprintf('soon after A\'s 100 ms (%.2f s)', time - $t0));
$t->stop;
done_testing;
