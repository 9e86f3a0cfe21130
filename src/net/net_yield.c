/*
 * net_yield.c: may a light thread yield where it is now?
 *
 * Lua 5.1 refuses a yield across a C call boundary: a pcall, a sort's
 * comparator, a gsub callback, but also a metamethod and a generic for's
 * iterator, and a function those tail-called. lua_yield knows it by a
 * count it keeps in the thread (nCcalls against baseCcalls, lstate.h) and
 * raises "attempt to yield across metamethod/C-call boundary"; no API
 * tells. A walk of the stack sees C frames, but a metamethod or an
 * iterator is a Lua frame like a call's, and a tail call hides its caller.
 *
 * So on Lua 5.1 the count is read where Lua 5.1.5 keeps it, through a copy
 * of the head of its struct lua_State (5.1.5 is the last release of 5.1;
 * its layout does not change). A self-test on a scratch state checks the
 * copy against cases it must tell apart before it is trusted; if it fails,
 * net_yield_allowed answers "unknown" and the caller walks the stack for C
 * frames, as before. LuaJIT yields across metamethods and iterators: its
 * builds always walk.
 */
#include <pthread.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "luafcgid.h"
#include "log.h"
#include "net_impl.h"

#ifndef LF_LUAJIT

/* The head of Lua 5.1.5's struct lua_State, up to the two counts. */
struct net_yield_head {
    void               *next;           /* CommonHeader */
    unsigned char       tt, marked;
    unsigned char       status;
    void               *top, *base, *l_G, *ci;
    const void         *savedpc;
    void               *stack_last, *stack, *end_ci, *base_ci;
    int                 stacksize, size_ci;
    unsigned short      nCcalls, baseCcalls;
};

static pthread_once_t net_yield_once = PTHREAD_ONCE_INIT;
static int net_yield_trusted;

/* The C calls L is inside since it was resumed, by the copy. */
static int
net_yield_depth(lua_State *L)
{
    const struct net_yield_head *h = (const struct net_yield_head *)(const void *)L;

    return (int)h->nCcalls - (int)h->baseCcalls;
}

/* The self-test's probe: records its depth at its argument's place. */
static int
net_yield_probe(lua_State *L)
{
    int *seen = lua_touserdata(L, lua_upvalueindex(1)), i = (int)luaL_checkinteger(L, 1);

    if (i >= 1 && i <= 6)
        seen[i] = net_yield_depth(L);
    return 0;
}

/* Where a yield is allowed (1, 5, 6) and where not (2 to 4), as lua_yield
 * judges; the counts must also be small (LUAI_MAXCCALLS is 200). */
static const char net_yield_test[] =
    "local p = ...\n"
    "p(1)\n"
    "pcall(p, 2)\n"
    "local _ = setmetatable({}, { __index = function() p(3) end }).x\n"
    "for _ in function() p(4) end do end\n"
    "local function tail() return p(5) end\n"
    "tail()\n"
    "local function f() p(6) end\n"
    "local function g() return f() end\n"
    "g()\n";

static void
net_yield_check(void)
{
    static const int want[7] = { 0, 0, 1, 1, 1, 0, 0 };
    int seen[7] = { -1, -1, -1, -1, -1, -1, -1 }, i, ok = 1;
    lua_State *L = luaL_newstate(), *co;

    if (L == NULL)
        return;
    luaL_openlibs(L);
    co = lua_newthread(L);
    if (luaL_loadbuffer(co, net_yield_test, sizeof(net_yield_test) - 1, "=net_yield") != 0) {
        lua_close(L);
        return;
    }
    lua_pushlightuserdata(co, seen);
    lua_pushcclosure(co, net_yield_probe, 1);
    if (lua_resume(co, 1) != 0)
        ok = 0;
    for (i = 1; i <= 6; i++)
        if (seen[i] < 0 || seen[i] > 200 || (seen[i] > 0) != want[i])
            ok = 0;
    lua_close(L);
    net_yield_trusted = ok;
    if (!ok)
        log_warn("light threads: this Lua 5.1 does not keep its C call count where 5.1.5 does; "
                 "a thread that waits inside a metamethod or an iterator may fail");
}

#endif

/* Would lua_yield from L succeed here: 1, 0, or -1 when it cannot be told
 * (LuaJIT, or a Lua whose layout failed the self-test). */
int
net_yield_allowed(lua_State *L)
{
#ifdef LF_LUAJIT
    (void)L;
    return -1;
#else
    pthread_once(&net_yield_once, net_yield_check);
    if (!net_yield_trusted)
        return -1;
    return net_yield_depth(L) == 0;
#endif
}
