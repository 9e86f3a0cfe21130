/*
 * fcgi_peek.c: the value of one FastCGI parameter of the request waiting
 * on a connection, read with MSG_PEEK so that the bytes stay where they
 * are for whoever serves the request (libfcgi, through wire.c).
 *
 * The dispatcher's service thread uses it to pick out status and ping
 * requests when every worker is busy (dispatch_service.c). Only the first
 * FCGI_PEEK_MAX bytes are looked at and nothing is waited for: a
 * parameter is found only when the whole request (through its empty
 * STDIN record) is in them, so that the service thread never waits on a
 * client. A request not all there yet is one to look at again later
 * (the dispatcher does, until a worker is free); one past FCGI_PEEK_MAX is served by
 * a worker as any other.
 *
 * The dispatcher also asks whether a request is whole yet
 * (fcgi_peek_whole), to give it a worker only then (dispatch_whole.c).
 *
 * The parse is bounded by what was read; nothing from the wire is
 * trusted as a length without a check.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "fcgi_peek.h"
#include "fcgi_record.h"
#include "wire.h"

/* NAME's value in the pairs PAIRS[0..LEN), by the rule the request uses
 * on libfcgi's "name=value" strings (reqenv.c): the last string that
 * starts with "NAME=" wins (a header's, HTTP_*, the first), so a pair
 * named "NAME=x" after NAME gives "x=" and its value. 1 when found (one
 * too long for OUT is not), 0 when not; only whole pairs are looked at. */
static int
fcgi_peek_pairs(const unsigned char *pairs, size_t len, const char *name, char *out, size_t outlen)
{
    size_t at = 0, nlen, vlen, lens, want = strlen(name);
    int found = 0, first = want > 5 && memcmp(name, "HTTP_", 5) == 0;

    while (at < len && !(first && found)) {
        if ((lens = fcgi_nv_lengths(pairs + at, len - at, &nlen, &vlen)) == 0)
            break;
        at += lens;
        if (nlen > len - at || vlen > len - at - nlen)
            break;          /* cut off: the rest has not been read */
        if (nlen >= want && memcmp(pairs + at, name, want) == 0 &&
            (nlen == want || pairs[at + want] == '=')) {
            size_t head = nlen == want ? 0 : nlen - want;   /* "=x" of "NAME=x" */
            found = head + vlen < outlen;
            if (found) {
                if (head > 0) {
                    memcpy(out, pairs + at + want + 1, head - 1);
                    out[head - 1] = '=';
                }
                memcpy(out + head, pairs + at + nlen, vlen);
                out[head + vlen] = '\0';
            }
        }
        at += nlen + vlen;
    }
    return found;
}

/* NAME's value in the records WIRE[0..LEN) into OUT, FCGI_PEEK_*: found
 * only when the whole request is there, up to its empty STDIN record, so
 * that whoever reads it never waits on the client; a request cut short
 * by LEN is one to look at again, unless LEN filled FCGI_PEEK_MAX. */
int
fcgi_find_param(const unsigned char *wire, size_t len, const char *name, char *out, size_t outlen)
{
    unsigned char pairs[FCGI_PEEK_MAX];
    size_t at = 0, npairs = 0;
    int found = -1;         /* -1: the params have not ended */

    while (len - at >= FCGI_HEADER_LEN) {
        const unsigned char *h = wire + at;
        size_t clen = fcgi_record_content(h), size = fcgi_record_size(h);
        int type = fcgi_record_type(h);
        if (h[0] != FCGI_VERSION_1 || (type != FCGI_BEGIN_REQUEST && type != FCGI_PARAMS &&
                                       type != FCGI_STDIN))
            return FCGI_PEEK_NONE;
        if (size > len - at)
            break;          /* not all here yet */
        if (type == FCGI_PARAMS && found < 0) {
            size_t take = clen < sizeof(pairs) - npairs ? clen : sizeof(pairs) - npairs;
            memcpy(pairs + npairs, h + FCGI_HEADER_LEN, take);
            npairs += take;
            if (clen == 0)
                found = fcgi_peek_pairs(pairs, npairs, name, out, outlen);
        }
        if (type == FCGI_STDIN && clen == 0)
            return found == 1 ? FCGI_PEEK_FOUND : FCGI_PEEK_NONE;
        at += size;
    }
    if (found == 0 || len >= FCGI_PEEK_MAX)
        return FCGI_PEEK_NONE;
    if (found < 0 && fcgi_peek_pairs(pairs, npairs, name, out, outlen))
        found = 1;          /* so far: a later pair may still change it */
    return found == 1 ? FCGI_PEEK_FOUND_LATER : FCGI_PEEK_LATER;
}

