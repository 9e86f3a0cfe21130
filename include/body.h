/* body.h: the request body as the handler takes it (see body.c). */
#ifndef LF_BODY_H
#define LF_BODY_H

#include <stddef.h>
#include <stdint.h>

#define BODY_TOO_BIG    (SIZE_MAX - 1)  /* one past what a number holds (BODY_UNKNOWN: request.h) */

struct request;

/* Who took pieces of the body from the connection (request's body_given). */
#define BODY_GIVEN_READ 1
#define BODY_GIVEN_FORM 2

/* req:form()'s walk over the body from its start. */
struct body_walk {
    size_t  at;         /* in the kept body */
    int     pulling;    /* taking it from the connection */
};

int  body_length(const char *cl, size_t *len);
int  body_defer(struct request *r);
int  body_whole(struct request *r, const char **why);
long body_next(struct request *r, const char **p, size_t max, const char **why);
long body_walk(struct request *r, struct body_walk *walk, const char **p, const char **why);

#endif
