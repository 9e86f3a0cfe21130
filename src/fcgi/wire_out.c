/*
 * wire_out.c: the record layer's output: every byte libfcgi writes, and
 * the layer's own answers (see wire.c for the layer).
 *
 * libfcgi writes through OS_Write(), interposed here as OS_Read() is in
 * wire.c, on the calling worker's current connection (wire_current):
 * each write waits with poll() within the request's deadline (wire_io),
 * so a client that does not read its answer is bounded by
 * `client_timeout` as one that does not send.
 *
 * libfcgi writes an answer a record of 8 kB at a time, each with a system
 * call of its own. While the whole answer is put at its end (wire_hold,
 * from request_finish), the records are held here instead, up to
 * WIRE_OUT_MAX, and go out with the next write that is not held: the rest
 * of the answer and END_REQUEST, in one write, not one each of 8 kB. The
 * buffer is made at the first hold, so a worker that never answers big
 * pays nothing, and kept across its requests (wire_free). What a script
 * streams is never held.
 *
 * wire_send() writes the answers the layer makes itself (wire_mgmt.c) in
 * the request's name: a failure is logged once and fails the connection.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgios.h>

#include "forkguard.h"
#include "log.h"
#include "wire.h"
#include "wire_impl.h"

/* Hold libfcgi's writes on W (ON), or let them go with the next write:
 * while the whole answer is put at its end, a page of 64 kB leaves in
 * one write, not eight (see the design note). */
void
wire_hold(struct wire *w, int on)
{
    /* made when first wanted: a worker that never answers big pays nothing */
    if (on && w->out == NULL && (w->out = malloc(WIRE_OUT_MAX)) == NULL) {
        log_syswarn("worker %d: no memory to hold an answer's records; they go out one by one",
                    w->worker);
        return;
    }
    w->holding = on;
}

/* What W keeps across requests, given back with its worker. */
void
wire_free(struct wire *w)
{
    free(w->out);
    w->out = NULL;
}

/* Write all N bytes at P; -1 when the connection failed. */
static int
wire_put(struct wire *w, const unsigned char *p, size_t n)
{
    ssize_t put;

    while (n > 0) {
        if ((put = wire_io(w, w->fd, (char *)p, n, WIRE_IO_WRITE)) <= 0)
            return -1;
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

/* libfcgi's write of LEN bytes at BUF, with what W holds: held (while
 * holding and there is room), or out after what was held. */
static int
wire_write_held(struct wire *w, const char *buf, size_t len)
{
    int rc = 0;

    if (len <= WIRE_OUT_MAX - w->out_len) {
        memcpy(w->out + w->out_len, buf, len);
        w->out_len += len;
        if (w->holding)
            return (int)len;
        rc = wire_put(w, w->out, w->out_len);
    } else {
        rc = wire_put(w, w->out, w->out_len);
        if (rc == 0 && w->holding && len <= WIRE_OUT_MAX) {
            memcpy(w->out, buf, len);
            w->out_len = len;
            return (int)len;
        }
        if (rc == 0)
            rc = wire_put(w, (const unsigned char *)buf, len);
    }
    w->out_len = 0;
    return rc < 0 ? -1 : (int)len;
}

/* libfcgi's write of every connection byte. */
int
OS_Write(int fd, char *buf, size_t len)
{
    struct wire *w;
    ssize_t n;

    forkguard_check();          /* nor answers in the serving process's name */
    w = wire_current(fd);
    if (w != NULL && (w->holding || w->out_len > 0) && len <= INT_MAX)
        return wire_write_held(w, buf, len);
    n = wire_io(w, fd, buf, len, WIRE_IO_WRITE);

    return n < 0 ? -1 : (int)n;
}

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
