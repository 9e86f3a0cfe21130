/* buf.h: growable byte buffers, reused across requests. */
#ifndef LF_BUF_H
#define LF_BUF_H

#include <stddef.h>

struct buf {
    char    *data;
    size_t   len;
    size_t   cap;
    size_t   peak;      /* the most it held since the last shrink check */
    unsigned rounds;    /* buf_shrink calls since then */
};

int  buf_init(struct buf *b, size_t cap);
void buf_free(struct buf *b);
int  buf_reserve(struct buf *b, size_t extra);
int  buf_append(struct buf *b, const void *p, size_t n);
int  buf_puts(struct buf *b, const char *s);
int  buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
int  buf_set(struct buf *b, const char *s);
int  buf_shrink(struct buf *b, size_t cap);
int  buf_trim(struct buf *b, size_t cap);

#endif
