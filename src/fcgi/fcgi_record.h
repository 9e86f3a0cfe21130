/*
 * fcgi_record.h: the FastCGI record framing, read and written in one
 * place. The protocol's numbers are libfcgi's (fastcgi.h); what it does
 * not name (the layout of a header's bytes, the name-value lengths) is
 * here, so that the record layer (wire*.c) and the service thread's peek
 * (fcgi_peek.c) decode the same bytes the same way.
 *
 * A header is FCGI_HEADER_LEN bytes: version, type, request id (2 bytes,
 * big-endian), content length (2), padding length (1), a reserved byte.
 * A name-value length is one byte below 128, or four with the high bit
 * of the first set. Nothing here checks a bound the caller has not
 * given: every decoder is told how many bytes it may read.
 */
#ifndef LF_FCGI_RECORD_H
#define LF_FCGI_RECORD_H

#include <stddef.h>

#include <fastcgi.h>

#define FCGI_NV_LONG        0x80    /* a name-value length's first byte: four bytes follow */
#define FCGI_NV_SHORT_MAX   127     /* the longest length written in one byte */
#define FCGI_NV_LONG_LEN    4       /* bytes of a long name-value length */
#define FCGI_ALIGN          8       /* records are padded to a multiple of it */

/* Two bytes at P, big-endian, as the protocol writes every number. */
static inline int
fcgi_uint16(const unsigned char *p)
{
    return (p[0] << 8) | p[1];
}

/* A header's record type. */
static inline int
fcgi_record_type(const unsigned char *h)
{
    return h[1];
}

/* A header's request id. */
static inline int
fcgi_record_id(const unsigned char *h)
{
    return fcgi_uint16(h + 2);
}

/* A header's content length. */
static inline size_t
fcgi_record_content(const unsigned char *h)
{
    return (size_t)fcgi_uint16(h + 4);
}

/* A header's padding length. */
static inline size_t
fcgi_record_padding(const unsigned char *h)
{
    return h[6];
}

/* The whole record's size, header, content and padding. */
static inline size_t
fcgi_record_size(const unsigned char *h)
{
    return FCGI_HEADER_LEN + fcgi_record_content(h) + fcgi_record_padding(h);
}

/* Write the header of a record of TYPE for request ID with N bytes of
 * content (at most FCGI_MAX_LENGTH) and PAD of padding into H. */
static inline void
fcgi_record_header(unsigned char *h, int type, int id, size_t n, size_t pad)
{
    h[0] = FCGI_VERSION_1;
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)(id >> 8);
    h[3] = (unsigned char)id;
    h[4] = (unsigned char)(n >> 8);
    h[5] = (unsigned char)n;
    h[6] = (unsigned char)pad;
    h[7] = 0;
}

/* The padding that brings N bytes of content to a multiple of FCGI_ALIGN. */
static inline size_t
fcgi_record_pad(size_t n)
{
    return (FCGI_ALIGN - n % FCGI_ALIGN) % FCGI_ALIGN;
}

/* Does a name-value length starting with byte B take four bytes? */
static inline int
fcgi_nv_is_long(unsigned char b)
{
    return (b & FCGI_NV_LONG) != 0;
}

/* The value of a long name-value length, its FCGI_NV_LONG_LEN bytes at P. */
static inline size_t
fcgi_nv_long(const unsigned char *p)
{
    return ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
}

/* A name-value length at P, LEFT bytes readable, into *LEN: the bytes it
 * takes (1 or 4), or 0 when it does not end within LEFT. */
static inline size_t
fcgi_nv_length(const unsigned char *p, size_t left, size_t *len)
{
    if (left < 1)
        return 0;
    if (!fcgi_nv_is_long(p[0])) {
        *len = p[0];
        return 1;
    }
    if (left < FCGI_NV_LONG_LEN)
        return 0;
    *len = fcgi_nv_long(p);
    return FCGI_NV_LONG_LEN;
}

/* A pair's two lengths at P, LEFT bytes readable, into *NAME and *VALUE:
 * the bytes they take, or 0 when they do not end within LEFT. Whether the
 * name and value that follow are there too is the caller's to check. */
static inline size_t
fcgi_nv_lengths(const unsigned char *p, size_t left, size_t *name, size_t *value)
{
    size_t a, b;

    if ((a = fcgi_nv_length(p, left, name)) == 0 ||
        (b = fcgi_nv_length(p + a, left - a, value)) == 0)
        return 0;
    return a + b;
}

#endif
