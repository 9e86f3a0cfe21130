/*
 * dispatch_impl.h: the dispatcher's insides, shared by dispatch.c (leader
 * and followers, the ready queue, stopping), dispatch_park.c (parked
 * connections, the leader's poll set), dispatch_accept.c (accepting,
 * running out of descriptors), dispatch_whole.c (requests not all there
 * yet) and dispatch_service.c (the service thread) only.
 * The functions here are called with d->lock held, but for the two that
 * set up descriptors.
 */
#ifndef LF_DISPATCH_IMPL_H
#define LF_DISPATCH_IMPL_H

#include <poll.h>
#include <pthread.h>

#include "dispatch.h"
#include "fcgi_peek.h"
#include "listen.h"
#include "ratelog.h"

#define DISPATCH_ACCEPT_BURST 16    /* accepts per wake-up of the leader */
#define DISPATCH_STOP_BURST   65536 /* at most, from the backlog on a stop */
#define DISPATCH_SERVICE_QUEUE 16   /* status requests held for the service thread */
#define DISPATCH_REPEEK_MS      5   /* a request not all there yet is looked at again */
#define DISPATCH_REPEEK_FOR_MS 200  /* for so long, then every DISPATCH_REPEEK_SLOW_MS */
#define DISPATCH_REPEEK_SLOW_MS 50
#define DISPATCH_SERVICE_GRACE_MS 10 /* a busy pool's workers come back within this
                                       * before the service thread leads */
#define DISPATCH_STANDBY_MS     1   /* the standby looks at a vacant lead so often */
#define DISPATCH_DENSE_US    1000   /* two requests taken this close: the pool is busy */
#define DISPATCH_BUSY_MS       10   /* ... and stays so this long after */
#define DISPATCH_AGED_US      200   /* while busy, a request waits so long for its
                                     * taker to come back before others help */
/* Bytes, and records, of a request in: a worker takes it, whole or not.
 * A writer must always be able to queue that much unread (the bytes are
 * only peeked at). On a unix socket every write is a buffer of its own,
 * charged at about 770 bytes however small, against the writer's send
 * buffer (212992 by default): a writer of one-byte records is stopped
 * after some 270 of them, or 69 when it waits to be told there is room.
 * A web server writes a record in one write or two. */
#define DISPATCH_WHOLE_MAX      FCGI_PEEK_MAX
#define DISPATCH_WHOLE_RECORDS  32
#define DISPATCH_SERVICE_ASLEEP 1   /* service_waiting: until signalled */
#define DISPATCH_SERVICE_GRACE  2   /* service_waiting: for the grace period */

/* A connection whose request waits for a worker, in arrival order. */
struct waiting {
    int         fd;
    int         kept;           /* served a request before (else new) */
    long long   since;          /* us, monotonic: queued */
};

struct parked {
    int         fd;
    int         kept;           /* served a request before (else new) */
    long long   since;          /* ms, monotonic */
};

struct partial;

struct dispatch {
    /* lock guards everything below but listen, wake[] and
     * the leader's pfds (which only the leader touches). */
    pthread_mutex_t lock;
    pthread_cond_t  cond;       /* followers: work is ready, or no leader */
    struct listeners listen;    /* pfds[1 .. listen.n], parked ones after */
    int             inbox;      /* connections passed on to us (handover.c); -1 */
    int             wake[2];    /* to the leader: parked set changed, stop */
    int             leader;
    int             followers;
    int             standby;    /* a follower waits timed: it fills a vacant lead */
    int             standby_ms; /* its wait: DISPATCH_STANDBY_MS (a test lengthens it) */
    int             aged_us;    /* DISPATCH_AGED_US (a test lengthens it) */
    unsigned        leads;      /* times the lead was taken: the standby tells a
                                 * lead vacant for a whole wait from a new vacancy */
    long long       last_taken; /* us, monotonic: a worker last took a request */
    long long       busy_until; /* us, monotonic: a standby stands by until then */
    int             stopping;
    int             hand_over;  /* stopping: pass kept connections on (USR2) */
    long long       drain_until;    /* stopping (TERM): parked ones watched until then, ms */
    int             workers;    /* worker threads (not the service thread) */
    int             inside;     /* of them, in dispatch_next(): not serving */
    int             listen_done;    /* stopping: the backlog was accepted */
    int             drained;    /* stopping: parked connections sorted out */
    int             polling;    /* the leader is in poll() without the lock */
    pthread_cond_t  polled;     /* dispatch_stop: the leader left poll() */
    int             woken;      /* a byte is in the wake pipe */
    struct waiting *ready;      /* a FIFO of connections with a request waiting */
    int             nready, ready_head, ready_cap;
    int             nready_new; /* of them, new connections (not kept ones) */
    int             new_max;    /* while no worker is free, accept while fewer wait */
    int             listen_paused;  /* the leader's poll set left the sockets out for it */
    struct parked  *parked;     /* oldest first, but for those passed on to us */
    int             nparked, parked_cap;
    long long       idle_oldest;    /* the earliest since of the leader's poll set */
    int             nkept;      /* parked ones that served a request */
    int             reserved;   /* places held for kept ones whose answer ends */
    /* out of descriptors: accepts resume at accept_resume (ms); the next
     * pause lasts backoff_ms; failures and closes since the last report */
    long long       accept_resume;
    int             backoff_ms;
    struct ratelog  fd_failed;
    int             fd_closed, fd_errno;
    int             keepalive_timeout;
    int             keepalive_max;
    int             client_timeout;
    /* requests not whole yet (dispatch_whole.c): their epoll set (-1:
     * none), oldest first; the peek buffer; slow clients' log lines */
    int             whole_fd;
    struct partial *partial_head, *partial_tail;
    int             npartial;
    unsigned char  *peekbuf;
    struct ratelog  slow_log;
    /* the service thread: it leads when no worker does (service_leads),
     * else waits on service_cond (service_waiting); SERVICE holds the
     * connections it picked out for itself, with peek telling which */
    pthread_cond_t  service_cond;
    int             service_leads, service_waiting;
    int             service[DISPATCH_SERVICE_QUEUE];
    int             nservice;
    struct {                        /* requests not all there when peeked */
        struct waiting w;
        long long   since;          /* ms: when first peeked */
        long long   next;           /* ms: when to peek again */
    }               later[DISPATCH_SERVICE_QUEUE];
    int             nlater;
    int             unpeeked;   /* the last ones of ready[] not peeked at */
    dispatch_peek_fn peek;
    /* the leader's poll set; only the current leader uses it */
    struct pollfd  *pfds;
    int             pfds_cap;
    int             poll_watch; /* it has park_ep in place of the parked ones */
    long long       poll_until; /* ms: the leader's poll ends by then; -1 never */
    /* the parked connections' epoll set (dispatch_watch.c; -1: none) and
     * the descriptors it said were readable, sorted */
    int             park_ep;
    int            *evfds;
    int             nevfds, evfds_cap;
};

