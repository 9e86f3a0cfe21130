/* test_peek.c: finding a parameter in FastCGI records without reading them. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "wire.h"
#include "fcgi_peek.h"

/* A record of TYPE with CONTENT and some padding, at OUT; its length. */
static size_t
record(unsigned char *out, int type, const char *content, size_t clen, int pad)
{
    out[0] = 1;
    out[1] = (unsigned char)type;
    out[2] = 0;
    out[3] = 1;
    out[4] = (unsigned char)(clen >> 8);
    out[5] = (unsigned char)clen;
    out[6] = (unsigned char)pad;
    out[7] = 0;
    memcpy(out + 8, content, clen);
    memset(out + 8 + clen, 0, (size_t)pad);
    return 8 + clen + (size_t)pad;
}

/* A record of TYPE for request ID with CONTENT, no padding, at OUT; its length. */
static size_t
record_of(unsigned char *out, int type, int id, const char *content, size_t clen)
{
    size_t n = record(out, type, content, clen, 0);

    out[2] = (unsigned char)(id >> 8);
    out[3] = (unsigned char)id;
    return n;
}

/* Name-value pairs, short lengths. */
static size_t
pair(char *out, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);

    out[0] = (char)n;
    out[1] = (char)v;
    memcpy(out + 2, name, n);
    memcpy(out + 2 + n, value, v);
    return 2 + n + v;
}

