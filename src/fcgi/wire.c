/*
 * wire.c: the FastCGI record layer under libfcgi: a request's connection,
 * its clock, and its reads.
 *
 * libfcgi (2.4) reads and writes every byte of a connection through two
 * functions of its own, OS_Read() and OS_Write(), which it exports and
 * calls through the PLT. Defining them (OS_Read here, OS_Write in
 * wire_out.c) interposes ours for the whole library (the executable's
 * definition wins in the dynamic link), so every byte of a request passes
 * one choke point that libfcgi cannot get around. On the calling worker's
 * current connection (a per-thread pointer, set by wire_begin() before
 * FCGX_Accept_r(); wire_current) they:
 *
 *  - wait with poll() instead of blocking: the connections are
 *    non-blocking, and a request has one wall-clock deadline
 *    (`client_timeout`) from when its worker takes it up, for its params,
 *    its body and its answer together, whether the client is slow or
 *    sends without end. The clock stops while the handler runs
 *    (wire_pause), except during the handler's own reads and writes, so
 *    Lua time does not spend it. Past it the connection is closed and
 *    logged once.
 *  - walk the records of every byte read (wire_walk.c) before libfcgi
 *    sees them: the sequence checked strictly, the framing followed and
 *    bounded, the records that are not the request's cut out and answered
 *    (wire_mgmt.c), the request's end noticed.
 *  - make a request's first read itself (wire_read_first, from the
 *    worker, before FCGX_Accept_r): management records sent before any
 *    BEGIN_REQUEST that the dispatcher left (stopping, or refused) are
 *    answered there, and when they are whole and the next read would
 *    block, it ends with WIRE_MGMT_IDLE and the worker parks the
 *    connection. Otherwise libfcgi's first OS_Read gets the
 *    bytes it read: a request costs no system call more for it.
 *  - hold an answer's records while the whole answer is put at its end
 *    (wire_hold, wire_out.c), so that they leave in one write with
 *    END_REQUEST, not one each of 8 kB.
 *  - drain: a connection is kept only when its request was read exactly
 *    to its end; otherwise the rest is drained, record by record (bounded
 *    by the body declared, or `maxpost`, and the same deadline), or the
 *    connection is closed. So an unread body is never parsed as the next
 *    request's records. On a kept connection the drain reads only the
 *    records already there, and the rest may come before the next request
 *    (wire_rest.c).
 *
 * Limits: this relies on libfcgi doing all its I/O through OS_Read and
 * OS_Write by PLT, as the shared libfcgi 2.4 of Debian and FreeBSD does; a
 * static or -Bsymbolic libfcgi would bypass it (and the connections, being
 * non-blocking, would then fail at once, so the tests would show it).
 * Bytes read past the end of a request are kept from libfcgi, which
 * would drop them (up to WIRE_AFTER_MAX, a read of libfcgi's: all of
 * them). When they are whole management records, they are answered after
 * the request's answer (wire_mgmt_after) and the connection is kept.
 * Anything else is a request pipelined (a client that sends its next
 * request before it reads the answer, which nginx never does): on a kept
 * connection its bytes become the next request's first read
 * (wire_carry), and the same worker serves it right after the answer,
 * since the dispatcher's poll would never see bytes already taken off
 * the socket (nor could the connection be handed over without them).
 * What is not a request there is refused by that read's walk, as on a new
 * connection. On a connection not kept (or the service thread's, which
 * runs no script) such bytes are logged (wire_unserved) and the
 * connection is closed after the answer. wire_check() (wire_check.c)
 * proves at start-up that libfcgi's reads come through here, and the
 * daemon refuses to start otherwise.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <fcgios.h>

#include "luafcgid.h"
#include "blockhint.h"
#include "forkguard.h"
#include "log.h"
#include "monoclock.h"
#include "ratelog.h"
#include "wire.h"
#include "wire_impl.h"

#define WIRE_DRAIN_CHUNK    16384
#define WIRE_FRAMING_SLACK  65536   /* record headers and padding, over /64 */

static pthread_key_t wire_key;
static pthread_once_t wire_once = PTHREAD_ONCE_INIT;

static void
wire_make_key(void)
{
    if (pthread_key_create(&wire_key, NULL) != 0)
        log_err("cannot create the record layer's thread key");
}

/* The calling worker's connection, when FD is it. */
struct wire *
wire_current(int fd)
{
    struct wire *w;

    pthread_once(&wire_once, wire_make_key);
    w = pthread_getspecific(wire_key);
    return w != NULL && w->fd == fd ? w : NULL;
}

