/* The rate-limited report: the first event at once, the rest of an
 * interval counted, nothing lost between threads racing for a report. */
#include <pthread.h>

#include "ratelog.h"
#include "tap.h"

#define THREADS 4
#define HITS    100000

static struct ratelog shared;
static unsigned long reported[THREADS];

/* Hit SHARED as fast as possible, with a clock that moves every 1000
 * hits, so that reports fall due while the others hit too. */
static void *
hitter(void *arg)
{
    unsigned long *mine = arg;
    long i;

    for (i = 1; i <= HITS; i++)
        *mine += ratelog_hit(&shared, 1 + i / 1000, 5);
    return NULL;
}

int
main(void)
{
    struct ratelog r = { 0, 0, 0 };
    unsigned long n, total = 0;
    pthread_t t[THREADS];
    int i;

    ok(!ratelog_reported(&r), "a new one has reported nothing");
    is_int(ratelog_due(&r, 1000), -1, "nor has anything waiting");
    is_int(ratelog_hit(&r, 5000, 1000), 1, "the first event is reported at once");
    ok(ratelog_reported(&r), "and says so");
    is_int(ratelog_hit(&r, 5100, 1000), 0, "the next within the interval is counted, not reported");
    is_int(ratelog_hit(&r, 5999, 1000), 0, "to the interval's last ms");
    is_int(ratelog_due(&r, 1000), 6000, "the counted ones are due an interval after the report");
    is_int(ratelog_flush(&r, 5999, 1000), 0, "a flush before then reports nothing");
    is_int(ratelog_flush(&r, 6000, 1000), 2, "a flush then reports the two counted");
    is_int(ratelog_flush(&r, 9000, 1000), 0, "and nothing once they are reported");
    is_int(ratelog_due(&r, 1000), -1, "nothing waits");
    is_int(ratelog_hit(&r, 6500, 1000), 0, "an event soon after the flush is counted");
    is_int(ratelog_hit(&r, 7000, 1000), 2, "the next due one is reported with it");
    is_int(ratelog_hit(&r, 7001, 1000), 0, "counted");
    ok(ratelog_end(&r, &n) && n == 1, "the end tells the one not reported");
    ok(!ratelog_reported(&r), "after the end nothing is reported");
    ok(!ratelog_end(&r, &n), "and a second end has nothing to say");
    is_int(ratelog_hit(&r, 7002, 1000), 1, "the next event is reported at once");

    {
        struct ratelog b = { 0, 0, 0 };
        unsigned long said = 0, lines = 0;
        for (i = 0; i < 10; i++)
            if ((n = ratelog_burst(&b, 1000 + i, 1000, 3)) > 0) {
                lines++;
                said += n;
            }
        is_int(lines, 3, "a burst of 3 an interval: 3 of 10 events are logged one by one");
        is_int(ratelog_burst(&b, 2000, 1000, 3), 8, "the next interval's first tells the 7 counted, and itself");
        is_int(ratelog_burst(&b, 2001, 1000, 3), 1, "its second is its own");
        is_int(said + 8 + 1, 12, "no event lost nor told twice");
        for (i = 0; i < 5; i++)
            ratelog_burst(&b, 2002 + i, 1000, 3);
        is_int(ratelog_burst_flush(&b, 2500, 1000, 0), 0, "a flush within the interval tells nothing");
        is_int(ratelog_burst_flush(&b, 3001, 1000, 0), 4, "once it is over, the 4 counted");
        is_int(ratelog_burst(&b, 3002, 1000, 3), 1, "and a new interval's first is logged on its own");
        ratelog_burst(&b, 3003, 1000, 3);
        ratelog_burst(&b, 3004, 1000, 3);
        ratelog_burst(&b, 3005, 1000, 3);
        is_int(ratelog_burst_flush(&b, 3006, 1000, 1), 1, "at a stop, what is counted, at once");
    }

    for (i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, hitter, &reported[i]) != 0)
            return 1;
    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += reported[i];
    }
    ok(total > 0, "threads racing: reports are made");
    total += ratelog_flush(&shared, 1000000, 5);
    is_int(total, (long long)THREADS * HITS, "and every event is in one report, none twice");
    return done_testing();
}
