/*
 * ngx_timer.c: the threads that run ngx.timer's callbacks; the timers
 * scripts make with ngx.timer.at and every (ngx_timer_lua.c) wait here.
 *
 * A callback runs in the state that scheduled it, as in OpenResty, where
 * a timer keeps its Lua VM: the timer pins that state (pool.c), so the
 * pool never closes it while timers wait in it, and takes it (waiting
 * while a request has it) to run. The callback and its arguments stay in
 * that state's registry. It runs on a timer thread of its own, never on
 * a request's worker, under the same `timeout` and `memory` as a request,
 * with its own slot in the slow log (numbered after the workers); the
 * status page counts timers pending and running. Timer threads are made
 * when a timer is due and no thread is free, at most
 * `timer_max_running`, and end after a while without work.
 *
 * Limits: at most `timer_max_pending` timers wait (ngx.timer.at then
 * answers nil, "too many pending timers", as OpenResty does), at most
 * `timer_max_running` callbacks run at once (the others wait their turn:
 * OpenResty would drop them).
 *
 * Stopping: on TERM (and for the old process of an upgrade) every pending
 * callback runs at once with premature = true, and no new timer is taken
 * (nil, "process exiting"; a zero delay still runs, as in OpenResty). On
 * HUP the timers pending run the same way, in their old states, which
 * close after them; a callback running premature cannot schedule another.
 *
 * The lock guards the list and the counts; it is never held across a
 * Lua call or a wait for a state.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf.h"
#include "counters.h"
#include "log.h"
#include "monoclock.h"
#include "ngx.h"
#include "net.h"
#include "ngx_impl.h"
#include "pool.h"
#include "request.h"
#include "sandbox.h"
#include "slowlog.h"
#include "state.h"
#include "workdir.h"

/* The timers of the serving process. */
static struct {
    pthread_mutex_t     lock;           /* guards all below */
    pthread_cond_t      cond;           /* monotonic: work, a thread ended, the stop */
    struct pool        *pool;
    struct ngx_timer   *pending;
    struct ngx_timer   *running;        /* taken by a thread */
    int                 npending;
    int                 nrunning;
    int                 threads;        /* timer threads alive */
    int                 idle;           /* of them, waiting for work */
    int                 exiting;        /* TERM or upgrade */
    int                 started;        /* ngx_timers_start ran */
    int                 slot_base;      /* thread N is worker slot_base + N (slow log) */
    int                 nslots;
    unsigned char      *slot_used;
} ngx_timers = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the list ------------------------------------------------------------ */

/* Insert T by its due time; lock held. */
static void
ngx_timer_insert(struct ngx_timer *t)
{
    struct ngx_timer **pp = &ngx_timers.pending;

    while (*pp != NULL && (*pp)->due_ms <= t->due_ms && !(t->premature && !(*pp)->premature))
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    ngx_timers.npending++;
    counters_timers(ngx_timers.npending, ngx_timers.nrunning);
}

/* Every pending timer runs now, premature; lock held. */
static void
ngx_timer_expire_all(void)
{
    struct ngx_timer *t;

    for (t = ngx_timers.pending; t != NULL; t = t->next) {
        t->premature = 1;
        t->due_ms = 0;
    }
    pthread_cond_broadcast(&ngx_timers.cond);
}

