# Deaths of the serving process that keep coming keep doubling the wait
# before the next start (it does not fall back to none while they come);
# TERM during a wait stops at once, saying that the backlog is reset.
# one build: the supervisor, its signals and hand-overs, in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for);

plan skip_all => 'no C compiler to build the crashing module' unless LFTest::cc();

{
    my $s = LFTest->new(conf => { workers => 1, loglevel => 'info' });
    my $www = $s->www;
    LFTest::lua_module($www, 'segv', <<'C');
#include <lua.h>
static int segv_now(lua_State *L) { volatile int *p = 0; (void)L; return *p; }
int luaopen_segv(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, segv_now);
    lua_setfield(L, -2, "segv");
    return 1;
}
C
    $s->script('crash.lua', "package.cpath = '$www/?.so;' .. package.cpath\n"
                          . "local segv = require 'segv'\n"
                          . "function main(env, req) if env.QUERY_STRING == 'crash' then segv.segv() end end\n");
    $s->script('good.lua', "function main(env, req) req:puts('good') end\n");
    $s->start;
    my $sup = $s->pid;
    for (1 .. 12) {
        last if $s->log =~ /waiting 16000 ms/;
        last unless wait_for(sub { $s->get('good.lua')->{body} eq 'good' }, 40);
        $s->get('crash.lua', QUERY_STRING => 'crash');
        $s->wait_log(qr/waiting 16000 ms/, 0.5);
    }
    my @waits = $s->log =~ /waiting (\d+) ms before starting/g;
    is("@waits", '1000 2000 4000 8000 16000', 'each further death doubles the wait');
    my $t0 = time;
    is($s->stop, 0, 'TERM during a wait: exit 0');
    ok(time - $t0 < 5, 'at once');
    like($s->log, qr/while no serving process runs: stopping; connections waiting in the backlog are reset/,
         'saying that the backlog is reset');
}

done_testing;
