/* The record layer's framing: where a request ends, and maxparams. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include <fcgiapp.h>
#include <fcgios.h>

#include "monoclock.h"
#include "wire.h"
#include "wire_impl.h"
#include "tap.h"

static unsigned char msg[1 << 16];
static size_t len;

static void
record(int type, int id, const char *content, size_t clen, int pad)
{
    unsigned char h[8] = { 1, (unsigned char)type, (unsigned char)(id >> 8), (unsigned char)id,
                           (unsigned char)(clen >> 8), (unsigned char)clen, (unsigned char)pad, 0 };
    memcpy(msg + len, h, 8);
    len += 8;
    memcpy(msg + len, content, clen);
    len += clen;
    memset(msg + len, 0, (size_t)pad);
    len += (size_t)pad;
}

/* BEGIN_REQUEST id 1, one PARAMS pair, an empty PARAMS, a body, the end. */
static void
request(const char *body)
{
    static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    static const char pair[] = "\x04\x03PATH/ok";

    len = 0;
    record(1, 1, begin, 8, 0);
    record(4, 1, pair, sizeof(pair) - 1, 7);
    record(4, 1, "", 0, 0);
    if (*body)
        record(5, 1, body, strlen(body), 3);
    record(5, 1, "", 0, 0);
}

static void
start(struct wire *w, size_t maxparams)
{
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    w->maxparams = maxparams;
}

/* Feed BYTES (N of them, then the end of a request) to a fresh layer: 0
 * when it passes, -1 when the read fails. */
static int
feed_raw(const void *bytes, size_t n)
{
    struct wire w;

    start(&w, (size_t)1024 * 1024);
    return wire_feed(&w, bytes, n) < 0 && w.failed ? -1 : 0;
}

/* A record sequence: BEGIN, then the records listed as (type, id, content
 * length, version); each shows what it refuses. */
struct seq {
    const char *what;
    int         recs[6][4];
};

static void
sequence(const struct seq *q)
{
    static const char body[65535];
    static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    struct wire w;
    int i;

    len = 0;
    for (i = 0; i < 6 && q->recs[i][0] != 0; i++) {
        const int *r = q->recs[i];
        size_t at = len;
        record(r[0], r[1], r[0] == 1 && r[2] == 8 ? begin : body, (size_t)r[2], r[2] % 8 ? 8 - r[2] % 8 : 0);
        if (r[3] != 0)
            msg[at] = (unsigned char)r[3];
    }
    start(&w, (size_t)1024 * 1024);
    ok(wire_feed(&w, msg, len) < 0 && w.failed, "refused: %s", q->what);
}

static void
sequences(void)
{
    /* the reviewer's byte strings: what libfcgi 2.4.2 mis-parses */
    static const unsigned char skip_desync[] =
        "\x01\x01\x00\x01\x00\x08\x00\x00" "\x00\x01\x00\x00\x00\x00\x00\x00"
        "\x01\x04\x00\x02\x00\x00\x00\x00";
    static const struct seq table[] = {
        { "an unknown type with the request's id", { { 1, 1, 8, 0 }, { 11, 1, 8, 0 } } },
        { "PARAMS of another id",                  { { 1, 1, 8, 0 }, { 4, 2, 8, 0 } } },
        { "an empty PARAMS of another id",         { { 1, 1, 8, 0 }, { 4, 2, 0, 0 } } },
        { "STDIN of another id",                   { { 1, 1, 8, 0 }, { 4, 1, 0, 0 }, { 5, 3, 0, 0 } } },
        { "a BEGIN_REQUEST of another id, twice",  { { 1, 1, 8, 0 }, { 1, 2, 8, 0 }, { 1, 2, 8, 0 } } },
        { "ABORT_REQUEST of a refused id",         { { 1, 1, 8, 0 }, { 2, 2, 0, 0 } } },
        { "a second BEGIN_REQUEST, same id",       { { 1, 1, 8, 0 }, { 4, 1, 0, 0 }, { 1, 1, 8, 0 } } },
        { "a BEGIN_REQUEST of 16 bytes",           { { 1, 1, 16, 0 } } },
        { "STDIN first",                           { { 5, 1, 0, 0 } } },
        { "PARAMS first",                          { { 4, 1, 0, 0 } } },
        { "version 2",                             { { 1, 1, 8, 2 } } },
        { "version 255 after BEGIN",               { { 1, 1, 8, 0 }, { 4, 1, 0, 0xff } } },
        { "PARAMS after the empty PARAMS",         { { 1, 1, 8, 0 }, { 4, 1, 0, 0 }, { 4, 1, 8, 0 } } },
        { "a second empty PARAMS",                 { { 1, 1, 8, 0 }, { 4, 1, 0, 0 }, { 4, 1, 0, 0 } } },
        { "STDIN before the empty PARAMS",         { { 1, 1, 8, 0 }, { 5, 1, 8, 0 } } },
        { "DATA",                                  { { 1, 1, 8, 0 }, { 4, 1, 0, 0 }, { 8, 1, 8, 0 } } },
        { "ABORT_REQUEST",                         { { 1, 1, 8, 0 }, { 2, 1, 0, 0 } } },
        { "END_REQUEST from the client",           { { 1, 1, 8, 0 }, { 3, 1, 8, 0 } } },
        { "STDOUT from the client",                { { 1, 1, 8, 0 }, { 4, 1, 0, 0 }, { 6, 1, 8, 0 } } },
    };
    static const char authorizer[8] = { 0, 2, 1, 0, 0, 0, 0, 0 };
    static const char cut[] = "\x04\x85\x00\x00";     /* a pair's lengths, cut */
    static const char split1[] = "\x04\x03PA", split2[] = "TH/ok";
    static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    struct wire w;
    size_t i;

    ok(feed_raw(skip_desync, sizeof(skip_desync) - 1) < 0,
       "an empty record of another id (libfcgi's stuck skip flag) is refused");
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        sequence(&table[i]);

    len = 0;
    record(1, 1, authorizer, 8, 0);
    start(&w, 1024);
    ok(wire_feed(&w, msg, len) < 0 && w.failed, "refused: the authorizer role");

    len = 0;
    record(1, 1, begin, 8, 0);
    record(4, 1, cut, 3, 0);
    record(4, 1, "", 0, 0);
    start(&w, 1024);
    ok(wire_feed(&w, msg, len) < 0 && w.failed, "refused: parameters that end inside a pair");

    /* what nginx may send passes: a pair split across records, padding */
    len = 0;
    record(1, 1, begin, 8, 255);
    record(4, 1, split1, sizeof(split1) - 1, 0);
    record(4, 1, split2, sizeof(split2) - 1, 200);
    record(4, 1, "", 0, 0);
    record(5, 1, "body", 4, 4);
    record(5, 1, "", 0, 8);
    start(&w, 1024);
    ok(wire_feed(&w, msg, len) == 0 && w.ended && wire_can_keep(&w),
       "a pair split across PARAMS records, and padding everywhere, pass");
}

