/* ratelog.h: warnings about a repeated event, at most one per interval. */
#ifndef LF_RATELOG_H
#define LF_RATELOG_H

/* Zeroed: no event yet. Updated with atomics: no lock needed. */
struct ratelog {
    long long     at;       /* ms (monoclock) of the last report; 0: none since the start or the end */
    unsigned long count;    /* events since the last report */
    unsigned long in_burst; /* events of the interval begun at `at` (ratelog_burst) */
};

unsigned long ratelog_hit(struct ratelog *r, long long now, long long interval);
unsigned long ratelog_burst(struct ratelog *r, long long now, long long interval, unsigned long burst);
unsigned long ratelog_burst_flush(struct ratelog *r, long long now, long long interval, int all);
unsigned long ratelog_flush(struct ratelog *r, long long now, long long interval);
long long     ratelog_due(const struct ratelog *r, long long interval);
int           ratelog_reported(const struct ratelog *r);
int           ratelog_end(struct ratelog *r, unsigned long *unreported);

#endif
