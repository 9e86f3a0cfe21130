/*
 * dispatch.c: which worker serves which connection.
 *
 * Leader and followers. Of the idle workers, one (the leader) polls the
 * listening socket and every parked connection; the others (followers)
 * wait on a condition variable. When something is readable the leader
 * takes it, wakes a follower to lead in its place, and serves it itself,
 * so a new connection reaches a worker with no hand-off between threads.
 *
 * Kept connections (FCGI_KEEP_CONN, nginx `fastcgi_keep_conn on`): after
 * the response the worker parks the connection here instead of waiting
 * on it, so an idle kept connection never holds a worker; when its next
 * request arrives the leader sees it like a new connection. Parked
 * connections idle over keepalive_timeout are closed, and past
 * keepalive_max the oldest kept one goes. When its next request comes,
 * allowed_clients is checked again: a HUP may have removed its client.
 * Only the leader removes parked connections; others only append, so the
 * leader's poll set, taken before it polls without the lock, stays valid.
 *
 * A new connection that has not sent anything yet is parked too, so a
 * client that connects and stalls costs a descriptor, not a worker. It
 * does not count toward keepalive_max: closing it would lose a request
 * that may be on its way. Such connections are bounded by
 * keepalive_timeout and by the descriptors themselves (below).
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
 *
 * Stopping (dispatch_stop): the leader stops watching the listening socket
 * and what already waits in its backlog is accepted (those clients were
 * connected before the stop; closing the socket would reset them), so the
 * caller may close it when dispatch_stop() returns. Connections queued
 * are served; parked ones whose next request has already arrived join the
 * queue; idle ones are closed. Then the workers stop.
 *
 * The service thread: status and ping must answer when every worker is
 * busy (a script in an endless loop, say), and then no worker leads.
 * One more thread waits while a worker leads or idles, and leads in their
 * place when none does (dispatch_service_next). While it leads it looks
 * at each connection that became readable with MSG_PEEK (the peek
 * function given at start): a status or ping request it takes and serves
 * itself; any other stays in the ready queue, untouched and in order, for
 * the next free worker. One not all there yet (its params or body still
 * coming, as Apache writes them apart) is looked at again every
 * DISPATCH_REPEEK_MS for DISPATCH_REPEEK_FOR_MS, then goes to the
 * workers; so the service thread only ever reads a whole request. A worker that comes back idle wakes it, and it
 * hands the lead back. It leads only after no worker has led for
 * DISPATCH_SERVICE_GRACE_MS: under a plain full load a worker is back
 * sooner, so the lead never bounces between threads per request, and the
 * thread is woken at most once per grace period. It accepts new connections only while few
 * requests wait (DISPATCH_SERVICE_ACCEPT): past that they stay in the kernel's backlog
 * as before, so a stuck pool does not turn clients' retries into
 * descriptors; kept connections (nginx's keepalive) are watched always. With workers to spare it never runs, so the hot
 * path is as before but for one test when the last idle worker leaves.
 *
 * Workers read requests with FCGX_Accept_r() on the descriptor handed to
 * them (ipcFd); libfcgi never accepts by itself (see worker.c). A worker
 * that found nothing to do for a while is told so once, to give back the
 * memory its buffers grew for big answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "luafcgid.h"
#include "acl.h"
#include "counters.h"
#include "dispatch.h"
#include "listen.h"
#include "log.h"
#include "pool.h"

#define DISPATCH_ACCEPT_BURST 16    /* accepts per wake-up of the leader */
#define DISPATCH_STOP_BURST   65536 /* at most, from the backlog on a stop */
#define DISPATCH_SERVICE_QUEUE 16   /* status requests held for the service thread */
#define DISPATCH_REPEEK_MS      5   /* a request not all there yet is looked at again */
#define DISPATCH_REPEEK_FOR_MS 200  /* for so long, then a worker serves it */
#define DISPATCH_SERVICE_GRACE_MS 10 /* a busy pool's workers come back within this
                                       * before the service thread leads */
#define DISPATCH_SERVICE_ASLEEP 1   /* service_waiting: until signalled */
#define DISPATCH_SERVICE_GRACE  2   /* service_waiting: for the grace period */
#define DISPATCH_SERVICE_ACCEPT 16  /* new connections the service thread takes in
                                     * while no worker is free */

