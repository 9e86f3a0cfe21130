/*
 * bgthread.c: a background thread that sleeps on a condition variable.
 *
 * The daemon's background threads (housekeeping, the deadline watchdog,
 * the shared dictionaries' check after a crash) do their work, then sleep
 * until the next round is due. A sleep in nanosleep() would hold a stop
 * for as long as the round's interval; a wait on a condition variable,
 * with the stop flag checked under its lock, ends the moment the stop is
 * signalled, whether the thread is asleep or about to be. The condition
 * variable times its waits on CLOCK_MONOTONIC (monoclock_cond_init), so a
 * change of the wall clock neither wakes nor stalls a thread.
 *
 * The lock guards the flag only: a thread does its work without it, and
 * whatever that work shares is guarded by the thread's own module.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "bgthread.h"
#include "log.h"
#include "monoclock.h"

int
bgthread_start(struct bgthread *t, const char *name, void *(*fn)(void *), void *arg)
{
    int rc;

    if ((rc = pthread_mutex_init(&t->lock, NULL)) != 0) {
        log_err("%s: cannot make its lock: %s", name, strerror(rc));
        return -1;
    }
    if ((rc = monoclock_cond_init(&t->cond)) != 0) {
        log_err("%s: cannot set up its timer: %s", name, strerror(rc));
        pthread_mutex_destroy(&t->lock);
        return -1;
    }
    t->stop = 0;
    if ((rc = pthread_create(&t->thread, NULL, fn, arg)) != 0) {
        log_err("%s: cannot start its thread: %s", name, strerror(rc));
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        return -1;
    }
    t->running = 1;
    return 0;
}

int
bgthread_wait_until(struct bgthread *t, long long at_ms)
{
    struct timespec until;
    int rc = 0, stop;

    until.tv_sec = (time_t)(at_ms / 1000);
    until.tv_nsec = (long)(at_ms % 1000) * 1000000;
    pthread_mutex_lock(&t->lock);
    /* a wake-up that is neither the stop nor the time waits on */
    while (!t->stop && rc == 0)
        rc = pthread_cond_timedwait(&t->cond, &t->lock, &until);
    stop = t->stop;
    pthread_mutex_unlock(&t->lock);
    return stop;
}

void
bgthread_stop(struct bgthread *t)
{
    if (!t->running)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    t->running = 0;
}
