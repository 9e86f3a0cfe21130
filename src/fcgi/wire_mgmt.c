/*
 * wire_mgmt.c: the FastCGI records the record layer answers itself.
 *
 * Some records are for the application, not for the request libfcgi is
 * reading: management records (request id 0) and the records of a second
 * request sent on a connection that already carries one. libfcgi 2.4
 * mishandles both (see wire.c), so wire.c keeps them from it and answers
 * them here:
 *
 *  - FCGI_GET_VALUES gets FCGI_GET_VALUES_RESULT with the names asked for
 *    that we know, each once, in the order asked: FCGI_MAX_CONNS and
 *    FCGI_MAX_REQS (the connections the daemon takes at once: a request
 *    each, never multiplexed) and FCGI_MPXS_CONNS 0. Malformed pairs are
 *    refused, and the caller closes.
 *  - any other management type gets FCGI_UNKNOWN_TYPE;
 *  - a second request id gets FCGI_END_REQUEST with FCGI_CANT_MPX_CONN.
 *
 * Management records a connection begins with (HAProxy asks
 * FCGI_GET_VALUES on a new connection, and may between requests) are
 * answered by the dispatcher (dispatch_mgmt.c, through wire_mgmt_answer),
 * so that no worker reads past them into a request that has not all
 * come. Those it leaves (while the daemon stops, or ones it will not
 * answer) are answered in the request's first read (wire_read_first in
 * wire.c), before libfcgi reads anything. When they are whole and the next read would block, the
 * connection is given back to the dispatcher, as an idle kept one is,
 * instead of holding a worker until client_timeout for a request that
 * may not come. Each such round answers WIRE_MGMT_RECORDS_MAX records
 * at most (the request's own count refuses more, a flood), and needs the
 * client to wait for the answers before it sends more: a round trip a
 * round, as a request.
 *
 * Management records read in the same read as a request's end (wire.c
 * keeps them back from libfcgi) are answered by wire_mgmt_after() once the
 * request is answered, when they are whole; anything else there is a
 * request pipelined (wire_pipelined), whose bytes become the next
 * request's first read (wire_carry, wire.c).
 *
 * wire.c calls wire_aside_management() or wire_aside_other() at such a
 * record's header, wire_aside_content() with its content and
 * wire_aside_done() at its end; the answers are built on buffers here and
 * sent with wire_send().
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "wire.h"
#include "wire_impl.h"

/* Append one pair NAME=VALUE (both short) to OUT; -1 when it has no room. */
static int
wire_mgmt_pair(unsigned char *out, size_t room, size_t *len, const char *name,
               const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);

    if (nl > FCGI_NV_SHORT_MAX || vl > FCGI_NV_SHORT_MAX || room - *len < 2 + nl + vl)
        return -1;
    out[(*len)++] = (unsigned char)nl;
    out[(*len)++] = (unsigned char)vl;
    while (*name != '\0')          /* lengths on the wire: no terminators */
        out[(*len)++] = (unsigned char)*name++;
    while (*value != '\0')
        out[(*len)++] = (unsigned char)*value++;
    return 0;
}

/*
 * The content of FCGI_GET_VALUES_RESULT for the content IN of an
 * FCGI_GET_VALUES, into OUT (ROOM bytes); its length, or -1 when IN is not
 * a sequence of whole name-value pairs.
 */
int
wire_mgmt_values(const unsigned char *in, size_t n, int maxconns, unsigned char *out,
                 size_t room)
{
    static const char *const names[] = { "FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS" };
    char conns[16];
    const char *values[3];
    int answered[3] = { 0, 0, 0 };
    size_t at = 0, nl, vl, lens, len = 0, i;

    snprintf(conns, sizeof(conns), "%d", maxconns > 0 ? maxconns : 1);
    values[0] = conns;
    values[1] = conns;
    values[2] = "0";
    while (at < n) {
        if ((lens = fcgi_nv_lengths(in + at, n - at, &nl, &vl)) == 0)
            return -1;
        at += lens;
        if (nl > n - at || vl > n - at - nl)
            return -1;
        for (i = 0; i < 3; i++) {
            if (answered[i] || nl != strlen(names[i]) || memcmp(in + at, names[i], nl) != 0)
                continue;
            if (wire_mgmt_pair(out, room, &len, names[i], values[i]) < 0)
                return -1;
            answered[i] = 1;
        }
        at += nl + vl;
    }
    return (int)len;
}

