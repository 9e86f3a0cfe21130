/*
 * state_limit.c: the memory cap and the deadline of a script's state.
 *
 * Limits live in the allocator's user data (struct state_info), found
 * again with lua_getallocf(). The allocator counts bytes against memory;
 * a count hook reads the clock against timeout and calls the watch (the
 * slow log's look for its mark), and runs at the deadline at the latest
 * (state_watchdog.c sets it then); the pattern functions, which run in C
 * where no hook fires, charge their work here. Once over a limit a state stays over it: every
 * later check raises again, so no pcall in the script can keep it going.
 * Opening and closing states is state.c.
 *
 * Only what a script holds may stop it, not its garbage. Lua 5.1 never
 * collects when an allocation fails (5.2 does), and its pace lets garbage
 * reach several times what is live (a cycle starts once the heap doubles,
 * and the heap grows while it runs). Worse, its estimate of what is live
 * can wrap below zero: a concatenation buffer grown after a cycle's mark
 * is subtracted when the end of the sweep halves it, though it was never
 * counted; the next cycle's threshold is then out of reach and the state
 * never collects again (with no `memory`, it grows for good). So at safe
 * points (the hook, a charge of the answer, before a handler; never the
 * allocator, from which Lua 5.1 cannot collect) a state grown past gc_due
 * is collected in full, which also counts the estimate anew.
 */
#include <stdint.h>
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
#include "state_watchdog.h"

/* The hook runs every STATE_HOOK_COUNT instructions and reads the clock.
 * One instruction can be a C call of any length (s:upper() on megabytes,
 * a comparison of long strings), so while the time between two hooks
 * shows instructions slower than STATE_HOOK_SLOW_NS on average, the hook
 * runs every STATE_HOOK_SLOW instead: the clock then costs nothing next to
 * the calls it measures, and the watch looks often enough. The deadline
 * does not rest on this guess: at it, the watchdog (state_watchdog.c)
 * makes the hook run at the next instruction. */
#define STATE_HOOK_COUNT   1000
#define STATE_HOOK_SLOW    10
#define STATE_HOOK_SLOW_NS 5000
/* A run written off (state_cut): its hook runs at once, wherever it is. */
#define STATE_HOOK_CUT     (LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT)

/* With no timeout the hook still runs for memory's safe point, but not on
 * LuaJIT, where any hook keeps the code from being compiled. */
#ifdef LF_LUAJIT
#define STATE_HOOK_FOR_MEMORY(info) 0
#else
#define STATE_HOOK_FOR_MEMORY(info) ((info)->limit != 0)
#endif

static void state_hook(lua_State *L, lua_Debug *ar);

/* A collection is due: the hook runs at the main thread's next
 * instruction, the nearest safe point (lua_sethook may be called from
 * anywhere, even a signal handler). Only where the hook is on: a
 * coroutine of Lua 5.1 has its own, and keeps its period. */
static void
state_gc_nudge(struct state_info *info)
{
    if (info->nudged || info->main == NULL || lua_gethook(info->main) != state_hook ||
        info->over != STATE_OK)
        return;
    info->nudged = 1;
    lua_sethook(info->main, state_hook, LUA_MASKCOUNT, 1);
}

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
        (info->used + info->held + info->outside + (nsize - osize) > info->limit ||
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
    if (info->used + info->held > info->gc_due && nsize > osize)
        state_gc_nudge(info);
    return p;
}

/* Where the next full collection is due: past twice what was live after
 * the last one (LF_STATE_GC_FLOOR at least), and no further than half the
 * room left under memory (memory / LF_STATE_GC_NEAR at least), what is
 * held outside Lua counting as used. */
static void
state_gc_pace(struct state_info *info)
{
    size_t now = info->gc_live + info->held;
    size_t step = info->gc_live > LF_STATE_GC_FLOOR / 2 ? 2 * info->gc_live : LF_STATE_GC_FLOOR;
    size_t room;

    if (info->limit) {
        room = info->limit > now ? info->limit - now : 0;
        if (step > room / 2)
            step = room / 2;
        if (step < info->limit / LF_STATE_GC_NEAR)
            step = info->limit / LF_STATE_GC_NEAR;
    }
    info->gc_due = now + step;
}

/* A full collection, from a safe point only. A finalizer's error goes on
 * to the caller, as from any other step of the collector. [-0, +0, e] */
static void
state_gc_collect(lua_State *L, struct state_info *info)
{
    lua_gc(L, LUA_GCCOLLECT, 0);
    info->gc_live = info->used;
    state_gc_pace(info);
}

/* At a safe point: collect in full once due. */
static void
state_gc_check(lua_State *L, struct state_info *info)
{
    if (info->used + info->held > info->gc_due && info->over == STATE_OK)
        state_gc_collect(L, info);
}

/* The same before a handler, outside any Lua call: protected. [-0, +0] */
static int
state_gc_entry(lua_State *L)
{
    state_gc_check(L, lua_touserdata(L, 1));
    return 0;
}

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
    if (__atomic_load_n(&info->cut, __ATOMIC_ACQUIRE)) {
        info->over = STATE_OVER_TIME;   /* no pcall of the script's catches it */
        lua_sethook(L, state_hook, STATE_HOOK_CUT, 1);
        luaL_error(L, "terminated: the request ran over terminate_timeout and was written off");
    }
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
    if (info->nudged) {
        /* run early by the allocator: no period to measure; back to it */
        info->nudged = 0;
        info->hook_us = now_us;
        lua_sethook(L, state_hook, LUA_MASKCOUNT, info->hook_count);
    } else {
        state_hook_period(L, info, now_us);
    }
    if (info->used + info->held > info->gc_due) {
        state_gc_check(L, info);
        info->hook_us = monoclock_us();     /* the collection is no instruction's time */
    }
}

