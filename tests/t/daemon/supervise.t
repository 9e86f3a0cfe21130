# The supervising process: a crash in a C module a script loads loses only
# the requests in flight in the dead process (under load, and how fast
# the next is served: crash-under-load.t); the socket, the pidfile and
# the supervisor's pid stay; deaths that repeat fast back off (and keep
# doubling the wait: restart-backoff.t); TERM stops both processes.
# one build: the supervisor, its signals and hand-overs, in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for slurp spew alive);
use POSIX ();

plan skip_all => 'no C compiler to build the crashing module' unless LFTest::cc();

my $t = LFTest->new(conf => { workers => 3, loglevel => 'info' });
my $www = $t->www;

# A C module whose one function dereferences NULL, and one that calls
# exit() (named so that require finds it, not the script).
LFTest::lua_module($www, 'segv', <<'C');
#include <lua.h>
#include <lauxlib.h>
#include <stdlib.h>
static int segv_now(lua_State *L) { volatile int *p = 0; (void)L; return *p; }
static int segv_exit(lua_State *L) { exit((int)luaL_checkinteger(L, 1)); return 0; }
int luaopen_segv(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, segv_now);
    lua_setfield(L, -2, "segv");
    lua_pushcfunction(L, segv_exit);
    lua_setfield(L, -2, "exit");
    return 1;
}
C

$t->script('crash.lua', <<"LUA");
package.cpath = "$www/?.so;" .. package.cpath
local segv = require "segv"
function main(env, req)
  if env.QUERY_STRING == "crash" then segv.segv() end
  req:puts("not crashed")
end
LUA
$t->script('good.lua', "function main(env, req) req:puts('good ', env.QUERY_STRING) end\n");

sub serving_pid { LFTest::serving_pid($_[0]) }

$t->start;
my $sup = $t->pid;
my $pidfile = $t->dir . '/lf.pid';
my $sock = $t->listen_addr;
my $inode = (stat $sock)[1];
my $child = serving_pid($sup);
ok($child && alive($child), 'a serving process runs under the supervisor');
is(slurp($pidfile), "$sup\n", 'the pidfile names the supervisor');
is($t->get('crash.lua')->{body}, 'not crashed', 'the crash module loads');

# A crash: the requests in flight are lost, nothing else.
my $crash = $t->get('crash.lua', QUERY_STRING => 'crash');
ok(!$crash->{ended} && $crash->{stdout} eq '', 'the crashing request gets no answer');
is($t->get('good.lua', QUERY_STRING => 'next')->{body}, 'good next', 'the next request is answered');

ok($t->wait_log(qr/serving process $child died of SIGSEGV/), 'the log names the signal');
like($t->log, qr/worker \d+ was running \Q$www\E\/crash\.lua/, 'and the script that was running');
is(slurp($pidfile), "$sup\n", 'the pidfile still names the supervisor');
ok(alive($sup), 'which is alive');
is((stat $sock)[1], $inode, 'the socket is the same file');
my $child2 = serving_pid($sup);
ok($child2 && $child2 != $child && alive($child2), 'a new serving process runs');
ok(!alive($child), 'the dead one was reaped');

# A serving process started after a crash runs the config that HUP loaded.
$t->write_conf(headers => "X-Reloaded: yes\n");
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'HUP reaches the serving process');
is($t->get('good.lua')->{headers}{'x-reloaded'}, 'yes', 'which applies the new config');
$t->get('crash.lua', QUERY_STRING => 'crash');
ok(wait_for(sub { my $c = serving_pid($sup); $c && $c != $child2 }), 'after another crash');
my $r = $t->get('good.lua');
is($r->{headers}{'x-reloaded'}, 'yes', 'the new serving process keeps the reloaded config');

