# Each worker has its own working directory: lfs.chdir (CGILua calls it
# around every page) moves only the worker that calls it, and only until
# its request ends. Before, one page's chdir moved every worker, so a
# page opened by a relative name could be another directory's.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Temp ();
use LFTest qw(wait_for spew slurp);

plan skip_all => 'lua-filesystem is not installed'
    unless grep { -f "$_/lfs.so" } qw(/usr/lib/x86_64-linux-gnu/lua/5.1 /usr/local/lib/lua/5.1),
                                   glob('/usr/lib/*/lua/5.1');
plan skip_all => 'a working directory per thread is Linux only' unless $^O eq 'linux';

my $t = LFTest->new(conf => { workers => 2, timeout => 20 });
my $www = $t->www;
for my $d (qw(a b)) {
    mkdir "$www/$d" or die "mkdir: $!";
    spew("$www/$d/42-workdir.mark", "dir $d");
}
my $go = "$www/go";
my $held = "$www/held";
$t->script('where.lua', <<~'LUA');
local lfs = require "lfs"
function main(env, req)
  local f = io.open("42-workdir.mark")
  req:puts(lfs.currentdir(), " ", f and f:read("*a") or "no mark")
  if f then f:close() end
end
LUA
# moves to a/, says so, and waits (bounded) until the test lets it go
# A script that moves to DIR, creates HELD, waits (bounded) for GO, then
# runs TAIL (ok, err: what chdir gave).
sub holding_script {
    my ($dir, $held, $go, $tail) = @_;
    return <<~"LUA";
    local lfs = require "lfs"
    function main(env, req)
      local ok, err = lfs.chdir("$dir")
      local f = io.open("$held", "w") f:write("held") f:close()
      local deadline = os.time() + 10
      while os.time() < deadline do
        local g = io.open("$go")
        if g then g:close() break end
      end
      $tail
    end
    LUA
}
$t->script('hold.lua', holding_script("$www/a", $held, $go, <<~'TAIL'));
local m = io.open("42-workdir.mark")
  req:puts(tostring(ok), " ", tostring(err), " ", lfs.currentdir(), " ", m and m:read("*a") or "no mark")
  if m then m:close() end
TAIL
# moves and never comes back
$t->script('stay.lua', <<~"LUA");
local lfs = require "lfs"
function main(env, req)
  req:puts(tostring(lfs.chdir("$www/b")), " ", lfs.currentdir())
end
LUA
$t->start;

my $home = $t->get('where.lua')->{body};
like($home, qr{^/\S* no mark$}, "a worker starts in the daemon's directory ($home)");
(my $home_dir = $home) =~ s/ no mark$//;

# 1. while one worker is in a/, the other is not
my $c = LFTest::start_clients(1, sub { $t->get('hold.lua')->{body} });
ok(wait_for(sub { -e $held }, 10), 'the first worker moved to a/ and waits');
is($t->get('where.lua')->{body}, $home, 'meanwhile the other worker is still where it started');
spew($go, 'go');
my ($hold) = LFTest::wait_clients($c, 15);
is($hold, "true nil $www/a dir a", 'lfs.chdir moved the calling worker: a relative open finds a/mark');
unlink $go, $held;

# 3. pages in two directories, opened by the same relative name, at once:
# each request reads its own directory's file
$t->script('both.lua', <<~'LUA');
local lfs = require "lfs"
function main(env, req)
  local want = env.QUERY_STRING
  assert(lfs.chdir(env.DOCUMENT_ROOT .. "/" .. want))
  for _ = 1, 50 do
    local f = assert(io.open("42-workdir.mark"))
    local got = f:read("*a")
    f:close()
    if got ~= "dir " .. want then req:puts("wrong: ", got) return end
  end
  req:puts("ok")
  assert(lfs.chdir(env.DOCUMENT_ROOT))
end
LUA
my @res = LFTest::run_clients(4, 60, sub {
    my ($n) = @_;
    my $d = $n % 2 ? 'a' : 'b';
    my %seen;
    $seen{ $t->get('both.lua', QUERY_STRING => $d, DOCUMENT_ROOT => $www)->{body} }++ for 1 .. 100;
    return join ',', map { "$_=$seen{$_}" } sort keys %seen;
});
is_deeply(\@res, [('ok=100') x 4], 'two directories at once: every request read its own (400 requests)');

