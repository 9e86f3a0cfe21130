# A state's close runs C code (the __gc of a module's userdata), which
# may block: no worker waits for it, whether it closes the state it ran
# over timeout in or a state it evicts to make room; the close is watched
# and written off at terminate_timeout like a run, and a stop does not
# wait for it past that. The module is tests/lib/evil.c.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for);
use LFEvil;

# ---- a state dropped after a timeout --------------------------------------

{
    my $t = LFEvil::daemon(workers => 3, max_written_off => 3);
    LFEvil::gc_script($t, 'gct.lua', 600, 'while true do end');
    $t->start;
    my $serving = LFTest::serving_pid($t);
    # both workers' states time out; each close blocks in its __gc
    my @codes = map { $_ // 0 } LFTest::run_clients(2, 30, sub { $t->get('gct.lua')->{status} });
    is("@codes", '500 500', 'two requests over timeout get their 500');
    my $t0 = time;
    my @good = map { $_ // '' } LFTest::run_clients(2, 30, sub { LFEvil::good($t, 5)->{body} });
    is("@good", 'good good', 'the states they ran in block when closed: both workers serve on at once')
        or diag($t->log);
    ok(time - $t0 < 2.5, 'without waiting for the closes');
    ok($t->wait_log(qr{state closer 1: closing a state of \S+/gct\.lua ran [\d.]+ s, past terminate_timeout \(3 s\), stuck in a C function \(a finalizer, __gc\): written off; a new closer took its place}, 10),
       'the close stuck past terminate_timeout is written off, naming the script');
    ok($t->wait_log(qr{state closer 2: closing a state of \S+/gct\.lua ran}, 10),
       'so is the next one, by the closer that took its place');
    is(LFEvil::good($t)->{body}, 'good', 'the daemon serves on');
    is(LFTest::serving_pid($t), $serving, 'below max_written_off the serving process stays');
    $t0 = time;
    is($t->stop, 0, 'TERM stops it cleanly');
    ok(time - $t0 < 8, 'without waiting for the closers still stuck');
}

# ---- a state evicted to make room ------------------------------------------

{
    my $t = LFEvil::daemon(states => 2);
    LFEvil::gc_script($t, 'a.lua', 600, "req:puts('a')");
    $t->script("$_.lua", "function main(env, req) req:puts('$_') end\n") for qw(b c d);
    $t->start;
    is($t->get('a.lua')->{body}, 'a', 'a script whose state blocks when closed');
    my $t0 = time;
    my @bodies = map { $t->fcgi({ SCRIPT_FILENAME => $t->www . "/$_.lua", REQUEST_METHOD => 'GET',
                                  QUERY_STRING => '' }, undef, timeout => 10)->{body} } qw(b c d);
    is("@bodies", 'b c d', 'requests for other scripts that evict its state (states full) are answered');
    ok(time - $t0 < 3, 'at once');
    # a stop while that close still blocks: it is cut at terminate_timeout
    $t0 = time;
    is($t->stop, 0, 'TERM while the close blocks stops the daemon');
    ok(time - $t0 < 9, sprintf('within terminate_timeout and a margin (%.1f s)', time - $t0));
}

done_testing;
