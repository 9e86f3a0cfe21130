# A timer that is due gets its state when the request holding it gives it
# back, before requests to its script that wait for it too: with one state
# a script (clones = 1) each release went to whichever thread woke first,
# and a stream of requests could keep a timer from its state for good.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for);

my $t = LFTest->new(conf => { workers => 5, clones => 1, timeout => 10, shared => \'{ t = "1m" }' });
# ?hold=R: schedules a timer, and holds the state till the timer has a
# thread (it then waits for this state) and a second longer, so that the
# other requests queue for the state too; ?see=R: has the timer run?
$t->script('s.lua', <<'LUA');
local t, r = ngx.shared.t, ngx.var.arg_hold or ngx.var.arg_see
if ngx.var.arg_hold then
  ngx.timer.at(0, function() t:set("ran" .. r, 1) end)
  t:set("armed" .. r, 1)
  for _ = 1, 400 do
    if ngx.timer.running_count() > 0 then break end
    ngx.sleep(0.005)
  end
  ngx.sleep(1)
  ngx.say("held")
  return
end
ngx.say(tostring(t:get("ran" .. r)))
LUA
$t->script('probe.lua', qq{ngx.say(tostring(ngx.shared.t:get("armed" .. ngx.var.arg_r)))\n});
$t->start;

for my $round (1 .. 3) {
    my $holder = LFTest::start_clients(1, sub { $t->get('s.lua', QUERY_STRING => "hold=$round")->{body} });
    ok(wait_for(sub { $t->get('probe.lua', QUERY_STRING => "r=$round")->{body} eq "1\n" }, 10),
       "round $round: the request that schedules the timer holds its state");
    my $others = LFTest::start_clients(3, sub { $t->get('s.lua', QUERY_STRING => "see=$round")->{body} });
    is_deeply([LFTest::wait_clients($holder, 20)], ["held\n"], "round $round: it ends");
    is_deeply([LFTest::wait_clients($others, 20)], ["1\n", "1\n", "1\n"],
              "round $round: the three requests queued for the state ran after the timer");
}
done_testing;
