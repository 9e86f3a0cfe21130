/* fcgi_peek.h: read a request's parameter without taking it off the socket. */
#ifndef LF_FCGI_PEEK_H
#define LF_FCGI_PEEK_H

#include <stddef.h>

#define FCGI_PEEK_MAX 8192      /* bytes looked at: a status request is small */

#define FCGI_PEEK_NONE       0  /* not found, and will not be: not all read, or too big */
#define FCGI_PEEK_FOUND      1  /* found, and the whole request is there */
#define FCGI_PEEK_LATER      2  /* not all here yet: look again when more came */
#define FCGI_PEEK_FOUND_LATER 3 /* found, but the rest of the request is not here yet */
#define FCGI_PEEK_GONE       4  /* the client hung up before sending anything */

int fcgi_find_param(const unsigned char *wire, size_t len, const char *name, char *out,
                    size_t outlen);
int fcgi_peek_param(int fd, const char *name, char *out, size_t outlen);

#endif
