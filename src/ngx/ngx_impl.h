/*
 * ngx_impl.h: the insides of OpenResty's API (ngx.*), shared by the files
 * of src/ngx/ only; the rest of the daemon sees ngx.h.
 *
 * Every ngx function is a C closure whose first upvalue is the state's
 * struct ngx_state (a full userdata made once per state, ngx.c). Which
 * request a call belongs to is read from the req API's binding (reqapi.h):
 * its serial changes with every request, and the per-request fields here
 * are reset the first time an ngx function runs for a new one, so a
 * request that never touches ngx costs nothing (ngx_bound).
 */
#ifndef LF_NGX_IMPL_H
#define LF_NGX_IMPL_H

#include <limits.h>
#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "reqapi.h"

struct pool_state;
struct request;

struct ngx_state {
    struct reqapi_bind    *bind;       /* the req API's binding (reqapi.c) */
    unsigned long       serial;     /* bind's serial the fields below are for */
    struct request     *r;          /* the request they are for; NULL: none */
    struct ngx_timer   *timer;      /* the timer whose callback runs, or NULL */
    int                 built;      /* the ngx table has its fields (ngx.c) */
    int                 ngx_ref;    /* the ngx table, which the build fills */
    /* per request, reset by ngx_bound */
    int                 status;     /* ngx.status as set; 0: not set */
    int                 sent;       /* the headers count as sent (output began) */
    int                 ctype_set;  /* the script set Content-Type */
    int                 eof;        /* ngx.eof() was called */
    int                 body_read;  /* ngx.req.read_body() ran */
    int                 body_discarded; /* ngx.req.discard_body() came first */
    int                 body_counted; /* read_body read a chunked body with no Content-Length */
    long                body_cap;   /* read_body's Content-Length as the script left it: the
                                     * bytes read; NGX_BODY_AS_SENT, NGX_BODY_NONE (cleared) */
    long long           now_ms;     /* ngx.now()'s clock; 0: not read yet */
    int                 ctx_ref;    /* ngx.ctx, LUA_NOREF until used */
    int                 var_ref;    /* ngx.var values the script set */
    int                 args_ref;   /* ngx.req.set_uri_args's query string */
    int                 uri_ref;    /* ngx.req.set_uri's URI */
    int                 method_ref; /* ngx.req.set_method's method */
    int                 body_ref;   /* ngx.req.set_body_data's body */
    int                 file_ref;   /* the body's temp file (read_body, init_body) */
    int                 newbody_ref; /* init_body's pieces held in memory; LUA_NOREF: none */
    size_t              newbody_held; /* their bytes */
    size_t              newbody_size; /* past it, the new body goes to file_ref's file */
    int                 newbody_file_only; /* init_body(0) came: every new body in a file */
    int                 hdr_ref;    /* request headers set or cleared */
};

/* What ngx_escape escapes: ngx_lua's tables (ngx.escape_uri's types 0-6,
 * then the header name and value, then set_uri_args's). */
#define NGX_ESCAPE_URI          0
#define NGX_ESCAPE_ARGS         1
#define NGX_ESCAPE_URI_COMPONENT 2
#define NGX_ESCAPE_HTML         3
#define NGX_ESCAPE_REFRESH      4
#define NGX_ESCAPE_MEMCACHED    5
#define NGX_ESCAPE_MAIL_AUTH    6
#define NGX_ESCAPE_HEADER_NAME  7
#define NGX_ESCAPE_HEADER_VALUE 8
#define NGX_ESCAPE_SET_ARGS     9

/* Contexts an ngx function may run in, for ngx_check. */
#define NGX_IN_REQUEST  1       /* a request's handler */
#define NGX_IN_TIMER    2       /* a timer's callback */
#define NGX_IN_ANY      (NGX_IN_REQUEST | NGX_IN_TIMER)
/* refused in a timer as ngx_lua refuses a fake request's call (its
 * variables, headers, status...): "API disabled in the current context" */
#define NGX_FAKE_REFUSED 4

/* C lower-cased (ASCII only, as nginx folds names). */
static inline char
ngx_lower(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (char)(c - 'A' + 'a');
    return c;
}

/* C as header names compare: lower case, "_" as "-". */
static inline char
ngx_fold(char c)
{
    if (c == '_')
        return '-';
    return ngx_lower(c);
}

/* C in a FastCGI parameter's name (HTTP_X_FOO for x-foo): upper case,
 * "-" as "_". */
static inline char
ngx_param_char(char c)
{
    if (c == '-')
        return '_';
    if (c >= 'a' && c <= 'z')
        return (char)(c - 'a' + 'A');
    return c;
}

/* S's request has an answer from ngx now (output, a header, a status):
 * its script is a content chunk (contentscript.c). */
static inline void
ngx_answered(struct ngx_state *s)
{
    s->bind->answered = 1;
}

/* ngx.c */
struct ngx_state *ngx_bound(lua_State *L);
void              ngx_reset(lua_State *L, struct ngx_state *s);
struct request   *ngx_check(lua_State *L, int where);
void              ngx_push_state(lua_State *L);
/* Lua's format (lua_pushvfstring): printf's types, Lua 5.1's conversions
 * only (tools/luafmt) */
int               ngx_error_at(lua_State *L, int level, const char *fmt, ...)
                      __attribute__((format(printf, 3, 4)));
