/*
 * request.c: one FastCGI request's flow.
 *
 * Order: check the script (404/403 before any Lua runs), read the whole
 * body (413 before the handler, and before a state is taken, so a slow
 * upload holds no state) unless it is over upload_memory and is left for
 * the handler to take in pieces (body.c), take a state, call the handler in protected
 * mode, answer. A status or ping request is handed to its page before
 * any of that. How the answer goes out is request_out.c.
 *
 * Anything that goes wrong becomes a small HTML page and one log line that
 * names the worker, the script and the reason. A state that ran over its
 * time or memory, or whose load failed, is closed; any other state goes
 * back to the pool, because a script's runtime error says nothing bad
 * about the state it ran in. An error object is turned into its
 * description inside the protected call, under the request's limits
 * (sandbox_describe); out here only strings are read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "accesslog.h"
#include "api.h"
#include "body.h"
#include "conf.h"
#include "counters.h"
#include "housekeep.h"
#include "log.h"
#include "pool.h"
#include "request.h"
#include "request_out.h"
#include "sandbox.h"
#include "scoreboard.h"
#include "scriptfile.h"
#include "slowlog.h"
#include "state.h"
#include "upload.h"
#include "status.h"
#include "wsapi.h"
#include "wire.h"

#define REQUEST_READ_CHUNK  ((size_t)64 * 1024)
#define REQUEST_ERRLEN      1024

int
request_init(struct request *r, int worker, struct pool *pool)
{
    struct conf *c = conf_acquire();
    size_t hs = (size_t)c->headersize, bs = (size_t)c->bodysize;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    conf_release(c);
    r->worker = worker;
    r->pool = pool;
    if (buf_init(&r->status, 32) < 0 || buf_init(&r->ctype, 32) < 0 ||
        buf_init(&r->head, hs) < 0 || buf_init(&r->body, bs) < 0 ||
        buf_init(&r->post, 256) < 0 || buf_init(&r->out, hs + 128) < 0 ||
        buf_init(&r->temps, 256) < 0)
        rc = -1;
    /* no listening socket: libfcgi only reads the connections we hand it */
    if (rc == 0 && FCGX_InitRequest(&r->fcgx, -1, 0) != 0) {
        log_err("worker %d: cannot initialise a FastCGI request", worker);
        rc = -1;
    }
    if (rc < 0)
        request_free(r);
    return rc;
}

void
request_free(struct request *r)
{
    buf_free(&r->status);
    buf_free(&r->ctype);
    buf_free(&r->head);
    buf_free(&r->body);
    buf_free(&r->post);
    buf_free(&r->out);
    buf_free(&r->temps);
}

/* Its BEGIN_REQUEST is being read: the request's clocks start (the
 * thread's CPU time only when CPU is set: it costs a system call). */
void
request_began(struct request *r, int cpu)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    r->began_us = (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    clock_gettime(CLOCK_REALTIME, &r->began_at);
    r->cpu_taken = cpu;
    if (cpu)
        accesslog_cpu(&r->cpu_user, &r->cpu_system);
}

static void
request_reset(struct request *r)
{
    request_set(&r->status, r->conf->httpstatus);
    request_set(&r->ctype, r->conf->contenttype);
    buf_reset(&r->head);
    buf_reset(&r->body);
    buf_reset(&r->post);
    r->post_read = 0;
    r->body_left = 0;
    r->body_given = 0;
    r->body_taken = 0;
    r->body_want = BODY_UNKNOWN;
    r->headers_sent = 0;
    r->has_length = 0;
    r->client_gone = 0;
    r->no_keep = 0;
}

static int
request_has_extension(const struct conf *c, const char *path)
{
    size_t plen = strlen(path);
    int i;

    if (c->extensions.count == 0)
        return 1;
    for (i = 0; i < c->extensions.count; i++) {
        size_t elen = strlen(c->extensions.items[i]);
        if (plen > elen && strcmp(path + plen - elen, c->extensions.items[i]) == 0)
            return 1;
    }
    return 0;
}

