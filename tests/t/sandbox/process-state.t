# Process-wide C state: no script sees another's os.date buffer, locale or
# random sequence, and none can close or replace the daemon's descriptors 0-2,
# open them again by another name, use up the process's descriptors or hand
# its files to the commands of another script.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(time);
use LFTest;

my $t = LFTest->new(conf => { workers => 4, timeout => 20 });

$t->script('date.lua', <<'LUA');
-- QUERY_STRING: "first step count"; one line per date
function main(env, req)
  local first, step, n = env.QUERY_STRING:match("^(%d+) (%d+) (%d+)$")
  first, step, n = tonumber(first), tonumber(step), tonumber(n)
  local out = {}
  for i = 0, n - 1 do out[#out + 1] = os.date("!%Y-%m-%d %H:%M:%S", first + i * step) end
  req:puts(table.concat(out, "\n"))
end
LUA
$t->script('locale.lua', <<'LUA');
function main(env, req)
  local out = {}
  for _, name in ipairs({ "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8", "C.UTF-8", "C.utf8", "" }) do
    for _, cat in ipairs({ "all", "numeric" }) do
      out[#out + 1] = tostring(os.setlocale(name, cat))
    end
  end
  req:puts(table.concat(out, " "))
end
LUA
$t->script('number.lua', <<'LUA');
function main(env, req)
  req:puts(tostring(1.5), " ", string.format("%.2f", 2.25), " ", tostring(tonumber("3.5")), " ",
           os.setlocale(), " ", os.setlocale(nil, "numeric"))
end
LUA
my $sequence = <<'LUA';
math.randomseed(7)
function main(env, req) req:puts(math.random(1e9)) end
LUA
$t->script('sequence.lua', $sequence);
$t->script('sequence2.lua', $sequence);
$t->script('reseed.lua', <<'LUA');
function main(env, req)
  math.randomseed(123)
  for i = 1, 10 do math.random() end
  req:puts("reseeded")
end
LUA
$t->script('stdio.lua', <<'LUA');
-- every way to the standard files; also swapping in the close function of
-- an ordinary file (debug.setfenv), which stock Lua would let fclose fd 1
function main(env, req)
  local out = {}
  local function try(f, ...)
    local ok, a, b = pcall(f, ...)
    out[#out + 1] = tostring(ok) .. ":" .. tostring(a) .. ":" .. tostring(b)
  end
  try(function() return io.stdout:close() end)
  try(function() return io.close() end)
  try(function() return io.stderr:close() end)
  try(function() return io.stdin:close() end)
  try(function() return io.output():close() end)
  try(function() return io.input():close() end)
  try(function() return io.write("from a script\n") end)
  try(function() return io.read() end)
  try(function() print("print from a script") end)
  local f = io.open("/dev/null")
  if debug and debug.setfenv and debug.getfenv then
    for _, std in ipairs({ "stdout", "stderr", "stdin" }) do
      try(function()
        local h = io[std]
        debug.setfenv(h, debug.getfenv(f))
        return h:close()
      end)
    end
  end
  f:close()
  req:puts(table.concat(out, "\n"))
end
LUA
$t->script('ok.lua', "function main(env, req) req:puts('fine') end\n");
$t->script('execute.lua', <<'LUA');
function main(env, req)
  local q = env.QUERY_STRING
  if q == "status" then
    req:puts(os.execute(), " ", os.execute("exit 3"), " ", tostring(io.popen), " ",
             os.execute("kill -TERM $$; exit 7"), " ", os.execute("kill -PIPE $$; exit 7"))
  else
    os.execute("touch " .. q .. "; sleep 1")
    req:puts("slept")
  end
end
LUA
$t->script('fdx.lua', <<'LUA');
-- opens /dev/null until it fails, keeping every file; then the other openers
held = held or {}
function main(env, req)
  local n, why = 0
  while n < 100000 do
    local f, err = io.open("/dev/null")
    if not f then why = err break end
    held[#held + 1] = f
    n = n + 1
  end
  local out = { n, why, tostring(io.tmpfile()),
                tostring(select(2, pcall(io.lines, "/dev/null"))),
                tostring(select(2, pcall(io.input, "/dev/null"))) }
  table.remove(held):close()
  local f = io.open("/dev/null")
  out[#out + 1] = io.type(f)
  f:close()
  req:puts(table.concat(out, "|"))
end
LUA
$t->script('linesx.lua', <<'LUA');
-- io.lines iterators kept unread hold their files
function main(env, req)
  local its, n, why = {}, 0
  while n < 1000 do
    local ok, it = pcall(io.lines, "/dev/null")
    if not ok then why = it break end
    its[#its + 1] = it
    n = n + 1
  end
  req:puts(n, " ", tostring(io.open("/dev/null")))
end
LUA
$t->script('forget.lua', <<'LUA');
-- files dropped without close: a collection closes them at the limit
function main(env, req)
  local n = 0
  for i = 1, 500 do
    if io.open("/dev/null") then n = n + 1 end
    for line in io.lines("/dev/null") do end
  end
  req:puts(n)
end
LUA
$t->script('children.lua', <<'LUA');
-- holds a file a dozen times (sh closes 3-9 by itself, so some must be
-- above), then lists the descriptors a command starts with
function main(env, req)
  local held_name, out = env.QUERY_STRING:match("^(%S+) (%S+)$")
  if not held then
    held = {}
    for i = 1, 12 do held[i] = assert(io.open(held_name)) end
  end
  os.execute("ls -l /proc/self/fd/ > " .. out .. " 2>&1")
  local f = assert(io.open(out))
  req:puts(f:read("*a"))
  f:close()
end
LUA
$t->script('stdnames.lua', <<'LUA');
-- the daemon's standard files by every name a script may try
function main(env, req)
  local out = {}
  local function try(what, f, ...)
    local ok, a, b = pcall(f, ...)
    out[#out + 1] = what .. "=" .. tostring(ok and a ~= nil and type(a) ~= "string") .. ":" .. tostring(a) .. ":" .. tostring(b)
  end
  for _, name in ipairs({ "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "/proc/thread-self/fd/0" }) do
    try("open " .. name, io.open, name)
    try("loadfile " .. name, loadfile, name)
    try("dofile " .. name, dofile, name)
    try("lines " .. name, io.lines, name)
    try("input " .. name, io.input, name)
  end
  for _, name in ipairs({ "/dev/stdout", "/dev/stderr", "/dev/fd/1", "/proc/self/fd/2" }) do
    try("write " .. name, io.open, name, "a")
    try("output " .. name, io.output, name)
  end
  try("io.write", io.write, "from a script\n")
  try("open /dev/null", io.open, "/dev/null", "w")
  req:puts(table.concat(out, "\n"))
end
LUA
$t->script('cmod.lua', <<'LUA');
-- QUERY_STRING: a package.cpath, then the module to require
function main(env, req)
  local cpath, name = env.QUERY_STRING:match("^(.*) (%S+)$")
  package.cpath = cpath
  local ok, m = pcall(require, name)
  req:puts(tostring(package.loadlib), " ", tostring(ok), " ", type(m) == "table" and tostring(m.answer) or tostring(m))
end
LUA
# The daemon's standard input: a file that would run if a script could load it.
LFTest::spew($t->dir . '/stdin.lua', "return 'read from the daemon stdin'\n");
open(STDIN, '<', $t->dir . '/stdin.lua') or die "stdin: $!";
# A descriptor the daemon inherits without close-on-exec.
{
    local $^F = 10_000;
    open(our $INHERITED, '>', $t->dir . '/inherited-by-daemon') or die "inherited: $!";
}
$t->start;

# ---- os.date from four workers at once -------------------------------------

my ($requests, $dates) = (40, 500);    # per client: 80,000 dates in all
my @results = LFTest::run_clients(4, 120, sub {
    my ($c) = @_;
    my ($good, $bad, $first_bad, $done) = (0, 0, '', 0);
    my $deadline = time + 100;
    for my $r (1 .. $requests) {
        last if time > $deadline;
        # each client and request its own span of time, 1970 to about 2090
        my $first = ($c * 7919 + $r * 104729) * 977 % 3_000_000_000;
        my $step = 86400 * ($c + 1) + 3600 * $r + 61;
        my $resp = $t->get('date.lua', QUERY_STRING => "$first $step $dates");
        my @got = split /\n/, $resp->{body}, -1;
        for my $i (0 .. $dates - 1) {
            my $want = POSIX::strftime('%Y-%m-%d %H:%M:%S', gmtime($first + $i * $step));
            if (defined $got[$i] && $got[$i] eq $want) { $good++ }
            else { $bad++; $first_bad ||= "t=" . ($first + $i * $step) . " got " . ($got[$i] // 'nothing') . " want $want" }
        }
        $done++;
    }
    return "$done $good $bad $first_bad";
});
my ($all_done, $all_good, $all_bad, @why) = (0, 0, 0);
for my $res (@results) {
    my ($done, $good, $bad, $first) = ($res // '0 0 1 client did not finish') =~ /^(\d+) (\d+) (\d+) ?(.*)$/;
    $all_done += $done; $all_good += $good; $all_bad += $bad;
    push @why, $first if $bad;
}
ok($all_done >= 4, "os.date under four concurrent clients: $all_done requests, $all_good dates");
is($all_bad, 0, 'every date is the one asked for') or diag(join("\n", @why));

# ---- the locale ------------------------------------------------------------

my $before = $t->get('number.lua')->{body};
like($before, qr/^1\.5 2\.25 3\.5 \S+ \S+$/, "numbers print with a point: $before");
my $asked = $t->get('locale.lua');
is($asked->{status}, 200, 'asking for other locales is answered');
is($asked->{body}, join(' ', ('nil') x 14), 'every change of locale answers nil');
is($t->get('number.lua')->{body}, $before, 'and no other script sees a changed locale');

# ---- math.random -----------------------------------------------------------

my @first = map { $t->get('sequence.lua')->{body} } 1 .. 2;
is($t->get('reseed.lua')->{body}, 'reseeded', 'another script seeds math.random');
push @first, $t->get('sequence.lua')->{body};
my @again = map { $t->get('sequence2.lua')->{body} } 1 .. 3;
like($first[0], qr/^\d+$/, 'math.random(1e9) answers a number');
is("@first", "@again", "a script's sequence does not move when another script seeds its own");

# ---- the standard descriptors ---------------------------------------------

my $pid = $t->pid;
my %fd_before = map { $_ => readlink("/proc/$pid/fd/$_") } 0 .. 2;
my $r = $t->get('stdio.lua');
is($r->{status}, 200, 'a script that tries to close the standard files is answered');
unlike($r->{body}, qr/^true:true/m, 'no close of a standard file succeeds') or diag($r->{body});
like($r->{body}, qr/standard (output )?file is closed/, 'io.write without a file: the standard output is closed');
for my $fd (0 .. 2) {
    is(readlink("/proc/$pid/fd/$fd"), $fd_before{$fd}, "descriptor $fd still points where it did");
}
my @served = grep { $t->get('ok.lua')->{body} eq 'fine' } 1 .. 8;
is(scalar @served, 8, 'the daemon keeps serving');
for my $fd (0 .. 2) {
    is(readlink("/proc/$pid/fd/$fd"), $fd_before{$fd}, "and descriptor $fd was not given to a socket");
}

# ---- package.loadlib, require of C modules ----------------------------------

# The process that runs scripts: the supervisor's child, or the daemon itself.
my $srv = LFTest::serving_pid($t, 5) // $pid;
my $umask_of = sub { (LFTest::slurp("/proc/$_[0]/status") =~ /^Umask:\s*(\d+)/m)[0] };
my $umask = $umask_of->($srv);
my ($libc) = LFTest::slurp("/proc/$$/maps") =~ m{(/\S*/libc\.so\.6)$}m;
SKIP: {
    skip 'no libc.so.6 in this process', 3 unless $libc;
    (my $libdir = $libc) =~ s{/[^/]+$}{};
    $r = $t->get('cmod.lua', QUERY_STRING => "$libdir/lib?.so.6 c");
    like($r->{body}, qr/^nil false .*luaopen_c/s, 'package.loadlib is nil; requiring "c" from the libc directory loads nothing')
        or diag($r->{body});
    is($umask_of->($srv), $umask, 'the umask is unchanged');
    ok(LFTest::alive($srv), 'the daemon runs on');
}
my $cflags = `pkg-config --cflags lua5.1 2>/dev/null` || `pkg-config --cflags luajit 2>/dev/null` || '';
chomp $cflags;
my $mdir = $t->dir . '/cmod';
mkdir $mdir;
LFTest::spew("$mdir/tiny.c", <<'C');
#include <lua.h>
int luaopen_tiny(lua_State *L) { lua_newtable(L); lua_pushinteger(L, 42); lua_setfield(L, -2, "answer"); return 1; }
C
SKIP: {
    skip 'cannot build a C module here', 1
        if system("cc -shared -fPIC $cflags -o $mdir/tiny.so $mdir/tiny.c >/dev/null 2>&1") != 0;
    like($t->get('cmod.lua', QUERY_STRING => "$mdir/?.so tiny")->{body}, qr/ true 42$/,
       'require of a C module through package.cpath still works');
}

# ---- descriptors: not handed to another script's commands -------------------

my $heldfile = $t->dir . '/held-file';
LFTest::spew($heldfile, "x\n");
my $listing = $t->get('children.lua', QUERY_STRING => "$heldfile " . $t->dir . '/children.out')->{body};
my @child_fds = sort { $a <=> $b } $listing =~ /\s(\d+) -> /g;
my @heldfds = grep { (readlink("/proc/$srv/fd/$_") // '') eq $heldfile } do { opendir(my $d, "/proc/$srv/fd"); readdir $d };
is(scalar @heldfds, 12, 'a script holds a file open a dozen times');
is(scalar(grep { !(oct((LFTest::slurp("/proc/$srv/fdinfo/$_") =~ /^flags:\s*(\d+)/m)[0] // 0) & 02000000) } @heldfds), 0,
   'each close-on-exec');
unlike($listing, qr/held-file/, "its command does not inherit them") or diag($listing);
unlike($listing, qr/inherited-by-daemon/, "nor a descriptor the daemon inherited") or diag($listing);
like($listing, qr{ 0 -> /dev/null$}m, 'its standard input is /dev/null, not the daemon\'s') or diag($listing);
ok(@child_fds == 4 && "@child_fds" eq '0 1 2 3',
   "a command starts with descriptors 0-2 only (and the one ls reads): @child_fds") or diag($listing);

# ---- the standard files by other names ---------------------------------------

my $errlen = -s $t->dir . '/stderr.log';
$r = $t->get('stdnames.lua');
is($r->{status}, 200, 'a script naming the standard files is answered');
unlike($r->{body}, qr/^(?!open \/dev\/null=).*=true/m, 'no name opens or loads a standard file') or diag($r->{body});
unlike($r->{body}, qr/closed file/, 'io.input and io.output say why, not that a file is closed') or diag($r->{body});
unlike($r->{body}, qr/read from the daemon stdin/, 'nothing runs from the daemon stdin');
like($r->{body}, qr/open \/dev\/stdin=false:nil:\/dev\/stdin: the daemon's standard files/, 'io.open explains why');
like($r->{body}, qr/^open \/dev\/null=true/m, '/dev/null still opens') or diag($r->{body});
unlike(LFTest::slurp($t->dir . '/stderr.log'), qr/from a script/, 'nothing was written to standard error');
ok((-s $t->dir . '/stderr.log') >= $errlen, 'and it was not truncated');

# ---- descriptors: bounded per state ------------------------------------------

my $fds = sub { opendir(my $d, "/proc/$srv/fd") or return -1; my $n = grep { /^\d+$/ } readdir $d; $n };
my $fd_start = $fds->();
$r = $t->get('fdx.lua');
is($r->{status}, 200, 'a script opening files until it fails is answered');
my ($opened, $why, $tmp, $lines, $input, $again) = split /\|/, $r->{body};
is($opened, 64, 'it opens 64 files') or diag($r->{body});
is($why, '/dev/null: Too many open files', 'then io.open answers as the C library would');
is($tmp, 'nil', 'io.tmpfile answers nil at the limit');
like($lines, qr/Too many open files/, 'io.lines with a name raises at the limit');
like($input, qr/Too many open files/, 'io.input with a name raises at the limit');
is($again, 'file', 'a file closed leaves room for another');
$r = $t->get('fdx.lua');
like($r->{body}, qr/^1\|\/dev\/null: Too many open files/, 'the files held stay counted: 63 held, one more opens')
    or diag($r->{body});
is($t->get('ok.lua')->{status}, 200, 'and every other script is served');
my $fd_held = $fds->();
ok($fd_held - $fd_start <= 64 + 4, "the daemon holds $fd_held descriptors, $fd_start before");
is($t->get('forget.lua')->{body}, '500', 'files dropped without close are collected at the limit');
is($t->get('linesx.lua')->{body}, '64 nil', 'io.lines iterators kept unread count as open files');

# ---- commands ----------------------------------------------------------------

$r = $t->get('execute.lua', QUERY_STRING => 'status');
like($r->{body}, qr/^1 768 nil /, 'os.execute answers as in Lua 5.1; io.popen is gone') or diag($r->{body});
like($r->{body}, qr/ 15 \d+$/, "a command does not inherit the worker's blocked signals (TERM reaches it)");
like($r->{body}, qr/ 13$/, "nor the daemon's ignored SIGPIPE");
# system() has the whole process ignore INT and QUIT while the command runs
my $mark = $t->dir . '/started';
my $client = LFTest::start_clients(1, sub { $t->get('execute.lua', QUERY_STRING => $mark)->{body} });
ok(LFTest::wait_for(sub { -e $mark }, 10), 'a script runs a command');
$t->signal('INT');
ok(LFTest::wait_for(sub { !LFTest::alive($pid) }, 10), 'INT sent while it runs stops the daemon');
is((LFTest::wait_clients($client, 15))[0], 'slept', 'after the request in flight is answered');
is($t->stop, 0, 'and it exits 0');
done_testing();
