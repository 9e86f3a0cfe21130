/*
 * net_sched.c: every wait a socket (or ngx.sleep, or ngx.thread.wait)
 * makes, and the scheduler that lets light threads take turns there.
 *
 * A worker serves one request at a time, so a wait may hold its thread;
 * what it must never do is outlast its own timeout or the request's
 * deadline (state_time_left): every poll here is bounded by both, and
 * once the request's deadline passes the wait raises the request's
 * timeout error, as the count hook would.
 *
 * A light thread that can yield does not wait here: net_wait records
 * what it waits for and answers NET_YIELD. Whoever waits in place (the
 * handler, or code that cannot yield) polls its own descriptor together
 * with every waiting thread's, and resumes the threads whose wait is
 * over before it looks at its own again: so the threads take turns at
 * every wait. A light thread waiting in place takes only its own
 * descendants along (net_sched_resume_due): the waits nest no deeper
 * than the spawn tree, at most LF_NET_NEST. A thread that is running
 * (the caller, or one that resumed it) is never resumed from here.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "blockhint.h"
#include "log.h"
#include "monoclock.h"
#include "net_impl.h"
#include "state.h"

/* The registry key of the poll array's userdata: this address. */
static const char net_sched_pfd_key = 'p';

/* The request's deadline (ms, monotonic), 0 for none; in the past once
 * the request is over time. No reading of the clock: the callers have
 * theirs. */
long long
net_request_deadline(lua_State *L)
{
    return state_deadline(L);
}

