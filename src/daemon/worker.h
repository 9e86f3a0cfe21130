/* worker.h: the worker threads and their request loops. */
#ifndef LF_WORKER_H
#define LF_WORKER_H

struct dispatch;
struct pool;

int  worker_start(int count, struct dispatch *dispatch, struct pool *pool);
int  worker_wait(long long ms);
void worker_join(void);
void worker_abandon(void);
void worker_sweep_stuck(void);
int  worker_written_off(void);

#endif