/* T is done running; lock held. */
static void
ngx_timer_done(struct ngx_timer *t)
{
    struct ngx_timer **pp;

    for (pp = &ngx_timers.running; *pp != NULL; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    ngx_timers.nrunning--;
    counters_timers(ngx_timers.npending, ngx_timers.nrunning);
}

/* ---- running one ----------------------------------------------------------- */

/* What a timer's run needs, passed to its protected call. */
struct ngx_timer_run {
    struct ngx_timer   *t;
    int                 rescheduled;    /* the callback runs premature: no new timer */
};

/* The callback with premature and its arguments, in protected mode, with
 * ngx bound to the timer. [-0, +0, e] */
static int
ngx_timer_entry(lua_State *L)
{
    struct ngx_timer *t = lua_touserdata(L, 1);
    struct ngx_state *s;
    int n, i;

    lua_settop(L, 0);
    lua_pushcfunction(L, state_traceback);
    ngx_push_state(L);
    s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    ngx_reset(L, s);
    s->timer = t;
    ngx_push_ref(L, t->ref);
    lua_getfield(L, -1, "n");
    n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_rawgeti(L, 2, 1);
    lua_pushboolean(L, t->premature);
    for (i = 1; i <= n; i++)
        lua_rawgeti(L, 2, i + 1);
    lua_remove(L, 2);
    if (lua_pcall(L, n + 1, 0, 1) != 0) {
        s->timer = NULL;
        if (state_over(L) == STATE_OK && !state_is_exit(L, -1))
            sandbox_describe(L, -1);
        return lua_error(L);
    }
    net_lua_finish(L);      /* its light threads end first */
    s->timer = NULL;
    return 0;
}

/* Run T in its state on a timer thread whose request R names it for the
 * slow log; the pool's DISCARD for the state. */
static int
ngx_timer_call(struct ngx_timer *t, struct request *r, struct conf *c)
{
    lua_State *L = t->st->L;
    struct ngx_state *s;
    int rc, discard = POOL_KEEP;
    const char *why;

    r->script = t->script;
    r->vars.script_name = "ngx.timer";
    r->vars.request_method = "TIMER";
    r->began_us = monoclock_us();
    snprintf(r->id, sizeof(r->id), "timer");
    r->slow = c->slowtime > 0 && c->slowlog != NULL ? slowlog_begin(r) : NULL;
    state_arm(L, c);
    state_watch(L, r->slow != NULL ? slowlog_watch : NULL, r->slow);
    rc = lua_cpcall(L, ngx_timer_entry, t);
    net_lua_end(L);         /* its light threads and open sockets go */
    state_disarm(L);
    if (r->slow != NULL) {
        slowlog_end(r->worker);
        r->slow = NULL;
    }
    if (state_over(L) != STATE_OK || (rc != 0 && !state_is_exit(L, -1))) {
        why = state_over(L) == STATE_OVER_TIME ? "timeout: the callback ran too long; its state is closed" :
              state_over(L) == STATE_OVER_MEMORY ? "memory limit reached; its state is closed" :
              lua_isstring(L, -1) ? lua_tostring(L, -1) : "(an error object that is no string)";
        log_err("timer %d: %s: the callback failed: %s", r->worker, t->script, why);
        discard = state_over(L) == STATE_OVER_TIME ? POOL_DISCARD_TIMEOUT :
                  state_over(L) == STATE_OVER_MEMORY ? POOL_DISCARD_MEMORY : POOL_KEEP;
    }
    lua_settop(L, 0);
    ngx_push_state(L);
    s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    s->timer = NULL;
    ngx_reset(L, s);
    return discard;
}

/* Drop the pending timers of ST, whose state is being closed; lock not
 * held. They were the state's: their pins go. */
static void
ngx_timer_drop_state(struct pool_state *st)
{
    struct ngx_timer **pp, *t, *gone = NULL;
    int n = 0;

    pthread_mutex_lock(&ngx_timers.lock);
    for (pp = &ngx_timers.pending; (t = *pp) != NULL;) {
        if (t->st != st) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        t->next = gone;
        gone = t;
        ngx_timers.npending--;
        n++;
    }
    counters_timers(ngx_timers.npending, ngx_timers.nrunning);
    pthread_mutex_unlock(&ngx_timers.lock);
    for (; gone != NULL; gone = t) {
        t = gone->next;
        pool_unpin(ngx_timers.pool, gone->st);
        free(gone);
    }
    if (n > 0)
        log_err("timer: %d timers of a closed state dropped", n);
}

/* Take T's state, run it, give the state back; reschedule an `every`. */
static void
ngx_timer_run(struct ngx_timer *t, struct request *r)
{
    struct pool *p = ngx_timers.pool;
    struct pool_state *st = t->st;
    struct conf *c;
    int discard, again;

    if (pool_take(p, st) < 0) {         /* its state was closed: the pin went */
        log_info("timer: %s: its state was closed; the callback is dropped", t->script);
        pthread_mutex_lock(&ngx_timers.lock);
        ngx_timer_done(t);
        pthread_cond_broadcast(&ngx_timers.cond);
        pthread_mutex_unlock(&ngx_timers.lock);
        free(t);
        return;
    }
    c = conf_acquire();
    discard = ngx_timer_call(t, r, c);
    conf_release(c);
    again = t->every_ms > 0 && !t->premature && !ngx_timer_exiting() && discard == POOL_KEEP;
    if (again)
        pool_pin(p, st);        /* the next run's pin, before this one's goes */
    else
        luaL_unref(st->L, LUA_REGISTRYINDEX, t->ref);
    pthread_mutex_lock(&ngx_timers.lock);
    ngx_timer_done(t);
    if (again) {
        t->due_ms = t->every_ms == NGX_TIMER_NEVER ? NGX_TIMER_NEVER : monoclock_ms() + t->every_ms;
        ngx_timer_insert(t);
    }
    pthread_cond_broadcast(&ngx_timers.cond);
    pthread_mutex_unlock(&ngx_timers.lock);
    if (!again) {
        if (discard != POOL_KEEP)
            ngx_timer_drop_state(st);
        free(t);
    }
    pool_give(p, st, discard);
}

/* ---- the threads ------------------------------------------------------------ */

/* A free slot number for a new timer thread (1-based), or 0; lock held. */
static int
ngx_timer_slot(void)
{
    int i;

    for (i = 0; i < ngx_timers.nslots; i++)
        if (!ngx_timers.slot_used[i]) {
            ngx_timers.slot_used[i] = 1;
            return i + 1;
        }
    return 0;
}

/* Does another thread run a timer in ST now? Lock held. */
static int
ngx_timer_state_busy(const struct pool_state *st)
{
    const struct ngx_timer *t;

    for (t = ngx_timers.running; t != NULL; t = t->next)
        if (t->st == st)
            return 1;
    return 0;
}

/*
 * The first timer due whose state no other timer has (a thread waiting
 * for it would only wait: a timer that reschedules itself at once would
 * hold two threads, and starve the others), taken; or NULL, with how long
 * to wait in *WAIT_MS. Lock held.
 */
static struct ngx_timer *
ngx_timer_due(long long now, long long *wait_ms)
{
    struct ngx_timer **pp, *t;
    struct conf *c;
    int max;

    *wait_ms = LF_NGX_TIMER_IDLE_MS;
    c = conf_acquire();
    max = c->timer_max_running;
    conf_release(c);
    if (ngx_timers.nrunning >= max)
        return NULL;            /* a running one's end wakes us */
    for (pp = &ngx_timers.pending; (t = *pp) != NULL; pp = &t->next) {
        if (t->due_ms > now) {
            if (t->due_ms - now < *wait_ms)
                *wait_ms = t->due_ms - now;
            return NULL;
        }
        if (!ngx_timer_state_busy(t->st))
            break;
    }
    if (t == NULL)
        return NULL;            /* the due ones wait for their states: an end wakes us */
    *pp = t->next;
    t->next = ngx_timers.running;
    ngx_timers.running = t;
    ngx_timers.npending--;
    ngx_timers.nrunning++;
    counters_timers(ngx_timers.npending, ngx_timers.nrunning);
    return t;
}


static void ngx_timer_spawn(void);

static void *
ngx_timer_thread(void *arg)
{
    int slot = (int)(long)arg;
    struct request r;
    struct workdir wd;
    struct ngx_timer *t;
    long long wait_ms = LF_NGX_TIMER_IDLE_MS, idle_since = monoclock_ms();
    struct timespec until;

    if (request_init(&r, ngx_timers.slot_base + slot, ngx_timers.pool) < 0)
        r.worker = -1;
    workdir_enter(&wd, ngx_timers.slot_base + slot, 0);
    pthread_mutex_lock(&ngx_timers.lock);
    for (;;) {
        t = r.worker < 0 ? NULL : ngx_timer_due(monoclock_ms(), &wait_ms);
        if (t == NULL) {
            if ((ngx_timers.pending == NULL && monoclock_ms() - idle_since >= LF_NGX_TIMER_IDLE_MS) ||
                (ngx_timers.exiting && ngx_timers.pending == NULL) || r.worker < 0)
                break;
            ngx_timers.idle++;
            monoclock_deadline(&until, wait_ms);
            pthread_cond_timedwait(&ngx_timers.cond, &ngx_timers.lock, &until);
            ngx_timers.idle--;
            continue;
        }
        if (ngx_timers.pending != NULL && ngx_timers.pending->due_ms <= monoclock_ms() &&
            ngx_timers.idle == 0)
            ngx_timer_spawn();      /* more are due: another thread for them */
        pthread_mutex_unlock(&ngx_timers.lock);
        ngx_timer_run(t, &r);
        workdir_reset(&wd);
        pthread_mutex_lock(&ngx_timers.lock);
        idle_since = monoclock_ms();
    }
    ngx_timers.threads--;
    ngx_timers.slot_used[slot - 1] = 0;
    pthread_cond_broadcast(&ngx_timers.cond);
    pthread_mutex_unlock(&ngx_timers.lock);
    workdir_leave(&wd);
    if (r.worker >= 0)
        request_free(&r);
    return NULL;
}

/* One more timer thread, if the limit allows; lock held. */
static void
ngx_timer_spawn(void)
{
    pthread_attr_t attr;
    pthread_t tid;
    int slot, rc;

    if ((slot = ngx_timer_slot()) == 0)
        return;
    if ((rc = pthread_attr_init(&attr)) != 0 ||
        (rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED)) != 0 ||
        (rc = pthread_create(&tid, &attr, ngx_timer_thread, (void *)(long)slot)) != 0) {
        log_err("timer: cannot start a timer thread: %s", strerror(rc));
        ngx_timers.slot_used[slot - 1] = 0;
        return;
    }
    pthread_attr_destroy(&attr);
    ngx_timers.threads++;
}

