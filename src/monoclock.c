/*
 * monoclock.c: the monotonic clock, in milliseconds or microseconds.
 *
 * Deadlines, back-offs and durations are measured on CLOCK_MONOTONIC, so
 * a change of the wall clock neither fires nor stalls them. One reading
 * place for every module, rather than a copy in each. clock_gettime on
 * CLOCK_MONOTONIC cannot fail on the systems we build for (the clock and
 * the pointer are always valid), so its result is not checked.
 */
#include <time.h>

#include "monoclock.h"

long long
monoclock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
monoclock_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
