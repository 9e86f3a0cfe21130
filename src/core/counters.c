/*
 * counters.c: the figures behind the status page.
 *
 * Totals are relaxed atomic adds: one instruction per event, no lock, no
 * shared cache line held across a request. What a worker is running (its
 * method, URI, script, since when) is several fields that must read
 * together, so each worker has its own slot behind its own mutex: only the
 * worker and an occasional status request take it, so it is never
 * contended on the hot path. Slots are made once at start-up and live as
 * long as the process.
 *
 * Per-script figures live in the same slot: a small hash of the scripts
 * this worker ran, keyed by path, so a request updates only its own
 * worker's table; the status page merges the tables. A 404 makes no entry
 * (a scan of random names must not grow them), and past
 * COUNTERS_SCRIPTS scripts a worker counts the rest under "(other)".
 * Paths are kept to 255 bytes; the whole path's hash and length keep two
 * long paths cut alike apart.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "log.h"
#include "monoclock.h"

#define COUNTERS_SCRIPTS 1024    /* scripts one worker keeps apart, (other) included */
#define COUNTERS_BUCKETS (COUNTERS_SCRIPTS * 2)
#define COUNTERS_ADD(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)
#define COUNTERS_GET(field)    __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct counters_slot {
    pthread_mutex_t         lock;   /* guards w and scripts */
    struct counters_worker  w;
    long long               start_us;   /* monotonic, of the request running */
    struct counters_script *scripts[COUNTERS_BUCKETS];  /* open addressing */
    int                     nscripts;
    unsigned                hash;   /* of the running script's whole path */
    size_t                  len;    /* w.script may hold it cut */
};

/* A worker written off and still stuck in its C call: what it ran. */
struct counters_stuck {
    int                     used;
    struct counters_worker  w;
    long long               start_us;
};

/* Made by counters_init() before any worker starts, freed after they end. */
static struct counters_slot *counters_slots;
static int counters_nslots;
static struct counters_totals counters_all;     /* atomics only */
/* counters_stuck_lock guards the stuck entries: one per worker at most
 * (worker.c lets no more be written off) */
static pthread_mutex_t counters_stuck_lock = PTHREAD_MUTEX_INITIALIZER;
static struct counters_stuck *counters_stuck_list;

int
counters_init(int workers)
{
    int i;

    counters_slots = calloc((size_t)workers, sizeof(*counters_slots));
    counters_stuck_list = calloc((size_t)workers, sizeof(*counters_stuck_list));
    if (counters_slots == NULL || counters_stuck_list == NULL) {
        log_syserr("cannot allocate the counters of %d workers", workers);
        return -1;
    }
    counters_nslots = workers;
    memset(&counters_all, 0, sizeof(counters_all));
    counters_all.start_time = time(NULL);
    for (i = 0; i < workers; i++) {
        if (pthread_mutex_init(&counters_slots[i].lock, NULL) != 0) {
            log_err("cannot initialise the counters' locks");
            counters_nslots = i;
            counters_free();
            return -1;
        }
        counters_slots[i].w.started = counters_all.start_time;
    }
    return 0;
}

void
counters_free(void)
{
    int i, j;

    for (i = 0; i < counters_nslots; i++) {
        pthread_mutex_destroy(&counters_slots[i].lock);
        for (j = 0; j < COUNTERS_BUCKETS; j++)
            free(counters_slots[i].scripts[j]);
    }
    free(counters_slots);
    free(counters_stuck_list);
    counters_slots = NULL;
    counters_stuck_list = NULL;
    counters_nslots = 0;
}

static void counters_copy(char *dst, size_t len, const char *src);

/* The slot's entry for PATH (hash H, LEN bytes) or NULL; slot locked.
 * *AT is its bucket, or the free one where it would go. */
static struct counters_script *
counters_find(struct counters_slot *s, const char *path, unsigned h, size_t len, unsigned *at)
{
    struct counters_script *e;
    unsigned i;

    for (i = h % COUNTERS_BUCKETS; (e = s->scripts[i]) != NULL; i = (i + 1) % COUNTERS_BUCKETS)
        if (e->hash == h && e->len == len && strncmp(e->path, path, sizeof(e->path) - 1) == 0)
            break;
    *at = i;
    return e;
}

