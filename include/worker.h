/* worker.h: the worker threads and their accept loops. */
#ifndef LF_WORKER_H
#define LF_WORKER_H

struct pool;

int  worker_start(int count, int listen_fd, struct pool *pool);
void worker_stop(int listen_fd);
void worker_join(void);

#endif
