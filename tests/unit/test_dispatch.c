/* test_dispatch.c: the dispatcher's hand-offs (dispatch.c, "Hand-offs"):
 * a lead left vacant is handed on at the taker's first wait (blockhint),
 * a trickle of requests has no standby, and while a standby watches, what
 * is ready is served by the worker that took the first of it. The
 * standby's own look is lengthened to 10 s, so only the hook can hand the
 * lead on in time, and no request counts as waiting long; then, with a
 * look of 100 ms, the standby takes what a long request holds back. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "blockhint.h"
#include "dispatch.h"
#include "dispatch_impl.h"
#include "listen.h"
#include "monoclock.h"

#define WORKERS 2

static struct dispatch *d;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int taken;               /* connections taken, all workers */
static long long taken_at[48];  /* ms, monotonic, by order taken */
static pthread_t taken_by[48];  /* the worker that took it */
static int release;             /* a waiting request may end */
static char path[64];

/* A worker: take, read the request's one byte; 'w' waits (blockhint
 * first, as the sockets do) until released; 'c' and 'C' compute (no
 * blockhint) for 300 ms and 1.5 s. */
static void *
worker(void *arg)
{
    int fd;
    char c;

    (void)arg;
    while ((fd = dispatch_next(d, 0)) >= 0) {
        if (read(fd, &c, 1) != 1)
            c = '?';
        pthread_mutex_lock(&m);
        if (taken < 48) {
            taken_at[taken] = monoclock_ms();
            taken_by[taken] = pthread_self();
        }
        taken++;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&m);
        if (c == 'c' || c == 'C')
            usleep(c == 'c' ? 300000 : 1500000);
        if (c == 'w') {
            blockhint();
            pthread_mutex_lock(&m);
            while (!release)
                pthread_cond_wait(&changed, &m);
            pthread_mutex_unlock(&m);
        }
        close(fd);
    }
    return NULL;
}

/* A new connection to the listener, that has sent nothing yet. */
static int
client(void)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("client");
        exit(1);
    }
    return fd;
}

/* FD sends its request, C. */
static void
send_one(int fd, char c)
{
    if (write(fd, &c, 1) != 1) {
        perror("send");
        exit(1);
    }
}

/* Wait (10 s at most) until N connections were taken. */
static int
wait_taken(int n)
{
    long long until = monoclock_ms() + 10000;

    pthread_mutex_lock(&m);
    while (taken < n && monoclock_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&changed, &m, &ts);
    }
    n = taken >= n;
    pthread_mutex_unlock(&m);
    return n;
}

/* Wait (MS at most) until one worker leads and the other follows,
 * standing by or not as STANDBY says. */
static int
wait_settled(int standby, int ms)
{
    long long until = monoclock_ms() + ms;
    int ok = 0;

    while (!ok && monoclock_ms() < until) {
        pthread_mutex_lock(&d->lock);
        ok = d->leader && d->followers == 1 && d->standby == standby;
        pthread_mutex_unlock(&d->lock);
        if (!ok)
            usleep(1000);
    }
    return ok;
}

/* Two requests at once (connected first, then both sent): the pool is
 * busy, and the follower stands by; tried again should a loaded machine
 * take them more than DISPATCH_DENSE_US apart. C: the connections, *N
 * their count. */
static int
make_busy(int *c, int *n)
{
    int i, standby;

    for (i = 0, standby = 0; i < 20 && !standby; i++) {
        c[*n] = client();
        c[*n + 1] = client();
        send_one(c[*n], 'x');
        send_one(c[*n + 1], 'x');
        *n += 2;
        standby = wait_taken(*n) && wait_settled(1, 200);
    }
    return standby;
}

/* Two requests R ready at once: connected and sent while the leader
 * cannot look, so that it accepts both in one look. */
static void
send_two_at_once(int *c, int *n, char r)
{
    pthread_mutex_lock(&d->lock);
    c[*n] = client();
    c[*n + 1] = client();
    send_one(c[*n], r);
    send_one(c[*n + 1], r);
    pthread_mutex_unlock(&d->lock);
    *n += 2;
}

