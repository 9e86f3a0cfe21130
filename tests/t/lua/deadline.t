# timeout holds at the deadline whatever the script's mix of instructions:
# slow C calls after fast Lua code (s:upper() on megabytes, table.concat),
# in the main chunk, in coroutines (resumed, wrapped, nested), in light
# threads, in a timer's callback, while the script loads. The count hook
# looks at the clock only every 1000 instructions once they are fast:
# 1000 slow calls later was seconds late, tens of them on a loaded machine.
#
# Each run is measured against its own deadline (the access log's
# duration, from the request's start), not against the wall time of the
# test. The bound is $LATE_MAX (the watchdog's wake-up and the 500 page on
# a busy machine) plus the C call running at the deadline, which must end
# first: three times the longest such call measured just before (a loaded
# machine makes one call take 100 times as long as on an idle one).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp);

my $TIMEOUT = 1;
my $LATE_MAX = 0.5;

my $t = LFTest->new(conf => {
    workers => 2, timeout => $TIMEOUT, memory => 256 * 1024 * 1024,
    access_format => '%q %{micro}d %s', shared => \'{ d = "1m" }',
});
$t->write_conf(access_log => $t->dir . '/access.log');

# 0.95 s of fast instructions first (the hook then looks every 1000 of
# them), then one slow C call every few instructions, past the deadline.
my $common = <<'LUA';
local function warm(s) local t0 = ngx.now() repeat ngx.update_time() until ngx.now() - t0 >= s end
local big = ("x"):rep(6e6)
local function upper() for i = 1, 1e9 do local u = big:upper() end end
LUA
$t->script('late.lua', $common . <<'LUA');
local parts = {} for i = 1, 16000 do parts[i] = ("y"):rep(1000) end
local concat = table.concat
local calls = { upper = function() return big:upper() end, concat = function() return concat(parts) end }
local attacks = {
  upper = function() warm(0.95) for i = 1, 1e9 do local u = big:upper() end end,
  upper_local = function() warm(0.95) upper() end,
  concat = function() warm(0.95) for i = 1, 1e9 do local c = concat(parts) end end,
  coroutine = function()
    local co = coroutine.create(function() warm(0.95) upper() end)
    coroutine.resume(co)
  end,
  wrap = function() coroutine.wrap(function() warm(0.95) upper() end)() end,
  nested = function()
    local inner = coroutine.wrap(function() warm(0.85) upper() end)
    coroutine.wrap(function() warm(0.1) inner() end)()
  end,
  thread = function() ngx.thread.wait(ngx.thread.spawn(function() warm(0.95) upper() end)) end,
  timer = function()
    ngx.timer.at(0, function()
      ngx.update_time()
      ngx.shared.d:set("timer", ngx.now())
      warm(0.95) upper()
    end)
  end,
}
function main(env, req)
  local q = env.QUERY_STRING
  local call = calls[q:match("^cal_(.*)") or ""]
  if call then
    -- the longest of the calls made in 0.3 s, as the machine is now
    local longest, t0 = 0, ngx.now()
    repeat
      ngx.update_time() local a = ngx.now()
      call()
      ngx.update_time() longest = math.max(longest, ngx.now() - a)
    until ngx.now() - t0 >= 0.3
    return req:puts(longest)
  end
  if attacks[q] then attacks[q]() end
  req:puts("ok")
end
LUA
$t->script('load.lua', $common . 'warm(0.95) upper()' . "\nfunction main(env, req) end\n");
$t->script('began.lua', 'ngx.say(ngx.shared.d:get("timer"))');
$t->start;

# The access log's duration for the request with query Q, in s.
sub duration_of {
    my ($q) = @_;
    my $us;
    wait_for(sub { ($us) = slurp($t->dir . '/access.log') =~ /^\Q$q\E (\d+) \d+$/m; defined $us }, 30);
    return defined $us ? $us / 1e6 : undef;
}

# The longest single CALL ('upper', 'concat') now; the state is loaded.
sub longest_call {
    my ($call) = @_;
    my ($s) = $t->get('late.lua', QUERY_STRING => "cal_$call")->{body} =~ /^([\d.e-]+)$/;
    return $s // 1;
}

sub within_bound {
    my ($how, $took, $call) = @_;
    my $bound = $LATE_MAX + 3 * $call;
    ok(defined $took && $took - $TIMEOUT < $bound,
       sprintf("$how: stopped %s after its deadline (bound %.3f s: a call takes up to %.3f s now)",
               defined $took ? sprintf('%.3f s', $took - $TIMEOUT) : 'not at all 30 s', $bound, $call));
    ok(defined $took && $took >= $TIMEOUT - 0.01, "$how: not before it");
}

for my $how (qw(upper upper_local concat coroutine wrap nested thread)) {
    # the state the timeout closed loads again first: its load is not timed
    my $call = longest_call($how eq 'concat' ? 'concat' : 'upper');
    my $r = $t->get('late.lua', QUERY_STRING => $how);
    is($r->{status}, 500, "$how: a 500");
    like($r->{body}, qr/timeout/, "$how: for the timeout");
    within_bound($how, duration_of($how), $call);
}

{
    my $call = longest_call('upper');
    my $r = $t->get('load.lua', QUERY_STRING => 'load');
    is($r->{status}, 500, 'a load: a 500');
    like($r->{body}, qr/timeout/, 'a load: for the timeout');
    within_bound('a load', duration_of('load'), $call);
}

# A timer's callback: from its start (it says when) to the log's line,
# seen within 20 ms of its writing.
{
    my $call = longest_call('upper');
    is($t->get('late.lua', QUERY_STRING => 'timer')->{body}, 'ok', 'a timer is scheduled');
    my $ended;
    ok(wait_for(sub { $ended = time if $t->log =~ /late\.lua: the callback failed: timeout/; $ended }, 60),
       'the timer is ended by the timeout');
    my ($began) = $t->get('began.lua')->{body} =~ /^([\d.]+)/;
    within_bound('a timer', defined $began && $ended ? $ended - $began : undef, $call);
}

is($t->stop, 0, 'stop');
done_testing;
