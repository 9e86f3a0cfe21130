/* listen.h: the listening sockets. */
#ifndef LF_LISTEN_H
#define LF_LISTEN_H

#include "luafcgid.h"

struct conf;

/* The open sockets, in the order of c->listen. */
struct listeners {
    int n;
    int fd[LF_MAX_LISTEN];
    int tcp[LF_MAX_LISTEN];     /* 1 for TCP, 0 for a unix socket */
};

int  listen_open(const struct conf *c, struct listeners *ls);
int  listen_adopt(const struct conf *c, struct listeners *ls);
void listen_close(struct listeners *ls, const struct conf *c, int remove);
int  listen_is_unix(const char *addr);

#endif
