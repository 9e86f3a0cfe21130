/*
 * multipart.c: multipart/form-data (RFC 7578, RFC 2046) as a state machine
 * over byte chunks.
 *
 * The body comes in pieces of any size, split anywhere; the parser keeps
 * only the bytes of the delimiter matched so far and the current header
 * line, so a part of any size passes through in constant memory and its
 * data reaches the caller as it arrives. Nothing here knows Lua or files:
 * the caller's callbacks decide where a part goes (upload.c).
 *
 * Finding the delimiter ("\r\n--" boundary) needs no backtracking table:
 * a boundary may not contain CR (RFC 2046's bchars), so after a mismatch
 * the only place a new match can begin is the byte that broke the old one.
 * The body is read as if a CRLF came before it, so the first boundary
 * line needs none. Everything is bounded: the boundary by RFC 2046's 70
 * characters, a part's header block by MULTIPART_HEADERS_MAX. A part
 * without headers, folded headers, garbage after a boundary and a body
 * that ends before the closing boundary are errors with a reason.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"

enum {
    MP_PREAMBLE,        /* before the first boundary: skipped */
    MP_AFTER_DELIM,     /* just after a boundary: "--", LWSP or CRLF */
    MP_CLOSE_DASH,      /* seen "-" after a boundary */
    MP_LWSP,            /* transport padding before the CRLF */
    MP_LINE_LF,         /* seen CR after a boundary */
    MP_HEADERS,
    MP_BODY,
    MP_END,             /* after the closing boundary: the epilogue */
    MP_FAILED
};

void
multipart_fail(struct multipart *m, const char *why)
{
    if (m->state != MP_FAILED)
        m->error = why;
    m->state = MP_FAILED;
}

/* RFC 2046 bchars: what a boundary may be made of. */
static int
multipart_bchar(unsigned char ch)
{
    return isalnum(ch) || (ch && strchr("'()+_,-./:=? ", ch));
}

static const char *
multipart_skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* One parameter's value, quoted or a token, into OUT. */
static int
multipart_param_value(const char **pp, const char *end, char *out, size_t outlen, size_t *got)
{
    const char *p = *pp;
    size_t n = 0;

    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end && p[1] == '"')
                p++;    /* only \" is an escape: Windows paths keep their \ */
            if (n + 1 >= outlen)
                return -1;
            out[n++] = *p;
        }
        if (p >= end)
            return -1;      /* unterminated quoted string */
        p++;
    } else {
        const char *start = p, *last;
        while (p < end && *p != ';')
            p++;
        for (last = p; last > start && (last[-1] == ' ' || last[-1] == '\t'); last--)
            ;
        if ((size_t)(last - start) + 1 > outlen)
            return -1;
        n = (size_t)(last - start);
        memcpy(out, start, n);
    }
    out[n] = '\0';
    *got = n;
    *pp = p;
    return 0;
}

/*
 * The parameter PARAM of a header value such as
 * `form-data; name="a"; filename="b"`: 1 and its value in OUT (NUL ended,
 * *GOT bytes), 0 when absent, -1 when malformed or longer than OUTLEN - 1.
 */
