/*
 * pool_closer.c: states are closed by a thread of their own, watched as
 * a worker is.
 *
 * Closing a state runs C code: lua_close calls the __gc of every userdata
 * left, and a C module's finalizer may block for as long as it likes (a
 * client library waiting for its server, a lock, a lingering close). A
 * worker that closed the state it dropped after a timeout, or a victim it
 * evicted to make room, would be stuck where no run is watched; the
 * housekeeper closing idle states would stop the watch itself (no more
 * write-offs, no max_rss); the main thread flushing on HUP would stop
 * taking signals. So once the daemon starts the closer
 * (pool_closer_start), every state the pool drops is queued here and
 * closed, in order, by the closer thread, which nobody waits for.
 *
 * The closer is watched as workers are: at every sweep the housekeeper
 * asks (pool_closer_sweep) whether a close has run terminate_timeout; if
 * so that closer is written off (its thread detached and left to its
 * call; if the call ever returns, the thread frees its own record and
 * ends, touching nothing else) and a new closer takes the queue. Written-
 * off closers count with written-off workers toward max_written_off (the
 * serving process is then replaced, which ends them); past
 * LF_CLOSERS_OFF_MAX none more is started, and the states wait, out of
 * the pool, for that replacement. The pool is never freed while one is
 * stuck (pool_closer_stop says so), as its lock is what it comes back to.
 *
 * Without a closer (the unit tests; before the daemon starts it; after a
 * stop) the caller closes what it drops, as before.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "luafcgid.h"
#include "log.h"
#include "monoclock.h"
#include "pool.h"
#include "pool_impl.h"

/* The locks and conditions; close_idle on the monotonic clock, for the
 * stop's bound. 0, or -1 (logged). */
int
pool_closer_init(struct pool *p)
{
    int rc;

    if ((rc = pthread_mutex_init(&p->close_lock, NULL)) != 0) {
        log_err("cannot initialise the state closer's lock: %s", strerror(rc));
        return -1;
    }
    if ((rc = monoclock_cond_init(&p->close_idle)) == 0 &&
        (rc = pthread_cond_init(&p->close_cond, NULL)) != 0)
        pthread_cond_destroy(&p->close_idle);
    if (rc != 0) {
        log_err("cannot initialise the state closer's conditions: %s", strerror(rc));
        pthread_mutex_destroy(&p->close_lock);
        return -1;
    }
    return 0;
}

/* Once no closer runs (pool_closer_stop), or none was started. */
void
pool_closer_free(struct pool *p)
{
    pthread_cond_destroy(&p->close_cond);
    pthread_cond_destroy(&p->close_idle);
    pthread_mutex_destroy(&p->close_lock);
}

/* Queue DEAD (a list) for the closer. close_lock held. */
static void
pool_closer_queue(struct pool *p, struct pool_state *dead)
{
    struct pool_state *last = dead;
    int n = 1;

    while (last->next != NULL) {
        last = last->next;
        n++;
    }
    if (p->closing_last != NULL)
        p->closing_last->next = dead;
    else
        p->closing = dead;
    p->closing_last = last;
    p->nclosing += n;
    pthread_cond_signal(&p->close_cond);
}

/*
 * Close the states on DEAD (taken out of the pool, the lock dropped):
 * queued for the closer once one was started, unless a stop ended it;
 * else here.
 */
void
pool_close_dead(struct pool *p, struct pool_state *dead)
{
    if (dead == NULL)
        return;
    pthread_mutex_lock(&p->close_lock);
    if (p->close_async && !p->close_stop) {
        pool_closer_queue(p, dead);
        pthread_mutex_unlock(&p->close_lock);
        return;
    }
    pthread_mutex_unlock(&p->close_lock);
    pool_close_now(p, dead);
}

/* The closer's loop: the next state in the queue, closed with the lock
 * dropped; until a stop empties the queue, or a write-off. */
static void *
pool_closer_main(void *arg)
{
    struct pool_closer *c = arg;
    struct pool *p = c->pool;
    struct pool_state *st;

    pthread_mutex_lock(&p->close_lock);
    for (;;) {
        if ((st = p->closing) == NULL) {
            if (p->close_stop)
                break;
            pthread_cond_broadcast(&p->close_idle);
            pthread_cond_wait(&p->close_cond, &p->close_lock);
            continue;
        }
        if ((p->closing = st->next) == NULL)
            p->closing_last = NULL;
        p->nclosing--;
        st->next = NULL;
        c->since_ms = monoclock_ms();
        c->script = st->script;
        pthread_mutex_unlock(&p->close_lock);
        if (st->L != NULL) {
            p->close_fn(st->L);
            st->L = NULL;
        }
        pthread_mutex_lock(&p->close_lock);
        c->since_ms = 0;
        c->script = NULL;
        if (c->written_off) {
            /* another closer has the queue, and the pool this lock */
            p->closers_off--;
            pthread_mutex_unlock(&p->close_lock);
            log_notice("state closer %d: its close came back; it ends", c->number);
            free(st->script);
            free(st);
            free(c);
            return NULL;
        }
        __atomic_add_fetch(&p->closed, 1, __ATOMIC_RELAXED);
        free(st->script);
        free(st);
    }
    c->done = 1;
    pthread_cond_broadcast(&p->close_idle);
    pthread_mutex_unlock(&p->close_lock);
    return NULL;
}

