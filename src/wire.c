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
 *    non-blocking, and the time a request may keep its worker waiting on
 *    the client, for its params, its body and its answer together, is one
 *    budget (`client_timeout`); the Lua run does not spend it. Past it the
 *    connection is closed and logged once.
 *  - follow the record framing of the bytes read (8-byte headers,
 *    content, padding): the PARAMS content and the name and value lengths
 *    declared inside it count against `maxparams` before libfcgi sees
 *    them, since libfcgi mallocs each declared length at once; over it the
 *    read fails and libfcgi closes the connection.
 *  - notice the request's empty STDIN record, its end. A connection is
 *    kept only when its request was read exactly to that end; otherwise
 *    the rest is drained, record by record (bounded by `maxpost` and the
 *    same budget), or the connection is closed. So an unread body is never
 *    parsed as the next request's records.
 *
 * Limits: this relies on libfcgi doing all its I/O through OS_Read and
 * OS_Write by PLT, as the shared libfcgi 2.4 of Debian and FreeBSD does; a
 * static or -Bsymbolic libfcgi would bypass it (and the connections, being
 * non-blocking, would then fail at once, so the tests would show it).
 * Bytes libfcgi reads past the end of a request (a client that pipelines
 * requests, which nginx never does) are dropped by libfcgi, so such a
 * connection is closed after its answer. wire_check() proves at start-up
 * that libfcgi's reads come through here, and the daemon refuses to
 * start otherwise.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
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
#define WIRE_DRAIN_CHUNK    16384

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
wire_begin(struct wire *w, int fd, int worker, int client_timeout, size_t maxparams)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->worker = worker;
    w->client_timeout = client_timeout;
    w->wait_left = client_timeout > 0 ? (long long)client_timeout * 1000 : 0;
    w->maxparams = maxparams;
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

/* The request was read exactly to its end and nothing went wrong. */
int
wire_can_keep(const struct wire *w)
{
    return w->ended && !w->past_end && !w->failed;
}

/* Over a limit: log it once, and make every later read and write fail. */
static int
wire_fail(struct wire *w, int err, const char *what, const char *key, size_t value)
{
    if (!w->failed)
        log_warn("worker %d: fd %d: %s: %s (%s %zu); the connection is closed", w->worker, w->fd,
                 w->script ? w->script : "-", what, key, value);
    w->failed = 1;
    errno = err;
    return -1;
}

