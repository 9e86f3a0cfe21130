/*
 * net_thread.c: ngx.thread.spawn, wait and kill: light threads on the
 * request's worker, as OpenResty's "user threads".
 *
 * spawn makes a coroutine, runs it at once until it ends or first waits,
 * and returns it. The threads take turns at every wait (net_sched.c).
 * wait(t1, t2, ...) returns the first of them to end: true and its
 * results, or false and its error (one already waited for or killed
 * answers only as the last argument); only the thread that spawned one may
 * wait for it or kill it. The request is not over until every thread has
 * ended (net_lua_finish), unless the handler fails, times out or calls
 * ngx.exit: then they are dropped where they stand (net_lua_end).
 * A thread's error ends that thread only, and is logged, as ngx_lua does.
 *
 * A record per thread (malloc'd, up to LF_NET_THREADS a request) and a
 * registry reference keep the coroutine; both go when the request ends.
 */
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "log.h"
#include "net_impl.h"
#include "state.h"

/* Append T to NS's threads (spawn order is the order they take turns). */
static void
net_thread_append(struct net_state *ns, struct net_thread *t)
{
    struct net_thread **p = &ns->threads;

    while (*p != NULL)
        p = &(*p)->next;
    *p = t;
    ns->nthreads++;
}

/* ngx.thread.spawn(f, ...): the new thread. [-n, +1, e] */
static int
net_thread_spawn(lua_State *L)
{
    struct net_state *ns = lua_touserdata(L, lua_upvalueindex(1));
    struct net_thread *t;
    lua_State *co;
    int nargs = lua_gettop(L) - 1;

    luaL_checktype(L, 1, LUA_TFUNCTION);
    if (ns->nlive >= LF_NET_THREADS)
        return net_error(L, "too many light threads (at most %d a request)", LF_NET_THREADS);
    /* Lua 5.1's lua_xmove does not grow the new thread's stack (some 40
     * slots): unpack(t) of a long table would write past it. Both before
     * the record, which a failure here would leave listed */
    co = lua_newthread(L);
    if (!lua_checkstack(co, nargs + 1))
        return net_error(L, "too many arguments to a light thread (%d)", nargs);
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return net_error(L, "no memory");
    /* listed before anything can raise: the request's end frees it */
    t->ref = LUA_NOREF;
    t->wait_ref = LUA_NOREF;
    t->status = NET_T_DEAD;
    t->fd = -1;
    net_thread_append(ns, t);
    state_unresumable(L, -1);   /* the scheduler's: coroutine.resume refuses it */
    lua_pushvalue(L, -1);
    t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    t->co = co;
    t->parent = L;
    t->status = NET_T_RUNNING;
    ns->nlive++;                /* until net_thread_resume sees it end */
    lua_insert(L, 1);           /* co, f, args */
    lua_xmove(L, co, nargs + 1);
    net_thread_resume(L, ns, t, nargs);
    return 1;                   /* co */
}

/* The record of the thread at IDX, checked to be L's child. [-0, +0, v] */
static struct net_thread *
net_thread_child(lua_State *L, struct net_state *ns, int idx)
{
    struct net_thread *t;
    lua_State *co = lua_tothread(L, idx);

    if (co == NULL) {
        lua_pushfstring(L, "bad argument #%d to '?' (lua thread expected)", idx);
        lua_error(L);
    }
    if ((t = net_thread_of(ns, co)) == NULL) {
        net_error(L, "attempt to wait on a coroutine that is not a user thread");
        return NULL;
    }
    if (t->parent != L) {
        net_error(L, "only the parent coroutine can wait on the thread");
        return NULL;
    }
    return t;
}

struct net_thread_any {
    struct net_state *ns;
    lua_State        *L;
    int               n;        /* arguments 1..n are the threads waited for */
};

/* Does T, argument I of N to wait, answer it? One that ended does; one
 * already waited for or killed only as the last argument (ngx_lua passes
 * over it elsewhere, so wait(failed, other) waits for the other). */
static int
net_thread_answers(const struct net_thread *t, int i, int n)
{
    return t->status == NET_T_DONE || (t->status == NET_T_DEAD && i == n);
}

/* Has one of the threads waited for ended? */
static int
net_thread_any_done(void *arg)
{
    struct net_thread_any *w = arg;
    int i;

    for (i = 1; i <= w->n; i++) {
        struct net_thread *t = net_thread_of(w->ns, lua_tothread(w->L, i));
        if (t != NULL && net_thread_answers(t, i, w->n))
            return 1;
    }
    return 0;
}

/* T ended: true and its results, or false and its error. [-0, +n, e] */
static int
net_thread_results(lua_State *L, struct net_thread *t)
{
    int n = lua_gettop(t->co);

    t->status = NET_T_DEAD;
    if (!t->ok) {
        lua_pushboolean(L, 0);
        lua_xmove(t->co, L, 1);
        return 2;
    }
    if (!lua_checkstack(L, n + 1))
        return net_error(L, "too many results to return");
    lua_pushboolean(L, 1);
    lua_xmove(t->co, L, n);
    return n + 1;
}

