/* test_dispatch.c: the dispatcher's hand-offs (dispatch.c, "Hand-offs"):
 * a lead left vacant is handed on at the taker's first wait (blockhint),
 * and a trickle of requests has no standby. The standby's own look is
 * lengthened to 10 s, so only the hook can hand the lead on in time. */
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
static int release;             /* a waiting request may end */
static char path[64];

/* A worker: take, read the request's one byte; 'w' waits (blockhint
 * first, as the sockets do) until released. */
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
        if (taken < 48)
            taken_at[taken] = monoclock_ms();
        taken++;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&m);
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

int
main(void)
{
    struct listeners ls;
    struct sockaddr_un sa;
    pthread_t t[WORKERS];
    int i, n = 0, standby, c[48];
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
    d = dispatch_new(&ls, WORKERS);
    ok(d != NULL, "a dispatcher for two workers");
    if (d == NULL)
        return 1;
    d->standby_ms = 10000;
    for (i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, worker, NULL);

    /* a trickle: one request alone leaves no standby */
    ok(wait_settled(0, 10000), "idle: one worker leads, the other follows");
    c[n] = client();
    send_one(c[n++], 'x');
    ok(wait_taken(1), "a lone request is taken");
    ok(wait_settled(0, 10000), "a lone request leaves no standby");

    /* two at once (connected first, then both sent): the pool is busy,
     * and the follower stands by; tried again should a loaded machine
     * take them more than DISPATCH_DENSE_US apart */
    for (i = 0, standby = 0; i < 20 && !standby; i++) {
        c[n] = client();
        c[n + 1] = client();
        send_one(c[n], 'x');
        send_one(c[n + 1], 'x');
        n += 2;
        standby = wait_taken(n) && wait_settled(1, 200);
    }
    ok(standby, "two requests at once: then the follower stands by (%d tries)", i);

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
    close(ls.fd[0]);
    unlink(path);
    return done_testing();
}