/* Find the script from the CGI variables (resolve.c): 0, or 404. */
static int
request_resolve(struct request *r, char *why, size_t whylen)
{
    struct resolve_in in;
    int status;

    in.filename = r->vars.script_filename;
    in.document_root = r->vars.document_root;
    in.script_name = r->vars.script_name;
    in.path_info = r->vars.path_info;
    in.path_translated = r->vars.path_translated;
    in.docroot = r->conf->docroot;
    if ((status = resolve_script(&in, &r->res, why, whylen)) != 0)
        return status;
    if (r->res.script[0] == '\0') {
        snprintf(why, whylen, "no SCRIPT_FILENAME in the request, nor a path to find it by");
        return 404;
    }
    r->script = r->res.script;
    return 0;
}

/*
 * 0 when the script may run (its identity in ID), or an HTTP status.
 * docroot comes first, so that a path outside it is 403 whether or not
 * something exists there. Resolving left the script's stat in r->res: no
 * second one.
 */
static int
request_check_script(struct request *r, struct file_id *id, char *why, size_t whylen)
{
    int status;

    if ((status = request_resolve(r, why, whylen)) != 0)
        return status;
    /* -1, missing under docroot, is the 404 below */
    if (scriptfile_in_docroot(r->script, r->conf->docroot) == 0) {
        snprintf(why, whylen, "the script is outside docroot %s", r->conf->docroot);
        return 403;
    }
    if (!request_has_extension(r->conf, r->script)) {
        snprintf(why, whylen, "the script's name does not end with an allowed extension");
        return 403;
    }
    errno = r->res.err;
    if (errno != 0 || pool_stat_id(&r->res.sb, id) < 0) {
        snprintf(why, whylen, "%s", errno == EISDIR ? "not a regular file" : strerror(errno));
        return errno == EACCES ? 403 : 404;
    }
    return 0;
}

/* Read the whole body; 0, or 413, or -1 when the client went away. */
static int
request_read_body(struct request *r, char *why, size_t whylen)
{
    const char *cl = r->vars.content_length;
    size_t max = (size_t)r->conf->maxpost, want = r->body_want;
    int n;

    /* an unknown length (see body.c) is read to its end all the same,
     * bounded by maxpost below; a known one is read no further */
    if (want != BODY_UNKNOWN && want > max) {
        snprintf(why, whylen, "CONTENT_LENGTH %.40s is over maxpost %zu", cl, max);
        return 413;
    }
    for (;;) {
        size_t room = max + 1 - r->post.len;
        if (room > REQUEST_READ_CHUNK)
            room = REQUEST_READ_CHUNK;
        if (want != BODY_UNKNOWN && room > want - r->post.len)
            room = want - r->post.len;
        if (room == 0)
            break;              /* CONTENT_LENGTH read: the rest is drained */
        if (buf_reserve(&r->post, room) < 0) {
            snprintf(why, whylen, "out of memory for the request body");
            return 500;
        }
        n = FCGX_GetStr(r->post.data + r->post.len, (int)room, r->fcgx.in);
        if (n <= 0)
            break;
        r->post.len += (size_t)n;
        if (r->post.len > max) {
            snprintf(why, whylen, "the request body is over maxpost %zu", max);
            return 413;
        }
    }
    if (FCGX_GetError(r->fcgx.in) != 0) {
        r->client_gone = 1;
        return -1;
    }
    return 0;
}

/* Record an upload's temp file, removed when the request ends. */
int
request_add_temp(struct request *r, const char *path)
{
    if (buf_append(&r->temps, path, strlen(path) + 1) < 0) {
        /* not recorded: it must not outlive the request */
        if (unlink(path) < 0)
            log_syserr("worker %d: %s: removing upload %s", r->worker, r->script, path);
        return -1;
    }
    return 0;
}

