/*
 * dispatch_whole.c: requests that are not all there yet wait here, not on
 * a worker.
 *
 * A worker that took up a request whose params or body were still coming
 * waited for them, up to client_timeout. A few clients sending a byte now
 * and then so held every worker, and Apache, Caddy and HAProxy pass a
 * client's body on as it comes, so a slow upload through them did the
 * same. So when something arrives on a connection, the dispatcher looks at
 * it with MSG_PEEK (the bytes stay for the worker, and for a process that
 * takes over on USR2): a request is given to a worker once it is whole,
 * through its empty STDIN record, or once DISPATCH_WHOLE_MAX (8 kB) or
 * DISPATCH_WHOLE_RECORDS (32 records) of it are in (a bigger request
 * streams as before: a writer can be counted on to queue that much
 * unread, and no more). Until then its connection is
 * watched here, edge-triggered, so that it is looked at again only when
 * more came; past client_timeout from its first byte (keepalive_timeout
 * when that is 0) it is closed, logged as a worker logs a slow client.
 * What is not a request's start (management records, garbage) goes to a
 * worker at once, to be answered or refused there.
 *
 * Edge-triggered watching is epoll's (Linux); elsewhere a request goes to
 * a worker as soon as anything of it is in, as before. A stop gives the
 * connections back to the parked set, bytes unread: a TERM's drain queues
 * them for the workers, a hand-over passes them on.
 *
 * The connections are kept in a list oldest first (a request is added
 * when first seen, so the list is in deadline order); the leader's poll
 * set watches the epoll descriptor, and everything here runs with the
 * lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "luafcgid.h"
#include "dispatch_impl.h"
#include "fcgi_peek.h"
#include "log.h"
#include "monoclock.h"
#include "ratelog.h"
#include "reqid.h"

#define DISPATCH_WHOLE_BATCH 64     /* events taken per look */

struct partial {
    struct partial *prev, *next;
    int             fd;
    int             kept;
    long long       since;          /* ms: its first bytes were seen */
};

/* Set up what this needs: the peek buffer and, on Linux, the epoll set.
 * 0, or -1 (logged) when the memory is not there. */
