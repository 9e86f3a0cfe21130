/*
 * body.c: the request body as the handler takes it.
 *
 * A body up to `upload_memory` bytes (or one without CONTENT_LENGTH) is
 * read whole before the handler runs (request_read_body), so a slow
 * client holds no state. A larger one whose CONTENT_LENGTH is within
 * `maxpost` is left on the connection (body_defer), and the handler takes
 * it from there: req:read() and req:form() piece by piece, in constant
 * memory, so a script can take a body bigger than its memory; req:gets()
 * reads the rest whole and keeps it. The reads run the client's clock
 * (wire.c), and what the handler leaves unread is drained after it, as
 * for any request.
 *
 * CONTENT_LENGTH is taken only when it is digits (one too big for a
 * number is too big for maxpost); the script is given that many bytes and
 * no more, as php-fpm does, and the rest is drained. Anything else (absent,
 * empty, Caddy's -1 for a chunked body, trailing blanks) is an unknown
 * length: the body is read to its end, bounded by maxpost.
 *
 * Kept in memory, the body can be given any number of times: req:read()
 * keeps its own position, and gets() and form() see it all. Taken from
 * the connection piece by piece, it can be given once: gets() or form()
 * after read() (or form() twice), and read() after a form() that stopped
 * midway, raise an error that says so.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "luafcgid.h"
#include "body.h"
#include "conf.h"
#include "request.h"

#define BODY_CHUNK  ((size_t)64 * 1024)

/* CONTENT_LENGTH CL: 1 with its value in *LEN (BODY_TOO_BIG past what
 * fits) when it is digits only, 0 when the length is unknown. */
int
body_length(const char *cl, size_t *len)
{
    size_t n = 0;

    if (cl == NULL || *cl == '\0')
        return 0;
    for (; *cl != '\0'; cl++) {
        if (*cl < '0' || *cl > '9')
            return 0;
        if (n > (BODY_TOO_BIG - 9) / 10)
            n = BODY_TOO_BIG;   /* too big for any maxpost: stays so */
        else
            n = n * 10 + (size_t)(*cl - '0');
    }
    *len = n;
    return 1;
}

/* Leave the body on the connection for the handler? Decided before it runs. */
int
body_defer(struct request *r)
{
    size_t want;

    r->body_left = 0;
    r->body_given = 0;
    r->body_want = BODY_UNKNOWN;
    if (!body_length(r->vars.content_length, &want))
        return 0;
    r->body_want = want;
    if (want <= r->conf->upload_memory || want > r->conf->maxpost)
        return 0;       /* small, or for request_read_body to refuse */
    r->body_left = 1;
    return 1;
}

/* Of ROOM bytes to read from the connection, those within CONTENT_LENGTH. */
static size_t
body_room(const struct request *r, size_t room)
{
    size_t left = r->body_want - r->body_taken;

    return room < left ? room : left;
}

/* The next WANT bytes (fewer only at the end) from the connection into
 * r->post, replacing what it held: how many, 0 at the end, -1 with WHY.
 * libfcgi waits for all WANT, so req:read(n) asks for n, not a chunk. */
static long
body_pull(struct request *r, size_t want, const char **why)
{
    size_t max = r->conf->maxpost, room = body_room(r, want < BODY_CHUNK ? want : BODY_CHUNK);
    int n;

    buf_reset(&r->post);
    r->post_read = 0;
    if (room == 0)
        r->body_left = 0;       /* CONTENT_LENGTH given: the rest is drained */
    if (!r->body_left)
        return 0;
    if (buf_reserve(&r->post, room) < 0) {
        *why = "out of memory for the request body";
        return -1;
    }
    n = FCGX_GetStr(r->post.data, (int)room, r->fcgx.in);
    if (n <= 0) {
        r->body_left = 0;
        if (FCGX_GetError(r->fcgx.in) != 0) {
            r->client_gone = 1;
            *why = "the client went away while sending the body";
            return -1;
        }
        return 0;
    }
    r->post.len = (size_t)n;
    if ((r->body_taken += (size_t)n) > max) {
        r->body_left = 0;
        *why = "the request body is over maxpost";
        return -1;
    }
    return n;
}

/* req:gets(): the whole body kept in r->post; 0, or -1 with WHY. */
int
body_whole(struct request *r, const char **why)
{
    size_t max = r->conf->maxpost;

    if (!r->body_left)
        goto kept;
    if (r->body_given) {
        *why = "the body was given out in pieces (req:read or req:form); req:gets cannot have it whole";
        return -1;
    }
    while (r->body_left) {
        size_t room = body_room(r, BODY_CHUNK);
        int n;
        if (room == 0) {
            r->body_left = 0;   /* CONTENT_LENGTH given: the rest is drained */
            break;
        }
        if (buf_reserve(&r->post, room) < 0) {
            *why = "out of memory for the request body";
            return -1;
        }
        n = FCGX_GetStr(r->post.data + r->post.len, (int)room, r->fcgx.in);
        if (n <= 0) {
            r->body_left = 0;
            if (FCGX_GetError(r->fcgx.in) != 0) {
                r->client_gone = 1;
                *why = "the client went away while sending the body";
                return -1;
            }
            break;
        }
        r->post.len += (size_t)n;
        if ((r->body_taken += (size_t)n) > max) {
            r->body_left = 0;
            *why = "the request body is over maxpost";
            return -1;
        }
    }
kept:
    if (r->body_given) {
        *why = "the body was given out in pieces (req:read or req:form); req:gets cannot have it whole";
        return -1;
    }
    return 0;
}

/*
 * req:read(): the next piece, MAX bytes (fewer only at the end, or 64 KiB
 * at most), in *P: its length, 0 at the end, -1 with WHY. From memory it
 * keeps its own position; from the connection it takes what it gives.
 */
long
body_next(struct request *r, const char **p, size_t max, const char **why)
{
    size_t left = r->post.len - r->post_read;

    if (r->body_given == BODY_GIVEN_FORM && r->body_left) {
        /* form() stopped midway: what it took is gone, the rest alone is no body */
        *why = "the body was given out in pieces by req:form; req:read cannot have the rest";
        return -1;
    }
    if (left == 0 && r->body_left) {
        long n = body_pull(r, max, why);
        r->body_given = BODY_GIVEN_READ;
        if (n <= 0)
            return n;
        left = (size_t)n;
    }
    if (left > max)
        left = max;
    *p = r->post.data + r->post_read;
    r->post_read += left;
    return (long)left;
}

/*
 * req:form(): the body from its start, piece by piece, through WALK
 * (zeroed by the caller): a piece's length, 0 at the end, -1 with WHY.
 */
long
body_walk(struct request *r, struct body_walk *walk, const char **p, const char **why)
{
    size_t left;
    long n;

    if (!r->body_left && !r->body_given) {
        /* kept whole: from memory, as often as asked */
        left = r->post.len - walk->at;
        if (left > BODY_CHUNK)
            left = BODY_CHUNK;
        *p = r->post.data + walk->at;
        walk->at += left;
        return (long)left;
    }
    if (r->body_given && !walk->pulling) {
        *why = "the body was already given out in pieces by req:read or req:form";
        return -1;
    }
    walk->pulling = 1;
    r->body_given = BODY_GIVEN_FORM;
    n = body_pull(r, BODY_CHUNK, why);
    r->post_read = r->post.len;     /* form takes every byte it is handed */
    *p = r->post.data;      /* after the pull: it may have moved */
    return n;
}