void
wire_begin(struct wire *w, int fd, int worker, int client_timeout, size_t maxparams,
           size_t maxpost)
{
    /* not the read buffers: they are written before they are read, and
     * after holds what wire_carried() may take */
    memset(w, 0, offsetof(struct wire, first));
    w->fd = fd;
    w->worker = worker;
    w->client_timeout = client_timeout;
    if (client_timeout > 0)
        w->deadline = monoclock_ms() + (long long)client_timeout * 1000;
    w->maxparams = maxparams;
    w->maxread = wire_framed(maxparams + maxpost);
    wire_rest_take(w);          /* the rest of a body answered early may come first */
    pthread_once(&wire_once, wire_make_key);
    if (pthread_setspecific(wire_key, w) != 0)
        log_err("worker %d: cannot set its connection's record layer", worker);
}

/* The most bytes N bytes of content can take on the wire, record headers
 * and padding with them (a header per 64 bytes of content at worst, as
 * clients frame it, and slack): what a request may send, what a drain
 * reads of a body. */
size_t
wire_framed(size_t n)
{
    if (n > (SIZE_MAX - WIRE_FRAMING_SLACK) / 65 * 64)
        return SIZE_MAX;        /* a declared length near what a number holds */
    return n + n / 64 + WIRE_FRAMING_SLACK;
}

/*
 * The bytes read past the request's end are a next request's, pipelined
 * (wire_pipelined): they stay in W for the next request on the same
 * connection, whose wire_begin() must come next on this W, followed by
 * wire_carried() with the count returned here. The connection goes back
 * to this worker, never to the dispatcher, whose poll would not see bytes
 * already taken off the socket.
 */
size_t
wire_carry(const struct wire *w)
{
    return w->after_len;
}

/* A request begun on W (wire_begin) reads first the N bytes wire_carry()
 * kept of the last one on its connection. */
void
wire_carried(struct wire *w, size_t n)
{
    w->carried = n <= sizeof(w->after) ? n : 0;
}

void
wire_end(struct wire *w)
{
    pthread_setspecific(wire_key, NULL);
    w->fd = -1;
    w->script = NULL;
}

/*
 * The handler runs: stop the request's clock, so that Lua time is not
 * spent from it; the handler's own reads and writes still run it (see
 * wire_clock_in). wire_resume() starts it again for the end of the answer
 * and the drain.
 */
void
wire_pause(struct wire *w)
{
    w->in_handler = 1;
    if (w->deadline == 0 || w->paused)
        return;
    w->paused_left = w->deadline - monoclock_ms();
    w->paused = 1;
}

void
wire_resume(struct wire *w)
{
    w->in_handler = 0;
    if (!w->paused)
        return;
    w->deadline = monoclock_ms() + (w->paused_left > 0 ? w->paused_left : 0);
    w->paused = 0;
}

/* The ms left on the request's clock (0 when it has run out); -1: no limit. */
long long
wire_time_left(const struct wire *w)
{
    long long left;

    if (w->deadline == 0)
        return -1;
    left = w->paused ? w->paused_left : w->deadline - monoclock_ms();
    return left > 0 ? left : 0;
}

/* A read or write of the handler's runs the paused clock for its own
 * length, and the time it waits is the client's (wire_io_spent). */
static void
wire_clock_in(struct wire *w)
{
    long long now;

    if (w == NULL || !w->in_handler)
        return;
    now = monoclock_ms();
    if (w->paused)
        w->deadline = now + (w->paused_left > 0 ? w->paused_left : 0);
    __atomic_store_n(&w->io_since, now, __ATOMIC_RELEASE);
}

static void
wire_clock_out(struct wire *w)
{
    long long now, since;

    if (w == NULL || !w->in_handler)
        return;
    now = monoclock_ms();
    if (w->paused)
        w->paused_left = w->deadline - now;
    since = __atomic_exchange_n(&w->io_since, 0, __ATOMIC_ACQ_REL);
    if (since > 0)
        __atomic_add_fetch(&w->io_ms, now - since, __ATOMIC_RELEASE);
}

/* The ms the handler's own reads and writes on W have waited on the
 * client by NOW (monotonic ms), the one under way included: from another
 * thread too (the watch of terminate_timeout, which leaves that time to
 * client_timeout). */
