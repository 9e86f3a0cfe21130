/*
 * wire_walk.c: the record layer's walk of the bytes read (see wire.c).
 *
 * Every byte wire.c reads for libfcgi, and every byte fed to it
 * (wire_feed), is walked here, record by record, before libfcgi sees it:
 *
 *  - check the record sequence strictly, each header before libfcgi sees
 *    it: BEGIN_REQUEST (role responder, content 8), PARAMS of its id, one
 *    empty PARAMS (which must not cut a name-value pair), STDIN of its id,
 *    one empty STDIN. Padding is free (0 to 255; dropped, see below).
 *    Anything else (another id never begun; a second BEGIN_REQUEST of the
 *    same id; another version; ABORT_REQUEST, DATA, or a record out of
 *    order) fails the read, so libfcgi closes the connection unanswered;
 *    it is logged once. nginx sends none of these.
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
 *  - follow the record framing of the bytes read (8-byte headers,
 *    content, padding): the PARAMS content and the name and value lengths
 *    declared inside it count against `maxparams` before libfcgi sees
 *    them, since libfcgi mallocs each declared length at once; each pair
 *    counts WIRE_PAIR_COST bytes more, what libfcgi spends on it, so that
 *    a flood of empty pairs is bounded too. All the bytes a request sends
 *    count against `maxparams` + `maxpost` and a framing slack. Over a
 *    bound the read fails and libfcgi closes the connection.
 *  - drop every record's padding: libfcgi gets each header with padding
 *    length 0 and never the padding bytes. libfcgi 2.4 loses the padding
 *    of a record it has read to the end of when it switches streams:
 *    SetReaderType() zeroes paddingLen after the BEGIN_REQUEST's body
 *    (read by FCGX_GetStr in ProcessBeginRecord) and after the empty
 *    PARAMS (its EOF, from FillBuffProc), so it would parse that padding
 *    as the next record's header: the parameters lost, or the body. The
 *    bounds count the bytes read, padding included (wire_count); so does
 *    a drain. A read that brings only padding passes nothing, and reads
 *    again, as one of a record cut out does.
 *  - notice the request's empty STDIN record, its end. A connection is
 *    kept only when its request was read exactly to that end; otherwise
 *    the rest is drained, record by record (bounded by the body declared,
 *    or `maxpost`, and the same deadline), or the connection is closed. So
 *    an unread body is never parsed as the next request's records. The
 *    STDIN records of a body answered early may come before the next
 *    BEGIN_REQUEST on a kept connection (wire_rest.c): they are dropped.
 *
 * wire_walk() moves the bytes libfcgi is to see down in place over the
 * ones cut out, so a read needs no second buffer.
 */
#include <errno.h>
#include <string.h>

#include <sys/types.h>

#include "wire.h"
#include "wire_impl.h"

#define WIRE_PAIR_COST      64      /* what libfcgi spends per parameter, about */

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

    w->type = fcgi_record_type(h);
    w->id = fcgi_record_id(h);
    w->content_left = fcgi_record_content(h);
    w->padding_left = fcgi_record_padding(h);
    if (h[0] != FCGI_VERSION_1)
        return wire_refuse(w, "not FastCGI version 1");
    if (w->id == FCGI_NULL_REQUEST_ID)
        return wire_aside_management(w);
    switch (w->stage) {
    case WIRE_AT_BEGIN:
        if (w->rest_id != 0 && w->id == w->rest_id && w->type == FCGI_STDIN)
            return wire_aside_rest(w);
        if (w->type != FCGI_BEGIN_REQUEST || w->content_left != sizeof(FCGI_BeginRequestBody))
            return wire_refuse(w, "a request must open with a BEGIN_REQUEST of 8 bytes");
        w->rest_id = 0;         /* a new request: the server gave up the old body */
        if (w->rest_clock != 0) {
            w->deadline = w->rest_clock;    /* and it runs on its own clock */
            w->rest_clock = 0;
            w->script = NULL;
        }
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
        if (w->type != FCGI_PARAMS)
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
    if (w->type != FCGI_STDIN)
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
    if (w->begin_got == 2 && fcgi_uint16(w->role) != FCGI_RESPONDER)
        return wire_refuse(w, "only the responder role is served");
    return 0;
}

/* Over maxparams: one pair alone (PAIR bytes), or the pairs in all. */
static int
wire_declared_too_much(struct wire *w, size_t pair)
{
    return wire_fail(w, EMSGSIZE, pair + WIRE_PAIR_COST > w->maxparams ? "a parameter declares too big a length" :
                     "the parameters declare too much in all (each costs its bytes and more)", "maxparams",
                     w->maxparams);
}

