# Every road by which a C module can copy the serving process is closed:
# _Fork() (no atfork handlers) and daemon() are refused as fork() is; a
# copy made by the fork system call itself, which no library function
# sees, ends before it answers or accepts anything in the serving
# process's name; and a serving process that exits 0 though no signal
# stopped it (a module's _exit()) is a death, reported as one. The module
# is tests/lib/evil.c.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for alive);
use LFEvil;

# The pids that answer N requests, "pid xN" each.
sub answered_by {
    my ($t, $n) = @_;
    my %pids;
    $pids{ LFEvil::run($t, 'req:puts(evil.getpid())', timeout => 5)->{body} }++ for 1 .. $n;
    return join(' ', map { "$_ x$pids{$_}" } sort keys %pids);
}
# The live children of PID (a zombie is not one).
sub children { my ($pid) = @_; return grep { /^\d+$/ && alive($_) } split /\n/, `pgrep -P $pid` }

my $t = LFEvil::daemon(workers => 2, timeout => 10, terminate_timeout => 15);
$t->start;
my $serving = LFTest::serving_pid($t);

# ---- refused ----------------------------------------------------------------

my $r = LFEvil::run($t, 'local p, e = evil._Fork() req:puts(p == 0 and "child" or tostring(p) .. " " .. tostring(e))');
SKIP: {
    skip 'no _Fork in this C library', 2 if $r->{body} =~ /no _Fork/;
    is($r->{body}, 'nil Operation not permitted', '_Fork() (POSIX.1-2024, no atfork handlers) is refused with EPERM');
    like($t->log, qr/_Fork\(\) refused in the serving process/, 'and logged');
}
$r = LFEvil::run($t, 'local p, e = evil.daemon() req:puts(tostring(p) .. " " .. tostring(e))');
is($r->{body}, 'nil Operation not permitted', 'daemon() is refused with EPERM');
is(LFTest::serving_pid($t), $serving, 'the serving process is the same');
is(answered_by($t, 20), "$serving x20", 'and it alone answers');
is(scalar(children($serving)), 0, 'no copy of it is left');

# ---- the system call itself -------------------------------------------------

$r = LFEvil::run($t, 'local p = evil.sysfork() if p == 0 then req:puts("child") return end req:puts("parent")');
is($r->{body}, 'parent', 'fork by the system call: the copy back in the script never answers');
is(answered_by($t, 40), "$serving x40", 'nor takes a request: the serving process alone answers');
ok(wait_for(sub { children($serving) == 0 }, 5), 'the copy has ended');
$r = LFEvil::run($t, 'local p = evil.sysfork() if p == 0 then req:puts("child") req:flush() '
                   . 'while true do end end req:puts("parent")');
is($r->{body}, 'parent', 'a copy that writes to the client first ends at that write');
ok(wait_for(sub { children($serving) == 0 }, 5), 'and is gone');

# ---- exit() ------------------------------------------------------------------

my $gone = LFEvil::run($t, 'evil._exit(0)', timeout => 5);
ok($t->wait_log(qr/serving process $serving exited with status 0 though no signal stopped it: a C module ended it; a death/, 10),
   'a serving process that exits 0 unasked is a death');
like($t->log, qr/worker \d was running \S+\/run\.lua/, 'and the scripts it ran are named');
my $next = LFTest::serving_pid($t);
ok($next && $next != $serving, 'another serving process takes its place');
is(LFEvil::good($t)->{body}, 'good', 'and serves');
kill 'TERM', $next;
ok($t->wait_log(qr/serving process $next exited; starting a new one/, 10),
   'TERM sent to the serving process alone is still no death');
unlike($t->log, qr/serving process $next exited with status 0 though/, 'and not reported as one');
is($t->stop, 0, 'TERM stops the daemon');

done_testing;
