/*
 * worker_replace.c: a worker stuck in C past terminate_timeout is written
 * off and replaced, so the pool keeps its size; one that comes back ends.
 *
 * The housekeeper (worker_sweep_stuck, every sweep) asks writeoff.c about
 * each worker's run. One written off there (its state out of the pool,
 * its client answered, its slots ended) is taken out of its slot and put
 * on the written-off list, its thread detached and no longer counted by a
 * stop; a new worker with the same number, made ahead of time (the
 * spare), takes the slot and starts at once. The stuck thread keeps its
 * own struct worker: it may still be in the C call, using its request.
 *
 * If that call ever returns, the thread finds it was written off
 * (serve.c) and ends here (worker_retire): it closes its connection and
 * frees what was its own, taking the written-off list's lock first, which
 * the housekeeper holds from the write-off to the listing, so it never
 * leaves before it is listed.
 *
 * Written-off workers are bounded: at most `workers` stay stuck at once
 * (past that a stuck one is left to its request, logged once), and at
 * max_written_off the serving process asks to be replaced
 * (housekeep.c), which ends them all with it. Once it stops, the bound
 * is off: it takes no more requests and ends soon, and a stuck one's
 * client gets its 500 at terminate_timeout rather than a cut at the
 * stop's bound.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "conf.h"
#include "counters.h"
#include "log.h"
#include "monoclock.h"
#include "request.h"
#include "slowlog.h"
#include "worker.h"
#include "worker_impl.h"
#include "writeoff.h"

/* Lines of a traceback given to the log at most. */
#define WORKER_TRACE_LINES 12

/* The report's traceback, a log line a frame. */
static void
worker_log_trace(const struct slowlog_stuck *rep)
{
    const char *p = rep->trace, *nl;
    int lines = 0;

    if (rep->trace_age_ms < 0) {
        log_err("worker %d request %s: no Lua traceback: its run was stuck in C within %d ms "
                "of its start", rep->worker, rep->id, LF_TRACE_FIRST_MS);
        return;
    }
    log_err("worker %d request %s: its hook's last traceback, %.3f s before:", rep->worker,
            rep->id, (double)rep->trace_age_ms / 1e3);
    for (; *p && lines < WORKER_TRACE_LINES; p = *nl ? nl + 1 : nl, lines++) {
        if ((nl = strchr(p, '\n')) == NULL)
            nl = p + strlen(p);
        if (*p == '\t')
            p++;        /* the log escapes it: indented here */
        log_err("worker %d request %s:   %.*s", rep->worker, rep->id, (int)(nl - p), p);
    }
}

/* Lock held: W, in slot I, was written off: a spare takes its place. */
static void
worker_write_off(int i, struct worker *w, const struct writeoff_report *rep, int slowlog)
{
    struct worker *fresh = worker_set.spare;
    int rc;

    w->stuck_handle = rep->handle;
    w->off_ms = monoclock_ms();
    w->next_off = worker_set.off;
    worker_set.off = w;
    worker_set.noff++;
    if ((rc = pthread_detach(w->thread)) != 0)
        log_err("cannot detach written-off worker %d: %s", rep->what.worker, strerror(rc));
    __atomic_store_n(&w->started, 0, __ATOMIC_RELAXED);
    worker_running(-1);                 /* a stop does not wait for it */
    worker_set.spare = NULL;
    worker_set.slots[i] = fresh;
    if (fresh != NULL)
        worker_launch(fresh);           /* logged when it fails */
    log_err("worker %d request %s: %s: %s %s: its script ran %.1f s, past terminate_timeout "
            "(%d s), stuck in a C function: written off, its state dropped, %s; %s (%d written "
            "off now)", rep->what.worker, rep->what.id, rep->what.script, rep->what.method,
            rep->what.uri, (double)rep->what.ran_ms / 1e3, rep->what.limit,
            slowlog_answered(rep->what.answered),
            fresh != NULL && __atomic_load_n(&fresh->started, __ATOMIC_RELAXED) ?
            "a new worker took its place" :
            "no worker could take its place", worker_set.noff);
    worker_log_trace(&rep->what);
    if (slowlog)
        slowlog_written_off(&rep->what);
}

