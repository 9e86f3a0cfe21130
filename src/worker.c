/*
 * worker.c: the worker threads.
 *
 * Each worker runs its own blocking FCGX_Accept_r() loop on the shared
 * listening socket: the kernel hands each new connection to one waiting
 * worker, so there is no dispatcher to queue behind. Between requests a
 * worker sleeps a random few microseconds (jitter), which keeps one hot
 * worker from taking every connection while the others go cold.
 *
 * Stopping: a thread blocked in accept() is not woken by a signal that is
 * blocked everywhere, so worker_stop() raises libfcgi's shutdown flag and
 * shuts the listening socket down (listen_wake), which fails the pending
 * accept()s; workers in the middle of a request finish it first.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "conf.h"
#include "listen.h"
#include "log.h"
#include "request.h"
#include "worker.h"

struct worker {
    pthread_t       thread;
    int             started;
    unsigned        seed;
    struct request  req;
};

/* Set at start-up by the main thread and read-only until worker_join(). */
static struct worker *workers;
static int nworkers;
static int stopping;    /* atomic */

static int
worker_stopping(void)
{
    return __atomic_load_n(&stopping, __ATOMIC_ACQUIRE);
}

static void
worker_jitter(struct worker *w)
{
    struct conf *c = conf_acquire();
    int jitter = c->jitter;
    struct timespec ts;

    conf_release(c);
    if (jitter <= 0)
        return;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)(rand_r(&w->seed) % (unsigned)jitter) * 1000;
    nanosleep(&ts, NULL);
}

/* Back off after an accept error that is not ours to fix (EMFILE, ENOBUFS). */
static void
worker_backoff(void)
{
    struct timespec ts = { 0, 100000000L };   /* 100 ms */

    nanosleep(&ts, NULL);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct request *r = &w->req;
    int rc;

    while (!worker_stopping()) {
        rc = FCGX_Accept_r(&r->fcgx);
        if (rc < 0) {
            if (worker_stopping())
                break;
            if (rc == -EINTR || rc == -EAGAIN || rc == -EWOULDBLOCK)
                continue;   /* EAGAIN: the accept timeout, nothing to do */
            log_err("worker %d: accept failed: %s", r->worker,
                    rc > -1000 ? strerror(-rc) : "libfcgi error");
            worker_backoff();
            continue;
        }
        request_handle(r);
        FCGX_Finish_r(&r->fcgx);
        worker_jitter(w);
    }
    FCGX_Finish_r(&r->fcgx);
    return NULL;
}

int
worker_start(int count, int listen_fd, struct pool *pool)
{
    int i, rc;

    if ((workers = calloc((size_t)count, sizeof(*workers))) == NULL) {
        log_syserr("cannot allocate %d workers", count);
        return -1;
    }
    nworkers = count;
    for (i = 0; i < count; i++) {
        struct worker *w = &workers[i];
        w->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(i * 2654435761u);
        if (request_init(&w->req, i + 1, listen_fd, pool) < 0)
            return -1;
        if ((rc = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
            log_err("cannot start worker %d: %s", i + 1, strerror(rc));
            request_free(&w->req);
            return -1;
        }
        w->started = 1;
    }
    return 0;
}

void
worker_stop(int listen_fd)
{
    __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
    FCGX_ShutdownPending();
    listen_wake(listen_fd);
}

/* Wait for every worker to finish its request in flight, then free them. */
void
worker_join(void)
{
    int i;

    for (i = 0; i < nworkers; i++) {
        if (!workers[i].started)
            continue;
        pthread_join(workers[i].thread, NULL);
        request_free(&workers[i].req);
    }
    free(workers);
    workers = NULL;
    nworkers = 0;
}
