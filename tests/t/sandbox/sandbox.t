# Limits that hold everywhere: error objects, load, debug, finalizers,
# closing states, and what a request buffers for its answer.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(time);
use LFTest;

my $t = LFTest->new(conf => { workers => 2, timeout => 1, memory => 8 * 1024 * 1024 });
$t->script('ok.lua', <<'LUA');
n = 0
function main(env, req) n = n + 1 req:puts("ok ", n) end
LUA
$t->script('attack.lua', <<'LUA');
n = 0
local function boom() error("boom") end
local function spin() while true do end end
local attacks = {
  errmeta = function() error(setmetatable({}, { __tostring = boom })) end,
  loopmeta = function() error(setmetatable({}, { __tostring = spin })) end,
  goodmeta = function() error(setmetatable({}, { __tostring = function() return "described" end })) end,
  load = function() while true do load(spin) end end,
  loadcatch = function() while true do pcall(load, spin) end end,
  sethook = function() debug.sethook() spin() end,
  sethookco = function()
    local co = coroutine.create(function() debug.sethook() spin() end)
    debug.sethook(co)
    coroutine.resume(co)
    spin()
  end,
  -- debug.getinfo's "f" gave the functions on the stack: the C one at
  -- the bottom was lua_cpcall's entry, and calling it crashed the daemon
  cpcall = function()
    local last
    for level = 1, 30 do
      local i = debug.getinfo(level, "fS")
      if not i then break end
      if i.what == "C" then last = i.func end
    end
    last("boom")
  end,
  -- lua-rings: a new Lua state, whole library and no limits, in a request
  rings = function()
    local rings = require "rings"
    rings.new():dostring("while true do end")
  end,
  -- a metatable that is its own __index handed itself out past any
  -- __metatable: obj.__index was the writable metatable
  fileindex = function()
    local f = io.open("/dev/null")
    local mt = f.__index
    f:close()
    mt.__gc = spin
    io.open("/dev/null")
    collectgarbage("collect")
  end,
  lxpindex = function()
    local p = require("lxp").new({})
    local mt = p.__index
    mt.__gc = spin
    require("lxp").new({})
    collectgarbage("collect")
  end,
  -- lfcgi (wsapi.fcgi's binding): open past io.open's checks, a popen
  -- whose close waits, FCGI_Accept on descriptor 0
  lfcgi = function()
    local lfcgi = require "lfcgi"
    lfcgi.open("/proc/self/mem", "rb")
  end,
  proxy = function()
    local p = newproxy(true)
    getmetatable(p).__gc = spin
    p = nil
    collectgarbage("collect")
    spin()
  end,
  -- LuaJIT: compiled code runs no hooks, and ffi.gc makes finalizers
  jiton = function() if jit and jit.on then jit.on() end spin() end,
  ffigc = function()
    local ok, ffi = pcall(require, "ffi")
    if ok then
      for i = 1, 10 do ffi.gc(ffi.new("char[?]", 1000), spin) end
      collectgarbage("collect")
      collectgarbage("collect")
    end
    spin()
  end,
  filegc = function()
    getmetatable(io.stdout).__gc = spin
    local f = io.tmpfile()
    f = nil
    collectgarbage("collect")
    spin()
  end,
  -- a limit raised in the hook runs an xpcall handler there, hooks off
  xploop = function() xpcall(spin, spin) end,
  xperr = function() xpcall(function() error("x") end, spin) end,
  xpco = function() coroutine.wrap(function() xpcall(function() error("x") end, spin) end)() end,
  -- one instruction, one long C call: the hook must still come in time
  upper = function() local s = ("x"):rep(1.5e6) for i = 1, 25000 do local u = s:upper() end end,
  less = function()
    local s = ("x"):rep(3e6) local s2 = s
    for i = 1, 1e9 do
      if s < s2 or s < s2 or s < s2 or s < s2 or s < s2 or s < s2 or s < s2 or s < s2 or s < s2 or s < s2
         or s < s2 or s < s2 or s < s2 or s < s2 or s < s2 or s < s2 or s < s2 or s < s2 or s < s2 then break end
    end
  end,
  -- single C calls with no end: bounded, or refused
  insert = function() table.insert({}, 2^31, 1) end,
  sort = function() local s, t = ("x"):rep(2e6), {} for i = 1, 60000 do t[i] = s end table.sort(t) end,
  unpack = function() return unpack({}, -2147483647, 2147483647) end,
}
function main(env, req)
  n = n + 1
  local f = attacks[env.QUERY_STRING]
  if f then f() end
  req:puts(n)
end
LUA
$t->start;

# A request that must be answered within SECONDS (the old way was never).
sub get_within {
    my ($d, $name, $seconds, %env) = @_;
    return $d->fcgi({ SCRIPT_FILENAME => $d->www . "/$name", REQUEST_METHOD => 'GET',
                      QUERY_STRING => '', %env }, undef, timeout => $seconds);
}

# Each attack: a 500 within about the timeout, the daemon stays, and the
# next request to another script is fine.
my %expect = (
    errmeta   => qr/error object is a table value/,
    loopmeta  => qr/timeout|error object is a table value/,
    goodmeta  => qr/described/,
    load      => qr/timeout/,
    loadcatch => qr/timeout/,
    sethook   => qr/timeout|attempt to call|nil/,
    sethookco => qr/timeout|attempt to call|nil/,
    proxy     => qr/timeout|attempt to call|nil/,
    fileindex => qr/attempt to index local &#39;mt&#39; \(a nil value\)/,
    lxpindex  => (grep { -f "$_/lxp.so" } glob('/usr/lib/*/lua/5.1'), '/usr/local/lib/lua/5.1')
                 ? qr/attempt to index local &#39;mt&#39; \(a nil value\)/
                 : qr/module &#39;lxp&#39; not found/,
    lfcgi     => (grep { -f "$_/lfcgi.so" } glob('/usr/lib/*/lua/5.1'), '/usr/local/lib/lua/5.1')
                 ? qr/no C module &#39;lfcgi&#39;: it would open files and run commands past the sandbox/
                 : qr/module &#39;lfcgi&#39; not found/,
    cpcall    => qr/attempt to call local &#39;last&#39; \(a nil value\)/,
    rings     => (grep { -f "$_/rings.so" } glob('/usr/lib/*/lua/5.1'), '/usr/local/lib/lua/5.1')
                 ? qr/no C module &#39;rings&#39;: its Lua states would run outside the limits/
                 : qr/module &#39;rings&#39; not found/,
    jiton     => qr/timeout/,
    ffigc     => qr/timeout/,
    filegc    => qr/timeout|attempt to index|protected|__gc|nil/,
    xploop    => qr/timeout/,
    xperr     => qr/timeout/,
    xpco      => qr/timeout/,
    upper     => qr/timeout/,
    less      => qr/timeout/,
    insert    => qr/position out of bounds/,
    sort      => qr/timeout/,
    unpack    => qr/too many results to unpack/,
);
for my $how (grep { !$ENV{LF_ATTACK} || $_ eq $ENV{LF_ATTACK} } sort keys %expect) {
    my $t0 = time;
    my $r = get_within($t, 'attack.lua', 6, QUERY_STRING => $how);
    my $took = time - $t0;
    is($r && $r->{status}, 500, "$how: the request ends with a 500");
    like($r && $r->{body}, $expect{$how}, "$how: the page says why");
    ok($took < 4, sprintf("$how: answered after about the timeout (%.1f s)", $took));
    ok(LFTest::alive($t->pid), "$how: the daemon is still running");
    like($t->get('ok.lua')->{body}, qr/^ok \d+$/, "$how: the next request to another script is fine");
}

# What stays: ordinary errors are still caught by load; what goes is gone.
$t->script('env.lua', <<'LUA');
function main(env, req)
  local f, msg = loadstring("syntax error here")
  req:puts(tostring(f), " ", tostring(msg ~= nil), " ", type(newproxy), " ", type(debug.sethook),
           " ", type(debug.traceback), " ", type(io.popen), " ", tostring(getmetatable(io.stdout)),
           " ", tostring(pcall(error, "x")))
end
LUA
is($t->get('env.lua')->{body}, 'nil true nil nil function nil FILE* false',
   'load still returns ordinary errors; newproxy, debug.sethook and io.popen are gone; files are locked');

# Lua trusts bytecode blindly: crafted, it reads and writes any memory.
# Every way to load code takes source only.
$t->script('bin.lua', <<'LUA');
function main(env, req)
  local bin = string.dump(function() return 1 end)
  local f, m = loadstring(bin)
  req:puts("ls:", tostring(f), ":", tostring(m), "\n")
  local sent = false
  f, m = load(function() if sent then return nil end sent = true return bin end)
  req:puts("ld:", tostring(f), ":", tostring(m), "\n")
  local dir = env.SCRIPT_FILENAME:match("^(.*)/")
  local h = assert(io.open(dir .. "/binmod.lua", "wb")) h:write(bin) h:close()
  f, m = loadfile(dir .. "/binmod.lua")
  req:puts("lf:", tostring(f), ":", tostring(m and m:match("binary chunks are not accepted")), "\n")
  local ok, e = pcall(dofile, dir .. "/binmod.lua")
  req:puts("df:", tostring(ok), ":", tostring(e and e:match("binary chunks are not accepted")), "\n")
  ok, e = pcall(require, "binmod")
  req:puts("rq:", tostring(ok), ":", tostring(e and e:match("binary chunks are not accepted")), "\n")
  h = assert(io.open(dir .. "/srcmod.lua", "w")) h:write("#!/usr/bin/lua\nreturn { v = 42 }\n") h:close()
  req:puts("src:", require("srcmod").v, ":", loadfile(dir .. "/srcmod.lua")().v, ":", dofile(dir .. "/srcmod.lua").v, ":", loadstring("return 7")(), "\n")
  local parts = { "return ", "8" }
  req:puts("ldsrc:", load(function() return table.remove(parts, 1) end)(), "\n")
  local bad, msg = loadfile(dir .. "/nope.lua")
  req:puts("nf:", tostring(bad), ":", msg, "\n")
end
LUA
my $rb = $t->get('bin.lua');
is($rb->{status}, 200, 'a script that tries binary chunks runs');
like($rb->{body}, qr/^ls:nil:binary chunks are not accepted$/m, 'loadstring refuses a binary chunk');
like($rb->{body}, qr/^ld:nil:binary chunks are not accepted/m, 'load refuses one from a reader');
like($rb->{body}, qr/^lf:nil:binary chunks are not accepted$/m, 'loadfile refuses a binary file');
like($rb->{body}, qr/^df:false:binary chunks are not accepted$/m, 'dofile too');
like($rb->{body}, qr/^rq:false:binary chunks are not accepted$/m, 'and require');
like($rb->{body}, qr/^src:42:42:42:7$/m, 'source loads as before, a #! line included');
like($rb->{body}, qr/^ldsrc:8$/m, 'load from a reader too');
like($rb->{body}, qr/^nf:nil:cannot open .*nope\.lua: No such file or directory$/m, 'a missing file says so');

# Lua 5.2's load(chunk, name, mode, env), as CGILua calls it, on both builds.
$t->script('load52.lua', <<'LUA');
function main(env, req)
  local e = { x = 5 }
  local f, m = load("return x, y", "=page", "t", e)
  req:puts("env:", tostring(f and select(1, f())), ":", tostring(f and select(2, f())), "\n")
  y = 9
  f = load("return y")
  req:puts("str:", f(), "\n")
  f, m = load("return 1", "=page", "b")
  req:puts("modeb:", tostring(f), ":", tostring(m), "\n")
  f, m = load(string.dump(function() return 1 end), "=page", "b", e)
  req:puts("bin:", tostring(f), ":", tostring(m), "\n")
  f, m = load("return +", "=page", "t", e)
  req:puts("syntax:", tostring(f), ":", tostring(m), "\n")
  local parts = { "return ", "x" }
  f = load(function() return table.remove(parts, 1) end, "=rd", "bt", e)
  req:puts("reader:", f(), "\n")
  parts = { "return 1" }
  f, m = load(function() return table.remove(parts, 1) end, "=rd", "b")
  req:puts("readerb:", tostring(f), ":", tostring(m), "\n")
  local ok, err = pcall(load, "return 1", "=page", "t", 7)
  req:puts("badenv:", tostring(ok), ":", tostring(err), "\n")
  f = load("z = 3", "=page", "t", e) f()
  req:puts("set:", tostring(e.z), ":", tostring(z), "\n")
  local dir = env.SCRIPT_FILENAME:match("^(.*)/")
  local h = assert(io.open(dir .. "/envfile.lua", "w")) h:write("return x") h:close()
  f = loadfile(dir .. "/envfile.lua", "bt", e)
  req:puts("lfenv:", tostring(f()), "\n")
  f, m = loadfile(dir .. "/envfile.lua", "b")
  req:puts("lfb:", tostring(f), ":", tostring(m), "\n")
end
LUA
my $r52 = $t->get('load52.lua');
is($r52->{status}, 200, 'a script that loads in the Lua 5.2 form runs');
like($r52->{body}, qr/^env:5:nil$/m, 'load with env: the chunk sees that table only');
like($r52->{body}, qr/^str:9$/m, 'load of a string without env sees the globals');
like($r52->{body}, qr/^modeb:nil:attempt to load a text chunk \(mode is 'b'\)$/m, 'mode "b" refuses text, as 5.2 says');
like($r52->{body}, qr/^bin:nil:binary chunks are not accepted$/m, 'binary is refused whatever the mode');
like($r52->{body}, qr/^syntax:nil:page:1: unexpected symbol near/m, 'a syntax error comes back with the chunk name');
like($r52->{body}, qr/^reader:5$/m, 'a reader takes mode and env too');
like($r52->{body}, qr/^readerb:nil:attempt to load a text chunk \(mode is 'b'\)$/m, 'and mode "b"');
like($r52->{body}, qr/^badenv:false:.*bad argument #4 to '(?:load|\?)' \(table expected, got number\)$/m, 'env must be a table');
like($r52->{body}, qr/^set:3:nil$/m, 'globals the chunk sets go to its env');
like($r52->{body}, qr/^lfenv:5$/m, 'loadfile takes env too');
like($r52->{body}, qr/^lfb:nil:attempt to load a text chunk \(mode is 'b'\)$/m, 'and mode');

# os.exit() in an xpcall handler ends the request like anywhere else.
$t->script('exitxp.lua', <<'LUA');
function main(env, req)
  req:puts("before ")
  local r = { xpcall(function() error("x") end, function() os.exit(4) end) }
  req:puts("not reached ", tostring(r[1]))
end
LUA
my $r = $t->get('exitxp.lua');
is($r->{status}, 200, 'os.exit() in an xpcall handler: the request ends normally');
is($r->{body}, 'before ', 'and nothing after the xpcall runs');

# What the bounded table functions still do.
$t->script('tables.lua', <<'LUA');
function main(env, req)
  local t = { 3, 1, 2 }
  table.insert(t, 1, 0) table.insert(t, #t + 1, 9) table.insert(t, 7)
  req:puts(table.concat(t, ","), ";")
  req:puts(tostring(pcall(table.insert, t, 0, 1)), " ", tostring(pcall(table.insert, t, #t + 2, 1)), " ",
           tostring(pcall(table.insert, t, 0/0, 1)), ";")
  table.sort(t) req:puts(table.concat(t, ","), ";")
  table.sort(t, function(a, b) return a > b end) req:puts(table.concat(t, ","), ";")
  local w = { "b", "c", "a" } table.sort(w) req:puts(table.concat(w), ";")
  req:puts(select(2, pcall(table.sort, { 1, "x", 2 })), ";")
  req:puts(select("#", unpack({ 1, 2, 3 })), select("#", unpack({ 1, 2, 3 }, 2)),
           select("#", unpack({ 1, 2, 3 }, -1, 1)), select("#", unpack({}, 2, 1)), ";")
  local a, b, c = unpack({ 1, 2, 3 }, -1, 1)
  req:puts(tostring(a), tostring(b), tostring(c), " ", select("#", unpack({}, 1, 7000)), ";")
  req:puts(select(2, pcall(unpack, {}, 1, 1e6)))
end
LUA
$r = $t->get('tables.lua');
is($r->{body}, '0,3,1,2,9,7;false false false;0,1,2,3,7,9;9,7,3,2,1,0;abc;'
             . 'attempt to compare string with number;3230;nilnil1 7000;too many results to unpack',
   'insert, sort and unpack answer as before in range, and refuse out of it');

# Files that reach the daemon itself, or block open() for good.
my $fifo = $t->www . '/fifo';
POSIX::mkfifo($fifo, 0600) or die "mkfifo: $!";
$t->script('proc.lua', <<'LUA');
local function try(f, ...)
  local ok, a, b = pcall(f, ...)
  if not ok then return "false:" .. tostring(a) .. ":nil" end
  return "true:" .. tostring(a and (io.type(a) or type(a))) .. ":" .. tostring(b)
end
function main(env, req)
  local fifo = env.FIFO
  for _, p in ipairs{ "/proc/self/mem", "/proc/thread-self/mem", "/proc/self/task/../environ",
                      "/proc/self/root/proc/self/mem", "/proc/self/fd/0", "/dev/fd/0", "/proc/self/cwd/x",
                      fifo } do
    req:puts(p, " ", try(io.open, p), " ", try(io.open, p, "r+"), "\n")
  end
  req:puts("w ", try(io.open, "/proc/sys/vm/drop_caches", "w"), "\n")
  req:puts("a ", try(io.open, "/proc/self/comm", "a"), "\n")
  req:puts("maps ", try(io.open, "/proc/self/maps"), "\n")
  req:puts("lines ", try(io.lines, "/proc/self/environ"), "\n")
  req:puts("lfifo ", try(io.lines, fifo), "\n")
  req:puts("input ", try(io.input, "/proc/self/mem"), "\n")
  req:puts("output ", try(io.output, "/proc/self/mem"), "\n")
  req:puts("loadfile ", try(loadfile, "/proc/self/environ"), "\n")
  req:puts("dofile ", try(dofile, fifo), "\n")
  req:puts("tmp ", try(io.open, env.SCRIPT_FILENAME:match("^(.*)/") .. "/new.txt", "w"), "\n")
  -- the reviewer's attack: int3 over liblua's code
  local maps = assert(io.open("/proc/self/maps")):read("*a")
  local lo, hi = maps:match("(%x+)%-(%x+) r%-xp [^\n]*lua")
  local f = io.open("/proc/self/mem", "r+")
  if f then
    f:seek("set", tonumber(lo, 16))
    f:write(("\204"):rep(tonumber(hi, 16) - tonumber(lo, 16)))
    f:flush()
    req:puts("wrote\n")
  end
end
LUA
my $t1 = time;
$r = $t->fcgi({ SCRIPT_FILENAME => $t->www . '/proc.lua', REQUEST_METHOD => 'GET', QUERY_STRING => '',
                FIFO => $fifo }, undef, timeout => 8);
ok(time - $t1 < 6, 'opening a FIFO does not block');
is($r->{status}, 200, 'a script that tries /proc and a FIFO runs');
my $body = $r->{body} // '';
for my $p ('/proc/self/mem', '/proc/thread-self/mem', '/proc/self/task/../environ',
           '/proc/self/root/proc/self/mem', '/proc/self/fd/0', '/dev/fd/0', '/proc/self/cwd/x', $fifo) {
    like($body, qr/^\Q$p\E true:nil:\Q$p\E: not allowed[^\n]* true:nil:\Q$p\E: not allowed/m,
         "io.open refuses $p, to read and to write");
}
like($body, qr/^w true:nil:.*not allowed$/m, 'nothing in /proc opens for writing');
like($body, qr/^a true:nil:.*not allowed$/m, 'nor for appending');
like($body, qr/^maps true:file:nil$/m, '/proc/self/maps still opens to read');
like($body, qr/^lines false:.*environ: not allowed:nil$/m, 'io.lines raises for /proc/self/environ');
like($body, qr/^lfifo false:.*not allowed \(a FIFO\):nil$/m, 'and for a FIFO');
like($body, qr/^input false:.*not allowed/m, 'io.input raises');
like($body, qr/^output false:.*not allowed/m, 'io.output raises');
like($body, qr/^loadfile true:nil:.*environ: not allowed$/m, 'loadfile answers nil, why');
like($body, qr/^dofile false:.*not allowed/m, 'dofile raises');
like($body, qr/^tmp true:file:nil$/m, 'a new file next to the script still opens for writing');
unlike($body, qr/wrote/, 'liblua\'s code cannot be overwritten through /proc/self/mem');
ok(LFTest::alive($t->pid), 'the daemon is still running');
like($t->get('ok.lua')->{body}, qr/^ok \d+$/, 'and answers');

# require must not load a standard library again from liblua.
my ($liblua) = grep { -e } map { glob } ('/usr/lib/*/liblua5.1.so.0', '/usr/lib/*/libluajit-5.1.so.2',
                                         '/usr/lib/liblua5.1.so.0', '/usr/local/lib/libluajit-5.1.so.2');
$t->script('reload.lua', <<'LUA');
function main(env, req)
  local cpath = package.cpath
  package.cpath = env.LIBLUA
  package.loaded.debug = nil
  local ok, d = pcall(require, "debug")
  req:puts("debug ", tostring(ok and type(d) == "table" and d.sethook), " ", tostring(debug and debug.sethook), "\n")
  for _, name in ipairs{ "io", "os", "x-debug", "package", "base" } do
    package.loaded[name] = nil
    ok, d = pcall(require, name)
    req:puts(name, " ", tostring(ok), " ", tostring(not ok and d:match("standard libraries are not loaded again") ~= nil), "\n")
  end
  package.cpath = env.LIBLUA
  ok, d = pcall(require, "nosuchmodule")
  req:puts("missing ", tostring(d:find(env.LIBLUA, 1, true) ~= nil), "\n")
  package.cpath = cpath
  ok, d = pcall(require, "lfs")
  req:puts("lfs ", tostring(ok and type(d) == "table" and type(d.attributes)), "\n")
end
LUA
SKIP: {
    skip 'no shared liblua to load from', 8 unless $liblua;
    $r = $t->fcgi({ SCRIPT_FILENAME => $t->www . '/reload.lua', REQUEST_METHOD => 'GET', QUERY_STRING => '',
                    LIBLUA => $liblua }, undef, timeout => 8);
    $body = $r->{body} // '';
    like($body, qr/^debug false nil$/m, "package.cpath = $liblua; require 'debug' gives no sethook");
    for my $name ('io', 'os', 'x-debug', 'package', 'base') {
        like($body, qr/^\Q$name\E false true$/m, "nor is '$name' loaded from it");
    }
    like($body, qr/^missing true$/m, 'the C searchers follow the cpath the script sets');
    SKIP: {
        skip 'no lfs module installed', 1 unless grep { -e } glob('/usr/lib/*/lua/5.1/lfs.so');
        like($body, qr/^lfs function$/m, 'a C module on the usual cpath still loads');
    }
}

# Status and Content-Type count toward memory like every header.
$t->script('bighead.lua', <<'LUA');
function main(env, req)
  local v = ("x"):rep(2e6)
  if env.QUERY_STRING == "status" then req:header("Status", "200 " .. v) else req:header("Content-Type", v) end
  v = nil
  collectgarbage("collect")
  -- building it takes 7 MB at its peak: 9 with the header
  local a = ("a"):rep(3.5e6)
  req:puts("set")
end
LUA
for my $h ('status', 'ctype') {
    $r = $t->get('bighead.lua', QUERY_STRING => $h);
    is($r->{status}, 500, "a 2 MB $h held, then 7 MB in Lua, under memory = 8 MiB is a 500");
    like($r->{body}, qr/memory limit/, 'the page says memory limit');
}

# Error objects at load time are described in protected mode too.
$t->script('loaderr.lua', 'error(setmetatable({}, { __tostring = function() error("boom") end }))');
$r = get_within($t, 'loaderr.lua', 6);
is($r->{status}, 500, 'an error object whose __tostring fails at load time: 500');
like($r->{body}, qr/error object is a table value/, 'with a fixed description');
$t->script('loadspin.lua', 'error(setmetatable({}, { __tostring = function() while true do end end }))');
my $t0 = time;
$r = get_within($t, 'loadspin.lua', 6);
is($r->{status}, 500, 'an error object whose __tostring loops at load time: 500');
ok(time - $t0 < 4, 'within about the timeout');
ok(LFTest::alive($t->pid), 'the daemon survives both');
is($t->stop, 0, 'stop');

# Preload runs the same protected load: the daemon starts and logs why.
my $p = LFTest->new(conf => { workers => 1, timeout => 1 });
$p->script('pfail.lua', 'error(setmetatable({}, { __tostring = function() error("boom") end }))');
$p->script('pspin.lua', 'error(setmetatable({}, { __tostring = function() while true do end end }))');
$p->script('ok.lua', 'function main(env, req) req:puts("fine") end');
$p->write_conf(preload => [$p->www . '/pfail.lua', $p->www . '/pspin.lua']);
$t0 = time;
$p->start;
ok(time - $t0 < 6, 'a daemon whose preload scripts fail with bad error objects starts');
ok($p->wait_log(qr/preload .*pfail\.lua: runtime error: \(error object is a table value\)/),
   'the log describes the error object');
ok($p->wait_log(qr/preload .*pspin\.lua: timeout/), 'and the looping __tostring as a timeout');
is($p->get('ok.lua')->{body}, 'fine', 'and serves');
is($p->stop, 0, 'stop');

# What a buffered answer holds counts toward memory: 400 x 1 MiB must not
# take the process to hundreds of MB.
my $f = LFTest->new(conf => { workers => 1, timeout => 10, memory => 8 * 1024 * 1024 });
$f->script('flood.lua', <<'LUA');
local chunk = ("x"):rep(1024 * 1024)
function main(env, req)
  local n = tonumber(env.QUERY_STRING) or 400
  for i = 1, n do
    if env.HEADER then req:header("X-Pad-" .. i, ("y"):rep(4000)) else req:puts(chunk) end
    if env.FLUSH then req:flush() end
  end
  req:puts("end")
end
LUA
$f->script('ok.lua', 'function main(env, req) req:puts("fine") end');
$f->script('swallow.lua', <<'LUA');
n = 0
function main(env, req)
  n = n + 1
  if env.QUERY_STRING == "swallow" then
    -- load catches its reader's memory error, and this pcall the
    -- guard's; the request must still fail
    local big = {}
    pcall(load, function() for i = 1, 1e8 do big[i] = i end end)
    big = nil
    collectgarbage("collect")
  end
  req:puts(n)
end
LUA
$f->start;
# The peak resident size: the buffers are trimmed once the answer is sent.
sub peak_rss_kb { my $s = LFTest::slurp("/proc/$_[0]/status"); $s =~ /^VmHWM:\s+(\d+)/m ? $1 : 0 }
$r = $f->get('flood.lua');
is($r->{status}, 500, '400 x 1 MiB buffered under memory = 8 MiB is a 500');
ok($r->{body} =~ /memory limit/, 'the page says memory limit');
my $rss = peak_rss_kb($f->pid);
ok($rss > 0 && $rss < 100 * 1024, "the peak RSS stays well below the 400 MB flood ($rss kB)");
is($f->get('ok.lua')->{body}, 'fine', 'the next request is fine');
$r = $f->get('flood.lua', QUERY_STRING => 4);
is($r->{status}, 200, 'a 4 MiB answer under memory = 8 MiB is served');
is(length($r->{body}), 4 * 1024 * 1024 + 3, 'whole');
$r = $f->get('flood.lua', QUERY_STRING => 40, FLUSH => 1);
is($r->{status}, 200, 'flushed output is no longer held: 40 MiB with req:flush() is served');
is(length($r->{body}), 40 * 1024 * 1024 + 3, 'whole');
$r = $f->get('flood.lua', QUERY_STRING => 4000, HEADER => 1);
is($r->{status}, 500, 'headers count too: 16 MB of header lines is a 500');
is($f->get('swallow.lua')->{body}, '1', 'a state is loaded');
$r = $f->get('swallow.lua', QUERY_STRING => 'swallow');
is($r->{status}, 500, 'a memory limit swallowed by a library still ends the request with a 500');
like($r->{body}, qr/memory limit/, 'the page says memory limit');
is($f->get('swallow.lua')->{body}, '1', 'and the state was closed');
is($f->stop, 0, 'stop');

my $s = LFTest->new(conf => { workers => 1, timeout => 10, memory => 8 * 1024 * 1024, buffering => 0 });
$s->script('flood.lua', <<'LUA');
local chunk = ("x"):rep(1024 * 1024)
function main(env, req) for i = 1, 40 do req:puts(chunk) end req:puts("end") end
LUA
$s->start;
$r = $s->get('flood.lua');
is($r->{status}, 200, 'streamed output (buffering = false) is not bounded by memory');
is(length($r->{body}), 40 * 1024 * 1024 + 3, 'whole');
is($s->stop, 0, 'stop');

# A finalizer that would loop forever, whichever way remains to write one,
# must not hold HUP (pool flush) or TERM (closing every state).
my $g = LFTest->new(conf => { workers => 2, timeout => 1, memory => 8 * 1024 * 1024 });
$g->script('fin.lua', <<'LUA');
local function spin() while true do end end
keep = {}
function main(env, req)
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = spin
    keep[#keep + 1] = p
  end
  pcall(function() getmetatable(io.stdout).__gc = spin end)
  pcall(function() debug.setmetatable(io.tmpfile(), { __gc = spin }) end)
  keep[#keep + 1] = io.tmpfile()
  req:puts("armed")
end
LUA
$g->script('ok.lua', 'function main(env, req) req:puts("v", req:config("jitter")) end');
$g->start;
is($g->get('fin.lua')->{body}, 'armed', 'a state holds would-be looping finalizers');
is($g->get('ok.lua')->{body}, 'v0', 'another script answers');
$g->write_conf(jitter => 7);
$g->signal('HUP');
ok(LFTest::wait_for(sub { my $x = $g->get('ok.lua'); $x && $x->{body} eq 'v7' }, 8),
   'after HUP the daemon answers with the new config');
ok($g->wait_log(qr/reloaded/, 8), 'and the reload finished: closing the old states did not wait');
$g->write_conf(jitter => 9);
$g->signal('HUP');
ok(LFTest::wait_for(sub { my $x = $g->get('ok.lua'); $x && $x->{body} eq 'v9' }, 8),
   'a second HUP is handled too');
is($g->get('fin.lua')->{body}, 'armed', 'and arms the finalizers again');
$t0 = time;
my $st = $g->stop;
is($st, 0, 'TERM: a clean exit');
ok(time - $t0 < 8, sprintf('TERM exits within a bound (%.1f s)', time - $t0));

# The name is checked by what it opened, not looked up twice: a name
# swapped between a FIFO, a link to /proc/self/mem and a plain file by one
# request while another opens it never blocks the opener and never gives
# it anything but the plain file. And "w" on a name of the daemon's
# standard output does not truncate it.
{
    my $r2 = LFTest->new(conf => { workers => 2, timeout => 10 });
    my $d = $r2->www;
    POSIX::mkfifo("$d/a-fifo", 0600) or die "mkfifo: $!";
    symlink('/proc/self/mem', "$d/a-mem") or die "symlink: $!";
    LFTest::spew("$d/a-plain", 'plain');
    $r2->script('swap.lua', <<'LUA');
function main(env, req)
  local d, n = env.DIR, 0
  local f = io.open(d .. "/swapping", "w") f:close()
  for i = 1, 20000 do
    for _, what in ipairs({ "a-fifo", "a-mem", "a-plain" }) do
      if os.rename(d .. "/" .. what, d .. "/name") then n = n + 1 os.rename(d .. "/name", d .. "/" .. what) end
    end
    if i % 100 == 0 and io.open(d .. "/done") then break end
  end
  req:puts("swapped ", n)
end
LUA
    $r2->script('opener.lua', <<'LUA');
function main(env, req)
  local d, plain, other = env.DIR, 0, 0
  for i = 1, 3000 do
    for _, mode in ipairs({ "r", "r+" }) do
      local f = io.open(d .. "/name", mode)
      if f then
        local s = f:read("*a")
        f:close()
        if s == "plain" then plain = plain + 1 else other = other + 1 end
      end
    end
  end
  local f = io.open(d .. "/done", "w") f:close()
  req:puts("plain ", plain, " other ", other)
end
LUA
    $r2->script('wout.lua', "function main(env, req) local f, e = io.open('/dev/stdout', 'w') req:puts(tostring(f), ' ', tostring(e)) end\n");
    $r2->start;
    my $s = $r2->connect;
    LFTest::write_all($s, LFTest::encode_request({ SCRIPT_FILENAME => "$d/swap.lua", REQUEST_METHOD => 'GET', DIR => $d }, ''));
    ok(LFTest::wait_for(sub { -e "$d/swapping" }, 10), 'one request swaps the name');
    my $t1 = time;
    my $r = $r2->get('opener.lua', DIR => $d);
    ok(time - $t1 < 9, 'the other, opening it meanwhile, never blocks');
    is($r->{status}, 200, 'the opener ends normally');
    like($r->{body}, qr/^plain \d+ other 0$/, 'and only ever opens the plain file (never the FIFO or /proc/self/mem)');
    like(LFTest::read_response($s)->{body}, qr/^swapped [1-9]/, 'the swapper ran');
    my $out = $r2->dir . '/stderr.log';      # the daemon's standard output too
    open(my $fh, '>>', $out) or die "$out: $!";
    print $fh "a line the daemon's output already holds\n";
    close $fh;
    my $before = -s $out;
    like($r2->get('wout.lua')->{body}, qr/^nil .*standard files/, '"w" on the daemon\'s standard output is refused');
    cmp_ok(-s $out, '>=', $before, 'and did not truncate it');
    is($r2->stop, 0, 'stop');
}

# debug.getinfo answers as stock Lua 5.1 does, less the functions: levels
# counted from the caller (numbers, numeric strings, coroutines, the
# current thread given), out of range, bad arguments.
SKIP: {
    my $lua = `command -v lua5.1 2>/dev/null`;
    chomp $lua;
    skip 'no lua5.1 interpreter to compare with', 1 unless $lua;
    my $g = LFTest->new(conf => { workers => 1 });
    my $probe = $g->script('probe.lua', <<'LUA');
local out = {}
local function p(...)
  local t = {}
  for i = 1, select("#", ...) do local v = select(i, ...) t[#t + 1] = type(v) == "table" and "table" or tostring(v) end
  out[#out + 1] = table.concat(t, " ")
end
local function f()
  p(debug.getinfo(1, "l").currentline, debug.getinfo("1", "l").currentline, debug.getinfo(1.7, "l").currentline)
  p(debug.getinfo(2, "S").short_src:match("[^/]*$"), debug.getinfo(2, "l").currentline, debug.getinfo(3, "S").what)
  p(debug.getinfo(2^31 - 1), pcall(debug.getinfo, "x"), pcall(debug.getinfo, 1, "q"))
  p(debug.getinfo(1).func, debug.getinfo(1, "f").func, debug.getinfo(print, "S").what)
  local co = coroutine.create(function()
    p("co", debug.getinfo(coroutine.running(), 1, "l").currentline, debug.getinfo(1, "l").currentline)
    coroutine.yield()
  end)
  coroutine.resume(co)
  p("other", debug.getinfo(co, 0, "l").currentline, debug.getinfo(co, 1, "S").what)
end
local function g() f() end
g()
return table.concat(out, "\n")
LUA
    $g->script('run.lua', "function main(env, req) req:puts(dofile('$probe')) end\n");
    $g->start;
    my $want = `$lua -e 'io.write((dofile("$probe")))'`;
    $want =~ s/^((?:\S+ )?)function: 0x[0-9a-f]+ function: 0x[0-9a-f]+/${1}nil nil/m;   # stock has func
    is($g->get('run.lua')->{body}, $want, 'debug.getinfo answers as lua5.1 does, without functions');
    $g->stop;
}

done_testing;
