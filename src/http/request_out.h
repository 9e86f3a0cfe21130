/*
 * request_out.h: how request.c answers, shared only among the request's
 * own files (request_out.c); the rest of the daemon uses request.h.
 * request_set and request_finish are inline: they run on every request.
 */
#ifndef LF_REQUEST_OUT_H
#define LF_REQUEST_OUT_H

#include <string.h>

#include "buf.h"
#include "request.h"
#include "status.h"

int  request_send_head(struct request *r, int final);
void request_error(struct request *r, int code, const char *reason);
void request_status(struct request *r, enum status_which which);

/* B holds S, with a NUL kept past its length for C readers. */
static inline void
request_set(struct buf *b, const char *s)
{
    buf_reset(b);
    if (buf_append(b, s, strlen(s) + 1) == 0)
        b->len--;
}

/* The answer's last bytes: the header block first if it is still due. */
static inline void
request_finish(struct request *r)
{
    if (!r->headers_sent)
        request_send_head(r, 1);
    request_write(r, r->body.data, r->body.len);
}

#endif
