# Process-wide C state: no script sees another's os.date buffer, locale or
# random sequence, and none can close or replace the daemon's descriptors 0-2.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
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