/* A new closer thread, as p->closer; close_lock held. 0, or -1 (logged;
 * the queue waits). */
static int
pool_closer_launch(struct pool *p)
{
    struct pool_closer *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL) {
        log_syserr("cannot allocate a state closer");
        return -1;
    }
    c->pool = p;
    c->number = ++p->closers_started;
    if ((rc = pthread_create(&c->thread, NULL, pool_closer_main, c)) != 0) {
        log_err("cannot start a state closer: %s", strerror(rc));
        free(c);
        return -1;
    }
    p->closer = c;
    return 0;
}

/* From now on the states the pool drops are closed by the closer. 0, or
 * -1 (logged; they are closed by whoever drops them). */
int
pool_closer_start(struct pool *p)
{
    int rc;

    pthread_mutex_lock(&p->close_lock);
    if ((rc = pool_closer_launch(p)) == 0)
        p->close_async = 1;
    pthread_mutex_unlock(&p->close_lock);
    return rc;
}

/*
 * The housekeeper, every sweep: a close that has run LIMIT s
 * (terminate_timeout; 0: never) is stuck in C. Its closer is written
 * off and another takes the queue. 1 when one was, with what to say of
 * it in WHY (logged here already), else 0.
 */
int
pool_closer_sweep(struct pool *p, int limit, char *why, size_t whylen)
{
    struct pool_closer *c;
    long long now = monoclock_ms(), ran;
    int started, off;

    if (limit <= 0)
        return 0;
    pthread_mutex_lock(&p->close_lock);
    c = p->closer;
    if (c == NULL || c->since_ms == 0 || (ran = now - c->since_ms) < limit * 1000LL) {
        pthread_mutex_unlock(&p->close_lock);
        return 0;
    }
    if (p->closers_off >= LF_CLOSERS_OFF_MAX) {
        if (!p->closers_capped)
            log_warn("%d state closers are written off and still stuck: no more are; states "
                     "wait to be closed until the serving process is replaced", p->closers_off);
        p->closers_capped = 1;
        pthread_mutex_unlock(&p->close_lock);
        return 0;
    }
    c->written_off = 1;
    off = ++p->closers_off;
    pthread_detach(c->thread);
    p->closer = NULL;
    started = pool_closer_launch(p) == 0;
    snprintf(why, whylen, "state closer %d: closing a state of %s ran %.1f s, past "
             "terminate_timeout (%d s), stuck in a C function (a finalizer, __gc): written off; %s "
             "(%d written off now, %d states waiting)", c->number, c->script ? c->script : "-",
             (double)ran / 1e3, limit, started ? "a new closer took its place" :
             "no closer could take its place", off, p->nclosing);
    pthread_mutex_unlock(&p->close_lock);
    log_err("%s", why);
    return 1;
}

/* Closers written off whose threads are still stuck. */
int
pool_closers_off(struct pool *p)
{
    int n;

    pthread_mutex_lock(&p->close_lock);
    n = p->closers_off;
    pthread_mutex_unlock(&p->close_lock);
    return n;
}

/*
 * The stop: every idle state goes to the closer, which closes what is
 * queued and ends, within MS. 0 once it has, and closes are the caller's
 * again; -1 when a close is stuck (or a written-off one still is): the
 * pool must then be left as it is, not destroyed (logged).
 */
int
pool_closer_stop(struct pool *p, long long ms)
{
    struct pool_closer *c;
    struct timespec until;
    int rc = 0, off;

    pool_flush(p);
    monoclock_deadline(&until, ms);
    pthread_mutex_lock(&p->close_lock);
    p->close_stop = 1;
    pthread_cond_broadcast(&p->close_cond);
    while ((c = p->closer) != NULL && !c->done && rc == 0)
        rc = pthread_cond_timedwait(&p->close_idle, &p->close_lock, &until);
    off = p->closers_off;
    if (c != NULL && !c->done) {
        log_err("stop: closing a state of %s has not ended after %.1f s: leaving it, and %d "
                "more states", c->script ? c->script : "-", (double)ms / 1e3, p->nclosing);
        c->written_off = 1;
        p->closers_off++;
        pthread_detach(c->thread);
        p->closer = NULL;
        pthread_mutex_unlock(&p->close_lock);
        return -1;
    }
    p->closer = NULL;
    pthread_mutex_unlock(&p->close_lock);
    if (c != NULL) {
        pthread_join(c->thread, NULL);
        free(c);
    }
    if (off > 0) {
        log_notice("stop: %d written-off state closers are still stuck in C; leaving the pool", off);
        return -1;
    }
    return 0;
}