# 4. outside a worker (a preloaded script's top level) chdir is refused
my $p = LFTest->new(conf => { workers => 1 });
$p->script('pre.lua', <<~"LUA");
local lfs = require "lfs"
result = { lfs.chdir("$www/a") }
function main(env, req) req:puts(tostring(result[1]), " ", tostring(result[2]), " ", lfs.currentdir()) end
LUA
$p->write_conf(preload => [$p->www . '/pre.lua']);
$p->start;
my $r = $p->get('pre.lua')->{body};
like($r, qr{^nil lfs\.chdir: refused outside a request \Q$home_dir\E$},
     'a preloaded script cannot move the whole daemon');
$p->stop;

# With one worker every request lands on the same one: what a request
# leaves behind, the next one would see.
my $one = LFTest->new(conf => { workers => 1 });
my $www1 = $one->www;
for my $d (qw(a b)) {
    mkdir "$www1/$d" or die "mkdir: $!";
    spew("$www1/$d/42-workdir.mark", "dir $d");
}
$one->script('where.lua', slurp("$www/where.lua"));
$one->script('stay.lua', <<~"LUA");
local lfs = require "lfs"
function main(env, req)
  req:puts(tostring(lfs.chdir("$www1/b")), " ", lfs.currentdir())
end
LUA
# the real chdir is never within a script's reach: not through a
# __newindex on _G while lfs loads, nor from the stack (debug.getinfo "f"),
# nor through another spelling of the module's name
$one->script('steal.lua', <<~"LUA");
local seen
setmetatable(_G, { __newindex = function(t, k, v)
  if k == "lfs" and type(v) == "table" then seen = v.chdir end
  rawset(t, k, v)
end })
local lfs = require "lfs"
setmetatable(_G, nil)
function main(env, req)
  local from_stack = "none"
  xpcall(function() lfs.chdir({}) end, function()
    for level = 1, 10 do
      local i = debug.getinfo(level)
      if i and i.func then from_stack = "found" end
    end
  end)
  req:puts(tostring(seen == lfs.chdir), " ", from_stack)
  seen("$www1/a")
end
LUA
my ($lfs_so) = grep { -f } map { "$_/lfs.so" } glob('/usr/lib/*/lua/5.1'), '/usr/local/lib/lua/5.1';
symlink($lfs_so, "$www1/x-lfs.so") or die "symlink: $!";
$one->script('xlfs.lua', <<~"LUA");
package.cpath = "$www1/?.so;" .. package.cpath
local other = require "x-lfs"
function main(env, req) req:puts(tostring(other.chdir("$www1/a"))) end
LUA
# C modules' metatables are read-only: a script's __gc would run with
# hooks off (and could catch lfs's chdir while lfs loads), and their own
# __gc called on a live object would free it twice. Reading still works:
# lpeg's re builds on getmetatable(pattern).__add.
$one->script('dirmeta.lua', <<~'LUA');
local lfs = require "lfs"
function main(env, req)
  local _, dir = lfs.dir(".")
  local mt = getmetatable(dir)
  local ok = pcall(function() mt.__gc = function() while true do end end end)
  req:puts(type(mt), " ", tostring(ok), " ", tostring(mt.__gc), " ", type(mt.__index))
  dir:close()
end
LUA
$one->script('lpegmeta.lua', <<~'LUA');
local lpeg = require "lpeg"
local re = require "re"
function main(env, req)
  local mt = getmetatable(lpeg.P"a")
  local ok, err = pcall(function() mt.__gc = function() end end)
  req:puts(tostring(ok), " [", tostring(err):match("the metatable of %S+ objects is read%-only") or err, "] ",
           tostring(mt.__gc), " ", tostring(re.match("hello world", "{%a+}")))
end
LUA
$one->start;
my $home1 = $one->get('where.lua')->{body};
is($home1, $home, 'the one worker starts in the daemon\'s directory');
is($one->get('stay.lua')->{body}, "true $www1/b", 'a script may leave its worker elsewhere');
is($one->get('where.lua')->{body}, $home, "the next request ($_) starts where the worker started") for 1 .. 3;
is($one->get('steal.lua')->{body}, 'true none',
   'the table a __newindex sees has the wrapped chdir; getinfo gives no functions');
is($one->get('where.lua')->{body}, $home, 'so its chdir did not outlast the request');
is($one->get('xlfs.lua')->{body}, 'true', 'lfs required by another name moves the worker');
is($one->get('where.lua')->{body}, $home, 'and not past the request either');
is($one->get('dirmeta.lua')->{body}, 'table false nil table', "lfs's directory metatable is read-only, and hides __gc");
SKIP: {
    skip 'lua-lpeg is not installed', 1 unless grep { -f "$_/lpeg.so" } glob('/usr/lib/*/lua/5.1');
    is($one->get('lpegmeta.lua')->{body}, 'false [the metatable of lpeg-pattern objects is read-only] nil hello',
       "lpeg's too, and re still works");
}
$one->stop;

