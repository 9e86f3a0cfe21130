/*
 * fcgi_peek.c: the value of one FastCGI parameter of the request waiting
 * on a connection, read with MSG_PEEK so that the bytes stay where they
 * are for whoever serves the request (libfcgi, through wire.c).
 *
 * The dispatcher's service thread uses it to pick out status and ping
 * requests when every worker is busy (dispatch.c). Only the first
 * FCGI_PEEK_MAX bytes are looked at and nothing is waited for: a
 * parameter not there yet, or past them, is "not found", and the request
 * is served by a worker as any other. The parse is bounded by what was
 * read; nothing from the wire is trusted as a length without a check.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "fcgi_peek.h"

#define FCGI_HEADER_LEN      8
#define FCGI_TYPE_BEGIN      1
#define FCGI_TYPE_PARAMS     4

/* A name-value length at P (1 or 4 bytes); 0 when it does not fit. */
static size_t
fcgi_peek_length(const unsigned char *p, size_t left, size_t *len)
{
    if (left < 1)
        return 0;
    if (p[0] < 128) {
        *len = p[0];
        return 1;
    }
    if (left < 4)
        return 0;
    *len = ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
    return 4;
}

/* Look for NAME in the name-value pairs PAIRS[0..LEN). */
static int
fcgi_peek_pairs(const unsigned char *pairs, size_t len, const char *name, char *out, size_t outlen)
{
    size_t at = 0, nlen, vlen, a, b, want = strlen(name);

    while (at < len) {
        if ((a = fcgi_peek_length(pairs + at, len - at, &nlen)) == 0 ||
            (b = fcgi_peek_length(pairs + at + a, len - at - a, &vlen)) == 0)
            return 0;
        at += a + b;
        if (nlen > len - at || vlen > len - at - nlen)
            return 0;       /* cut off: the rest has not been read */
        if (nlen == want && memcmp(pairs + at, name, nlen) == 0) {
            if (vlen >= outlen)
                return 0;
            memcpy(out, pairs + at + nlen, vlen);
            out[vlen] = '\0';
            return 1;
        }
        at += nlen + vlen;
    }
    return 0;
}

/* NAME's value in the records WIRE[0..LEN) into OUT: 1 found, 0 not. */
int
fcgi_find_param(const unsigned char *wire, size_t len, const char *name, char *out, size_t outlen)
{
    unsigned char pairs[FCGI_PEEK_MAX];
    size_t at = 0, npairs = 0;

    while (len - at >= FCGI_HEADER_LEN) {
        const unsigned char *h = wire + at;
        size_t clen = ((size_t)h[4] << 8) | h[5], plen = h[6];
        if (h[0] != 1 || (h[1] != FCGI_TYPE_BEGIN && h[1] != FCGI_TYPE_PARAMS))
            break;
        if (h[1] == FCGI_TYPE_PARAMS && clen == 0)
            break;          /* the end of the params */
        if (clen > len - at - FCGI_HEADER_LEN)
            clen = len - at - FCGI_HEADER_LEN;  /* partly read */
        if (h[1] == FCGI_TYPE_PARAMS) {
            size_t take = clen < sizeof(pairs) - npairs ? clen : sizeof(pairs) - npairs;
            memcpy(pairs + npairs, h + FCGI_HEADER_LEN, take);
            npairs += take;
        }
        if (plen + clen > len - at - FCGI_HEADER_LEN)
            break;
        at += FCGI_HEADER_LEN + clen + plen;
    }
    return fcgi_peek_pairs(pairs, npairs, name, out, outlen);
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
    if (n <= 0)
        return 0;
    return fcgi_find_param(wire, (size_t)n, name, out, outlen);
}
