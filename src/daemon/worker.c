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
 * Every byte of the connection passes the record layer (wire.c), which
 * refuses records out of sequence, bounds the params, the bytes and the
 * time a request takes on the client, and tells
 * whether the request's records were read to their end. Only then may the
 * connection serve another request: the unread rest of a body (a 404, a
 * 413) is drained first, or the connection closed, so that body bytes are
 * never taken for the next request's records. It is drained before a
 * close too, as php-fpm does: closing with unread bytes makes the kernel
 * send a reset, and a server still sending the body (Apache, Caddy) then
 * loses the answer and reports a 502 or 503.
 *
 * An early answer on a connection that is not kept ends our side of it
 * first (shutdown), then drains: each server learns in its own way that
 * the answer is whole. nginx without fastcgi_keep_conn stops sending the
 * body once it has the answer's head and takes the end of the connection
 * for the end of the answer, so it needs the shutdown, and closes; Apache
 * reads the answer while it sends and stops at FCGI_END_REQUEST; Caddy
 * sends the whole body before it reads a byte, so it needs the drain to
 * read all of it. The drain reads what the request declared
 * (CONTENT_LENGTH), or maxpost when it declared no more, within the
 * request's own client_timeout: past it, the close may cost a server still
 * sending its answer.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "body.h"
#include "conf.h"
#include "dispatch.h"
#include "housekeep.h"
#include "log.h"
#include "ngx.h"
#include "monoclock.h"
#include "pool.h"
#include "reqid.h"
#include "request.h"
#include "serve.h"
#include "status.h"
#include "workdir.h"
#include "wire.h"
#include "worker.h"
#include "worker_impl.h"

#define WORKER_LINGER_MS 1000
#define WORKER_IDLE_MS   2000     /* idle this long: give buffer memory back */
#define WORKER_SERVICE_MS  200    /* the service thread's whole request, read and answer */
#define WORKER_GONE      (-2)     /* worker_serve_one: written off, W is gone */
#define WORKER_HELD       1       /* worker_keep_begin: the dispatcher holds a place */
#define WORKER_HELD_HERE  2       /* ... no: this worker serves a request pipelined next */

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

/* TCP: hold what is written back (ON), so that the FIN of a shutdown
 * leaves in the same segment as the answer's end; a unix socket has no
 * segments (the call fails, and needs not succeed). */
static void
worker_cork(int fd, int on)
{
#if defined(TCP_CORK)
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
#elif defined(TCP_NOPUSH)
    setsockopt(fd, IPPROTO_TCP, TCP_NOPUSH, &on, sizeof(on));
#else
    (void)fd;
    (void)on;
#endif
}

/* A kept connection's answer is about to end (its END_REQUEST written
 * next): WORKER_HELD when the dispatcher holds it a place (keep it, or
 * pass it on); WORKER_HELD_HERE when its client already sent its next
 * request (pipelined), which this worker serves next, so the connection
 * needs no place, past keepalive_max or in a stop too; 0 when it will not
 * be kept, and then it is closed right behind the answer
 * (worker_close_behind), so that the web server sees both at once and
 * does not reuse it for a request. KEEP: the client asked to keep it. */
static int
worker_keep_begin(struct worker *w, int fd, int keep)
{
    int held;

    if (keep && w->req.worker != REQUEST_SERVICE && !w->wire.past_end && wire_pipelined(&w->wire))
        return WORKER_HELD_HERE;
    held = keep && dispatch_keep_begin(w->dispatch) ? WORKER_HELD : 0;
    if (keep && !held)
        worker_cork(fd, 1);
    return held;
}

/* The answer was written: one that is not to be kept, read to its end,
 * is shut at once, its FIN (on TCP) in the answer's last segment. */
static void
worker_close_behind(struct worker *w, int fd, int keep, int held)
{
    if (keep && !held && wire_can_keep(&w->wire))
        shutdown(fd, SHUT_WR);
}

/* Close after answering early (413): read what the client still sends, for
 * a bounded time, so the close does not reset the answer away. The time
 * is the request's own (BUDGET ms of client_timeout, -1: none), not more:
 * a client that trickles does not hold the worker past it. */
static void
worker_linger_close(int fd, long long budget)
{
    long long until = monoclock_ms() +
                      (budget >= 0 && budget < WORKER_LINGER_MS ? budget : WORKER_LINGER_MS);
    struct pollfd p = { fd, POLLIN, 0 };
    char sink[4096];

    if (budget != 0 && shutdown(fd, SHUT_WR) == 0) {
        for (;;) {
            long long left = until - monoclock_ms();
            if (left <= 0 || poll(&p, 1, (int)left) <= 0 || read(fd, sink, sizeof(sink)) <= 0)
                break;
        }
    }
    close(fd);
}

