/* housekeep.h: the heartbeat thread that sweeps the pool. */
#ifndef LF_HOUSEKEEP_H
#define LF_HOUSEKEEP_H

struct pool;

int  housekeep_start(struct pool *pool);
void housekeep_stop(void);
void housekeep_trim_soon(void);
void housekeep_tune_malloc(void);

#endif
