/* The state pool: reuse, clones, limits, eviction order, staleness, waiting. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"
#include "scriptfile.h"
#include "tap.h"

static int closed;      /* atomic: states the pool closed */
static int next_id;

static void
fake_close(void *L)
{
    __atomic_add_fetch(&closed, 1, __ATOMIC_SEQ_CST);
    free(L);
}

static int
closed_count(void)
{
    return __atomic_load_n(&closed, __ATOMIC_SEQ_CST);
}

static struct file_id id1 = { 1, 100, 10, 1000, 0 };
static struct file_id id2 = { 1, 100, 11, 1001, 0 };

/* acquire, and load a fake state into a fresh slot */
static struct pool_state *
get(struct pool *p, const char *path, const struct file_id *id, int *fresh)
{
    int f;
    struct pool_state *st = pool_acquire(p, path, id, 0, &f);

    if (st && f) {
        int *L = malloc(sizeof(int));
        *L = __atomic_add_fetch(&next_id, 1, __ATOMIC_SEQ_CST);
        st->L = L;
    }
    if (fresh)
        *fresh = f;
    return st;
}

static struct pool *
new_pool(int states, int clones, int maxrequests, int maxidle)
{
    struct pool_limits l = { states, clones, maxrequests, maxidle };

    return pool_new(&l, fake_close);
}

static void
test_reuse(void)
{
    struct pool *p = new_pool(4, 4, 0, 0);
    struct pool_state *a, *b;
    struct pool_counts n;
    int fresh;

    a = get(p, "/s/a.lua", &id1, &fresh);
    ok(a && fresh, "the first request for a script gets a fresh slot to load");
    pool_release(p, a, 0);
    b = get(p, "/s/a.lua", &id1, &fresh);
    ok(b == a && !fresh, "the next request gets the same loaded state back");
    pool_counts(p, &n);
    ok(n.states == 1 && n.idle == 0 && n.scripts == 1, "one state, busy, one script");
    pool_release(p, b, 0);
    pool_counts(p, &n);
    is_int(n.idle, 1, "given back, it is idle");
    pool_destroy(p);
}

static void
test_clones(void)
{
    struct pool *p = new_pool(4, 2, 0, 0);
    struct pool_state *a, *b;
    int fa, fb;

    a = get(p, "/s/a.lua", &id1, &fa);
    b = get(p, "/s/a.lua", &id1, &fb);
    ok(a && b && a != b && fa && fb, "while one state is busy a second request gets a clone");
    pool_release(p, a, 0);
    pool_release(p, b, 0);
    a = get(p, "/s/a.lua", &id1, &fa);
    b = get(p, "/s/a.lua", &id1, &fb);
    ok(!fa && !fb, "both clones are reused afterwards");
    pool_release(p, a, 0);
    pool_release(p, b, 0);
    pool_destroy(p);
}

static void
test_affinity(void)
{
    struct pool *p = new_pool(4, 4, 0, 0);
    struct pool_state *a, *b;
    int fa, fb;

    a = pool_acquire(p, "/s/a.lua", &id1, 1, &fa);
    b = pool_acquire(p, "/s/a.lua", &id1, 2, &fb);
    a->L = malloc(sizeof(int));
    b->L = malloc(sizeof(int));
    pool_release(p, a, 0);
    pool_release(p, b, 0);      /* b is now the most recently used */
    ok(pool_acquire(p, "/s/a.lua", &id1, 1, &fa) == a, "a worker gets back the state it used last");
    ok(pool_acquire(p, "/s/a.lua", &id1, 2, &fb) == b, "and so does the other");
    pool_release(p, a, 0);
    pool_release(p, b, 0);
    ok(pool_acquire(p, "/s/a.lua", &id1, 3, &fa) == b, "a third worker gets the most recently used");
    pool_release(p, b, 0);
    pool_destroy(p);
}

