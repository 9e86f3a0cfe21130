# A state that leaves the pool while its timers wait (a full pool, its
# script changed, maxrequests) runs them at once, premature, as on a HUP,
# and closes after them: an `every` timer does not keep it for ever, nor
# one more state with each request that loads the script anew.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for);

my $t = LFTest->new(conf => { workers => 1, states => 4, timeout => 2, shared => \'{ t = "1m" }' });
# five scripts, one state each at most, each state with one every-timer
my $every = <<'LUA';
if not started then
  started = true
  ngx.shared.t:incr("started", 1, 0)
  ngx.timer.every(60, function(premature)
    ngx.shared.t:incr(premature and "premature" or "due", 1, 0)
  end)
end
ngx.say(ngx.timer.pending_count())
LUA
$t->script("e$_.lua", $every) for 1 .. 5;
$t->script('premature.lua', <<'LUA');
local t = ngx.shared.t
ngx.say(t:get("started") or 0, " ", t:get("premature") or 0, " ", t:get("due") or 0)
LUA
$t->start;

$t->get('e' . (1 + $_ % 5) . '.lua') for 1 .. 20;
my $pending;
ok(wait_for(sub { ($pending) = $t->get('e1.lua')->{body} =~ /^(\d+)/; defined $pending && $pending <= 4 }, 10),
   'five scripts with an every-timer in each state, states = 4, after 20 requests: at most 4 timers '
   . 'wait, one a state kept (' . ($pending // 'none') . ')');
my ($started, $premature, $due) = (0, 0, 0);
ok(wait_for(sub { ($started, $premature, $due) = $t->get('premature.lua')->{body} =~ /^(\d+) (\d+) (\d+)/;
                  defined $premature && $premature > 0 && $started - $premature <= 4 }, 10),
   "the timers of the states that left ran, premature: $premature of $started");
is($due, 0, 'and none came due (every 60 s)');
unlike($t->log, qr/timers of a closed state dropped/, 'none was dropped');
ok(LFTest::alive($t->pid), 'the daemon serves on');
$t->stop;
done_testing;