/* Append a name-value pair to OUT, with a four-byte length when LONG or
 * when it must; its length. */
static size_t
pair(unsigned char *out, const char *name, size_t vlen, int four)
{
    size_t nlen = strlen(name), at = 0, lens[2] = { nlen, vlen };
    int i;

    for (i = 0; i < 2; i++) {
        if (four || lens[i] > 127) {
            out[at++] = (unsigned char)(0x80 | (lens[i] >> 24));
            out[at++] = (unsigned char)(lens[i] >> 16);
            out[at++] = (unsigned char)(lens[i] >> 8);
            out[at++] = (unsigned char)lens[i];
        } else
            out[at++] = (unsigned char)lens[i];
    }
    memcpy(out + at, name, nlen);
    at += nlen;
    memset(out + at, 'v', vlen);
    return at + vlen;
}

/* The declared lengths are counted the same however the reads cut the
 * pairs: whole, in two at every offset, byte by byte. */
static void
splits(void)
{
    static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    static unsigned char params[4096];
    size_t plen = 0, whole, cut, i;
    struct wire w;
    int same = 1;

    plen += pair(params + plen, "SCRIPT_FILENAME", 40, 0);
    plen += pair(params + plen, "QUERY_STRING", 0, 0);
    plen += pair(params + plen, "HTTP_COOKIE", 300, 0);     /* a four-byte value length */
    plen += pair(params + plen, "REQUEST_METHOD", 3, 1);    /* four bytes, though short */
    plen += pair(params + plen, "", 0, 0);
    plen += pair(params + plen, "CONTENT_LENGTH", 1, 0);
    len = 0;
    record(1, 1, begin, 8, 0);
    record(4, 1, (const char *)params, 60, 4);              /* a pair cut across records */
    record(4, 1, (const char *)params + 60, plen - 60, 3);
    record(4, 1, "", 0, 0);
    record(5, 1, "", 0, 0);

    start(&w, (size_t)1024 * 1024);
    ok(wire_feed(&w, msg, len) == 0 && w.ended && wire_can_keep(&w), "nginx-like parameters pass");
    whole = w.declared;
    ok(whole == 15 + 40 + 12 + 11 + 300 + 14 + 3 + 14 + 1 + 6 * 64,
       "their declared lengths are counted (%zu)", whole);
    for (cut = 1; cut < len; cut++) {
        start(&w, (size_t)1024 * 1024);
        if (wire_feed(&w, msg, cut) < 0 || wire_feed(&w, msg + cut, len - cut) < 0 ||
            w.declared != whole || !wire_can_keep(&w)) {
            same = 0;
            printf("#   read cut at byte %zu: declared %zu\n", cut, w.declared);
        }
    }
    ok(same, "the same when the request comes in two reads, cut anywhere");
    start(&w, (size_t)1024 * 1024);
    for (i = 0; i < len; i++)
        wire_feed(&w, msg + i, 1);
    ok(w.declared == whole && wire_can_keep(&w), "and byte by byte");
    start(&w, whole - 1);
    ok(wire_feed(&w, msg, len) < 0 && w.failed, "one byte under their cost, maxparams refuses them");
}

/* Random pairs in records cut at random, read in random pieces: the
 * declared lengths always come out as the pairs' own (a fixed seed). */
static void
random_splits(void)
{
    static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    static unsigned char params[16384];
    unsigned seed = 12345;
    size_t plen, want, at, piece;
    struct wire w;
    int round, bad = 0;

    for (round = 0; round < 2000; round++) {
        plen = want = 0;
        while (plen < sizeof(params) - 600) {
            char name[32];
            size_t nlen = (seed = seed * 1103515245 + 12345) >> 16 & 15, vlen;
            memset(name, 'N', nlen);
            name[nlen] = '\0';
            vlen = (seed = seed * 1103515245 + 12345) >> 16 & 511;
            plen += pair(params + plen, name, vlen, (seed >> 20 & 3) == 0);
            want += nlen + vlen + 64;
            if ((seed >> 24 & 7) == 0)
                break;
        }
        len = 0;
        record(1, 1, begin, 8, 0);
        for (at = 0; at < plen; at += piece) {
            piece = 1 + ((seed = seed * 1103515245 + 12345) >> 16) % 700;
            if (piece > plen - at)
                piece = plen - at;
            record(4, 1, (const char *)params + at, piece, (int)(seed >> 28));
        }
        record(4, 1, "", 0, 0);
        record(5, 1, "", 0, 0);
        start(&w, (size_t)1024 * 1024);
        for (at = 0; at < len; at += piece) {
            piece = 1 + ((seed = seed * 1103515245 + 12345) >> 16) % 300;
            if (piece > len - at)
                piece = len - at;
            if (wire_feed(&w, msg + at, piece) < 0)
                break;
        }
        if (w.declared != want || !wire_can_keep(&w)) {
            if (!bad)
                printf("#   round %d: declared %zu, want %zu\n", round, w.declared, want);
            bad++;
        }
    }
    ok(!bad, "random pairs, records and reads: the declared lengths are the pairs' (%d wrong)", bad);
}

