/* fcgi_peek.h: read a request's parameter without taking it off the socket. */
#ifndef LF_FCGI_PEEK_H
#define LF_FCGI_PEEK_H

#include <stddef.h>

#define FCGI_PEEK_MAX 8192      /* bytes looked at: a status request is small */

#define FCGI_PEEK_NONE       0  /* not found, and will not be: not all read, or too big */
#define FCGI_PEEK_FOUND      1  /* found, and the whole request is there */
#define FCGI_PEEK_LATER      2  /* not all here yet: look again when more came */
#define FCGI_PEEK_FOUND_LATER 3 /* found so far (a later pair may change it); the rest is not here yet */
#define FCGI_PEEK_GONE       4  /* the client hung up before sending anything */

/* How much of a request has come (fcgi_peek_whole) */
#define FCGI_WHOLE_YES       0  /* all of it, through its empty STDIN record */
#define FCGI_WHOLE_NOT_YET   1  /* a request's start, and the rest still to come */
#define FCGI_WHOLE_EMPTY     2  /* nothing to read yet */
#define FCGI_WHOLE_GONE      3  /* the client hung up */
#define FCGI_WHOLE_UNKNOWN   4  /* not a request's start, too big to tell, or an error */
#define FCGI_WHOLE_MGMT      5  /* management records only, each whole */

int fcgi_request_whole(const unsigned char *wire, size_t len, size_t size, int records);
size_t fcgi_mgmt_lead(const unsigned char *wire, size_t len);
int fcgi_peek_whole(int fd, unsigned char *buf, size_t size, int records, size_t *got);
int fcgi_find_param(const unsigned char *wire, size_t len, const char *name, char *out,
                    size_t outlen);
int fcgi_peek_param(int fd, const char *name, char *out, size_t outlen);

#endif