/* NAME's value in the request waiting on FD, without reading it. */
int
fcgi_peek_param(int fd, const char *name, char *out, size_t outlen)
{
    unsigned char wire[FCGI_PEEK_MAX];
    ssize_t n;

    do
        n = recv(fd, wire, sizeof(wire), MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return FCGI_PEEK_GONE;
    if (n < 0)
        return FCGI_PEEK_NONE;
    return fcgi_find_param(wire, (size_t)n, name, out, outlen);
}

/* A walk of a request's records, as a worker's record layer takes them. */
struct fcgi_walk {
    int id;                         /* the request's, once its BEGIN_REQUEST came; -1 */
    int params_done;                /* its empty PARAMS came: STDIN next */
    int nmgmt;                      /* management records met */
    int others[WIRE_REJECTED_MAX];  /* other requests begun: a worker refuses them */
    int nothers;
};

static int
fcgi_walk_other(const struct fcgi_walk *w, int rid)
{
    int i;

    for (i = 0; i < w->nothers; i++)
        if (w->others[i] == rid)
            return 1;
    return 0;
}

/* May a record of request RID and TYPE come where walk W is? The
 * request's own records in order, management records anywhere, another
 * request's BEGIN_REQUEST and its records (a worker refuses it with
 * FCGI_CANT_MPX_CONN and drops them). What a worker refuses at once is
 * not. */
static int
fcgi_walk_may(const struct fcgi_walk *w, int rid, int type)
{
    if (rid == FCGI_NULL_REQUEST_ID)
        return 1;
    if (w->id < 0)
        return type == FCGI_BEGIN_REQUEST;
    if (rid == w->id)
        return type == (w->params_done ? FCGI_STDIN : FCGI_PARAMS);
    return type == FCGI_BEGIN_REQUEST ? !fcgi_walk_other(w, rid) : fcgi_walk_other(w, rid);
}

/* Would a worker refuse the record of header H at once, where walk W
 * is? One out of order, a management record too many or too big, a
 * BEGIN_REQUEST of the wrong size, another request too many. (The walk
 * reads no content but the role, fcgi_walk_take: malformed pairs wait
 * for the request's end, or client_timeout, here.) */
static int
fcgi_walk_refused(const struct fcgi_walk *w, const unsigned char *h)
{
    int rid = fcgi_record_id(h), type = fcgi_record_type(h);
    size_t content = fcgi_record_content(h);

    if (!fcgi_walk_may(w, rid, type))
        return 1;
    if (rid == FCGI_NULL_REQUEST_ID)
        return w->nmgmt >= WIRE_MGMT_RECORDS_MAX || (type == FCGI_GET_VALUES && content > WIRE_MGMT_MAX);
    if (type != FCGI_BEGIN_REQUEST)
        return 0;
    return content != sizeof(FCGI_BeginRequestBody) || (w->id >= 0 && w->nothers == WIRE_REJECTED_MAX);
}

/* The whole record at H, not refused, taken into W: 0 when a worker
 * refuses it at once after all (a role but the responder's). */
static int
fcgi_walk_take(struct fcgi_walk *w, const unsigned char *h)
{
    int rid = fcgi_record_id(h), type = fcgi_record_type(h);

    if (rid == FCGI_NULL_REQUEST_ID)
        w->nmgmt++;
    else if (type == FCGI_BEGIN_REQUEST && w->id < 0) {
        w->id = rid;
        return h[FCGI_HEADER_LEN] == 0 && h[FCGI_HEADER_LEN + 1] == FCGI_RESPONDER;
    } else if (type == FCGI_BEGIN_REQUEST)
        w->others[w->nothers++] = rid;
    else if (rid == w->id && type == FCGI_PARAMS && fcgi_record_content(h) == 0)
        w->params_done = 1;
    return 1;
}

/* Is the request in WIRE[0..LEN) whole? FCGI_WHOLE_*; a LEN that filled
 * SIZE, or RECORDS records, without its end is too big to tell. What a
 * worker's record layer takes is walked: the request's own records (its
 * BEGIN_REQUEST, then PARAMS and STDIN of its id), management records (id
 * 0) before or among them, and another request's BEGIN_REQUEST and
 * records (refused with FCGI_CANT_MPX_CONN, and dropped). One cut short
 * is not whole yet either, or a client sending part of one would hold the
 * worker that waited for the rest. Management records alone, whole, are
 * FCGI_WHOLE_MGMT (the dispatcher answers those, and those before a
 * request: fcgi_mgmt_lead); what a worker refuses (fcgi_walk_refused) is
 * for a worker to refuse at once. */
int
fcgi_request_whole(const unsigned char *wire, size_t len, size_t size, int records)
{
    struct fcgi_walk w;
    size_t at = 0;

    w.id = -1;
    w.nmgmt = w.nothers = w.params_done = 0;
    while (len - at >= FCGI_HEADER_LEN) {
        const unsigned char *h = wire + at;
        if (h[0] != FCGI_VERSION_1 || fcgi_walk_refused(&w, h))
            return FCGI_WHOLE_UNKNOWN;
        if (fcgi_record_size(h) > len - at)
            break;          /* (a BEGIN_REQUEST cut short leaves its id unknown) */
        if (!fcgi_walk_take(&w, h))
            return FCGI_WHOLE_UNKNOWN;
        if (fcgi_record_id(h) == w.id && fcgi_record_type(h) == FCGI_STDIN && fcgi_record_content(h) == 0)
            return FCGI_WHOLE_YES;
        if (--records <= 0)
            return FCGI_WHOLE_UNKNOWN;
        at += fcgi_record_size(h);
    }
    if (at == len && at > 0 && w.id < 0)
        return FCGI_WHOLE_MGMT;
    /* a header cut short: what of it came must be a record's; the rest is
     * waited for here, as a worker's layer would wait for it before it
     * could refuse the record */
    if (len > at && wire[at] != FCGI_VERSION_1)
        return FCGI_WHOLE_UNKNOWN;
    return len >= size ? FCGI_WHOLE_UNKNOWN : FCGI_WHOLE_NOT_YET;
}

/* The bytes of the whole management records WIRE[0..LEN) begins with. */
size_t
fcgi_mgmt_lead(const unsigned char *wire, size_t len)
{
    size_t at = 0;

    while (len - at >= FCGI_HEADER_LEN && wire[at] == FCGI_VERSION_1 &&
           fcgi_record_id(wire + at) == FCGI_NULL_REQUEST_ID && fcgi_record_size(wire + at) <= len - at)
        at += fcgi_record_size(wire + at);
    return at;
}

/* Is the request waiting on FD whole (within SIZE bytes and RECORDS
 * records)? Read with MSG_PEEK into BUF[0..SIZE), so that nothing is
 * taken off the socket; *GOT: the bytes looked at. */
int
fcgi_peek_whole(int fd, unsigned char *buf, size_t size, int records, size_t *got)
{
    ssize_t n;

    do
        n = recv(fd, buf, size, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    *got = n > 0 ? (size_t)n : 0;
    if (n == 0)
        return FCGI_WHOLE_GONE;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? FCGI_WHOLE_EMPTY : FCGI_WHOLE_UNKNOWN;
    return fcgi_request_whole(buf, (size_t)n, size, records);
}