/* maxparams counts each pair's cost to libfcgi; maxread bounds all bytes;
 * the clock stops while the handler runs. */
static void
costs(void)
{
    static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    static char empty[65528];
    struct wire w;
    size_t i;

    len = 0;
    record(1, 1, begin, 8, 0);
    start(&w, (size_t)1024 * 1024);
    wire_feed(&w, msg, len);
    for (i = 0; i < 16 && !w.failed; i++) {
        len = 0;
        record(4, 1, empty, sizeof(empty), 0);      /* 32764 empty pairs */
        wire_feed(&w, msg, len);
    }
    ok(w.failed && w.params < (size_t)1024 * 1024,
       "empty parameters under 1 MiB on the wire are over maxparams by their cost (%zu bytes)",
       w.params);

    wire_begin(&w, -1, 0, 0, 1024, 4096);
    len = 0;
    record(1, 1, begin, 8, 0);
    record(4, 1, "", 0, 0);
    wire_feed(&w, msg, len);
    for (i = 0; i < 4 && !w.failed; i++) {
        len = 0;
        record(5, 1, empty, 32768, 0);
        wire_feed(&w, msg, len);
    }
    ok(w.failed && w.total > 4096 + 1024 && w.total < (size_t)4 * 32776,
       "a body past maxparams + maxpost + framing fails the read (at %zu bytes)", w.total);
    wire_end(&w);

    wire_begin(&w, -1, 0, 2, 1024, 1024);
    wire_pause(&w);
    w.paused_left = -5;          /* as if the clock ran out while paused */
    wire_resume(&w);
    ok(w.deadline > 0 && w.deadline <= monoclock_ms(), "a clock run out stays run out");
    wire_begin(&w, -1, 0, 2, 1024, 1024);
    {
        long long before = w.deadline;
        struct timespec ts = { 0, 300 * 1000000L };
        wire_pause(&w);
        nanosleep(&ts, NULL);
        wire_resume(&w);
        ok(w.deadline >= before + 250, "the clock stops while the handler runs (%lld ms later)",
           w.deadline - before);
    }
    wire_end(&w);
}

/* ---- records the layer answers itself, through OS_Read as libfcgi reads ---- */

static int sv[2];                       /* [0]: the daemon's end; [1]: the client's */
static unsigned char got[1 << 16];      /* what libfcgi was given */
static size_t gotlen;
static unsigned char answer[4096];      /* what the layer wrote back */
static size_t answerlen;

/* Is what libfcgi was given (got) the records of IN (N bytes), whole,
 * each without its padding? The layer drops it: libfcgi 2.4 would take
 * the padding of a BEGIN_REQUEST or of the empty PARAMS for a header. */
static int
got_bare(const unsigned char *in, size_t n)
{
    size_t at = 0, o = 0, clen;

    while (at < n) {
        if (n - at < 8 || o + 8 > gotlen)
            return 0;
        clen = fcgi_record_content(in + at);
        if (memcmp(got + o, in + at, 6) != 0 || got[o + 6] != 0 || o + 8 + clen > gotlen ||
            memcmp(got + o + 8, in + at + 8, clen) != 0)
            return 0;
        o += 8 + clen;
        at += fcgi_record_size(in + at);
    }
    return at == n && o == gotlen;
}

/* Send IN (N bytes) and read it as libfcgi would, LEN bytes a read, until
 * the request ends or a read fails; 0, or -1 when a read failed. */
static int
through(struct wire *w, const unsigned char *in, size_t n, size_t per_read)
{
    ssize_t r;
    int rc = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || write(sv[1], in, n) != (ssize_t)n)
        return -1;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    wire_begin(w, sv[0], 0, 1, 1 << 20, 1 << 20);
    w->maxconns = 12;
    gotlen = 0;
    while (!w->ended && rc == 0) {
        /* 0 with the end read: the padding of the empty STDIN, which
         * libfcgi, at its EOF, would not have asked for */
        if ((r = OS_Read(sv[0], (char *)got + gotlen, per_read)) < 0 || (r == 0 && !w->ended))
            rc = -1;
        else
            gotlen += (size_t)r;
    }
    answerlen = 0;
    while ((r = read(sv[1], answer + answerlen, sizeof(answer) - answerlen)) > 0)
        answerlen += (size_t)r;
    wire_end(w);
    close(sv[0]);
    close(sv[1]);
    return rc;
}

/* Append to OUT (at *N) a record of TYPE for ID, padded to 8. */
static void
put(unsigned char *out, size_t *n, int type, int id, const char *content, size_t clen)
{
    *n += wire_mgmt_record(out + *n, type, id, (const unsigned char *)content, clen);
}

