/*
 * dispatch.c: which worker serves which connection.
 *
 * Leader and followers. Of the idle workers, one (the leader) polls the
 * listening socket and every parked connection; the others (followers)
 * wait on a condition variable. When something is readable the leader
 * takes it, wakes a follower to lead in its place, and serves it itself,
 * so a new connection reaches a worker with no hand-off between threads.
 *
 * Hand-offs. Waking a follower to lead costs a thread switch, and under
 * load it cost more than the request: with kept connections the followers
 * woke one another several times a request, and on a machine whose cores
 * the web server also needs, requests that only compute are served
 * fastest one after the other by one thread, as a one-thread event loop
 * serves them. So while requests come thick (two taken within
 * DISPATCH_DENSE_US, and for DISPATCH_BUSY_MS after), one follower is the
 * standby: it waits DISPATCH_STANDBY_MS at a time, and steps in only when
 * the lead stayed vacant through a whole wait or a request has waited
 * DISPATCH_AGED_US; it wakes no more often than that, and a trickle of
 * requests never has one. A worker that takes a request then wakes no one
 * for the others ready, and leaves the lead vacant while it serves: most
 * requests end soon, and it takes the next ready one, or leads again,
 * itself. Should its request wait (the client, a socket, a name lookup),
 * the code below calls blockhint() first and a follower is woken then; a
 * request that only computes holds the others back 2 DISPATCH_STANDBY_MS
 * at most. Without a standby a lead left vacant is filled at once, and
 * every request ready has a worker woken for it, as before, so an idle
 * daemon sleeps.
 *
 * Arrival order. While every worker is busy, requests wait in one FIFO
 * (ready[]): whenever the leader looks, what arrived on parked connections
 * (oldest parked first) and on the listening sockets joins it, kept and
 * new alike, so a request waits for those that came before it however
 * many kept connections keep the workers busy. Only new connections have
 * a bound (new_max, the `backlog`): past it they wait in the kernel's
 * backlog, so a stuck pool does not turn clients' retries into
 * descriptors; once half of those queued are served, the leader is woken
 * to look at the backlog again.
 *
 * Parked connections (kept between requests, or new and silent so far),
 * the leader's poll set that watches them and when a kept connection is
 * closed: dispatch_park.c; the epoll set a worker parks one in without
 * waking the leader: dispatch_watch.c. A request joins the queue only once it is
 * whole (or big): dispatch_whole.c. Accepting, and what to do out of descriptors:
 * dispatch_accept.c. The service thread that answers status and ping
 * when every worker is busy: dispatch_service.c.
 *
 * Stopping (dispatch_stop.c): the leader stops watching the listening socket
 * and what already waits in its backlog is accepted (those clients were
 * connected before the stop; closing the socket would reset them), so the
 * caller may close it when dispatch_stop() returns. Connections queued
 * are served. Parked ones stay watched while a request is in flight and
 * for LF_STOP_DRAIN_MS at least (a request already on its way in one is
 * served, not lost with a close); then those whose next request has
 * arrived join the queue and the idle ones are closed, and the workers
 * stop. A hand-over stop (USR2) leaves the backlog to the process that
 * takes over and passes the queued and parked connections on to it at
 * once: a request accepted here but not begun is served there.
 *
 * Workers read requests with FCGX_Accept_r() on the descriptor handed to
 * them (ipcFd); libfcgi never accepts by itself (see worker.c). A worker
 * that found nothing to do for a while is told so once, to give back the
 * memory its buffers grew for big answers.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "luafcgid.h"
#include "blockhint.h"
#include "counters.h"
#include "dispatch.h"
#include "dispatch_impl.h"
#include "forkguard.h"
#include "handover.h"
#include "log.h"
#include "monoclock.h"

/* The dispatcher of LS, for WORKERS worker threads (and the service
 * thread). */
struct dispatch *
dispatch_new(const struct listeners *ls, int workers)
{
    struct dispatch *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        log_syserr("cannot allocate the dispatcher");
        return NULL;
    }
    d->listen = *ls;
    d->workers = workers;
    d->keepalive_timeout = LF_DEFAULT_KEEPALIVE_TIMEOUT;
    d->keepalive_max = LF_DEFAULT_KEEPALIVE_MAX;
    d->new_max = LF_DEFAULT_BACKLOG;
    d->standby_ms = DISPATCH_STANDBY_MS;
    d->aged_us = DISPATCH_AGED_US;
    d->inbox = handover_inbox();
    if (dispatch_whole_init(d) < 0) {
        free(d);
        return NULL;
    }
    dispatch_watch_init(d);
    if (pipe(d->wake) < 0) {
        log_syserr("dispatcher: pipe");
        dispatch_watch_free(d);
        dispatch_whole_free(d);
        free(d);
        return NULL;
    }
    if (dispatch_cloexec_nonblock(d->wake[0], 1) < 0 || dispatch_cloexec_nonblock(d->wake[1], 1) < 0 ||
        dispatch_listeners_nonblock(ls) < 0) {
        log_syserr("dispatcher: cannot make its descriptors non-blocking");
        goto fail;
    }
    if (pthread_mutex_init(&d->lock, NULL) != 0 || monoclock_cond_init(&d->cond) != 0 ||
        pthread_cond_init(&d->polled, NULL) != 0 || monoclock_cond_init(&d->service_cond) != 0) {
        log_err("dispatcher: cannot initialise its lock");
        goto fail;
    }
    return d;
