# Each worker has its own working directory: lfs.chdir (CGILua calls it
# around every page) moves only the worker that calls it, and only until
# its request ends. Before, one page's chdir moved every worker, so a
# page opened by a relative name could be another directory's.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use LFTest qw(wait_for spew slurp);

plan skip_all => 'lua-filesystem is not installed'
    unless grep { -f "$_/lfs.so" } qw(/usr/lib/x86_64-linux-gnu/lua/5.1 /usr/local/lib/lua/5.1),
                                   glob('/usr/lib/*/lua/5.1');
plan skip_all => 'a working directory per thread is Linux only' unless $^O eq 'linux';

my $t = LFTest->new(conf => { workers => 2, timeout => 20 });
my $www = $t->www;
for my $d (qw(a b)) {
    mkdir "$www/$d" or die "mkdir: $!";
    spew("$www/$d/mark", "dir $d");
}
my $go = "$www/go";
my $held = "$www/held";
$t->script('where.lua', <<~'LUA');
local lfs = require "lfs"
function main(env, req)
  local f = io.open("mark")
  req:puts(lfs.currentdir(), " ", f and f:read("*a") or "no mark")
  if f then f:close() end
end
LUA
# moves to a/, says so, and waits (bounded) until the test lets it go
$t->script('hold.lua', <<~"LUA");
local lfs = require "lfs"
function main(env, req)
  local ok, err = lfs.chdir("$www/a")
  local f = io.open("$held", "w") f:write("held") f:close()
  local deadline = os.time() + 10
  while os.time() < deadline do
    local g = io.open("$go")
    if g then g:close() break end
  end
  local m = io.open("mark")
  req:puts(tostring(ok), " ", tostring(err), " ", lfs.currentdir(), " ", m and m:read("*a") or "no mark")
  if m then m:close() end
end
LUA
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

# 2. a directory left changed does not outlast its request
is($t->get('stay.lua')->{body}, "true $www/b", 'a script may leave its worker elsewhere');
for my $i (1 .. 4) {
    is($t->get('where.lua')->{body}, $home, "the next request ($i) starts where the worker started");
}

# 3. pages in two directories, opened by the same relative name, at once:
# each request reads its own directory's file
$t->script('both.lua', <<~'LUA');
local lfs = require "lfs"
function main(env, req)
  local want = env.QUERY_STRING
  assert(lfs.chdir(env.DOCUMENT_ROOT .. "/" .. want))
  for _ = 1, 50 do
    local f = assert(io.open("mark"))
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
like($r, qr{^nil lfs\.chdir: the working directory is shared by every worker here \Q$home_dir\E$},
     'a preloaded script cannot move the whole daemon');
$p->stop;

ok(LFTest::alive($t->pid), 'the daemon still runs');
$t->stop;
done_testing;