struct parked {
    int         fd;
    int         kept;           /* served a request before (else new) */
    long long   since;          /* ms, monotonic */
};

struct dispatch {
    /* lock guards everything below but listen, wake[] and
     * the leader's pfds (which only the leader touches). */
    pthread_mutex_t lock;
    pthread_cond_t  cond;       /* followers: work is ready, or no leader */
    struct listeners listen;    /* pfds[1 .. listen.n], parked ones after */
    int             wake[2];    /* to the leader: parked set changed, stop */
    int             leader;
    int             followers;
    int             stopping;
    int             listen_done;    /* stopping: the backlog was accepted */
    int             drained;    /* stopping: parked connections sorted out */
    int             polling;    /* the leader is in poll() without the lock */
    pthread_cond_t  polled;     /* dispatch_stop: the leader left poll() */
    int             woken;      /* a byte is in the wake pipe */
    int            *ready;      /* a FIFO of fds with a request waiting */
    int             nready, ready_head, ready_cap;
    struct parked  *parked;     /* oldest first */
    int             nparked, parked_cap;
    int             nkept;      /* parked ones that served a request */
    /* out of descriptors: accepts resume at accept_resume (ms); the next
     * pause lasts backoff_ms; failures since the last report */
    long long       accept_resume, fd_report_at;
    int             backoff_ms;
    int             fd_failed, fd_closed, fd_errno;
    int             keepalive_timeout;
    int             keepalive_max;
    /* the service thread: it leads when no worker does (service_leads),
     * else waits on service_cond (service_waiting); SERVICE holds the
     * connections it picked out for itself, with peek telling which */
    pthread_cond_t  service_cond;
    int             service_leads, service_waiting;
    int             service[DISPATCH_SERVICE_QUEUE];
    int             nservice;
    struct {                        /* requests not all there when peeked */
        int         fd;
        long long   since;
    }               later[DISPATCH_SERVICE_QUEUE];
    int             nlater;
    int             unpeeked;   /* the last ones of ready[] not peeked at */
    dispatch_peek_fn peek;
    /* the leader's poll set; only the current leader uses it */
    struct pollfd  *pfds;
    int             pfds_cap;
};

static int
dispatch_cloexec_nonblock(int fd, int nonblock)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static int
dispatch_listeners_nonblock(const struct listeners *ls)
{
    int k;

    for (k = 0; k < ls->n; k++)
        if (dispatch_cloexec_nonblock(ls->fd[k], 1) < 0)
            return -1;
    return 0;
}

/* Where the parked connections start in the poll set: after the wake
 * pipe and the listening sockets. */
#define DISPATCH_PARKED_AT(d) (1 + (d)->listen.n)

struct dispatch *
dispatch_new(const struct listeners *ls)
{
    struct dispatch *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        log_syserr("cannot allocate the dispatcher");
        return NULL;
    }
    d->listen = *ls;
    d->keepalive_timeout = LF_DEFAULT_KEEPALIVE_TIMEOUT;
    d->keepalive_max = LF_DEFAULT_KEEPALIVE_MAX;
    if (pipe(d->wake) < 0) {
        log_syserr("dispatcher: pipe");
        free(d);
        return NULL;
    }
    if (dispatch_cloexec_nonblock(d->wake[0], 1) < 0 || dispatch_cloexec_nonblock(d->wake[1], 1) < 0 ||
        dispatch_listeners_nonblock(ls) < 0) {
        log_syserr("dispatcher: cannot make its descriptors non-blocking");
        goto fail;
    }
    {
        pthread_condattr_t attr;
        if (pthread_mutex_init(&d->lock, NULL) != 0 || pthread_condattr_init(&attr) != 0 ||
            pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
            pthread_cond_init(&d->cond, &attr) != 0 || pthread_cond_init(&d->polled, NULL) != 0 ||
            pthread_cond_init(&d->service_cond, &attr) != 0) {
            log_err("dispatcher: cannot initialise its lock");
            goto fail;
        }
        pthread_condattr_destroy(&attr);
    }
    return d;
fail:
    close(d->wake[0]);
    close(d->wake[1]);
    free(d);
    return NULL;
}