int
dispatch_whole_init(struct dispatch *d)
{
    d->whole_fd = -1;
    if ((d->peekbuf = malloc(DISPATCH_WHOLE_MAX)) == NULL) {
        log_syserr("dispatcher: cannot allocate its peek buffer");
        return -1;
    }
#ifdef __linux__
    if ((d->whole_fd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        log_syserr("dispatcher: epoll_create1: requests go to a worker before they are whole");
#endif
    return 0;
}

#ifdef __linux__
/* Take P out of the list and the epoll set (not closed). */
static void
dispatch_whole_unlink(struct dispatch *d, struct partial *p)
{
    epoll_ctl(d->whole_fd, EPOLL_CTL_DEL, p->fd, NULL);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        d->partial_head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    else
        d->partial_tail = p->prev;
    d->npartial--;
}
#endif

/* Take the oldest out of the list and the epoll set (not closed), or NULL. */
static struct partial *
dispatch_whole_pop(struct dispatch *d)
{
    struct partial *p = d->partial_head;

    if (p == NULL)
        return NULL;
#ifdef __linux__
    epoll_ctl(d->whole_fd, EPOLL_CTL_DEL, p->fd, NULL);
#endif
    d->partial_head = p->next;
    if (p->next != NULL)
        p->next->prev = NULL;
    else
        d->partial_tail = NULL;
    d->npartial--;
    return p;
}

/* Watch FD's request for the rest of it. 0, or -1 when it cannot be
 * watched (then it goes to a worker). */
static int
dispatch_whole_watch(struct dispatch *d, int fd, int kept)
{
#ifdef __linux__
    struct epoll_event ev;
    struct partial *p;

    if (d->whole_fd < 0 || (p = calloc(1, sizeof(*p))) == NULL)
        return -1;
    p->fd = fd;
    p->kept = kept;
    p->since = monoclock_ms();
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = p;
    if (epoll_ctl(d->whole_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(p);
        return -1;
    }
    p->prev = d->partial_tail;
    if (d->partial_tail != NULL)
        d->partial_tail->next = p;
    else
        d->partial_head = p;
    d->partial_tail = p;
    d->npartial++;
    return 0;
#else
    (void)d;
    (void)fd;
    (void)kept;
    return -1;
#endif
}

/* What dispatch_whole_peek() says besides FCGI_WHOLE_* */
#define DISPATCH_WHOLE_ANSWERED 100 /* management records only came: answered, the connection idle */
#define DISPATCH_WHOLE_FAILED   101 /* their answer failed: the connection is to close */

/*
 * What has come on FD so far: FCGI_WHOLE_*. Whole management records
 * before a request are answered first, and taken off the socket
 * (dispatch_mgmt.c): DISPATCH_WHOLE_ANSWERED when they were all that came
 * (or more came than a turn answers: the rest at the connection's next
 * turn), DISPATCH_WHOLE_FAILED when that failed. Stopping, they are left
 * to the worker or the process that takes over.
 */
static int
dispatch_whole_peek(struct dispatch *d, int fd)
{
    size_t n, lead = 0;
    int rc, round, mgmt = DISPATCH_MGMT_NOT_OURS;

    for (round = 0;; round++) {
        rc = fcgi_peek_whole(fd, d->peekbuf, DISPATCH_WHOLE_MAX, DISPATCH_WHOLE_RECORDS, &n);
        if (round > 0 && (rc == FCGI_WHOLE_EMPTY || (rc == FCGI_WHOLE_MGMT && round == DISPATCH_MGMT_ROUNDS)))
            return DISPATCH_WHOLE_ANSWERED;
        if (!d->stopping && round < DISPATCH_MGMT_ROUNDS &&
            (rc == FCGI_WHOLE_MGMT || rc == FCGI_WHOLE_NOT_YET || rc == FCGI_WHOLE_YES))
            lead = fcgi_mgmt_lead(d->peekbuf, n);
        if (lead > 0)
            mgmt = dispatch_mgmt(d, fd, lead);
        if (mgmt == DISPATCH_MGMT_FAILED)
            return DISPATCH_WHOLE_FAILED;
        if (lead == 0 || mgmt == DISPATCH_MGMT_NOT_OURS)
            return rc == FCGI_WHOLE_MGMT ? FCGI_WHOLE_YES : rc;    /* a worker's */
        lead = 0;
    }
}

/* Something came on FD, a new connection or a parked one: queue its
 * request when it is whole (or cannot wait), watch it when not; park a
 * new connection that sent nothing after all, or only management records
 * (answered), not counted among the kept ones. */
void
dispatch_arrived(struct dispatch *d, int fd, int kept)
{
    int rc = dispatch_whole_peek(d, fd);

    if (rc == DISPATCH_WHOLE_FAILED)
        close(fd);
    else if (rc == DISPATCH_WHOLE_ANSWERED || (rc == FCGI_WHOLE_EMPTY && !kept))
        dispatch_parked_add(d, fd, 0);
    else if (rc != FCGI_WHOLE_NOT_YET || d->stopping || dispatch_whole_watch(d, fd, kept) < 0)
        dispatch_queue(d, fd, kept);
}

/* ms a request may take to be whole; 0: no bound. */
static long long
dispatch_whole_limit(const struct dispatch *d)
{
    int s = d->client_timeout > 0 ? d->client_timeout : d->keepalive_timeout;

    return (long long)s * 1000;
}

/* When the oldest watched request runs out of time, or the count of
 * slow clients not logged is due (ms); or -1. */
long long
dispatch_whole_due(const struct dispatch *d)
{
    long long limit = dispatch_whole_limit(d), at = ratelog_due(&d->slow_log, LF_WIRE_LOG_INTERVAL * 1000LL);

    if (d->partial_head != NULL && limit > 0 && (at < 0 || d->partial_head->since + limit < at))
        at = d->partial_head->since + limit;
    return at;
}

/* NAME's value in the N bytes peeked, or NULL. */
static const char *
dispatch_whole_param(const struct dispatch *d, ssize_t n, const char *name, char *out, size_t size)
{
    int rc = n > 0 ? fcgi_find_param(d->peekbuf, (size_t)n, name, out, size) : FCGI_PEEK_NONE;

    return rc == FCGI_PEEK_FOUND || rc == FCGI_PEEK_FOUND_LATER ? out : NULL;
}

/* Who FD's request is for the log, as a worker names it: "dispatcher
 * request ID" when the web server gave an id, and its script ("-" when
 * its params have not all come). */
static void
dispatch_whole_who(struct dispatch *d, int fd, char *who, size_t wsize, char *script, size_t ssize)
{
    ssize_t n = recv(fd, d->peekbuf, DISPATCH_WHOLE_MAX, MSG_PEEK | MSG_DONTWAIT);
    char id[REQID_SIZE];
    const char *rid = dispatch_whole_param(d, n, "REQUEST_ID", id, sizeof(id));

    if (rid == NULL || !reqid_acceptable(rid))
        rid = dispatch_whole_param(d, n, "HTTP_X_REQUEST_ID", id, sizeof(id));
    if (rid != NULL && reqid_acceptable(rid))
        snprintf(who, wsize, "dispatcher request %s", rid);
    else
        snprintf(who, wsize, "dispatcher");
    if (dispatch_whole_param(d, n, "SCRIPT_FILENAME", script, ssize) == NULL)
        snprintf(script, ssize, "-");
}

/* Close the connections whose request was not whole in time. */
static void
dispatch_whole_expire(struct dispatch *d, long long now)
{
    long long limit = dispatch_whole_limit(d);
    unsigned long n;
    struct partial *p;
    char who[32 + REQID_SIZE], script[LF_SCOREBOARD_PATH], more[64];

    while (limit > 0 && d->partial_head != NULL && now - d->partial_head->since >= limit) {
        p = dispatch_whole_pop(d);
        n = ratelog_burst(&d->slow_log, now, LF_WIRE_LOG_INTERVAL * 1000LL, LF_WIRE_LOG_BURST);
        if (n > 0)
            dispatch_whole_who(d, p->fd, who, sizeof(who), script, sizeof(script));
        if (n > 1)
            snprintf(more, sizeof(more), " (and %lu more such since, not logged)", n - 1);
        if (n > 0)
            log_warn("%s: fd %d: %s: the client was too slow (%s %lld); the connection is closed, "
                     "its request never whole%s", who, p->fd, script,
                     d->client_timeout > 0 ? "client_timeout" : "keepalive_timeout", limit / 1000,
                     n > 1 ? more : "");
        close(p->fd);
        free(p);
    }
}

/* The slow clients closed and not logged in a flood that is over (ALL:
 * any), told, so that none goes unsaid. */
static void
dispatch_whole_log_flush(struct dispatch *d, int all)
{
    unsigned long n = ratelog_burst_flush(&d->slow_log, monoclock_ms(), LF_WIRE_LOG_INTERVAL * 1000LL, all);

    if (n > 0)
        log_warn("dispatcher: %lu more connections were closed for requests never whole, not logged one by one",
                 n);
}

/* After a poll: look again at what more came on, queue what is whole now,
 * close what ran out of time. READABLE: the epoll set said so. */
void
dispatch_whole_collect(struct dispatch *d, int readable)
{
#ifdef __linux__
    struct epoll_event ev[DISPATCH_WHOLE_BATCH];
    int i, n;

    while (readable && (n = epoll_wait(d->whole_fd, ev, DISPATCH_WHOLE_BATCH, 0)) > 0) {
        for (i = 0; i < n; i++) {
            struct partial *p = ev[i].data.ptr;
            /* a client gone (or half gone) sends no more: a worker ends it
             * as it ends any request cut short, logged and counted */
            int rc = ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR) ? FCGI_WHOLE_GONE :
                     dispatch_whole_peek(d, p->fd);
            if (rc == FCGI_WHOLE_NOT_YET)
                continue;
            dispatch_whole_unlink(d, p);
            if (rc == DISPATCH_WHOLE_FAILED)
                close(p->fd);
            else if (rc == DISPATCH_WHOLE_ANSWERED)
                dispatch_parked_add(d, p->fd, 0);
            else
                dispatch_queue(d, p->fd, p->kept);
            free(p);
        }
        if (n < DISPATCH_WHOLE_BATCH)
            break;
    }
#else
    (void)readable;
#endif
    if (d->partial_head != NULL)
        dispatch_whole_expire(d, monoclock_ms());
    dispatch_whole_log_flush(d, 0);
}

/* Stopping: every watched connection goes back to the parked set, its
 * bytes unread, to be queued by the drain or passed on. */
void
dispatch_whole_unwatch(struct dispatch *d)
{
    struct partial *p;

    while ((p = dispatch_whole_pop(d)) != NULL) {
        dispatch_parked_add(d, p->fd, p->kept);
        free(p);
    }
}

/* Close what is watched, and the rest; only when no worker is left. */
void
dispatch_whole_free(struct dispatch *d)
{
    struct partial *p;

    while ((p = dispatch_whole_pop(d)) != NULL) {
        close(p->fd);
        free(p);
    }
    if (d->whole_fd >= 0)
        close(d->whole_fd);
    free(d->peekbuf);
    dispatch_whole_log_flush(d, 1);
}