/*
 * The housekeeper, every sweep: write off each worker whose script has
 * run terminate_timeout, and replace it. A spare is made ahead, outside
 * the lock (it allocates), so a replacement never waits on memory.
 */
void
worker_sweep_stuck(void)
{
    struct writeoff_report rep;
    struct conf *c = conf_acquire();
    int limit = c->terminate_timeout, cap = c->workers, slowlog = c->slowlog != NULL, i;
    long long now = monoclock_ms();
    struct worker *spare = NULL;

    conf_release(c);
    if (limit <= 0)
        return;
    pthread_mutex_lock(&worker_set.lock);
    if (worker_set.nslots == 0) {         /* not started yet */
        pthread_mutex_unlock(&worker_set.lock);
        return;
    }
    if (worker_set.spare == NULL && !worker_set.joining) {
        pthread_mutex_unlock(&worker_set.lock);
        spare = worker_new(1);      /* numbered when it is used */
        pthread_mutex_lock(&worker_set.lock);
        if (worker_set.spare == NULL && !worker_set.joining) {
            worker_set.spare = spare;
            spare = NULL;
        }
    }
    for (i = 0; !worker_set.joining && i < worker_set.nslots - 1; i++) {
        struct worker *w = worker_set.slots[i];
        if (w == NULL || !__atomic_load_n(&w->started, __ATOMIC_ACQUIRE) || worker_set.spare == NULL)
            continue;
        if (worker_set.noff >= cap && !worker_set.stopping) {
            if (!worker_set.capped)
                log_warn("%d workers are written off and still stuck: no more are, until the "
                         "serving process is replaced", worker_set.noff);
            worker_set.capped = 1;
            break;
        }
        worker_set.capped = 0;
        if (!writeoff_check(&w->req, now, limit, &rep))
            continue;
        /* the same number, and its count of request ids goes on */
        worker_set.spare->req.worker = w->req.worker;
        worker_set.spare->req.id_seq = w->req.id_seq;
        worker_write_off(i, w, &rep, slowlog);
    }
    pthread_mutex_unlock(&worker_set.lock);
    if (spare != NULL)
        worker_free(spare);
}

/* Written-off workers whose threads are still stuck. */
int
worker_written_off(void)
{
    int n;

    pthread_mutex_lock(&worker_set.lock);
    n = worker_set.noff;
    pthread_mutex_unlock(&worker_set.lock);
    return n;
}

/*
 * The written-off worker W came back from its C call (serve.c found out):
 * its connection, on FD, was shut down for it; libfcgi's request is
 * ended (what it writes fails there), the descriptor closed, and W freed
 * with its thread's end. Nothing its replacement uses is touched.
 */
void
worker_retire(struct worker *w, int fd)
{
    FCGX_Request *f = &w->req.fcgx;
    struct worker **pp;
    long long off_ms;

    f->keepConnection = 1;
    f->detached = 1;
    FCGX_Finish_r(f);
    if (f->ipcFd >= 0)
        close(fd);
    f->ipcFd = -1;
    if (w->next_fd >= 0)        /* a request pipelined after req:finish(): too late now */
        close(w->next_fd);
    wire_end(&w->wire);
    workdir_leave(&w->workdir);
    pthread_mutex_lock(&worker_set.lock);
    for (pp = &worker_set.off; *pp != NULL; pp = &(*pp)->next_off)
        if (*pp == w) {
            *pp = w->next_off;
            worker_set.noff--;
            break;
        }
    off_ms = w->off_ms;
    pthread_mutex_unlock(&worker_set.lock);
    counters_stuck_gone(w->stuck_handle);
    log_notice("worker %d request %s: its written-off thread came back %.1f s after the write-off; "
               "its state is closed and the thread ends", w->req.worker, w->req.id,
               (double)(monoclock_ms() - off_ms) / 1e3);
    worker_free(w);
}