/* Run inside lua_cpcall: env, req and the handler call. [-0, +0, e] */
static int
request_entry(lua_State *L)
{
    struct request *r = lua_touserdata(L, 1);

    lua_settop(L, 0);
    lua_pushcfunction(L, state_traceback);
    lua_getglobal(L, r->conf->handler);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        if (!wsapi_push_call(L))
            return luaL_error(L, "no handler function '%s' in the script, and it is no WSAPI application",
                              r->conf->handler);
    }
    request_push_env(L, r);
    api_push_req(L, r);
    /* the handler (env, req), or wsapi_run (app, env, req) */
    if (lua_pcall(L, lua_gettop(L) - 2, 0, 1) != 0) {
        /* described here, while the limits still bound its __tostring */
        if (state_over(L) == STATE_OK && !state_is_exit(L, -1))
            sandbox_describe(L, -1);
        return lua_error(L);
    }
    return 0;
}

static void
request_describe_error(lua_State *L, char *why, size_t whylen)
{
    switch (state_over(L)) {
    case STATE_OVER_TIME:
        snprintf(why, whylen, "timeout: the request ran too long; its state is closed");
        return;
    case STATE_OVER_MEMORY:
        snprintf(why, whylen, "memory limit reached; its state is closed");
        return;
    }
    /* never a metamethod here: no limits, no protection */
    if (lua_isstring(L, -1))
        snprintf(why, whylen, "%s", lua_tostring(L, -1));
    else
        snprintf(why, whylen, "(error object is a %s value)", luaL_typename(L, -1));
}

/* Call the handler; a POOL_DISCARD_* when the state must be closed. */
static int
request_call(struct request *r, lua_State *L)
{
    char why[REQUEST_ERRLEN];
    int rc, discard = 0;

    state_arm(L, r->conf);
    state_watch(L, r->slow);
    rc = lua_cpcall(L, request_entry, r);
    r->memory = state_peak(L);
    api_clear_req(L);
    state_disarm(L);
    /* a limit once hit fails the request even if something swallowed it */
    if (state_over(L) != STATE_OK || (rc != 0 && !state_is_exit(L, -1))) {
        r->error_kind = state_over(L) == STATE_OVER_TIME ? COUNTERS_TIMEOUT :
                        state_over(L) == STATE_OVER_MEMORY || rc == LUA_ERRMEM ? COUNTERS_MEMORY :
                        COUNTERS_RUNTIME;
        discard = r->error_kind == COUNTERS_TIMEOUT ? POOL_DISCARD_TIMEOUT :
                  r->error_kind == COUNTERS_MEMORY ? POOL_DISCARD_MEMORY : POOL_KEEP;
        request_describe_error(L, why, sizeof(why));
        request_error(r, 500, why);
    }
    lua_settop(L, 0);
    return discard;
}

/*
 * Load the script into the fresh slot ST: 0, or an HTTP status with WHY.
 * ST records the identity of the file opened and loaded, which may differ
 * from what the request's stat saw: the pool then drops it when it is
 * given back.
 */
static int
request_load(struct request *r, struct pool_state *st, char *why, size_t whylen)
{
    int fd;

    if ((fd = scriptfile_open(r->script, r->conf->docroot, &st->id, why, whylen)) < 0)
        return -fd;
    st->L = state_open_watched(r->script, fd, r->conf, r->slow, why, whylen);
    close(fd);
    return st->L == NULL ? 500 : 0;
}

static void
request_run(struct request *r, const struct file_id *id)
{
    char why[REQUEST_ERRLEN];
    struct pool_state *st;
    int fresh, discard, status;

    if ((st = pool_acquire(r->pool, r->script, id, r->worker, &fresh)) == NULL) {
        request_error(r, 500, "out of memory for a state");
        return;
    }
    if (fresh && (status = request_load(r, st, why, sizeof(why))) != 0) {
        pool_release(r->pool, st, 1);
        r->error_kind = status == 500 ? COUNTERS_SYNTAX : COUNTERS_NOT_FOUND;
        request_error(r, status, why);
        return;
    }
    if (fresh)
        counters_loaded(r->worker);
    discard = request_call(r, st->L);
    pool_release(r->pool, st, discard);
}