int
multipart_param(const char *value, size_t vlen, const char *param,
                char *out, size_t outlen, size_t *got)
{
    const char *p = value, *end = value + vlen;
    size_t plen = strlen(param);

    if (outlen == 0)
        return -1;
    while (p < end && *p != ';')
        p++;        /* the type itself */
    while (p < end) {
        const char *name;
        size_t nlen;
        int want;
        p = multipart_skip_space(p + 1, end);
        name = p;
        while (p < end && *p != '=' && *p != ';')
            p++;
        for (nlen = (size_t)(p - name); nlen > 0 && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'); )
            nlen--;
        if (p >= end || *p == ';')
            continue;       /* a parameter with no value */
        p = multipart_skip_space(p + 1, end);
        want = nlen == plen && strncasecmp(name, param, plen) == 0;
        if (multipart_param_value(&p, end, out, outlen, got) < 0)
            return -1;
        if (want)
            return 1;
        while (p < end && *p != ';')
            p++;
    }
    return 0;
}

/* The boundary parameter of a Content-Type, checked against RFC 2046. */
int
multipart_boundary(const char *ctype, char *out, size_t outlen, const char **why)
{
    size_t n = 0, i;
    int rc = multipart_param(ctype, strlen(ctype), "boundary", out, outlen, &n);

    if (rc < 0 || (rc == 1 && n > MULTIPART_BOUNDARY_MAX)) {
        *why = "the multipart boundary is malformed or longer than 70 characters";
        return -1;
    }
    if (rc == 0 || n == 0) {
        *why = "no boundary in the multipart Content-Type";
        return -1;
    }
    for (i = 0; i < n; i++)
        if (!multipart_bchar((unsigned char)out[i])) {
            *why = "the multipart boundary has a character RFC 2046 does not allow";
            return -1;
        }
    return 0;
}

int
multipart_init(struct multipart *m, const char *boundary,
               const struct multipart_calls *calls, void *ud)
{
    size_t n = strlen(boundary), i;

    memset(m, 0, sizeof(*m));
    m->calls = calls;
    m->ud = ud;
    if (n == 0 || n > MULTIPART_BOUNDARY_MAX) {
        multipart_fail(m, "the multipart boundary is empty or longer than 70 characters");
        return -1;
    }
    for (i = 0; i < n; i++)
        if (!multipart_bchar((unsigned char)boundary[i])) {
            multipart_fail(m, "the multipart boundary has a character RFC 2046 does not allow");
            return -1;
        }
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, boundary, n);
    m->dlen = n + 4;
    m->state = MP_PREAMBLE;
    m->match = 2;       /* as if a CRLF came first */
    return 0;
}

static int
multipart_emit(struct multipart *m, const char *p, size_t n)
{
    if (n == 0 || m->state != MP_BODY)
        return 0;
    if (m->calls->data(m->ud, p, n) < 0) {
        multipart_fail(m, m->error ? m->error : "a part's data was refused");
        return -1;
    }
    return 0;
}

/*
 * Preamble or part data up to the next delimiter. Returns the bytes
 * consumed (all of them, or up to the delimiter's end), or -1.
 */
static long
multipart_scan(struct multipart *m, const char *p, size_t n)
{
    size_t i = 0, run = 0;     /* p[run..i) is data not yet emitted */

    while (i < n) {
        if (m->match == 0) {
            const char *cr = memchr(p + i, '\r', n - i);
            if (cr == NULL) {
                i = n;
                break;
            }
            i = (size_t)(cr - p);
            if (multipart_emit(m, p + run, i - run) < 0)
                return -1;
            m->match = 1;
            run = ++i;
        } else if (p[i] == m->delim[m->match]) {
            i++;
            run = i;
            if (++m->match == m->dlen) {
                m->match = 0;
                if (m->state == MP_BODY && m->calls->part_end(m->ud) < 0) {
                    multipart_fail(m, m->error ? m->error : "a part was refused");
                    return -1;
                }
                m->state = MP_AFTER_DELIM;
                return (long)i;
            }
        } else {
            /* what looked like a delimiter was data; p[i] is looked at again */
            if (multipart_emit(m, m->delim, m->match) < 0)
                return -1;
            m->match = 0;
            run = i;
        }
    }
    if (m->match == 0 && multipart_emit(m, p + run, i - run) < 0)
        return -1;
    return (long)i;
}

static int
multipart_begin_part(struct multipart *m)
{
    m->state = MP_HEADERS;
    m->hlen = 0;
    m->llen = 0;
    if (m->calls->part_begin(m->ud) < 0) {
        multipart_fail(m, m->error ? m->error : "a part was refused");
        return -1;
    }
    return 0;
}

