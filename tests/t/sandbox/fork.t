# fork() from a C module is refused in the serving process: the script gets
# nil and EPERM, and no copy of the daemon is left holding its socket, its
# logs or a lock. A fork that reaches the C library by another road ends in
# the child at once. os.execute still runs commands. Tested with a module
# built here, and with luaposix (Debian's lua-posix) when it is installed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for slurp spew);

my $t = LFTest->new(conf => { workers => 2, timeout => 10 });
my $www = $t->www;

# fork() as luaposix calls it (the child goes back to the script), and the
# C library's fork found by handle, past any symbol the daemon defines.
LFTest::c_module($www, 'forker', <<'C', '-ldl') or plan skip_all => "the forking module: $@";
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
static int push_result(lua_State *L, pid_t pid)
{
    if (pid < 0) {
        int e = errno;
        lua_pushnil(L);
        lua_pushstring(L, strerror(e));
        lua_pushinteger(L, e);
        return 3;
    }
    lua_pushinteger(L, pid);
    return 1;
}
static int f_fork(lua_State *L) { return push_result(L, fork()); }
static int f_libc_fork(lua_State *L)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    pid_t (*real)(void) = libc ? (pid_t (*)(void))dlsym(libc, "fork") : NULL;
    if (real == NULL)
        return luaL_error(L, "no libc fork");
    return push_result(L, real());
}
static int f_wait(lua_State *L)
{
    int status;
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    if (waitpid(pid, &status, 0) != pid)
        return luaL_error(L, "waitpid: %s", strerror(errno));
    lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 1;
}
int luaopen_forker(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, f_fork);
    lua_setfield(L, -2, "fork");
    lua_pushcfunction(L, f_libc_fork);
    lua_setfield(L, -2, "libc_fork");
    lua_pushcfunction(L, f_wait);
    lua_setfield(L, -2, "wait");
    return 1;
}
C

$t->script('fork.lua', <<"LUA");
package.cpath = "$www/?.so;" .. package.cpath
local forker = require "forker"
function main(env, req)
  local pid, err, errno = forker.fork()
  if pid == 0 then
    -- the child goes on with the script, as a luaposix user's would
    req:puts("child")
    return
  end
  if pid == nil then
    req:puts("refused: ", err, " ", errno)
    return
  end
  req:puts("forked ", forker.wait(pid))
end
LUA
$t->script('libcfork.lua', <<"LUA");
package.cpath = "$www/?.so;" .. package.cpath
local forker = require "forker"
function main(env, req)
  local pid, err = forker.libc_fork()
  if pid == 0 then
    req:puts("child")
    return
  end
  if pid == nil then
    req:puts("refused: ", err)
    return
  end
  req:puts("child exit ", forker.wait(pid))
end
LUA
$t->script('execute.lua', <<'LUA');
function main(env, req)
  req:puts("execute ", os.execute("exit 3"), " ", os.execute("echo hi >/dev/null"))
end
LUA
$t->script('posix.lua', <<'LUA');
function main(env, req)
  local ok, unistd = pcall(require, "posix.unistd")
  if not ok then req:puts("no luaposix") return end
  local pid, err, errno = unistd.fork()
  if pid == 0 then req:puts("child") return end
  req:puts(tostring(pid), " ", tostring(err), " ", tostring(errno))
end
LUA

$t->start;
my $serving = LFTest::serving_pid($t);
ok($serving, 'a serving process runs');

# The processes under the serving one, but for a command os.execute runs.
sub children { my @c = grep { /^\d+$/ } split /\n/, `pgrep -P $serving 2>/dev/null`; return @c }

# A request answered within 5 s: a forked copy can hold the answer up.
sub quick {
    my ($name) = @_;
    return $t->fcgi({ SCRIPT_FILENAME => "$www/$name", REQUEST_METHOD => 'GET', QUERY_STRING => '' },
                    undef, timeout => 5);
}

# What a fork left (copies stuck in the daemon's locks, or serving and
# forking on) is stopped here: every process started from this test's config.
END {
    my $conf = $t->conf_path;
    my @left = grep { /^\d+$/ && $_ != ($t->pid // 0) } split /\n/, `pgrep -f '$conf' 2>/dev/null`;
    kill 'KILL', @left if @left;
}

my $r = quick('fork.lua');
is($r->{status}, 200, 'a script whose module forks is answered');
is($r->{body}, 'refused: Operation not permitted 1', 'fork() returns -1 with EPERM to the module');
ok(wait_for(sub { children() == 0 }, 5), 'no copy of the serving process is left')
    or diag('children: ' . join(' ', children()));
ok($t->wait_log(qr/fork\(\) refused in the serving process/), 'the log says fork was refused');

my @bodies = map { quick('fork.lua')->{body} } 1 .. ($r->{body} =~ /^refused/ ? 10 : 1);
is(scalar(grep { $_ eq 'refused: Operation not permitted 1' } @bodies), 10, 'every time, ten forks in a row');
is(scalar(children()), 0, 'and none leaves a process behind');

$r = quick('libcfork.lua');
is($r->{body}, 'child exit 127', "the C library's own fork: the child ends at once, before the script");
ok(wait_for(sub { children() == 0 }, 5), 'leaving no process');

is(quick('execute.lua')->{body}, 'execute 768 0', 'os.execute still runs commands');

SKIP: {
    my $p = quick('posix.lua')->{body};
    skip 'luaposix (lua-posix) is not installed', 2 if $p eq 'no luaposix';
    is($p, 'nil Operation not permitted 1', "luaposix's posix.unistd.fork is refused");
    is(scalar(children()), 0, 'leaving no process');
}

# The daemon serves on, with both workers: two requests at once.
my @two = LFTest::run_clients(2, 20, sub { quick('fork.lua')->{body} });
is(scalar(grep { defined && /^refused/ } @two), 2, 'both workers serve on');
is(LFTest::serving_pid($t), $serving, 'in the same serving process');

is($t->stop, 0, 'TERM stops the daemon cleanly');
done_testing;