/* A whole request of id 1 for /x.lua with body "hi", in OUT. */
static size_t
plain_request(unsigned char *out)
{
    static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    static const char pair[] = "\x0f\x06SCRIPT_FILENAME/x.lua";
    size_t n = 0;

    put(out, &n, 1, 1, begin, 8);
    put(out, &n, 4, 1, pair, sizeof(pair) - 1);
    put(out, &n, 4, 1, "", 0);
    put(out, &n, 5, 1, "hi", 2);
    put(out, &n, 5, 1, "", 0);
    return n;
}

/* A request's first read, before libfcgi's: CLIENT (N bytes) sent, then
 * the client's end closed when SHUT; what wire_read_first() tells, and in
 * got what libfcgi's reads then give, to the request's end. */
static int
first(const unsigned char *client, size_t n, int shut)
{
    struct wire w;
    ssize_t r;
    int rc;

    gotlen = 0;
    answerlen = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || write(sv[1], client, n) != (ssize_t)n)
        return -3;
    if (shut)
        shutdown(sv[1], SHUT_WR);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    wire_begin(&w, sv[0], 0, 1, 1 << 20, 1 << 20);
    w.maxconns = 12;
    rc = wire_read_first(&w);
    while (rc == 0 && (!w.ended || w.first_at < w.first_len) &&
           (r = OS_Read(sv[0], (char *)got + gotlen, 8192)) > 0)
        gotlen += (size_t)r;
    while ((r = read(sv[1], answer + answerlen, sizeof(answer) - answerlen)) > 0)
        answerlen += (size_t)r;
    wire_end(&w);
    close(sv[0]);
    close(sv[1]);
    return rc;
}

static void
first_reads(void)
{
    static const char asked[] = "\x0e\x00" "FCGI_MAX_CONNS";
    unsigned char in[4096], plain[512];
    size_t n = 0, p = plain_request(plain);
    int i;

    put(in, &n, FCGI_GET_VALUES, 0, asked, sizeof(asked) - 1);
    ok(first(in, n, 0) == WIRE_MGMT_IDLE && answerlen > 8 && answer[1] == FCGI_GET_VALUES_RESULT,
       "first read: GET_VALUES then silence is answered, and the connection can wait parked");
    memcpy(in + n, plain, p);
    ok(first(in, n + p, 0) == 0 && got_bare(plain, p) &&
       answer[1] == FCGI_GET_VALUES_RESULT,
       "first read: GET_VALUES then a request: answered, and libfcgi reads the request alone");
    ok(first(plain, p, 0) == 0 && got_bare(plain, p) && answerlen == 0,
       "first read: a request is given whole to libfcgi's reads");
    ok(first(in, 0, 1) == -1, "first read: a connection closed with nothing sent must close");
    for (n = 0, i = 0; i <= WIRE_MGMT_RECORDS_MAX; i++)
        put(in, &n, FCGI_GET_VALUES, 0, asked, sizeof(asked) - 1);
    ok(first(in, n, 0) == -1, "first read: more than %d management records at once must close",
       WIRE_MGMT_RECORDS_MAX);
}

/* One request on sv[0] as the worker reads it: begun with CARRIED bytes
 * kept of the last one (wire_carry), its first read, then libfcgi's reads
 * into got to its end. 0 when it was read to its end; W is left begun. */
static int
next_request(struct wire *w, size_t carried)
{
    ssize_t r;

    wire_begin(w, sv[0], 0, 1, 1 << 20, 1 << 20);
    wire_carried(w, carried);
    w->maxconns = 12;
    gotlen = 0;
    if (wire_read_first(w) != 0)
        return -1;
    while ((!w->ended || w->first_at < w->first_len) &&
           (r = OS_Read(sv[0], (char *)got + gotlen, 8192)) > 0)
        gotlen += (size_t)r;
    return w->ended ? 0 : -1;
}

/* Requests pipelined: the bytes read past a request's end are the next
 * request's first read, whole or in part; what is not a request there is
 * refused as on a new connection. */
static void
pipelined(void)
{
    static struct wire w;       /* zeroed, as a worker's is */
    static const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    unsigned char in[2048];
    size_t p = plain_request(in), cut = 13, kept;

    memcpy(in + p, in, p);
    memcpy(in + 2 * p, in, cut);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || write(sv[1], in, 2 * p + cut) != (ssize_t)(2 * p + cut))
        return;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    ok(next_request(&w, 0) == 0 && got_bare(in, p) && wire_pipelined(&w) &&
       wire_carry(&w) == p + cut,
       "three requests in one write, the third cut: libfcgi reads the first alone, the rest is kept");
    kept = wire_carry(&w);
    wire_end(&w);
    ok(next_request(&w, kept) == 0 && got_bare(in, p) && wire_pipelined(&w) &&
       wire_carry(&w) == cut, "the next request reads them first: the second whole, the third's start kept");
    kept = wire_carry(&w);
    wire_end(&w);
    if (write(sv[1], in + cut, p - cut) != (ssize_t)(p - cut))
        return;
    ok(next_request(&w, kept) == 0 && got_bare(in, p) && !wire_pipelined(&w),
       "the third: its start kept, its rest read from the connection");
    wire_end(&w);
    if (write(sv[1], in, p) != (ssize_t)p || write(sv[1], garbage, sizeof(garbage) - 1) < 0)
        return;
    ok(next_request(&w, 0) == 0 && wire_pipelined(&w), "a request with garbage behind it is read");
    kept = wire_carry(&w);
    wire_end(&w);
    ok(next_request(&w, kept) == -1 && w.failed, "the garbage, read first for the next request, is refused");
    wire_end(&w);
    close(sv[0]);
    close(sv[1]);
}

/* A kept connection answered early: BEGIN, PARAMS and 1 KiB of body read
 * (as libfcgi would have), then BODY (N bytes) sent, then a drain. What
 * the drain tells; the connection is left in sv. */