/* One look at the threads waited for: their answer, or -1 when none has
 * ended yet. [-0, +n, e] */
static int
net_thread_look(lua_State *L, struct net_state *ns, int n)
{
    int i;

    for (i = 1; i <= n; i++) {
        struct net_thread *t = net_thread_child(L, ns, i);
        if (t == NULL || !net_thread_answers(t, i, n))
            continue;
        if (t->status == NET_T_DONE)
            return net_thread_results(L, t);
        return net_push_fail(L, "already waited or killed");
    }
    return -1;
}

/* ngx.thread.wait(t, ...). [-n, +r, e] (may answer NET_AGAIN) */
static int
net_thread_wait(lua_State *L)
{
    struct net_state *ns = lua_touserdata(L, lua_upvalueindex(1));
    struct net_thread *self;
    struct net_thread_any any;
    int n = lua_gettop(L), rc, i;

    if (n == 0 || (n == 1 && lua_isnil(L, 1))) {
        /* ngx_lua's words, with no place: the script called no "net"
         * (the loop around this passes its first argument, nil when none) */
        lua_pushliteral(L, "at least one coroutine should be specified");
        return lua_error(L);
    }
    if ((rc = net_thread_look(L, ns, n)) >= 0)
        return rc;
    if ((self = net_sched_yieldable(ns, L)) != NULL) {
        /* the threads waited for, kept for the continuation */
        lua_createtable(L, n, 0);
        for (i = 1; i <= n; i++) {
            lua_pushvalue(L, i);
            lua_rawseti(L, -2, i);
        }
        luaL_unref(L, LUA_REGISTRYINDEX, self->wait_ref);
        self->wait_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        self->status = NET_T_WAIT;
        self->fd = -1;
        self->revents = 0;
        self->children = 1;
        NET_AGAIN_PUSH(L);
        return 1;
    }
    any.ns = ns;
    any.L = L;
    any.n = n;
    net_sched_run(L, ns, net_thread_any_done, &any, -1, 0, 0);
    /* the run ends only once one answers; never a count of -1 to Lua */
    if ((rc = net_thread_look(L, ns, n)) < 0)
        return net_error(L, "no thread waited for has ended");
    return rc;
}

/* After a yield: wait again for the threads kept by net_thread_wait. */
static int
net_thread_wait_cont(lua_State *L)
{
    struct net_state *ns = lua_touserdata(L, lua_upvalueindex(1));
    struct net_thread *self = net_thread_of(ns, L);
    int i, n;

    lua_settop(L, 0);
    if (self == NULL)
        return net_error(L, "no user thread found");
    lua_rawgeti(L, LUA_REGISTRYINDEX, self->wait_ref);
    n = (int)lua_objlen(L, 1);
    for (i = 1; i <= n; i++)
        lua_rawgeti(L, 1, i);
    lua_remove(L, 1);
    return net_thread_wait(L);
}

/* ngx.thread.kill(t): 1, or nil and why. */
static int
net_thread_kill(lua_State *L)
{
    struct net_state *ns = lua_touserdata(L, lua_upvalueindex(1));
    lua_State *co = lua_tothread(L, 1);
    struct net_thread *t;

    luaL_argcheck(L, co != NULL, 1, "lua thread expected");
    if ((t = net_thread_of(ns, co)) == NULL)
        return net_push_fail(L, "not user thread");
    if (t->parent != L)
        return net_push_fail(L, "killer not parent");
    if (t->status == NET_T_DEAD)
        return net_push_fail(L, "already waited or killed");
    if (t->status == NET_T_DONE)
        return net_push_fail(L, "already terminated");
    if (t->sock != NULL) {
        /* its operation is abandoned where it stood: as ngx_lua, the
         * socket is finalized (closed, its place in a backlog given
         * back), and answers "closed" from then on */
        t->sock->failed = 1;
        net_sock_close(t->sock, 0);
    }
    t->status = NET_T_DEAD;
    ns->nlive--;
    lua_pushinteger(L, 1);
    return 1;
}

void
net_thread_register(lua_State *L, struct net_state *ns)
{
    net_push_method(L, ns, "spawn", net_thread_spawn, NULL);
    net_push_method(L, ns, "wait", net_thread_wait, net_thread_wait_cont);
    net_push_method(L, ns, "kill", net_thread_kill, NULL);
}

/* Have all the request's threads ended? */
int
net_thread_all_done(void *arg)
{
    struct net_state *ns = arg;
    struct net_thread *t;

    for (t = ns->threads; t != NULL; t = t->next)
        if (t->status != NET_T_DONE && t->status != NET_T_DEAD)
            return 0;
    return 1;
}

/* The request is over: every thread's record and reference go. */
void
net_thread_drop_all(struct net_state *ns)
{
    struct net_thread *t, *next;

    for (t = ns->threads; t != NULL; t = next) {
        next = t->next;
        luaL_unref(ns->main, LUA_REGISTRYINDEX, t->ref);
        luaL_unref(ns->main, LUA_REGISTRYINDEX, t->wait_ref);
        free(t);
    }
    ns->threads = NULL;
    ns->nthreads = 0;
    ns->nlive = 0;
}
