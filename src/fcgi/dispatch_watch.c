/*
 * dispatch_watch.c: the parked connections' epoll set (Linux).
 *
 * A worker that parks a kept connection while another thread leads had to
 * wake the leader (a byte down the wake pipe), so that its next poll()
 * would watch that connection too: a write, a read, a thread switch and a
 * poll more a request whenever a worker's request waited (on a socket,
 * the client, a name) and a follower led meanwhile. An epoll set changes
 * under a leader that waits on it, so the worker adds its connection here
 * and the leader sleeps on. The leader's poll set watches this set's
 * descriptor in place of every parked connection; it wakes up for a
 * parked connection only once one is readable, or its idle time ends
 * before the leader's own wait does (dispatch_park.c).
 *
 * A connection is watched one-shot: once it was readable it is not again
 * until it is parked again (re-armed, not added: a connection kept for a
 * thousand requests is added once). A worker closes its connection
 * without telling the set: the kernel forgets a descriptor once its last
 * copy is closed, and it was not armed. The dispatcher takes a connection
 * still armed out of the set before it closes it or passes it on (a copy
 * passed on, or held by a child for a moment, would keep it watched), and
 * an event for a descriptor no longer parked is ignored: at worst a
 * parked one is peeked at once too often.
 *
 * Elsewhere, or when the set cannot be made or grown, the leader polls
 * every parked connection and is woken for each parked, as before.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "luafcgid.h"
#include "dispatch_impl.h"
#include "log.h"

#define DISPATCH_WATCH_BATCH 64     /* events taken per epoll_wait */

/* Make the set; without one (elsewhere, or logged) every parked connection
 * is polled. */
void
dispatch_watch_init(struct dispatch *d)
{
    d->park_ep = -1;
#ifdef __linux__
    if ((d->park_ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        log_syserr("dispatcher: epoll_create1: parked connections are polled one by one");
#endif
}

void
dispatch_watch_free(struct dispatch *d)
{
    if (d->park_ep >= 0)
        close(d->park_ep);
    d->park_ep = -1;
    free(d->evfds);
    d->evfds = NULL;
    d->nevfds = d->evfds_cap = 0;
}

#ifdef __linux__
/* No set from now on: the leader polls every parked connection again
 * (its next poll set takes them all in); lock held. */
static void
dispatch_watch_give_up(struct dispatch *d, int fd)
{
    log_syserr("dispatcher: cannot watch connection %d in its epoll set; parked connections are polled one by one",
               fd);
    close(d->park_ep);
    d->park_ep = -1;
    dispatch_wake_leader(d);
}

#endif

/* Watch FD, parked now, until it is readable; lock held. */
void
dispatch_watch_arm(struct dispatch *d, int fd)
{
#ifdef __linux__
    struct epoll_event ev;

    if (d->park_ep < 0)
        return;
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = fd;
    if (epoll_ctl(d->park_ep, EPOLL_CTL_MOD, fd, &ev) == 0)
        return;
    if (errno == ENOENT && epoll_ctl(d->park_ep, EPOLL_CTL_ADD, fd, &ev) == 0)
        return;
    dispatch_watch_give_up(d, fd);
#else
    (void)d;
    (void)fd;
#endif
}

/* FD leaves the parked set, to be closed or passed on while it may still
 * be armed; lock held. */
void
dispatch_watch_drop(struct dispatch *d, int fd)
{
#ifdef __linux__
    if (d->park_ep >= 0)
        epoll_ctl(d->park_ep, EPOLL_CTL_DEL, fd, NULL);     /* ENOENT: never armed */
#else
    (void)d;
    (void)fd;
#endif
}

static int
dispatch_watch_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

#ifdef __linux__
/* Room for N more ready descriptors; lock held. */
static int
dispatch_watch_room(struct dispatch *d, int n)
{
    int cap;
    int *p;

    if (d->nevfds + n <= d->evfds_cap)
        return 0;
    cap = d->evfds_cap ? d->evfds_cap * 2 : DISPATCH_WATCH_BATCH;
    while (cap < d->nevfds + n)
        cap *= 2;
    if ((p = realloc(d->evfds, (size_t)cap * sizeof(*p))) == NULL) {
        log_syserr("dispatcher: cannot note %d readable connections", d->nevfds + n);
        return -1;
    }
    d->evfds = p;
    d->evfds_cap = cap;
    return 0;
}

#endif

/* The set said it has something: note which parked descriptors are
 * readable now (sorted, for dispatch_watch_ready); lock held. What is
 * not noted for want of memory stays readable, but no longer armed: it
 * is polled from now on with every parked one. */
void
dispatch_watch_collect(struct dispatch *d)
{
#ifdef __linux__
    struct epoll_event ev[DISPATCH_WATCH_BATCH];
    int i, n;

    d->nevfds = 0;
    while ((n = epoll_wait(d->park_ep, ev, DISPATCH_WATCH_BATCH, 0)) > 0) {
        if (dispatch_watch_room(d, n) < 0) {
            dispatch_watch_give_up(d, ev[0].data.fd);
            break;
        }
        for (i = 0; i < n; i++)
            d->evfds[d->nevfds++] = ev[i].data.fd;
        if (n < DISPATCH_WATCH_BATCH)
            break;
    }
    if (d->nevfds > 1)
        qsort(d->evfds, (size_t)d->nevfds, sizeof(*d->evfds), dispatch_watch_cmp);
#else
    (void)d;
#endif
}

/* Was FD noted readable by the last dispatch_watch_collect? */
int
dispatch_watch_ready(const struct dispatch *d, int fd)
{
    return d->nevfds > 0 && bsearch(&fd, d->evfds, (size_t)d->nevfds, sizeof(fd), dispatch_watch_cmp) != NULL;
}