static void
test_eviction_order(void)
{
    struct pool *p = new_pool(2, 2, 0, 0);
    struct pool_state *st;
    int fresh, i, before;

    for (i = 0; i < 3; i++)
        pool_release(p, get(p, "/s/popular.lua", &id1, NULL), 0);
    pool_release(p, get(p, "/s/rare.lua", &id1, NULL), 0);
    before = closed_count();
    st = get(p, "/s/new.lua", &id1, &fresh);
    ok(fresh && closed_count() == before + 1, "a full pool closes one idle state for a new script");
    pool_release(p, st, 0);
    st = get(p, "/s/popular.lua", &id1, &fresh);
    ok(!fresh, "the state with the most hits was kept");
    pool_release(p, st, 0);
    st = get(p, "/s/rare.lua", &id1, &fresh);
    ok(fresh, "the state with the fewest hits was the one evicted");
    pool_release(p, st, 0);
    pool_destroy(p);

    /* equal hits: the one idle longest goes */
    p = new_pool(2, 2, 0, 0);
    pool_release(p, get(p, "/s/old.lua", &id1, NULL), 0);
    {
        struct timespec ts = { 0, 20L * 1000 * 1000 };
        nanosleep(&ts, NULL);   /* last_used has ms resolution */
    }
    pool_release(p, get(p, "/s/recent.lua", &id1, NULL), 0);
    pool_release(p, get(p, "/s/third.lua", &id1, NULL), 0);
    st = get(p, "/s/recent.lua", &id1, &fresh);
    ok(!fresh, "with equal hits the most recently used state is kept");
    pool_release(p, st, 0);
    st = get(p, "/s/old.lua", &id1, &fresh);
    ok(fresh, "with equal hits the longest idle state is evicted");
    pool_release(p, st, 0);
    pool_destroy(p);
}

static void
test_staleness(void)
{
    struct pool *p = new_pool(4, 4, 0, 0);
    struct pool_state *a, *b;
    int fresh, before;

    pool_release(p, get(p, "/s/a.lua", &id1, NULL), 0);
    before = closed_count();
    a = get(p, "/s/a.lua", &id2, &fresh);
    ok(fresh && closed_count() == before + 1, "a changed file gets a fresh state; the old one is closed");
    pool_release(p, a, 0);

    a = get(p, "/s/b.lua", &id1, NULL);
    b = get(p, "/s/b.lua", &id2, &fresh);
    ok(fresh && a != b, "a request that sees the new file while the old state is busy gets a new one");
    before = closed_count();
    pool_release(p, a, 0);
    ok(closed_count() == before + 1, "the busy stale state is closed when it is given back");
    pool_release(p, b, 0);

    before = closed_count();
    a = get(p, "/s/c.lua", &id1, NULL);
    pool_release(p, get(p, "/s/a.lua", &id2, NULL), 0);
    pool_flush(p);
    ok(closed_count() == before + 2, "flush closes every idle state");
    pool_release(p, a, 0);
    ok(closed_count() == before + 3, "flush closes a busy state when it is given back");
    pool_destroy(p);
}

static void
test_maxrequests_and_discard(void)
{
    struct pool *p = new_pool(4, 4, 2, 0);
    struct pool_state *a;
    int fresh, before = closed_count();

    pool_release(p, get(p, "/s/a.lua", &id1, NULL), 0);
    pool_release(p, get(p, "/s/a.lua", &id1, &fresh), 0);
    ok(!fresh && closed_count() == before + 1, "maxrequests = 2 closes the state after its second request");
    a = get(p, "/s/a.lua", &id1, &fresh);
    ok(fresh, "the next request gets a new state");
    pool_release(p, a, 1);
    ok(closed_count() == before + 2, "a discarded state is closed");
    a = get(p, "/s/a.lua", &id1, &fresh);
    pool_release(p, a, 0);
    ok(fresh, "after a discard the script loads again");
    pool_destroy(p);
}