/* The byte after a boundary: the closing "--", padding, or the line's end. */
static int
multipart_after_delim(struct multipart *m, char ch)
{
    switch (m->state) {
    case MP_AFTER_DELIM:
        if (ch == '-') {
            m->state = MP_CLOSE_DASH;
            return 0;
        }
        /* FALLTHROUGH */
    case MP_LWSP:
        if (ch == ' ' || ch == '\t') {
            m->state = MP_LWSP;
            return 0;
        }
        if (ch == '\r') {
            m->state = MP_LINE_LF;
            return 0;
        }
        if (ch == '\n')
            return multipart_begin_part(m);
        break;
    case MP_CLOSE_DASH:
        if (ch == '-') {
            m->state = MP_END;
            return 0;
        }
        break;
    case MP_LINE_LF:
        if (ch == '\n')
            return multipart_begin_part(m);
        break;
    }
    multipart_fail(m, "garbage after a multipart boundary");
    return -1;
}

/* One complete header line (without its line end), or the empty line. */
static int
multipart_header_line(struct multipart *m)
{
    const char *line = m->line, *end = m->line + m->llen, *colon, *v;
    size_t nlen;

    if (m->llen == 0) {
        if (m->hlen <= 2) {
            multipart_fail(m, "a multipart part without headers");
            return -1;
        }
        m->state = MP_BODY;
        m->match = 0;
        if (m->calls->headers_done(m->ud) < 0) {
            multipart_fail(m, m->error ? m->error : "a part's headers were refused");
            return -1;
        }
        return 0;
    }
    if (line[0] == ' ' || line[0] == '\t') {
        multipart_fail(m, "folded multipart part headers are not supported");
        return -1;
    }
    if ((colon = memchr(line, ':', m->llen)) == NULL || colon == line) {
        multipart_fail(m, "a multipart part header without a name and a colon");
        return -1;
    }
    for (nlen = (size_t)(colon - line); nlen > 0 && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'); )
        nlen--;
    v = multipart_skip_space(colon + 1, end);
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (m->calls->header(m->ud, line, nlen, v, (size_t)(end - v)) < 0) {
        multipart_fail(m, m->error ? m->error : "a part header was refused");
        return -1;
    }
    m->llen = 0;
    return 0;
}

/* Header bytes up to and including the empty line. Returns bytes consumed. */
static long
multipart_headers(struct multipart *m, const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n && m->state == MP_HEADERS; i++) {
        if (++m->hlen > MULTIPART_HEADERS_MAX) {
            multipart_fail(m, "a multipart part's headers are too long");
            return -1;
        }
        if (p[i] == '\n') {
            if (m->llen > 0 && m->line[m->llen - 1] == '\r')
                m->llen--;
            if (multipart_header_line(m) < 0)
                return -1;
        } else if (p[i] == '\0') {
            multipart_fail(m, "a NUL byte in a multipart part header");
            return -1;
        } else
            m->line[m->llen++] = p[i];
    }
    return (long)i;
}

/* The next chunk of the body: 0, or -1 with m->error set. */
int
multipart_feed(struct multipart *m, const char *p, size_t n)
{
    while (n > 0) {
        long used;
        switch (m->state) {
        case MP_FAILED:
            return -1;
        case MP_END:
            return 0;
        case MP_PREAMBLE:
        case MP_BODY:
            used = multipart_scan(m, p, n);
            break;
        case MP_HEADERS:
            used = multipart_headers(m, p, n);
            break;
        default:
            used = multipart_after_delim(m, *p) < 0 ? -1 : 1;
            break;
        }
        if (used < 0)
            return -1;
        p += used;
        n -= (size_t)used;
    }
    return m->state == MP_FAILED ? -1 : 0;
}

/* The body has ended: 0 when it ended with the closing boundary. */
int
multipart_finish(struct multipart *m)
{
    if (m->state == MP_END)
        return 0;
    if (m->state == MP_PREAMBLE)
        multipart_fail(m, "the multipart body has no boundary line");
    else
        multipart_fail(m, "the multipart body ends before its closing boundary");
    return -1;
}