static long long
net_sched_min(long long a, long long b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

/* DL (ms, monotonic; 0: none) no later than the request's deadline: for
 * what cannot raise the request's timeout while it waits (a lookup). */
long long
net_capped(lua_State *L, long long dl)
{
    return net_sched_min(dl, net_request_deadline(L));
}

struct net_thread *
net_thread_of(struct net_state *ns, lua_State *L)
{
    struct net_thread *t;

    for (t = ns->threads; t != NULL; t = t->next)
        if (t->co == L)
            return t;
    return NULL;
}

/*
 * L's record, if L is a light thread that may yield now: running, and no
 * C call boundary between the caller and the thread's body (a pcall, a
 * sort's comparator, a gsub callback, and on Lua 5.1 a metamethod or a
 * generic for's iterator too), which lua_yield would refuse: there the
 * thread waits in place. net_yield_allowed tells where it can; else (on
 * LuaJIT, which yields across metamethods and iterators) no C frame may
 * stand between. Level 0 is the primitive that asks.
 */
struct net_thread *
net_sched_yieldable(struct net_state *ns, lua_State *L)
{
    struct net_thread *t;
    lua_Debug ar;
    int level;

    if (ns->nthreads == 0 || L == ns->main)
        return NULL;
    t = net_thread_of(ns, L);
    if (t == NULL || t->status != NET_T_RUNNING)
        return NULL;
    switch (net_yield_allowed(L)) {
    case 1:
        return t;
    case 0:
        return NULL;
    }
    for (level = 1; lua_getstack(L, level, &ar); level++)
        if (lua_getinfo(L, "S", &ar) && ar.what[0] == 'C')
            return NULL;
    return t;
}

/*
 * Resume T (NARGS on its stack) from L. A limit or os.exit/ngx.exit in it
 * goes on in L: the request ends. Another error ends the thread alone,
 * logged as ngx_lua logs it. [-0, +0, e]
 */
void
net_thread_resume(lua_State *L, struct net_state *ns, struct net_thread *t, int nargs)
{
    int rc;

    t->status = NET_T_RUNNING;
    t->deadline = 0;
    t->children = 0;
    t->sock = NULL;
    rc = state_resume(L, t->co, nargs);
    if (rc == LUA_YIELD) {
        if (t->status != NET_T_WAIT)
            t->status = NET_T_READY;
        return;
    }
    t->status = NET_T_DONE;
    ns->nlive--;
    t->ok = rc == 0;
    if (rc == 0)
        return;
    if (state_must_propagate(t->co, -1)) {
        t->status = NET_T_DEAD;
        lua_xmove(t->co, L, 1);
        lua_error(L);
    }
    log_err("lua user thread aborted: runtime error: %s",
            lua_isstring(t->co, -1) ? lua_tostring(t->co, -1) : "(not a string)");
}

/* Has one of the threads T's ngx.thread.wait waits for ended? (its list
 * is read on L, the running thread) */
static int
net_sched_child_done(lua_State *L, struct net_state *ns, struct net_thread *t)
{
    struct net_thread *c;
    int i, n, done = 0;

    lua_rawgeti(L, LUA_REGISTRYINDEX, t->wait_ref);
    n = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
    for (i = 1; i <= n && !done; i++) {
        lua_rawgeti(L, -1, i);
        c = net_thread_of(ns, lua_tothread(L, -1));
        done = c != NULL && c->parent == t->co &&
               (c->status == NET_T_DONE || c->status == NET_T_DEAD);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return done;
}

/* Is T's wait over? */
static int
net_sched_due(lua_State *L, struct net_state *ns, struct net_thread *t, long long now)
{
    if (t->status == NET_T_READY)
        return 1;
    if (t->status != NET_T_WAIT)
        return 0;
    if (t->revents != 0 || (t->deadline && now >= t->deadline))
        return 1;
    return t->children && net_sched_child_done(L, ns, t);
}

/*
 * How deep in the spawn tree WAITER's thread is: 0 for the handler, 1 for
 * a thread it spawned, ...; counted no further than LF_NET_NEST.
 */
static int
net_sched_depth(struct net_state *ns, lua_State *waiter)
{
    struct net_thread *t;
    int depth = 0;

    while (waiter != ns->main && (t = net_thread_of(ns, waiter)) != NULL &&
           depth <= LF_NET_NEST) {
        waiter = t->parent;
        depth++;
    }
    return depth;
}

/* Is T spawned by WAITER, or by one of its descendants? */
static int
net_sched_descends(struct net_state *ns, struct net_thread *t, lua_State *waiter)
{
    int hops = 0;

    while (t != NULL && hops++ <= LF_NET_NEST) {
        if (t->parent == waiter)
            return 1;
        t = net_thread_of(ns, t->parent);
    }
    return 0;
}

/*
 * Resume, once each, the threads whose wait is over, from WAITER's wait in
 * place. The handler resumes any; a light thread that waits in place
 * (under a pcall) resumes only its own descendants: one resumed beneath it
 * that waits in place too would hold it on the C stack until that one is
 * over, so siblings wait for it to end its wait instead. This bounds the
 * nesting by the spawn tree's depth, which LF_NET_NEST bounds in turn.
 */
static void
net_sched_resume_due(lua_State *L, struct net_state *ns)
{
    struct net_thread *t;
    long long now = monoclock_ms();
    int mine = L == ns->main;

    if (!mine && net_sched_depth(ns, L) >= LF_NET_NEST)
        return;
    for (t = ns->threads; t != NULL; t = t->next)
        if (net_sched_due(L, ns, t, now) && (mine || net_sched_descends(ns, t, L)))
            net_thread_resume(L, ns, t, 0);
}

/* Can the wait in place of WAITER resume T? */
static int
net_sched_mine(struct net_state *ns, struct net_thread *t, lua_State *waiter)
{
    return waiter == ns->main ||
           (net_sched_depth(ns, waiter) < LF_NET_NEST && net_sched_descends(ns, t, waiter));
}

/* Room for N pollfds, in a userdata the registry keeps. */
static struct pollfd *
net_sched_pollfds(lua_State *L, int n)
{
    struct pollfd *p;

    lua_pushlightuserdata(L, (void *)&net_sched_pfd_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    p = lua_touserdata(L, -1);
    if (p == NULL || lua_objlen(L, -1) < (size_t)n * sizeof(*p)) {
        lua_pop(L, 1);
        lua_pushlightuserdata(L, (void *)&net_sched_pfd_key);
        p = lua_newuserdata(L, (size_t)(n + 8) * sizeof(*p));
        lua_rawset(L, LUA_REGISTRYINDEX);
        return p;
    }
    lua_pop(L, 1);
    return p;
}

/*
 * Wait in place until DONE(ARG) holds or FD is ready for EVENTS (either
 * may be absent: NULL, -1) or DEADLINE (ms, 0: none) passes, resuming
 * the light threads whose waits end meanwhile. NET_READY or NET_TIMEDOUT;
 * past the request's deadline, raises its timeout. [-0, +0, e]
 */
int
net_sched_run(lua_State *L, struct net_state *ns, int (*done)(void *), void *arg, int fd,
              short events, long long deadline)
{
    struct pollfd own, *fds;
    struct net_thread *t;
    long long now, req, until;
    int n, timeout, ready;

    for (;;) {
        req = net_request_deadline(L);
        now = monoclock_ms();
        if (req && now >= req)
            return state_raise_timeout(L);
        if (ns->nthreads) {
            net_sched_resume_due(L, ns);
            now = monoclock_ms();
        }
        if (done != NULL && done(arg))
            return NET_READY;
        if (deadline && now >= deadline)
            return NET_TIMEDOUT;
        until = net_sched_min(deadline, req);
        ready = 0;
        n = fd >= 0 ? 1 : 0;
        for (t = ns->threads; t != NULL; t = t->next) {
            if (t->status != NET_T_WAIT && t->status != NET_T_READY)
                continue;
            if (!net_sched_mine(ns, t, L))
                t->polled = 0;
            else if (t->status == NET_T_WAIT) {
                until = net_sched_min(until, t->deadline);
                n += t->polled = t->fd >= 0;
                ready |= net_sched_due(L, ns, t, now);
            } else
                ready = 1;
        }
        fds = n <= 1 ? &own : net_sched_pollfds(L, n);
        n = 0;
        if (fd >= 0) {
            fds[0].fd = fd;
            fds[0].events = events;
            fds[0].revents = 0;
            n = 1;
        }
        for (t = ns->threads; t != NULL; t = t->next)
            if (t->status == NET_T_WAIT && t->polled) {
                fds[n].fd = t->fd;
                fds[n].events = t->events;
                fds[n].revents = 0;
                n++;
            }
        timeout = ready ? 0 : until == 0 ? -1 :
                  until - now > 0x7fffffff ? 0x7fffffff : (int)(until - now);
        if (timeout < 0 && until != 0)
            timeout = 0;
        if (timeout != 0)
            blockhint();
        if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR)
            return net_error(L, "poll: %s", strerror(errno));
        n = fd >= 0 ? 1 : 0;
        for (t = ns->threads; t != NULL; t = t->next)
            if (t->status == NET_T_WAIT && t->polled)
                t->revents = fds[n++].revents;
        if (fd >= 0 && fds[0].revents != 0)
            return NET_READY;
    }
}

/* S's descriptor is ready for EVENTS: a read may find something again
 * (net_io_fill). */
static int
net_wait_ready(struct net_sock *s, short events)
{
    if (s != NULL && (events & POLLIN))
        s->rdry = 0;
    return NET_READY;
}

/*
 * S's operation must wait for FD to be ready for EVENTS, until DL (ms,
 * its own deadline; 0: none). NET_READY, NET_TIMEDOUT, or NET_YIELD when L is a light
 * thread that yields instead (its wait recorded). [-0, +0, e]
 */
int
net_wait(lua_State *L, struct net_state *ns, struct net_sock *s, int fd, short events, long long dl)
{
    struct net_thread *t;
    long long now = monoclock_ms(), req = net_request_deadline(L);

    if (req && now >= req)
        return state_raise_timeout(L);
    if (dl && now >= dl)
        return NET_TIMEDOUT;
    if ((t = net_sched_yieldable(ns, L)) != NULL) {
        if (t->fd == fd && fd >= 0 && t->revents != 0) {
            /* what the poll that resumed it saw */
            t->fd = -1;
            t->revents = 0;
            return net_wait_ready(s, events);
        }
        t->status = NET_T_WAIT;
        t->revents = 0;
        t->fd = fd;
        t->events = events;
        t->deadline = dl;       /* the request's deadline: net_sched_run's own */
        t->sock = s;
        return NET_YIELD;
    }
    if (net_sched_run(L, ns, NULL, NULL, fd, events, dl) == NET_TIMEDOUT)
        return NET_TIMEDOUT;
    return net_wait_ready(s, events);
}

/* Sleep until DEADLINE, taking turns; bounded by the request's deadline,
 * which raises its timeout. A lua_CFunction's tail: returns what that
 * function returns (nothing, or a yield). [-0, +0, e] */
int
net_sleep_until(lua_State *L, struct net_state *ns, long long deadline)
{
    struct net_thread *t;

    if ((t = net_sched_yieldable(ns, L)) != NULL) {
        /* its own end only: the scheduler raises the request's timeout at
         * the request's deadline as it is then. Capped by the deadline as
         * it was here, a sleep begun in a content script's first run (the
         * state's load, with a deadline of its own) ended early, and
         * normally, as the load's deadline passed, before the request's */
        t->status = NET_T_WAIT;
        t->fd = -1;
        t->revents = 0;
        t->deadline = deadline ? deadline : monoclock_ms();
        return lua_yield(L, 0);
    }
    net_sched_run(L, ns, NULL, NULL, -1, 0, deadline);
    return 0;
}