void
request_handle(struct request *r)
{
    char why[REQUEST_ERRLEN];
    struct file_id id;
    enum status_which which;
    int status;

    r->conf = conf_acquire();
    if (r->conf->access_cpu && !r->cpu_taken) {
        /* a reload turned %C on after the request began: count from now */
        accesslog_cpu(&r->cpu_user, &r->cpu_system);
        r->cpu_taken = 1;
    }
    request_reset(r);
    request_find_vars(r->fcgx.envp, &r->vars);
    counters_accept();
    which = status_match(r->conf, r->vars.script_name);
    if (which == STATUS_NONE && r->worker == REQUEST_SERVICE) {
        /* the service thread took it for status or ping, but it is not
         * one (a reload changed the paths since): never a script here */
        request_error(r, 503, "not a status or ping request, and no worker is free");
        request_finish(r);
        r->no_keep = 1;
        conf_release(r->conf);
        r->conf = NULL;
        return;
    }
    if (which != STATUS_NONE) {
        request_status(r, which);
        conf_release(r->conf);
        r->conf = NULL;
        return;
    }
    r->script = r->vars.script_filename;
    r->memory = 0;
    r->error_kind = COUNTERS_OK;
    if (r->wire != NULL)
        r->wire->script = r->script;    /* names it in the record layer's logs */
    status = request_check_script(r, &id, why, sizeof(why));
    scoreboard_enter(r->worker, r->script);
    counters_begin(r->worker, r->vars.request_method, r->vars.request_uri, r->script,
                   r->vars.content_length);
    if (r->conf->slowtime > 0 && r->conf->slowlog != NULL)
        r->slow = slowlog_begin(r);     /* with the script resolved */
    if (status == 0 && !body_defer(r))
        status = request_read_body(r, why, sizeof(why));
    if (status == 0) {
        if (r->wire != NULL)
            wire_pause(r->wire);    /* Lua time is not the client's */
        request_run(r, &id);
        upload_cleanup(r);
        if (r->wire != NULL)
            wire_resume(r->wire);
    } else if (status > 0) {
        if (status == 403 || status == 404)
            r->error_kind = COUNTERS_NOT_FOUND;
        request_error(r, status, why);
    }
    if (!r->client_gone)
        request_finish(r);
    if (r->slow != NULL) {
        slowlog_end(r->worker);
        r->slow = NULL;
    }
    accesslog_write(r);

    r->jitter = r->conf->jitter;
    buf_reset(&r->body);        /* sent; the next request starts empty */
    buf_reset(&r->post);
    if (buf_shrink(&r->body, (size_t)r->conf->bodysize) | buf_shrink(&r->post, REQUEST_READ_CHUNK))
        housekeep_trim_soon();
    conf_release(r->conf);
    r->conf = NULL;
    r->script = NULL;
    memset(&r->vars, 0, sizeof(r->vars));  /* libfcgi's, freed with the request */
    scoreboard_leave(r->worker);
    counters_end(r->worker, (enum counters_error)r->error_kind);
}

/*
 * The worker has been idle a while: buffers go back to their starting
 * sizes, and what the busy spell freed is handed back to the system.
 */
void
request_idle(struct request *r)
{
    struct conf *c = conf_acquire();
    size_t bs = (size_t)c->bodysize;

    conf_release(c);
    buf_trim(&r->body, bs);
    buf_trim(&r->post, REQUEST_READ_CHUNK);
    buf_trim(&r->out, 256);
    housekeep_trim_soon();
}

/* Load each preload script into a state now, so the first request is warm. */
int
request_preload(struct pool *pool, const struct conf *c)
{
    char why[REQUEST_ERRLEN];
    struct pool_state *st;
    struct file_id id;
    int i, fd, fresh, failed = 0;

    for (i = 0; i < c->preload.count; i++) {
        const char *path = c->preload.items[i];
        if ((fd = scriptfile_open(path, NULL, &id, why, sizeof(why))) < 0) {
            log_err("preload %s: %s", path, why);
            failed++;
            continue;
        }
        if ((st = pool_acquire(pool, path, &id, 0, &fresh)) == NULL) {
            close(fd);
            failed++;
            continue;
        }
        if (fresh && (st->L = state_open(path, fd, c, why, sizeof(why))) == NULL) {
            log_err("preload %s: %s", path, why);
            failed++;
        }
        close(fd);
        pool_release(pool, st, st->L == NULL);
    }
    return failed ? -1 : 0;
}
