/* writeoff.h: a run of a script stuck in C past terminate_timeout is written off. */
#ifndef LF_WRITEOFF_H
#define LF_WRITEOFF_H

#include <pthread.h>

#include <lua.h>

#include "slowlog.h"
#include "state.h"

struct pool_state;
struct request;
struct slowlog_slot;

/* One worker's run of a script (a load or a handler), as the housekeeper
 * sees it. Part of struct request: a written-off worker keeps its own,
 * and its replacement has another. */
struct writeoff {
    /* lock guards running, written_off, began_ms, st, L, io_base and the trace; cut
     * is its atomic copy of written_off, for the hook; trace_due_us and
     * slow are the worker's alone */
    pthread_mutex_t     lock;
    int                 ready;          /* lock made */
    int                 running;
    int                 written_off;
    long long           began_ms;       /* monotonic: the run's start */
    struct pool_state  *st;             /* the state it runs in */
    void               *L;              /* its lua_State, once loaded (the handler's run) */
    long long           io_base;        /* ms its connection's I/O had waited at the start */
    int                 fd;             /* its connection; -1 once given back (req:finish) */
    char                trace[SLOWLOG_TRACE_MAX];   /* the hook's last traceback */
    size_t              trace_len;
    long long           trace_ms;       /* monotonic: when it was taken */
    int                 cut;
    long long           trace_due_us;
    struct slowlog_slot *slow;          /* the slow log's watch, called first */
};

/* A written-off run (writeoff_check fills it): what the logs say of it, and
 * its entry on the status page (counters_written_off). */
struct writeoff_report {
    struct slowlog_stuck what;
    int         handle;
};

int  writeoff_init(struct writeoff *s);
void writeoff_free(struct writeoff *s);
void writeoff_begin(struct request *r, struct pool_state *st);
int  writeoff_end(struct request *r);
int  writeoff_let_go(struct request *r);
void writeoff_watch(lua_State *L, void *stuck);
state_watch_fn *writeoff_watch_for(struct request *r, void **arg);
int  writeoff_check(struct request *r, long long now_ms, int limit, struct writeoff_report *out);

#endif
