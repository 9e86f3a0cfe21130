/* A background thread: a stop wakes it from a long sleep at once, a sleep
 * with no stop lasts its time, and it can be started again after a stop. */
#include <time.h>

#include "bgthread.h"
#include "monoclock.h"
#include "tap.h"

#define LONG_MS     60000LL     /* a sleep only a stop cuts short */
#define BOUND_MS    10000LL     /* a generous bound on a loaded machine */

static struct bgthread bg;
static int asleep, ended, woke;         /* atomic */
static int ticked, tick_stop;           /* atomic */
static long long tick_ms;               /* published by ticked */

/* Sleeps a minute at a time until stopped. */
static void *
sleeper(void *arg)
{
    (void)arg;
    __atomic_store_n(&asleep, 1, __ATOMIC_SEQ_CST);
    while (!bgthread_wait_until(&bg, monoclock_ms() + LONG_MS))
        __atomic_add_fetch(&woke, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&ended, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* One sleep of 50 ms, timed; then sleeps until stopped. */
static void *
ticker(void *arg)
{
    long long t0 = monoclock_ms();
    int stop;

    (void)arg;
    stop = bgthread_wait_until(&bg, t0 + 50);
    tick_ms = monoclock_ms() - t0;
    __atomic_store_n(&tick_stop, stop, __ATOMIC_SEQ_CST);
    __atomic_store_n(&ticked, 1, __ATOMIC_SEQ_CST);
    while (!bgthread_wait_until(&bg, monoclock_ms() + LONG_MS))
        ;
    return NULL;
}

/* Wait, for BOUND_MS at most, until *FLAG is set: whether it was. */
static int
wait_for(const int *flag)
{
    long long until = monoclock_ms() + BOUND_MS;
    struct timespec ms = { 0, 1000000 };

    while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST) && monoclock_ms() < until)
        nanosleep(&ms, NULL);
    return __atomic_load_n(flag, __ATOMIC_SEQ_CST);
}

/* Start the sleeper, let it sleep, stop it: how long the stop took. */
static long long
sleep_and_stop(void)
{
    long long t0;

    __atomic_store_n(&asleep, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&ended, 0, __ATOMIC_SEQ_CST);
    if (bgthread_start(&bg, "test", sleeper, NULL) < 0 || !wait_for(&asleep))
        return -1;
    t0 = monoclock_ms();
    bgthread_stop(&bg);
    return monoclock_ms() - t0;
}

int
main(void)
{
    long long took;

    bgthread_stop(&bg);     /* never started: nothing to stop */
    took = sleep_and_stop();
    ok(took >= 0 && took < BOUND_MS, "a thread asleep for a minute is stopped at once (%lld ms)", took);
    ok(__atomic_load_n(&ended, __ATOMIC_SEQ_CST), "its wait said stop, and the thread ended");
    is_int(__atomic_load_n(&woke, __ATOMIC_SEQ_CST), 0, "no wait ended early without a stop");

    took = sleep_and_stop();
    ok(took >= 0 && took < BOUND_MS && __atomic_load_n(&ended, __ATOMIC_SEQ_CST),
       "started again after a stop, it sleeps and is stopped again");

    ok(bgthread_start(&bg, "test", ticker, NULL) == 0 && wait_for(&ticked), "a thread sleeps 50 ms");
    is_int(__atomic_load_n(&tick_stop, __ATOMIC_SEQ_CST), 0, "a wait that ran its time says no stop");
    ok(tick_ms >= 50, "and did not end before its time (%lld ms)", tick_ms);
    bgthread_stop(&bg);
    return done_testing();
}
