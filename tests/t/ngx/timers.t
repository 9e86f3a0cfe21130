# ngx.timer: callbacks run in the state that scheduled them, on threads
# of their own, under the request limits, within timer_max_pending and
# timer_max_running, seen on the status page and in the slow log; on
# HUP and TERM pending ones run premature. Hostile timers (a million, one
# that reschedules itself forever, one that never returns) end within the
# limits and the daemon serves on.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for slurp);

my $t = LFTest->new(conf => {
    workers => 2, states => 3, clones => 1, timeout => 2, timer_max_pending => 50,
    timer_max_running => 4, status_path => '/status', slowtime => 1, sweep => 100,
    shared => \'{ t = "1m" }',
});
$t->write_conf(slowlog => $t->dir . '/slow.log');
# the callbacks' traces, read back through a request
$t->script('read.lua', <<'LUA');
local t, keys = ngx.shared.t, {}
for _, k in ipairs(t:get_keys(0)) do keys[#keys + 1] = k .. "=" .. tostring(t:get(k)) end
table.sort(keys)
ngx.say(table.concat(keys, "\n"))
LUA
$t->script('at.lua', <<'LUA');
count = (count or 0) + 1
function main(env, req)
  local ok, err = ngx.timer.at(0, function(premature, a, b)
    local t = ngx.shared.t
    t:set("at", table.concat({ tostring(premature), a, b, count, ngx.get_phase() }, ","))
    t:set("say", select(2, pcall(ngx.say, "x")))
    t:set("var", select(2, pcall(function() return ngx.var.uri end)))
    ngx.ctx.mine = 1
    t:set("ctx", ngx.ctx.mine)
  end, "one", 2)
  req:puts(tostring(ok), " ", tostring(err), " ", tostring(ngx.timer.pending_count() >= 0))
end
LUA
$t->script('every.lua', <<'LUA');
ngx.shared.t:set("every", 0)
local ok, err = ngx.timer.every(0.05, function(premature)
  ngx.shared.t:incr("every", 1)
  if premature then ngx.shared.t:set("every_premature", true) end
end)
ngx.say(ok, " ", err)
LUA
$t->script('many.lua', <<'LUA');
local made, refused, why = 0, 0
for i = 1, 1000000 do
  local ok, err = ngx.timer.at(3600, function() end)
  if ok then made = made + 1 else refused = refused + 1 why = err end
end
ngx.say(made, " ", refused, " ", why, " ", ngx.timer.pending_count())
LUA
$t->script('forever.lua', <<'LUA');
local function again(premature)
  local t = ngx.shared.t
  t:incr("forever", 1, 0)
  if premature then
    t:set("forever_premature", true)
    t:set("forever_again", select(2, ngx.timer.at(0, again)))
    return
  end
  ngx.timer.at(0, again)
end
ngx.say(ngx.timer.at(0, again))
LUA
$t->script('spin.lua', <<'LUA');
ngx.timer.at(0, function() ngx.shared.t:set("spin", "started") while true do end end)
ngx.say("scheduled")
LUA
$t->script('slow.lua', <<'LUA');
ngx.timer.at(0, function()
  local t0 = ngx.now()
  repeat ngx.update_time() until ngx.now() - t0 > 1.6
  ngx.shared.t:set("slow", "done")
end)
ngx.say("scheduled")
LUA
$t->script('pinned.lua', <<'LUA');
marker = marker or ("state " .. tostring({}))
ngx.timer.at(1.5, function() ngx.shared.t:set("pinned", marker) end)
ngx.say(marker)
LUA
$t->script('far.lua', <<'LUA');
local t = ngx.shared.t
for _, d in ipairs({ { "1e300", 1e300 }, { "inf", 1 / 0 }, { "nan", 0 / 0 }, { "1e16", 1e16 } }) do
  assert(ngx.timer.at(d[2], function(premature) t:set("far " .. d[1], tostring(premature)) end) == 1)
end
assert(ngx.timer.every(1 / 0, function(premature) t:set("far every", tostring(premature)) end) == 1)
ngx.timer.at(0.2, function() t:set("near", "fired") end)
ngx.say("scheduled")
LUA
$t->script('count.lua', qq{ngx.say(ngx.timer.pending_count(), " ", ngx.timer.running_count())\n});
$t->script('other1.lua', qq{ngx.say("1")\n});
$t->script('other2.lua', qq{ngx.say("2")\n});
$t->script('other3.lua', qq{ngx.say("3")\n});
$t->script('later.lua', <<'LUA');
ngx.timer.at(30, function(premature) ngx.shared.t:set("later", tostring(premature)) end)
ngx.say("scheduled")
LUA
$t->start;

sub traces { return $t->get('read.lua')->{body} }
sub trace { my ($k) = @_; my ($v) = traces() =~ /^\Q$k\E=(.*)$/m; return $v }

is($t->get('at.lua')->{body}, '1 nil true', 'ngx.timer.at: 1, as OpenResty answers');
# ctx is the callback's last trace: once it is there, so are the others
ok(wait_for(sub { defined trace('ctx') }, 10), 'the callback runs');
is(trace('at'), 'false,one,2,1,timer', 'with premature false and its arguments, in its state (its globals), '
   . 'in the timer phase');
like(trace('say'), qr/API disabled in the context of ngx\.timer/, 'ngx.say in a callback: OpenResty\'s error');
like(trace('var'), qr/API disabled in the current context/, 'and ngx.var, as ngx_lua refuses a fake request\'s variable');
is(trace('ctx'), 1, 'ngx.ctx is the timer\'s own');

is($t->get('every.lua')->{body}, "1 nil\n", 'ngx.timer.every: 1');
ok(wait_for(sub { (trace('every') // 0) >= 3 }, 10), 'its callback runs again and again');

is($t->get('forever.lua')->{body}, "1\n", 'a timer that reschedules itself forever');
ok(wait_for(sub { (trace('forever') // 0) > 20 }, 10), 'runs again and again');
is($t->get('other1.lua')->{body}, "1\n", 'while the daemon serves');

is($t->get('spin.lua')->{body}, "scheduled\n", 'a callback that never returns');
ok($t->wait_log(qr/timer \d+: \S+spin\.lua: the callback failed: timeout/, 10),
   'is ended at the timeout, and logged');
is($t->get('other2.lua')->{body}, "2\n", 'and the daemon serves on');

is($t->get('slow.lua')->{body}, "scheduled\n", 'a slow callback');
ok(wait_for(sub { slurp($t->dir . '/slow.log') =~ /slow\.lua/ }, 10), 'is in the slow log');
my $status = $t->get('status', SCRIPT_NAME => '/status', SCRIPT_FILENAME => undef)->{body};
like($status, qr/timers pending:\s+\d+/, 'the status page counts timers pending');
like($status, qr/timers running:\s+\d+/, 'and running');

my $marker = $t->get('pinned.lua')->{body};
chomp $marker;
$t->get("other$_.lua") for 1 .. 3;     # three more scripts, states = 3: evictions
ok(wait_for(sub { defined trace('pinned') }, 10), 'a timer outlives the pressure on the pool');
is(trace('pinned'), $marker, 'and runs in the very state that scheduled it, never evicted meanwhile');

is($t->get('far.lua')->{body}, "scheduled\n", 'timers at 1e300 s, inf, NaN, 1e16 s, and every inf');
ok(wait_for(sub { defined trace('near') }, 10), 'a timer due in 0.2 s scheduled after them runs');
# (their state may leave a full pool meanwhile, and they run premature then)
unlike(traces(), qr/^far .*=false$/m, 'none of them has come due: no delay comes round to zero');
is($t->get('later.lua')->{body}, "scheduled\n", 'a timer due in 30 s');
my $r = $t->get('many.lua');
if ($r->{status} == 200) {
    like($r->{body}, qr/^\d+ \d+ too many pending timers \d+$/, 'a million timers: timer_max_pending are '
         . 'taken, the rest refused as OpenResty refuses them');
} else {
    like($r->{body}, qr/timeout/, 'a million timers: the request ran out of time first');
}
my ($pending) = $t->get('count.lua')->{body} =~ /^(\d+)/;
cmp_ok($pending, '<=', 50 + 4, 'no more than timer_max_pending wait (and those rescheduling)');
$t->signal('HUP');
ok(wait_for(sub { defined trace('later') }, 10), 'HUP runs it now');
is(trace('later'), 'true', 'premature');
ok(wait_for(sub { (() = traces() =~ /^far .*=true$/mg) == 5 }, 10), 'and those that never come, premature too')
    or diag traces();
ok(wait_for(sub { ($t->get('count.lua')->{body} =~ /^(\d+)/)[0] < 10 }, 10),
   'and the timers pending went with it');

is($t->get('other3.lua')->{body}, "3\n", 'the daemon serves on');
is($t->stop, 0, 'TERM stops the daemon with timers pending and one rescheduling itself forever');
like($t->log, qr/stopped/, 'within the stop\'s bound');
done_testing;
