/*
 * pool_sweep.c: dropping idle states the pool no longer wants.
 *
 * Housekeeping sweeps the pool: an idle state whose script changed or
 * vanished, or that sat idle over maxidle, is dropped, and every few sweeps
 * the hit counts are halved so popularity ages. A flush (SIGHUP) bumps the
 * generation and drops every idle state. The sweep stats files with the
 * lock released; entries it is looking at are pinned so they cannot be
 * freed under it. States are closed after the lock is dropped, as in
 * pool.c, which owns lookup, acquire and release.
 */
#include <pthread.h>
#include <stdlib.h>

#include "luafcgid.h"
#include "chunkcache.h"
#include "counters.h"
#include "log.h"
#include "monoclock.h"
#include "pool.h"
#include "pool_impl.h"
#include "scriptfile.h"

/* Drop E's idle states that are stale or were last used before
 * IDLE_BEFORE (ms; 0: only stale ones). Lock held. */
void
pool_evict_idle_where(struct pool *p, struct pool_entry *e, long long idle_before,
                      struct pool_state **dead)
{
    struct pool_state *st, *next;

    e->pins++;      /* keep e alive while its states go */
    for (st = e->idle; st; st = next) {
        next = st->next;
        if (!pool_state_current(p, st) || (st->last_used < idle_before && st->pins == 0)) {
            pool_idle_unlink(p, e, st);
            pool_remove(p, st, dead, pool_state_current(p, st) ? COUNTERS_EVICT_IDLE : pool_stale_why(p, st));
        }
    }
    e->pins--;
}

/* SIGHUP: every state reloads on its next request. */
void
pool_flush(struct pool *p)
{
    struct pool_state *dead = NULL;

    chunkcache_flush(p->chunks);
    pthread_mutex_lock(&p->lock);
    pool_evict_all(p, &dead);
    pool_unlock_and_close(p, dead);
}

/* A new generation: every idle state goes onto DEAD, and a busy one
 * goes when it is given back (pool_state_current). With the lock held,
 * or with no worker left. */
void
pool_evict_all(struct pool *p, struct pool_state **dead)
{
    struct pool_entry *e, *next;
    unsigned i;

    p->generation++;
    for (i = 0; i < p->nbuckets; i++)
        for (e = p->buckets[i]; e; e = next) {
            next = e->hnext;
            pool_evict_idle_where(p, e, 0, dead);
            pool_entry_release(p, e);
        }
}

static int
pool_snapshot(struct pool *p)
{
    struct pool_entry *e;
    unsigned i;
    int n = 0;

    if (p->nentries > p->snapshot_cap) {
        int cap = p->nentries * 2;
        struct pool_entry **s = realloc(p->snapshot, (size_t)cap * sizeof(*s));
        if (s == NULL) {
            log_syserr("housekeeping: cannot list %d scripts", p->nentries);
            return -1;
        }
        p->snapshot = s;
        p->snapshot_cap = cap;
    }
    for (i = 0; i < p->nbuckets; i++)
        for (e = p->buckets[i]; e; e = e->hnext) {
            e->pins++;
            p->snapshot[n++] = e;
        }
    return n;
}

/*
 * One housekeeping pass: drop idle states whose script changed, vanished,
 * or sat idle over maxidle. Returns how many states were closed.
 */
int
pool_sweep(struct pool *p)
{
    struct pool_state *dead = NULL, *st;
    struct file_id *ids;
    long long idle_before = 0;
    int n, i, closed = 0;

    pthread_mutex_lock(&p->lock);
    n = pool_snapshot(p);
    if (++p->sweeps % LF_HITS_DECAY_SWEEPS == 0) {
        for (i = 0; i < n; i++)
            for (st = p->snapshot[i]->idle; st; st = st->next)
                st->hits /= 2;
    }
    if (p->limits.maxidle > 0)
        idle_before = monoclock_ms() - (long long)p->limits.maxidle * 1000;
    pthread_mutex_unlock(&p->lock);
    if (n <= 0)
        return 0;

    /* paths are immutable and the entries pinned: stat without the lock */
    if ((ids = malloc((size_t)n * sizeof(*ids))) == NULL)
        log_syserr("housekeeping: cannot stat %d scripts", n);
    for (i = 0; ids && i < n; i++)
        scriptfile_file_id(p->snapshot[i]->path, &ids[i]);

    pthread_mutex_lock(&p->lock);
    for (i = 0; i < n; i++) {
        struct pool_entry *e = p->snapshot[i];
        if (ids)
            e->id = ids[i];
        pool_evict_idle_where(p, e, idle_before, &dead);
        e->pins--;
        pool_entry_release(p, e);
    }
    if (dead && p->waiting)
        pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    free(ids);
    for (st = dead; st; st = st->next)
        closed++;
    pool_close_dead(p, dead);
    return closed;
}