static int
drained_early(struct wire *w, const unsigned char *body, size_t n)
{
    static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    static const char pair[] = "\x0f\x06SCRIPT_FILENAME/x.lua";
    static char kib[1024];
    unsigned char head[2048];
    size_t hn = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || write(sv[1], body, n) != (ssize_t)n)
        return -3;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    put(head, &hn, 1, 1, begin, 8);
    put(head, &hn, 4, 1, pair, sizeof(pair) - 1);
    put(head, &hn, 4, 1, "", 0);
    put(head, &hn, 5, 1, kib, sizeof(kib));
    wire_begin(w, sv[0], 0, 5, 1 << 20, 1 << 20);
    if (wire_feed(w, head, hn) < 0)
        return -4;
    return wire_drain(w, 1 << 20, 1);
}

/* The next round on the connection in sv: IN (N bytes) sent, a request's
 * first read, and in got what libfcgi's reads then give; the first read's
 * answer. W is left begun: the caller ends it. */
static int
next_round(struct wire *w, const unsigned char *in, size_t n)
{
    ssize_t r;
    int rc;

    gotlen = 0;
    if (n > 0 && write(sv[1], in, n) != (ssize_t)n)
        return -3;
    wire_begin(w, sv[0], 0, 5, 1 << 20, 1 << 20);
    rc = wire_read_first(w);
    while (rc == 0 && (!w->ended || w->first_at < w->first_len) &&
           (r = OS_Read(sv[0], (char *)got + gotlen, 8192)) > 0)
        gotlen += (size_t)r;
    return rc;
}

static void
close_pair(struct wire *w)
{
    wire_end(w);
    close(sv[0]);
    close(sv[1]);
}

/* The rest of a body answered early on a kept connection (wire_rest.c). */
static void
rests(void)
{
    static char piece[3000];
    unsigned char in[16384], plain[512];
    size_t n = 0, p = plain_request(plain);
    struct wire w;
    int fd;

    put(in, &n, 5, 1, piece, sizeof(piece));
    put(in, &n, 5, 1, piece, sizeof(piece));
    ok(drained_early(&w, in, n) == WIRE_PAUSED && !w.ended,
       "rest: the records there are drained; at a boundary with no more, the drain pauses");
    wire_end(&w);

    /* the server goes on with the rest, then its next request */
    n = 0;
    put(in, &n, 5, 1, piece, sizeof(piece));
    put(in, &n, 5, 1, "", 0);
    memcpy(in + n, plain, p);
    ok(next_round(&w, in, n + p) == 0 && got_bare(plain, p) &&
       wire_can_keep(&w), "rest: its records are dropped; libfcgi reads the next request alone");
    close_pair(&w);

    /* the server stopped the body at the answer: its next request alone */
    ok(drained_early(&w, in, 0) == WIRE_PAUSED, "rest: nothing more sent: paused at once");
    wire_end(&w);
    ok(next_round(&w, plain, p) == 0 && got_bare(plain, p) && w.rest_id == 0,
       "rest: a BEGIN_REQUEST instead of the rest ends it; the request is read whole");
    close_pair(&w);

    /* the rest alone, in a round: dropped, and the connection waits again */
    ok(drained_early(&w, in, 0) == WIRE_PAUSED, "rest: paused again");
    wire_end(&w);
    n = 0;
    put(in, &n, 5, 1, piece, sizeof(piece));
    ok(next_round(&w, in, n) == WIRE_MGMT_IDLE,
       "rest: a round that brings only records of the rest waits parked again");
    wire_end(&w);
    wire_begin(&w, sv[0], 0, 5, 1 << 20, 1 << 20);
    ok(w.rest_id == 1, "rest: and still remembers it");
    wire_end(&w);

    /* records of another id where the rest may come: refused */
    n = 0;
    put(in, &n, 5, 2, piece, 8);
    ok(next_round(&w, in, n) < 0 && w.failed, "rest: STDIN of another id is refused");
    close_pair(&w);

    /* more of the rest than the request had left to send: refused */
    ok(drained_early(&w, in, 0) == WIRE_PAUSED, "rest: paused");
    w.rest_left = 100;
    ok(wire_rest_keep(&w) == 0, "rest: kept with 100 bytes left");
    wire_end(&w);
    n = 0;
    put(in, &n, 5, 1, piece, 200);
    ok(next_round(&w, in, n) < 0 && w.failed, "rest: records past what it had left are refused");
    close_pair(&w);

    /* a descriptor reused for a new connection does not inherit it */
    ok(drained_early(&w, in, 0) == WIRE_PAUSED, "rest: paused, then the connection closed");
    fd = sv[0];
    close_pair(&w);
    ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && sv[0] == fd, "a new connection on fd %d", fd);
    wire_begin(&w, sv[0], 0, 5, 1 << 20, 1 << 20);
    ok(w.rest_id == 0, "rest: a new connection on the same descriptor starts clean");
    close_pair(&w);

    /* past its clock: a BEGIN_REQUEST is served, the rest's records are not */
    ok(drained_early(&w, in, 0) == WIRE_PAUSED, "rest: paused");
    w.deadline = monoclock_ms() - 1;
    ok(wire_rest_keep(&w) == 0, "rest: kept with its clock run out");
    wire_end(&w);
    ok(next_round(&w, plain, p) == 0 && w.rest_id == 0 && got_bare(plain, p),
       "rest: past its clock, the next request is read on its own");
    close_pair(&w);
    ok(drained_early(&w, in, 0) == WIRE_PAUSED, "rest: paused");
    w.deadline = monoclock_ms() - 1;
    wire_rest_keep(&w);
    wire_end(&w);
    n = 0;
    put(in, &n, 5, 1, piece, 8);
    ok(next_round(&w, in, n) < 0 && w.failed, "rest: past its clock, its records are refused");
    close_pair(&w);
}