/* The bytes a drain may read: the body the request declared, or maxpost
 * when it declared no more (or nothing), and the records' framing. */
static size_t
worker_drain_max(size_t declared, size_t maxpost)
{
    return wire_framed(declared != BODY_UNKNOWN && declared != BODY_TOO_BIG && declared > maxpost ?
                       declared : maxpost);
}

/*
 * A request pipelined: the client sent its next request before it read
 * this answer, and its bytes were read with this request's end. On a
 * connection kept for it (KEEP: worker_keep_begin saw it), this worker
 * serves it next (1), the bytes kept as its first read (wire_carry):
 * parked, the connection would wait for bytes already read, and handed
 * over (USR2) it would lose them; so it is served here, in a stop too.
 * The service thread runs no script, and a connection not kept is
 * closed: such a request is logged, not lost in silence.
 */
static int
worker_next_here(struct worker *w, int keep)
{
    if (w->wire.past_end) {     /* more than a read of libfcgi's: cannot happen */
        wire_unserved(&w->wire, "more came than a read holds");
        return 0;
    }
    if (!wire_pipelined(&w->wire))
        return 0;
    if (keep) {
        w->carried = wire_carry(&w->wire);
        return 1;
    }
    wire_unserved(&w->wire, w->req.worker == REQUEST_SERVICE ?
                  "the service thread serves only the status and ping" : "the connection is not kept");
    return 0;
}

/*
 * Read what the request left unread (an early answer: 404, 403, 413, or a
 * body nobody read) before the connection is kept or closed: a server
 * still sending would otherwise get a reset instead of the answer. Keep it
 * only when the request was read to its end; past the drain's bound, close
 * with a linger so the answer still gets out. One not to be kept is shut
 * on our side first: the answer is whole (see the design note).
 */
static int
worker_keep_or_close(struct worker *w, int fd, int held, size_t drain_max)
{
    int keep = held, drained = WIRE_DRAINED, unread, next;
    long long left;

    if (!wire_can_keep(&w->wire) && !w->wire.failed && !w->req.client_gone) {
        if (!keep && shutdown(fd, SHUT_WR) < 0)
            log_debug("worker %d request %s: fd %d: shutdown after an early answer: %s",
                      w->req.worker, w->req.id, fd, strerror(errno));
        drained = wire_drain(&w->wire, drain_max, keep);
        if (drained != WIRE_DRAINED && drained != WIRE_PAUSED)
            log_debug("worker %d request %s: fd %d: the request was not read to its end; closed",
                      w->req.worker, w->req.id, fd);
    }
    /* paused: parked at a record's boundary, the rest of the body may come
     * before the next request (wire_rest.c) */
    keep = keep && (drained == WIRE_PAUSED || (drained == WIRE_DRAINED && wire_can_keep(&w->wire)));
    unread = !w->wire.ended;
    next = worker_next_here(w, keep && held == WORKER_HELD_HERE);
    if (keep && !next && wire_mgmt_after(&w->wire) < 0) {
        log_debug("worker %d request %s: fd %d: the management records after the request's end "
                  "could not be answered; closed", w->req.worker, w->req.id, fd);
        keep = 0;
    }
    left = wire_time_left(&w->wire);
    wire_end(&w->wire);
    if (held == WORKER_HELD)    /* the place worker_keep_begin() held: taken, or given back */
        dispatch_keep_end(w->dispatch, keep && !next ? fd : -1);
    if (next)
        return 1;
    if (keep)
        return 0;
    if (unread && !w->req.client_gone)
        worker_linger_close(fd, left);  /* the client may still be sending */
    else
        close(fd);
    return 0;
}

/*
 * req:finish() or ngx.eof() in the handler (request.h's end_early): the
 * FastCGI request ends now, as it would after the handler: the stream
 * closes (END_REQUEST), the rest of the body is drained and the
 * connection goes back to the dispatcher, or is closed, at once. The
 * handler goes on; libfcgi's request keeps its parameters, which the
 * handler may still read, until worker_serve finishes it.
 */