# It runs exactly what ran before: not an edit nobody HUPed, and not the
# start-up config when the reload changed a key that needs a restart too.
$t->write_conf(headers => "X-Reloaded: unhupped\n");
$child2 = serving_pid($sup);
$t->get('crash.lua', QUERY_STRING => 'crash');
ok(wait_for(sub { my $c = serving_pid($sup); $c && $c != $child2 }), 'a crash after an edit without HUP');
is($t->get('good.lua')->{headers}{'x-reloaded'}, 'yes', 'does not apply the edit');
$t->write_conf(headers => "X-Reloaded: both\n", workers => 4);
$t->signal('HUP');
ok($t->wait_log(qr/'workers' changed/), 'HUP changing workers and headers');
ok(wait_for(sub { ($t->get('good.lua')->{headers}{'x-reloaded'} // '') eq 'both' }), 'applies the headers');
$child2 = serving_pid($sup);
$t->get('crash.lua', QUERY_STRING => 'crash');
ok(wait_for(sub { my $c = serving_pid($sup); $c && $c != $child2 }), 'after a crash');
$r = $t->get('good.lua');
is($r->{headers}{'x-reloaded'}, 'both', 'the new serving process keeps the headers HUP applied');
$t->write_conf(headers => "X-Reloaded: yes\n", workers => 3);

# Deaths that repeat fast back off, and serving resumes once they stop.
my $crashes = 0;
for (1 .. 8) {
    last if $t->log =~ /deaths within \d+ s: waiting \d+ ms/;
    wait_for(sub { $t->get('good.lua', QUERY_STRING => 'up')->{status} == 200 }, 40);
    $t->get('crash.lua', QUERY_STRING => 'crash');
    $crashes++;
}
ok($t->wait_log(qr/deaths within \d+ s: waiting \d+ ms before starting a serving process/, 5),
   "crashes that repeat fast back off ($crashes crashes)");
ok(wait_for(sub { $t->get('good.lua', QUERY_STRING => 'after')->{body} eq 'good after' }, 40),
   'the daemon serves again once the crashes stop');
is(slurp($pidfile), "$sup\n", 'still the same supervisor');

# TERM stops both, removing the pidfile and the socket.
my $last = serving_pid($sup);
is($t->stop, 0, 'TERM: the supervisor exits 0');
ok(wait_for(sub { !alive($last) }, 10), 'and the serving process is gone');
ok(!-e $pidfile && !-e $sock, 'pidfile and socket are removed');
like($t->log, qr/stopped/, 'and it says so');

# A serving process killed outright is replaced too.
$t->start;
$sup = $t->pid;
$child = serving_pid($sup);
kill 'KILL', $child;
ok($t->wait_log(qr/serving process $child died of SIGKILL/), 'a serving process killed with SIGKILL is logged');
ok(wait_for(sub { $t->get('good.lua')->{status} == 200 }), 'and a new one serves');
# ^C reaches both processes (one process group): both stop, status 0.
$child = serving_pid($sup);
kill 'INT', $sup, $child;     # the supervisor first, as a slow test could be preempted between
is($t->stop, 0, 'INT to both processes at once (^C): exit 0');
ok(wait_for(sub { !alive($child) }, 10), 'and the serving process is gone');
ok(!-e $pidfile && !-e $sock, 'pidfile and socket are removed');
unlike($t->log =~ s/.*died of SIGKILL//sr, qr/died of|exited with/, 'and no death is reported on the way out') or diag($t->log =~ s/.*died of SIGKILL//sr);

# A serving process that dies during start-up is not restarted: exit 1.
{
    my $bad = LFTest->new(conf => { preload => ["$www/boom.lua"] });
    spew("$www/boom.lua", "package.cpath = \"$www/?.so;\" .. package.cpath\nrequire('segv').segv()\n");
    my $out = `timeout 30 ${\ LFTest::binary()} -F ${\ $bad->conf_path} 2>&1`;
    is($? >> 8, 1, 'a serving process that crashes at start-up: exit 1');
    like($out, qr/died of SIGSEGV during start-up/, 'with the reason');
    ok(!-e $bad->dir . '/lf.pid' && !-e $bad->listen_addr, 'leaving no pidfile and no socket');

    $bad->write_conf(daemonize => 1);
    $out = `timeout 30 ${\ LFTest::binary()} ${\ $bad->conf_path} 2>&1`;
    is($? >> 8, 1, 'as a daemon too: the starting command exits 1');
    like($out, qr/died of SIGSEGV during start-up/, 'with the reason on its stderr');
    is(scalar(() = $out =~ /died of SIGSEGV during start-up/g), 1, 'once');
    ok(wait_for(sub { !-e $bad->dir . '/lf.pid' }, 5), 'and no pidfile is left');

    spew("$www/boom.lua", "package.cpath = \"$www/?.so;\" .. package.cpath\nrequire('segv').exit(7)\n");
    $bad->write_conf(daemonize => 0);
    $out = `timeout 30 ${\ LFTest::binary()} -F ${\ $bad->conf_path} 2>&1`;
    is($? >> 8, 1, 'a C module calling exit(7) at start-up: exit 1');
    like($out, qr/exited with status 7 during start-up/, 'with the status');
}

# TERM while a serving process is still starting (a preload that does not
# return, here blocked in a command that writes its pid and sleeps): the
# stop is not held up; the starting process is killed after a bound.
my $flag = "$www/stuck.flag";
my $stuckpid = "$www/stuck.pid";
spew("$www/pre.lua", "local f = io.open('$flag') if f then f:close() os.execute('echo \$\$ > $stuckpid; exec sleep 60') end\n"
                     . "function main(env, req) req:puts('pre') end\n");
{
    my $s = LFTest->new(conf => { workers => 2, loglevel => 'info', preload => ["$www/pre.lua"] });
    $s->script('crash.lua', slurp("$www/crash.lua"));
    $s->script('good.lua', "function main(env, req) req:puts('good') end\n");
    $s->start;
    my $sup = $s->pid;
    my $c1 = serving_pid($sup);
    # the socket accepts before the serving process has run its preload
    is($s->get('good.lua')->{body}, 'good', 'the first serving process serves');
    spew($flag, "1");
    $s->get('crash.lua', QUERY_STRING => 'crash');
    ok($s->wait_log(qr/serving process $c1 died of SIGSEGV/), 'a crash; the next start is stuck in its preload');
    my $c2;
    ok(wait_for(sub { $c2 = serving_pid($sup, 1); $c2 && $c2 != $c1 }), 'a new serving process is starting');
    my $newlog = $s->dir . '/moved.log';
    $s->write_conf(logfile => $newlog);
    $s->signal('HUP');
    ok(wait_for(sub { -e $newlog }, 5), 'HUP meanwhile is taken: the supervisor moves its log');
    my $t0 = time;
    my $st = LFTest::stop_pid($sup, 'TERM', 30);
    my $took = time - $t0;
    $s->{pid} = undef;
    is($st, 0, 'TERM during the start: the supervisor exits 0');
    ok($took < 12, sprintf('within the bound (%.1f s)', $took));
    like(slurp($newlog), qr/did not stop in time: killing it/, 'killing the stuck start, and saying so');
    ok(wait_for(sub { !alive($c2) }, 5), 'the starting process is gone');
    ok(!-e $s->dir . '/lf.pid' && !-e $s->listen_addr, 'pidfile and socket are removed');
    kill 'KILL', $c2 if $c2 && alive($c2);
    # the command outlives the process that was killed (see luafcgid(8))
    my ($sleeper) = slurp($stuckpid) =~ /(\d+)/;
    kill 'KILL', $sleeper if $sleeper;
    unlink $flag;
}

# A restart that fails (a preload calling exit() in C) after the daemon has
# served is a death: logged, backed off, retried; the socket stays.
spew("$www/exit.lua", "package.cpath = '$www/?.so;' .. package.cpath\n"
                      . "local f = io.open('$flag') if f then f:close() require('segv').exit(3) end\n"
                      . "function main(env, req) req:puts('exit') end\n");
{
    my $s = LFTest->new(conf => { workers => 2, loglevel => 'info', preload => ["$www/exit.lua"] });
    $s->script('crash.lua', slurp("$www/crash.lua"));
    $s->script('good.lua', "function main(env, req) req:puts('good') end\n");
    $s->start;
    my $sup = $s->pid;
    my $inode = (stat $s->listen_addr)[1];
    is($s->get('good.lua')->{body}, 'good', 'the first serving process serves');
    spew($flag, "1");
    $s->get('crash.lua', QUERY_STRING => 'crash');
    ok($s->wait_log(qr/could not start \(exit status 3\); trying again/),
       'a restart that exits 3 is logged') or diag($s->log);
    ok(alive($sup) && -e $s->dir . '/lf.pid' && (stat $s->listen_addr)[1] == $inode,
       'the supervisor, the pidfile and the socket stay');
    unlink $flag;
    ok(wait_for(sub { $s->get('good.lua')->{body} eq 'good' }, 40), 'and it serves again once starts work');
    is($s->stop, 0, 'TERM: exit 0');
}

# A serving process stopped alone (TERM to it) is no death: replaced, and
# logged as a notice. A HUP that changes logfile moves the supervisor's
# reports too; a reloaded timeout bounds the stop.
{
    my $s = LFTest->new(conf => { workers => 2, loglevel => 'info', timeout => 1 });
    $s->script('crash.lua', slurp("$www/crash.lua"));
    $s->script('good.lua', "function main(env, req) req:puts('good') end\n");
    $s->script('sleep.lua', "function main(env, req) os.execute('sleep 13.1') req:puts('slept') end\n");
    $s->start;
    my $sup = $s->pid;
    my $c1 = serving_pid($sup);
    kill 'TERM', $c1;
    ok($s->wait_log(qr/\[notice\] serving process $c1 exited; starting a new one/),
       'TERM to the serving process alone: a notice');
    unlike($s->log, qr/exited with status 0|no worker was running/, 'not reported as a death');
    ok(wait_for(sub { $s->get('good.lua')->{body} eq 'good' }), 'a new one serves');

    my $newlog = $s->dir . '/new.log';
    $s->write_conf(logfile => $newlog, timeout => 20);
    $s->signal('HUP');
    ok(wait_for(sub { -e $newlog && slurp($newlog) =~ /reloaded/ }), 'HUP moves the log');
    my $c2 = serving_pid($sup);
    $s->get('crash.lua', QUERY_STRING => 'crash');
    ok(wait_for(sub { slurp($newlog) =~ /serving process $c2 died of SIGSEGV/ }),
       'the supervisor reports a crash in the new log');
    ok(wait_for(sub { $s->get('good.lua')->{body} eq 'good' }), 'which is replaced');

    # timeout was 1 at start-up: the old bound, 1 + 2 * 5 s, cuts a 13 s request
    my $cl = LFTest::start_clients(1, sub { $s->get('sleep.lua')->{body} });
    ok(wait_for(sub { `pgrep -f "^sleep 13.1\$"` }), 'a 13 s request runs');
    my $st = LFTest::stop_pid($sup, 'TERM', 40);
    $s->{pid} = undef;
    is($st, 0, 'TERM: exit 0');
    my ($body) = LFTest::wait_clients($cl, 30);
    is($body, 'slept', 'the request is answered within the reloaded timeout');
    unlike(slurp($newlog), qr/did not stop in time/, 'nothing was killed');
}

# SIGKILL to the supervisor: the serving process stops too.
{
    my $s = LFTest->new(conf => { workers => 2 });
    $s->script('good.lua', "function main(env, req) req:puts('good') end\n");
    $s->start;
    my $sup = $s->pid;
    my $c1 = serving_pid($sup);
    kill 'KILL', $sup;
    waitpid($sup, 0);
    $s->{pid} = undef;
    ok(wait_for(sub { !alive($c1) }, 15), 'SIGKILL to the supervisor: the serving process stops');
    kill 'KILL', $c1 if alive($c1);
}

done_testing;