/* Where the parked connections (or their epoll set) start in the poll set:
 * after the wake pipe, the listening sockets, the hand-over inbox and the
 * epoll set of requests not whole yet. */
#define DISPATCH_INBOX_AT(d)  (1 + (d)->listen.n)
#define DISPATCH_WHOLE_AT(d)  (2 + (d)->listen.n)
#define DISPATCH_PARKED_AT(d) (3 + (d)->listen.n)
#define DISPATCH_TAKE_BURST   16    /* hand-over messages taken per wake-up */

/* The service thread leads (no worker is free) and new_max new
 * connections wait for a worker: leave the rest in the backlog, so a stuck
 * pool does not turn clients' retries into descriptors. Kept connections'
 * requests do not count: they are descriptors already, and are taken as
 * they come, in order with the new ones. Connections that sent nothing do
 * not count either (they are parked and time out as under a worker's
 * lead). Inline: the leader asks this for every listening socket each
 * time it polls. */
static inline int
dispatch_service_full(const struct dispatch *d)
{
    return d->service_leads && d->nready_new >= d->new_max;
}

/* dispatch.c */
void dispatch_wake_leader(struct dispatch *d);
int  dispatch_ready_push(struct dispatch *d, int fd, int kept);
void dispatch_queue(struct dispatch *d, int fd, int kept);
int  dispatch_lead(struct dispatch *d, long long idle_at);

/* dispatch_park.c */
void dispatch_parked_add(struct dispatch *d, int fd, int kept);
void dispatch_parked_remove(struct dispatch *d, int i);
int  dispatch_poll_set(struct dispatch *d, long long now, int all);
int  dispatch_poll_timeout(struct dispatch *d, long long now);
void dispatch_collect(struct dispatch *d, int n);
void dispatch_drain(struct dispatch *d);

/* dispatch_watch.c */
void dispatch_watch_init(struct dispatch *d);
void dispatch_watch_free(struct dispatch *d);
void dispatch_watch_arm(struct dispatch *d, int fd);
void dispatch_watch_drop(struct dispatch *d, int fd);
void dispatch_watch_collect(struct dispatch *d);
int  dispatch_watch_ready(const struct dispatch *d, int fd);

/* dispatch_accept.c */
int  dispatch_cloexec_nonblock(int fd, int nonblock);
int  dispatch_listeners_nonblock(const struct listeners *ls);
void dispatch_accept_from(struct dispatch *d, int k, int burst);
void dispatch_accept(struct dispatch *d, int burst);
void dispatch_fd_report(struct dispatch *d, unsigned long failed);
void dispatch_stop_leftover(struct dispatch *d);

/* dispatch_whole.c */
int  dispatch_whole_init(struct dispatch *d);
void dispatch_arrived(struct dispatch *d, int fd, int kept);

/* dispatch_mgmt.c */
#define DISPATCH_MGMT_ANSWERED  0
#define DISPATCH_MGMT_NOT_OURS  1
#define DISPATCH_MGMT_FAILED    2
#define DISPATCH_MGMT_ROUNDS    4   /* looks at a connection's management records a turn */
int  dispatch_mgmt(struct dispatch *d, int fd, size_t n);
long long dispatch_whole_due(const struct dispatch *d);
void dispatch_whole_collect(struct dispatch *d, int readable);
void dispatch_whole_unwatch(struct dispatch *d);
void dispatch_whole_free(struct dispatch *d);

/* dispatch_service.c */
int  dispatch_service_claim(struct dispatch *d, int fd, int kept);
void dispatch_service_repeek(struct dispatch *d);
long long dispatch_service_repeek_at(const struct dispatch *d);
void dispatch_service_scan(struct dispatch *d);

#endif
