/* fdlimit.h: the descriptor limit, raised and checked at start-up. */
#ifndef LF_FDLIMIT_H
#define LF_FDLIMIT_H

int fdlimit_raise(int keepalive_max, int workers, int backlog);

#endif
