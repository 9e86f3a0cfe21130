/*
 * pool.c: the Lua state pool.
 *
 * Every state belongs to one script (an entry, found by hashing its path).
 * A worker takes an idle state of its script (the one it used last, when
 * that one is idle), or a fresh slot that it loads
 * itself outside the lock (a clone, when the script's other states are
 * busy), and gives it back after the request. Loading a script runs its
 * top-level code, so nothing that can take long happens under the mutex:
 * the lock covers list and counter updates only, and states are closed
 * after it is dropped.
 *
 * Limits: at most `states` states in all and `clones` per script. When the
 * pool is full, the least valuable idle state goes: fewest recent hits
 * (halved every few sweeps, so popularity ages), then longest idle. A worker
 * that can neither reuse nor create waits on a condition variable; since
 * states >= workers and a worker holds one state at a time, that only
 * happens when its script is at its clone limit.
 *
 * Staleness: each state remembers the file it was loaded from (its
 * identity, scriptfile.c); the entry holds the newest identity seen (by a
 * request's stat or the housekeeping sweep). Idle states that differ are
 * dropped when found, busy ones when given back. A flush (SIGHUP) bumps the generation for the same effect.
 * The housekeeping sweep and the flush are pool_sweep.c.
 *
 * Timers pin the states they run in: pool_pin.c.
 *
 * Closing a state runs C code (the __gc of a module's userdata), which
 * may block: once the daemon starts a closer, the states taken out are
 * closed by it, never by the thread that took them out (pool_closer.c).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "luafcgid.h"
#include "chunkcache.h"
#include "counters.h"
#include "log.h"
#include "monoclock.h"
#include "pool.h"
#include "pool_impl.h"

static unsigned
pool_hash(const char *s)
{
    unsigned h = 2166136261u;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

struct pool *
pool_new(const struct pool_limits *limits, pool_close_fn close_fn)
{
    struct pool *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        log_syserr("cannot allocate the state pool");
        return NULL;
    }
    p->nbuckets = 64;
    if ((p->buckets = calloc(p->nbuckets, sizeof(*p->buckets))) == NULL) {
        log_syserr("cannot allocate the state pool");
        free(p);
        return NULL;
    }
    if (pthread_mutex_init(&p->lock, NULL) != 0 || pthread_cond_init(&p->cond, NULL) != 0) {
        log_err("cannot initialise the state pool's lock");
        free(p->buckets);
        free(p);
        return NULL;
    }
    if ((p->chunks = chunkcache_new()) == NULL || pool_closer_init(p) < 0) {
        chunkcache_free(p->chunks);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p->buckets);
        free(p);
        return NULL;
    }
    p->limits = *limits;
    p->close_fn = close_fn;
    return p;
}

static struct pool_entry *
pool_lookup(struct pool *p, const char *path, unsigned hash)
{
    struct pool_entry *e;

    for (e = p->buckets[hash & (p->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == hash && strcmp(e->path, path) == 0)
            return e;
    return NULL;
}

/* Double the buckets when entries outnumber them; a failure only costs speed. */
static void
pool_grow(struct pool *p)
{
    unsigned n = p->nbuckets * 2, i;
    struct pool_entry **b, *e, *next;

    if ((b = calloc(n, sizeof(*b))) == NULL)
        return;
    for (i = 0; i < p->nbuckets; i++)
        for (e = p->buckets[i]; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(p->buckets);
    p->buckets = b;
    p->nbuckets = n;
}

static struct pool_entry *
pool_entry_new(struct pool *p, const char *path, unsigned hash)
{
    struct pool_entry *e = calloc(1, sizeof(*e));
    unsigned b;

    if (e == NULL || (e->path = strdup(path)) == NULL) {
        log_syserr("cannot add %s to the state pool", path);
        free(e);
        return NULL;
    }
    e->hash = hash;
    if ((unsigned)p->nentries >= p->nbuckets)
        pool_grow(p);
    b = hash & (p->nbuckets - 1);
    e->hnext = p->buckets[b];
    p->buckets[b] = e;
    p->nentries++;
    return e;
}

/* Free E if nothing refers to it any more. */
void
pool_entry_release(struct pool *p, struct pool_entry *e)
{
    struct pool_entry **pp;

    if (e->nstates > 0 || e->pins > 0)
        return;
    for (pp = &p->buckets[e->hash & (p->nbuckets - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    p->nentries--;
    free(e->path);
    free(e);
}

/* Take an idle state of E, or NULL: the one WORKER used last if it is
 * there (its memory is in that thread's malloc arena and its cache), else
 * the most recently used. Not one a timer waits for: requests that came
 * one after another could keep a timer from its state for good. */
static struct pool_state *
pool_idle_pop(struct pool *p, struct pool_entry *e, int worker)
{
    struct pool_state *st, *any = NULL;

    for (st = e->idle; st; st = st->next) {
        if (st->wanted)
            continue;
        if (st->last_worker == worker)
            break;
        if (any == NULL)
            any = st;
    }
    if (st == NULL)
        st = any;
    if (st == NULL)
        return NULL;
    pool_idle_unlink(p, e, st);
    return st;
}

/* ST leaves E for good: the name of its script goes with it, for what
 * the closer may have to say of it (NULL when out of memory). Lock held. */
void
pool_name_dead(struct pool_state *st, const struct pool_entry *e)
{
    if (st->script == NULL && st->L != NULL)
        st->script = strdup(e->path);
}

/* Take ST (not idle-listed) out of the pool, onto DEAD to be closed once
 * the lock is dropped; WHY (an enum counters_evict, or -1 for a state
 * that never loaded or is not counted) goes to the status page. Lock
 * held. */
void
pool_remove(struct pool *p, struct pool_state *st, struct pool_state **dead, int why)
{
    struct pool_entry *e = st->entry;

    if (why >= 0 && st->L)
        counters_evicted((enum counters_evict)why);
    pool_name_dead(st, e);
    e->nstates--;
    p->nstates--;
    st->entry = NULL;
    pool_entry_release(p, e);
    if (st->pins > 0) {
        pool_adrift(p, st, dead, why == -1 || why == COUNTERS_EVICT_TIMEOUT || why == COUNTERS_EVICT_MEMORY);
        return;
    }
    st->next = *dead;
    *dead = st;
}

/* Close the states on DEAD on the calling thread, and free their slots. */
void
pool_close_now(struct pool *p, struct pool_state *dead)
{
    struct pool_state *next;
    int n = 0;

    for (; dead; dead = next) {
        next = dead->next;
        if (dead->L) {
            p->close_fn(dead->L);
            n++;
        }
        free(dead->script);
        free(dead);
    }
    if (n)
        __atomic_add_fetch(&p->closed, n, __ATOMIC_RELAXED);
}

/* Done under the lock: unlock, wake the workers (and timers) waiting for
 * a state (one may be free now), and close the states taken out (DEAD)
 * outside it. Woken after the unlock, they do not find it held and sleep
 * on it again; what they wait for changed under it, so none misses it. */
void
pool_unlock_and_close(struct pool *p, struct pool_state *dead)
{
    int wake = p->waiting || p->taking;

    pthread_mutex_unlock(&p->lock);
    if (wake)
        pthread_cond_broadcast(&p->cond);
    pool_close_dead(p, dead);
}

/* How many states were closed since the last call. */
int
pool_take_closed(struct pool *p)
{
    return __atomic_exchange_n(&p->closed, 0, __ATOMIC_RELAXED);
}

/* Is A less worth keeping than B (NULL)? Fewest hits, then longest idle. */
static int
pool_worse(const struct pool_state *a, const struct pool_state *b)
{
    return b == NULL || a->hits < b->hits || (a->hits == b->hits && a->last_used < b->last_used);
}

/* The idle state least worth keeping; one that timers pin only when
 * every idle state is pinned (it leaves the pool then, adrift, its
 * timers keep: pool_remove), so that timers cannot fill the pool. */
static struct pool_state *
pool_victim(struct pool *p)
{
    struct pool_state *best = NULL, *pinned = NULL, *st;
    struct pool_entry *e;
    unsigned i;

    for (i = 0; i < p->nbuckets; i++)
        for (e = p->buckets[i]; e; e = e->hnext)
            for (st = e->idle; st; st = st->next) {
                if (st->pins == 0 && pool_worse(st, best))
                    best = st;
                else if (st->pins > 0 && pool_worse(st, pinned))
                    pinned = st;
            }
    return best != NULL ? best : pinned;
}

/* The least used idle state (pool_victim) goes onto DEAD to make room;
 * 0, or -1 when no state is idle. With the lock held. */
static int
pool_evict_victim(struct pool *p, struct pool_state **dead)
{
    struct pool_state *victim = pool_victim(p);
    struct pool_entry *e = victim != NULL ? victim->entry : NULL;

    if (e == NULL)
        return -1;      /* an idle state always has its entry */
    pool_idle_unlink(p, e, victim);
    pool_remove(p, victim, dead, COUNTERS_EVICT_FULL);
    return 0;
}

static struct pool_state *
pool_slot_new(struct pool *p, struct pool_entry *e, const struct file_id *id)
{
    struct pool_state *st = calloc(1, sizeof(*st));

    if (st == NULL) {
        log_syserr("cannot allocate a state for %s", e->path);
        return NULL;
    }
    st->entry = e;
    st->id = *id;
    st->busy = 1;
    st->generation = p->generation;
    st->last_used = monoclock_ms();
    e->nstates++;
    p->nstates++;
    return st;
}

/* Drop E's idle states that are out of date; take the first current one.
 * E stays in the table (pinned meanwhile) even if it ends up empty. */
static struct pool_state *
pool_take_idle(struct pool *p, struct pool_entry *e, int worker, struct pool_state **dead)
{
    struct pool_state *st;

    e->pins++;
    while ((st = pool_idle_pop(p, e, worker)) != NULL) {
        if (pool_state_current(p, st)) {
            st->busy = 1;
            break;
        }
        pool_remove(p, st, dead, pool_stale_why(p, st));
    }
    e->pins--;
    return st;
}

/*
 * A state for PATH, whose file is ID now. *FRESH is set when the caller
 * gets an empty slot to load (st->L == NULL); it must give it back with
 * pool_release() whatever happens. NULL only when memory runs out.
 */
struct pool_state *
pool_acquire(struct pool *p, const char *path, const struct file_id *id, int worker, int *fresh)
{
    unsigned hash = pool_hash(path);
    struct pool_state *st = NULL, *dead = NULL;
    struct pool_entry *e;
    long long waited_from = 0;
    int wake;

    *fresh = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        e = pool_lookup(p, path, hash);
        if (e) {
            e->id = *id;
            if ((st = pool_take_idle(p, e, worker, &dead)) != NULL)
                break;
        }
        if (e == NULL || e->nstates < p->limits.clones) {
            if (p->nstates >= p->limits.states && pool_evict_victim(p, &dead) == 0)
                e = pool_lookup(p, path, hash);
            if (p->nstates < p->limits.states) {
                if (e == NULL && (e = pool_entry_new(p, path, hash)) == NULL)
                    break;
                e->id = *id;
                if ((st = pool_slot_new(p, e, id)) != NULL)
                    *fresh = 1;
                else
                    pool_entry_release(p, e);
                break;
            }
        }
        if (waited_from == 0)
            waited_from = monoclock_ms();
        p->waiting++;
        pthread_cond_wait(&p->cond, &p->lock);
        p->waiting--;
    }
    wake = dead && p->waiting;
    if (st)
        st->last_worker = worker;
    pthread_mutex_unlock(&p->lock);
    if (wake)
        pthread_cond_broadcast(&p->cond);
    if (waited_from)
        counters_waited(monoclock_ms() - waited_from);
    pool_close_dead(p, dead);
    return st;
}

/* Give ST back; DISCARD closes it (a failed load, a timeout, ...). An
 * orphan (pool_orphan) is closed whatever DISCARD says: it is no longer
 * the pool's. */
void
pool_release(struct pool *p, struct pool_state *st, int discard)
{
    struct pool_state *dead = NULL;

    if (st->orphan) {
        /* its timers find it closed (pool_take); the slot goes with the last */
        pthread_mutex_lock(&p->lock);
        st->busy = 0;
        if (st->pins > 0) {
            pool_adrift(p, st, &dead, 1);
            pool_unlock_and_close(p, dead);
            return;
        }
        pthread_mutex_unlock(&p->lock);
        st->next = NULL;
        pool_close_dead(p, st);
        return;
    }
    pthread_mutex_lock(&p->lock);
    st->busy = 0;
    st->hits++;
    st->last_used = monoclock_ms();
    if (st->L)
        st->requests++;
    if (discard == POOL_DISCARD_TIMEOUT)
        pool_remove(p, st, &dead, COUNTERS_EVICT_TIMEOUT);
    else if (discard == POOL_DISCARD_MEMORY)
        pool_remove(p, st, &dead, COUNTERS_EVICT_MEMORY);
    else if (discard || st->L == NULL)
        pool_remove(p, st, &dead, -1);
    else if (!pool_state_current(p, st))
        pool_remove(p, st, &dead, pool_stale_why(p, st));
    else if (p->limits.maxrequests > 0 && st->requests >= (unsigned long)p->limits.maxrequests)
        pool_remove(p, st, &dead, COUNTERS_EVICT_MAXREQUESTS);
    else if (p->nstates > p->limits.states)
        pool_remove(p, st, &dead, COUNTERS_EVICT_FULL);
    else
        pool_idle_push(p, st);
    pool_unlock_and_close(p, dead);
}

/*
 * The busy ST belongs to a worker that was written off (stuck in C): it
 * leaves the pool for good, so it is never handed out again and no longer
 * counts toward `states` or `clones`; the stuck thread keeps it, and
 * closes it with pool_release() if it ever returns. Those waiting for a
 * state are woken: there is room now.
 */
void
pool_orphan(struct pool *p, struct pool_state *st)
{
    struct pool_entry *e;

    pthread_mutex_lock(&p->lock);
    if ((e = st->entry) != NULL) {
        counters_evicted(COUNTERS_EVICT_WRITTEN_OFF);
        pool_name_dead(st, e);
        e->nstates--;
        p->nstates--;
        st->entry = NULL;
        pool_entry_release(p, e);
    }
    st->orphan = 1;
    if (p->waiting || p->taking)     /* a timer waiting for it gives it up */
        pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void
pool_trim(struct pool *p, struct pool_state **dead)
{
    while (p->nstates > p->limits.states && pool_evict_victim(p, dead) == 0)
        ;
}

void
pool_configure(struct pool *p, const struct pool_limits *limits)
{
    struct pool_state *dead = NULL;

    pthread_mutex_lock(&p->lock);
    p->limits = *limits;
    pool_trim(p, &dead);
    pool_unlock_and_close(p, dead);
}

void
pool_counts(struct pool *p, struct pool_counts *out)
{
    pthread_mutex_lock(&p->lock);
    *out = (struct pool_counts){ .states = p->nstates, .idle = p->nidle, .scripts = p->nentries,
                                 .waiting = p->waiting };
    pthread_mutex_unlock(&p->lock);
}

/* Call FN for every script with states: its path, its states, how many
 * are busy, and the bytes MEM says its idle states hold (a busy state is
 * its worker's to read). Under the lock: FN must be quick. */
void
pool_each_script(struct pool *p, pool_script_fn fn, void *arg, size_t (*mem)(void *L))
{
    struct pool_entry *e;
    struct pool_state *st;
    unsigned i;

    pthread_mutex_lock(&p->lock);
    for (i = 0; i < p->nbuckets; i++)
        for (e = p->buckets[i]; e; e = e->hnext) {
            size_t bytes = 0;
            int idle = 0;
            for (st = e->idle; st; st = st->next, idle++)
                if (st->L && mem)
                    bytes += mem(st->L);
            fn(arg, e->path, e->nstates, e->nstates - idle, bytes);
        }
    pthread_mutex_unlock(&p->lock);
}

/* Close every state; only when no worker is left to hold one. */
struct chunkcache *
pool_chunks(struct pool *p)
{
    return p->chunks;
}

void
pool_destroy(struct pool *p)
{
    struct pool_state *dead = NULL;

    if (p == NULL)
        return;
    pool_evict_all(p, &dead);
    if (p->nstates > 0)
        log_warn("%d states still busy when the pool closed", p->nstates);
    pool_close_dead(p, dead);
    pool_closer_free(p);
    chunkcache_free(p->chunks);
    free(p->snapshot);
    free(p->buckets);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
