/* The record layer's framing: where a request ends, and maxparams. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>

#include "pool.h"
#include "wire.h"
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

    start(&w, 1024 * 1024);
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
        record(r[0], r[1], r[0] == 1 ? begin : body, (size_t)r[2], r[2] % 8 ? 8 - r[2] % 8 : 0);
        if (r[3] != 0)
            msg[at] = (unsigned char)r[3];
    }
    start(&w, 1024 * 1024);
    ok(wire_feed(&w, msg, len) < 0 && w.failed, "refused: %s", q->what);
}

static void
sequences(void)
{
    /* the reviewer's byte strings: what libfcgi 2.4.2 mis-parses */
    static const unsigned char get_values[] =
        "\x01\x09\x00\x00\x00\x40\x00\x00"
        "\x0e\x00" "FCGI_MAX_CONNS" "\x0e\x00" "FCGI_MAX_CONNS"
        "\x0e\x00" "FCGI_MAX_CONNS" "\x0e\x00" "FCGI_MAX_CONNS" "x";
    static const unsigned char unknown_type[] =
        "\x01\x01\x00\x01\x00\x08\x00\x00" "\x00\x01\x00\x00\x00\x00\x00\x00"
        "\x01\x0b\x00\x00\x00\x18\x00\x00" "\xc0\x00\x00\x00\xc0\x00\x00\x00"
        "xxxxxxxxxxxxxxxx" "\x01\x04\x00\x01\x00\x00\x00\x00";
    static const unsigned char skip_desync[] =
        "\x01\x01\x00\x01\x00\x08\x00\x00" "\x00\x01\x00\x00\x00\x00\x00\x00"
        "\x01\x04\x00\x02\x00\x00\x00\x00";
    static const struct seq table[] = {
        { "a management record first (id 0)",      { { 9, 0, 0, 0 } } },
        { "a management record after BEGIN",       { { 1, 1, 8, 0 }, { 9, 0, 16, 0 } } },
        { "an unknown type with id 0",             { { 1, 1, 8, 0 }, { 11, 0, 24, 0 } } },
        { "an unknown type with the request's id", { { 1, 1, 8, 0 }, { 11, 1, 8, 0 } } },
        { "PARAMS of another id",                  { { 1, 1, 8, 0 }, { 4, 2, 8, 0 } } },
        { "an empty PARAMS of another id",         { { 1, 1, 8, 0 }, { 4, 2, 0, 0 } } },
        { "STDIN of another id",                   { { 1, 1, 8, 0 }, { 4, 1, 0, 0 }, { 5, 3, 0, 0 } } },
        { "a second BEGIN_REQUEST",                { { 1, 1, 8, 0 }, { 1, 2, 8, 0 } } },
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

    ok(feed_raw(get_values, sizeof(get_values) - 1) < 0,
       "FCGI_GET_VALUES with repeated names (libfcgi's stack overflow) is refused");
    ok(feed_raw(unknown_type, sizeof(unknown_type) - 1) < 0,
       "an id-0 record of unknown type inside PARAMS (libfcgi passes it on) is refused");
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
    start(&w, 1024 * 1024);
    wire_feed(&w, msg, len);
    for (i = 0; i < 16 && !w.failed; i++) {
        len = 0;
        record(4, 1, empty, sizeof(empty), 0);      /* 32764 empty pairs */
        wire_feed(&w, msg, len);
    }
    ok(w.failed && w.params < 1024 * 1024,
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
    ok(w.failed && w.total > 4096 + 1024 && w.total < 4 * 32776,
       "a body past maxparams + maxpost + framing fails the read (at %zu bytes)", w.total);
    wire_end(&w);

    wire_begin(&w, -1, 0, 2, 1024, 1024);
    wire_pause(&w);
    w.paused_left = -5;          /* as if the clock ran out while paused */
    wire_resume(&w);
    ok(w.deadline > 0 && w.deadline <= pool_now_ms(), "a clock run out stays run out");
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
        start(&w, 1024 * 1024);
        ok(wire_feed(&w, msg, len) < 0 && w.failed,
           "a parameter declaring 150 MiB fails as soon as its length is read");
    }
    sequences();
    costs();
    FCGX_Init();
    ok(wire_check() == 0, "libfcgi reads through the record layer (OS_Read is interposed)");
    return done_testing();
}
