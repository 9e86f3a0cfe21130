# A light thread that waits for one of its children while another of its
# children has ended (and is not waited for) sleeps until the one it waits
# for ends: it is not resumed again and again meanwhile, spinning the
# worker's CPU for as long as the wait lasts.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(slurp);

my $t = LFTest->new(conf => { workers => 1, timeout => 5 });
$t->script('spin.lua', <<'LUA');
local P = ngx.thread.spawn(function()
  local A = ngx.thread.spawn(function() return "a" end)      -- ends at once, never waited for
  local B = ngx.thread.spawn(function() ngx.sleep(1) return "b" end)
  return ngx.thread.wait(B)
end)
ngx.say(ngx.thread.wait(P))
LUA
$t->start;
my $pid = LFTest::serving_pid($t);
sub cpu { my @f = split ' ', slurp("/proc/$pid/stat"); return ($f[13] + $f[14]) / 100 }

my ($c0, $t0) = (cpu(), time);
is($t->get('spin.lua')->{body}, "truetrueb\n", 'the wait ends with the thread waited for');
my ($cpu, $wall) = (cpu() - $c0, time - $t0);
ok($wall >= 0.9, sprintf('after its 1 s sleep (%.2f s)', $wall));
ok($cpu < 0.15, sprintf('the serving process used %.2f s of CPU meanwhile (at most 0.15)', $cpu));
$t->stop;
done_testing;
