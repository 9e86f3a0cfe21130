/*
 * state_limit.c: the memory cap and the deadline of a script's state.
 *
 * Limits live in the allocator's user data (struct state_info), found
 * again with lua_getallocf(). The allocator counts bytes against memory;
 * a count hook reads the clock against timeout and calls the watch (the
 * slow log's look for its mark); the pattern functions, which run in C
 * where no hook fires, charge their work here. Once over a limit a state stays over it: every
 * later check raises again, so no pcall in the script can keep it going.
 * Opening and closing states is state.c.
 */
#include <stdlib.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf.h"
#include "monoclock.h"
#include "slab.h"
#include "state.h"
#include "state_impl.h"

/* The hook runs every STATE_HOOK_COUNT instructions and reads the clock.
 * One instruction can be a C call of any length (s:upper() on megabytes,
 * a comparison of long strings), so while the time between two hooks
 * shows instructions slower than STATE_HOOK_SLOW_NS on average, the hook
 * runs every STATE_HOOK_SLOW instead: the clock then costs nothing next to
 * the calls it measures, and a timeout is late by about ten of them. */
#define STATE_HOOK_COUNT   1000
#define STATE_HOOK_SLOW    10
#define STATE_HOOK_SLOW_NS 5000

void *
state_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct state_info *info = ud;
    size_t obig, nbig;
    void *p;

    if (ptr == NULL)
        osize = 0;
    obig = osize > SLAB_MAX ? osize : 0;
    nbig = nsize > SLAB_MAX ? nsize : 0;
    if (nsize == 0) {
        slab_realloc(&info->slab, ptr, osize, 0);
        info->used -= osize;
        info->big -= obig;
        return NULL;
    }
    /* The freed small blocks a state keeps for reuse count too, up to as
     * much again: else churning through block sizes could hold any amount. */
    if (info->limit && nsize > osize &&
        (info->used + info->held + (nsize - osize) > info->limit ||
         info->slab.footprint + info->big + nbig - obig > 2 * info->limit)) {
        info->over = STATE_OVER_MEMORY;
        return NULL;
    }
    if ((p = slab_realloc(&info->slab, ptr, osize, nsize)) == NULL)
        return NULL;
    info->used = info->used - osize + nsize;
    info->big = info->big - obig + nbig;
    if (info->used > info->peak)
        info->peak = info->used;
    return p;
}

static void state_hook(lua_State *L, lua_Debug *ar);

/* Every STATE_HOOK_COUNT instructions, or STATE_HOOK_SLOW while they are
 * slow (see STATE_HOOK_SLOW_NS). */
static void
state_hook_period(lua_State *L, struct state_info *info, long long now_us)
{
    long long per_ns = (now_us - info->hook_us) * 1000 / info->hook_count;
    int count = per_ns >= STATE_HOOK_SLOW_NS ? STATE_HOOK_SLOW : STATE_HOOK_COUNT;

    info->hook_us = now_us;
    if (count != info->hook_count) {
        info->hook_count = count;
        lua_sethook(L, state_hook, LUA_MASKCOUNT, count);
    }
}

static void
state_hook(lua_State *L, lua_Debug *ar)
{
    struct state_info *info = state_info(L);
    long long now_us = monoclock_us();

    (void)ar;
    if (info->over == STATE_OVER_TIME || (info->deadline_ms && now_us / 1000 > info->deadline_ms)) {
        info->over = STATE_OVER_TIME;
        /* every instruction from now on: a library that catches the error
         * (load's reader, a finalizer's caller) gets it again at once */
        lua_sethook(L, state_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "timeout: the request ran over %d s", info->timeout);
    }
    /* the slow log's look: a traceback from here, if the request was marked */
    if (info->watch != NULL)
        info->watch(L, info->watch_arg);
    state_hook_period(L, info, now_us);
}

/* The pattern functions run in C, where the hook never fires: they charge
 * their work here. It adds up across calls (many small calls are as slow
 * as one big one); the clock is read once per STATE_CHARGE_UNITS. Raises
 * as the hook does. */
#define STATE_CHARGE_UNITS 16384

