/* The record layer's framing: where a request ends, and maxparams. */
#include <stdio.h>
#include <string.h>

#include <fcgiapp.h>

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

    /* another request id's empty STDIN does not end ours */
    request("");
    len -= 8;
    record(5, 2, "", 0, 0);
    start(&w, 1024);
    wire_feed(&w, msg, len);
    ok(!w.ended, "another request's empty STDIN record does not end this one");

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
    FCGX_Init();
    ok(wire_check() == 0, "libfcgi reads through the record layer (OS_Read is interposed)");
    return done_testing();
}
