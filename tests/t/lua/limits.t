# timeout and memory: a runaway script costs its own request and state only.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest;

my $t = LFTest->new(conf => { workers => 2, timeout => 1, memory => 16 * 1024 * 1024 });
$t->script('loop.lua', <<'LUA');
n = 0
function main(env, req)
  n = n + 1
  local q = env.QUERY_STRING
  if q == "loop" then while true do end end
  if q == "pcall" then while true do pcall(function() while true do end end) end end
  if q == "xpcall" then while true do xpcall(function() while true do end end, function(e) return e end) end end
  if q == "coroutine" then
    local co = coroutine.create(function() while true do end end)
    while true do coroutine.resume(co) end
  end
  req:puts(n)
end
LUA
$t->script('hog.lua', <<'LUA');
n = 0
function main(env, req)
  n = n + 1
  local q = env.QUERY_STRING
  if q == "table" then local t = {} for i = 1, 1e9 do t[i] = i .. "padding padding padding" end end
  if q == "string" then local ok = pcall(string.rep, "x", 512 * 1024 * 1024) req:puts("caught? ", tostring(ok)) end
  req:puts(n)
end
LUA
$t->script('exitco.lua', <<'LUA');
function main(env, req)
  req:puts("a")
  local co = coroutine.create(function() os.exit() end)
  coroutine.resume(co)
  req:puts("b")
end
LUA
$t->script('background.lua', <<'LUA');
function main(env, req)
  -- the command ends at once, leaving its background job
  req:puts(os.execute("sleep 30 & echo $! > " .. env.QUERY_STRING))
end
LUA
$t->script('exec.lua', <<'LUA');
n = 0
function main(env, req)
  n = n + 1
  local q = env.QUERY_STRING
  if q ~= "" then
    -- the shell writes its pid, then becomes the sleep: that pid is the sleep's
    req:puts(os.execute("sh -c 'echo $$ > " .. q .. "; exec sleep 30' & wait"))
  end
  req:puts(n, " ", os.execute("exit 3"))
end
LUA
$t->start;

is($t->get('loop.lua')->{body}, '1', 'a state is loaded');
is($t->get('loop.lua')->{body}, '2', 'and counts');
for my $how (qw(loop pcall xpcall coroutine)) {
    my $t0 = time;
    my $r = $t->get('loop.lua', QUERY_STRING => $how);
    my $took = time - $t0;
    is($r->{status}, 500, "an endless loop ($how) is stopped with a 500");
    like($r->{body}, qr/timeout/, "$how: the page says timeout");
    ok($took < 5, sprintf("$how: stopped after about the timeout (%.1f s)", $took));
    is($t->get('loop.lua')->{body}, '1', "$how: that state was closed; the script loads again");
}
ok($t->wait_log(qr/loop\.lua: 500 Internal Server Error: timeout/), 'a timeout is logged with the script');