/*
 * A whole record of TYPE for request ID with CONTENT (N bytes, at most
 * FCGI_MAX_LENGTH - FCGI_ALIGN), padded to FCGI_ALIGN, into OUT (N +
 * FCGI_HEADER_LEN + FCGI_ALIGN bytes of room); its length.
 */
size_t
wire_mgmt_record(unsigned char *out, int type, int id, const unsigned char *content, size_t n)
{
    size_t pad = fcgi_record_pad(n);

    fcgi_record_header(out, type, id, n, pad);
    memcpy(out + FCGI_HEADER_LEN, content, n);
    memset(out + FCGI_HEADER_LEN + n, 0, pad);
    return FCGI_HEADER_LEN + n + pad;
}

/* FCGI_UNKNOWN_TYPE for a management record of TYPE, into OUT
 * (FCGI_HEADER_LEN + sizeof(FCGI_UnknownTypeBody) bytes). */
size_t
wire_mgmt_unknown(unsigned char *out, int type)
{
    FCGI_UnknownTypeBody body = { (unsigned char)type, { 0 } };

    return wire_mgmt_record(out, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID,
                            (const unsigned char *)&body, sizeof(body));
}

/* FCGI_END_REQUEST with FCGI_CANT_MPX_CONN for request ID, into OUT
 * (FCGI_HEADER_LEN + sizeof(FCGI_EndRequestBody) bytes). */
size_t
wire_mgmt_cant_mpx(unsigned char *out, int id)
{
    FCGI_EndRequestBody body = { 0, 0, 0, 0, FCGI_CANT_MPX_CONN, { 0 } };

    return wire_mgmt_record(out, FCGI_END_REQUEST, id, (const unsigned char *)&body,
                            sizeof(body));
}

/*
 * The answers to IN (N bytes: whole management records, nothing else)
 * into OUT (ROOM bytes), for the dispatcher (dispatch_mgmt.c): their
 * length; -1 when the records are more than a round's, or one is
 * malformed, or the answers do not fit. A worker then reads them as it
 * reads any, and refuses them, logged.
 */
ssize_t
wire_mgmt_answer(const unsigned char *in, size_t n, int maxconns, unsigned char *out, size_t room)
{
    unsigned char values[WIRE_MGMT_MAX];
    size_t at, size, content, len = 0;
    int records = 0, vl;

    for (at = 0; at < n; at += size) {
        const unsigned char *h = in + at;
        if (n - at < FCGI_HEADER_LEN || h[0] != FCGI_VERSION_1 ||
            fcgi_record_id(h) != FCGI_NULL_REQUEST_ID || (size = fcgi_record_size(h)) > n - at ||
            ++records > WIRE_MGMT_RECORDS_MAX || room - len < FCGI_HEADER_LEN + WIRE_MGMT_MAX + FCGI_ALIGN)
            return -1;
        content = fcgi_record_content(h);
        if (fcgi_record_type(h) != FCGI_GET_VALUES)
            len += wire_mgmt_unknown(out + len, fcgi_record_type(h));
        else if (content <= WIRE_MGMT_MAX &&
                 (vl = wire_mgmt_values(h + FCGI_HEADER_LEN, content, maxconns, values, sizeof(values))) >= 0)
            len += wire_mgmt_record(out + len, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, values, (size_t)vl);
        else
            return -1;
    }
    return (ssize_t)len;
}

/*
 * A management record (request id 0): ours to answer, never libfcgi's.
 * 1, or -1 when it cannot be taken.
 */
int
wire_aside_management(struct wire *w)
{
    if (w->type == FCGI_GET_VALUES && w->content_left > sizeof(w->mgmt))
        return wire_refuse(w, "an FCGI_GET_VALUES too big to answer");
    /* a front end asks once a connection; a stream of them is a flood */
    if (++w->nmgmt > WIRE_MGMT_RECORDS_MAX)
        return wire_refuse(w, "too many management records for one request");
    w->mgmt_len = 0;
    return 1;
}