/*
 * From another thread (the housekeeper writing off a run stuck in C past
 * terminate_timeout): nothing more of L's script may run once the C call
 * comes back. Its hook is set to run at every call, return and
 * instruction, as lua.c's interrupt does from a signal handler (the hook's
 * fields are made to be set asynchronously), and the hook raises as for a
 * timeout. With Lua 5.1 a coroutine has a hook of its own: one stuck in C
 * inside a coroutine is stopped at its next count hook instead (within
 * STATE_HOOK_COUNT instructions); LuaJIT's hook is one for all.
 */
void
state_cut(lua_State *L)
{
    struct state_info *info = state_info(L);

    __atomic_store_n(&info->cut, 1, __ATOMIC_RELEASE);
    lua_sethook(L, state_hook, STATE_HOOK_CUT, 1);
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

/* L's deadline (ms, monotonic) without reading the clock: 0 for none, 1
 * (long past) once the state is over time. For the waits that look at it
 * at every step (src/net/), each with a reading of the clock of its own. */
long long
state_deadline(lua_State *L)
{
    void *ud;
    struct state_info *info;

    if (lua_getallocf(L, &ud) != state_alloc || ud == NULL)
        return 0;
    info = ud;
    if (info->over == STATE_OVER_TIME)
        return 1;
    return info->deadline_ms;
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
    info->watch = NULL;
    info->watch_arg = NULL;
    info->timeout = c->timeout;
    state_gc_pace(info);
    if (info->used > info->gc_due && lua_cpcall(L, state_gc_entry, info) != 0)
        lua_pop(L, 1);      /* a finalizer's error: not this request's */
    info->peak = info->used;
    info->nudged = 0;
    info->hook_us = monoclock_us();
    info->deadline_ms = c->timeout > 0 ? info->hook_us / 1000 + (long long)c->timeout * 1000 : 0;
    if (c->timeout > 0 || STATE_HOOK_FOR_MEMORY(info)) {
        /* slow until the first interval says otherwise: a script that
         * starts with slow calls is measured at once */
        info->hook_count = STATE_HOOK_SLOW;
        lua_sethook(L, state_hook, LUA_MASKCOUNT, STATE_HOOK_SLOW);
        /* however slow the instructions, the hook runs at the deadline */
        if (info->deadline_ms > 0)
            state_watchdog_arm(L, info->deadline_ms, state_hook);
        else
            state_watchdog_disarm(L);   /* on for memory's safe point only */
    } else {
        state_watchdog_disarm(L);
        lua_sethook(L, NULL, 0, 0);
    }
}

void
state_disarm(lua_State *L)
{
    struct state_info *info = state_info(L);

    state_watchdog_disarm(L);     /* first: it could set the hook again */
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

/* What the state holds: its small-block chunks, its big blocks, and what
 * libraries hold for it outside its allocator. */
size_t
state_memory(lua_State *L)
{
    struct state_info *info = state_info(L);

    return info->slab.footprint + info->big + info->outside;
}

/* Bytes the state may still take, in Lua or held, before it reaches
 * memory; SIZE_MAX with no limit. */
size_t
state_room(lua_State *L)
{
    const struct state_info *info = state_info(L);
    size_t have = info->used + info->outside + info->held;

    if (!info->limit)
        return SIZE_MAX;
    return have < info->limit ? info->limit - have : 0;
}

/*
 * BYTES more (or fewer, negative) that a library holds for the state
 * outside its allocator (PCRE2's JIT code, in executable pages of its
 * own): they count toward memory as Lua's do. Over it, once the garbage
 * is collected, the state is marked over memory (and so closed) and -1
 * is returned; the bytes are counted all the same, for the caller to
 * give back when it frees them. More bytes only from a C function the
 * script called (a safe point) [-0, +0, e]; fewer from anywhere.
 */
int
state_outside(lua_State *L, long long bytes)
{
    struct state_info *info = state_info(L);

    if (bytes < 0 && (size_t)-bytes > info->outside)
        bytes = -(long long)info->outside;
    info->outside = (size_t)((long long)info->outside + bytes);
    if (bytes <= 0 || !info->limit)
        return 0;
    if (info->over == STATE_OK && info->used + info->held + info->outside > info->limit)
        state_gc_collect(L, info);
    if (info->used + info->held + info->outside > info->limit) {
        info->over = STATE_OVER_MEMORY;
        return -1;
    }
    return 0;
}

/* BYTES held outside Lua (with what libraries hold for it) would take the
 * state over memory. */
static int
state_hold_over(const struct state_info *info, size_t bytes)
{
    return info->limit && (bytes > info->limit || info->used + info->outside > info->limit - bytes);
}

/*
 * BYTES of the request's answer are buffered outside Lua: they count
 * toward memory with what Lua holds. Over it, once the garbage is
 * collected, the state is marked over memory (and so closed) and -1 is
 * returned. Called by a C function the script called. [-0, +0, e]
 */
int
state_hold(lua_State *L, size_t bytes)
{
    struct state_info *info = state_info(L);

    info->held = bytes;
    /* a safe point: garbage goes first, so only what is held can refuse */
    if (info->over == STATE_OK && (info->used + bytes > info->gc_due || state_hold_over(info, bytes)))
        state_gc_collect(L, info);
    if (state_hold_over(info, bytes)) {
        info->over = STATE_OVER_MEMORY;
        return -1;
    }
    return 0;
}
