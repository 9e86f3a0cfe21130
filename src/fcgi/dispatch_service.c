/*
 * dispatch_service.c: the service thread's part of the dispatcher.
 *
 * Status and ping must answer when every worker is busy (a script in an
 * endless loop, say), and then no worker leads. One more thread waits
 * while a worker leads or idles, and leads in their place when none does
 * (dispatch_service_next). While it leads it looks at each connection
 * that became readable with MSG_PEEK (the peek function given at start):
 * a status or ping request it takes and serves itself; any other stays in
 * the ready queue, untouched and in order, for the next free worker. One
 * not all there yet (its params or body still coming, as Apache writes
 * them apart) is looked at again every DISPATCH_REPEEK_MS for
 * DISPATCH_REPEEK_FOR_MS, then every DISPATCH_REPEEK_SLOW_MS, until it is
 * whole or a worker is free: no time limit, which a loaded machine's
 * client would miss between its writes, while holding it costs no worker
 * (no worker could serve it sooner) and its order in the queue is counted
 * from when it is whole; more than DISPATCH_SERVICE_QUEUE go to the
 * workers at once. So the service thread only ever reads a whole request.
 * A worker that comes back idle wakes
 * it, and it hands the lead back. It leads only after no worker has led
 * for DISPATCH_SERVICE_GRACE_MS: under a plain full load a worker is back
 * sooner, so the lead never bounces between threads per request, and the
 * thread is woken at most once per grace period. It accepts new
 * connections only while fewer than new_max (`backlog`) new ones wait:
 * past that they stay in the kernel's backlog, so a stuck pool does not
 * turn clients' retries into descriptors; kept connections (nginx's
 * keepalive) are watched always, and what they send joins the one queue
 * in arrival order with the new ones (dispatch.c). With workers to spare it never
 * runs, so the hot path is as before but for one test when the last idle
 * worker leaves.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "dispatch_impl.h"
#include "monoclock.h"

/* The service thread leads: FD's request is taken for it when it is a
 * status or ping request all there, held to be looked at again when not
 * all there yet, closed when the client hung up with nothing sent; 0
 * when none of these (a worker's). Lock held. */
static int
dispatch_service_take(struct dispatch *d, int fd, int kept, long long now)
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
        d->later[d->nlater].w.fd = fd;
        d->later[d->nlater].w.kept = kept;
        d->later[d->nlater].since = now;
        d->later[d->nlater++].next = now + DISPATCH_REPEEK_MS;
        return 1;
    }
    return 0;
}

/* FD has a request and the service thread leads: 1 when it took FD (its
 * own, held to be looked at again, or closed), 0 when FD is a worker's.
 * Lock held. */
int
dispatch_service_claim(struct dispatch *d, int fd, int kept)
{
    return d->peek != NULL && dispatch_service_take(d, fd, kept, monoclock_ms());
}

/* The service thread leads: requests that were not all there, looked at
 * again when due; those whole and not status go to the workers. Lock
 * held. */
void
dispatch_service_repeek(struct dispatch *d)
{
    long long now = monoclock_ms();
    int i, rc, n = d->nlater;

    d->nlater = 0;
    for (i = 0; i < n; i++) {
        int fd = d->later[i].w.fd;
        rc = now >= d->later[i].next ? d->peek(fd) : DISPATCH_PEEK_LATER;
        if (rc == DISPATCH_PEEK_OURS && d->nservice < DISPATCH_SERVICE_QUEUE)
            d->service[d->nservice++] = fd;
        else if (rc == DISPATCH_PEEK_LATER) {
            if (now >= d->later[i].next)
                d->later[i].next = now + (now - d->later[i].since < DISPATCH_REPEEK_FOR_MS ?
                                          DISPATCH_REPEEK_MS : DISPATCH_REPEEK_SLOW_MS);
            d->later[d->nlater++] = d->later[i];
        } else if (rc == DISPATCH_PEEK_GONE)
            close(fd);
        else
            dispatch_ready_push(d, fd, d->later[i].w.kept);
    }
}

/* When the next of them is to be looked at again (ms); nlater > 0. Lock
 * held. */
long long
dispatch_service_repeek_at(const struct dispatch *d)
{
    long long at = d->later[0].next;
    int i;

    for (i = 1; i < d->nlater; i++)
        if (d->later[i].next < at)
            at = d->later[i].next;
    return at;
}

/* The service thread takes the lead: requests queued while a worker led
 * were not looked at; its own among them come out, the others keep their
 * order. Lock held. */
void
dispatch_service_scan(struct dispatch *d)
{
    int i, left = d->nready - d->unpeeked, n = d->nready;
    long long now = monoclock_ms();

    if (d->peek == NULL || d->unpeeked == 0)
        return;
    for (i = n - d->unpeeked; i < n; i++) {
        struct waiting w = d->ready[(d->ready_head + i) % d->ready_cap];
        if (dispatch_service_take(d, w.fd, w.kept, now))
            d->nready_new -= !w.kept;
        else
            d->ready[(d->ready_head + left++) % d->ready_cap] = w;
    }
    d->nready = left;
    d->unpeeked = 0;
}

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
        monoclock_deadline(&until, DISPATCH_SERVICE_GRACE_MS);
        pthread_cond_timedwait(&d->service_cond, &d->lock, &until);
    }
    d->service_waiting = 0;
}

/*
 * The service thread's loop: the next connection whose request it picked
 * out (PEEK said it is one of its own), or DISPATCH_STOP. In between it
 * leads whenever no worker does.
 */
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
            dispatch_queue(d, d->later[i].w.fd, d->later[i].w.kept);
        d->nlater = 0;
        if (d->followers > 0)
            pthread_cond_signal(&d->cond);  /* an idle worker leads now */
    }
    pthread_mutex_unlock(&d->lock);
    return fd;
}
