# The housekeeper runs no script's or module's code: a state it drops
# (idle past maxidle) and the states a HUP flushes are closed by the
# pool's closer, so a finalizer (__gc) that blocks in C stops neither the
# watch that writes off stuck requests nor the signal loop. The module is
# tests/lib/evil.c.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for);
use LFEvil;

# ---- maxidle ---------------------------------------------------------------

{
    my $t = LFEvil::daemon(maxidle => 1, max_written_off => 2);
    LFEvil::gc_script($t, 'gc.lua', 600, "req:puts('gc')");
    $t->start;
    is($t->get('gc.lua')->{body}, 'gc', 'a script whose state blocks when closed');
    ok($t->wait_log(qr{state closer 1: closing a state of \S+/gc\.lua ran [\d.]+ s, past terminate_timeout}, 10),
       'idle past maxidle, its state is dropped; its close blocks, and is written off');
    my $t0 = time;
    my $r = LFEvil::run($t, 'evil.sleep(15) req:puts("back")');
    my $took = time - $t0;
    is($r->{status}, 500, 'a request stuck in C is still written off: the watch goes on');
    ok($took < 8, sprintf('at terminate_timeout (%.1f s)', $took));
    is(LFEvil::good($t)->{body}, 'good', 'and the daemon serves on');
    $t->stop;
}

# ---- HUP -------------------------------------------------------------------

{
    my $t = LFEvil::daemon(workers => 2);
    LFEvil::gc_script($t, 'gc.lua', 600, "req:puts('gc')");
    $t->start;
    is($t->get('gc.lua')->{body}, 'gc', 'a script whose state blocks when closed');
    $t->signal('HUP');
    ok($t->wait_log(qr/reloaded .*every state reloads/, 5), 'HUP flushes its state');
    my $t0 = time;
    $t->signal('USR1');
    ok($t->wait_log(qr/log reopened/, 3), 'signals are taken while its close blocks');
    is(LFEvil::good($t)->{body}, 'good', 'requests are served');
    is($t->get('gc.lua')->{body}, 'gc', 'the script reloads');
    $t->signal('HUP');
    ok($t->wait_log(qr/reloaded .*(?:\n.*)*reloaded /, 5), 'a second HUP is taken too');
    $t0 = time;
    is($t->stop, 0, 'TERM stops the daemon');
    ok(time - $t0 < 9, sprintf('within terminate_timeout and a margin (%.1f s)', time - $t0));
}

done_testing;