# os.execute runs in C where no hook fires: its wait keeps the deadline too
{
    my $pidfile = $t->dir . '/sleep.pid';
    my $t0 = time;
    my $r = $t->get('exec.lua', QUERY_STRING => $pidfile);
    my $took = time - $t0;
    is($r->{status}, 500, 'os.execute("sleep 30") under timeout 1 is stopped with a 500');
    like($r->{body}, qr/timeout/, 'os.execute: the page says timeout');
    ok($took < 5, sprintf('os.execute: stopped after about the timeout (%.1f s)', $took));
    my $pid = LFTest::wait_for(sub { my $p = -s $pidfile ? LFTest::slurp($pidfile) : ''; $p =~ /(\d+)/ ? $1 : 0 }, 5);
    ok($pid, 'the command wrote its pid');
    ok(LFTest::wait_for(sub { !kill(0, $pid) || (LFTest::slurp("/proc/$pid/stat") // '') =~ /^\d+ \(.*\) Z /s }, 5),
       'the command and what it started (its whole process group) are killed');
    is($t->get('exec.lua')->{body}, '1 768', 'that state was closed; a command that ends in time gives its status');
    is($t->get('exec.lua')->{body}, '2 768', 'and the worker serves on');
}

# A command's background job ends with the command, whether the wait keeps
# a deadline or not: nothing it started outlives the request.
sub background_ends {
    my ($d, $what) = @_;
    my $pidfile = $d->dir . '/background.pid';
    unlink $pidfile;
    my $t0 = time;
    my $r = $d->get('background.lua', QUERY_STRING => $pidfile);
    is($r->{body}, '0', "$what: os.execute('sleep 30 &') answers at once, status 0");
    ok(time - $t0 < 5, "$what: without waiting for the job");
    my $pid = LFTest::wait_for(sub { (-s $pidfile ? LFTest::slurp($pidfile) : '') =~ /(\d+)/ ? $1 : 0 }, 5);
    ok($pid, "$what: the command wrote its job's pid");
    my $gone = sub { !kill(0, $pid) || (LFTest::slurp("/proc/$pid/stat") // '') =~ /^\d+ \(.*\) Z /s };
    ok(LFTest::wait_for($gone, 5), "$what: the background job is killed with its command's process group");
    kill 'KILL', $pid if $pid && !$gone->();
}
background_ends($t, 'under timeout');

# the memory limit, not the timeout, however long a loaded machine takes
$t->write_conf(timeout => 60);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'HUP: timeout = 60 for the memory hogs');
is($t->get('hog.lua')->{body}, '1', 'a memory hog script loads');
my $r = $t->get('hog.lua', QUERY_STRING => 'table');
is($r->{status}, 500, 'growing a table past memory is a 500');
like($r->{body}, qr/memory limit/, 'the page says memory limit');
is($t->get('hog.lua')->{body}, '1', 'that state was closed');
$r = $t->get('hog.lua', QUERY_STRING => 'string');
is($r->{status}, 500, 'a huge allocation under pcall is still a 500: pcall cannot catch the limit');
is($t->get('hog.lua')->{body}, '1', 'and that state was closed too');
ok($t->wait_log(qr/hog\.lua: 500 Internal Server Error: memory limit/), 'logged with the script');

$r = $t->get('exitco.lua');
is($r->{status}, 200, 'os.exit inside a coroutine ends the request normally');
is($r->{body}, 'a', 'with what was written before it');

# both workers are still there: two concurrent requests are served
my @socks = map { my $s = $t->connect; LFTest::write_all($s, LFTest::encode_request(
    { SCRIPT_FILENAME => $t->www . '/hog.lua', REQUEST_METHOD => 'GET' }, '')); $s } 1 .. 2;
is(scalar(grep { $_->{status} == 200 } map { LFTest::read_response($_) } @socks), 2, 'every worker is back in service');
is($t->stop, 0, 'stop');
{
    my $u = LFTest->new(conf => { workers => 1, timeout => 0 });
    $u->script('background.lua', LFTest::slurp($t->www . '/background.lua'));
    $u->start;
    background_ends($u, 'timeout = 0');
    is($u->stop, 0, 'stop');
}
# Freed small blocks wait for reuse in their size class; churning through
# sizes must not let a state hold more than twice memory.
my $c = LFTest->new(conf => { workers => 1, timeout => 30, memory => 16 * 1024 * 1024 });
$c->script('churn.lua', <<'LUA');
function main(env, req)
  local rounds = env.QUERY_STRING == 'once' and 1 or 20
  for r = 1, rounds do
    local size = 16 + r * 24
    local t = {}
    local pad = string.rep('x', size - 8)
    for i = 1, math.floor((rounds == 1 and 8e6 or 6e6) / (size + 25)) do
      t[i] = pad .. string.format('%08d', i)
    end
    t = nil
    collectgarbage('collect')
  end
  req:puts('done')
end
LUA
$c->start;
$r = $c->get('churn.lua', QUERY_STRING => 'once');
is($r->{body}, 'done', '8 MB of small strings fit under a 16 MB memory');
$r = $c->get('churn.lua');
is($r->{status}, 500, '6 MB of small strings in 20 sizes, one after another, are stopped');
like($r->{body}, qr/memory limit/, 'by the memory limit: the freed blocks it keeps count');
is($c->get('churn.lua', QUERY_STRING => 'once')->{body}, 'done', 'and the next state starts afresh');
is($c->stop, 0, 'stop');

# Only what a script holds counts toward memory, not its garbage: Lua 5.1
# never collects when an allocation fails, its pace lets garbage reach
# several times what is live, and its estimate of what is live can wrap,
# after which a state never collects again (state_limit.c).
my $garbage = <<'LUA';
local x = string.rep("x", 400000)
function main(env, req)
  if env.QUERY_STRING == "churn" then
    -- about 2 MB held at most; up to 1.2 MB of garbage a turn
    local seed = 1
    for i = 1, 2000 do
      seed = (seed * 1103515245 + 12345) % 2147483648
      local b = x:sub(1, 50000 + seed % 350000)
      local out = "POST:" .. #b .. ":" .. b
    end
    return req:puts("churned")
  end
  -- 800 KB of garbage, then 2.5 MB of buffered answer from one string
  local g, h = x:sub(2), x:sub(3)
  g, h = nil, nil
  local a = x:sub(1, 100000)
  for i = 1, 25 do req:puts(a) end
end
LUA
my $g = LFTest->new(conf => { workers => 1, timeout => 30, memory => 3 * 1024 * 1024 },
                    scripts => { 'garbage.lua' => $garbage });
$g->start;
$r = $g->get('garbage.lua', QUERY_STRING => 'churn');
is($r->{body}, 'churned', 'garbage does not count: 2000 turns of up to 1.2 MB each under a 3 MiB memory');
$r = $g->get('garbage.lua');
is(length $r->{body}, 2_500_000, 'nor against a buffered answer: it goes before a charge is refused');
is($g->stop, 0, 'stop');

# Lua 5.1 takes the concatenation buffer, grown after a cycle's mark, off
# its estimate of what is live when the end of the sweep halves it: a
# concatenation there wraps the estimate, and the next cycle never starts.
# The script steps through a cycle until one lands there (on LuaJIT none
# does), then echoes, each answer a new string, as a reviewer's load did.
my $stall = <<'LUA';
local s, y = string.rep("s", 40000), string.rep("y", 200000)
function main(env, req)
  if env.QUERY_STRING == "echo" then
    local b = req:gets() or ""
    return req:puts(env.REQUEST_METHOD .. ":" .. #b .. ":" .. b)
  end
  for k = 1, 300 do
    for i = 1, 20 do collectgarbage("collect") end    -- each cycle halves the buffer
    for i = 1, k do collectgarbage("step", 0) end
    local out = s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s
    repeat until collectgarbage("step", 0)
    local before = collectgarbage("count")
    for i = 1, 40 do local t = y:sub(1, 100000 + i) end
    if collectgarbage("count") - before > 3000 then return req:puts("stalled at ", k) end
  end
  req:puts("never stalled")
end
LUA
$g = LFTest->new(conf => { workers => 1, timeout => 30, memory => 8 * 1024 * 1024 },
                 scripts => { 'stall.lua' => $stall });
$g->start;
$r = $g->get('stall.lua');
like($r->{body}, qr/^(stalled at \d+|never stalled)$/, 'a collector stalled by its estimate');
note("the collector: $r->{body}");
my @failed = grep {
    my $len = 300_000 + $_ * 997;
    my $e = $g->get('stall.lua', QUERY_STRING => 'echo', STDIN => 'e' x $len);
    $e->{status} != 200 || length $e->{body} != $len + length(":$len:") + 4;
} 1 .. 20;
is("@failed", '', 'collects again: 20 echoes of 300 KB in that state are answered');
is($g->stop, 0, 'stop');

done_testing;