/*
 * ST left the pool, adrift (pool_on_adrift; the pool's lock is held,
 * which never waits for this one): its pending timers run now, premature,
 * as on a HUP, so that an `every` ends and the state closes after them;
 * else a state retired by a full pool would stay, with its timer, for
 * ever, and one more with each request that loads the script anew.
 */
static void
ngx_timer_adrift(struct pool_state *st)
{
    struct ngx_timer **pp, *t, *moved = NULL;

    pthread_mutex_lock(&ngx_timers.lock);
    for (pp = &ngx_timers.pending; (t = *pp) != NULL;) {
        if (t->st != st || t->premature) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        ngx_timers.npending--;
        t->premature = 1;
        t->due_ms = 0;
        t->next = moved;
        moved = t;
    }
    for (; moved != NULL; moved = t) {
        t = moved->next;
        ngx_timer_insert(moved);
    }
    if (ngx_timers.pending != NULL && ngx_timers.pending->premature) {
        if (ngx_timers.idle == 0)
            ngx_timer_spawn();
        pthread_cond_broadcast(&ngx_timers.cond);
    }
    pthread_mutex_unlock(&ngx_timers.lock);
}

/* ---- the daemon's side (ngx.h) ------------------------------------------------ */

/*
 * Before the workers start: timers run in POOL's states, their threads
 * numbered after the WORKERS for the slow log (which has MAX more slots:
 * timer_max_running's value now, as it takes a restart). 0, or -1.
 */
