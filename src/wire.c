/*
 * wire.c: the FastCGI record layer under libfcgi.
 *
 * libfcgi (2.4) reads and writes every byte of a connection through two
 * functions of its own, OS_Read() and OS_Write(), which it exports and
 * calls through the PLT. Defining them here interposes ours for the whole
 * library (the executable's definition wins in the dynamic link), so
 * every byte of a request passes one choke point that libfcgi cannot get
 * around. On the calling worker's current connection (a per-thread
 * pointer, set by wire_begin() before FCGX_Accept_r()) they:
 *
 *  - wait with poll() instead of blocking: the connections are
 *    non-blocking, and a request has one wall-clock deadline
 *    (`client_timeout`) from when its worker takes it up, for its params,
 *    its body and its answer together, whether the client is slow or
 *    sends without end. The clock stops while the handler runs
 *    (wire_pause), except during the handler's own reads and writes, so
 *    Lua time does not spend it. Past it the connection is closed and
 *    logged once.
 *  - check the record sequence strictly, each header before libfcgi sees
 *    it: BEGIN_REQUEST (role responder, content 8), PARAMS of its id, one
 *    empty PARAMS (which must not cut a name-value pair), STDIN of its id,
 *    one empty STDIN. Padding is free (0 to 255). Anything else (another
 *    id never begun; a second BEGIN_REQUEST of the same id; another
 *    version; ABORT_REQUEST, DATA, or a record out of order) fails the
 *    read, so libfcgi closes the connection unanswered; it is logged
 *    once. nginx sends none of these.
 *  - answer, and cut out of what libfcgi reads, the records that are not
 *    the request's (wire_mgmt.c builds the answers): management records
 *    (request id 0) anywhere before the request's end, FCGI_GET_VALUES
 *    with FCGI_GET_VALUES_RESULT (HAProxy's `option get-values` waits for
 *    it before it sends a request) and any other type with
 *    FCGI_UNKNOWN_TYPE; a BEGIN_REQUEST of another id while the request is
 *    read, with FCGI_END_REQUEST and FCGI_CANT_MPX_CONN, and that id's
 *    later records dropped. A record header is given to libfcgi only once
 *    it is whole and known to be the request's (`held`). libfcgi never
 *    sees these records, which shields its 2.4 bugs:
 *      . FCGI_GET_VALUES is answered into a 64-byte stack buffer with no
 *        check for repeated names (stack smashing, abort), padded with
 *        stack bytes;
 *      . the content of an id-0 record of unknown type is passed into the
 *        current PARAMS or STDIN stream, past our count of `maxparams`;
 *      . an empty record of another id sets a skip flag that is never
 *        cleared, so libfcgi and this layer would read different streams
 *        (an id never begun is refused; a refused id's records are cut).
 *  - make a request's first read itself (wire_read_first, from the
 *    worker, before FCGX_Accept_r): management records sent before any
 *    BEGIN_REQUEST are answered there, and when they are whole and the
 *    next read would block, it ends with WIRE_MGMT_IDLE and the worker
 *    parks the connection. Otherwise libfcgi's first OS_Read gets the
 *    bytes it read: a request costs no system call more for it.
 *  - follow the record framing of the bytes read (8-byte headers,
 *    content, padding): the PARAMS content and the name and value lengths
 *    declared inside it count against `maxparams` before libfcgi sees
 *    them, since libfcgi mallocs each declared length at once; each pair
 *    counts WIRE_PAIR_COST bytes more, what libfcgi spends on it, so that
 *    a flood of empty pairs is bounded too. All the bytes a request sends
 *    count against `maxparams` + `maxpost` and a framing slack. Over a
 *    bound the read fails and libfcgi closes the connection.
 *  - notice the request's empty STDIN record, its end. A connection is
 *    kept only when its request was read exactly to that end; otherwise
 *    the rest is drained, record by record (bounded by `maxpost` and the
 *    same deadline), or the connection is closed. So an unread body is
 *    never parsed as the next request's records.
 *
 * Limits: this relies on libfcgi doing all its I/O through OS_Read and
 * OS_Write by PLT, as the shared libfcgi 2.4 of Debian and FreeBSD does; a
 * static or -Bsymbolic libfcgi would bypass it (and the connections, being
 * non-blocking, would then fail at once, so the tests would show it).
 * Bytes read past the end of a request are kept from libfcgi (which
 * would drop them, up to WIRE_AFTER_MAX): when they are whole management
 * records, they are answered after the request's answer
 * (wire_mgmt_after) and the connection is kept; anything else (a client
 * that pipelines requests, which nginx never does, or a second request id
 * after the first request's end in the same read) is lost, and the
 * connection is closed after its answer. wire_check() proves at start-up
 * that libfcgi's reads come through here, and the daemon refuses to
 * start otherwise.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <fcgiapp.h>
#include <fcgios.h>

#include "log.h"
#include "pool.h"
#include "wire.h"

#define WIRE_VERSION        1
#define WIRE_BEGIN_REQUEST  1
#define WIRE_PARAMS         4
#define WIRE_STDIN          5
#define WIRE_RESPONDER      1
#define WIRE_BEGIN_LEN      8       /* FCGI_BeginRequestBody */
#define WIRE_DRAIN_CHUNK    16384
#define WIRE_PAIR_COST      64      /* what libfcgi spends per parameter, about */
#define WIRE_FRAMING_SLACK  65536   /* record headers and padding, over /64 */

