/* fcgi_peek.h: read a request's parameter without taking it off the socket. */
#ifndef LF_FCGI_PEEK_H
#define LF_FCGI_PEEK_H

#include <stddef.h>

#define FCGI_PEEK_MAX 16384     /* bytes looked at: a web server's params fit */

int fcgi_find_param(const unsigned char *wire, size_t len, const char *name, char *out,
                    size_t outlen);
int fcgi_peek_param(int fd, const char *name, char *out, size_t outlen);

#endif