long long
wire_io_spent(const struct wire *w, long long now)
{
    long long spent = __atomic_load_n(&w->io_ms, __ATOMIC_ACQUIRE);
    long long since = __atomic_load_n(&w->io_since, __ATOMIC_ACQUIRE);

    return spent + (since > 0 && now > since ? now - since : 0);
}

/* The request was read exactly to its end and nothing went wrong. */
int
wire_can_keep(const struct wire *w)
{
    return w->ended && !w->past_end && !w->failed;
}

/* "worker N" (number 0 is the service thread, worker.c), with the
 * request id once the parameters gave it. */
static const char *
wire_who(const struct wire *w, char *out, size_t size)
{
    char who[32];

    if (w->worker == 0)
        snprintf(who, sizeof(who), "service thread");
    else
        snprintf(who, sizeof(who), "worker %d", w->worker);
    if (w->reqid != NULL)
        snprintf(out, size, "%s request %s", who, w->reqid);
    else
        snprintf(out, size, "%s", who);
    return out;
}

/* Log a connection's end for what its client did, unless a flood of them
 * has had its say this while (ratelog_burst): then counted, and the count
 * told with the next line (in MORE) or by wire_log_flush. 1 when to log. */
static struct ratelog wire_flood;   /* clients' failures, every worker's */

static int
wire_may_log(char *more, size_t size)
{
    unsigned long n = ratelog_burst(&wire_flood, monoclock_ms(), LF_WIRE_LOG_INTERVAL * 1000LL,
                                    LF_WIRE_LOG_BURST);

    more[0] = '\0';
    if (n > 1)
        snprintf(more, size, " (and %lu more such since, not logged)", n - 1);
    return n > 0;
}

/* From a timer, and with ALL at a stop: the connections closed and not
 * logged in a flood that is over, told, so that none goes unsaid. */
void
wire_log_flush(int all)
{
    unsigned long n = ratelog_burst_flush(&wire_flood, monoclock_ms(), LF_WIRE_LOG_INTERVAL * 1000LL, all);

    if (n > 0)
        log_warn("%lu more connections were closed for what their clients sent, or for being too slow, "
                 "not logged one by one", n);
}

/* Over a limit: log it once, and make every later read and write fail. */
int
wire_fail(struct wire *w, int err, const char *what, const char *key, size_t value)
{
    char who[128], more[64];

    if (!w->failed && wire_may_log(more, sizeof(more)))
        log_warn("%s: fd %d: %s: %s (%s %zu); the connection is closed%s", wire_who(w, who, sizeof(who)),
                 w->fd, w->script ? w->script : "-", what, key, value, more);
    w->failed = 1;
    errno = err;
    return -1;
}

/* A record that is not the next of a responder's request: refuse it before
 * libfcgi parses it, log it once, and make every later read fail. */
int
wire_refuse(struct wire *w, const char *why)
{
    char who[128], more[64];

    if (!w->failed && wire_may_log(more, sizeof(more)))
        log_warn("%s: fd %d: %s: a FastCGI record out of sequence (version %d, type %d, "
                 "request id %d, content %zu): %s; the connection is closed unanswered%s",
                 wire_who(w, who, sizeof(who)), w->fd, w->script ? w->script : "-", w->head[0], w->type, w->id,
                 fcgi_record_content(w->head), why, more);
    w->failed = 1;
    errno = EPROTO;
    return -1;
}

/* A request pipelined after this one will not be served (WHY): say so,
 * as a connection closed for what its client sent is (rate-limited). */
void
wire_unserved(struct wire *w, const char *why)
{
    char who[128], more[64];

    if (wire_may_log(more, sizeof(more)))
        log_warn("%s: fd %d: %s: %zu bytes read past the request's end (a request pipelined) "
                 "are not served (%s); the connection is closed%s", wire_who(w, who, sizeof(who)),
                 w->fd, w->script ? w->script : "-", w->after_len, why, more);
}

/* The request's clock has run out. */
static int
wire_late(struct wire *w)
{
    return wire_fail(w, ETIMEDOUT, "the client was too slow", "client_timeout",
                     (size_t)w->client_timeout);
}

