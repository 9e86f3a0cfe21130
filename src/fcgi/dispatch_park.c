/*
 * dispatch_park.c: the parked connections, and the leader's poll set that
 * watches them.
 *
 * Kept connections (FCGI_KEEP_CONN, nginx `fastcgi_keep_conn on`): after
 * the response the worker parks the connection here instead of waiting
 * on it, so an idle kept connection never holds a worker; when its next
 * request arrives the leader sees it like a new connection. When its next
 * request comes, allowed_clients is checked again: a HUP may have removed
 * its client. Only the leader removes parked connections; others only
 * append, so the leader's poll set, taken before it polls without the
 * lock, stays valid.
 *
 * Closing kept connections. The web server may start writing a request on
 * a kept connection at any moment, and nginx resends only idempotent ones
 * when the connection closes under it: a POST is lost. So a kept
 * connection is never closed while idle but for keepalive_timeout (which
 * the web server's own should undercut), out of descriptors
 * (dispatch_accept.c) and the end of a stop's drain. Past keepalive_max,
 * or answered while stopping, it is closed right behind its answer
 * (dispatch_keep_begin: the worker asks before the answer's last write,
 * and closes at once after it, the FIN in the same TCP segment), so the
 * web server sees the close with the answer and never reuses the
 * connection. A process that leaves while another takes over (USR2)
 * passes them on instead (handover.c).
 *
 * A new connection that has not sent anything yet is parked too, so a
 * client that connects and stalls costs a descriptor, not a worker. It
 * does not count toward keepalive_max: closing it would lose a request
 * that may be on its way. Such connections are bounded by
 * keepalive_timeout and by the descriptors themselves (dispatch_accept.c).
 *
 * The leader polls the wake pipe, the listening sockets, the hand-over
 * inbox and the parked connections (dispatch_poll_set): on Linux these
 * through their epoll set (dispatch_watch.c), so that a worker that parks
 * one while another thread leads need not wake it; after a poll,
 * what arrived on a parked connection joins the ready queue, oldest parked
 * first, in order with the new ones (dispatch.c: "Arrival order"), and
 * what idled past keepalive_timeout is closed (dispatch_collect). A stop
 * sorts them out one last time, with no leader polling (dispatch_drain).
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luafcgid.h"
#include "conf.h"
#include "dispatch.h"
#include "dispatch_impl.h"
#include "handover.h"
#include "log.h"
#include "monoclock.h"
#include "ratelog.h"

/* The I-th parked connection leaves the set (not closed yet); lock held. */
void
dispatch_parked_remove(struct dispatch *d, int i)
{
    dispatch_watch_drop(d, d->parked[i].fd);
    if (d->parked[i].kept)
        d->nkept--;
    memmove(&d->parked[i], &d->parked[i + 1], (size_t)(d->nparked - i - 1) * sizeof(*d->parked));
    d->nparked--;
}

/* Append FD to the parked set, idle since SINCE (ms); lock held. Only
 * appends happen outside the leader, so the leader's poll set stays a
 * prefix of the parked array. */
static void
dispatch_parked_keep(struct dispatch *d, int fd, int kept, long long since)
{
    if (d->nparked == d->parked_cap) {
        int cap = d->parked_cap ? d->parked_cap * 2 : 64;
        struct parked *p = realloc(d->parked, (size_t)cap * sizeof(*p));
        if (p == NULL) {
            log_syserr("dispatcher: cannot keep a connection");
            close(fd);
            return;
        }
        d->parked = p;
        d->parked_cap = cap;
    }
    d->parked[d->nparked].fd = fd;
    d->parked[d->nparked].kept = kept;
    d->parked[d->nparked].since = since;
    d->nparked++;
    d->nkept += kept;
    dispatch_watch_arm(d, fd);
}

/* Append FD, idle from now; lock held. */
void
dispatch_parked_add(struct dispatch *d, int fd, int kept)
{
    dispatch_parked_keep(d, fd, kept, monoclock_ms());
}

/* A worker parked a connection, idle from now: does the leader need to
 * know? Its poll set takes in what is armed in the epoll set, so only when
 * the connection's idle time ends before the leader would wake up anyway;
 * without the set, always. Lock held. */
static void
dispatch_parked_tell(struct dispatch *d)
{
    long long ends = monoclock_ms() + (long long)d->keepalive_timeout * 1000;

    if (d->park_ep < 0 ||
        (d->polling && d->keepalive_timeout > 0 && (d->poll_until < 0 || ends < d->poll_until)))
        dispatch_wake_leader(d);
}

/* Stopping: pass FD on to the serving process that takes over (PASS),
 * or close it, right after its answer. */
static void
dispatch_let_go(int fd, int pass)
{
    struct handover_conn c;

    c.fd = fd;
    c.kept = 1;
    c.since = monoclock_ms();
    if (!pass || handover_send(&c, 1) != 1)
        close(fd);
}

