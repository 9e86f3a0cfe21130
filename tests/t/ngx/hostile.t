# Hostile use of ngx ends within the limits, and the daemon serves on: a
# regex bomb (PCRE2's match limit, then the deadline inside matches), a
# gsub over a subject that never ends matching, ngx.sleep(1e9), headers
# after output, a table nested without end for ngx.print, a redirect to a
# URL with CR LF, cookie_time and http_time of a time no calendar holds,
# the metamethods of every metatable a script can reach (ngx's, ngx.var's,
# ngx.header's, env's...), every function of ngx and the module and the
# methods of sockets and dictionaries called with arguments (and selves)
# of the wrong kinds, a regex match whose ctx or res table runs a match of
# its own in the middle, a light thread given thousands of arguments, and
# ngx's built into a table of the script's: each an answer, from the same
# serving process.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest;

my $t = LFTest->new(conf => { workers => 2, timeout => 2, memory => 32 * 1024 * 1024,
                               shared => \'{ d = "1m" }' });
$t->script('bomb.lua', <<'LUA');
local s = string.rep("a", 40) .. "b"
local m, err = ngx.re.match(s, "^(a+)+$")
ngx.say("one: ", tostring(m), " ", err)
while true do ngx.re.match(s, "^(a|aa)+$", "jo") end
LUA
$t->script('gsub.lua', <<'LUA');
local s = string.rep("x", 4 * 1024 * 1024)
while true do s = ngx.re.gsub(s, "x", "y", "jo") s = s:gsub("y", "x") end
LUA
$t->script('sleep.lua', qq{ngx.sleep(1e9)\nngx.say("never")\n});
$t->script('late.lua', <<'LUA');
ngx.say("body")
ngx.header["X-Late"] = "no"
ngx.status = 500
ngx.say("still ", ngx.status, " ", tostring(ngx.header["X-Late"]))
LUA
$t->script('nest.lua', <<'LUA');
local t = {}
local cur = t
for i = 1, 100000 do cur[1] = {} cur = cur[1] end
ngx.say(pcall(ngx.print, t))
LUA
$t->script('redirect.lua', <<'LUA');
ngx.say(pcall(ngx.redirect, ngx.unescape_uri(ngx.var.arg_to)))
LUA
$t->script('cookie.lua', <<'LUA');
local ttl = tonumber(ngx.var.arg_ttl)
ngx.say(pcall(ngx.cookie_time, ngx.time() + ttl))
ngx.say(pcall(ngx.http_time, ngx.time() + ttl))
LUA
$t->script('metatables.lua', <<'LUA');
local seen, mts = {}, {}
local function walk(v, depth)
  if v == nil or depth > 5 or seen[v] then return end
  seen[v] = true
  local mt = getmetatable(v)
  if type(mt) == "table" and not seen[mt] then mts[#mts + 1] = mt; walk(mt, depth + 1) end
  if type(v) == "table" then
    for _, x in pairs(v) do
      if type(x) == "table" or type(x) == "userdata" then walk(x, depth + 1) end
    end
  end
end
for _, root in pairs({ ngx, ngx.var, ngx.header, ngx.req.get_headers(), ngx.req.get_uri_args(),
                       ngx.shared, ngx.socket.tcp(), ngx.socket.udp(), require("luafcgid"), _G, "",
                       io.stdout, coroutine.create(function() end) }) do
  walk(root, 0)
end
local args = { {}, {5, "x"}, {nil, "x"}, {"s", "x", 1}, {{}, "x"}, {{}, {}}, {true}, {print, 1, 2},
               {{}, "x", {}}, {io.stdout, 1} }
local calls = 0
for _, mt in ipairs(mts) do
  for _, f in pairs(mt) do
    if type(f) == "function" then
      for _, a in ipairs(args) do
        calls = calls + 1
        pcall(f, a[1], a[2], a[3])
      end
    end
  end
end
ngx.say(#mts, " metatables, ", calls, " calls")
LUA
$t->script('envmeta.lua', <<'LUA');
function main(env, req)
  local mt, calls = getmetatable(env), 0
  for _, f in pairs(mt) do
    if type(f) == "function" then
      for _, a in ipairs({ {}, {5, "x"}, {nil, "x"}, {"s", "x", 1}, {{}, "x"}, {true} }) do
        calls = calls + 1
        pcall(f, a[1], a[2], a[3])
      end
    end
  end
  req:puts(calls, " calls, ", env.REQUEST_METHOD, "\n")
end
LUA
$t->script('ngxinto.lua', <<'LUA');
local mine = {}
pcall(getmetatable(ngx).__pairs, mine)
pcall(getmetatable(ngx).__index, mine, "say")
pcall(getmetatable(ngx).__newindex)
ngx.say(type(rawget(ngx, "say")), " ", type(mine.say))
LUA
$t->script('functions.lua', <<'LUA');
-- what would end the request, wait, or touch files and the network is left out
local skip = { exit = 1, redirect = 1, exec = 1, eof = 1, sleep = 1, wait = 1, kill = 1, spawn = 1,
               at = 1, every = 1, flush = 1, send_headers = 1, print = 1, say = 1, read_body = 1,
               discard_body = 1, init_body = 1, append_body = 1, finish_body = 1, set_body_data = 1,
               receive = 1, receiveany = 1, connect = 1, sslhandshake = 1, setpeername = 1,
               setkeepalive = 1, close = 1 }
local seen, fns = {}, {}
local function walk(t, depth)
  if depth > 3 or seen[t] then return end
  seen[t] = true
  for k, v in pairs(t) do
    if type(k) == "string" and not skip[k] then
      if type(v) == "function" then fns[#fns + 1] = v elseif type(v) == "table" then walk(v, depth + 1) end
    end
  end
end
walk(ngx, 0)
walk(require("luafcgid"), 0)
local objs = { ngx.socket.tcp(), ngx.socket.udp(), assert(ngx.shared.d) }
local methods = { "send", "receiveuntil", "settimeout", "settimeouts", "setoption", "getreusedtimes",
                  "get", "get_stale", "set", "safe_set", "add", "replace", "delete", "incr", "lpush",
                  "rpop", "llen", "ttl", "expire", "get_keys", "capacity", "free_space" }
local args = { {}, {5}, {{}}, {"x", {}}, {{}, {}, {}}, {-1, -1}, {1e300, "x"}, {"", "", ""},
               {true, false}, {print}, {"x", 5, {}}, {0/0}, {string.rep("a", 70000)} }
local calls = 0
for _, f in ipairs(fns) do
  for _, a in ipairs(args) do calls = calls + 1; pcall(f, a[1], a[2], a[3]) end
end
local selves = { 5, "s", {}, io.stdout, print, true, coroutine.create(function() end) }
for _, o in ipairs(objs) do selves[#selves + 1] = o end
for _, o in ipairs(objs) do
  for _, m in ipairs(methods) do
    local f = o[m]
    if type(f) == "function" then
      for _, self in ipairs(selves) do
        for _, a in ipairs(args) do calls = calls + 1; pcall(f, self, a[1], a[2], a[3]) end
      end
    end
  end
end
ngx.say(#fns, " functions, ", calls, " calls")
LUA
$t->script('rematch.lua', <<'LUA');
-- the ctx and res tables' metamethods match a megabyte while ngx.re
-- still has to read its own match
local big = string.rep("y", 1024 * 1024) .. "x"
local many = string.rep("()", 69) .. "(x)$"     -- 70 captures: the match data grows
local function meddle(t, k, v) rawset(t, k, v); ngx.re.find(big, many) end
local ctx = setmetatable({}, { __newindex = meddle })
local m = ngx.re.match("ab", "(a)(b)", "", ctx)
ngx.say(m[0], " ", m[1], " ", m[2], " ", ctx.pos)
local res = setmetatable({}, { __newindex = meddle, __index = function() ngx.re.find(big, many) end })
m = ngx.re.match("ab", "(?<p>a)(?<q>b)", "", nil, res)
ngx.say(m.p, " ", m.q)
m = ngx.re.match("abab", "(?<p>a)(?<p>b)?", "D", nil, setmetatable({}, { __newindex = meddle }))
ngx.say(type(m.p), " ", m.p[1])
ctx = setmetatable({}, { __newindex = meddle })
ngx.say(ngx.re.find("ab", "b", "", ctx), " ", ctx.pos)
LUA
$t->script('threadargs.lua', <<'LUA');
local t = {}
for i = 1, tonumber(ngx.var.arg_n) do t[i] = i end
local co = ngx.thread.spawn(function(...) return select("#", ...), select(select("#", ...), ...) end, unpack(t))
ngx.say(ngx.thread.wait(co))
LUA
$t->script('hello.lua', qq{ngx.say("hello")\n});
$t->start;
my $pid = LFTest::serving_pid($t);

my $r = $t->get('bomb.lua');
is($r->{status}, 500, 'a regex bomb in a loop: 500');
like($r->{body}, qr/timeout/, 'at the timeout, though each match stops at the match limit');

$r = $t->get('gsub.lua');
is($r->{status}, 500, 'gsub over 4 MB, without end: 500');
like($r->{body}, qr/timeout|memory/, 'stopped by a limit');

$r = $t->get('sleep.lua');
is($r->{status}, 500, 'ngx.sleep(1e9): 500');
like($r->{body}, qr/timeout/, 'at the timeout');

$r = $t->get('late.lua');
is($r->{status}, 200, 'headers and status after output: the answer is not changed');
is($r->{body}, "body\nstill 200 nil\n", 'and the script goes on');
ok(!exists $r->{headers}{'x-late'}, 'the late header is not sent');
ok($t->wait_log(qr/late\.lua: attempt to set ngx\.header\.HEADER after sending out response headers/),
   'the late header is logged, as nginx logs it');
ok($t->wait_log(qr/late\.lua: attempt to set ngx\.status after sending out response headers/),
   'and the late status');

$r = $t->get('redirect.lua', QUERY_STRING => 'to=/x%0d%0aSet-Cookie:%20a=1');
ok($r->{ended} && $r->{status} == 200, 'ngx.redirect with CR LF: an error the script catches');
like($r->{body}, qr/^false.*unsafe byte "0x0d"/, 'that names the byte');

my $answered = 0;
for my $ttl (qw(1e17 1e18 1e300 -1e300)) {
    $r = $t->get('cookie.lua', QUERY_STRING => "ttl=$ttl");
    $answered++ if $r->{ended} && $r->{status} == 200;
}
is($answered, 4, 'cookie_time and http_time of 1e17, 1e18, 1e300 and -1e300 s: four answers');

like($t->get('nest.lua')->{body}, qr/^false.*tables nested too deep/, 'a table nested 100000 deep: an error, no crash');
$r = $t->get('metatables.lua');
is($r->{status}, 200, "every reachable metatable's functions called with wrong arguments: an answer");
like($r->{body}, qr/^([3-9]|\d\d+) metatables, \d+ calls$/, 'ngx\'s, ngx.var\'s, ngx.header\'s among them');
$r = $t->get('rematch.lua');
is($r->{status}, 200, 'a match whose ctx and res tables match in the middle: an answer');
is($r->{body}, "ab a b 3\na b\ntable a\n2 3\n", 'with its own captures and positions');
for my $n (45, 300, 7000) {
    is($t->get('threadargs.lua', QUERY_STRING => "n=$n")->{body}, "true$n$n\n",
       "ngx.thread.spawn with $n arguments: the thread has them all");
}
$r = $t->get('functions.lua');
is($r->{status}, 200, "ngx's and the module's functions, sockets' and dictionaries' methods, wrong arguments: an answer");
like($r->{body}, qr/^([5-9]\d|\d{3,}) functions, (\d{4,}) calls$/, 'every one of them called');
$r = $t->get('envmeta.lua');
is($r->{status}, 200, "env's metamethods called with wrong arguments: an answer");
like($r->{body}, qr/^\d+ calls, GET$/, 'and env still reads the request');
for my $n (1, 2) {
    is($t->get('ngxinto.lua')->{body}, "function nil\n",
       "ngx's metamethods given a table of the script's build ngx itself (request $n)");
}
is($t->get('hello.lua')->{body}, "hello\n", 'the daemon serves on');
ok(LFTest::alive($t->pid), 'and never restarted');
is(LFTest::serving_pid($t), $pid, 'the serving process is the one that started');
$t->stop;
done_testing;
