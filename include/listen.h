/* listen.h: the listening socket. */
#ifndef LF_LISTEN_H
#define LF_LISTEN_H

struct conf;

int  listen_open(const struct conf *c);
int  listen_adopt(const struct conf *c);
void listen_close(int fd, const struct conf *c);
int  listen_is_unix(const char *addr);

#endif