/* A connection that was answered and asked for nothing more (it sent only
 * management records): watch it for its request, as a new connection that
 * sent nothing yet, not counted toward keepalive_max (else a few such
 * would take every place, and each kept connection after them be closed
 * behind its answer). When the daemon stops (TERM) it is closed instead;
 * or passed on to the serving process that takes over (USR2). */
void
dispatch_park(struct dispatch *d, int fd)
{
    int stopping, pass;

    pthread_mutex_lock(&d->lock);
    stopping = d->stopping;
    pass = d->hand_over;
    if (!stopping) {
        dispatch_parked_add(d, fd, 0);
        dispatch_parked_tell(d);
    }
    pthread_mutex_unlock(&d->lock);
    if (stopping)
        dispatch_let_go(fd, pass);
}

/*
 * A kept connection's answer is about to end: will the connection be kept
 * (or passed on)? 1 with a place held for it among keepalive_max, to be
 * given with dispatch_keep_end(); 0 when it will not be, and the worker
 * closes it right behind the answer, so that the web server sees both at
 * once and does not reuse it for a request (never an idle one: see
 * "Closing kept connections" above).
 */
int
dispatch_keep_begin(struct dispatch *d)
{
    int keep;

    pthread_mutex_lock(&d->lock);
    keep = d->stopping ? d->hand_over : d->nkept + d->reserved < d->keepalive_max;
    d->reserved += keep;
    pthread_mutex_unlock(&d->lock);
    return keep;
}

/* The answer ended: park FD in the place dispatch_keep_begin() held (or
 * pass it on, stopping), or give the place back (FD -1: it was closed). */
void
dispatch_keep_end(struct dispatch *d, int fd)
{
    int stopping, pass;

    pthread_mutex_lock(&d->lock);
    stopping = d->stopping;
    pass = d->hand_over;
    d->reserved--;
    if (fd >= 0 && !stopping) {
        dispatch_parked_add(d, fd, 1);
        dispatch_parked_tell(d);
    }
    pthread_mutex_unlock(&d->lock);
    if (fd >= 0 && stopping)
        dispatch_let_go(fd, pass);
}

/* Connections another serving process passed on as it left: parked as
 * they were, kept or new, idle since when they were; lock held (the
 * receive does not block). */
static void
dispatch_take_over(struct dispatch *d)
{
    struct handover_conn c[HANDOVER_BATCH];
    int i, n, rounds, taken = 0;

    for (rounds = 0; rounds < DISPATCH_TAKE_BURST && (n = handover_recv(c, HANDOVER_BATCH)) > 0; rounds++) {
        for (i = 0; i < n; i++)
            dispatch_parked_keep(d, c[i].fd, c[i].kept, c[i].since);
        taken += n;
    }
    if (taken > 0)
        log_info("hand-over: took %d connection%s passed on", taken, taken == 1 ? "" : "s");
}

/* Build the poll set: wake pipe, listening sockets, hand-over inbox,
 * requests not whole yet, parked connections (or their epoll set, unless
 * ALL). */
int
dispatch_poll_set(struct dispatch *d, long long now, int all)
{
    int i, k, at = DISPATCH_PARKED_AT(d), n;

    d->poll_watch = !all && d->park_ep >= 0;
    n = d->poll_watch ? at + 1 : d->nparked + at;

    if (n > d->pfds_cap) {
        struct pollfd *p = realloc(d->pfds, (size_t)n * sizeof(*p));
        if (p == NULL) {
            log_syserr("dispatcher: cannot watch %d connections", n);
            n = d->pfds_cap;    /* watch those we can */
        } else {
            d->pfds = p;
            d->pfds_cap = n;
        }
    }
    d->pfds[0].fd = d->wake[0];
    /* not while stopping, nor while backing off (poll skips fd -1) */
    d->listen_paused = dispatch_service_full(d);
    for (k = 0; k < d->listen.n; k++)
        d->pfds[1 + k].fd = d->stopping || now < d->accept_resume ||
                            d->listen_paused ? -1 : d->listen.fd[k];
    d->pfds[DISPATCH_INBOX_AT(d)].fd = d->stopping ? -1 : d->inbox;
    d->pfds[DISPATCH_WHOLE_AT(d)].fd = d->whole_fd;
    d->idle_oldest = -1;
    for (i = 0; i < d->nparked; i++)
        if (d->idle_oldest < 0 || d->parked[i].since < d->idle_oldest)
            d->idle_oldest = d->parked[i].since;
    if (d->poll_watch)
        d->pfds[at].fd = d->park_ep;
    else
        for (i = at; i < n; i++)
            d->pfds[i].fd = d->parked[i - at].fd;
    for (i = 0; i < n; i++) {
        d->pfds[i].events = POLLIN;
        d->pfds[i].revents = 0;
    }
    return n;
}

/* ms until the next thing to do without a wake-up: the oldest parked
 * connection of the poll set times out, or the oldest request not whole
 * yet, accepts resume, a report is due, a stop's drain ends; or -1. */
