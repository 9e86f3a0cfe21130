/* monoclock.h: the monotonic clock, in the units the daemon counts in. */
#ifndef LF_MONOCLOCK_H
#define LF_MONOCLOCK_H

long long monoclock_ms(void);
long long monoclock_us(void);

#endif