int
ngx_timers_start(struct pool *pool, int workers, int max)
{
    if (monoclock_cond_init(&ngx_timers.cond) != 0) {
        log_err("timers: cannot set up their condition variable");
        return -1;
    }
    if ((ngx_timers.slot_used = calloc((size_t)max, 1)) == NULL) {
        log_syserr("timers: cannot allocate %d thread slots", max);
        return -1;
    }
    ngx_timers.pool = pool;
    pool_on_adrift(pool, ngx_timer_adrift);
    ngx_timers.slot_base = workers;
    ngx_timers.nslots = max;
    ngx_timers.started = 1;
    return 0;
}

/* HUP: every pending callback runs now, premature, in its old state. */
void
ngx_timers_flush(void)
{
    if (!ngx_timers.started)
        return;
    pthread_mutex_lock(&ngx_timers.lock);
    ngx_timer_expire_all();
    if (ngx_timers.pending != NULL && ngx_timers.idle == 0)
        ngx_timer_spawn();
    pthread_mutex_unlock(&ngx_timers.lock);
}

/* TERM or upgrade: no new timer is taken, the pending ones run at once,
 * premature; then wait up to MS for every timer thread to end: 0, or -1
 * when some still run (logged). */
int
ngx_timers_stop(long long ms)
{
    struct timespec until;
    int left, rc = 0;

    if (!ngx_timers.started)
        return 0;
    monoclock_deadline(&until, ms);
    pthread_mutex_lock(&ngx_timers.lock);
    ngx_timers.exiting = 1;
    ngx_timer_expire_all();
    if (ngx_timers.pending != NULL && ngx_timers.idle == 0)
        ngx_timer_spawn();
    while ((ngx_timers.threads > 0 || ngx_timers.pending != NULL) && rc == 0)
        rc = pthread_cond_timedwait(&ngx_timers.cond, &ngx_timers.lock, &until);
    left = ngx_timers.threads;
    pthread_mutex_unlock(&ngx_timers.lock);
    if (left > 0) {
        log_err("stop: %d timer callbacks still running after %lld s; exiting without them", left,
                ms / 1000);
        return -1;
    }
    return 0;
}

int
ngx_timer_exiting(void)
{
    int e;

    pthread_mutex_lock(&ngx_timers.lock);
    e = ngx_timers.exiting;
    pthread_mutex_unlock(&ngx_timers.lock);
    return e;
}

/* ---- for ngx.timer (ngx_timer_lua.c) ------------------------------------ */

/* Are the timer threads there to run timers? */
int
ngx_timers_ready(void)
{
    return ngx_timers.started;
}

/* Schedule T, its state pinned. */
void
ngx_timer_schedule(struct ngx_timer *t)
{
    pool_pin(ngx_timers.pool, t->st);
    pthread_mutex_lock(&ngx_timers.lock);
    ngx_timer_insert(t);
    if (ngx_timers.idle == 0)
        ngx_timer_spawn();
    else
        pthread_cond_signal(&ngx_timers.cond);
    pthread_mutex_unlock(&ngx_timers.lock);
}

/* Timers running (RUNNING) or pending. */
int
ngx_timers_count(int running)
{
    int n;

    pthread_mutex_lock(&ngx_timers.lock);
    n = running ? ngx_timers.nrunning : ngx_timers.npending;
    pthread_mutex_unlock(&ngx_timers.lock);
    return n;
}