int
dispatch_poll_timeout(struct dispatch *d, long long now)
{
    long long at = -1, report = ratelog_due(&d->fd_failed, LF_FD_REPORT_MS);

    if (d->idle_oldest >= 0 && d->keepalive_timeout > 0)
        at = d->idle_oldest + (long long)d->keepalive_timeout * 1000;
    if (d->stopping && d->drain_until > now && (at < 0 || d->drain_until < at))
        at = d->drain_until;    /* later, the last request to end wakes the leader */
    if (d->accept_resume > now && (at < 0 || d->accept_resume < at))
        at = d->accept_resume;
    if (dispatch_whole_due(d) >= 0 && (at < 0 || dispatch_whole_due(d) < at))
        at = dispatch_whole_due(d);
    if (d->nlater > 0 && (at < 0 || dispatch_service_repeek_at(d) < at))
        at = dispatch_service_repeek_at(d);
    if (report >= 0 && (at < 0 || report < at))
        at = report;    /* failures counted since the last report */
    if (at < 0)
        return -1;
    at -= now;
    return at < 0 ? 0 : (int)(at > 60000 ? 60000 : at);
}

/* Was the J-th parked connection readable in the last poll? */
static int
dispatch_parked_readable(const struct dispatch *d, int j)
{
    if (d->poll_watch)
        return dispatch_watch_ready(d, d->parked[j].fd);
    return d->pfds[DISPATCH_PARKED_AT(d) + j].revents != 0;
}

/* After a poll: move what became readable to the ready queue, oldest
 * parked first (or, not whole yet, to dispatch_whole.c's watch), and
 * close what idled past keepalive_timeout; lock held.
 * Polled one by one, pfds[at..n) mirror parked[0..n-at) as they were when
 * the poll set was built; watched through the epoll set, every one parked
 * now is looked at. Only the leader removes parked entries, others append
 * (as does dispatch_arrived, below), so those looked at are compacted in
 * place and the ones appended since kept after them. */
void
dispatch_collect(struct dispatch *d, int n)
{
    long long now = monoclock_ms(), limit = (long long)d->keepalive_timeout * 1000;
    char drain[64];
    int j, k, at = DISPATCH_PARKED_AT(d), polled, kept = 0;

    d->nevfds = 0;
    if (d->poll_watch && at < n && d->pfds[at].revents && d->park_ep >= 0)
        dispatch_watch_collect(d);
    polled = d->poll_watch ? d->nparked : n - at;

    if (d->pfds[0].revents) {
        /* a byte a wake-up, and no more until this drain (woken): a read
         * that does not fill the buffer emptied the pipe */
        while (read(d->wake[0], drain, sizeof(drain)) == (ssize_t)sizeof(drain))
            ;
        d->woken = 0;
    }
    for (j = 0; j < polled; j++) {
        struct parked p = d->parked[j];
        if (dispatch_parked_readable(d, j)) {
            d->nkept -= p.kept;
            if (conf_readmit(p.fd))
                dispatch_arrived(d, p.fd, p.kept);
            else
                close(p.fd);    /* a reload took its client off allowed_clients */
        } else if (d->keepalive_timeout > 0 && now - p.since >= limit) {
            d->nkept -= p.kept;
            dispatch_watch_drop(d, p.fd);
            close(p.fd);
        } else
            d->parked[kept++] = p;
    }
    if (kept < polled) {
        memmove(&d->parked[kept], &d->parked[polled], (size_t)(d->nparked - polled) * sizeof(*d->parked));
        d->nparked -= polled - kept;
    }
    for (k = 0; k < d->listen.n && k + 1 < n; k++)
        if (d->pfds[1 + k].revents)
            dispatch_accept_from(d, k, DISPATCH_ACCEPT_BURST);
    if (DISPATCH_INBOX_AT(d) < n && d->pfds[DISPATCH_INBOX_AT(d)].revents)
        dispatch_take_over(d);
    dispatch_whole_collect(d, DISPATCH_WHOLE_AT(d) < n && d->pfds[DISPATCH_WHOLE_AT(d)].revents);
    dispatch_fd_report(d, ratelog_flush(&d->fd_failed, now, LF_FD_REPORT_MS));
}

/* Stopping, with no leader polling: parked connections whose next request
 * has arrived join the queue, the idle ones close; lock held. poll() with
 * no wait does not block. */
void
dispatch_drain(struct dispatch *d)
{
    int i, n, closed = 0, queued = 0, at = DISPATCH_PARKED_AT(d);

    d->drained = 1;
    n = dispatch_poll_set(d, monoclock_ms(), 1);
    if (poll(d->pfds, (nfds_t)n, 0) < 0) {
        log_syserr("dispatcher: poll while stopping");
        n = at;     /* then every parked connection counts as idle */
    }
    for (i = at; i < d->nparked + at; i++) {
        int fd = d->parked[i - at].fd;
        dispatch_watch_drop(d, fd);
        if (i < n && (d->pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (dispatch_ready_push(d, fd, d->parked[i - at].kept) == 0)
                queued++;
        } else {
            close(fd);
            closed++;
        }
    }
    d->nparked = d->nkept = 0;
    log_info("stopping: %d requests wait for a worker (%d on parked connections), %d idle connections closed",
             d->nready, queued, closed);
}
