/*
 * pool_pin.c: states pinned by their timers (pool.c: the pool itself).
 *
 * Timers (ngx.timer) run in the state that scheduled them: each pins it
 * (pool_pin). A pinned state is never closed for maxidle, and is the
 * victim of a full pool only when every idle state is pinned; when the
 * pool would close it (that, its script changed, a HUP, maxrequests, a
 * limit) it leaves the pool instead, adrift: no request takes it, `states`
 * does not count it, its timers are told to run now (pool_on_adrift: as
 * on a HUP, premature, so that an `every` stops), and it is closed when
 * its last pin goes. A
 * state that failed (over a limit, a broken load) has its Lua closed at
 * once even so: what pins it then finds it gone (pool_take) and drops.
 * A timer takes its own state with pool_take, waiting while a request
 * has it, and gives it back with pool_give.
 */
#include <pthread.h>
#include <stdlib.h>

#include "luafcgid.h"
#include "counters.h"
#include "pool.h"
#include "pool_impl.h"

/* ST, pinned by timers, leaves the pool, adrift; with BROKEN its Lua goes
 * onto DEAD now, carried by a slot of its own (a failure to make one only
 * keeps it open until its timers are done). The adrift hook is told, so
 * that its timers run now (premature) rather than keep it for ever.
 * Lock held. */
void
pool_adrift(struct pool *p, struct pool_state *st, struct pool_state **dead, int broken)
{
    struct pool_state *carrier;

    st->adrift = 1;
    if (p->adrift_fn != NULL)
        p->adrift_fn(st);
    if (!broken)
        return;
    st->closed = 1;
    if (st->L == NULL || (carrier = calloc(1, sizeof(*carrier))) == NULL)
        return;
    carrier->L = st->L;
    carrier->script = st->script;
    st->L = NULL;
    st->script = NULL;
    carrier->next = *dead;
    *dead = carrier;
}

/* FN is told of each state set adrift (pool_adrift), with the lock held:
 * it may take no lock that is held while this one is taken. Before the
 * workers start. */
void
pool_on_adrift(struct pool *p, pool_adrift_fn fn)
{
    p->adrift_fn = fn;
}

/* A timer is scheduled in ST (a request's or a timer's: busy). */
void
pool_pin(struct pool *p, struct pool_state *st)
{
    pthread_mutex_lock(&p->lock);
    st->pins++;
    pthread_mutex_unlock(&p->lock);
}

/* Done with ST, when the last pin goes: one adrift goes onto DEAD.
 * Lock held. */
static void
pool_unpin_locked(struct pool_state *st, struct pool_state **dead)
{
    st->pins--;
    if (st->pins == 0 && st->adrift && !st->busy) {
        st->next = *dead;
        *dead = st;
    }
}

/* A timer of ST will not run (dropped, or its state closed): its pin goes. */
void
pool_unpin(struct pool *p, struct pool_state *st)
{
    struct pool_state *dead = NULL;

    pthread_mutex_lock(&p->lock);
    pool_unpin_locked(st, &dead);
    pool_unlock_and_close(p, dead);
}

/*
 * A timer takes the state it pins, waiting while a request (or another
 * timer) has it: 0, or -1 when its Lua was closed (a failure, while it
 * was pinned), and the pin is then gone.
 */
int
pool_take(struct pool *p, struct pool_state *st)
{
    struct pool_state *dead = NULL;

    pthread_mutex_lock(&p->lock);
    while (st->busy && !st->closed && !st->orphan) {
        p->taking++;
        st->wanted++;       /* given back, it is this timer's (pool_idle_pop) */
        pthread_cond_wait(&p->cond, &p->lock);
        st->wanted--;
        p->taking--;
    }
    if (st->closed || st->orphan || st->L == NULL) {    /* written off: lost too */
        pool_unpin_locked(st, &dead);
        pool_unlock_and_close(p, dead);
        return -1;
    }
    if (!st->adrift)
        pool_idle_unlink(p, st->entry, st);
    st->busy = 1;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* The timer is done with ST, and its pin goes; DISCARD as
 * pool_release's. */
void
pool_give(struct pool *p, struct pool_state *st, int discard)
{
    struct pool_state *dead = NULL;

    pthread_mutex_lock(&p->lock);
    st->busy = 0;
    st->pins--;
    if (st->adrift) {
        if (discard)
            pool_adrift(p, st, &dead, 1);
        if (st->pins == 0) {
            st->next = dead;
            dead = st;
        }
    } else {
        st->pins++;     /* pool_remove sets it adrift if other timers hold it */
        if (discard == POOL_DISCARD_TIMEOUT)
            pool_remove(p, st, &dead, COUNTERS_EVICT_TIMEOUT);
        else if (discard == POOL_DISCARD_MEMORY)
            pool_remove(p, st, &dead, COUNTERS_EVICT_MEMORY);
        else if (discard)
            pool_remove(p, st, &dead, -1);
        else if (!pool_state_current(p, st))
            pool_remove(p, st, &dead, pool_stale_why(p, st));
        else
            pool_idle_push(p, st);
        pool_unpin_locked(st, &dead);
    }
    pool_unlock_and_close(p, dead);
}