/* Is ID one of the other requests refused on this connection? */
static int
wire_rejected(const struct wire *w, int id)
{
    int i;

    for (i = 0; i < w->nrejected; i++)
        if (w->rejected[i] == id)
            return 1;
    return 0;
}

/*
 * A record of another request id while one is being read: a new
 * BEGIN_REQUEST is refused with FCGI_CANT_MPX_CONN (answered when it is
 * complete), and the rest of that request's records are dropped. 1, or -1
 * for anything else (a record of an id never begun, a BEGIN_REQUEST
 * repeated): those are refused as before.
 */
int
wire_aside_other(struct wire *w)
{
    if (w->type == FCGI_BEGIN_REQUEST && w->content_left == sizeof(FCGI_BeginRequestBody) &&
        !wire_rejected(w, w->id)) {
        if (w->nrejected == WIRE_REJECTED_MAX)
            return wire_refuse(w, "too many other request ids on the connection");
        w->rejected[w->nrejected++] = w->id;
        return 1;
    }
    if (w->type != FCGI_BEGIN_REQUEST && wire_rejected(w, w->id))
        return 1;
    return wire_refuse(w, "another request id on the connection");
}

/* Content of a record the layer answers: keep an FCGI_GET_VALUES's. */
void
wire_aside_content(struct wire *w, const unsigned char *p, size_t n)
{
    if (w->id != 0 || w->type != FCGI_GET_VALUES)
        return;                 /* nothing in it is needed */
    memcpy(w->mgmt + w->mgmt_len, p, n);        /* fits: checked at its header */
    w->mgmt_len += n;
}

/* A record the layer answers is complete: answer it. */
int
wire_aside_done(struct wire *w)
{
    unsigned char out[FCGI_HEADER_LEN + WIRE_MGMT_MAX + FCGI_ALIGN], values[WIRE_MGMT_MAX];
    int len;

    if (w->id == FCGI_NULL_REQUEST_ID && w->type == FCGI_GET_VALUES) {
        if ((len = wire_mgmt_values(w->mgmt, w->mgmt_len, w->maxconns, values,
                                    sizeof(values))) < 0)
            return wire_refuse(w, "malformed name-value pairs in FCGI_GET_VALUES");
        return wire_send(w, out, wire_mgmt_record(out, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, values,
                                                  (size_t)len));
    }
    if (w->id == FCGI_NULL_REQUEST_ID) {
        log_debug("worker %d: fd %d: management record of unknown type %d", w->worker, w->fd,
                  w->type);
        return wire_send(w, out, wire_mgmt_unknown(out, w->type));
    }
    if (w->type == FCGI_BEGIN_REQUEST) {
        log_debug("worker %d: fd %d: request id %d while request id %d runs: FCGI_CANT_MPX_CONN",
                  w->worker, w->fd, w->id, w->request_id);
        return wire_send(w, out, wire_mgmt_cant_mpx(out, w->id));
    }
    return 0;                   /* the rest of a refused request: dropped */
}


/* The bytes read past the request's end are whole management records
 * only (none: 1 too). */
static int
wire_after_mgmt_only(const struct wire *w)
{
    const unsigned char *h;
    size_t at, len;

    for (at = 0; at < w->after_len; at += len) {
        h = w->after + at;
        if (w->after_len - at < FCGI_HEADER_LEN || h[0] != FCGI_VERSION_1 ||
            fcgi_record_id(h) != FCGI_NULL_REQUEST_ID)
            return 0;           /* a request pipelined, or a part of one */
        len = fcgi_record_size(h);
        if (len > w->after_len - at)
            return 0;           /* the rest is still on its way */
    }
    return 1;
}

/* Bytes read past the request's end that are not whole management
 * records only: the next request's first bytes (or what a client sent in
 * their place), for wire_carry(). */
int
wire_pipelined(const struct wire *w)
{
    return w->after_len > 0 && !wire_after_mgmt_only(w);
}

/*
 * After a request's answer: answer the management records read with its
 * end. 0 when there were none or all were whole management records,
 * answered; -1 when something else came (wire_pipelined), or the answer
 * failed (the connection must close).
 */
int
wire_mgmt_after(struct wire *w)
{
    if (w->after_len == 0)
        return 0;
    if (!wire_after_mgmt_only(w))
        return -1;
    wire_rearm(w);
    return wire_feed(w, w->after, w->after_len);
}
