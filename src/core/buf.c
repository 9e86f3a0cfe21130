/*
 * buf.c: growable byte buffers.
 *
 * Each worker owns its header and body buffers and keeps them between
 * requests, so a steady load allocates nothing here. Growth doubles. A
 * buffer over LF_BUF_KEEP is shrunk only when it was mostly unused for
 * LF_BUF_SHRINK_ROUNDS requests: one huge page does not pin memory
 * forever, and a site of huge pages does not map and unmap a buffer per
 * request (in a threaded process every munmap stalls all threads).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luafcgid.h"
#include "buf.h"
#include "log.h"

int
buf_init(struct buf *b, size_t cap)
{
    if (cap == 0)
        cap = 16;
    b->len = 0;
    b->cap = cap;
    b->peak = 0;
    b->rounds = 0;
    if ((b->data = malloc(cap)) == NULL) {
        b->cap = 0;
        log_syserr("cannot allocate a %zu byte buffer", cap);
        return -1;
    }
    return 0;
}

void
buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Make room for EXTRA more bytes. */
int
buf_reserve(struct buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > (size_t)-1 - b->len) {
        log_err("buffer size overflow");
        return -1;
    }
    need = b->len + extra;
    if (need > b->peak)
        b->peak = need;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 16;
    while (cap < need)
        cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    if ((p = realloc(b->data, cap)) == NULL) {
        log_syserr("cannot grow a buffer to %zu bytes", cap);
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

void
buf_reset(struct buf *b)
{
    b->len = 0;
}

/* B holds S, with a NUL kept past its length for C readers; 0, or -1
 * (B is then empty). */
int
buf_set(struct buf *b, const char *s)
{
    buf_reset(b);
    if (buf_append(b, s, strlen(s) + 1) < 0)
        return -1;
    b->len--;
    return 0;
}

/* Between requests: give memory back, down to CAP or twice the recent
 * peak, when a buffer over LF_BUF_KEEP was mostly unused for a while.
 * 1 when it shrank. */
int
buf_shrink(struct buf *b, size_t cap)
{
    size_t peak = b->peak > b->len ? b->peak : b->len, want;
    char *p;

    if (++b->rounds < LF_BUF_SHRINK_ROUNDS)
        return 0;
    b->rounds = 0;
    b->peak = b->len;
    want = peak * 2 > cap ? peak * 2 : cap;
    if (cap == 0 || b->cap <= LF_BUF_KEEP || peak > b->cap / 4 || want >= b->cap)
        return 0;
    if ((p = realloc(b->data, want)) == NULL)
        return 0;   /* keeping the larger block is harmless */
    b->data = p;
    b->cap = want;
    return 1;
}

/* Back to CAP now, if larger and empty; 1 when it shrank. */
int
buf_trim(struct buf *b, size_t cap)
{
    char *p;

    b->peak = b->len;
    b->rounds = 0;
    if (cap == 0 || b->cap <= cap || b->len > cap || (p = realloc(b->data, cap)) == NULL)
        return 0;
    b->data = p;
    b->cap = cap;
    return 1;
}

/* Append printf-style text; -1 when out of memory. */
int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n + 1) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}