/* Wait until FD is ready for EVENTS, spending the request's budget. */
static int
wire_wait(struct wire *w, int fd, short events)
{
    struct pollfd p = { fd, events, 0 };
    long long start;
    int rc;

    if (w == NULL || w->client_timeout <= 0) {     /* no limit */
        while ((rc = poll(&p, 1, -1)) < 0 && errno == EINTR)
            ;
        return rc < 0 ? -1 : 0;
    }
    while (w->wait_left > 0) {
        start = pool_now_ms();
        rc = poll(&p, 1, (int)(w->wait_left > INT_MAX ? INT_MAX : w->wait_left));
        w->wait_left -= pool_now_ms() - start;
        if (w->wait_left < 0)
            w->wait_left = 0;   /* spent, even if poll overslept its timeout */
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
    return wire_fail(w, ETIMEDOUT, "the client was too slow", "client_timeout",
                     (size_t)w->client_timeout);
}

/* A record header is complete: what it means for the request. */
static int
wire_header(struct wire *w)
{
    const unsigned char *h = w->head;

    if (h[0] != WIRE_VERSION) {
        w->failed = 1;          /* libfcgi refuses it and closes */
        return 0;
    }
    w->type = h[1];
    w->id = (h[2] << 8) | h[3];
    w->content_left = (size_t)((h[4] << 8) | h[5]);
    w->padding_left = h[6];
    if (w->type == WIRE_BEGIN_REQUEST && w->request_id == 0 && w->id != 0)
        w->request_id = w->id;
    else if (w->request_id == 0 || w->id != w->request_id)
        return 0;               /* management records, or another request's */
    else if (w->type == WIRE_PARAMS) {
        w->params += w->content_left;
        if (w->params > w->maxparams)
            return wire_fail(w, EMSGSIZE, "the request's parameters are too big", "maxparams",
                             w->maxparams);
    } else if (w->type == WIRE_STDIN && w->content_left == 0)
        w->last_record = 1;
    return 0;
}

/*
 * PARAMS content: name-value pairs, each two lengths (one byte, or four
 * with the high bit set) then the bytes. The declared lengths are checked
 * here, before libfcgi gets them and allocates that much.
 */
static int
wire_params(struct wire *w, const unsigned char *p, size_t n)
{
    while (n > 0) {
        if (w->nv_skip > 0) {
            size_t take = n < w->nv_skip ? n : w->nv_skip;
            w->nv_skip -= take;
            p += take;
            n -= take;
            continue;
        }
        w->nv_len[w->nv_got++] = *p++;
        n--;
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
        w->declared += w->nv_pair;
        if (w->declared > w->maxparams)
            return wire_fail(w, EMSGSIZE, "a parameter declares too big a length", "maxparams",
                             w->maxparams);
        w->nv_skip = w->nv_pair;
        w->nv_pair = 0;
        w->nv_lens = 0;
    }
    return 0;
}

/* Follow the framing of N bytes just read; -1 when a limit is broken. */
int
wire_feed(struct wire *w, const unsigned char *p, size_t n)
{
    size_t take;

    while (n > 0) {
        if (w->ended) {
            w->past_end = 1;
            return 0;
        }
        if (w->headlen < 8) {
            take = (size_t)(8 - w->headlen) < n ? (size_t)(8 - w->headlen) : n;
            memcpy(w->head + w->headlen, p, take);
            w->headlen += (int)take;
            if (w->headlen == 8 && wire_header(w) < 0)
                return -1;
        } else if (w->content_left > 0) {
            take = n < w->content_left ? n : w->content_left;
            if (w->type == WIRE_PARAMS && w->request_id != 0 && w->id == w->request_id &&
                wire_params(w, p, take) < 0)
                return -1;
            w->content_left -= take;
        } else {
            take = n < w->padding_left ? n : w->padding_left;
            w->padding_left -= take;
        }
        p += take;
        n -= take;
        if (w->headlen == 8 && w->content_left == 0 && w->padding_left == 0) {
            w->headlen = 0;     /* the record is complete */
            w->ended = w->last_record;
        }
    }
    return 0;
}

/* libfcgi's read of every connection byte. */
int
OS_Read(int fd, char *buf, size_t len)
{
    struct wire *w = wire_current(fd);
    ssize_t n;

    if (w != NULL && w->failed) {
        errno = ECONNABORTED;
        return -1;
    }
    if (len > INT_MAX)
        len = INT_MAX;
    for (;;) {
        if ((n = read(fd, buf, len)) >= 0)
            break;
        if (errno == EINTR)
            continue;
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || wire_wait(w, fd, POLLIN) < 0)
            return -1;
    }
    if (w != NULL && n > 0 && wire_feed(w, (const unsigned char *)buf, (size_t)n) < 0)
        return -1;
    return (int)n;
}

/* libfcgi's write of every connection byte. */
int
OS_Write(int fd, char *buf, size_t len)
{
    struct wire *w = wire_current(fd);
    ssize_t n;

    if (w != NULL && w->failed) {
        errno = ECONNABORTED;
        return -1;
    }
    if (len > INT_MAX)
        len = INT_MAX;
    for (;;) {
        if ((n = write(fd, buf, len)) >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || wire_wait(w, fd, POLLOUT) < 0)
            return -1;
    }
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
        if (part > sizeof(sink))
            part = sizeof(sink);
        if (part == 0)
            return WIRE_BROKEN;         /* cannot happen: the framing is complete */
        if (total + part > max)
            return WIRE_TOO_BIG;
        if ((n = OS_Read(w->fd, sink, part)) <= 0)
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
    wire_begin(&w, sv[0], 0, 5, 1024);
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