void              ngx_register(lua_State *L, const luaL_Reg *fns);
void              ngx_subtable(lua_State *L, const char *name, const luaL_Reg *fns);
const char       *ngx_status_line(int code);
void              ngx_push_ref(lua_State *L, int ref);
void              ngx_ref_table(lua_State *L, int *ref);
void              ngx_add_value(lua_State *L, int t);
const char       *ngx_tostring(lua_State *L, int idx, size_t *len);
void              ngx_call_tostring(lua_State *L, int idx);
int               ngx_push_fail(lua_State *L, const char *err);
void              ngx_push_proxy(lua_State *L, lua_CFunction index, lua_CFunction newindex);
void              ngx_unref(lua_State *L, int *ref);

/* the parts of the table, each in its own file */
void ngx_out_install(lua_State *L);       /* ngx_out.c: say, print, exit... */
int  ngx_out_status_get(lua_State *L, struct ngx_state *s);
void ngx_out_status_set(lua_State *L, struct ngx_state *s, int idx);
int  ngx_out_begin(lua_State *L, struct ngx_state *s, struct request *r);
void ngx_header_install(lua_State *L);    /* ngx_header.c: ngx.header, ngx.resp */
void ngx_header_set(lua_State *L, struct ngx_state *s, struct request *r, const char *name,
                    size_t nlen, int vidx);
void ngx_var_install(lua_State *L);       /* ngx_var.c: ngx.var */
const char *ngx_var_param(struct request *r, const char *name, size_t len);
/* The request's body came chunked: its length is nginx's count of it,
 * not a header the client sent. */
static inline int
ngx_req_chunked(struct request *r)
{
    return ngx_var_param(r, "HTTP_TRANSFER_ENCODING", 22) != NULL;
}
void ngx_req_install(lua_State *L);       /* ngx_req.c: ngx.req: URI, args, body */
const char *ngx_req_args(lua_State *L, struct ngx_state *s, struct request *r, size_t *len);
void ngx_req_body_install(lua_State *L);  /* ngx_req_body.c: init_body, append_body... */
int  ngx_req_write_all(int fd, const char *p, size_t len);
int  ngx_req_body_push(lua_State *L, struct ngx_state *s);
void ngx_req_body_drop(lua_State *L, struct ngx_state *s);
#define NGX_BODY_AS_SENT (-1L)
#define NGX_BODY_NONE    (-2L)
size_t ngx_req_body_read_len(const struct ngx_state *s, const struct request *r); /* ngx_req.c */
void ngx_req_header_install(lua_State *L); /* ngx_req_header.c: ngx.req's headers */
int  ngx_req_header(lua_State *L, struct ngx_state *s, struct request *r, const char *name,
                    size_t len);
int  ngx_req_header_changed(lua_State *L, struct ngx_state *s, const char *low, size_t len);
void ngx_req_header_set_length(lua_State *L, struct ngx_state *s, size_t len);
void ngx_req_header_metatable(lua_State *L);
void ngx_codec_install(lua_State *L);     /* ngx_codec.c: escaping, base64 */
const char *ngx_codec_string(lua_State *L, size_t *len);
int  ngx_codec_args(lua_State *L, const char *p, size_t len, int max, int idx);
void ngx_codec_encode(lua_State *L, int idx);
size_t ngx_escape(char *dst, const char *src, size_t n, int type);
void ngx_hash_install(lua_State *L);      /* ngx_hash.c: md5, sha1, HMAC, CRC-32 */
void ngx_time_install(lua_State *L);      /* ngx_time.c: clocks and dates */
void ngx_time_update(struct ngx_state *s);
void ngx_log_install(lua_State *L);       /* ngx_log.c: ngx.log, the module's own lines */
void ngx_note(struct ngx_state *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ngx_log_escape(lua_State *L, const char *s, size_t len);
void ngx_worker_install(lua_State *L);    /* ngx_worker.c: worker, config, phase, sleep */
void ngx_refuse_install(lua_State *L);    /* ngx_refuse.c: what only nginx can do */
void ngx_refuse_field(lua_State *L, const char *field, const char *name, const char *why);
void ngx_re_install(lua_State *L);        /* ngx_re.c: ngx.re on PCRE2 (ngx_re_engine.c) */
void ngx_timer_install(lua_State *L);     /* ngx_timer_lua.c: ngx.timer */

/* A timer, between ngx.timer (ngx_timer_lua.c), which makes it, and the
 * threads that run it (ngx_timer.c). */
/* A delay past this many ms (about 285,000 years) is never reached. */
#define NGX_TIMER_MAX_MS    9007199254740992.0
#define NGX_TIMER_NEVER     LLONG_MAX

struct ngx_timer {
    struct ngx_timer   *next;           /* in the pending list, soonest first; or running */
    long long           due_ms;         /* monotonic */
    long long           every_ms;       /* ngx.timer.every's period; 0: once */
    struct pool_state  *st;             /* the state it runs in, pinned */
    int                 ref;            /* st's registry: { fn, args..., n = count } */
    int                 premature;
    char                script[LF_SCOREBOARD_PATH];
};

int  ngx_timer_exiting(void);
int  ngx_timers_ready(void);
void ngx_timer_schedule(struct ngx_timer *t);
int  ngx_timers_count(int running);
void ngx_plug_install(lua_State *L);      /* ngx_plug.c: ngx.shared, ngx.socket, ngx.thread */

#endif
