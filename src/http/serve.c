/*
 * serve.c: one FastCGI request's way through luafcgid.
 *
 * Order: check the script (404/403 before any Lua runs), read the whole
 * body (413 before the handler, and before a state is taken, so a slow
 * upload holds no state) unless it is over upload_memory and is left for
 * the handler to take in pieces (body.c), take a state, call the handler in protected
 * mode, answer. A status or ping request is handed to its page before
 * any of that. The request itself (its buffers, how its answer goes out)
 * is request.c; a script's state as requests see it is script.c.
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "accesslog.h"
#include "body.h"
#include "conf.h"
#include "contentscript.h"
#include "counters.h"
#include "forkguard.h"
#include "log.h"
#include "monoclock.h"
#include "net.h"
#include "pool.h"
#include "reqapi.h"
#include "reqenv.h"
#include "request.h"
#include "resolve.h"
#include "sandbox.h"
#include "scoreboard.h"
#include "script.h"
#include "scriptfile.h"
#include "serve.h"
#include "slowlog.h"
#include "state.h"
#include "status.h"
#include "upload.h"
#include "wire.h"
#include "writeoff.h"
#include "wsapi.h"

#define SERVE_ERRLEN    1024

static int
serve_has_extension(const struct conf *c, const char *path)
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
serve_resolve(struct request *r, char *why, size_t whylen)
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
serve_check_script(struct request *r, struct file_id *id, char *why, size_t whylen)
{
    int status;

    if ((status = serve_resolve(r, why, whylen)) != 0)
        return status;
    /* -1, missing under docroot, is the 404 below */
    if (scriptfile_in_docroot(r->script, r->conf->docroot) == 0) {
        snprintf(why, whylen, "the script is outside docroot %s", r->conf->docroot);
        return 403;
    }
    if (!serve_has_extension(r->conf, r->script)) {
        snprintf(why, whylen, "the script's name does not end with an allowed extension");
        return 403;
    }
    errno = r->res.err;
    if (errno != 0 || scriptfile_stat_id(&r->res.sb, id) < 0) {
        snprintf(why, whylen, "%s", errno == EISDIR ? "not a regular file" : strerror(errno));
        return scriptfile_errno_status(errno);
    }
    return 0;
}

