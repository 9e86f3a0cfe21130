/* bgthread.h: a background thread that sleeps on a condition variable,
 * so that stopping it is immediate. */
#ifndef LF_BGTHREAD_H
#define LF_BGTHREAD_H

#include <pthread.h>

/* Zeroed (static) before its first start; the fields are bgthread.c's. */
struct bgthread {
    pthread_mutex_t lock;       /* guards stop */
    pthread_cond_t  cond;       /* on CLOCK_MONOTONIC: signalled to stop */
    int             stop;
    int             running;    /* the starting thread's own */
    pthread_t       thread;
};

/* Start FN(ARG) on T; 0, or -1 (logged, NAME saying whose). */
int  bgthread_start(struct bgthread *t, const char *name, void *(*fn)(void *), void *arg);

/* In T's thread: sleep until AT_MS (monoclock_ms) or a stop, whichever
 * is first; 1 when told to stop, else 0. */
int  bgthread_wait_until(struct bgthread *t, long long at_ms);

/* Tell T's thread to stop, wake it and join it; nothing when it does not
 * run. */
void bgthread_stop(struct bgthread *t);

#endif