/* Tell the polling leader to look again; lock held. */
static void
dispatch_wake_leader(struct dispatch *d)
{
    if (!d->leader || d->woken)
        return;
    if (write(d->wake[1], "w", 1) == 1 || errno == EAGAIN)
        d->woken = 1;
}

void
dispatch_configure(struct dispatch *d, int keepalive_timeout, int keepalive_max)
{
    pthread_mutex_lock(&d->lock);
    d->keepalive_timeout = keepalive_timeout;
    d->keepalive_max = keepalive_max;
    dispatch_wake_leader(d);    /* apply the new limits now */
    pthread_mutex_unlock(&d->lock);
}

static int
dispatch_ready_push(struct dispatch *d, int fd)
{
    if (d->nready == d->ready_cap) {
        int cap = d->ready_cap ? d->ready_cap * 2 : 64, i;
        int *q = malloc((size_t)cap * sizeof(*q));
        if (q == NULL) {
            log_syserr("dispatcher: cannot queue a connection");
            close(fd);
            return -1;
        }
        for (i = 0; i < d->nready; i++)
            q[i] = d->ready[(d->ready_head + i) % d->ready_cap];
        free(d->ready);
        d->ready = q;
        d->ready_cap = cap;
        d->ready_head = 0;
    }
    d->ready[(d->ready_head + d->nready) % d->ready_cap] = fd;
    d->nready++;
    if (d->service_leads)           /* no worker was free: it waits */
        counters_wait(d->nready);
    return 0;
}

static int
dispatch_ready_pop(struct dispatch *d)
{
    int fd;

    if (d->nready == 0)
        return -1;
    fd = d->ready[d->ready_head];
    d->ready_head = (d->ready_head + 1) % d->ready_cap;
    d->nready--;
    if (d->unpeeked > d->nready)
        d->unpeeked = d->nready;
    return fd;
}

/* The service thread leads: FD's request is taken for it when it is a
 * status or ping request all there, held to be looked at again when not
 * all there yet, closed when the client hung up with nothing sent; 0
 * when none of these (a worker's). Lock held. */
static int
dispatch_service_take(struct dispatch *d, int fd, long long now)
{
    int rc = d->peek(fd);

    if (rc == DISPATCH_PEEK_OURS && d->nservice < DISPATCH_SERVICE_QUEUE) {
        d->service[d->nservice++] = fd;
        return 1;
    }
    if (rc == DISPATCH_PEEK_GONE) {
        close(fd);          /* a probe: no request, nothing waited */
        return 1;
    }
    if (rc == DISPATCH_PEEK_LATER && d->nlater < DISPATCH_SERVICE_QUEUE) {
        d->later[d->nlater].fd = fd;
        d->later[d->nlater++].since = now;
        return 1;
    }
    return 0;
}

/* FD has a request: the service thread's when it leads and the request
 * is one of its own (status, ping), else the workers'; lock held. */
static void
dispatch_queue(struct dispatch *d, int fd)
{
    if (d->service_leads && d->peek && dispatch_service_take(d, fd, pool_now_ms()))
        return;
    if (dispatch_ready_push(d, fd) == 0 && !d->service_leads)
        d->unpeeked++;
}

/* The service thread leads: requests that were not all there, looked at
 * again; those still not whole after DISPATCH_REPEEK_FOR_MS, or not
 * status, go to the workers. Lock held. */
static void
dispatch_service_repeek(struct dispatch *d)
{
    long long now = pool_now_ms();
    int i, n = d->nlater;

    d->nlater = 0;
    for (i = 0; i < n; i++) {
        int fd = d->later[i].fd, rc = d->peek(fd);
        if (rc == DISPATCH_PEEK_OURS && d->nservice < DISPATCH_SERVICE_QUEUE)
            d->service[d->nservice++] = fd;
        else if (rc == DISPATCH_PEEK_LATER && now - d->later[i].since < DISPATCH_REPEEK_FOR_MS)
            d->later[d->nlater++] = d->later[i];
        else if (rc == DISPATCH_PEEK_GONE)
            close(fd);
        else
            dispatch_ready_push(d, fd);
    }
}

/* The service thread takes the lead: requests queued while a worker led
 * were not looked at; its own among them come out, the others keep their
 * order. Lock held. */