struct waiter {
    struct pool        *pool;
    struct pool_state  *got;
    int                 done;   /* atomic */
};

static void *
wait_for_state(void *arg)
{
    struct waiter *w = arg;

    w->got = get(w->pool, "/s/a.lua", &id1, NULL);
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Poll COND every ms for up to 5 s. */
#define WAIT_FOR(cond) do { int i_; for (i_ = 0; i_ < 5000 && !(cond); i_++) { \
    struct timespec ts_ = { 0, 1000000 }; nanosleep(&ts_, NULL); } } while (0)

static void
test_waiting(void)
{
    struct pool *p = new_pool(4, 1, 0, 0);
    struct pool_state *a;
    struct pool_counts n;
    struct waiter w = { p, NULL, 0 };
    pthread_t t;

    a = get(p, "/s/a.lua", &id1, NULL);
    pthread_create(&t, NULL, wait_for_state, &w);
    WAIT_FOR((pool_counts(p, &n), n.waiting == 1));
    ok(n.waiting == 1, "at the clone limit a second request waits (on the condition variable)");
    ok(!__atomic_load_n(&w.done, __ATOMIC_SEQ_CST), "and does not get a state meanwhile");
    pool_release(p, a, 0);
    WAIT_FOR(__atomic_load_n(&w.done, __ATOMIC_SEQ_CST));
    pthread_join(t, NULL);
    ok(w.got == a, "the waiting request gets the state when it is given back");
    pool_release(p, w.got, 0);
    pool_destroy(p);
}

struct hammer {
    struct pool *pool;
    int          seed;
    int          bad;
};

static void *
hammer(void *arg)
{
    struct hammer *h = arg;
    char path[32];
    unsigned seed = (unsigned)h->seed;
    int i;

    for (i = 0; i < 3000; i++) {
        struct pool_state *st;
        snprintf(path, sizeof(path), "/s/%u.lua", rand_r(&seed) % 6);
        st = get(h->pool, path, (rand_r(&seed) % 50) ? &id1 : &id2, NULL);
        if (st == NULL || st->L == NULL) {
            h->bad++;
            continue;
        }
        pool_release(h->pool, st, rand_r(&seed) % 100 == 0);
        if (i % 500 == 0)
            pool_flush(h->pool);
    }
    return NULL;
}

static void
test_threads(void)
{
    struct pool *p = new_pool(6, 2, 50, 0);
    struct hammer h[6];
    pthread_t t[6];
    struct pool_counts n;
    int i, bad = 0;

    for (i = 0; i < 6; i++) {
        h[i].pool = p;
        h[i].seed = i + 1;
        h[i].bad = 0;
        pthread_create(&t[i], NULL, hammer, &h[i]);
    }
    for (i = 0; i < 50; i++)
        pool_sweep(p);
    for (i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        bad += h[i].bad;
    }
    pool_counts(p, &n);
    is_int(bad, 0, "6 threads x 3000 requests over 6 scripts: every one got a loaded state");
    ok(n.states <= 6 && n.idle == n.states && n.waiting == 0, "afterwards: within the limit, all idle, none waiting");
    pool_destroy(p);
}

