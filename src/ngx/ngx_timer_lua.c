/*
 * ngx_timer_lua.c: ngx.timer.at, every, running_count and pending_count,
 * with ngx_lua's arguments, answers and error strings. A timer made here
 * is run by ngx_timer.c's threads, which the comment there describes.
 */
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf.h"
#include "monoclock.h"
#include "ngx_impl.h"
#include "request.h"

/*
 * DELAY (seconds) in ms, as a timer's wait: a negative one is none (the
 * callback runs at once, as ngx_lua 0.10.23 takes it), and one no clock
 * will reach, NaN included, is NGX_TIMER_NEVER: the timer waits until the
 * process stops, then runs premature. ngx_lua casts whatever it gets to an
 * unsigned integer, so there a huge or infinite delay may come round to
 * zero and fire at once; the README says so.
 */
static long long
ngx_timer_ms(lua_Number delay)
{
    lua_Number ms = delay * 1000;

    if (!(ms < NGX_TIMER_MAX_MS))           /* NaN too */
        return NGX_TIMER_NEVER;
    if (ms < 0)
        return 0;
    return (long long)ms;
}

/* ngx.timer.at(delay, fn, ...) and every: 1, or nil and why. [-0, +(1|2), e] */
static int
ngx_timer_add(lua_State *L, int every)
{
    struct ngx_state *s = ngx_bound(L);
    int n = lua_gettop(L), i, max;
    struct pool_state *st;
    struct ngx_timer *t;
    struct request *r;
    struct conf *c;
    long long ms;

    if (n < 2)
        return luaL_error(L, "expecting at least 2 arguments but got %d", n);
    ms = ngx_timer_ms(luaL_checknumber(L, 1));
    if (every && ms == 0)
        return luaL_error(L, "delay cannot be zero");
    luaL_argcheck(L, lua_isfunction(L, 2) && !lua_iscfunction(L, 2), 2, "Lua function expected");
    r = s->timer == NULL ? ngx_check(L, NGX_IN_REQUEST) : NULL;
    st = s->timer != NULL ? s->timer->st : r->state;
    if (st == NULL || !ngx_timers_ready())
        return luaL_error(L, "no request");
    if ((s->timer != NULL && s->timer->premature) || (ngx_timer_exiting() && ms > 0))
        return ngx_push_fail(L, "process exiting");
    c = conf_acquire();
    max = c->timer_max_pending;
    conf_release(c);
    if (ngx_timers_count(0) >= max)
        return ngx_push_fail(L, "too many pending timers");
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return luaL_error(L, "no memory");
    lua_createtable(L, n - 1, 1);
    for (i = 2; i <= n; i++) {
        lua_pushvalue(L, i);
        lua_rawseti(L, -2, i - 1);
    }
    lua_pushinteger(L, n - 2);
    lua_setfield(L, -2, "n");
    t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    t->st = st;
    t->every_ms = every ? ms : 0;
    t->due_ms = ms == NGX_TIMER_NEVER ? NGX_TIMER_NEVER : monoclock_ms() + ms;
    snprintf(t->script, sizeof(t->script), "%s",
             s->timer != NULL ? s->timer->script : r->script ? r->script : "-");
    ngx_timer_schedule(t);
    lua_pushinteger(L, 1);
    return 1;
}

static int
ngx_timer_at(lua_State *L)
{
    return ngx_timer_add(L, 0);
}

static int
ngx_timer_every(lua_State *L)
{
    return ngx_timer_add(L, 1);
}

static int
ngx_timer_running_count(lua_State *L)
{
    lua_pushinteger(L, ngx_timers_count(1));
    return 1;
}

static int
ngx_timer_pending_count(lua_State *L)
{
    lua_pushinteger(L, ngx_timers_count(0));
    return 1;
}

static const luaL_Reg ngx_timer_fns[] = {
    { "at",            ngx_timer_at },
    { "every",         ngx_timer_every },
    { "running_count", ngx_timer_running_count },
    { "pending_count", ngx_timer_pending_count },
    { NULL, NULL }
};

void
ngx_timer_install(lua_State *L)
{
    ngx_subtable(L, "timer", ngx_timer_fns);
}
