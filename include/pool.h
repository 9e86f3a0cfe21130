/* pool.h: the shared pool of Lua states, one script per state. */
#ifndef LF_POOL_H
#define LF_POOL_H

#include <stddef.h>

#include "scriptfile.h"     /* struct file_id */

struct pool;

/* A state as a worker sees it: L is NULL in a fresh slot until the worker
 * loads the script into it. */
struct pool_state {
    void               *L;
    unsigned long       requests;       /* handled so far, for maxrequests */
    /* the rest is the pool's */
    struct pool_entry  *entry;
    struct pool_state  *prev, *next;    /* entry's idle list */
    struct file_id      id;             /* loaded from; its loader may correct it */
    unsigned            hits;           /* recent popularity, halved as it ages */
    long long           last_used;      /* ms, monotonic */
    unsigned            generation;
    int                 busy;
    int                 last_worker;    /* who used it last: affinity */
    int                 orphan;         /* written off: out of the pool for good */
    /* timers (ngx.timer) pending or running in it: while any, the pool
     * never closes it; one it would close leaves the pool, adrift, and is
     * closed when the last pin goes (pool_unpin, pool_give) */
    int                 pins;
    int                 wanted;         /* timers waiting in pool_take for it */
    int                 adrift;
    int                 closed;         /* its Lua was closed while pinned */
    char               *script;         /* out of the pool, to be closed: its script, for the log */
};

struct pool_limits {
    int states;         /* most states in all */
    int clones;         /* most states of one script */
    int maxrequests;    /* recycle after this many requests; 0 = never */
    int maxidle;        /* evict after this many idle seconds; 0 = never */
};

struct pool_counts {
    int states;
    int idle;
    int scripts;
    int waiting;
};

/* pool_release()'s DISCARD: keep the state, or close it, and why. */
#define POOL_KEEP           0
#define POOL_DISCARD        1       /* broken: a failed load, no memory */
#define POOL_DISCARD_TIMEOUT 2
#define POOL_DISCARD_MEMORY 3

typedef void (*pool_close_fn)(void *L);
typedef void (*pool_adrift_fn)(struct pool_state *st);
typedef void (*pool_script_fn)(void *arg, const char *path, int states, int busy, size_t memory);

struct pool *pool_new(const struct pool_limits *limits, pool_close_fn close_fn);
void         pool_destroy(struct pool *p);
void         pool_on_adrift(struct pool *p, pool_adrift_fn fn);
int          pool_closer_start(struct pool *p);
int          pool_closer_sweep(struct pool *p, int limit, char *why, size_t whylen);
int          pool_closers_off(struct pool *p);
int          pool_closer_stop(struct pool *p, long long ms);
void         pool_configure(struct pool *p, const struct pool_limits *limits);
struct pool_state *pool_acquire(struct pool *p, const char *path,
                                const struct file_id *id, int worker, int *fresh);
void         pool_release(struct pool *p, struct pool_state *st, int discard);
void         pool_orphan(struct pool *p, struct pool_state *st);
void         pool_pin(struct pool *p, struct pool_state *st);
void         pool_unpin(struct pool *p, struct pool_state *st);
int          pool_take(struct pool *p, struct pool_state *st);
void         pool_give(struct pool *p, struct pool_state *st, int discard);
void         pool_flush(struct pool *p);
/* The compiled chunks kept for the pool's next states (chunkcache.c). */
struct chunkcache *pool_chunks(struct pool *p);
int          pool_sweep(struct pool *p);
int          pool_take_closed(struct pool *p);
void         pool_counts(struct pool *p, struct pool_counts *out);
void         pool_each_script(struct pool *p, pool_script_fn fn, void *arg, size_t (*mem)(void *L));

#endif