/* A dispatcher for WORKERS workers on LS, its standby looking every
 * STANDBY_MS, a request helped after AGED_US, and the workers. */
static void
start(struct listeners *ls, pthread_t *t, int standby_ms, int aged_us)
{
    int i;

    d = dispatch_new(ls, WORKERS);
    if (d == NULL) {
        fprintf(stderr, "no dispatcher\n");
        exit(1);
    }
    d->standby_ms = standby_ms;
    d->aged_us = aged_us;
    release = 0;
    for (i = 0; i < WORKERS; i++)
        if (pthread_create(&t[i], NULL, worker, NULL) != 0) {
            perror("pthread_create");
            exit(1);
        }
}

/* Release what waits, stop the workers and free the dispatcher. */
static void
finish(pthread_t *t, int *c, int n)
{
    int i;

    pthread_mutex_lock(&m);
    release = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&m);
    dispatch_stop(d, 0);
    for (i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < n; i++)
        close(c[i]);
    dispatch_destroy(d);
}

int
main(void)
{
    struct listeners ls;
    struct sockaddr_un sa;
    pthread_t t[WORKERS];
    int n = 0, first, c[48];
    long long sent;

    snprintf(path, sizeof(path), "/tmp/test_dispatch.%ld.sock", (long)getpid());
    unlink(path);
    memset(&ls, 0, sizeof(ls));
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ls.n = 1;
    ls.fd[0] = socket(AF_UNIX, SOCK_STREAM, 0);
    if (ls.fd[0] < 0 || bind(ls.fd[0], (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls.fd[0], 16) < 0) {
        perror("listen");
        return 1;
    }
    /* no request counts as waiting long: a loaded machine may take the
     * two below more than DISPATCH_AGED_US apart */
    start(&ls, t, 10000, 10000000);

    /* a trickle: one request alone leaves no standby */
    ok(wait_settled(0, 10000), "idle: one worker leads, the other follows");
    c[n] = client();
    send_one(c[n++], 'x');
    ok(wait_taken(1), "a lone request is taken");
    ok(wait_settled(0, 10000), "a lone request leaves no standby");

    ok(make_busy(c, &n), "two requests at once: then the follower stands by");

    /* two ready at once while a standby watches: the worker that takes
     * the first takes the second when done, and no one is woken for it */
    first = n;
    send_two_at_once(c, &n, 'c');
    ok(wait_taken(n), "two requests ready at once are taken");
    ok(taken_at[first + 1] - taken_at[first] >= 250 && pthread_equal(taken_by[first], taken_by[first + 1]),
       "... one after the other (%lld ms apart), by the same worker", taken_at[first + 1] - taken_at[first]);
    ok(wait_settled(1, 10000) || make_busy(c, &n), "a standby again");

    /* the leader takes one that waits: the lead is left vacant, and
     * handed on at its first wait, not after the standby's 10 s */
    c[n] = client();
    send_one(c[n++], 'w');
    ok(wait_taken(n), "a request that waits is taken");
    c[n] = client();
    sent = monoclock_ms();
    send_one(c[n++], 'x');
    ok(wait_taken(n), "the next request is taken meanwhile");
    ok(taken_at[n - 1] - sent < 2000, "... at once (%lld ms), the lead handed on at the first wait",
       taken_at[n - 1] - sent);
    finish(t, c, n);

    /* a standby that looks every 100 ms: a request that computes 1.5 s
     * holds back what is ready behind it no longer than two looks */
    n = 0;
    taken = 0;
    start(&ls, t, 100, DISPATCH_AGED_US);
    ok(wait_settled(0, 10000) && make_busy(c, &n), "a standby that looks every 100 ms, busy");
    first = n;
    send_two_at_once(c, &n, 'C');
    ok(wait_taken(n), "two requests that compute long are taken");
    ok(taken_at[first + 1] - taken_at[first] < 1000,
       "... the second by the standby, %lld ms after the first", taken_at[first + 1] - taken_at[first]);
    finish(t, c, n);

    close(ls.fd[0]);
    unlink(path);
    return done_testing();
}
