/*
 * housekeep.c: the heartbeat thread.
 *
 * Every `sweep` ms it marks requests running over `slowtime` for the slow
 * log (slowlog.c), writes off workers and state closers stuck in C past
 * terminate_timeout, and asks the pool to drop idle states whose script
 * changed or vanished, or that sat idle over `maxidle`, and closes the
 * scripts' kept connections idle past their keepalive time (net_pool.c).
 * It waits on a condition variable rather than sleeping, so a stop is
 * immediate (bgthread.c).
 *
 * It never runs a script's code nor a module's: a state it drops is
 * closed by the pool's closer (pool_closer.c), as a finalizer may block,
 * and this thread is the watch that writes off what blocks.
 *
 * A closed state's memory goes back to malloc, and glibc keeps freed
 * memory in its per-thread arenas; after states were closed (a memory hog,
 * an eviction, a reload) or a worker went idle, the sweep hands it back
 * to the system, so RSS follows what is alive, not the worst moment.
 */
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luafcgid.h"
#include "bgthread.h"
#include "conf.h"
#include "housekeep.h"
#include "log.h"
#include "monoclock.h"
#include "net.h"
#include "pool.h"
#include "procmem.h"
#include "slowlog.h"
#include "supervise.h"
#include "wire.h"

static struct bgthread hk_thread;
static int hk_trim;     /* atomic: freed memory worth handing back */
static struct housekeep_workers hk_workers;    /* set before the thread starts */
static long long hk_rss_start = -1;     /* bytes resident before the first request; set then */

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

/*
 * max_rss is for memory the process gained while it served: one that
 * held that much before its first request (hk_rss_start: max_rss under
 * what a fresh serving process holds) would be replaced, and its
 * replacement too, without end. It is said once and not acted on: 1 when
 * the process may be held to MAX_RSS (bytes).
 */
static int
housekeep_rss_checked(long long max_rss)
{
    static int said;        /* this thread's own */

    if (hk_rss_start <= max_rss)
        return 1;
    if (!said)
        log_warn("max_rss %lld is under what this serving process holds as it starts (%lld "
                 "bytes): it is not replaced for its memory", max_rss, hk_rss_start);
    said = 1;
    return 0;
}

/*
 * Every sweep: should this serving process be replaced? When max_written_off
 * workers are stuck in C (written off: only the process's end ends them),
 * or its resident memory passed max_rss (C code allocating past `memory`,
 * which nothing else gives back), it asks the supervisor, which starts
 * another and stops this one gracefully (supervise_replace.c). Asked again
 * every LF_REPLACE_RETRY s while it still should be (a replacement that
 * could not start).
 */
static void
housekeep_check_replace(struct pool *pool)
{
    static long long asked_ms;      /* this thread's own */
    struct conf *c = conf_acquire();
    int limit = c->max_written_off, on = c->terminate_timeout > 0;
    int workers = hk_workers.written_off(), closers = pool_closers_off(pool), stuck = workers + closers;
    int slowlog = c->slowlog != NULL;
    long long max_rss = (long long)c->max_rss, rss = max_rss > 0 ? procmem_rss() : -1;
    long long now = monoclock_ms();
    char why[192];
    int ask = 0;

    conf_release(c);
    if (on && stuck >= limit) {
        ask = SUPERVISE_ASK_WRITTEN_OFF;
        if (closers == 0)
            snprintf(why, sizeof(why), "%d workers written off, still stuck in C (max_written_off %d)",
                     workers, limit);
        else
            snprintf(why, sizeof(why), "%d workers and %d state closers written off, still stuck "
                     "in C (max_written_off %d)", workers, closers, limit);
    } else if (max_rss > 0 && rss > max_rss && housekeep_rss_checked(max_rss)) {
        ask = SUPERVISE_ASK_RSS;
        snprintf(why, sizeof(why), "resident memory %lld bytes, over max_rss %lld", rss, max_rss);
    }
    if (!ask || (asked_ms != 0 && now - asked_ms < LF_REPLACE_RETRY * 1000LL))
        return;
    asked_ms = now;
    log_warn("serving process %ld: %s: asking to be replaced", (long)getpid(), why);
    if (slowlog) {
        char line[256];
        snprintf(line, sizeof(line), "serving process %ld asks to be replaced: %s", (long)getpid(), why);
        slowlog_note(line);
    }
    supervise_ask_replace(ask);
}

/* Every sweep: a state closer stuck in C past terminate_timeout is
 * written off (pool_closer.c logs it), and the slow log says so too. */
static void
housekeep_sweep_closer(struct pool *pool)
{
    struct conf *c = conf_acquire();
    int limit = c->terminate_timeout, slowlog = c->slowlog != NULL;
    char why[PATH_MAX + 256];

    conf_release(c);
    if (pool_closer_sweep(pool, limit, why, sizeof(why)) && slowlog)
        slowlog_note(why);
}

static void *
housekeep_main(void *arg)
{
    struct pool *pool = arg;
    struct conf *c;
    long long sweep;
    int closed;

    for (;;) {
        c = conf_acquire();
        sweep = c->sweep;
        conf_release(c);
        if (bgthread_wait_until(&hk_thread, monoclock_ms() + sweep))
            break;
        slowlog_sweep();
        wire_log_flush(0);
        if ((closed = net_pool_sweep()) > 0)
            log_debug("housekeeping: closed %d idle kept connections", closed);
        hk_workers.sweep_stuck();
        housekeep_sweep_closer(pool);
        housekeep_check_replace(pool);
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
housekeep_start(struct pool *pool, const struct housekeep_workers *workers)
{
    hk_workers = *workers;
    hk_rss_start = procmem_rss();       /* before the workers: no request yet */
    return bgthread_start(&hk_thread, "housekeeping", housekeep_main, pool);
}

void
housekeep_stop(void)
{
    bgthread_stop(&hk_thread);
}