/* A pair's two lengths are read: count its cost against maxparams, then
 * pass its name and value. */
static int
wire_pair(struct wire *w, size_t pair)
{
    w->declared += pair + WIRE_PAIR_COST;
    if (w->declared > w->maxparams)
        return wire_declared_too_much(w, pair);
    w->nv_skip = pair;
    return 0;
}

/* The pairs whose two lengths are in this read, from a pair's start (or
 * the bytes of the last one): where the first cut length starts, or NULL
 * when over maxparams. */
static const unsigned char *
wire_whole_pairs(struct wire *w, const unsigned char *p, const unsigned char *end)
{
    size_t skip = w->nv_skip, declared = w->declared, name, value, lens;

    for (;;) {
        if (skip >= (size_t)(end - p)) {
            skip -= (size_t)(end - p);
            p = end;
            break;
        }
        p += skip;
        skip = 0;
        if ((lens = fcgi_nv_lengths(p, (size_t)(end - p), &name, &value)) == 0)
            break;
        p += lens;
        declared += name + value + WIRE_PAIR_COST;
        skip = name + value;
        if (declared > w->maxparams)
            break;
    }
    w->nv_skip = skip;
    w->declared = declared;
    if (declared > w->maxparams) {
        wire_declared_too_much(w, skip);
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
        if (w->nv_got == 1 && !fcgi_nv_is_long(w->nv_len[0]))
            w->nv_pair += w->nv_len[0];
        else if (w->nv_got == FCGI_NV_LONG_LEN)
            w->nv_pair += fcgi_nv_long(w->nv_len);
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

/* A record is complete. */
static int
wire_record_done(struct wire *w)
{
    w->headlen = 0;
    if (w->aside) {
        w->aside = 0;
        return wire_aside_done(w);
    }
    if (w->type == FCGI_BEGIN_REQUEST && w->stage == WIRE_AT_BEGIN)
        w->stage = WIRE_AT_PARAMS;
    w->ended = w->last_record;
    return 0;
}

/* Content bytes of the current record, libfcgi's: check them. */
static int
wire_content(struct wire *w, const unsigned char *p, size_t n)
{
    if (w->type == FCGI_BEGIN_REQUEST && wire_begin_body(w, p, n) < 0)
        return -1;
    if (w->type == FCGI_PARAMS && w->stage == WIRE_AT_PARAMS && wire_params(w, p, n) < 0)
        return -1;
    return 0;
}

/* A header for libfcgi: the one read, without its padding (dropped). */
static void
wire_pass_header(const struct wire *w, unsigned char *out, size_t *o)
{
    if (out == NULL)
        return;
    fcgi_record_header(out + *o, w->type, w->id, fcgi_record_content(w->head), 0);
    *o += FCGI_HEADER_LEN;
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
ssize_t
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
             * would drop them, for wire_mgmt_after() to answer, or the
             * next request to read first (wire_carry) */
            if (out != NULL && !w->past_end && n <= sizeof(w->after) - w->after_len) {
                memcpy(w->after + w->after_len, p, n);
                w->after_len += n;
                return (ssize_t)o;
            }
            w->past_end = 1;
            wire_pass(out, &o, p, n);
            return (ssize_t)o;
        }
        if (w->headlen < FCGI_HEADER_LEN) {
            take = FCGI_HEADER_LEN - (size_t)w->headlen;
            if (take > n)
                take = n;
            memcpy(w->head + w->headlen, p, take);
            w->headlen += (int)take;
            if (w->headlen == FCGI_HEADER_LEN) {
                if ((rc = wire_header(w)) < 0)
                    return -1;
                w->aside = rc;
                if (!w->aside)
                    wire_pass_header(w, out, &o);
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
            w->padding_left -= take;    /* dropped: never libfcgi's */
        }
        p += take;
        n -= take;
        if (w->headlen == FCGI_HEADER_LEN && w->content_left == 0 && w->padding_left == 0 &&
            wire_record_done(w) < 0)
            return -1;
    }
    return (ssize_t)o;
}

/* N more bytes of the request read: within its bound? */
int
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

/* How many bytes to read next so that the read ends within the record. */
size_t
wire_next_part(const struct wire *w)
{
    if (w->headlen < FCGI_HEADER_LEN)
        return (size_t)(FCGI_HEADER_LEN - w->headlen);
    return w->content_left > 0 ? w->content_left : w->padding_left;
}
