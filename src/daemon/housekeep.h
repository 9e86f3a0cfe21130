/* housekeep.h: the heartbeat thread that sweeps the pool. */
#ifndef LF_HOUSEKEEP_H
#define LF_HOUSEKEEP_H

struct pool;

/* What the heartbeat also does, for the workers (worker.c stands above it):
 * write off and replace the ones stuck in C, and tell how many are. */
struct housekeep_workers {
    void (*sweep_stuck)(void);
    int  (*written_off)(void);
};

int  housekeep_start(struct pool *pool, const struct housekeep_workers *workers);
void housekeep_stop(void);
void housekeep_trim_soon(void);
void housekeep_tune_malloc(void);

#endif
