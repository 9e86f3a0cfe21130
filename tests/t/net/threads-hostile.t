# Light threads used hostilely end within the request's limits: a thread
# that loops, one that sleeps for ever (spawned and waited for, or left
# behind), too many threads, ngx.exit from a thread; the daemon serves on.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest;

my $t = LFTest->new(conf => { workers => 2, timeout => 2 });
my $hostile = <<'LUA';
local q = ngx.var.arg_q
if q == "loop" then
  local th = ngx.thread.spawn(function() ngx.sleep(0) while true do end end)
  ngx.thread.wait(th)
elseif q == "sleepwait" then
  ngx.thread.wait(ngx.thread.spawn(function() ngx.sleep(1e9) end))
elseif q == "left" then
  ngx.thread.spawn(function() ngx.sleep(1e9) end)
  ngx.say("handler done")
elseif q == "many" then
  local n, ok, err = 0, true, nil
  while ok and n < 10000 do
    ok, err = pcall(ngx.thread.spawn, function() ngx.sleep(0.001) end)
    if ok then n = n + 1 end
  end
  ngx.say(n, " ", err)
elseif q == "exit" then
  ngx.say("before")
  ngx.thread.spawn(function() ngx.sleep(0.01) ngx.say("in thread") ngx.exit(200) end)
  ngx.sleep(1)
  ngx.say("never")
end
LUA
$t->script('hostile.lua', $hostile);
# A content script's first run is the state's load, with a deadline of its
# own: a thread left sleeping there still ends at the request's timeout.
$t->script('leftload.lua', <<'LUA');
local t0 = os.clock() while os.clock() - t0 < 0.3 do end
ngx.thread.spawn(function() ngx.sleep(1e9) end)
ngx.say("handler done")
LUA
$t->script('quick.lua', "function main(env, req) req:puts('quick') end\n");
$t->start;

for my $q (qw(loop sleepwait left)) {
    my $t0 = time;
    my $r = $t->get('hostile.lua', QUERY_STRING => "q=$q");
    my $dt = time - $t0;
    is($r->{status}, 500, "$q: the request ends with a 500");
    like($r->{body}, qr/timeout/, "$q: at its timeout");
    ok($dt < 5, sprintf("$q: in time (%.2f s)", $dt));
}
{
    my $r = $t->get('leftload.lua');
    is($r->{status}, 500, 'a thread left sleeping by a slow first run (the load): a 500');
    like($r->{body}, qr/timeout/, 'at the request\'s timeout, not the load\'s');
}
is($t->get('quick.lua')->{body}, 'quick', 'the daemon serves on');
$t->stop;

# The thread limit and ngx.exit, where the 2 s timeout above has no part:
# 4096 spawns cost tens of ms of CPU on an idle machine, but a loaded one
# can stretch them past 2 s of wall-clock time, and the request's timeout
# would end them before the limit is reached.
my $t2 = LFTest->new(conf => { workers => 1, timeout => 60 });
$t2->script('hostile.lua', $hostile);
$t2->script('quick.lua', "function main(env, req) req:puts('quick') end\n");
$t2->start;
my $r = $t2->get('hostile.lua', QUERY_STRING => 'q=many');
like($r->{body}, qr/^4096 .*too many light threads \(at most 4096 a request\)/, 'at most 4096 threads a request, then an error');
$r = $t2->get('hostile.lua', QUERY_STRING => 'q=exit');
is($r->{body}, "before\nin thread\n", 'ngx.exit in a thread ends the request there');
is($t2->get('quick.lua')->{body}, 'quick', 'and the daemon serves on');
$t2->stop;
done_testing;