void
state_charge(lua_State *L, size_t units)
{
    struct state_info *info = state_info(L);

    info->charged += units;
    if (info->charged < STATE_CHARGE_UNITS && info->over != STATE_OVER_TIME)
        return;
    info->charged = 0;
    if (info->over == STATE_OVER_TIME ||
        (info->deadline_ms && monoclock_ms() > info->deadline_ms)) {
        info->over = STATE_OVER_TIME;
        luaL_error(L, "timeout: the request ran over %d s", info->timeout);
    }
}

/* The time left before L's deadline in ms: -1 for none (timeout off, or
 * a state state.c did not open), 0 once over it. For the C calls that
 * wait (os.execute), which no hook can interrupt. */
long long
state_time_left(lua_State *L)
{
    void *ud;
    struct state_info *info;
    long long left;

    if (lua_getallocf(L, &ud) != state_alloc || ud == NULL)
        return -1;
    info = ud;
    if (info->over == STATE_OVER_TIME)
        return 0;
    if (info->deadline_ms == 0)
        return -1;
    left = info->deadline_ms - monoclock_ms();
    return left > 0 ? left : 0;
}

/* Raise the timeout as the hook does, from C: the state is over time
 * from now on. */
int
state_raise_timeout(lua_State *L)
{
    struct state_info *info = state_info(L);

    info->over = STATE_OVER_TIME;
    lua_sethook(L, state_hook, LUA_MASKCOUNT, 1);
    return luaL_error(L, "timeout: the request ran over %d s", info->timeout);
}

/* Start the clock and the memory cap for one request. */
void
state_arm(lua_State *L, const struct conf *c)
{
    struct state_info *info = state_info(L);

    info->limit = c->memory;
    info->over = STATE_OK;
    info->exiting = 0;
    info->held = 0;
    info->peak = info->used;
    info->watch = NULL;
    info->watch_arg = NULL;
    info->timeout = c->timeout;
    if (c->timeout > 0) {
        info->hook_us = monoclock_us();
        info->deadline_ms = info->hook_us / 1000 + (long long)c->timeout * 1000;
        /* slow until the first interval says otherwise: a script that
         * starts with slow calls is measured at once */
        info->hook_count = STATE_HOOK_SLOW;
        lua_sethook(L, state_hook, LUA_MASKCOUNT, STATE_HOOK_SLOW);
    } else {
        info->deadline_ms = 0;
        lua_sethook(L, NULL, 0, 0);
    }
}

void
state_disarm(lua_State *L)
{
    struct state_info *info = state_info(L);

    info->deadline_ms = 0;
    info->exiting = 0;
    info->held = 0;
    info->watch = NULL;
    info->watch_arg = NULL;
    lua_sethook(L, NULL, 0, 0);
}

/* After state_arm: the hook also calls FN (with ARG) each time it runs,
 * running without a timeout too; FN NULL: no watch. */
void
state_watch(lua_State *L, state_watch_fn *fn, void *arg)
{
    struct state_info *info = state_info(L);

    info->watch = fn;
    info->watch_arg = arg;
    if (fn != NULL && lua_gethook(L) == NULL) {
        info->hook_us = monoclock_us();
        info->hook_count = STATE_HOOK_SLOW;
        lua_sethook(L, state_hook, LUA_MASKCOUNT, STATE_HOOK_SLOW);
    }
}

/* The most bytes the state held since it was armed. */
size_t
state_peak(lua_State *L)
{
    return state_info(L)->peak;
}

int
state_over(lua_State *L)
{
    return state_info(L)->over;
}

/* What the state holds: its small-block chunks and its big blocks. */
size_t
state_memory(lua_State *L)
{
    struct state_info *info = state_info(L);

    return info->slab.footprint + info->big;
}

/*
 * BYTES of the request's answer are buffered outside Lua: they count
 * toward memory with what Lua holds. Over it, the state is marked over
 * memory (and so closed) and -1 is returned.
 */
int
state_hold(lua_State *L, size_t bytes)
{
    struct state_info *info = state_info(L);

    info->held = bytes;
    if (info->limit && (bytes > info->limit || info->used > info->limit - bytes)) {
        info->over = STATE_OVER_MEMORY;
        return -1;
    }
    return 0;
}
