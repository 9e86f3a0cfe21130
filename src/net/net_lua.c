/*
 * net_lua.c: the sockets and light threads as a state sees them.
 *
 * net_lua_install makes the state's struct net_state (a userdata kept in
 * the registry for the state's life), builds the socket table
 * (tcp, udp, connect, stream) and the thread table (spawn, wait, kill)
 * once, and keeps them in the registry too, so that
 * require("luafcgid").socket and ngx.socket are one object.
 *
 * Every method that may wait is a C primitive wrapped in a small Lua loop
 * (NET_LOOP below): the primitive either finishes, or, in a light thread
 * that can yield, answers NET_AGAIN; the loop then yields and calls the
 * primitive's continuation, which takes the operation up from the
 * object. Tail calls keep the results exactly as the primitive gave them
 * (their count included) and cost no table.
 *
 * A light thread inside a pcall cannot yield in Lua 5.1 (nor through our
 * C pcall in LuaJIT): there a wait happens in place, letting the other
 * threads run meanwhile (net_sched_yieldable).
 *
 * A request's end (net_lua_end) drops its light threads and closes the
 * sockets it left open; pooled connections are the daemon's (net_pool.c).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "monoclock.h"
#include "net_impl.h"
#include "state.h"

const char net_again_key = 'a';

/* Registry keys: these addresses. */
static const char net_state_key = 'n';
static const char net_socket_key = 's';
static const char net_thread_key = 't';
static const char net_loop_key = 'l';
static const char net_bind_key = 'b';

/* The loop around a primitive; chunk arguments: NET_AGAIN, the yield. */
static const char net_loop_source[] =
    "local AGAIN, yield = ...\n"
    "local function finish(cont, obj, a, ...)\n"
    "  if a ~= AGAIN then return a, ... end\n"
    "  yield()\n"
    "  return finish(cont, obj, cont(obj))\n"
    "end\n"
    "local function wrap(prim, cont)\n"
    "  return function(obj, ...) return finish(cont, obj, prim(obj, ...)) end\n"
    "end\n"
    "local function bind(prim, cont, obj)\n"
    "  local f = wrap(prim, cont)\n"
    "  return function(...) return f(obj, ...) end\n"
    "end\n"
    "return wrap, bind\n";

