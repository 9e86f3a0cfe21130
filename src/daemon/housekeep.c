/*
 * housekeep.c: the heartbeat thread.
 *
 * Every `sweep` ms it marks requests running over `slowtime` for the slow
 * log (slowlog.c) and asks the pool to drop idle states whose script
 * changed or vanished, or that sat idle over `maxidle`, and closes the
 * scripts' kept connections idle past their keepalive time (net_pool.c). It waits on a
 * condition variable rather than sleeping, so a stop is immediate.
 *
 * A closed state's memory goes back to malloc, and glibc keeps freed
 * memory in its per-thread arenas; after states were closed (a memory hog,
 * an eviction, a reload) or a worker went idle, the sweep hands it back
 * to the system, so RSS follows what is alive, not the worst moment.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "housekeep.h"
#include "log.h"
#include "monoclock.h"
#include "net.h"
#include "pool.h"
#include "slowlog.h"

/* hk_lock guards hk_stop; hk_cond wakes the thread to stop. */
static pthread_mutex_t hk_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hk_cond;
static int hk_stop;
static int hk_running;
static pthread_t hk_thread;
static int hk_trim;     /* atomic: freed memory worth handing back */

#define HK_MMAP_THRESHOLD (1024 * 1024)
#define HK_TRIM_THRESHOLD (1024 * 1024)

/*
 * glibc raises its mmap and trim thresholds to the largest block ever
 * freed (up to 32 and 64 MiB), and malloc_trim never trims the top of a
 * thread's arena: after one script built a big string, each worker's
 * arena could keep that much for good. Fixed thresholds keep big blocks
 * in their own mappings and trim an arena's top as it is freed. Settings
 * the operator made in the environment are left alone.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HK_SANITIZER 1      /* its own allocator: mallopt means nothing */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HK_SANITIZER 1
#endif
#endif

void
housekeep_tune_malloc(void)
{
#if defined(__GLIBC__) && !defined(HK_SANITIZER)
    const char *t = getenv("GLIBC_TUNABLES");

    if ((t != NULL && strstr(t, "glibc.malloc.") != NULL) ||
        getenv("MALLOC_MMAP_THRESHOLD_") != NULL || getenv("MALLOC_TRIM_THRESHOLD_") != NULL)
        return;
    if (mallopt(M_MMAP_THRESHOLD, HK_MMAP_THRESHOLD) != 1 ||
        mallopt(M_TRIM_THRESHOLD, HK_TRIM_THRESHOLD) != 1)
        log_warn("cannot set malloc's thresholds: freed memory may stay with the process");
#endif
}

/* Memory was freed in bulk (a buffer shrank, a worker went idle): trim at the next sweep. */
void
housekeep_trim_soon(void)
{
    __atomic_store_n(&hk_trim, 1, __ATOMIC_RELAXED);
}

static void *
housekeep_main(void *arg)
{
    struct pool *pool = arg;
    struct timespec until;
    struct conf *c;
    int stop = 0, closed;

    while (!stop) {
        c = conf_acquire();
        monoclock_deadline(&until, c->sweep);
        conf_release(c);

        pthread_mutex_lock(&hk_lock);
        while (!hk_stop && pthread_cond_timedwait(&hk_cond, &hk_lock, &until) != ETIMEDOUT)
            ;
        stop = hk_stop;
        pthread_mutex_unlock(&hk_lock);
        if (stop)
            break;
        slowlog_sweep();
        if ((closed = net_pool_sweep()) > 0)
            log_debug("housekeeping: closed %d idle kept connections", closed);
        if ((closed = pool_sweep(pool)) > 0)
            log_debug("housekeeping: closed %d stale or idle states", closed);
#ifdef __GLIBC__
        if (pool_take_closed(pool) > 0 || __atomic_exchange_n(&hk_trim, 0, __ATOMIC_RELAXED))
            malloc_trim(0);
#endif
    }
    return NULL;
}

int
housekeep_start(struct pool *pool)
{
    pthread_condattr_t attr;
    int rc;

    if ((rc = pthread_condattr_init(&attr)) != 0 ||
        (rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0 ||
        (rc = pthread_cond_init(&hk_cond, &attr)) != 0) {
        log_err("housekeeping: cannot set up its timer: %s", strerror(rc));
        return -1;
    }
    pthread_condattr_destroy(&attr);
    if ((rc = pthread_create(&hk_thread, NULL, housekeep_main, pool)) != 0) {
        log_err("housekeeping: cannot start its thread: %s", strerror(rc));
        return -1;
    }
    hk_running = 1;
    return 0;
}

void
housekeep_stop(void)
{
    if (!hk_running)
        return;
    pthread_mutex_lock(&hk_lock);
    hk_stop = 1;
    pthread_cond_signal(&hk_cond);
    pthread_mutex_unlock(&hk_lock);
    pthread_join(hk_thread, NULL);
    hk_running = 0;
}
