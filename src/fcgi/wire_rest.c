/*
 * wire_rest.c: the rest of a body answered early, on a kept connection.
 *
 * A request answered before its body was all read (a 404, a 413, a
 * handler that left the body) is drained after its answer (wire_drain),
 * so that body bytes are never taken for the next request's records. On a
 * connection the server keeps, how the rest comes depends on the server:
 * Apache with enablereuse and HAProxy with keep-conn stop sending the body
 * once they have FCGI_END_REQUEST and later send their next request on the
 * same connection; others send the whole body first. Waiting in the
 * drain for a rest that may never come would hold a worker until
 * client_timeout, and then close a connection the server means to use.
 *
 * So the drain reads only the body's records that are there already; at a
 * record's boundary with nothing more there, the connection is parked as
 * an idle kept one, and what it may still bring is remembered here, by
 * descriptor: the request id whose STDIN records may come before the next
 * BEGIN_REQUEST, and how many bytes of them (what the drain had left). The
 * next request's first read on it (wire.c) takes that back and drops those
 * records, as it answers management records; the empty STDIN that ends the
 * body, or a BEGIN_REQUEST, ends the rest. A connection whose reads bring
 * only such records is parked again, like one that only asks
 * FCGI_GET_VALUES. The rest is bound by the clock of the request it
 * belongs to (client_timeout from when that request was taken up), not
 * by a new one each round: a rest that never ends is closed at about
 * client_timeout, and one past its clock is not taken back (its records
 * are then refused, while a BEGIN_REQUEST is served).
 *
 * An entry names its socket by device and inode too, so a descriptor
 * closed while parked and reused for a new connection never inherits it;
 * a stale entry is dropped when its descriptor is next taken up, or its
 * slot given to another once its clock has run out. There are
 * WIRE_RESTS_MAX entries at most: a connection that finds no room is
 * closed instead of parked, as before.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "log.h"
#include "monoclock.h"
#include "wire.h"
#include "wire_impl.h"

#define WIRE_RESTS_MAX  256
#define WIRE_REST_NAME  "(the rest of a body answered early)"   /* for log lines */

struct wire_rest {
    int     fd;         /* -1: a free slot */
    dev_t   dev;
    ino_t   ino;
    int     id;         /* the request id whose STDIN may still come */
    size_t  left;       /* bytes of records it may still bring */
    long long deadline; /* its request's clock (monoclock_ms); 0: none */
};

/* rests_lock guards rests[] and rests_ready; nothing slow is done under
 * it (the fstat of a socket is taken before or after). */
static pthread_mutex_t rests_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wire_rest rests[WIRE_RESTS_MAX];
static int rests_ready;

static void
wire_rests_init(void)
{
    int i;

    for (i = 0; i < WIRE_RESTS_MAX; i++)
        rests[i].fd = -1;
    rests_ready = 1;
}

/* Remember the rest of W's body for its connection, parked next: 0, or -1
 * (logged) when it cannot be, and the connection must close. */
int
wire_rest_keep(struct wire *w)
{
    struct stat st;
    long long now;
    int i, slot = -1;

    if (fstat(w->fd, &st) < 0) {
        log_syserr("worker %d: fd %d: cannot remember the rest of a body", w->worker, w->fd);
        return -1;
    }
    now = monoclock_ms();
    pthread_mutex_lock(&rests_lock);
    if (!rests_ready)
        wire_rests_init();
    for (i = 0; i < WIRE_RESTS_MAX; i++) {
        if (rests[i].fd == w->fd) {
            slot = i;
            break;
        }
        /* a free slot first; else one past its clock: of no more use, or
         * its connection gone */
        if ((rests[i].fd < 0 && (slot < 0 || rests[slot].fd >= 0)) ||
            (slot < 0 && rests[i].deadline != 0 && rests[i].deadline <= now))
            slot = i;
    }
    if (slot >= 0) {
        rests[slot].fd = w->fd;
        rests[slot].dev = st.st_dev;
        rests[slot].ino = st.st_ino;
        rests[slot].id = w->rest_id;
        rests[slot].left = w->rest_left;
        rests[slot].deadline = w->deadline;
    }
    pthread_mutex_unlock(&rests_lock);
    if (slot < 0) {
        log_debug("worker %d: fd %d: %d connections already wait with the rest of a body; closed",
                  w->worker, w->fd, WIRE_RESTS_MAX);
        return -1;
    }
    return 0;
}

/* A request begins on W's connection: take back the rest of an earlier
 * body that may come first, if its connection was parked with one. */
void
wire_rest_take(struct wire *w)
{
    struct wire_rest rest;
    struct stat st;
    int i, found = 0;

    memset(&rest, 0, sizeof(rest));
    w->rest_id = 0;
    w->rest_left = 0;
    pthread_mutex_lock(&rests_lock);
    for (i = 0; rests_ready && i < WIRE_RESTS_MAX && !found; i++) {
        if (rests[i].fd == w->fd) {
            rest = rests[i];
            rests[i].fd = -1;
            found = 1;
        }
    }
    pthread_mutex_unlock(&rests_lock);
    if (!found || fstat(w->fd, &st) < 0 || st.st_dev != rest.dev || st.st_ino != rest.ino)
        return;         /* none, or another connection's: dropped */
    if (rest.deadline != 0 && rest.deadline <= monoclock_ms() && wire_rest_next(w, rest.id) != 1)
        return;         /* past its clock, and a request comes instead */
    w->rest_id = rest.id;
    w->rest_left = rest.left;
    w->script = WIRE_REST_NAME;
    if (rest.deadline != 0 && w->deadline != 0 && rest.deadline < w->deadline) {
        w->rest_clock = w->deadline;    /* the next request's own, back at its BEGIN_REQUEST */
        w->deadline = rest.deadline;
    }
}

/*
 * At a record's boundary: is the next record a STDIN record of request ID,
 * there already, whole header and all? 1 when it is; 0 when it is not
 * (nothing yet, or another record: the connection can wait parked); -1
 * when the connection has ended or failed.
 */
int
wire_rest_next(const struct wire *w, int id)
{
    unsigned char h[FCGI_HEADER_LEN];
    ssize_t n;

    while ((n = recv(w->fd, h, sizeof(h), MSG_PEEK | MSG_DONTWAIT)) < 0 && errno == EINTR)
        ;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        return -1;
    return n == FCGI_HEADER_LEN && h[0] == FCGI_VERSION_1 && fcgi_record_type(h) == FCGI_STDIN &&
           fcgi_record_id(h) == id;
}

/*
 * A STDIN record of the rest, before the next request's BEGIN_REQUEST:
 * dropped (1), within what the rest may still bring; -1 past it.
 */
int
wire_aside_rest(struct wire *w)
{
    size_t len = FCGI_HEADER_LEN + w->content_left + w->padding_left;

    if (len > w->rest_left)
        return wire_fail(w, EMSGSIZE, "the rest of a body answered early is too big",
                         "bytes left", w->rest_left);
    w->rest_left -= len;
    if (w->content_left == 0)
        w->rest_id = 0;         /* the body's end: nothing more of it comes */
    w->nrest++;
    return 1;
}
