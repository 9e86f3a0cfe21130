/*
 * monoclock.c: the monotonic clock, in milliseconds or microseconds.
 *
 * Deadlines, back-offs and durations are measured on CLOCK_MONOTONIC, so
 * a change of the wall clock neither fires nor stalls them. One reading
 * place for every module, rather than a copy in each. clock_gettime on
 * CLOCK_MONOTONIC cannot fail on the systems we build for (the clock and
 * the pointer are always valid), so its result is not checked. A
 * deadline is for pthread_cond_timedwait on a condition variable made
 * with CLOCK_MONOTONIC. A thread's CPU time (the access log's %C) is
 * read here too, where the system can tell it.
 */
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "monoclock.h"

long long
monoclock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The monotonic clock as of the kernel's last tick (CLOCK_MONOTONIC_COARSE,
 * FreeBSD's CLOCK_MONOTONIC_FAST): a few nanoseconds a reading, for a
 * deadline looked at millions of times a second; it runs behind
 * monoclock_ms by a tick at most (a few ms).
 */
long long
monoclock_coarse_ms(void)
{
    struct timespec ts;

#if defined(CLOCK_MONOTONIC_COARSE)
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#elif defined(CLOCK_MONOTONIC_FAST)
    clock_gettime(CLOCK_MONOTONIC_FAST, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
monoclock_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* MS from now into *TS, on CLOCK_MONOTONIC. */
void
monoclock_deadline(struct timespec *ts, long long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* COND made to time its waits on CLOCK_MONOTONIC, the clock of
 * monoclock_deadline: 0, or the error number (nothing to destroy). */
int
monoclock_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc;

    if ((rc = pthread_condattr_init(&attr)) != 0)
        return rc;
    if ((rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

/* The calling thread's CPU time so far; zero where the system cannot say. */
void
monoclock_thread_cpu(struct timespec *user, struct timespec *system)
{
    struct rusage ru;

    memset(user, 0, sizeof(*user));
    memset(system, 0, sizeof(*system));
#ifdef RUSAGE_THREAD
    if (getrusage(RUSAGE_THREAD, &ru) < 0)
        return;
    user->tv_sec = ru.ru_utime.tv_sec;
    user->tv_nsec = (long)ru.ru_utime.tv_usec * 1000;
    system->tv_sec = ru.ru_stime.tv_sec;
    system->tv_nsec = (long)ru.ru_stime.tv_usec * 1000;
#else
    (void)ru;
#endif
}
