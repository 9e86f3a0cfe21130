/* monoclock.h: the monotonic clock, in the units the daemon counts in,
 * and a thread's CPU time. */
#ifndef LF_MONOCLOCK_H
#define LF_MONOCLOCK_H

#include <pthread.h>
#include <time.h>

long long monoclock_ms(void);
long long monoclock_coarse_ms(void);
long long monoclock_us(void);
void      monoclock_deadline(struct timespec *ts, long long ms);
int       monoclock_cond_init(pthread_cond_t *cond);
void      monoclock_thread_cpu(struct timespec *user, struct timespec *system);

#endif
