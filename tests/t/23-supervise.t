# The supervising process: a crash in a C module a script loads loses only
# the requests in flight in the dead process; the socket, the pidfile and
# the supervisor's pid stay; the next requests are served at once; deaths
# that repeat fast back off; TERM stops both processes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use LFTest qw(wait_for slurp spew alive);

my $cc = `command -v cc 2>/dev/null` || `command -v gcc 2>/dev/null`;
chomp $cc;
plan skip_all => 'no C compiler to build the crashing module' unless $cc;
my $luacflags = `pkg-config --cflags lua5.1 2>/dev/null` || '-I/usr/include/lua5.1';
chomp $luacflags;

my $t = LFTest->new(conf => { workers => 3, loglevel => 'info' });
my $www = $t->www;

# A C module whose one function dereferences NULL (named so that
# require finds it, not the script).
spew("$www/segv.c", <<'C');
#include <lua.h>
#include <lauxlib.h>
static int segv_now(lua_State *L) { volatile int *p = 0; (void)L; return *p; }
int luaopen_segv(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, segv_now);
    lua_setfield(L, -2, "segv");
    return 1;
}
C
system("$cc -shared -fPIC $luacflags -o $www/segv.so $www/segv.c 2>$www/cc.log") == 0
    or BAIL_OUT('cannot build the crash module: ' . slurp("$www/cc.log"));

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

# Under load: clients ask the normal page in a bounded loop; one request crashes.
my $dir = $t->dir;
my $load = LFTest::start_clients(3, sub {
    my ($n) = @_;
    my (@lines, $i);
    my $end = time + 3;
    while (time < $end && $i++ < 100000) {
        my $t0 = time;
        my $r = $t->get('good.lua', QUERY_STRING => "$n-$i");
        my $ok = $r->{status} == 200 && $r->{body} eq "good $n-$i" ? 1 : 0;
        push @lines, sprintf('%.6f %.6f %d', $t0, time, $ok);
    }
    return join("\n", @lines) . "\n";
});
sleep 1;
my $crash = $t->get('crash.lua', QUERY_STRING => 'crash');
my $crashed_at = time;
my $next = $t->get('good.lua', QUERY_STRING => 'next');
my $next_at = time;
ok(!$crash->{ended} && $crash->{stdout} eq '', 'the crashing request gets no answer');
is($next->{body}, 'good next', 'the next request is answered');
my $gap = $next_at - $crashed_at;
ok($next->{body} eq 'good next' && $gap < 0.1, sprintf('within 100 ms of the crash (%.1f ms)', $gap * 1000));

my @results = LFTest::wait_clients($load, 30);
my (@all, $good, $failed_late);
for my $out (@results) {
    push @all, map { [split ' '] } split /\n/, $out // '';
}
$good = grep { $_->[2] } @all;
my @failed = grep { !$_->[2] } @all;
$failed_late = grep { $_->[0] > $crashed_at } @failed;
ok($good > 10, "the clients were served ($good answers)");
ok(@failed <= 3, 'at most the requests in flight failed, one per client (' . scalar(@failed) . ')');
is($failed_late, 0, 'no request sent after the crash failed');
my ($first) = sort { $a <=> $b } map { $_->[1] } grep { $_->[2] && $_->[1] > $crashed_at } @all;
ok(defined $first && $first - $crashed_at < 0.1,
   sprintf('a client had its first answer after the crash within 100 ms (%.1f ms)',
           defined $first ? ($first - $crashed_at) * 1000 : -1));

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
    ok(wait_for(sub { !-e $bad->dir . '/lf.pid' }, 5), 'and no pidfile is left');
}

done_testing;
