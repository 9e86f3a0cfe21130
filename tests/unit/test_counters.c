/* The counters' totals, kept by workers that start requests at once. */
#include <pthread.h>
#include <sched.h>

#include "counters.h"
#include "monoclock.h"
#include "tap.h"

#define THREADS 2
#define ROUNDS  200000
#define TEST_SPINS 200000   /* then yield: a busy machine took the other's core */
#define TEST_MS    3000     /* rounds stop here on a machine that slow */

static int test_arrived, test_generation;
static int test_bad_active, test_bad_max, test_bad_queue;
static int test_stop, test_rounds;       /* written by the first thread between meetings */

/* A barrier the threads spin at: a sleeping one would wake them one by one,
 * and their starts would never meet. Past a long spin the waiter yields,
 * so that on a busy machine the other thread gets a core to arrive on. */
static void
test_meet(void)
{
    int gen = __atomic_load_n(&test_generation, __ATOMIC_ACQUIRE), spins = 0;

    if (__atomic_add_fetch(&test_arrived, 1, __ATOMIC_ACQ_REL) == THREADS) {
        __atomic_store_n(&test_arrived, 0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&test_generation, 1, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&test_generation, __ATOMIC_ACQUIRE) == gen)
        if (++spins > TEST_SPINS)
            sched_yield();
}

/* Each round every thread starts a request at the same moment; the first
 * reads the round's figures and starts the counters afresh. Worker 0 is
 * outside the slots, so only the totals are touched: the narrowest window
 * for a lost update. */
static void *
test_worker(void *arg)
{
    int k = *(int *)arg, i;
    struct counters_totals t;
    long long until = monoclock_ms() + TEST_MS;

    for (i = 0; i < ROUNDS; i++) {
        test_meet();
        if (test_stop)
            break;
        counters_begin(0, "GET", "/", "/a.lua", NULL);
        counters_queue(k);
        test_meet();
        if (k == 1) {
            counters_totals(&t);
            test_bad_active += t.active != THREADS;
            test_bad_max += t.max_active != THREADS;
            test_bad_queue += t.max_queue != THREADS;
            counters_free();
            if (counters_init(2) != 0)
                test_bad_active++;
            test_rounds++;
            test_stop = monoclock_ms() > until;
        }
    }
    return NULL;
}

int
main(void)
{
    pthread_t th[THREADS];
    int k[THREADS], i;

    ok(counters_init(2) == 0, "counters for 2 workers");
    for (i = 0; i < THREADS; i++) {
        k[i] = i + 1;
        pthread_create(&th[i], NULL, test_worker, &k[i]);
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    printf("# %d rounds in at most %d ms\n", test_rounds, TEST_MS);
    is_int(test_bad_active, 0, "every worker that started is active, every round");
    is_int(test_bad_max, 0, "max active processes is all of them, every round");
    is_int(test_bad_queue, 0, "max listen queue keeps the most seen, every round");
    counters_free();
    return done_testing();
}