static unsigned
counters_hash(const char *path, size_t *len)
{
    unsigned h = 2166136261u;
    const char *p;

    for (p = path; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    *len = (size_t)(p - path);
    return h;
}

/* The slot's entry for PATH, its running script (whole hash and length
 * in the slot), made on first sight; slot locked. A worker
 * keeps COUNTERS_SCRIPTS - 1 scripts apart, exactly; scripts first seen
 * past that are counted together under "(other)", so a script is never
 * split between its own entry and (other). NULL only when out of memory. */
static struct counters_script *
counters_script(struct counters_slot *s, const char *path)
{
    struct counters_script *e;
    unsigned h = s->hash, i;
    size_t len = s->len;

    if ((e = counters_find(s, path, h, len, &i)) != NULL)
        return e;
    if (s->nscripts >= COUNTERS_SCRIPTS - 1) {
        path = "(other)";
        h = counters_hash(path, &len);
        if ((e = counters_find(s, path, h, len, &i)) != NULL)
            return e;
    }
    if ((e = s->scripts[i] = calloc(1, sizeof(**s->scripts))) == NULL) {
        log_syserr("cannot count the requests of %s", path);
        return NULL;
    }
    s->nscripts++;
    e->hash = h;
    e->len = len;
    counters_copy(e->path, sizeof(e->path), path);
    return e;
}

static void
counters_copy(char *dst, size_t len, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= len) {
        n = len - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;            /* never half a UTF-8 character */
    }
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

/* Raise *MAX to V. A load and a store would let two workers starting at
 * once leave the smaller of their counts behind. */
static void
counters_raise(int *max, int v)
{
    int cur = __atomic_load_n(max, __ATOMIC_RELAXED);

    while (v > cur
           && !__atomic_compare_exchange_n(max, &cur, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* A request was read (php-fpm's accepted conn counts requests). */
void
counters_accept(void)
{
    COUNTERS_ADD(counters_all.accepted, 1);
}

/* Worker WORKER (1-based) starts running a script's request. */
void
counters_begin(int worker, const char *method, const char *uri, const char *script,
               const char *content_length)
{
    struct counters_slot *s;
    int active;

    active = COUNTERS_ADD(counters_all.active, 1);
    counters_raise(&counters_all.max_active, active);
    if (worker < 1 || worker > counters_nslots)
        return;
    s = &counters_slots[worker - 1];
    pthread_mutex_lock(&s->lock);
    s->w.running = 1;
    s->start_us = monoclock_us();
    s->w.duration_us = 0;
    counters_copy(s->w.method, sizeof(s->w.method), method);
    counters_copy(s->w.uri, sizeof(s->w.uri), uri);
    s->hash = counters_hash(script ? script : "", &s->len);
    counters_copy(s->w.script, sizeof(s->w.script), script);
    s->w.content_length = content_length ? atoll(content_length) : 0;
    pthread_mutex_unlock(&s->lock);
}

/* Worker WORKER's request ended; KIND says how it failed, if it did. */
void
counters_end(int worker, enum counters_error kind)
{
    struct counters_slot *s;
    struct counters_script *sc;

    COUNTERS_ADD(counters_all.active, -1);
    if (kind > COUNTERS_OK && kind < COUNTERS_NERRORS)
        COUNTERS_ADD(counters_all.errors[kind], 1);
    if (worker < 1 || worker > counters_nslots)
        return;
    s = &counters_slots[worker - 1];
    pthread_mutex_lock(&s->lock);
    s->w.running = 0;
    s->w.requests++;
    s->w.duration_us = monoclock_us() - s->start_us;
    if (kind != COUNTERS_NOT_FOUND && (sc = counters_script(s, s->w.script)) != NULL) {
        sc->requests++;
        if (kind > COUNTERS_OK && kind < COUNTERS_NERRORS)
            sc->errors[kind]++;
        sc->total_us += (unsigned long long)s->w.duration_us;
        if ((unsigned long long)s->w.duration_us > sc->max_us)
            sc->max_us = (unsigned long long)s->w.duration_us;
    }
    pthread_mutex_unlock(&s->lock);
}

/* Worker WORKER loaded its request's script into a new state. */
void
counters_loaded(int worker)
{
    struct counters_slot *s;
    struct counters_script *sc;

    if (worker < 1 || worker > counters_nslots)
        return;
    s = &counters_slots[worker - 1];
    pthread_mutex_lock(&s->lock);
    if ((sc = counters_script(s, s->w.script)) != NULL) {
        sc->loads++;
        sc->last_load = time(NULL);
    }
    pthread_mutex_unlock(&s->lock);
}

/* A request ran past slowtime (the slow log counts it here). */
void
counters_slow(void)
{
    COUNTERS_ADD(counters_all.slow, 1);
}

/* A state was closed for WHY. */
void
counters_evicted(enum counters_evict why)
{
    if (why < COUNTERS_NEVICT)
        COUNTERS_ADD(counters_all.evictions[why], 1);
}

/* A request waited MS for a state of its script. */
void
counters_waited(long long ms)
{
    COUNTERS_ADD(counters_all.waits, 1);
    COUNTERS_ADD(counters_all.wait_ms, (unsigned long long)ms);
}

/* ngx.timer's callbacks waiting and running, now (the timers' own lock
 * orders the calls; the stores are atomic for the status page). */
void
counters_timers(int pending, int running)
{
    __atomic_store_n(&counters_all.timers_pending, pending, __ATOMIC_RELAXED);
    __atomic_store_n(&counters_all.timers_running, running, __ATOMIC_RELAXED);
}

/* A request waits for a worker because none was free, WAITING in all
 * now: php-fpm's "max children reached" counts such requests (not those
 * that merely took the last idle worker); keep the most seen waiting. */
void
counters_wait(int waiting)
{
    COUNTERS_ADD(counters_all.max_children_reached, 1);
    counters_queue(waiting);
}

/* WAITING requests wait for a worker now: keep the most seen. */
void
counters_queue(int waiting)
{
    counters_raise(&counters_all.max_queue, waiting);
}

void
counters_totals(struct counters_totals *out)
{
    int i;

    out->start_time = counters_all.start_time;
    out->accepted = COUNTERS_GET(counters_all.accepted);
    out->active = COUNTERS_GET(counters_all.active);
    out->max_active = COUNTERS_GET(counters_all.max_active);
    out->max_children_reached = COUNTERS_GET(counters_all.max_children_reached);
    out->slow = COUNTERS_GET(counters_all.slow);
    out->waits = COUNTERS_GET(counters_all.waits);
    out->wait_ms = COUNTERS_GET(counters_all.wait_ms);
    out->max_queue = COUNTERS_GET(counters_all.max_queue);
    out->timers_pending = COUNTERS_GET(counters_all.timers_pending);
    out->timers_running = COUNTERS_GET(counters_all.timers_running);
    for (i = 0; i < COUNTERS_NERRORS; i++)
        out->errors[i] = COUNTERS_GET(counters_all.errors[i]);
    for (i = 0; i < COUNTERS_NEVICT; i++)
        out->evictions[i] = COUNTERS_GET(counters_all.evictions[i]);
    out->written_off = COUNTERS_GET(counters_all.written_off);
    out->stuck = counters_stuck(NULL, 0);
}

/* A copy of worker WORKER's slot (1-based); -1 when there is none. A
 * running request's duration is how long it has run so far. */
int
counters_worker(int worker, struct counters_worker *out)
{
    struct counters_slot *s;
    long long start_us;

    if (worker < 1 || worker > counters_nslots)
        return -1;
    s = &counters_slots[worker - 1];
    pthread_mutex_lock(&s->lock);
    *out = s->w;
    start_us = s->start_us;
    pthread_mutex_unlock(&s->lock);
    if (out->running)
        out->duration_us = monoclock_us() - start_us;
    return 0;
}

/* Worker WORKER's request is written off (writeoff.c), before its end is
 * counted: what it runs is kept for the status page while its thread
 * stays stuck. A handle for counters_stuck_gone, or -1 (no room). */
int
counters_written_off(int worker)
{
    struct counters_slot *s;
    struct counters_stuck e;
    int i;

    COUNTERS_ADD(counters_all.written_off, 1);
    if (worker < 1 || worker > counters_nslots)
        return -1;
    s = &counters_slots[worker - 1];
    pthread_mutex_lock(&s->lock);
    e.w = s->w;
    e.start_us = s->start_us;
    pthread_mutex_unlock(&s->lock);
    e.used = 1;
    pthread_mutex_lock(&counters_stuck_lock);
    for (i = 0; i < counters_nslots && counters_stuck_list[i].used; i++)
        ;
    if (i < counters_nslots)
        counters_stuck_list[i] = e;
    pthread_mutex_unlock(&counters_stuck_lock);
    return i < counters_nslots ? i : -1;
}

/* The written-off worker HANDLE came back from its C call and ended. */
void
counters_stuck_gone(int handle)
{
    if (handle < 0 || handle >= counters_nslots)
        return;
    pthread_mutex_lock(&counters_stuck_lock);
    counters_stuck_list[handle].used = 0;
    pthread_mutex_unlock(&counters_stuck_lock);
}

/* The written-off workers still stuck, at most MAX into OUT, with how
 * long they have run; how many. */
int
counters_stuck(struct counters_worker *out, int max)
{
    long long now = monoclock_us();
    int i, n = 0;

    pthread_mutex_lock(&counters_stuck_lock);
    for (i = 0; i < counters_nslots; i++) {
        if (!counters_stuck_list[i].used)
            continue;
        if (n < max && out != NULL) {
            out[n] = counters_stuck_list[i].w;
            out[n].duration_us = now - counters_stuck_list[i].start_us;
        }
        n++;
    }
    pthread_mutex_unlock(&counters_stuck_lock);
    return n;
}

/* By path, then by what tells apart two paths cut alike. */
static int
counters_by_path(const void *a, const void *b)
{
    const struct counters_script *x = a, *y = b;
    int rc = strcmp(x->path, y->path);

    if (rc != 0)
        return rc;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Add B's figures to A (the same script, another worker). */
static void
counters_merge(struct counters_script *a, const struct counters_script *b)
{
    int k;

    a->requests += b->requests;
    for (k = 0; k < COUNTERS_NERRORS; k++)
        a->errors[k] += b->errors[k];
    a->total_us += b->total_us;
    a->loads += b->loads;
    if (b->max_us > a->max_us)
        a->max_us = b->max_us;
    if (b->last_load > a->last_load)
        a->last_load = b->last_load;
}

/* Every script's figures, all workers' together, sorted by path, in a
 * new array at OUT (the caller frees it); how many, or -1. */
int
counters_scripts(struct counters_script **out)
{
    struct counters_script *all;
    int i, j, n = 0, max = 0;

    for (i = 0; i < counters_nslots; i++) {
        pthread_mutex_lock(&counters_slots[i].lock);
        max += counters_slots[i].nscripts;
        pthread_mutex_unlock(&counters_slots[i].lock);
    }
    max += counters_nslots;     /* room for what came meanwhile; the rest waits */
    if ((all = calloc((size_t)max + 1, sizeof(*all))) == NULL) {
        log_syserr("status: cannot gather the scripts' figures");
        return -1;
    }
    for (i = 0; i < counters_nslots; i++) {
        struct counters_slot *s = &counters_slots[i];
        pthread_mutex_lock(&s->lock);
        for (j = 0; j < COUNTERS_BUCKETS && n < max; j++)
            if (s->scripts[j])
                all[n++] = *s->scripts[j];
        pthread_mutex_unlock(&s->lock);
    }
    qsort(all, (size_t)n, sizeof(*all), counters_by_path);
    for (i = 0, j = -1; i < n; i++) {
        if (j >= 0 && counters_by_path(&all[j], &all[i]) == 0)
            counters_merge(&all[j], &all[i]);
        else if (++j != i)
            all[j] = all[i];
    }
    *out = all;
    return n ? j + 1 : 0;
}

int
counters_workers(void)
{
    return counters_nslots;
}