static void
values(void)
{
    static const unsigned char asked[] =
        "\x0e\x00" "FCGI_MAX_CONNS" "\x0f\x00" "FCGI_MPXS_CONNS" "\x05\x00" "OTHER"
        "\x0d\x00" "FCGI_MAX_REQS" "\x0e\x00" "FCGI_MAX_CONNS";
    static const unsigned char want[] =
        "\x0e\x02" "FCGI_MAX_CONNS" "12" "\x0f\x01" "FCGI_MPXS_CONNS" "0"
        "\x0d\x02" "FCGI_MAX_REQS" "12";
    static const unsigned char long_name[] = "\x80\x00\x00\x0d\x00" "FCGI_MAX_REQS";
    static const unsigned char cut_length[] = "\x0e";
    static const unsigned char cut_name[] = "\x0e\x00" "FCGI_MAX";
    static const unsigned char cut_long[] = "\x80\x00\x0d";
    unsigned char out[WIRE_MGMT_MAX];
    int n;

    n = wire_mgmt_values(asked, sizeof(asked) - 1, 12, out, sizeof(out));
    ok(n == (int)sizeof(want) - 1 && memcmp(out, want, sizeof(want) - 1) == 0,
       "GET_VALUES: the names asked that we know, each once, in the order asked");
    n = wire_mgmt_values(long_name, sizeof(long_name) - 1, 3, out, sizeof(out));
    ok(n == 16 && memcmp(out, "\x0d\x01" "FCGI_MAX_REQS" "3", 16) == 0,
       "GET_VALUES: a name with a four-byte length");
    ok(wire_mgmt_values((const unsigned char *)"", 0, 3, out, sizeof(out)) == 0,
       "GET_VALUES: nothing asked, nothing answered");
    ok(wire_mgmt_values(cut_length, 1, 3, out, sizeof(out)) < 0 &&
       wire_mgmt_values(cut_name, sizeof(cut_name) - 1, 3, out, sizeof(out)) < 0 &&
       wire_mgmt_values(cut_long, sizeof(cut_long) - 1, 3, out, sizeof(out)) < 0,
       "GET_VALUES: pairs cut short are malformed");
}

/* What the dispatcher answers itself: whole management records alone. */
static void
answered_alone(void)
{
    static const char asked[] = "\x0e\x00" "FCGI_MAX_CONNS";
    static const char bad[] = "\x0e";
    unsigned char in[4096], out[16 * 528], want[256];
    size_t n = 0, wn = 0, i;
    ssize_t got_len;

    put(in, &n, FCGI_GET_VALUES, 0, asked, sizeof(asked) - 1);
    put(in, &n, 77, 0, "x", 1);
    put(want, &wn, FCGI_GET_VALUES_RESULT, 0, "\x0e\x02" "FCGI_MAX_CONNS" "12", 18);
    wn += wire_mgmt_unknown(want + wn, 77);
    got_len = wire_mgmt_answer(in, n, 12, out, sizeof(out));
    ok(got_len == (ssize_t)wn && memcmp(out, want, wn) == 0,
       "alone: GET_VALUES answered, an unknown type gets FCGI_UNKNOWN_TYPE, in order");
    ok(wire_mgmt_answer(in, n - 1, 12, out, sizeof(out)) < 0, "alone: a record cut short is not answered");
    ok(wire_mgmt_answer(in, n, 12, out, 100) < 0, "alone: answers that may not fit are not given");
    n = 0;
    put(in, &n, FCGI_GET_VALUES, 0, bad, sizeof(bad) - 1);
    ok(wire_mgmt_answer(in, n, 12, out, sizeof(out)) < 0, "alone: malformed pairs are a worker's to refuse");
    n = 0;
    put(in, &n, FCGI_GET_VALUES, 1, asked, sizeof(asked) - 1);
    ok(wire_mgmt_answer(in, n, 12, out, sizeof(out)) < 0, "alone: a request's record is not answered");
    for (n = 0, i = 0; i <= WIRE_MGMT_RECORDS_MAX; i++)
        put(in, &n, FCGI_GET_VALUES, 0, asked, sizeof(asked) - 1);
    ok(wire_mgmt_answer(in, n, 12, out, sizeof(out)) < 0, "alone: more records than a round's are a worker's to refuse");
}