/* Read the whole body; 0, or 413, or -1 when the client went away. */
static int
serve_read_body(struct request *r, char *why, size_t whylen)
{
    const char *cl = r->vars.content_length;
    size_t max = r->conf->maxpost, want = r->body_want;
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


/*
 * Run inside lua_cpcall: the handler with env and req, or wsapi_run with
 * the app, env and req, or an OpenResty content chunk with nothing but
 * its req bound (contentscript.c). [-0, +0, e]
 */
static int
serve_entry(lua_State *L)
{
    struct request *r = lua_touserdata(L, 1);
    int chunk = CONTENTSCRIPT_NONE;

    lua_settop(L, 0);
    lua_pushcfunction(L, state_traceback);
    if ((chunk = contentscript_push(L)) == CONTENTSCRIPT_ANSWERED)
        return net_lua_finish(L);       /* the state's load was this request's run */
    if (chunk == CONTENTSCRIPT_FAILED)
        return lua_error(L);            /* and it failed, described */
    if (chunk == CONTENTSCRIPT_NONE) {
        lua_getglobal(L, r->conf->handler);
        if (!lua_isfunction(L, -1)) {
            lua_pop(L, 1);
            if (!wsapi_push_call(L))
                return luaL_error(L, "no handler function '%s' in the script, and it is no WSAPI "
                                  "application", r->conf->handler);
        }
    }
    if (chunk == CONTENTSCRIPT_NONE)
        reqenv_push(L, r);
    reqapi_push_req(L, r);
    if (chunk != CONTENTSCRIPT_NONE)
        lua_pop(L, 1);
    if (lua_pcall(L, lua_gettop(L) - 2, 0, 1) != 0) {
        /* described here, while the limits still bound its __tostring */
        if (state_over(L) == STATE_OK && !state_is_exit(L, -1))
            sandbox_describe(L, -1);
        return lua_error(L);
    }
    net_lua_finish(L);      /* light threads still running end first */
    return 0;
}

static void
serve_describe_error(lua_State *L, char *why, size_t whylen)
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

/* The status or ping page: no script, no Lua, headers that forbid
 * caching, and no body for HEAD. */
static void
serve_status(struct request *r, enum status_which which)
{
    const char *method = r->vars.request_method;
    const char *ctype = "text/plain;charset=UTF-8";
    int rc = 0;

    buf_puts(&r->head, "Cache-Control: no-cache, no-store, must-revalidate, max-age=0\r\n"
             "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
    if (which == STATUS_PING)
        rc = buf_puts(&r->body, r->conf->ping_response);    /* as php-fpm: no newline */
    else
        rc = status_render(r->conf, reqenv_param("QUERY_STRING", r->fcgx.envp), &r->body, &ctype);
    if (rc < 0) {
        request_error(r, 500, "out of memory for the status page");
        request_finish(r);
        return;
    }
    buf_set(&r->ctype, ctype);
    if (method && strcmp(method, "HEAD") == 0) {
        char len[64];
        /* the length the body would have, as a GET would get it */
        snprintf(len, sizeof(len), "Content-Length: %zu\r\n", r->body.len);
        buf_puts(&r->head, len);
        r->has_length = 1;
        buf_reset(&r->body);
    }
    request_finish(r);
    buf_reset(&r->body);
}

/* Call the handler; a POOL_DISCARD_* when the state must be closed. A
 * worker written off meanwhile (writeoff.c) reports nothing: its request was
 * answered for it. */
static int
serve_call(struct request *r, lua_State *L)
{
    char why[SERVE_ERRLEN];
    int rc, discard = 0, written_off;
    state_watch_fn *watch;
    void *arg;

    state_arm(L, r->conf);
    watch = writeoff_watch_for(r, &arg);
    state_watch(L, watch, arg);
    rc = lua_cpcall(L, serve_entry, r);
    net_lua_end(L);         /* its light threads and open sockets go */
    written_off = writeoff_end(r);
    r->memory = state_peak(L);
    reqapi_clear_req(L);
    state_disarm(L);
    if (written_off) {
        lua_settop(L, 0);
        return POOL_DISCARD;
    }
    /* a limit once hit fails the request even if something swallowed it */
    if (state_over(L) != STATE_OK || (rc != 0 && !state_is_exit(L, -1))) {
        r->error_kind = state_over(L) == STATE_OVER_TIME ? COUNTERS_TIMEOUT :
                        state_over(L) == STATE_OVER_MEMORY || rc == LUA_ERRMEM ? COUNTERS_MEMORY :
                        COUNTERS_RUNTIME;
        discard = r->error_kind == COUNTERS_TIMEOUT ? POOL_DISCARD_TIMEOUT :
                  r->error_kind == COUNTERS_MEMORY ? POOL_DISCARD_MEMORY : POOL_KEEP;
        serve_describe_error(L, why, sizeof(why));
        request_error(r, 500, why);
    }
    lua_settop(L, 0);
    return discard;
}

/* The kind of error a load that failed for WHY counts as. */
static int
serve_load_error(enum state_fail why)
{
    switch (why) {
    case STATE_FAIL_SYNTAX:
        return COUNTERS_SYNTAX;
    case STATE_FAIL_TIME:
        return COUNTERS_TIMEOUT;
    case STATE_FAIL_MEMORY:
        return COUNTERS_MEMORY;
    default:
        return COUNTERS_RUNTIME;    /* its top level raised an error (a require loop) */
    }
}

/*
 * Load the script into the fresh slot ST: 0, or an HTTP status with WHY,
 * and the kind of error it counts as in r->error_kind. ST records the
 * identity of the file opened and loaded, which may differ from what the
 * request's stat saw: the pool then drops it when it is given back.
 */
static int
serve_load(struct request *r, struct pool_state *st, char *why, size_t whylen)
{
    struct script_file f;
    enum state_fail fail;
    int fd;

    if ((fd = scriptfile_open(r->script, r->conf->docroot, &st->id, why, whylen)) < 0) {
        if (fd == -403 || fd == -404)
            r->error_kind = COUNTERS_NOT_FOUND;
        return -fd;
    }
    f.path = r->script;
    f.fd = fd;
    f.id = &st->id;
    f.chunks = pool_chunks(r->pool);
    st->L = script_open(&f, r->conf, r, r->state_install, why, whylen, &fail);
    close(fd);
    if (st->L != NULL)
        return 0;
    r->error_kind = serve_load_error(fail);
    return 500;
}

/* Take a state, load the script when it is a fresh one, call the handler,
 * give the state back. Each run of the script (the load, the handler) is
 * watched for terminate_timeout; a written-off one's state is closed by
 * pool_release, the pool's no more. */
static void
serve_run(struct request *r, const struct file_id *id)
{
    char why[SERVE_ERRLEN];
    struct pool_state *st;
    int fresh, discard, status = 0;

    if ((st = pool_acquire(r->pool, r->script, id, r->worker, &fresh)) == NULL) {
        request_error(r, 500, "out of memory for a state");
        return;
    }
    r->state = st;      /* where ngx.timer pins its timers */
    if (fresh) {
        writeoff_begin(r, st);
        status = serve_load(r, st, why, sizeof(why));
        if (writeoff_end(r)) {
            r->state = NULL;
            pool_release(r->pool, st, POOL_DISCARD);
            return;
        }
    }
    if (status != 0) {
        r->state = NULL;
        pool_release(r->pool, st, 1);
        request_error(r, status, why);
        return;
    }
    if (fresh)
        counters_loaded(r->worker);
    writeoff_begin(r, st);
    discard = serve_call(r, st->L);
    r->state = NULL;
    pool_release(r->pool, st, discard);
}

/* The worker was written off while the script ran, and its request
 * answered and counted for it (writeoff.c): only what is its own is let go,
 * never the slots its replacement uses now. */
static int
serve_written_off(struct request *r)
{
    upload_cleanup(r);
    conf_release(r->conf);
    r->conf = NULL;
    r->script = NULL;
    r->slow = NULL;
    memset(&r->vars, 0, sizeof(r->vars));
    return 0;
}

/*
 * Serve the request R has read the parameters of. 1 when its buffers
 * shrank back (the caller may then hand what they freed back to the
 * system: housekeep_trim_soon), else 0.
 */
int
serve_request(struct request *r)
{
    char why[SERVE_ERRLEN];
    struct file_id id;
    enum status_which which;
    int status, shrank;

    r->conf = conf_acquire();
    if (r->conf->access_cpu && !r->cpu_taken) {
        /* a reload turned %C on after the request began: count from now */
        monoclock_thread_cpu(&r->cpu_user, &r->cpu_system);
        r->cpu_taken = 1;
    }
    request_reset(r);
    reqenv_find_vars(r->fcgx.envp, &r->vars);
    /* the length declared, for every request: the drain after an early
     * answer reads up to it (worker.c) */
    body_length(r->vars.content_length, &r->body_want);
    counters_accept();
    r->memory = 0;
    which = status_match(r->conf, r->vars.script_name);
    if (which == STATUS_NONE && r->worker == REQUEST_SERVICE) {
        /* the service thread took it for status or ping, but it is not
         * one (a reload changed the paths since): never a script here */
        request_error(r, 503, "not a status or ping request, and no worker is free");
        request_finish(r);
        r->no_keep = 1;
    } else if (which != STATUS_NONE)
        serve_status(r, which);
    if (which != STATUS_NONE || r->worker == REQUEST_SERVICE) {
        accesslog_write(r);     /* logged as php-fpm logs its status page */
        conf_release(r->conf);
        r->conf = NULL;
        return 0;
    }
    r->script = r->vars.script_filename;
    r->error_kind = COUNTERS_OK;
    if (r->wire != NULL)
        r->wire->script = r->script;    /* names it in the record layer's logs */
    status = serve_check_script(r, &id, why, sizeof(why));
    scoreboard_enter(r->worker, r->script);
    counters_begin(r->worker, r->vars.request_method, r->vars.request_uri, r->script,
                   r->vars.content_length);
    if (r->conf->slowtime > 0 && r->conf->slowlog != NULL)
        r->slow = slowlog_begin(r);     /* with the script resolved */
    if (status == 0 && !body_defer(r))
        status = serve_read_body(r, why, sizeof(why));
    if (status == 0) {
        if (r->wire != NULL)
            wire_pause(r->wire);    /* Lua time is not the client's */
        serve_run(r, &id);
        forkguard_check();  /* a copy made by a raw fork in the script ends here */
        if (r->written_off)
            return serve_written_off(r);
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
    shrank = buf_shrink(&r->body, r->conf->bodysize) | buf_shrink(&r->post, REQUEST_READ_CHUNK);
    conf_release(r->conf);
    r->conf = NULL;
    r->script = NULL;
    memset(&r->vars, 0, sizeof(r->vars));  /* libfcgi's, freed with the request */
    scoreboard_leave(r->worker);
    counters_end(r->worker, (enum counters_error)r->error_kind);
    return shrank;
}

/* Load each preload script into a state now, so the first request is
 * warm (MORE as the workers' state_install). Its path is written the one
 * way requests' are (resolve_tidy), or the state would be no request's. */
int
serve_preload(struct pool *pool, const struct conf *c, void (*more)(lua_State *L))
{
    char why[SERVE_ERRLEN], path[PATH_MAX];
    struct script_file f;
    struct pool_state *st;
    struct file_id id;
    int i, fd, fresh, failed = 0;

    for (i = 0; i < c->preload.count; i++) {
        size_t len = strlen(c->preload.items[i]);
        if (len >= sizeof(path)) {
            log_err("preload %s: longer than %zu bytes", c->preload.items[i], sizeof(path) - 1);
            failed++;
            continue;
        }
        memcpy(path, c->preload.items[i], len + 1);
        resolve_tidy(path);
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
        f.path = path;
        f.fd = fd;
        f.id = &id;
        f.chunks = pool_chunks(pool);
        if (fresh && (st->L = script_open(&f, c, NULL, more, why, sizeof(why), NULL)) == NULL) {
            log_err("preload %s: %s", path, why);
            failed++;
        }
        close(fd);
        pool_release(pool, st, st->L == NULL);
    }
    return failed ? -1 : 0;
}
