/* counters.h: what the daemon has done, for the status page. */
#ifndef LF_COUNTERS_H
#define LF_COUNTERS_H

#include <stddef.h>
#include <time.h>

/* Why a request failed, as the status page counts it. */
enum counters_error {
    COUNTERS_OK = 0,
    COUNTERS_RUNTIME,       /* a Lua error, or no handler */
    COUNTERS_SYNTAX,        /* the script did not load */
    COUNTERS_NOT_FOUND,     /* 404, 403 */
    COUNTERS_TIMEOUT,
    COUNTERS_MEMORY,
    COUNTERS_NERRORS
};

/* Why a state was closed. */
enum counters_evict {
    COUNTERS_EVICT_CHANGED = 0,     /* its script was edited or removed */
    COUNTERS_EVICT_IDLE,            /* maxidle */
    COUNTERS_EVICT_FULL,            /* room for another, at the states limit */
    COUNTERS_EVICT_MAXREQUESTS,
    COUNTERS_EVICT_TIMEOUT,
    COUNTERS_EVICT_MEMORY,
    COUNTERS_EVICT_FLUSH,           /* SIGHUP */
    COUNTERS_EVICT_WRITTEN_OFF,     /* its worker was stuck in C past terminate_timeout */
    COUNTERS_NEVICT
};

/* What the worker is running, or ran last (php-fpm's per-process fields). */
struct counters_worker {
    int         running;            /* 1: in a request */
    time_t      started;            /* the worker's start, epoch */
    unsigned long long requests;
    long long   duration_us;        /* of the request running or last run */
    char        method[16];
    char        uri[256];
    char        script[256];
    long long   content_length;
};

/* One script's figures, from every worker's requests to it. */
struct counters_script {
    char        path[256];          /* cut to a whole UTF-8 character */
    unsigned    hash;               /* of the whole path, with its length: */
    size_t      len;                /* two paths cut alike stay apart */
    unsigned long long requests;
    unsigned long long errors[COUNTERS_NERRORS];
    unsigned long long total_us, max_us;
    unsigned long long loads;
    time_t      last_load;          /* epoch; 0: never */
};

struct counters_totals {
    time_t      start_time;         /* epoch */
    unsigned long long accepted;    /* requests read */
    int         active, max_active; /* workers in a request */
    unsigned long long max_children_reached;
    unsigned long long slow;
    unsigned long long waits, wait_ms;  /* requests that waited for a state */
    unsigned long long errors[COUNTERS_NERRORS];
    int         max_queue;          /* most requests waiting for a worker */
    unsigned long long evictions[COUNTERS_NEVICT];
    unsigned long long written_off; /* workers written off (terminate_timeout) */
    int         stuck;              /* of them, still stuck in their C call */
    int         timers_pending;     /* ngx.timer callbacks waiting */
    int         timers_running;     /* and running */
};

int  counters_init(int workers);
void counters_free(void);
void counters_accept(void);
void counters_begin(int worker, const char *method, const char *uri, const char *script,
                    const char *content_length);
void counters_end(int worker, enum counters_error kind);
void counters_loaded(int worker);
void counters_slow(void);
void counters_evicted(enum counters_evict why);
void counters_waited(long long ms);
void counters_timers(int pending, int running);
void counters_queue(int waiting);
void counters_wait(int waiting);
void counters_totals(struct counters_totals *out);
int  counters_worker(int worker, struct counters_worker *out);
int  counters_workers(void);
int  counters_scripts(struct counters_script **out);
int  counters_written_off(int worker);
void counters_stuck_gone(int handle);
int  counters_stuck(struct counters_worker *out, int max);

#endif