static void
answered(void)
{
    static const char begin2[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    static const char asked[] = "\x0e\x00" "FCGI_MAX_CONNS" "\x0e\x00" "FCGI_MAX_CONNS"
                                "\x0e\x00" "FCGI_MAX_CONNS" "\x0e\x00" "FCGI_MAX_CONNS";
    static const char huge[] = "\xc0\x00\x00\x00\xc0\x00\x00\x00" "xxxxxxxxxxxxxxxx";
    static unsigned char in[8192], plain[1024], want[256];
    size_t n, pn, wn, per, i;
    struct wire w;
    int all;

    pn = plain_request(plain);

    /* HAProxy's option get-values: GET_VALUES first, then the request */
    for (per = 9, all = 1; per <= 64; per++) {
        n = 0;
        put(in, &n, FCGI_GET_VALUES, 0, asked, sizeof(asked) - 1);
        memcpy(in + n, plain, pn);
        n += pn;
        wn = 0;
        put(want, &wn, FCGI_GET_VALUES_RESULT, 0, "\x0e\x02" "FCGI_MAX_CONNS" "12", 18);
        all &= through(&w, in, n, per) == 0 && got_bare(plain, pn) &&
               answerlen == wn && memcmp(answer, want, wn) == 0;
    }
    ok(all, "GET_VALUES (a name repeated, libfcgi's overflow) is answered once by the layer, "
       "libfcgi sees only the request, whatever the reads' sizes");

    /* an unknown management type inside PARAMS: answered, not passed on */
    for (per = 9, all = 1; per <= 64; per++) {
        n = 0;
        put(in, &n, 1, 1, begin2, 8);
        put(in, &n, 11, 0, huge, sizeof(huge) - 1);
        memcpy(in + n, plain + 16, pn - 16);
        n += pn - 16;
        wn = 0;
        put(want, &wn, FCGI_UNKNOWN_TYPE, 0, "\x0b\0\0\0\0\0\0\0", 8);
        all &= through(&w, in, n, per) == 0 && got_bare(plain, pn) &&
               answerlen == wn && memcmp(answer, want, wn) == 0;
    }
    ok(all, "an id-0 record of unknown type gets FCGI_UNKNOWN_TYPE; its content never reaches "
       "libfcgi");

    /* a second request id while one is read: FCGI_CANT_MPX_CONN, its records dropped */
    for (per = 9, all = 1; per <= 64; per++) {
        n = 0;
        put(in, &n, 1, 1, begin2, 8);
        put(in, &n, 1, 2, begin2, 8);
        put(in, &n, 4, 2, "\x01\x01XY", 4);
        memcpy(in + n, plain + 16, 32);         /* id 1's pair and empty PARAMS */
        n += 32;
        put(in, &n, 4, 2, "", 0);
        put(in, &n, 5, 2, "ab", 2);
        put(in, &n, 2, 2, "", 0);
        memcpy(in + n, plain + 48, pn - 48);    /* id 1's body and its end */
        n += pn - 48;
        wn = 0;
        put(want, &wn, 3, 2, "\0\0\0\0\x01\0\0\0", 8);
        i = through(&w, in, n, per) == 0;
        all &= i && got_bare(plain, pn) && answerlen == wn &&
               memcmp(answer, want, wn) == 0 && wire_can_keep(&w);
    }
    ok(all, "a second request id gets FCGI_END_REQUEST with FCGI_CANT_MPX_CONN; the first "
       "request reads whole and can be kept");

    n = 0;
    put(in, &n, FCGI_GET_VALUES, 0, "\x0e\x05" "FCGI_MAX_CONNS", 16);
    memcpy(in + n, plain, pn);
    n += pn;
    ok(through(&w, in, n, 4096) < 0 && w.failed && answerlen == 0,
       "GET_VALUES with a pair cut short: refused, unanswered");

    for (n = 0, i = 0; i < WIRE_MGMT_RECORDS_MAX; i++)
        put(in, &n, 12, 0, "", 0);
    memcpy(in + n, plain, pn);
    ok(through(&w, in, n + pn, 4096) == 0 && answerlen == (size_t)16 * WIRE_MGMT_RECORDS_MAX,
       "%d management records before a request are answered", WIRE_MGMT_RECORDS_MAX);
    put(in, &n, 12, 0, "", 0);
    memcpy(in + n, plain, pn);
    ok(through(&w, in, n + pn, 4096) < 0 && w.failed,
       "one more is a flood: refused, the connection closed");

    n = 0;
    in[0] = 1, in[1] = FCGI_GET_VALUES, in[2] = 0, in[3] = 0;
    in[4] = (WIRE_MGMT_MAX + 8) >> 8, in[5] = (WIRE_MGMT_MAX + 8) & 0xff, in[6] = 0, in[7] = 0;
    memset(in + 8, 'x', WIRE_MGMT_MAX + 8);
    ok(through(&w, in, WIRE_MGMT_MAX + 16, 4096) < 0 && w.failed && answerlen == 0,
       "GET_VALUES over %d bytes: refused", WIRE_MGMT_MAX);
}

/* Padding (1 to 255 bytes) on any record, or on all: libfcgi gets each
 * header with padding 0 and none of its bytes, whatever the reads' sizes.
 * libfcgi 2.4 would take the padding of the BEGIN_REQUEST or of the empty
 * PARAMS for the next header (SetReaderType forgets it): the parameters
 * lost, or the body. A drain reads the padding of the end to the end. */
static void
padded(void)
{
    static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    static const char pair[] = "\x0f\x06SCRIPT_FILENAME/x.lua";
    static const int pads[] = { 1, 8, 255 };
    static const size_t pers[] = { 9, 10, 13, 64, 4096 };
    unsigned char body[512];
    size_t i, k, j, n;
    struct wire w;
    int all = 1, pad;

    for (i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
        for (k = 0; k <= 5; k++) {      /* the record padded; 5: every one */
            pad = pads[i];
            len = 0;
            record(1, 1, begin, 8, k == 0 || k == 5 ? pad : 0);
            record(4, 1, pair, sizeof(pair) - 1, k == 1 || k == 5 ? pad : 0);
            record(4, 1, "", 0, k == 2 || k == 5 ? pad : 0);
            record(5, 1, "hi", 2, k == 3 || k == 5 ? pad : 0);
            record(5, 1, "", 0, k == 4 || k == 5 ? pad : 0);
            for (j = 0; j < sizeof(pers) / sizeof(pers[0]); j++)
                all &= through(&w, msg, len, pers[j]) == 0 && got_bare(msg, len) &&
                       wire_can_keep(&w);
        }
    }
    ok(all, "padding on any record (1, 8, 255 bytes): libfcgi gets the records without it");

    n = 0;
    put(body, &n, 5, 1, "rest", 4);
    memcpy(body + n, "\x01\x05\x00\x01\x00\x00\xff\x00", 8);
    memset(body + n + 8, 0, 255);
    n += 8 + 255;
    ok(drained_early(&w, body, n) == WIRE_DRAINED && wire_can_keep(&w),
       "a drain reads an empty STDIN padded with 255 bytes to the request's end");
    close_pair(&w);
}

/* While an answer's body is put (wire_hold), libfcgi's writes are held,
 * and go out with the next write that is not, all of them and in order. */
static void
held_writes(void)
{
    static struct wire w;
    static char heard[65536];
    char chunk[8192];
    ssize_t n;
    int pair[2], i, in_order = 1;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0 || fcntl(pair[0], F_SETFL, O_NONBLOCK) < 0) {
        ok(0, "socketpair for the held writes");
        return;
    }
    wire_begin(&w, pair[0], 1, 0, 1024, 0);
    wire_hold(&w, 1);
    for (i = 0; i < 3; i++) {
        memset(chunk, 'a' + i, sizeof(chunk));
        if (OS_Write(pair[0], chunk, sizeof(chunk)) != (int)sizeof(chunk))
            in_order = 0;
    }
    ok(in_order, "held writes of 8 kB each are taken whole");
    n = recv(pair[1], heard, sizeof(heard), MSG_DONTWAIT);
    ok(n < 0 && errno == EAGAIN, "and nothing is sent while they are held");
    wire_hold(&w, 0);
    ok(OS_Write(pair[0], "end", 3) == 3, "the next write, not held, is taken");
    n = recv(pair[1], heard, sizeof(heard), MSG_DONTWAIT);
    for (i = 0; i < 3 * 8192 && n == 3 * 8192 + 3; i++)
        if (heard[i] != 'a' + i / 8192)
            in_order = 0;
    ok(n == 3 * 8192 + 3 && in_order && memcmp(heard + (size_t)3 * 8192, "end", 3) == 0,
       "and out go the held bytes, then its own, in order (%zd bytes)", n);
    ok(OS_Write(pair[0], "more", 4) == 4 && recv(pair[1], heard, sizeof(heard), MSG_DONTWAIT) == 4,
       "nothing held: a write goes straight out");
    wire_end(&w);
    wire_free(&w);
    close(pair[0]);
    close(pair[1]);
}