/* Wait until FD is ready for EVENTS, within the request's deadline. */
static int
wire_wait(struct wire *w, int fd, short events)
{
    struct pollfd p = { fd, events, 0 };
    long long left;
    int rc;

    blockhint();
    if (w == NULL || w->deadline == 0) {       /* no limit */
        while ((rc = poll(&p, 1, -1)) < 0 && errno == EINTR)
            ;
        return rc < 0 ? -1 : 0;
    }
    while ((left = w->deadline - monoclock_ms()) > 0) {
        rc = poll(&p, 1, (int)(left > INT_MAX ? INT_MAX : left));
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
    return wire_late(w);
}

/*
 * One read or write of libfcgi's (HOW: WIRE_IO_WRITE, or a read), waiting
 * with poll while the socket is not ready, until the request's deadline;
 * with WIRE_IO_NOWAIT, failing with EAGAIN instead. The bytes moved, or -1
 * with errno set.
 */
ssize_t
wire_io(struct wire *w, int fd, char *buf, size_t len, int how)
{
    int writing = how & WIRE_IO_WRITE;
    ssize_t n;

    if (w != NULL && w->failed) {
        errno = ECONNABORTED;
        return -1;
    }
    if (len > INT_MAX)
        len = INT_MAX;
    wire_clock_in(w);
    for (;;) {
        if (w != NULL && w->deadline != 0 && monoclock_ms() >= w->deadline) {
            n = wire_late(w);   /* a client that never stops sending, too */
            break;
        }
        if ((n = writing ? write(fd, buf, len) : read(fd, buf, len)) >= 0)
            break;
        if (errno == EINTR)
            continue;
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || (how & WIRE_IO_NOWAIT) ||
            wire_wait(w, fd, writing ? POLLOUT : POLLIN) < 0)
            break;
    }
    wire_clock_out(w);
    return n;
}

/* How wire_read reads: for libfcgi; within the current record (a drain);
 * or a request's first read (wire_read_first), which may end idle. */
enum { WIRE_READ_LIBFCGI, WIRE_READ_IN_RECORD, WIRE_READ_FIRST };

#define WIRE_READ_IDLE  (-2)    /* wire_read: only management records came */

/*
 * Management records were answered, or the rest of a body answered early
 * dropped (wire_rest.c), whole, and nothing of a request has come yet: a
 * read that would block here means the client waits for its answers, or
 * has more of that rest to send, and the connection can wait parked
 * instead of holding a worker.
 */
static int
wire_idle(const struct wire *w)
{
    return (w->nmgmt > 0 || w->nrest > 0) && w->stage == WIRE_AT_BEGIN && w->headlen == 0;
}

/*
 * The bytes the last request on the connection read past its end, a
 * request pipelined (wire_carry), as if read now into BUF (ROOM bytes):
 * all at once, since the walk of them may keep bytes past this request's
 * end in the same buffer. They are fewer than a first read takes.
 */
static ssize_t
wire_take_carried(struct wire *w, unsigned char *buf, size_t room)
{
    size_t n = w->carried;

    w->carried = 0;
    if (n > room)
        return wire_fail(w, EMSGSIZE, "a request pipelined too big for the first read", "bytes", n);
    memcpy(buf, w->after, n);
    return (ssize_t)n;
}

/*
 * Read into BUF (LEN bytes) what libfcgi is to see of the connection: the
 * header bytes held back from the last read first, then new bytes, less
 * the records the layer answers itself. Reads again when none are left,
 * so libfcgi never takes an answered record for the end of the stream.
 * HOW is WIRE_READ_IN_RECORD in a drain: each read ends within the
 * current record, its length taken again for every retry, so that no
 * byte past the request's end is read. WIRE_READ_FIRST: when only
 * management records came and the next read would block, WIRE_READ_IDLE.
 */
static int
wire_read(struct wire *w, unsigned char *buf, size_t len, int how)
{
    ssize_t n, kept;
    size_t held, want;
    int idle;

    for (;;) {
        held = (size_t)w->held;
        want = len;
        if (how == WIRE_READ_IN_RECORD && held + wire_next_part(w) < len)
            want = held + wire_next_part(w);
        if (want <= held)
            return wire_fail(w, EINVAL, "a read too short for a record header", "bytes", want);
        idle = how == WIRE_READ_FIRST && wire_idle(w);
        if (w->carried > 0)
            n = wire_take_carried(w, buf + held, want - held);
        else
            n = wire_io(w, w->fd, (char *)buf + held, want - held, idle ? WIRE_IO_NOWAIT : 0);
        if (n < 0 && idle && (errno == EAGAIN || errno == EWOULDBLOCK))
            return WIRE_READ_IDLE;
        if (n <= 0)
            return (int)n;
        if (wire_count(w, (size_t)n) < 0)
            return -1;
        if (held > 0) {                 /* walked again from the header's start */
            memcpy(buf, w->head, held);
            w->headlen = 0;
            w->held = 0;
        }
        if ((kept = wire_walk(w, buf, held + (size_t)n, buf)) < 0)
            return -1;
        if (w->headlen > 0 && w->headlen < FCGI_HEADER_LEN && !w->ended)
            w->held = w->headlen;       /* not passed: it may be ours */
        if (kept > 0 || w->ended)
            return (int)kept;   /* past the end, libfcgi sees none */
    }
}