static void
dispatch_service_scan(struct dispatch *d)
{
    int i, kept = d->nready - d->unpeeked, n = d->nready;
    long long now = pool_now_ms();

    if (d->peek == NULL || d->unpeeked == 0)
        return;
    for (i = n - d->unpeeked; i < n; i++) {
        int fd = d->ready[(d->ready_head + i) % d->ready_cap];
        if (!dispatch_service_take(d, fd, now))
            d->ready[(d->ready_head + kept++) % d->ready_cap] = fd;
    }
    d->nready = kept;
    d->unpeeked = 0;
}

/* The service thread leads and enough requests wait for a worker: leave
 * the rest in the backlog. Connections that sent nothing do not count
 * (they are parked and time out as under a worker's lead), or a few
 * silent clients would shut status out. Lock held. */
static int
dispatch_service_full(const struct dispatch *d)
{
    return d->service_leads && d->nready >= DISPATCH_SERVICE_ACCEPT;
}

static void
dispatch_parked_remove(struct dispatch *d, int i)
{
    if (d->parked[i].kept)
        d->nkept--;
    memmove(&d->parked[i], &d->parked[i + 1], (size_t)(d->nparked - i - 1) * sizeof(*d->parked));
    d->nparked--;
}

/* Append FD to the parked set; lock held. Only appends happen outside the
 * leader, so the leader's poll set stays a prefix of the parked array. */
static void
dispatch_parked_add(struct dispatch *d, int fd, int kept)
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
    d->parked[d->nparked].since = pool_now_ms();
    d->nparked++;
    d->nkept += kept;
}

/* A worker is done with a kept connection: watch it for the next request. */
void
dispatch_park(struct dispatch *d, int fd)
{
    pthread_mutex_lock(&d->lock);
    if (d->stopping)
        close(fd);
    else {
        dispatch_parked_add(d, fd, 1);
        dispatch_wake_leader(d);
    }
    pthread_mutex_unlock(&d->lock);
}

static int
dispatch_has_data(int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };

    return poll(&p, 1, 0) > 0;
}

/* Log what accept() could not do since the last report, at most once per
 * LF_FD_REPORT_MS however often it fails; lock held. */
static void
dispatch_fd_report(struct dispatch *d, long long now)
{
    if (d->fd_failed == 0 || now < d->fd_report_at)
        return;
    log_warn("accept: %s: %d attempts failed, %d idle connections closed to make room; "
            "new connections wait in the backlog (next report in %d s at most)",
            strerror(d->fd_errno), d->fd_failed, d->fd_closed, LF_FD_REPORT_MS / 1000);
    d->fd_failed = d->fd_closed = 0;
    d->fd_report_at = now + LF_FD_REPORT_MS;
}

/* accept() failed with ERR (not EAGAIN): make room by closing the oldest
 * parked connection (1: try again), or stop accepting for a growing
 * interval (0); lock held, so only the leader's collect calls this. */
static int
dispatch_accept_failed(struct dispatch *d, int err)
{
    long long now = pool_now_ms();

    d->fd_failed++;
    d->fd_errno = err;
    if ((err == EMFILE || err == ENFILE) && d->nparked > 0) {
        close(d->parked[0].fd);
        dispatch_parked_remove(d, 0);
        d->fd_closed++;
        dispatch_fd_report(d, now);
        return 1;
    }
    d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : LF_ACCEPT_BACKOFF_MIN_MS;
    if (d->backoff_ms > LF_ACCEPT_BACKOFF_MAX_MS)
        d->backoff_ms = LF_ACCEPT_BACKOFF_MAX_MS;
    d->accept_resume = now + d->backoff_ms;
    dispatch_fd_report(d, now);
    return 0;
}

/* Accept what is waiting on listening socket K; lock held. Readable ones
 * queue, the rest park. Connections are non-blocking: the record layer
 * (wire.c) waits on them with poll(), against the request's
 * client_timeout. */
static void
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
        if (d->listen.tcp[k] && !acl_admit((struct sockaddr *)&peer)) {
            close(fd);      /* not in allowed_clients (logged) */
            continue;
        }
        if (d->listen.tcp[k])
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        if (dispatch_has_data(fd))
            dispatch_queue(d, fd);
        else
            dispatch_parked_add(d, fd, 0);
    }
}