int
main(void)
{
    struct wire w;
    size_t i;

    request("hello");
    start(&w, 1024);
    ok(wire_feed(&w, msg, len) == 0 && w.ended && !w.past_end, "a whole request in one read ends it");
    ok(wire_can_keep(&w), "and its connection can be kept");

    start(&w, 1024);
    for (i = 0; i + 1 < len; i++)
        wire_feed(&w, msg + i, 1);
    ok(!w.ended, "one byte short of the empty STDIN record, the request has not ended");
    wire_feed(&w, msg + i, 1);
    ok(w.ended && wire_can_keep(&w), "byte by byte, its last byte ends it");

    start(&w, 1024);
    wire_feed(&w, msg, len - 8);
    ok(!w.ended && !wire_can_keep(&w), "without the empty STDIN record it has not ended");

    /* body bytes that look like an empty STDIN record are content, not framing */
    request("\x01\x05\x00\x01\x00\x00\x00\x00");
    start(&w, 1024);
    wire_feed(&w, msg, len - 8);
    ok(!w.ended, "a forged empty STDIN record inside the body does not end the request");

    request("x");
    memcpy(msg + len, msg, len);
    start(&w, 1024);
    wire_feed(&w, msg, len * 2);
    ok(w.ended && w.past_end && !wire_can_keep(&w), "bytes read past the end: not kept");

    /* another request id's empty STDIN does not end ours: it is refused */
    request("");
    len -= 8;
    record(5, 2, "", 0, 0);
    start(&w, 1024);
    ok(wire_feed(&w, msg, len) < 0 && w.failed && !w.ended,
       "another request's empty STDIN record does not end this one: it is refused");

    /* padding after the empty STDIN belongs to the request */
    request("");
    msg[len - 2] = 4;
    memset(msg + len, 0, 4);
    start(&w, 1024);
    wire_feed(&w, msg, len);
    ok(!w.ended, "an empty STDIN record with padding ends only after its padding");
    wire_feed(&w, msg + len, 4);
    ok(w.ended && !w.past_end, "and then exactly");

    /* maxparams: the records' content */
    {
        static char big[2000];
        static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
        len = 0;
        record(1, 1, begin, 8, 0);
        big[0] = 3;
        big[1] = 0x7f;
        record(4, 1, big, 130, 6);
        start(&w, 1024);
        ok(wire_feed(&w, msg, len) == 0 && !w.failed, "params under maxparams pass");
        record(4, 1, big, sizeof(big), 0);
        ok(wire_feed(&w, msg + len - sizeof(big) - 8, sizeof(big) + 8) < 0 && w.failed,
           "params over maxparams in all fail");
    }

    /* maxparams: a declared length, before its bytes come */
    {
        static const char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
        static const char huge[] = "\x04\x89\x60\x00\x00HUGE";    /* 150 MiB */
        len = 0;
        record(1, 1, begin, 8, 0);
        record(4, 1, huge, sizeof(huge) - 1, 0);
        start(&w, (size_t)1024 * 1024);
        ok(wire_feed(&w, msg, len) < 0 && w.failed,
           "a parameter declaring 150 MiB fails as soon as its length is read");
    }
    sequences();
    splits();
    random_splits();
    costs();
    values();
    answered();
    answered_alone();
    first_reads();
    pipelined();
    rests();
    padded();
    FCGX_Init();
    ok(wire_check() == 0, "libfcgi reads through the record layer (OS_Read is interposed)");
    held_writes();
    return done_testing();
}
