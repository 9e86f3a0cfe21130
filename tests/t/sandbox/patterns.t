# The pattern functions in a served script: a pattern can neither crash the
# daemon (the matcher's depth is bounded) nor outrun `timeout` (the deadline
# is checked inside it), and ordinary patterns still answer as Lua 5.1's.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest;

my $script = <<'LUA';
n = 0
local subject = ("a"):rep(1e6)
local deep = ("a?"):rep(1e6) .. "$"
function main(env, req)
  n = n + 1
  local q = env.QUERY_STRING
  if q == "deep" then string.find(subject, deep) end
  if q == "deep-method" then subject:match(deep) end
  -- Lua 5.1's old name for gmatch (LuaJIT has none)
  if q == "deep-gfind" then (string.gfind or string.gmatch)(subject, deep)() end
  if q == "deep-pcall" then
    local ok, err = pcall(string.gsub, subject, deep, "")
    req:puts(tostring(ok), " ", err)
    return
  end
  -- about n^5 steps: 200 a's take many seconds in a matcher without limits
  if q == "slow" then ("a"):rep(200):find(".-.-.-.-b") end
  if q == "slow-pcall" then pcall(string.gsub, ("a"):rep(200), ".-.-.-.-b", "") end
  if q == "slow-gmatch" then for x in ("a"):rep(200):gmatch(".-.-.-.-b") do end end
  if q == "gsub-hog" then pcall(string.gsub, ("x"):rep(1e6), "x", ("y"):rep(100)) end
  if q == "rep-hog" then pcall(string.rep, "xy", 2^26) end
  if q == "rep" then
    local s = string.rep("", 2^31 - 1)
    for i = 1, 3e5 do end   -- lets the count hook see a deadline already past
    req:puts("[", s, "]")
    return
  end
  if q == "ordinary" then
    local out = {}
    local function add(...) out[#out + 1] = table.concat({ ... }, ",") end
    add(("hello world"):find("o w"))
    add(("hello world"):find("l+", 5))
    add(string.find("a.b", ".", 1, true))
    add(("key = value"):match("(%w+)%s*=%s*(%w+)"))
    add(("hello"):match("()ll()"))
    add(("f(a(b)c) d"):match("%b()"))
    add((("THE (quick) fox"):gsub("%f[%a]%a+", "W")))
    add(("Hi {name}, {x}!"):gsub("{(%w+)}", { name = "Bob" }))
    add((("a=1, b=2"):gsub("(%w+)=(%w+)", "%2=%1")))
    add((("abc"):gsub("%w", function(c) return c:upper() .. "." end)))
    add((("hello world"):gsub("o", "0", 1)))
    for k, v in ("k=v, x=y"):gmatch("(%w+)=(%w+)") do add(k, v) end
    local ok, err = pcall(string.find, "x", "[a")
    add(tostring(ok), err)
    req:puts(table.concat(out, ";"))
    return
  end
  req:puts(n)
end
LUA

# The crash and the limits in daemons of their own, so one cannot hide the other.
my $t = LFTest->new(conf => { workers => 2, timeout => 1, memory => 16 * 1024 * 1024 },
                 scripts => { 'patterns.lua' => $script });
$t->start;

is($t->get('patterns.lua')->{body}, '1', 'a script that builds long patterns loads');

for my $how (qw(deep deep-method deep-gfind)) {
    my $r = $t->get('patterns.lua', QUERY_STRING => $how);
    is($r->{status}, 500, "$how: a million nested a? is a 500, not a crash");
    like($r->{body}, qr/pattern too complex/, "$how: the page says pattern too complex");
    ok(LFTest::alive($t->pid), "$how: the daemon is alive");
    like($t->get('patterns.lua')->{body}, qr/^\d+$/, "$how: the next request is answered");
}
my $r = $t->get('patterns.lua', QUERY_STRING => 'deep-pcall');
is($r->{body}, 'false pattern too complex', 'the depth error is an ordinary error a script can catch');
ok($t->wait_log(qr/patterns\.lua: 500 Internal Server Error: .*pattern too complex/),
   'the depth error is logged with the script');
is($t->stop, 0, 'stop');

$t = LFTest->new(conf => { workers => 2, timeout => 1, memory => 16 * 1024 * 1024 },
                 scripts => { 'patterns.lua' => $script });
$t->start;

for my $how (qw(slow slow-pcall slow-gmatch)) {
    my $t0 = time;
    $r = $t->get('patterns.lua', QUERY_STRING => $how);
    my $took = time - $t0;
    is($r->{status}, 500, "$how: a pattern that would run for many seconds is stopped with a 500");
    like($r->{body}, qr/timeout/, "$how: the page says timeout");
    ok($took < 5, sprintf("$how: stopped after about the 1 s timeout (%.1f s)", $took));
    is($t->get('patterns.lua')->{body}, '1', "$how: that state was closed; the script loads again");
}

# What they build comes from the state's allocator, so memory holds.
for my $how (qw(gsub-hog rep-hog)) {
    $r = $t->get('patterns.lua', QUERY_STRING => $how);
    is($r->{status}, 500, "$how: a result past memory is a 500, pcall or not");
    like($r->{body}, qr/memory limit/, "$how: the page says memory limit");
    is($t->get('patterns.lua')->{body}, '1', "$how: that state was closed; the script loads again");
}

my $t0 = time;
$r = $t->get('patterns.lua', QUERY_STRING => 'rep');
is($r->{status}, 200, sprintf('string.rep("", 2^31 - 1) finishes inside the timeout (%.1f s)', time - $t0));
is($r->{body}, '[]', 'and is the empty string');

$r = $t->get('patterns.lua', QUERY_STRING => 'ordinary');
is($r->{body}, join(';', '5,7', '10,10', '2,2', 'key,value', '3,5', '(a(b)c)', 'W (W) W',
                        'Hi Bob, {x}!,2', '1=a, 2=b', 'A.B.C.', 'hell0 world', 'k,v', 'x,y',
                        "false,malformed pattern (missing ']')"),
   'ordinary patterns answer as Lua 5.1 does, in both call forms');

is($t->stop, 0, 'stop');

# Work that does not recurse counts as much as work that does: each of these
# ran for 5 to 11 s (or never answered) past a 1 s timeout when only the
# matcher's recursive steps were counted, and each call started afresh.
my $work = <<'LUA';
local q
local cases = {
  -- a long pattern of plain characters: every start walks it
  plain = function() string.match(("a"):rep(2e6), ("a"):rep(2e6) .. "b") end,
  -- a long run of x? that fails, walked at every start
  optional = function() string.match(("a"):rep(1e5), ("b?"):rep(2e6) .. "c") end,
  frontier = function() string.match(("a "):rep(5e4), ("%f[%a]"):rep(5e5) .. "b") end,
  -- a set costs its length for every byte tested
  set = function()
    local set = "[" .. ("b"):rep(1e6) .. "a]"
    for i = 1, 20 do string.find(("a"):rep(64), set) end
  end,
  -- and so per call, with a subject too short for the start table
  setcalls = function()
    local set, s = "[" .. ("b"):rep(1e4) .. "]", ("a"):rep(60)
    for i = 1, 1e7 do string.find(s, set) end
  end,
  -- many calls that each stay under any per-call budget
  calls = function()
    local p, s = ("b?"):rep(2e4) .. "c", ("a"):rep(40)
    for i = 1, 1e7 do string.match(s, p) end
  end,
  -- the same, each call failing with an error a script catches
  failing = function()
    local p, s = ("b?"):rep(2e4) .. "[", ("a"):rep(40)
    for i = 1, 1e7 do pcall(string.match, s, p) end
  end,
  replacement = function() string.gsub(("a"):rep(1e4), "", ("%0"):rep(5e5)) end,
}
function main(env, req)
  q = env.QUERY_STRING
  if cases[q] then cases[q]() end
  req:puts("done ", q)
end
LUA
$t = LFTest->new(conf => { workers => 2, timeout => 1, memory => 64 * 1024 * 1024 },
                 scripts => { 'work.lua' => $work });
$t->start;
for my $how (qw(plain optional frontier set setcalls calls failing replacement)) {
    my $t0 = time;
    $r = $t->get('work.lua', QUERY_STRING => $how);
    my $took = time - $t0;
    is($r->{status}, 500, "$how: stopped with a 500");
    like($r->{body}, qr/timeout/, "$how: the page says timeout");
    ok($took < 3, sprintf("$how: stopped about at the 1 s timeout (%.1f s)", $took));
    ok(LFTest::alive($t->pid), "$how: the daemon is alive");
}
is($t->get('work.lua', QUERY_STRING => 'none')->{body}, 'done none', 'the next request is answered');
is($t->stop, 0, 'stop');
done_testing;