/* The state's struct net_state, or NULL before net_lua_install. */
struct net_state *
net_state_of(lua_State *L)
{
    struct net_state *ns;

    lua_pushlightuserdata(L, (void *)&net_state_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    ns = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return ns;
}

/* Through the state's allocator: counted toward `memory`. */
void *
net_alloc(lua_State *L, void *p, size_t osize, size_t nsize)
{
    void *ud;
    lua_Alloc f = lua_getallocf(L, &ud);

    return f(ud, p, osize, nsize);
}

void
net_buf_free(lua_State *L, struct net_buf *b)
{
    if (b->data != NULL)
        net_alloc(L, b->data, b->cap, 0);
    memset(b, 0, sizeof(*b));
}

/* Room for MORE bytes after what B holds (moved to the front first). 0,
 * or -1 over `memory` (the state is then over it). */
int
net_buf_reserve(lua_State *L, struct net_buf *b, size_t more)
{
    size_t cap;
    char *p;

    if (b->start > 0 && (b->len == 0 || b->start + b->len + more > b->cap)) {
        memmove(b->data, b->data + b->start, b->len);
        b->start = 0;
    }
    if (b->start + b->len + more <= b->cap)
        return 0;
    cap = b->cap ? b->cap : LF_NET_READ_CHUNK;
    while (cap < b->len + more)
        cap *= 2;
    if ((p = net_alloc(L, b->data, b->cap, cap)) == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* 2 when the caller is one of the loops (chunk "=net") and so the
 * function the script called is one level further, else 1. */
static int
net_where_level(lua_State *L)
{
    lua_Debug ar;

    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar) && strcmp(ar.source, "=net") == 0)
        return 2;
    return 1;
}

/* luaL_error, its position that of the script's call even through a
 * loop, as ngx_lua's C functions report it. [-0, +0, v] */
int
net_error(lua_State *L, const char *fmt, ...)
{
    va_list ap;

    luaL_where(L, net_where_level(L));
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    lua_error(L);
    abort();        /* lua_error does not return */
}

/* luaL_argerror for argument NARG of the function the script called
 * (the loop around a primitive, or the primitive itself). [-0, +0, v] */
int
net_argerror(lua_State *L, int narg, const char *msg)
{
    int level = net_where_level(L);
    lua_Debug ar;

    if (!lua_getstack(L, level - 1, &ar))
        net_error(L, "bad argument #%d (%s)", narg, msg);
    lua_getinfo(L, "n", &ar);
    if (ar.namewhat != NULL && strcmp(ar.namewhat, "method") == 0) {
        narg--;
        if (narg == 0)
            net_error(L, "calling '%s' on bad self (%s)", ar.name, msg);
    }
    net_error(L, "bad argument #%d to '%s' (%s)", narg, ar.name ? ar.name : "?", msg);
}

/* Out of memory: the state is over `memory`, and the request ends so. */
int
net_nomem(lua_State *L)
{
    if (state_over(L) != STATE_OK)
        return luaL_error(L, "memory limit reached");
    return luaL_error(L, "no memory");
}

/* t[FIELD] = the loop around PRIM with CONT, or PRIM alone when CONT is
 * NULL (t on top; the net_state as each one's upvalue). [-0, +0, m] */
void
net_push_method(lua_State *L, struct net_state *ns, const char *field, lua_CFunction prim,
                lua_CFunction cont)
{
    if (cont == NULL) {
        lua_pushlightuserdata(L, ns);
        lua_pushcclosure(L, prim, 1);
        lua_setfield(L, -2, field);
        return;
    }
    lua_pushlightuserdata(L, (void *)&net_loop_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_pushlightuserdata(L, ns);
    lua_pushcclosure(L, prim, 1);
    lua_pushlightuserdata(L, ns);
    lua_pushcclosure(L, cont, 1);
    lua_call(L, 2, 1);
    lua_setfield(L, -2, field);
}

/* The object on top replaced by a function that calls the loop around
 * PRIM and CONT with it first. [-1, +1, m] */
void
net_push_bound(lua_State *L, struct net_state *ns, lua_CFunction prim, lua_CFunction cont)
{
    lua_pushlightuserdata(L, (void *)&net_bind_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_pushlightuserdata(L, ns);
    lua_pushcclosure(L, prim, 1);
    lua_pushlightuserdata(L, ns);
    lua_pushcclosure(L, cont, 1);
    lua_pushvalue(L, -4);
    lua_call(L, 3, 1);
    lua_replace(L, -2);
}

/* The loop's yield: to whoever resumed this light thread. */
static int
net_lua_yield(lua_State *L)
{
    return lua_yield(L, 0);
}

/* The socket table, its methods' metatables registered. [-0, +1, m] */
static void
net_lua_socket_table(lua_State *L, struct net_state *ns)
{
    lua_createtable(L, 0, 4);
    net_sock_register(L);
    net_tcp_register(L, ns);
    net_udp_register(L, ns);
    net_tls_register(L);
}

/* The state's bookkeeping only (its main thread is known only now):
 * the tables are built when a script first asks for them. [-0, +0, m] */
void
net_lua_install(lua_State *L)
{
    struct net_state *ns;

    ns = lua_newuserdata(L, sizeof(*ns));
    memset(ns, 0, sizeof(*ns));
    ns->main = L;
    ns->serial = 1;
    lua_pushlightuserdata(L, (void *)&net_state_key);
    lua_insert(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

/* The loops, the socket table and the thread table, made the first time
 * a script asks for one, so that a state that never uses them pays
 * nothing. [-0, +0, m] */
static void
net_lua_build(lua_State *L, struct net_state *ns)
{
    if (ns->built)
        return;
    lua_pushlightuserdata(L, (void *)&net_loop_key);
    if (luaL_loadbuffer(L, net_loop_source, sizeof(net_loop_source) - 1, "=net") != 0)
        lua_error(L);
    NET_AGAIN_PUSH(L);
    lua_pushcfunction(L, net_lua_yield);
    lua_call(L, 2, 2);
    lua_pushlightuserdata(L, (void *)&net_bind_key);
    lua_insert(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_rawset(L, LUA_REGISTRYINDEX);

    lua_pushlightuserdata(L, (void *)&net_socket_key);
    net_lua_socket_table(L, ns);
    lua_rawset(L, LUA_REGISTRYINDEX);

    lua_pushlightuserdata(L, (void *)&net_thread_key);
    lua_createtable(L, 0, 3);
    net_thread_register(L, ns);
    lua_rawset(L, LUA_REGISTRYINDEX);
    ns->built = 1;
}

static void
net_lua_push_key(lua_State *L, const char *key)
{
    struct net_state *ns = net_state_of(L);

    if (ns == NULL) {
        /* a state made without net_lua_install (a test's): empty */
        lua_newtable(L);
        return;
    }
    net_lua_build(L, ns);
    lua_pushlightuserdata(L, (void *)key);
    lua_rawget(L, LUA_REGISTRYINDEX);
}

void
net_lua_push_socket(lua_State *L)
{
    net_lua_push_key(L, &net_socket_key);
}

void
net_lua_push_thread(lua_State *L)
{
    net_lua_push_key(L, &net_thread_key);
}

/* ngx.sleep(seconds). [-0, +0, e] (may yield) */
int
net_lua_sleep(lua_State *L)
{
    struct net_state *ns = net_state_of(L);
    lua_Number sec = luaL_checknumber(L, 1);
    long long ms;

    /* as ngx_lua: whole milliseconds first (-0.0004 s is 0 ms, a sleep),
     * refused below zero; NaN and what no 64-bit count holds print as 0,
     * as ngx_lua's %d of them does on x86-64 */
    if (sec != sec || sec * 1000 <= -9.2e18)
        return luaL_error(L, "invalid sleep duration \"%d\"", 0);
    ms = sec > 1e12 ? (long long)1e15 : (long long)(sec * 1000);
    if (ms < 0)
        return luaL_error(L, "invalid sleep duration \"%d\"", (int)(unsigned)(unsigned long long)ms);
    if (ns == NULL)
        return luaL_error(L, "no request found");
    lua_settop(L, 0);
    return net_sleep_until(L, ns, monoclock_ms() + ms);
}

int
net_lua_finish(lua_State *L)
{
    struct net_state *ns = net_state_of(L);

    if (ns == NULL || ns->threads == NULL)
        return 0;
    net_sched_run(L, ns, net_thread_all_done, ns, -1, 0, 0);
    return 0;
}

void
net_lua_end(lua_State *L)
{
    struct net_state *ns = net_state_of(L);

    if (ns == NULL)
        return;
    net_thread_drop_all(ns);
    while (ns->socks != NULL)
        net_sock_close(ns->socks, 0);
    ns->serial++;
}
