/*
 * worker.c: the worker threads.
 *
 * Each worker runs its own loop: take a connection that has a request
 * waiting (dispatch.c), read the request with FCGX_Accept_r() on it, run
 * it, and either keep the connection (FCGI_KEEP_CONN) by parking it with
 * the dispatcher, or close it; or, when the client sent its next request
 * before reading the answer (pipelined) and its bytes were read with the
 * request's end, serve that one at once, from those bytes
 * (worker_next_here). A connection that sent only management
 * records (FCGI_GET_VALUES) is answered and parked again, holding no
 * worker while it waits for its request: the record layer's first read
 * tells (wire_read_first, which libfcgi's first read then reuses). `jitter` can add
 * a random pause between a worker's requests; it is 0 by default, since
 * only the leader watches the socket and there is no herd to spread.
 *
 * libfcgi is used only to read and write the protocol: its request has no
 * listening socket (listen_sock -1), so FCGX_Accept_r() reads from the
 * descriptor we hand it and never blocks in accept() (after a bad request
 * it returns an error instead). keepConnection is set before libfcgi
 * finishes a request, so that it never closes the connection itself: we
 * decide, and close without libfcgi's lingering select(), which would
 * hold the worker while a client trickles bytes.
 *
 * One more thread, the service thread, serves status and ping requests
 * when every worker is busy (see dispatch_service.c); it is a worker in all but
 * its loop, numbered 0.
 *
 * How a worker serves a connection's requests, keeps or closes it, and
 * drains it: worker_conn.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "housekeep.h"
#include "log.h"
#include "ngx.h"
#include "monoclock.h"
#include "pool.h"
#include "request.h"
#include "status.h"
#include "workdir.h"
#include "worker.h"
#include "worker_impl.h"

#define WORKER_IDLE_MS   2000     /* idle this long: give buffer memory back */

struct worker_set worker_set = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* running counts the workers whose loop has not ended, so a stop can wait
 * for them with a deadline; guarded by running_lock. running_done is on
 * CLOCK_MONOTONIC (set up by worker_start), so the stop's bound is slept
 * in one wait and a step of the wall clock neither stretches nor cuts it.
 * A written-off worker no longer counts: it may never end. */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  running_done;
static int running;

/* DELTA more (or fewer) worker loops run. */
void
worker_running(int delta)
{
    pthread_mutex_lock(&running_lock);
    running += delta;
    if (delta < 0)
        pthread_cond_broadcast(&running_done);
    pthread_mutex_unlock(&running_lock);
}

static void
worker_jitter(struct worker *w)
{
    int jitter = w->req.jitter;
    struct timespec ts;

    if (jitter <= 0)
        return;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)(rand_r(&w->seed) % (unsigned)jitter) * 1000;
    nanosleep(&ts, NULL);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    int fd, tidy = 0;

    workdir_enter(&w->workdir, w->req.worker, worker_set.nslots == 2);   /* one worker and the service thread */
    while ((fd = dispatch_next(w->dispatch, tidy ? 0 : WORKER_IDLE_MS)) != DISPATCH_STOP) {
        if (fd == DISPATCH_IDLE) {
            request_idle(&w->req);      /* once per idle spell */
            housekeep_trim_soon();
            tidy = 1;
            continue;
        }
        if (worker_serve(w, fd))
            return NULL;        /* written off: ended, and no longer counted */
        workdir_reset(&w->workdir);
        worker_jitter(w);
        tidy = 0;
    }
    workdir_leave(&w->workdir);
    worker_running(-1);
    return NULL;
}

/* The service thread: only the status and ping requests the dispatcher
 * picked out for it while no worker was free. */
static void *
worker_service_main(void *arg)
{
    struct worker *w = arg;
    int fd;

    while ((fd = dispatch_service_next(w->dispatch, status_peek)) != DISPATCH_STOP)
        worker_serve(w, fd);    /* never written off: it runs no script */
    worker_running(-1);
    return NULL;
}

/* running_done, on the monotonic clock worker_wait's deadline is on. */
static int
worker_init_done(void)
{
    int rc;

    if ((rc = monoclock_cond_init(&running_done)) != 0) {
        log_err("workers: cannot set up the stop's timer: %s", strerror(rc));
        return -1;
    }
    return 0;
}

/* A worker numbered NUMBER (0: the service thread), not started; NULL
 * when out of memory (logged). */
