/*
 * worker_conn.c: a connection's requests, as a worker serves them: read
 * the request with FCGX_Accept_r() on the descriptor the dispatcher handed
 * it, run it, and keep the connection, close it, or serve at once the
 * request its client sent before reading the answer (worker.c: the
 * threads, their loops, start and stop).
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
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "body.h"
#include "conf.h"
#include "dispatch.h"
#include "housekeep.h"
#include "log.h"
#include "monoclock.h"
#include "reqid.h"
#include "request.h"
#include "serve.h"
#include "wire.h"
#include "worker_impl.h"

#define WORKER_LINGER_MS 1000
#define WORKER_SERVICE_MS  200    /* the service thread's whole request, read and answer */
#define WORKER_GONE      (-2)     /* worker_serve_one: written off, W is gone */
#define WORKER_HELD       1       /* worker_keep_begin: the dispatcher holds a place */
#define WORKER_HELD_HERE  2       /* ... no: this worker serves a request pipelined next */

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
void
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
    if (w->wire.failed) {
        /* the record layer refused the parameters (logged): libfcgi took
         * their failed read for their end, and has only some of them. No
         * answer (FCGX_Finish_r would write one), no request served. */
        FCGX_Free(f, 0);
        close(fd);
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
int
worker_serve(struct worker *w, int fd)
{
    while (fd >= 0)
        if ((fd = worker_serve_one(w, fd)) == WORKER_GONE)
            return 1;
    return 0;
}
