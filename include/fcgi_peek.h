/* fcgi_peek.h: read a request's parameter without taking it off the socket. */
#ifndef LF_FCGI_PEEK_H
#define LF_FCGI_PEEK_H

#include <stddef.h>

#define FCGI_PEEK_MAX 4096      /* bytes looked at: SCRIPT_NAME comes before the headers */

int fcgi_find_param(const unsigned char *wire, size_t len, const char *name, char *out,
                    size_t outlen);
int fcgi_peek_param(int fd, const char *name, char *out, size_t outlen);

#endif