/* Where the request is in its record sequence. */
enum { WIRE_AT_BEGIN, WIRE_AT_PARAMS, WIRE_AT_STDIN, WIRE_AT_END };

static pthread_key_t wire_key;
static pthread_once_t wire_once = PTHREAD_ONCE_INIT;

static void
wire_make_key(void)
{
    if (pthread_key_create(&wire_key, NULL) != 0)
        log_err("cannot create the record layer's thread key");
}

/* The calling worker's connection, when FD is it. */
static struct wire *
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
    size_t both = maxparams + maxpost;

    /* not the first read's buffer: it is written before it is read */
    memset(w, 0, offsetof(struct wire, first));
    w->fd = fd;
    w->worker = worker;
    w->client_timeout = client_timeout;
    if (client_timeout > 0)
        w->deadline = pool_now_ms() + (long long)client_timeout * 1000;
    w->maxparams = maxparams;
    w->maxread = both + both / 64 + WIRE_FRAMING_SLACK;
    pthread_once(&wire_once, wire_make_key);
    if (pthread_setspecific(wire_key, w) != 0)
        log_err("worker %d: cannot set its connection's record layer", worker);
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
    if (w->deadline == 0 || w->paused)
        return;
    w->paused_left = w->deadline - pool_now_ms();
    w->paused = 1;
}

void
wire_resume(struct wire *w)
{
    if (!w->paused)
        return;
    w->deadline = pool_now_ms() + (w->paused_left > 0 ? w->paused_left : 0);
    w->paused = 0;
}

/* The ms left on the request's clock (0 when it has run out); -1: no limit. */
long long
wire_time_left(const struct wire *w)
{
    long long left;

    if (w->deadline == 0)
        return -1;
    left = w->paused ? w->paused_left : w->deadline - pool_now_ms();
    return left > 0 ? left : 0;
}

/* A read or write while paused runs the clock for its own length. */
static void
wire_clock_in(struct wire *w)
{
    if (w != NULL && w->paused)
        w->deadline = pool_now_ms() + (w->paused_left > 0 ? w->paused_left : 0);
}