struct worker *
worker_new(int number)
{
    struct worker *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        log_syserr("cannot allocate worker %d", number);
        return NULL;
    }
    w->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(number * 2654435761u) ^
              (unsigned)(uintptr_t)w;
    w->dispatch = worker_set.dispatch;
    w->stuck_handle = -1;
    w->next_fd = -1;
    if (writeoff_init(&w->writeoff) < 0) {
        free(w);
        return NULL;
    }
    if (request_init(&w->req, number, worker_set.pool) < 0) {
        writeoff_free(&w->writeoff);
        free(w);
        return NULL;
    }
    w->req.wire = &w->wire;
    w->req.writeoff = &w->writeoff;
    w->req.end_early = worker_end_early;
    w->req.state_install = ngx_install;
    w->req.end_arg = w;
    return w;
}

/* Free W, whose thread has ended or never started. */
void
worker_free(struct worker *w)
{
    request_free(&w->req);
    writeoff_free(&w->writeoff);
    wire_free(&w->wire);
    free(w);
}

/* Start W's thread: 0, or -1 (logged; W is left unstarted). */
int
worker_launch(struct worker *w)
{
    int number = w->req.worker, rc;

    worker_running(1);
    if ((rc = pthread_create(&w->thread, NULL, number ? worker_main : worker_service_main, w)) != 0) {
        log_err("cannot start worker %d: %s", number, strerror(rc));
        worker_running(-1);
        return -1;
    }
    __atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);     /* the housekeeper looks */
    return 0;
}

/* COUNT workers, numbered from 1, and the service thread, numbered 0. */
int
worker_start(int count, struct dispatch *dispatch, struct pool *pool)
{
    struct worker **slots;
    int i;

    if (worker_init_done() < 0)
        return -1;
    worker_set.dispatch = dispatch;
    worker_set.pool = pool;
    if ((slots = calloc((size_t)count + 1, sizeof(*slots))) == NULL) {
        log_syserr("cannot allocate %d workers", count);
        return -1;
    }
    for (i = 0; i <= count; i++)
        if ((slots[i] = worker_new(i < count ? i + 1 : 0)) == NULL)
            break;
    /* from here the housekeeper may replace them */
    pthread_mutex_lock(&worker_set.lock);
    worker_set.slots = slots;
    worker_set.nslots = count + 1;
    pthread_mutex_unlock(&worker_set.lock);
    if (i <= count)
        return -1;
    for (i = 0; i <= count; i++)
        if (worker_launch(slots[i]) < 0)
            return -1;
    return 0;
}

/* Wait up to MS for every worker loop to end (after dispatch_stop); how many
 * are still running, each with a request in flight. */
int
worker_wait(long long ms)
{
    struct timespec until;
    int left, rc = 0;

    /* a stuck one is written off now whatever the count: the process
     * ends soon, and its client gets its answer rather than the cut */
    pthread_mutex_lock(&worker_set.lock);
    worker_set.stopping = 1;
    pthread_mutex_unlock(&worker_set.lock);
    monoclock_deadline(&until, ms);
    pthread_mutex_lock(&running_lock);
    while (running > 0 && rc == 0)      /* ETIMEDOUT: the bound is reached */
        rc = pthread_cond_timedwait(&running_done, &running_lock, &until);
    left = running;
    pthread_mutex_unlock(&running_lock);
    return left;
}

/* No more replacements: the slots are final. */
static void
worker_stop_replacing(void)
{
    pthread_mutex_lock(&worker_set.lock);
    worker_set.joining = 1;
    pthread_mutex_unlock(&worker_set.lock);
}

/* A stop cut short (worker_wait() left some running): the process exits
 * without joining, on purpose, as it cannot wait for those. Detached, the
 * workers that did end are not threads nobody joined (ThreadSanitizer's
 * "thread leak"); the others end with the process. Nothing is freed, and
 * worker_join() must not follow. */
void
worker_abandon(void)
{
    int i, rc;

    worker_stop_replacing();
    for (i = 0; i < worker_set.nslots; i++) {
        struct worker *w = worker_set.slots[i];
        if (w != NULL && w->started && (rc = pthread_detach(w->thread)) != 0)
            log_err("cannot detach worker %d: %s", w->req.worker, strerror(rc));
    }
}

/* Wait for every worker to finish its request in flight, then free them.
 * Written-off ones are not waited for (worker_written_off tells how many
 * are still stuck: the process must then not free what they use). */
void
worker_join(void)
{
    int i;

    worker_stop_replacing();
    for (i = 0; i < worker_set.nslots; i++) {
        struct worker *w = worker_set.slots[i];
        if (w == NULL)
            continue;
        if (w->started)
            pthread_join(w->thread, NULL);
        worker_free(w);
        worker_set.slots[i] = NULL;
    }
    pthread_mutex_lock(&worker_set.lock);
    if (worker_set.spare != NULL) {
        worker_free(worker_set.spare);
        worker_set.spare = NULL;
    }
    free(worker_set.slots);
    worker_set.slots = NULL;
    worker_set.nslots = 0;
    pthread_mutex_unlock(&worker_set.lock);
}
