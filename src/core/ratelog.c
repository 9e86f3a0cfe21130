/*
 * ratelog.c: a warning about an event that can repeat fast (a refused
 * client, a lost log line, a failed accept) is logged at most once per
 * interval, with the count of the events since the last one, so that a
 * flood neither fills the log nor goes unseen.
 *
 * The first event is reported at once. The caller writes the message
 * (this file knows nothing of its words) when a call returns a count:
 * ratelog_hit on each event, ratelog_flush from a timer for what a quiet
 * spell left counted, ratelog_end when the trouble is over. The state is
 * two atomics: of writers racing for the same report, one wins the
 * compare-and-swap on `at` and reports; the others' events are counted
 * for the next.
 */
#include "ratelog.h"

/* Claim the report due at NOW (none within INTERVAL ms): 1, or 0 when it
 * is not due or another caller claimed it. */
static int
ratelog_claim(struct ratelog *r, long long now, long long interval)
{
    long long last = __atomic_load_n(&r->at, __ATOMIC_RELAXED);

    if (last != 0 && now - last < interval)
        return 0;
    return __atomic_compare_exchange_n(&r->at, &last, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* One more event at NOW (ms): the events since the last report, this one
 * included, when the caller is to report them now; else 0 (counted). */
unsigned long
ratelog_hit(struct ratelog *r, long long now, long long interval)
{
    __atomic_add_fetch(&r->count, 1, __ATOMIC_RELAXED);
    if (!ratelog_claim(r, now, interval))
        return 0;
    return __atomic_exchange_n(&r->count, 0, __ATOMIC_RELAXED);
}

/*
 * As ratelog_hit, for events each worth a line of their own while they
 * are few (a client refused, and why): the first BURST of an INTERVAL are
 * reported one by one, the rest counted and reported with the next. A
 * race at an interval's turn may let a few more through.
 */
unsigned long
ratelog_burst(struct ratelog *r, long long now, long long interval, unsigned long burst)
{
    long long last = __atomic_load_n(&r->at, __ATOMIC_RELAXED);

    if ((last == 0 || now - last >= interval) &&
        __atomic_compare_exchange_n(&r->at, &last, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        __atomic_store_n(&r->in_burst, 0, __ATOMIC_RELAXED);
    if (__atomic_add_fetch(&r->in_burst, 1, __ATOMIC_RELAXED) > burst) {
        __atomic_add_fetch(&r->count, 1, __ATOMIC_RELAXED);
        return 0;
    }
    return 1 + __atomic_exchange_n(&r->count, 0, __ATOMIC_RELAXED);
}

/* For ratelog_burst, from a timer: the events counted and not reported,
 * once the interval they fell in is over at NOW (a new one begins), or at
 * once with ALL (a stop); else 0. */
unsigned long
ratelog_burst_flush(struct ratelog *r, long long now, long long interval, int all)
{
    long long last = __atomic_load_n(&r->at, __ATOMIC_RELAXED);

    if (__atomic_load_n(&r->count, __ATOMIC_RELAXED) == 0)
        return 0;
    if (!all && (last == 0 || now - last < interval ||
                 !__atomic_compare_exchange_n(&r->at, &last, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)))
        return 0;
    if (!all)
        __atomic_store_n(&r->in_burst, 0, __ATOMIC_RELAXED);
    return __atomic_exchange_n(&r->count, 0, __ATOMIC_RELAXED);
}

/* The events counted but not reported, when a report is due at NOW; else 0. */
unsigned long
ratelog_flush(struct ratelog *r, long long now, long long interval)
{
    if (__atomic_load_n(&r->count, __ATOMIC_RELAXED) == 0 || !ratelog_claim(r, now, interval))
        return 0;
    return __atomic_exchange_n(&r->count, 0, __ATOMIC_RELAXED);
}

/* When (ms) the events counted may be reported, for a timer; -1: none waits. */
long long
ratelog_due(const struct ratelog *r, long long interval)
{
    if (__atomic_load_n(&r->count, __ATOMIC_RELAXED) == 0)
        return -1;
    return __atomic_load_n(&r->at, __ATOMIC_RELAXED) + interval;
}

/* Has a report been made since the start or the last ratelog_end? */
int
ratelog_reported(const struct ratelog *r)
{
    return __atomic_load_n(&r->at, __ATOMIC_RELAXED) != 0;
}

/* The trouble is over: the next event is reported at once. 1 with the
 * events not reported in *UNREPORTED when a report had been made (the
 * caller says it is over), else 0 (nothing was said, or another caller
 * ends it). */
int
ratelog_end(struct ratelog *r, unsigned long *unreported)
{
    if (__atomic_exchange_n(&r->at, 0, __ATOMIC_RELAXED) == 0)
        return 0;
    *unreported = __atomic_exchange_n(&r->count, 0, __ATOMIC_RELAXED);
    return 1;
}
