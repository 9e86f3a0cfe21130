/*
 * dispatch_accept.c: taking new connections off the listening sockets,
 * for the dispatcher's leader (dispatch.c), with its lock held.
 *
 * A new connection with its request already there joins the ready queue;
 * one that has sent nothing yet is parked (see dispatch.c). Clients not
 * in allowed_clients are closed here.
 *
 * Out of descriptors (EMFILE, ENFILE), accept() fails while the listening
 * socket stays readable, so a leader that only logged would spin. Instead
 * it first closes the oldest parked connection to make room (an idle
 * connection is the cheapest thing to lose: nothing is running on it, and
 * a web server reconnects), so new requests keep being served while
 * stalled clients hold descriptors. With nothing parked, every descriptor
 * is a request queued or in flight: the leader stops watching the
 * listening socket for a growing interval (new connections wait in the
 * kernel's backlog, not refused) and the workers drain the queue. Either
 * way one line per LF_FD_REPORT_MS says how many accepts failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "luafcgid.h"
#include "conf.h"
#include "dispatch_impl.h"
#include "log.h"
#include "monoclock.h"

/* What the dispatcher polls must not block it; no lock needed. */
static int
dispatch_nonblock(int fd, int nonblock)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0)
        return -1;
    return 0;
}

/* Nor may what it opens itself (the wake pipe, accepted connections) leak
 * into children. */
int
dispatch_cloexec_nonblock(int fd, int nonblock)
{
    if (dispatch_nonblock(fd, nonblock) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* The listening sockets are close-on-exec already (listen.c). */
int
dispatch_listeners_nonblock(const struct listeners *ls)
{
    int k;

    for (k = 0; k < ls->n; k++)
        if (dispatch_nonblock(ls->fd[k], 1) < 0)
            return -1;
    return 0;
}

/* Log what accept() could not do since the last report: FAILED attempts
 * (0: no report is due), at most once per LF_FD_REPORT_MS however often it
 * fails (ratelog.c); lock held. */
void
dispatch_fd_report(struct dispatch *d, unsigned long failed)
{
    if (failed == 0)
        return;
    log_warn("accept: %s: %lu attempts failed, %d idle connections closed to make room; "
            "new connections wait in the backlog (next report in %d s at most)",
            strerror(d->fd_errno), failed, d->fd_closed, LF_FD_REPORT_MS / 1000);
    d->fd_closed = 0;
}

/* accept() failed with ERR (not EAGAIN): make room by closing the oldest
 * parked connection (1: try again), or stop accepting for a growing
 * interval (0); lock held, so only the leader's collect calls this. */
static int
dispatch_accept_failed(struct dispatch *d, int err)
{
    long long now = monoclock_ms();

    d->fd_errno = err;
    if ((err == EMFILE || err == ENFILE) && d->nparked > 0) {
        int fd = d->parked[0].fd;
        dispatch_parked_remove(d, 0);
        close(fd);
        d->fd_closed++;
        dispatch_fd_report(d, ratelog_hit(&d->fd_failed, now, LF_FD_REPORT_MS));
        return 1;
    }
    d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : LF_ACCEPT_BACKOFF_MIN_MS;
    if (d->backoff_ms > LF_ACCEPT_BACKOFF_MAX_MS)
        d->backoff_ms = LF_ACCEPT_BACKOFF_MAX_MS;
    d->accept_resume = now + d->backoff_ms;
    dispatch_fd_report(d, ratelog_hit(&d->fd_failed, now, LF_FD_REPORT_MS));
    return 0;
}

/* Accept what is waiting on listening socket K; lock held. Those whose
 * request is in queue, the rest park or wait for it (dispatch_arrived). Connections are non-blocking: the record layer
 * (wire.c) waits on them with poll(), against the request's
 * client_timeout. */
void
dispatch_accept_from(struct dispatch *d, int k, int burst)
{
    struct sockaddr_storage peer;
    socklen_t plen;
    int i, fd, on = 1;

    for (i = 0; i < burst && !dispatch_service_full(d); i++) {
        plen = sizeof(peer);
#if defined(SOCK_CLOEXEC) && defined(__linux__)
        fd = accept4(d->listen.fd[k], (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);
#else
        fd = accept(d->listen.fd[k], (struct sockaddr *)&peer, &plen);
        if (fd >= 0 && dispatch_cloexec_nonblock(fd, 1) < 0) {
            close(fd);
            continue;
        }
#endif
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* out of descriptors or memory: the socket stays readable */
            if (dispatch_accept_failed(d, errno))
                continue;
            return;
        }
        d->backoff_ms = 0;
        if (d->listen.tcp[k] && !conf_admit((struct sockaddr *)&peer)) {
            close(fd);      /* not in allowed_clients (logged) */
            continue;
        }
        if (d->listen.tcp[k])
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        dispatch_arrived(d, fd, 0);     /* parked when it sent nothing yet */
    }
}

/* Accept what is waiting on every listening socket; lock held. */
void
dispatch_accept(struct dispatch *d, int burst)
{
    int k;

    for (k = 0; k < d->listen.n; k++)
        dispatch_accept_from(d, k, burst);
}

/* Stopping, after the last accept burst: a socket still readable holds
 * connections that accept() could not take (out of descriptors, with no
 * idle connection left to close). They are reset when the socket closes:
 * say so, once. Lock held. */
void
dispatch_stop_leftover(struct dispatch *d)
{
    struct pollfd p;
    int k, left = 0;

    for (k = 0; k < d->listen.n; k++) {
        p.fd = d->listen.fd[k];
        p.events = POLLIN;
        p.revents = 0;
        left |= poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
    }
    if (left)
        log_err("stop: accept: %s: connections still waiting in the backlog could not be "
                "accepted and are reset", strerror(d->fd_errno ? d->fd_errno : EMFILE));
}