static void
wire_clock_out(struct wire *w)
{
    if (w != NULL && w->paused)
        w->paused_left = w->deadline - pool_now_ms();
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

/* Over a limit: log it once, and make every later read and write fail. */
int
wire_fail(struct wire *w, int err, const char *what, const char *key, size_t value)
{
    char who[128];

    if (!w->failed)
        log_warn("%s: fd %d: %s: %s (%s %zu); the connection is closed", wire_who(w, who, sizeof(who)),
                 w->fd, w->script ? w->script : "-", what, key, value);
    w->failed = 1;
    errno = err;
    return -1;
}

/* A record that is not the next of a responder's request: refuse it before
 * libfcgi parses it, log it once, and make every later read fail. */
int
wire_refuse(struct wire *w, const char *why)
{
    char who[128];

    if (!w->failed)
        log_warn("%s: fd %d: %s: a FastCGI record out of sequence (version %d, type %d, "
                 "request id %d, content %zu): %s; the connection is closed unanswered",
                 wire_who(w, who, sizeof(who)), w->fd, w->script ? w->script : "-", w->head[0], w->type, w->id,
                 (size_t)((w->head[4] << 8) | w->head[5]), why);
    w->failed = 1;
    errno = EPROTO;
    return -1;
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

    if (w == NULL || w->deadline == 0) {       /* no limit */
        while ((rc = poll(&p, 1, -1)) < 0 && errno == EINTR)
            ;
        return rc < 0 ? -1 : 0;
    }
    while ((left = w->deadline - pool_now_ms()) > 0) {
        rc = poll(&p, 1, (int)(left > INT_MAX ? INT_MAX : left));
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
    return wire_late(w);
}

/*
 * A record header is complete: is it the next record of the request?
 * Only BEGIN_REQUEST (a responder, content 8), PARAMS of its id, one
 * empty PARAMS, STDIN of its id and one empty STDIN, in that order; the
 * rest is refused (see the design note). 0 when it is libfcgi's to
 * read, 1 when it is one the layer answers itself (wire_aside_done), -1
 * when it is refused.
 */
static int
wire_header(struct wire *w)
{
    const unsigned char *h = w->head;

    w->type = h[1];
    w->id = (h[2] << 8) | h[3];
    w->content_left = (size_t)((h[4] << 8) | h[5]);
    w->padding_left = h[6];
    if (h[0] != WIRE_VERSION)
        return wire_refuse(w, "not FastCGI version 1");
    if (w->id == 0)
        return wire_aside_management(w);
    switch (w->stage) {
    case WIRE_AT_BEGIN:
        if (w->type != WIRE_BEGIN_REQUEST || w->content_left != WIRE_BEGIN_LEN)
            return wire_refuse(w, "a request must open with a BEGIN_REQUEST of 8 bytes");
        w->request_id = w->id;
        w->begin_got = 0;
        return 0;
    case WIRE_AT_PARAMS:
    case WIRE_AT_STDIN:
        if (w->id != w->request_id)
            return wire_aside_other(w);
        break;
    default:
        return 0;               /* past the end: libfcgi does not parse it */
    }
    if (w->stage == WIRE_AT_PARAMS) {
        if (w->type != WIRE_PARAMS)
            return wire_refuse(w, "PARAMS expected");
        if (w->content_left == 0) {
            if (w->nv_got != 0 || w->nv_lens != 0 || w->nv_skip != 0)
                return wire_refuse(w, "the parameters end inside a name-value pair");
            w->stage = WIRE_AT_STDIN;
            return 0;
        }
        w->params += w->content_left;
        if (w->params > w->maxparams)
            return wire_fail(w, EMSGSIZE, "the request's parameters are too big", "maxparams",
                             w->maxparams);
        return 0;
    }
    if (w->type != WIRE_STDIN)
        return wire_refuse(w, "STDIN expected");
    if (w->content_left == 0) {
        w->stage = WIRE_AT_END;
        w->last_record = 1;
    }
    return 0;
}

/* BEGIN_REQUEST content: the role must be a responder's. */
static int
wire_begin_body(struct wire *w, const unsigned char *p, size_t n)
{
    while (n-- > 0 && w->begin_got < 2)
        w->role[w->begin_got++] = *p++;
    if (w->begin_got == 2 && ((w->role[0] << 8) | w->role[1]) != WIRE_RESPONDER)
        return wire_refuse(w, "only the responder role is served");
    return 0;
}

static int
wire_declared_too_much(struct wire *w)
{
    return wire_fail(w, EMSGSIZE, "a parameter declares too big a length", "maxparams",
                     w->maxparams);
}

/* A pair's two lengths are read: count its cost against maxparams, then
 * pass its name and value. */
static int
wire_pair(struct wire *w, size_t pair)
{
    w->declared += pair + WIRE_PAIR_COST;
    if (w->declared > w->maxparams)
        return wire_declared_too_much(w);
    w->nv_skip = pair;
    return 0;
}

/* One length at P (a byte, or four with the high bit set) into *LEN: the
 * bytes it takes, or 0 when it does not end before END. */
static size_t
wire_nv_len(const unsigned char *p, const unsigned char *end, size_t *len)
{
    if (p >= end)
        return 0;
    if (!(p[0] & 0x80)) {
        *len = p[0];
        return 1;
    }
    if (end - p < 4)
        return 0;
    *len = ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
    return 4;
}

/* The pairs whose two lengths are in this read, from a pair's start (or
 * the bytes of the last one): where the first cut length starts, or NULL
 * when over maxparams. */
static const unsigned char *
wire_whole_pairs(struct wire *w, const unsigned char *p, const unsigned char *end)
{
    size_t skip = w->nv_skip, declared = w->declared, name, value, a, b;

    for (;;) {
        if (skip >= (size_t)(end - p)) {
            skip -= (size_t)(end - p);
            p = end;
            break;
        }
        p += skip;
        skip = 0;
        if ((a = wire_nv_len(p, end, &name)) == 0 || (b = wire_nv_len(p + a, end, &value)) == 0)
            break;
        p += a + b;
        declared += name + value + WIRE_PAIR_COST;
        if (declared > w->maxparams)
            break;
        skip = name + value;
    }
    w->nv_skip = skip;
    w->declared = declared;
    if (declared > w->maxparams) {
        wire_declared_too_much(w);
        return NULL;
    }
    return p;
}

/*
 * PARAMS content: name-value pairs, each two lengths (one byte, or four
 * with the high bit set) then the bytes. The declared lengths are checked
 * here, before libfcgi gets them and allocates that much, each pair
 * costing WIRE_PAIR_COST more: libfcgi's own bookkeeping for it. Pairs
 * whose lengths are whole in the read are taken at once; a length cut by
 * the end of a read or record goes byte by byte, across calls.
 */
static int
wire_params(struct wire *w, const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;

    while (p < end) {
        if (w->nv_got == 0 && w->nv_lens == 0) {
            if ((p = wire_whole_pairs(w, p, end)) == NULL)
                return -1;
            if (p == end)
                break;
        }
        w->nv_len[w->nv_got++] = *p++;
        if (w->nv_got == 1 && !(w->nv_len[0] & 0x80))
            w->nv_pair += w->nv_len[0];
        else if (w->nv_got == 4)
            w->nv_pair += ((size_t)(w->nv_len[0] & 0x7f) << 24) | ((size_t)w->nv_len[1] << 16) |
                          ((size_t)w->nv_len[2] << 8) | w->nv_len[3];
        else
            continue;
        w->nv_got = 0;
        if (++w->nv_lens < 2)
            continue;
        if (wire_pair(w, w->nv_pair) < 0)
            return -1;
        w->nv_pair = 0;
        w->nv_lens = 0;
    }
    return 0;
}

#define WIRE_IO_WRITE   1       /* wire_io: write, not read */
#define WIRE_IO_NOWAIT  2       /* wire_io: fail with EAGAIN instead of waiting */

static ssize_t wire_io(struct wire *w, int fd, char *buf, size_t len, int how);

/* Write a whole answer of the layer's own; -1 (logged) when it cannot. */
int
wire_send(struct wire *w, const unsigned char *p, size_t n)
{
    ssize_t put;

    while (n > 0) {
        if ((put = wire_io(w, w->fd, (char *)p, n, WIRE_IO_WRITE)) <= 0)
            return wire_fail(w, errno ? errno : EPIPE, "cannot answer a management record",
                             "fd", (size_t)w->fd);
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

/* A record is complete. */
static int
wire_record_done(struct wire *w)
{
    w->headlen = 0;
    if (w->aside) {
        w->aside = 0;
        return wire_aside_done(w);
    }
    if (w->type == WIRE_BEGIN_REQUEST && w->stage == WIRE_AT_BEGIN)
        w->stage = WIRE_AT_PARAMS;
    w->ended = w->last_record;
    return 0;
}

/* Content bytes of the current record, libfcgi's: check them. */
static int
wire_content(struct wire *w, const unsigned char *p, size_t n)
{
    if (w->type == WIRE_BEGIN_REQUEST && wire_begin_body(w, p, n) < 0)
        return -1;
    if (w->type == WIRE_PARAMS && w->stage == WIRE_AT_PARAMS && wire_params(w, p, n) < 0)
        return -1;
    return 0;
}

/* Bytes for libfcgi: moved down to OUT + *O (in place, never ahead of P). */
static void
wire_pass(unsigned char *out, size_t *o, const unsigned char *p, size_t n)
{
    if (out == NULL)
        return;
    if (out + *o != p)          /* nothing cut out yet: the bytes are in place */
        memmove(out + *o, p, n);
    *o += n;
}

/*
 * Follow the framing of N bytes just read. With OUT, the bytes libfcgi is
 * to see are written there (OUT may be P: they only move down), and the
 * records the layer answers itself are cut out; a record header is passed
 * only once whole and known to be libfcgi's. The bytes passed, or -1 when
 * the read must fail.
 */
static ssize_t
wire_walk(struct wire *w, const unsigned char *p, size_t n, unsigned char *out)
{
    size_t take, o = 0;
    int rc;

    if (w->failed) {
        errno = ECONNABORTED;
        return -1;
    }
    while (n > 0) {
        if (w->ended) {
            /* read with the request's end: kept back from libfcgi, which
             * would drop them, for wire_mgmt_after() to answer */
            if (out != NULL && !w->past_end && n <= sizeof(w->after) - w->after_len) {
                memcpy(w->after + w->after_len, p, n);
                w->after_len += n;
                return (ssize_t)o;
            }
            w->past_end = 1;
            wire_pass(out, &o, p, n);
            return (ssize_t)o;
        }
        if (w->headlen < 8) {
            take = (size_t)(8 - w->headlen) < n ? (size_t)(8 - w->headlen) : n;
            memcpy(w->head + w->headlen, p, take);
            w->headlen += (int)take;
            if (w->headlen == 8) {
                if ((rc = wire_header(w)) < 0)
                    return -1;
                w->aside = rc;
                if (!w->aside)
                    wire_pass(out, &o, w->head, 8);
            }
        } else if (w->content_left > 0) {
            take = n < w->content_left ? n : w->content_left;
            if (w->aside)
                wire_aside_content(w, p, take);
            else if (wire_content(w, p, take) < 0)
                return -1;
            else
                wire_pass(out, &o, p, take);
            w->content_left -= take;
        } else {
            take = n < w->padding_left ? n : w->padding_left;
            if (!w->aside)
                wire_pass(out, &o, p, take);
            w->padding_left -= take;
        }
        p += take;
        n -= take;
        if (w->headlen == 8 && w->content_left == 0 && w->padding_left == 0 &&
            wire_record_done(w) < 0)
            return -1;
    }
    return (ssize_t)o;
}

/* N more bytes of the request read: within its bound? */
static int
wire_count(struct wire *w, size_t n)
{
    w->total += n;
    if (w->maxread > 0 && w->total > w->maxread)
        return wire_fail(w, EMSGSIZE, "the request is too big", "maxparams + maxpost", w->maxread);
    return 0;
}

/* Follow the framing of N bytes just read; -1 when the read must fail. */
int
wire_feed(struct wire *w, const unsigned char *p, size_t n)
{
    if (w->failed) {
        errno = ECONNABORTED;
        return -1;
    }
    if (wire_count(w, n) < 0)
        return -1;
    return wire_walk(w, p, n, NULL) < 0 ? -1 : 0;
}

/*
 * One read or write of libfcgi's (HOW: WIRE_IO_WRITE, or a read), waiting
 * with poll while the socket is not ready, until the request's deadline;
 * with WIRE_IO_NOWAIT, failing with EAGAIN instead. The bytes moved, or -1
 * with errno set.
 */
static ssize_t
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
        if (w != NULL && w->deadline != 0 && pool_now_ms() >= w->deadline) {
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

static size_t wire_next_part(const struct wire *w);

/* How wire_read reads: for libfcgi; within the current record (a drain);
 * or a request's first read (wire_read_first), which may end idle. */
enum { WIRE_READ_LIBFCGI, WIRE_READ_IN_RECORD, WIRE_READ_FIRST };

#define WIRE_READ_IDLE  (-2)    /* wire_read: only management records came */

/*
 * Management records were answered, whole, and nothing of a request has
 * come yet: a read that would block here means the client waits for its
 * answers, and the connection can wait parked instead of holding a worker.
 */
static int
wire_idle(const struct wire *w)
{
    return w->nmgmt > 0 && w->stage == WIRE_AT_BEGIN && w->headlen == 0;
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
        if (w->headlen > 0 && w->headlen < 8 && !w->ended)
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
        return WIRE_MGMT_IDLE;
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
    struct wire *w = wire_current(fd);
    ssize_t n;

    if (w != NULL && w->first_at < w->first_len)
        return wire_take_first(w, buf, len);
    if (w != NULL)
        return wire_read(w, (unsigned char *)buf, len, WIRE_READ_LIBFCGI);
    n = wire_io(NULL, fd, buf, len, 0);
    return n < 0 ? -1 : (int)n;
}

/* libfcgi's write of every connection byte. */
int
OS_Write(int fd, char *buf, size_t len)
{
    ssize_t n = wire_io(wire_current(fd), fd, buf, len, WIRE_IO_WRITE);

    return n < 0 ? -1 : (int)n;
}

/* How many bytes to read next so that the read ends within the record. */
static size_t
wire_next_part(const struct wire *w)
{
    if (w->headlen < 8)
        return (size_t)(8 - w->headlen);
    return w->content_left > 0 ? w->content_left : w->padding_left;
}

/*
 * Read what is left of the request, up to its end and not a byte past it,
 * within MAX bytes and the request's budget. WIRE_DRAINED when the
 * connection can serve the next request.
 */
int
wire_drain(struct wire *w, size_t max)
{
    char sink[WIRE_DRAIN_CHUNK];
    size_t total = 0, part;
    int n;

    while (!w->ended && !w->failed) {
        part = wire_next_part(w);
        if (part > sizeof(sink) - 8)
            part = sizeof(sink) - 8;
        if (part == 0)
            return WIRE_BROKEN;         /* cannot happen: the framing is complete */
        if (total + part > max)
            return WIRE_TOO_BIG;
        if ((n = wire_read(w, (unsigned char *)sink, sizeof(sink), WIRE_READ_IN_RECORD)) <= 0)
            return WIRE_BROKEN;
        total += (size_t)n;
    }
    return wire_can_keep(w) ? WIRE_DRAINED : WIRE_BROKEN;
}

/*
 * At start-up: read one request with libfcgi from a socket pair and check
 * that its bytes passed through OS_Read above. 0 when they did.
 */
int
wire_check(void)
{
    static const unsigned char request[] = {
        1, 1, 0, 1, 0, 8, 0, 0,  0, 1, 1, 0, 0, 0, 0, 0,   /* BEGIN_REQUEST, keep */
        1, 4, 0, 1, 0, 0, 0, 0,                             /* empty PARAMS */
        1, 5, 0, 1, 0, 0, 0, 0,                             /* empty STDIN */
    };
    FCGX_Request f;
    struct wire w;
    int sv[2], rc;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        log_syserr("record layer check: socketpair");
        return -1;
    }
    if (write(sv[1], request, sizeof(request)) != (ssize_t)sizeof(request)) {
        log_syserr("record layer check: write");
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    FCGX_InitRequest(&f, -1, 0);
    wire_begin(&w, sv[0], 0, 5, 1024, 1024);
    f.ipcFd = sv[0];
    f.keepConnection = 1;
    f.detached = 1;
    rc = FCGX_Accept_r(&f);
    if (rc == 0)
        FCGX_Finish_r(&f);
    rc = rc == 0 && w.request_id == 1 && w.ended ? 0 : -1;
    wire_end(&w);
    close(sv[0]);
    close(sv[1]);
    if (rc < 0)
        log_err("libfcgi does not read through luafcgid's record layer (a static or "
                "-Bsymbolic libfcgi?): connections could not be kept safely");
    return rc;
}