int
main(void)
{
    unsigned char wire[4096];
    char params[1024], out[64];
    size_t len = 0, plen = 0;
    int sv[2];

    len += record(wire, 1, "\0\1\0\0\0\0\0\0", 8, 0);
    plen += pair(params + plen, "REQUEST_METHOD", "GET");
    plen += pair(params + plen, "SCRIPT_NAME", "/status");
    /* split across two PARAMS records, mid-pair */
    len += record(wire + len, 4, params, 10, 6);
    len += record(wire + len, 4, params + 10, plen - 10, 3);
    len += record(wire + len, 4, "", 0, 0);
    ok(fcgi_find_param(wire, len, "SCRIPT_NAME", out, sizeof(out)) == FCGI_PEEK_FOUND_LATER,
       "found, but not whole before the request's end: its reader would wait");
    is_str(out, "/status", "its value already");
    ok(fcgi_find_param(wire, 8 + 8 + 8 + 10, "SCRIPT_NAME", out, sizeof(out)) == FCGI_PEEK_LATER,
       "params still coming: look again later");
    len += record(wire + len, 5, "", 0, 0);

    ok(fcgi_find_param(wire, len, "SCRIPT_NAME", out, sizeof(out)) == FCGI_PEEK_FOUND, "found across records");
    is_str(out, "/status", "its value");
    ok(fcgi_find_param(wire, len, "SCRIPT_FILENAME", out, sizeof(out)) == 0, "an absent name is not found");
    ok(fcgi_find_param(wire, len - 20, "SCRIPT_NAME", out, sizeof(out)) == FCGI_PEEK_LATER,
       "a value not all read yet is one to look at again");
    ok(fcgi_find_param(wire, 5, "SCRIPT_NAME", out, sizeof(out)) == FCGI_PEEK_LATER, "half a header: look again");
    ok(fcgi_find_param(wire, len, "SCRIPT_NAME", out, 4) == FCGI_PEEK_NONE,
       "a value longer than the room is not cut");
    wire[8 + 8 + 8] = 0x7f;     /* the first name length, past the end */
    ok(fcgi_find_param(wire, len, "SCRIPT_NAME", out, sizeof(out)) == 0, "a length past the data is refused");
    wire[8 + 8 + 8] = 14;

    /* a pair named "SCRIPT_NAME=/x" last: libfcgi's string is
     * "SCRIPT_NAME=/x=", which the request reads as the value "/x=" (the
     * last of a name wins) */
    {
        unsigned char w2[512];
        char p2[256];
        size_t l2 = 0, n2 = 0;
        l2 += record(w2, 1, "\0\1\0\0\0\0\0\0", 8, 0);
        n2 += pair(p2 + n2, "SCRIPT_NAME", "/ping");
        n2 += pair(p2 + n2, "SCRIPT_NAME=/x", "");
        l2 += record(w2 + l2, 4, p2, n2, 0);
        l2 += record(w2 + l2, 4, "", 0, 0);
        l2 += record(w2 + l2, 5, "", 0, 0);
        ok(fcgi_find_param(w2, l2, "SCRIPT_NAME", out, sizeof(out)) == FCGI_PEEK_FOUND,
           "a name that starts with NAME=");
        is_str(out, "/x=", "is read as the request reads it");
    }

    {
        unsigned char big[FCGI_PEEK_MAX];
        memset(big, 0, sizeof(big));
        memcpy(big, wire, 16 + 8);
        big[16 + 4] = 0xff;     /* params longer than is looked at */
        big[16 + 5] = 0xff;
        ok(fcgi_find_param(big, sizeof(big), "SCRIPT_NAME", out, sizeof(out)) == FCGI_PEEK_NONE,
           "a request past FCGI_PEEK_MAX is a worker's");
    }

    /* is the request whole? (dispatch_whole.c) */
    {
        unsigned char w3[512], buf[64];
        size_t l3 = 0, body, got = 0;
        l3 += record(w3, 1, "\0\1\0\0\0\0\0\0", 8, 0);
        l3 += record(w3 + l3, 4, params, plen, 2);
        l3 += record(w3 + l3, 4, "", 0, 0);
        body = l3;
        l3 += record(w3 + l3, 5, "abc", 3, 5);
        l3 += record(w3 + l3, 5, "", 0, 0);
        ok(fcgi_request_whole(w3, l3, sizeof(w3), 32) == FCGI_WHOLE_YES, "whole through its empty STDIN");
        ok(fcgi_request_whole(w3, l3 - 1, sizeof(w3), 32) == FCGI_WHOLE_NOT_YET, "its last byte missing: not yet");
        ok(fcgi_request_whole(w3, l3 - 1, sizeof(w3), 3) == FCGI_WHOLE_UNKNOWN,
           "as many records as are looked at, without the end: a worker's");
        ok(fcgi_request_whole(w3, body + 4, sizeof(w3), 32) == FCGI_WHOLE_NOT_YET, "params whole, body cut: not yet");
        ok(fcgi_request_whole(w3, 20, sizeof(w3), 32) == FCGI_WHOLE_NOT_YET, "params cut: not yet");
        ok(fcgi_request_whole(w3, 1, sizeof(w3), 32) == FCGI_WHOLE_NOT_YET, "one byte of a header: not yet");
        ok(fcgi_request_whole(w3, body + 4, body + 4, 32) == FCGI_WHOLE_UNKNOWN,
           "cut where the bytes looked at end: too big to tell, a worker's");
        ok(fcgi_request_whole((const unsigned char *)"x", 1, sizeof(w3), 32) == FCGI_WHOLE_UNKNOWN,
           "a first byte that is no version: a worker's at once");
        ok(fcgi_request_whole((const unsigned char *)"\1\x09\0", 3, sizeof(w3), 32) == FCGI_WHOLE_NOT_YET,
           "a management record's header cut short: not yet");
        ok(fcgi_request_whole((const unsigned char *)"\1\x0c\0\1", 4, sizeof(w3), 32) == FCGI_WHOLE_NOT_YET,
           "a header cut short whose id says it is a request's, of a type no request starts with: not yet "
           "(a worker would wait for the rest of it too)");
        ok(fcgi_request_whole((const unsigned char *)"\1\x0c\0\1\0\0\0\0", 8, sizeof(w3), 32) == FCGI_WHOLE_UNKNOWN,
           "whole: a worker's, to refuse at once");
        {
            unsigned char m[600];
            size_t ml = record(m, 9, "\x0e\0FCGI_MAX_CONNS", 16, 0);
            m[2] = m[3] = 0;                    /* request id 0: a management record */
            ok(fcgi_request_whole(m, ml, sizeof(m), 32) == FCGI_WHOLE_MGMT,
               "a management record alone, whole: the dispatcher answers it");
            ok(fcgi_request_whole(m, ml - 1, sizeof(m), 32) == FCGI_WHOLE_NOT_YET,
               "a management record cut short: not yet");
            memcpy(m + ml, w3, l3);
            ok(fcgi_request_whole(m, ml + l3, sizeof(m), 32) == FCGI_WHOLE_YES,
               "a management record, then a whole request: whole");
            ok(fcgi_request_whole(m, ml + 20, sizeof(m), 32) == FCGI_WHOLE_NOT_YET,
               "a management record, then a request cut short: not yet");
            ok(fcgi_mgmt_lead(m, ml + 20) == ml && fcgi_mgmt_lead(m, ml) == ml && fcgi_mgmt_lead(m, ml - 1) == 0 &&
               fcgi_mgmt_lead(w3, l3) == 0, "the whole management records a connection begins with");
            {
                /* every cut, the BEGIN_REQUEST's own body among them */
                size_t cut, wrong = 0, wrong_m = 0;
                for (cut = 1; cut < l3; cut++)
                    wrong += fcgi_request_whole(w3, cut, sizeof(w3), 32) != FCGI_WHOLE_NOT_YET;
                for (cut = 1; cut < ml + l3; cut++)
                    wrong_m += fcgi_request_whole(m, cut, sizeof(m), 32) !=
                               (cut == ml ? FCGI_WHOLE_MGMT : FCGI_WHOLE_NOT_YET);
                ok(wrong == 0, "a request cut anywhere: not yet");
                ok(wrong_m == 0, "a management record and a request, cut anywhere: not yet (whole after the record)");
            }
            memcpy(m, w3, body);                /* one inside the request, before its body */
            ml = body + record(m + body, 9, "\x0e\0FCGI_MAX_CONNS", 16, 0);
            m[body + 2] = m[body + 3] = 0;
            memcpy(m + ml, w3 + body, l3 - body);
            ok(fcgi_request_whole(m, ml + l3 - body, sizeof(m), 32) == FCGI_WHOLE_YES,
               "a management record among the request's records: whole, a worker answers it");
            ok(fcgi_request_whole(m, ml - 2, sizeof(m), 32) == FCGI_WHOLE_NOT_YET,
               "cut short there: not yet");
            ok(fcgi_request_whole(m, ml + 20, sizeof(m), 32) == FCGI_WHOLE_NOT_YET,
               "whole, and the request cut short after it: not yet");
            m[body + 1] = 5;                    /* an empty STDIN, but of id 0: not the request's end */
            m[body + 4] = m[body + 5] = m[body + 6] = 0;
            ok(fcgi_request_whole(m, body + 8, sizeof(m), 32) == FCGI_WHOLE_NOT_YET,
               "an empty STDIN of id 0 among the request's records does not end it");
        }
        w3[body + 3] = 2;       /* STDIN of another request id */
        ok(fcgi_request_whole(w3, l3, sizeof(w3), 32) == FCGI_WHOLE_UNKNOWN, "another id's records: a worker's");
        w3[body + 3] = 1;
        w3[body + 1] = 12;      /* a management record inside the request */
        ok(fcgi_request_whole(w3, l3, sizeof(w3), 32) == FCGI_WHOLE_UNKNOWN, "a record of another type: a worker's");
        w3[body + 1] = 5;
        {
            /* what a worker refuses or drops, as its record layer does */
            static const char begin[8] = { 0, 1, 1 };
            static unsigned char x[4096];
            char big[600];
            size_t n = record_of(x, 1, 1, begin, 8), at;
            int i;

            memset(big, 0, sizeof(big));
            at = n + record_of(x + n, 1, 2, begin, 8);
            ok(fcgi_request_whole(x, at, sizeof(x), 32) == FCGI_WHOLE_NOT_YET,
               "another request begun (refused, FCGI_CANT_MPX_CONN): not yet");
            at += record_of(x + at, 4, 2, "", 0);
            at += record_of(x + at, 4, 1, "", 0);
            at += record_of(x + at, 5, 2, "", 0);
            ok(fcgi_request_whole(x, at, sizeof(x), 32) == FCGI_WHOLE_NOT_YET,
               "its records are dropped, its empty STDIN ends nothing: not yet");
            at += record_of(x + at, 5, 1, "", 0);
            ok(fcgi_request_whole(x, at, sizeof(x), 32) == FCGI_WHOLE_YES, "the request's own end: whole");
            at = n + record_of(x + n, 1, 2, begin, 8);
            at += record_of(x + at, 1, 2, begin, 8);
            ok(fcgi_request_whole(x, at, sizeof(x), 32) == FCGI_WHOLE_UNKNOWN,
               "another request begun twice: a worker's, to refuse at once");
            for (at = n, i = 2; i <= 2 + WIRE_REJECTED_MAX; i++)
                at += record_of(x + at, 1, i, begin, 8);
            ok(fcgi_request_whole(x, at, sizeof(x), 32) == FCGI_WHOLE_UNKNOWN,
               "more other requests than a worker refuses: a worker's");
            for (at = n, i = 0; i < WIRE_MGMT_RECORDS_MAX; i++)
                at += record_of(x + at, 12, 0, "", 0);
            ok(fcgi_request_whole(x, at, sizeof(x), 32) == FCGI_WHOLE_NOT_YET,
               "as many management records as a worker answers: not yet");
            at += record_of(x + at, 12, 0, "", 0);
            ok(fcgi_request_whole(x, at, sizeof(x), 32) == FCGI_WHOLE_UNKNOWN,
               "one more: a worker's, to refuse at once");
            at = n + record_of(x + n, 9, 0, big, WIRE_MGMT_MAX + 1);
            ok(fcgi_request_whole(x, at - 8, sizeof(x), 32) == FCGI_WHOLE_UNKNOWN,
               "an FCGI_GET_VALUES too big to answer, cut: a worker's");
            record_of(x, 1, 1, big, 16);
            ok(fcgi_request_whole(x, 12, sizeof(x), 32) == FCGI_WHOLE_UNKNOWN,
               "a BEGIN_REQUEST of 16 bytes, cut: a worker's");
            n = record_of(x, 1, 1, "\0\2\1\0\0\0\0\0", 8);
            ok(fcgi_request_whole(x, n, sizeof(x), 32) == FCGI_WHOLE_UNKNOWN,
               "a BEGIN_REQUEST for the authorizer's role: a worker's, to refuse at once");
            n = record_of(x, 1, 1, begin, 8);
            at = n + record_of(x + n, 5, 1, "jjj", 3);
            ok(fcgi_request_whole(x, at, sizeof(x), 32) == FCGI_WHOLE_UNKNOWN,
               "STDIN before the params ended: a worker's, to refuse at once");
            at = n + record_of(x + n, 4, 1, "", 0);
            at += record_of(x + at, 4, 1, "", 0);
            ok(fcgi_request_whole(x, at, sizeof(x), 32) == FCGI_WHOLE_UNKNOWN,
               "PARAMS after their end: a worker's, to refuse at once");
        }
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
            ok(fcgi_peek_whole(sv[1], buf, sizeof(buf), 32, &got) == FCGI_WHOLE_EMPTY, "nothing sent yet: empty");
            ok(write(sv[0], w3, 20) == 20 && fcgi_peek_whole(sv[1], buf, sizeof(buf), 32, &got) == FCGI_WHOLE_NOT_YET,
               "part sent: not yet");
            ok(got == 20, "and the bytes looked at are told");
            ok(read(sv[1], buf, sizeof(buf)) == 20, "and the part is still there to read");
            close(sv[0]);
            ok(fcgi_peek_whole(sv[1], buf, sizeof(buf), 32, &got) == FCGI_WHOLE_GONE, "the client hung up: gone");
            close(sv[1]);
        } else
            ok(0, "socketpair");
    }

    /* through a socket: peeked, still there to read */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && write(sv[0], wire, len) == (ssize_t)len) {
        unsigned char back[4096];
        ok(fcgi_peek_param(sv[1], "SCRIPT_NAME", out, sizeof(out)) == 1, "peeked from a socket");
        is_str(out, "/status", "the peeked value");
        ok(read(sv[1], back, sizeof(back)) == (ssize_t)len && memcmp(back, wire, len) == 0,
           "every byte is still there for libfcgi");
        ok(fcgi_peek_param(sv[1], "SCRIPT_NAME", out, sizeof(out)) == 0, "nothing waiting: not found, no wait");
        close(sv[0]);
        close(sv[1]);
    } else
        ok(0, "socketpair");
    return done_testing();
}