static void
worker_end_early(struct request *r)
{
    struct worker *w = r->end_arg;
    FCGX_Request *f = &r->fcgx;
    int fd, failed, keep = w->keep && !r->client_gone && !r->no_keep, held;

    if (writeoff_let_go(r))        /* written off: the housekeeper ended it */
        return;
    wire_resume(&w->wire);      /* the client's clock runs for the rest */
    held = worker_keep_begin(w, f->ipcFd, keep);
    failed = FCGX_FClose(f->err) != 0;
    failed |= FCGX_FClose(f->out) != 0;
    failed |= FCGX_GetError(f->in) != 0;
    fd = f->ipcFd;
    f->ipcFd = -1;              /* libfcgi's request no longer has it */
    snprintf(w->script, sizeof(w->script), "%s", w->wire.script ? w->wire.script : "-");
    w->wire.script = w->script;
    if (fd < 0 || failed) {
        if (held == WORKER_HELD)
            dispatch_keep_end(w->dispatch, -1);
        wire_end(&w->wire);
        if (fd >= 0) {
            r->client_gone = 1;
            close(fd);
        }
        return;
    }
    worker_close_behind(w, fd, keep, held);
    if (worker_keep_or_close(w, fd, held, w->maxpost))
        w->next_fd = fd;        /* served once the handler returns */
}

/* Serve the request waiting on FD, then keep or close the connection.
 * The connection to serve next, at once (a request pipelined on it:
 * worker_next_here), or -1; WORKER_GONE when the worker was written off
 * meanwhile: it has ended (worker_retire), and W is gone. */
static int
worker_serve_one(struct worker *w, int fd)
{
    struct request *r = &w->req;
    FCGX_Request *f = &r->fcgx;
    struct conf *c = conf_acquire();
    int keep, held, idle, client_timeout = c->client_timeout, cpu = c->access_cpu;
    size_t maxparams = c->maxparams, maxpost = c->maxpost;
    /* the connections taken at once: one per worker, and the kept ones */
    int maxconns = c->workers + c->keepalive_max;

    conf_release(c);
    request_began(r, cpu);      /* the BEGIN_REQUEST is waiting: dispatch saw it */
    wire_begin(&w->wire, fd, r->worker, client_timeout, maxparams, maxpost);
    wire_carried(&w->wire, w->carried);     /* the bytes of a request pipelined, read */
    w->carried = 0;
    w->wire.maxconns = maxconns;
    if (r->worker == REQUEST_SERVICE)   /* never held by one client */
        w->wire.deadline = monoclock_ms() + WORKER_SERVICE_MS;
    if ((idle = wire_read_first(&w->wire)) != 0) {
        /* only management records came, answered: wait parked; or the
         * connection ended, or failed */
        wire_end(&w->wire);
        if (idle == WIRE_MGMT_IDLE)
            dispatch_park(w->dispatch, fd);
        else
            close(fd);
        return -1;
    }
    f->ipcFd = fd;
    f->keepConnection = 1;      /* FCGX_Accept_r opens with a finish: keep fd */
    f->detached = 1;            /* if libfcgi closes, no lingering select() */
    if (FCGX_Accept_r(f) < 0) {
        /* EOF or a bad request: libfcgi has closed the connection */
        f->ipcFd = -1;
        wire_end(&w->wire);
        return -1;
    }
    reqid_take(r->id, f->envp, r->worker, &r->id_seq);
    w->wire.reqid = r->id;
    keep = f->keepConnection;
    w->keep = keep;
    w->maxpost = maxpost;
    if (serve_request(r))       /* stops the request's clock while Lua runs */
        housekeep_trim_soon();  /* its buffers shrank */
    if (r->written_off) {
        worker_retire(w, fd);
        return WORKER_GONE;
    }
    if (r->ended) {             /* req:finish(): the connection went on then */
        FCGX_Finish_r(f);       /* frees what the handler kept reading */
        f->ipcFd = -1;
        fd = w->next_fd;
        w->next_fd = -1;
        return fd;
    }
    if (r->client_gone || r->no_keep)
        keep = 0;
    f->keepConnection = 1;
    f->detached = 1;
    /* libfcgi frees the script's name: the drain's log lines name a copy */
    snprintf(w->script, sizeof(w->script), "%s", w->wire.script ? w->wire.script : "-");
    w->wire.script = w->script;
    held = worker_keep_begin(w, fd, keep);
    FCGX_Finish_r(f);           /* ends the request; closes only on a write error */
    fd = f->ipcFd;
    f->ipcFd = -1;
    if (fd < 0) {
        if (held == WORKER_HELD)
            dispatch_keep_end(w->dispatch, -1);
        wire_end(&w->wire);
        return -1;
    }
    worker_close_behind(w, fd, keep, held);
    return worker_keep_or_close(w, fd, held, worker_drain_max(r->body_want, maxpost)) ? fd : -1;
}

/* Serve the request waiting on FD, and those pipelined after it on its
 * connection. 1 when the worker was written off meanwhile: W is gone. */
static int
worker_serve(struct worker *w, int fd)
{
    while (fd >= 0)
        if ((fd = worker_serve_one(w, fd)) == WORKER_GONE)
            return 1;
    return 0;
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
