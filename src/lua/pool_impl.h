/*
 * pool_impl.h: the pool's insides, shared by pool.c (lookup, acquire,
 * release), pool_pin.c (states pinned by timers), pool_sweep.c (sweeping,
 * flushing) and pool_closer.c (the thread that closes states) only.
 */
#ifndef LF_POOL_IMPL_H
#define LF_POOL_IMPL_H

#include <pthread.h>

#include "counters.h"
#include "pool.h"
#include "scriptfile.h"

struct pool_entry {
    char               *path;
    unsigned            hash;
    struct pool_entry  *hnext;
    struct pool_state  *idle;       /* most recently used first */
    struct file_id      id;         /* newest identity seen */
    int                 nstates;    /* idle + busy */
    int                 pins;       /* held by a sweep in progress */
};

struct pool {
    /* lock guards everything below; cond is signalled when a state is
     * given back or removed, for workers waiting at a clone limit. */
    pthread_mutex_t     lock;
    pthread_cond_t      cond;
    struct pool_entry **buckets;
    unsigned            nbuckets;   /* a power of two */
    int                 nentries;
    int                 nstates;
    int                 nidle;
    int                 waiting;
    int                 taking;     /* timers waiting for their state (pool_take) */
    unsigned            generation;
    unsigned            sweeps;
    struct pool_limits  limits;
    pool_close_fn       close_fn;
    pool_adrift_fn      adrift_fn;  /* told of each state set adrift, lock held */
    int                 closed;     /* atomic: states closed, for housekeeping */
    struct chunkcache  *chunks;     /* its own lock; set once, at pool_new */
    /* only the sweeping thread touches these */
    struct pool_entry **snapshot;
    int                 snapshot_cap;
    /* close_lock guards the rest: the states waiting to be closed, in
     * order, the closer closing them and the written-off closers
     * (pool_closer.c). Taken alone, never with lock. close_cond wakes the
     * closer; close_idle tells a stop that it is done. */
    pthread_mutex_t     close_lock;
    pthread_cond_t      close_cond;
    pthread_cond_t      close_idle;
    struct pool_state  *closing, *closing_last;
    int                 nclosing;
    int                 close_async;    /* a closer was started: closes are its */
    int                 close_stop;
    struct pool_closer *closer;         /* NULL: none runs (stopped, or past the cap) */
    int                 closers_off;    /* written off, their threads still stuck */
    int                 closers_capped; /* said once: no more are started */
    int                 closers_started;
};

/* One closer thread (pool_closer.c); a written-off one keeps its own. */
struct pool_closer {
    pthread_t           thread;
    struct pool        *pool;
    int                 number;
    /* close_lock guards these */
    long long           since_ms;       /* the close under way began (monotonic); 0: idle */
    const char         *script;         /* of the state it closes */
    int                 written_off;
    int                 done;           /* stopped: its thread ends */
};

/* Small and on the acquire/release path: inline, as when they were static. */
static inline void
pool_idle_unlink(struct pool *p, struct pool_entry *e, struct pool_state *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        e->idle = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
    p->nidle--;
}

static inline void
pool_idle_push(struct pool *p, struct pool_state *st)
{
    struct pool_entry *e = st->entry;

    st->prev = NULL;
    st->next = e->idle;
    if (e->idle)
        e->idle->prev = st;
    e->idle = st;
    p->nidle++;
}

static inline int
pool_state_current(const struct pool *p, const struct pool_state *st)
{
    return st->generation == p->generation && scriptfile_same_file(&st->id, &st->entry->id);
}

/* Why a state that is not current goes: a flush, or its file changed. */
static inline int
pool_stale_why(const struct pool *p, const struct pool_state *st)
{
    return st->generation != p->generation ? COUNTERS_EVICT_FLUSH : COUNTERS_EVICT_CHANGED;
}

void pool_entry_release(struct pool *p, struct pool_entry *e);
void pool_remove(struct pool *p, struct pool_state *st, struct pool_state **dead, int why);
void pool_adrift(struct pool *p, struct pool_state *st, struct pool_state **dead, int broken);
void pool_close_dead(struct pool *p, struct pool_state *dead);
void pool_close_now(struct pool *p, struct pool_state *dead);
void pool_name_dead(struct pool_state *st, const struct pool_entry *e);
int  pool_closer_init(struct pool *p);
void pool_closer_free(struct pool *p);
void pool_unlock_and_close(struct pool *p, struct pool_state *dead);
void pool_evict_all(struct pool *p, struct pool_state **dead);
void pool_evict_idle_where(struct pool *p, struct pool_entry *e, long long idle_before,
                           struct pool_state **dead);

#endif