/*
 * A request's first read, before libfcgi's: it answers the management
 * records that come first, and keeps the bytes for libfcgi's first read
 * (OS_Read), which so costs no system call of its own. 0 when a request
 * is there for libfcgi to read; WIRE_MGMT_IDLE when only management
 * records came, answered, and the connection can wait parked (each such
 * round answers WIRE_MGMT_RECORDS_MAX at most: the request's own count
 * refuses a flood); -1 when it must close (its end, or an error, logged).
 */
int
wire_read_first(struct wire *w)
{
    int n = wire_read(w, w->first, sizeof(w->first), WIRE_READ_FIRST);

    if (n == WIRE_READ_IDLE)
        return w->rest_id == 0 || wire_rest_keep(w) == 0 ? WIRE_MGMT_IDLE : -1;
    if (n <= 0)
        return -1;
    w->first_len = (size_t)n;
    w->first_at = 0;
    return 0;
}

/* libfcgi's first read: the bytes wire_read_first() read for it. */
static int
wire_take_first(struct wire *w, char *buf, size_t len)
{
    size_t n = w->first_len - w->first_at;

    if (n > len)
        n = len;
    memcpy(buf, w->first + w->first_at, n);
    w->first_at += n;
    return (int)n;
}

/* Between requests again: the framing of the bytes after a request's end. */
void
wire_rearm(struct wire *w)
{
    w->headlen = 0;
    w->held = 0;
    w->stage = WIRE_AT_BEGIN;
    w->ended = 0;
    w->last_record = 0;
}

/* libfcgi's read of every connection byte. */
int
OS_Read(int fd, char *buf, size_t len)
{
    struct wire *w;
    ssize_t n;

    forkguard_check();          /* a copy of the process never reads a client's bytes */
    w = wire_current(fd);
    if (w != NULL && w->first_at < w->first_len)
        return wire_take_first(w, buf, len);
    if (w != NULL)
        return wire_read(w, (unsigned char *)buf, len, WIRE_READ_LIBFCGI);
    n = wire_io(NULL, fd, buf, len, 0);
    return n < 0 ? -1 : (int)n;
}

/*
 * Read what is left of the request, up to its end and not a byte past it,
 * within MAX bytes read and the request's budget. WIRE_DRAINED when the
 * connection can serve the next request. MAX, the caller's (the body the
 * request declared), is the bound from here, not maxparams + maxpost.
 * With PARK (a kept connection), only the records already there are read:
 * at a record's boundary with the next not there yet, the rest is
 * remembered (wire_rest.c) and WIRE_PAUSED says the connection can wait
 * parked for it, or for the next request.
 */
int
wire_drain(struct wire *w, size_t max, int park)
{
    char sink[WIRE_DRAIN_CHUNK];
    size_t total = 0, part, before;
    int n, next;

    w->maxread = 0;
    while (!w->ended && !w->failed) {
        if (park && w->headlen == 0 && (next = wire_rest_next(w, w->request_id)) != 1) {
            if (next < 0)
                return WIRE_BROKEN;
            w->rest_id = w->request_id;
            w->rest_left = max - total;
            return wire_rest_keep(w) == 0 ? WIRE_PAUSED : WIRE_BROKEN;
        }
        part = wire_next_part(w);
        if (part > sizeof(sink) - FCGI_HEADER_LEN)
            part = sizeof(sink) - FCGI_HEADER_LEN;
        if (part == 0)
            return WIRE_BROKEN;         /* cannot happen: the framing is complete */
        if (total + part > max)
            return WIRE_TOO_BIG;
        before = w->total;
        n = wire_read(w, (unsigned char *)sink, sizeof(sink), WIRE_READ_IN_RECORD);
        if (n < 0 || (n == 0 && !w->ended))
            return WIRE_BROKEN;         /* the end of the stream, or a failure */
        total += w->total - before;     /* the bytes read: padding too, never passed */
    }
    return wire_can_keep(w) ? WIRE_DRAINED : WIRE_BROKEN;
}
