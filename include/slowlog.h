/* slowlog.h: entries for requests still running after `slowtime`. */
#ifndef LF_SLOWLOG_H
#define LF_SLOWLOG_H

#include <stddef.h>

#include <lua.h>

#include "luafcgid.h"
#include "reqid.h"

struct conf;
struct request;
struct slowlog_slot;

#define SLOWLOG_TRACE_MAX 2048      /* a traceback kept for a written-off worker */

/* A request whose worker was written off past terminate_timeout (writeoff.c),
 * as the logs tell it. */
struct slowlog_stuck {
    int         worker;
    long long   ran_ms;                 /* its script's run, until written off */
    long long   began_us;               /* the request's start, monotonic */
    char        id[REQID_SIZE];
    char        script[LF_SCOREBOARD_PATH];
    char        method[32];
    char        uri[1024];
    char        trace[SLOWLOG_TRACE_MAX];   /* the last its own hook took */
    long long   trace_age_ms;           /* how old it is; -1: none */
    int         answered;               /* 1: a 500 page went out, 0: only a close, */
#define SLOWLOG_ANSWERED_BEFORE 2       /* or req:finish() had answered it */
#define SLOWLOG_ANSWERED_GONE  (-1)     /* or its client had gone */
    int         limit;                  /* terminate_timeout, s */
};

int   slowlog_start(int workers, const struct conf *c);
void  slowlog_stop(void);
int   slowlog_open(const struct conf *c);
struct slowlog_slot *slowlog_begin(const struct request *r);
void  slowlog_end(int worker);
void  slowlog_sweep(void);
void  slowlog_watch(lua_State *L, void *slot);
size_t slowlog_traceback(lua_State *L, char *buf, size_t size);
void  slowlog_written_off(const struct slowlog_stuck *rep);
const char *slowlog_answered(int answered);
void  slowlog_note(const char *what);

#endif