/* Accept what is waiting on every listening socket; lock held. */
static void
dispatch_accept(struct dispatch *d, int burst)
{
    int k;

    for (k = 0; k < d->listen.n; k++)
        dispatch_accept_from(d, k, burst);
}

/* Build the poll set: wake pipe, listening sockets, parked connections. */
static int
dispatch_poll_set(struct dispatch *d, long long now)
{
    int i, k, at = DISPATCH_PARKED_AT(d), n = d->nparked + at;

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
    for (k = 0; k < d->listen.n; k++)
        d->pfds[1 + k].fd = d->stopping || now < d->accept_resume ||
                            dispatch_service_full(d) ? -1 : d->listen.fd[k];
    for (i = at; i < n; i++)
        d->pfds[i].fd = d->parked[i - at].fd;
    for (i = 0; i < n; i++) {
        d->pfds[i].events = POLLIN;
        d->pfds[i].revents = 0;
    }
    return n;
}

/* ms until the next thing to do without a wake-up: the oldest parked
 * connection times out, accepts resume, a report is due; or -1. */
static int
dispatch_poll_timeout(struct dispatch *d, long long now)
{
    long long at = -1;

    if (d->nparked > 0 && d->keepalive_timeout > 0)
        at = d->parked[0].since + (long long)d->keepalive_timeout * 1000;
    if (d->accept_resume > now && (at < 0 || d->accept_resume < at))
        at = d->accept_resume;
    if (d->nlater > 0 && (at < 0 || now + DISPATCH_REPEEK_MS < at))
        at = now + DISPATCH_REPEEK_MS;
    if (d->fd_failed > 0 && (at < 0 || d->fd_report_at < at))
        at = d->fd_report_at;
    if (at < 0)
        return -1;
    at -= now;
    return at < 0 ? 0 : (int)(at > 60000 ? 60000 : at);
}

/* After a poll: move what became readable to the ready queue; lock held. */
static void
dispatch_collect(struct dispatch *d, int n)
{
    long long now = pool_now_ms(), limit = (long long)d->keepalive_timeout * 1000;
    char drain[64];
    int i, j, k, at = DISPATCH_PARKED_AT(d);

    if (d->pfds[0].revents) {
        while (read(d->wake[0], drain, sizeof(drain)) > 0)
            ;
        d->woken = 0;
    }
    /* pfds[at..n) mirror parked[0..n-at) as they were; only the leader
     * removes parked entries, so walk both from the back */
    for (i = n - 1; i >= at; i--) {
        j = i - at;
        if (d->pfds[i].revents) {
            int fd = d->parked[j].fd;
            dispatch_parked_remove(d, j);
            if (acl_readmit(fd))
                dispatch_queue(d, fd);
            else
                close(fd);      /* a reload took its client off allowed_clients */
        } else if (d->keepalive_timeout > 0 && now - d->parked[j].since >= limit) {
            close(d->parked[j].fd);
            dispatch_parked_remove(d, j);
        }
    }
    for (k = 0; k < d->listen.n && k + 1 < n; k++)
        if (d->pfds[1 + k].revents)
            dispatch_accept_from(d, k, DISPATCH_ACCEPT_BURST);
    dispatch_fd_report(d, now);
    /* past keepalive_max the oldest kept connections go */
    for (j = 0; d->nkept > (d->keepalive_max > 0 ? d->keepalive_max : 0) && j < d->nparked; ) {
        if (d->parked[j].kept) {
            close(d->parked[j].fd);
            dispatch_parked_remove(d, j);
        } else
            j++;
    }
}

/* Is there a reason for the leader to stop polling? A worker leads until
 * a request is ready, the service thread until it has one of its own or a
 * worker is idle to lead in its place; lock held. */
static int
dispatch_lead_done(struct dispatch *d)
{
    if (d->stopping)
        return 1;
    if (d->service_leads)
        return d->nservice > 0 || d->followers > 0;
    return d->nready > 0;
}

/* Lead: poll until something is ready, we must stop, or IDLE_AT (ms,
 * 0 = never) passes with nothing to do; lock held. 1 when idle. */
