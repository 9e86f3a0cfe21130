/*
 * dispatch_stop.c: the dispatcher's stop, and on a hand-over stop (USR2)
 * what it passes on to the serving process that takes over.
 *
 * A file of its own because the stop is a concern apart from choosing who
 * serves what: it runs once, from the thread that stops the daemon, and
 * sorts out the queue, the backlog and the parked set for the workers'
 * last rounds (see "Stopping" in dispatch.c).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luafcgid.h"
#include "dispatch.h"
#include "dispatch_impl.h"
#include "handover.h"
#include "log.h"
#include "monoclock.h"

/* Pass the N connections P on to the serving process that takes over,
 * in messages of HANDOVER_BATCH; after a failure (logged) the rest are
 * closed. The first QUEUED of them have a request waiting, the others are
 * idle. No lock: they are no longer in the queue or the parked set. */
static void
dispatch_pass_on(const struct parked *p, int n, int queued)
{
    struct handover_conn c[HANDOVER_BATCH];
    int i, j, k, got, sent = 0, closed = 0;

    for (i = 0; i < n; i += k) {
        k = n - i < HANDOVER_BATCH ? n - i : HANDOVER_BATCH;
        for (j = 0; j < k; j++) {
            c[j].fd = p[i + j].fd;
            c[j].kept = p[i + j].kept;
            c[j].since = p[i + j].since;
        }
        got = closed == 0 ? handover_send(c, k) : 0;
        for (j = got; j < k; j++)
            close(c[j].fd);
        sent += got;
        closed += k - got;
    }
    queued = sent < queued ? sent : queued;     /* the queue went first */
    log_info("stopping: %d idle connections passed on to the serving process that takes over, "
             "and %d with a request not begun%s", sent - queued, queued, closed ? "; the others closed" : "");
}

/*
 * A hand-over stop: what it passes on, in order (lock held): the queued
 * connections, whose request waits for a worker, then the parked ones.
 * The queue goes too: here it would wait behind requests that may be
 * stuck for terminate_timeout each, or be cut at the stop's bound, while
 * the process taking over has its workers free. Its count in *N; NULL
 * when there is none, or no memory (logged: the queue is served here).
 */
static struct parked *
dispatch_stop_queue(struct dispatch *d, int *n, int *queued)
{
    struct parked *all;
    long long now = monoclock_ms();
    int i, total = d->nready + d->nparked;

    for (i = 0; i < d->nparked; i++)
        dispatch_watch_drop(d, d->parked[i].fd);    /* passed on, still watched here */
    *n = *queued = 0;
    if (d->nready == 0 || (all = calloc((size_t)total, sizeof(*all))) == NULL) {
        if (d->nready > 0)
            log_syserr("stopping: cannot pass on %d queued connections; they are served here",
                       d->nready);
        all = d->parked;
        *n = d->nparked;
        d->parked = NULL;
        d->nparked = d->parked_cap = d->nkept = 0;
        return all;
    }
    for (i = 0; i < d->nready; i++) {
        all[i].fd = d->ready[(d->ready_head + i) % d->ready_cap].fd;
        all[i].kept = d->ready[(d->ready_head + i) % d->ready_cap].kept;
        all[i].since = now;
    }
    if (d->nparked > 0)
        memcpy(all + d->nready, d->parked, (size_t)d->nparked * sizeof(*all));
    free(d->parked);
    d->parked = NULL;
    d->nparked = d->parked_cap = d->nkept = 0;
    *queued = d->nready;
    d->nready = d->nready_new = d->ready_head = d->unpeeked = 0;
    *n = total;
    return all;
}

/*
 * Stop: on return the listening socket is no longer watched, and will not
 * be again, so the caller may close it. Workers finish what was accepted.
 * HAND_OVER (USR2: another serving process takes over the listening
 * sockets): the backlog is left to it, and the queued and parked
 * connections are passed on to it, as are kept ones once their answer
 * ends (dispatch_park);
 * otherwise what waits in the backlog is accepted and served here.
 */
void
dispatch_stop(struct dispatch *d, int hand_over)
{
    struct parked *passing = NULL;
    int npassing = 0, nqueued = 0;

    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    d->hand_over = hand_over && d->inbox >= 0;
    d->woken = 0;
    dispatch_wake_leader(d);
    pthread_cond_broadcast(&d->cond);
    pthread_cond_broadcast(&d->service_cond);
    while (d->polling)      /* the wake-up ends its poll() at once */
        pthread_cond_wait(&d->polled, &d->lock);
    dispatch_whole_unwatch(d);
    if (d->hand_over) {
        /* nobody adds to the queue or the parked set now (dispatch_park
         * passes them on) */
        passing = dispatch_stop_queue(d, &npassing, &nqueued);
    } else {
        /* no one watches the socket now; take what connected before the stop */
        d->accept_resume = 0;
        dispatch_accept(d, DISPATCH_STOP_BURST);
        dispatch_stop_leftover(d);
        d->drain_until = monoclock_ms() + LF_STOP_DRAIN_MS;
    }
    pthread_mutex_unlock(&d->lock);
    if (passing != NULL) {
        dispatch_pass_on(passing, npassing, nqueued);
        free(passing);
    }
    pthread_mutex_lock(&d->lock);
    d->listen_done = 1;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}