fail:
    close(d->wake[0]);
    close(d->wake[1]);
    dispatch_watch_free(d);
    dispatch_whole_free(d);
    free(d);
    return NULL;
}

/* Tell the polling leader to look again; lock held. */
void
dispatch_wake_leader(struct dispatch *d)
{
    if (!d->leader || d->woken)
        return;
    if (write(d->wake[1], "w", 1) == 1 || errno == EAGAIN)
        d->woken = 1;
}

void
dispatch_configure(struct dispatch *d, int keepalive_timeout, int keepalive_max, int new_max,
                   int client_timeout)
{
    pthread_mutex_lock(&d->lock);
    d->keepalive_timeout = keepalive_timeout;
    d->client_timeout = client_timeout;
    d->keepalive_max = keepalive_max;
    d->new_max = new_max > 0 ? new_max : 1;
    dispatch_wake_leader(d);    /* apply the new limits now */
    pthread_mutex_unlock(&d->lock);
}

int
dispatch_ready_push(struct dispatch *d, int fd, int kept)
{
    if (d->nready == d->ready_cap) {
        int cap = d->ready_cap ? d->ready_cap * 2 : 64, i;
        struct waiting *q = malloc((size_t)cap * sizeof(*q));
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
    d->ready[(d->ready_head + d->nready) % d->ready_cap].fd = fd;
    d->ready[(d->ready_head + d->nready) % d->ready_cap].kept = kept;
    d->ready[(d->ready_head + d->nready) % d->ready_cap].since = monoclock_us();
    d->nready++;
    d->nready_new += !kept;
    if (d->service_leads)           /* no worker was free: it waits */
        counters_wait(d->nready);
    return 0;
}

static int
dispatch_ready_pop(struct dispatch *d)
{
    struct waiting w;

    if (d->nready == 0)
        return -1;
    w = d->ready[d->ready_head];
    d->ready_head = (d->ready_head + 1) % d->ready_cap;
    d->nready--;
    d->nready_new -= !w.kept;
    if (d->unpeeked > d->nready)
        d->unpeeked = d->nready;
    /* the leader stopped accepting because new_max new ones waited: once
     * half of them are gone it looks at the backlog again */
    if (d->listen_paused && d->nready_new <= d->new_max / 2) {
        d->listen_paused = 0;
        dispatch_wake_leader(d);
    }
    return w.fd;
}

/* FD has a request: the service thread's when it leads and the request
 * is one of its own (status, ping), else the workers'; lock held. */
void
dispatch_queue(struct dispatch *d, int fd, int kept)
{
    if (d->service_leads && dispatch_service_claim(d, fd, kept))
        return;
    if (dispatch_ready_push(d, fd, kept) == 0 && !d->service_leads)
        d->unpeeked++;
}

/* Stopping: is it time to close the parked connections still idle? At
 * once when they are passed on or none is left; else once the drain's
 * time is over and no request is in flight (what comes on a kept
 * connection while the stop still serves is served too). Lock held. */
static int
dispatch_drain_due(struct dispatch *d)
{
    return d->hand_over || d->nparked == 0 ||
           (monoclock_ms() >= d->drain_until && d->inside >= d->workers);
}

/* Is there a reason for the leader to stop polling? A worker leads until
 * a request is ready, the service thread until it has one of its own or a
 * worker is idle to lead in its place; lock held. */
static int
dispatch_lead_done(struct dispatch *d)
{
    if (d->stopping)    /* a worker watches the parked ones until the drain ends */
        return d->service_leads || !d->listen_done || d->nready > 0 || dispatch_drain_due(d);
    if (d->service_leads)
        return d->nservice > 0 || d->followers > 0;
    return d->nready > 0;
}

/* Lead: poll until something is ready, we must stop, or IDLE_AT (ms,
 * 0 = never) passes with nothing to do; lock held. 1 when idle. */
int
dispatch_lead(struct dispatch *d, long long idle_at)
{
    int n, rc, idle = 0;

    d->leader = 1;
    d->leads++;
    while (!dispatch_lead_done(d)) {
        long long now = monoclock_ms();
        int timeout;
        n = dispatch_poll_set(d, now, 0);
        timeout = dispatch_poll_timeout(d, now);
        if (idle_at) {
            if (now >= idle_at) {
                idle = 1;
                break;
            }
            if (timeout < 0 || timeout > idle_at - now)
                timeout = (int)(idle_at - now);
        }
        d->poll_until = timeout < 0 ? -1 : now + timeout;
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

/*
 * Wake WAKE followers (0, 1, or 2: all) and the service thread when
 * SERVICE; lock released. Waking after the unlock spares the woken thread
 * from finding the lock still held, and sleeping again on it at once: a
 * system call and a thread switch more each time. Whatever the waker saw
 * changed under the lock, so a follower that waits after it sees it.
 */
static void
dispatch_wake(struct dispatch *d, int wake, int service)
{
    if (wake == 2)
        pthread_cond_broadcast(&d->cond);
    else if (wake == 1)
        pthread_cond_signal(&d->cond);
    if (service)
        pthread_cond_signal(&d->service_cond);
}

/* The lead was left vacant, or requests left waiting, by the thread that
 * is about to wait: followers lead and take them now (blockhint). */
static void
dispatch_fill_lead(void *arg)
{
    struct dispatch *d = arg;
    int wake = 0;

    /* a copy made by a fork no library call saw ends here: the lock may
     * have been held by another thread when it was made */
    forkguard_check();
    pthread_mutex_lock(&d->lock);
    if (d->followers > 0 && (!d->leader || d->nready > 0))
        wake = d->followers > 1 && d->nready > 1 ? 2 : 1;
    pthread_mutex_unlock(&d->lock);
    dispatch_wake(d, wake, 0);
}

/* Has the request first in line waited DISPATCH_AGED_US? Lock held. */
static int
dispatch_aged(const struct dispatch *d, long long now)
{
    return d->nready > 0 && now - d->ready[d->ready_head].since >= d->aged_us;
}

/* The standby: while requests come, one follower waits a short while at
 * a time, and goes on (to lead, or to take a request) when woken, when
 * the lead stayed vacant through a whole wait, or when a request waited
 * too long; lock held. */
static void
dispatch_stand_by(struct dispatch *d)
{
    struct timespec soon;
    unsigned leads;
    long long now;

    d->standby = 1;
    for (;;) {
        leads = d->leads;
        monoclock_deadline(&soon, d->standby_ms);
        if (pthread_cond_timedwait(&d->cond, &d->lock, &soon) != ETIMEDOUT || d->stopping)
            break;
        now = monoclock_us();
        if ((!d->leader && d->leads == leads) || dispatch_aged(d, now) || now >= d->busy_until)
            break;
    }
    d->standby = 0;
}

/*
 * The next connection with a request waiting, for the calling worker;
 * DISPATCH_STOP when the daemon is stopping; DISPATCH_IDLE when IDLE_MS
 * (0 = no limit) passed with nothing to do, so the worker can tidy up.
 */
int
dispatch_next(struct dispatch *d, int idle_ms)
{
    long long idle_at = idle_ms > 0 ? monoclock_ms() + idle_ms : 0;
    struct timespec until;
    int fd = DISPATCH_STOP, vacant = 0, wake = 0, help = 1, service;

    blockhint_set(NULL, NULL);      /* the last request's, if it never waited */

    /* a copy of the process, made by a fork no library call saw, that
     * came back from the script never leads: it ends here */
    forkguard_check();
    if (idle_at) {
        until.tv_sec = (time_t)(idle_at / 1000);
        until.tv_nsec = (long)(idle_at % 1000) * 1000000;
    }
    pthread_mutex_lock(&d->lock);
    d->inside++;
    if (d->stopping && d->inside == d->workers)
        dispatch_wake_leader(d);    /* no request in flight: the drain may end */
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
            if (dispatch_drain_due(d))
                dispatch_drain(d);
            else
                dispatch_lead(d, 0);    /* what comes on a parked one meanwhile is served */
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
        if (!d->standby && monoclock_us() < d->busy_until) {
            dispatch_stand_by(d);
            d->followers--;
            continue;
        }
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
    /* someone must lead now, and take what else is ready; with a standby
     * a lead left vacant, and what else is ready, are this thread's when
     * it comes back, the standby's if that takes long, or others' at this
     * thread's first wait (see "Hand-offs" above) */
    if (fd >= 0) {
        long long now = monoclock_us();
        if (now - d->last_taken < DISPATCH_DENSE_US)
            d->busy_until = now + DISPATCH_BUSY_MS * 1000LL;
        d->last_taken = now;
        help = d->stopping || !d->standby || dispatch_aged(d, now);
        vacant = !d->leader && !help;
    }
    if (d->followers > 0 && ((d->nready > 0 && help) || (!d->leader && !vacant)))
        wake = 1;   /* also when we leave idle: a new leader */
    if (!help)
        blockhint_set(dispatch_fill_lead, d);
    if (d->followers > 1 && d->nready > 1 && help)
        wake = 2;
    /* the last idle worker leaves: the service thread may have to lead */
    service = !d->leader && d->followers == 0 && d->service_waiting == DISPATCH_SERVICE_ASLEEP;
    d->inside--;
    pthread_mutex_unlock(&d->lock);
    dispatch_wake(d, wake, service);
    return fd;
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
        close(d->later[--d->nlater].w.fd);
    for (i = 0; i < d->nparked; i++)
        close(d->parked[i].fd);
    dispatch_watch_free(d);
    dispatch_whole_free(d);
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