my $try = <<'LUA';
local lfs = require "lfs"
function main(env, req) req:puts(table.concat({ tostring(lfs.chdir("/")) , tostring(select(2, lfs.chdir("/"))) }, " ")) end
LUA

# Where a thread cannot have its own directory (unshare refused, as under a
# container's seccomp profile; a preloaded shim stands in for it): a lone
# worker may move the process's, and goes back; with two, chdir is refused.
SKIP: {
    my $cc = `command -v cc 2>/dev/null`;
    skip 'no C compiler for the shim', 9 unless $cc;
    my $shim_dir = File::Temp::tempdir('lf-shim.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    spew("$shim_dir/nounshare.c", "#include <errno.h>\nint unshare(int f) { (void)f; errno = EPERM; return -1; }\n");
    system("cc -shared -fPIC -o $shim_dir/nounshare.so $shim_dir/nounshare.c") == 0 or die "cc failed";
    local $ENV{LD_PRELOAD} = "$shim_dir/nounshare.so";
    my $lone = LFTest->new(conf => { workers => 1 });
    $lone->script('where.lua', slurp("$www/where.lua"));
    $lone->script('stay.lua', slurp("$www1/stay.lua"));
    $lone->script('spin.lua', holding_script("$www1/b", "$www1/held", "$www1/go", 'req:puts("spun")'));
    # started by a relative config path, read again on HUP while the lone
    # worker has moved the process's directory
    {
        require Cwd;
        my $back = Cwd::getcwd();
        chdir $lone->dir or die "chdir: $!";
        no warnings 'redefine';
        local *LFTest::conf_path = sub { 'lf.conf' };
        $lone->start;
        chdir $back or die "chdir: $!";
    }
    is($lone->get('stay.lua')->{body}, "true $www1/b", 'unshare refused, one worker: lfs.chdir still moves it');
    is($lone->get('where.lua')->{body}, $lone->dir . ' no mark', 'and it is back for the next request');
    my $spin = LFTest::start_clients(1, sub { $lone->get('spin.lua')->{body} });
    ok(wait_for(sub { -e "$www1/held" }, 10), 'a request moved the process and holds');
    $lone->signal('HUP');
    ok($lone->wait_log(qr/reloaded \S*lf\.conf/), 'a HUP meanwhile reads the config (its path was made absolute)');
    spew("$www1/go", 'go');
    is((LFTest::wait_clients($spin, 15))[0], 'spun', 'the request ends');
    unlink "$www1/go", "$www1/held";
    $lone->stop;
    my $two = LFTest->new(conf => { workers => 2 });
    $two->script('try.lua', $try);
    $two->start;
    like($two->get('try.lua')->{body}, qr{^nil lfs\.chdir: refused: workers share one working directory},
         'unshare refused, two workers: lfs.chdir is refused');
    # (each worker says it as it starts: the one that did not answer may
    # not have said it yet)
    ok($two->wait_log(qr/worker 1 cannot have a working directory of its own \(unshare: Operation not permitted\)/),
       'worker 1 says why');
    ok($two->wait_log(qr/worker 2 cannot have a working directory of its own/), 'and so does worker 2')
        or diag $two->log;
    is($two->stop, 0, 'and it stops cleanly');
}

# A daemon started (as root, in the foreground) from a directory its user
# may not search: the workers could not come back, so chdir is refused.
SKIP: {
    skip 'needs root', 3 unless $> == 0;
    my $locked = File::Temp::tempdir('lf-locked.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0700, $locked;
    my $nobody = LFTest->new(conf => { workers => 1, user => 'nobody' });
    $nobody->script('try.lua', $try);
    {
        require Cwd;
        my $back = Cwd::getcwd();
        chdir $locked or die "chdir: $!";
        $nobody->start;
        chdir $back or die "chdir: $!";
    }
    like($nobody->get('try.lua')->{body}, qr{^nil lfs\.chdir: refused}, 'lfs.chdir is refused');
    like($nobody->log, qr/worker 1 cannot (?:open|return to) its working directory \(Permission denied\)/,
         'and the log says why');
    is($nobody->stop, 0, 'and it stops cleanly');
}

ok(LFTest::alive($t->pid), 'the daemon still runs');
$t->stop;
done_testing;