static int
dispatch_lead(struct dispatch *d, long long idle_at)
{
    int n, rc, idle = 0;

    d->leader = 1;
    while (!dispatch_lead_done(d)) {
        long long now = pool_now_ms();
        int timeout = dispatch_poll_timeout(d, now);
        if (idle_at) {
            if (now >= idle_at) {
                idle = 1;
                break;
            }
            if (timeout < 0 || timeout > idle_at - now)
                timeout = (int)(idle_at - now);
        }
        n = dispatch_poll_set(d, now);
        d->polling = 1;
        pthread_mutex_unlock(&d->lock);
        rc = poll(d->pfds, (nfds_t)n, timeout);
        pthread_mutex_lock(&d->lock);
        d->polling = 0;
        pthread_cond_broadcast(&d->polled);
        if (rc < 0) {
            if (errno != EINTR)
                log_syserr("dispatcher: poll");
            continue;
        }
        dispatch_collect(d, n);
        if (d->nlater > 0)
            dispatch_service_repeek(d);
    }
    d->leader = 0;
    return idle;
}

/* Stopping, with no leader polling: parked connections whose next request
 * has arrived join the queue, the idle ones close; lock held. poll() with
 * no wait does not block. */
static void
dispatch_drain(struct dispatch *d)
{
    int i, n, closed = 0, queued = 0, at = DISPATCH_PARKED_AT(d);

    d->drained = 1;
    n = dispatch_poll_set(d, pool_now_ms());
    if (poll(d->pfds, (nfds_t)n, 0) < 0) {
        log_syserr("dispatcher: poll while stopping");
        n = at;     /* then every parked connection counts as idle */
    }
    for (i = at; i < d->nparked + at; i++) {
        int fd = d->parked[i - at].fd;
        if (i < n && (d->pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (dispatch_ready_push(d, fd) == 0)
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

/*
 * The next connection with a request waiting, for the calling worker;
 * DISPATCH_STOP when the daemon is stopping; DISPATCH_IDLE when IDLE_MS
 * (0 = no limit) passed with nothing to do, so the worker can tidy up.
 */
int
dispatch_next(struct dispatch *d, int idle_ms)
{
    long long idle_at = idle_ms > 0 ? pool_now_ms() + idle_ms : 0;
    struct timespec until;
    int fd = DISPATCH_STOP;

    if (idle_at) {
        until.tv_sec = (time_t)(idle_at / 1000);
        until.tv_nsec = (long)(idle_at % 1000) * 1000000;
    }
    pthread_mutex_lock(&d->lock);
    for (;;) {
        /* stopping, what was accepted is still served */
        if ((fd = dispatch_ready_pop(d)) >= 0)
            break;
        if (d->stopping) {
            if (d->leader || !d->listen_done) {     /* dispatch_stop() is not done */
                d->followers++;
                pthread_cond_wait(&d->cond, &d->lock);
                d->followers--;
                continue;
            }
            if (d->drained) {
                fd = DISPATCH_STOP;
                break;
            }
            dispatch_drain(d);
            continue;
        }
        if (!d->leader) {
            if (dispatch_lead(d, idle_at)) {
                fd = DISPATCH_IDLE;
                break;
            }
            continue;
        }
        d->followers++;
        if (d->service_leads)
            dispatch_wake_leader(d);    /* the service thread hands the lead back */
        if (idle_at && pthread_cond_timedwait(&d->cond, &d->lock, &until) == ETIMEDOUT &&
            d->nready == 0 && d->leader) {
            d->followers--;
            fd = DISPATCH_IDLE;
            break;
        }
        if (!idle_at)
            pthread_cond_wait(&d->cond, &d->lock);
        d->followers--;
    }
    /* someone must lead now, and take what else is ready */
    if (d->followers > 0 && (d->nready > 0 || !d->leader))
        pthread_cond_signal(&d->cond);   /* also when we leave idle: a new leader */
    if (d->followers > 1 && d->nready > 1)
        pthread_cond_broadcast(&d->cond);
    /* the last idle worker leaves: the service thread may have to lead */
    if (!d->leader && d->followers == 0 && d->service_waiting == DISPATCH_SERVICE_ASLEEP)
        pthread_cond_signal(&d->service_cond);
    pthread_mutex_unlock(&d->lock);
    return fd;
}

/*
 * The service thread's loop: the next connection whose request it picked
 * out (PEEK said it is one of its own), or DISPATCH_STOP. In between it
 * leads whenever no worker does.
 */
/* The service thread waits: until a signal (ASLEEP), or for the grace
 * period (GRACE), which needs no signal; lock held. */
static void
dispatch_service_wait(struct dispatch *d, int how)
{
    struct timespec until;

    d->service_waiting = how;
    if (how == DISPATCH_SERVICE_ASLEEP)
        pthread_cond_wait(&d->service_cond, &d->lock);
    else {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += DISPATCH_SERVICE_GRACE_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&d->service_cond, &d->lock, &until);
    }
    d->service_waiting = 0;
}

int
dispatch_service_next(struct dispatch *d, dispatch_peek_fn peek)
{
    int fd, i, graced = 0;

    pthread_mutex_lock(&d->lock);
    d->peek = peek;
    for (;;) {
        if (d->nservice > 0) {
            fd = d->service[0];     /* oldest first */
            memmove(d->service, d->service + 1, (size_t)--d->nservice * sizeof(*d->service));
            break;
        }
        if (d->stopping) {
            fd = DISPATCH_STOP;
            break;
        }
        if (d->leader || d->followers > 0) {
            dispatch_service_wait(d, DISPATCH_SERVICE_ASLEEP);
            graced = 0;
            continue;
        }
        if (!graced) {      /* a worker may be back in a moment */
            dispatch_service_wait(d, DISPATCH_SERVICE_GRACE);
            graced = 1;
            continue;
        }
        graced = 0;
        d->service_leads = 1;
        dispatch_service_scan(d);
        if (d->nservice == 0)
            dispatch_lead(d, 0);
        d->service_leads = 0;
        for (i = 0; i < d->nlater; i++)     /* a worker looks at them now */
            dispatch_queue(d, d->later[i].fd);
        d->nlater = 0;
        if (d->followers > 0)
            pthread_cond_signal(&d->cond);  /* an idle worker leads now */
    }
    pthread_mutex_unlock(&d->lock);
    return fd;
}

/* Stopping, after the last accept burst: a socket still readable holds
 * connections that accept() could not take (out of descriptors, with no
 * idle connection left to close). They are reset when the socket closes:
 * say so, once. Lock held. */
static void
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

/* Stop: on return the listening socket is no longer watched, and will not
 * be again, so the caller may close it. Workers finish what was accepted. */
void
dispatch_stop(struct dispatch *d)
{
    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    d->woken = 0;
    dispatch_wake_leader(d);
    pthread_cond_broadcast(&d->cond);
    pthread_cond_broadcast(&d->service_cond);
    while (d->polling)      /* the wake-up ends its poll() at once */
        pthread_cond_wait(&d->polled, &d->lock);
    /* no one watches the socket now; take what connected before the stop */
    d->accept_resume = 0;
    dispatch_accept(d, DISPATCH_STOP_BURST);
    dispatch_stop_leftover(d);
    d->listen_done = 1;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

void
dispatch_counts(struct dispatch *d, struct dispatch_counts *out)
{
    pthread_mutex_lock(&d->lock);
    out->parked = d->nparked;
    out->ready = d->nready;
    out->leader = d->leader;
    pthread_mutex_unlock(&d->lock);
}

/* Close every connection still held; only when no worker is left. */
void
dispatch_destroy(struct dispatch *d)
{
    int fd, i;

    if (d == NULL)
        return;
    while ((fd = dispatch_ready_pop(d)) >= 0)
        close(fd);
    while (d->nservice > 0)
        close(d->service[--d->nservice]);
    while (d->nlater > 0)
        close(d->later[--d->nlater].fd);
    for (i = 0; i < d->nparked; i++)
        close(d->parked[i].fd);
    close(d->wake[0]);
    close(d->wake[1]);
    pthread_cond_destroy(&d->cond);
    pthread_cond_destroy(&d->polled);
    pthread_cond_destroy(&d->service_cond);
    pthread_mutex_destroy(&d->lock);
    free(d->ready);
    free(d->parked);
    free(d->pfds);
    free(d);
}
