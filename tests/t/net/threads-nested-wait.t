# Light threads that wait where they cannot yield (inside a pcall) wait in
# place, and the other threads take their turns from inside that wait: the
# waits nest, one C stack frame set per thread. Many threads doing so, each
# a few pcalls deep (a library called under pcall, as scripts do), must end
# with an error or an answer, never by overflowing the worker's C stack:
# the serving process must not die.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest;

my $t = LFTest->new(conf => { workers => 2, timeout => 5 });
$t->script('nest.lua', <<'LUA');
local n, depth = ngx.var.arg_q:match("(%d+)_(%d+)")
n, depth = tonumber(n), tonumber(depth)
local done = 0
local function deep(k)
  if k == 0 then return ngx.sleep(0.2) end
  return pcall(deep, k - 1)
end
for i = 1, n do
  ngx.thread.spawn(function() ngx.sleep(0) deep(depth) done = done + 1 end)
end
ngx.sleep(1)
ngx.say("done ", done)
LUA
$t->script('quick.lua', "function main(env, req) req:puts('quick') end\n");
$t->start;
my $pid = LFTest::serving_pid($t);

for my $q (qw(40_150 1000_10 4000_3)) {
    my $r = $t->get('nest.lua', QUERY_STRING => "q=$q");
    ok($r->{status} == 200 && $r->{body} =~ /^done \d+$/ || $r->{status} == 500,
       "$q: threads waiting in place, nested: an answer or a clean 500 ($r->{status} '$r->{body}')");
    ok(LFTest::alive($pid), "$q: the serving process did not die");
    unlike($t->log, qr/died of SIG/, "$q: and logged no death");
}
is(LFTest::serving_pid($t), $pid, 'the same serving process serves on');
is($t->get('quick.lua')->{body}, 'quick', 'the daemon serves on');
$t->stop;
done_testing;