static void
test_sweep(void)
{
    char dir[] = "/tmp/lf-test-pool.XXXXXX", path[128];
    struct pool *p;
    struct file_id id;
    FILE *f;
    int closed_now = 0, i;

    if (mkdtemp(dir) == NULL)
        return;
    snprintf(path, sizeof(path), "%s/s.lua", dir);
    f = fopen(path, "w");
    fputs("v = 1\n", f);
    fclose(f);
    ok(scriptfile_file_id(path, &id) == 0, "a file's identity can be read");
    p = new_pool(4, 4, 0, 0);
    pool_release(p, get(p, path, &id, NULL), 0);
    is_int(pool_sweep(p), 0, "a sweep keeps a state whose file did not change");
    f = fopen(path, "a");
    fputs("v = 2\n", f);
    fclose(f);
    is_int(pool_sweep(p), 1, "a sweep closes an idle state whose file changed");

    scriptfile_file_id(path, &id);
    pool_release(p, get(p, path, &id, NULL), 0);
    unlink(path);
    is_int(pool_sweep(p), 1, "a sweep closes an idle state whose file vanished");
    pool_destroy(p);

    p = new_pool(4, 4, 0, 1);
    f = fopen(path, "w");
    fputs("v = 1\n", f);
    fclose(f);
    scriptfile_file_id(path, &id);
    pool_release(p, get(p, path, &id, NULL), 0);
    is_int(pool_sweep(p), 0, "with maxidle = 1 a state idle for less is kept");
    for (i = 0; i < 300 && closed_now == 0; i++) {
        struct timespec ts = { 0, 10L * 1000 * 1000 };
        nanosleep(&ts, NULL);
        closed_now = pool_sweep(p);
    }
    is_int(closed_now, 1, "with maxidle = 1 a state idle over a second is closed");
    pool_destroy(p);
    unlink(path);
    rmdir(dir);
    ok(scriptfile_file_id("/", &id) < 0, "a directory is not a script");
}

/* A close that blocks (a finalizer stuck in C) while its state's number
 * is negative, until `unblock` is set or 10 s pass. */
static int unblock;     /* atomic */

static void
blocking_close(void *L)
{
    struct timespec ms = { 0, 1000000 };
    int i;

    if (*(int *)L < 0)
        for (i = 0; i < 10000 && !__atomic_load_n(&unblock, __ATOMIC_SEQ_CST); i++)
            nanosleep(&ms, NULL);
    fake_close(L);
}

static void
test_closer(void)
{
    struct pool_limits l = { 4, 4, 0, 0 };
    struct pool *p = pool_new(&l, blocking_close);
    struct pool_state *a, *b;
    struct timespec over = { 1, 100000000 };
    char why[512];
    int before = closed_count();

    ok(pool_closer_start(p) == 0, "the closer starts");
    a = get(p, "/s/a.lua", &id1, NULL);
    b = get(p, "/s/b.lua", &id1, NULL);
    *(int *)a->L = -1;
    pool_release(p, a, POOL_DISCARD);   /* would block here without the closer */
    pool_release(p, b, POOL_DISCARD);
    ok(closed_count() == before, "a state whose close blocks is dropped at once; the close waits in the closer");
    is_int(pool_closer_sweep(p, 1, why, sizeof(why)), 0, "a close under terminate_timeout is not stuck");
    nanosleep(&over, NULL);
    is_int(pool_closer_sweep(p, 1, why, sizeof(why)), 1, "past it, its closer is written off");
    ok(strstr(why, "closing a state of /s/a.lua ran") != NULL, "naming the script");
    is_int(pool_closers_off(p), 1, "one closer is written off");
    WAIT_FOR(closed_count() == before + 1);
    is_int(closed_count(), before + 1, "the closer that took its place closes the next state");
    __atomic_store_n(&unblock, 1, __ATOMIC_SEQ_CST);
    WAIT_FOR(pool_closers_off(p) == 0);
    is_int(pool_closers_off(p), 0, "the written-off closer ends when its close comes back");
    is_int(closed_count(), before + 2, "having closed its state");
    a = get(p, "/s/a.lua", &id1, NULL);
    pool_release(p, a, POOL_KEEP);
    is_int(pool_closer_stop(p, 1000), 0, "a stop closes the idle states and ends the closer");
    is_int(closed_count(), before + 3, "every state is closed");
    pool_destroy(p);
}

int
main(void)
{
    log_use(LOG_TO_STDERR, -1, LOG_LEVEL_WARN);
    test_reuse();
    test_clones();
    test_affinity();
    test_eviction_order();
    test_staleness();
    test_maxrequests_and_discard();
    test_waiting();
    test_threads();
    test_sweep();
    test_closer();
    return done_testing();
}
