/*
 * conf.c: load luafcgid.conf.
 *
 * The config is a Lua chunk run once in a private state with no libraries
 * (arithmetic works, nothing can touch the system), a bounded instruction
 * budget and a memory cap (LF_CONF_MEMORY_MAX), so a loop in the config can
 * neither hang start-up, -t or a HUP nor grow the process until the kernel
 * kills it: the supervisor runs the file on every HUP. The keys and
 * their value parsers are a table in conf_keys.c; this file runs the chunk,
 * reads every key through that table, then makes the one cross-field check.
 * Every error names the file and the key.
 *
 * A loaded config is immutable and reference counted. conf_publish() makes a
 * new one current (start-up, SIGHUP); a worker takes a reference for the
 * length of one request, so a reload never changes the rules under a
 * request in flight, and the old snapshot is freed by its last user.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "accessfmt.h"
#include "acl.h"
#include "conf_impl.h"
#include "httpstatus.h"
#include "log.h"

#define CONF_INSTRUCTION_BUDGET 10000000

/* The config state's bytes, and the cap they are held to (0: none). */
struct conf_mem {
    const char *path;
    size_t  used;
    size_t  limit;
    int     over;       /* an allocation was refused */
};

/* Counts the loads, so that what depends on a file a config names (a CA
 * file) is read again at each one, even when its path is the same. */
static unsigned long conf_serial;

/* terminate_timeout from timeout when unset; past it a run is stuck in C,
 * so it must leave the timeout hook its chance first. */
static int
conf_check_terminate(struct conf_ctx *ctx, struct conf *c)
{
    if (c->terminate_timeout == CONF_UNSET)
        c->terminate_timeout = c->timeout > 0 ? c->timeout + LF_TERMINATE_MARGIN : 0;
    else if (c->terminate_timeout > 0 && c->timeout > 0 && c->terminate_timeout <= c->timeout) {
        conf_error(ctx, "terminate_timeout", "must be more than timeout (%d), not %d: the "
                   "timeout stops the Lua code first, this only what is stuck in C",
                   c->timeout, c->terminate_timeout);
        return -1;
    }
    return 0;
}

/*
 * What follows from C's workers, from the states and clones the file gave:
 * states defaults to twice workers and is at least workers (a worker must
 * not wait for a state), clones at most states; no more workers are
 * written off (max_written_off) than there are. Run at load, and again by
 * a reload once workers is back to the running value (conf_keep_restart):
 * RUNNING, the message then says that value is the one that runs.
 */
int
conf_check_workers(struct conf_ctx *ctx, struct conf *c, int running)
{
    const char *which = running ? ", which run until a restart" : "";

    c->states = c->states_given;
    if (c->states == CONF_UNSET)
        c->states = c->workers * 2 > LF_MAX_STATES ? LF_MAX_STATES : c->workers * 2;
    if (c->states < c->workers) {
        conf_error(ctx, "states", "must be at least workers (%d%s), not %d", c->workers, which,
                   c->states);
        return -1;
    }
    c->clones = c->clones_given;
    if (c->clones == CONF_UNSET || c->clones > c->states)
        c->clones = c->states;
    if (c->max_written_off > c->workers) {
        conf_error(ctx, "max_written_off", "must be at most workers (%d%s), not %d", c->workers,
                   which, c->max_written_off);
        return -1;
    }
    return 0;
}

/* The one check across keys, after every key is read. */
static int
conf_check(struct conf_ctx *ctx, struct conf *c)
{
    char why[256];

    c->states_given = c->states;
    c->clones_given = c->clones;
    if (conf_check_terminate(ctx, c) < 0 || conf_check_workers(ctx, c, 0) < 0)
        return -1;
    if (accessfmt_check(c->access_format, &c->access_value_max, why, sizeof(why)) < 0) {
        conf_error(ctx, "access_format", "%s", why);
        return -1;
    }
    c->access_cpu = c->access_log != NULL && accessfmt_uses_cpu(c->access_format);
    /* as req:header("Status", ...) refuses it: a web server could not read it */
    if (!httpstatus_valid(c->httpstatus, strlen(c->httpstatus))) {
        conf_error(ctx, "httpstatus", "must be a code and a reason, like \"404 Not Found\", not "
                   "\"%.64s\"", c->httpstatus);
        return -1;
    }
    if (c->handler[0] == '\0') {
        conf_error(ctx, "handler", "must not be empty");
        return -1;
    }
    /* closing a connection the web server asked to keep breaks FastCGI's
     * FCGI_KEEP_CONN: nginx may already be sending it a request */
    if (c->keepalive_max == 0) {
        conf_error(ctx, "keepalive_max", "must be at least 1: a connection the web server asked to "
                   "keep (FCGI_KEEP_CONN) must stay open; to keep none, turn off fastcgi_keep_conn");
        return -1;
    }
    if ((c->acl = acl_parse(c->allowed_clients.items, c->allowed_clients.count, why, sizeof(why))) == NULL) {
        conf_error(ctx, "allowed_clients", "%s", why);
        return -1;
    }
    /* a body or file part kept in memory is copied into the state that
     * reads it (ngx.req.get_body_data, a form's data): one near memory
     * ends its request at the limit */
    if (c->memory > 0 && c->upload_memory > c->memory / 2)
        log_warn("%s: upload_memory (%zu) is over half of memory (%zu): a body or file part kept in "
                 "memory may end its request at the memory limit", ctx->path, c->upload_memory,
                 c->memory);
#ifndef LF_LUAJIT
    /* accepted, so that one file serves both builds */
    if (c->ffi)
        log_warn("%s: 'ffi' has no effect: this luafcgid is built on Lua 5.1, which has no ffi",
                 ctx->path);
#endif
    return 0;
}

/* Small edit distance, to tell a misspelt key from a helper variable. */
static int
conf_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j;
    int row[64], prev, tmp;

    if (la >= 63 || lb >= 63)
        return 99;
    for (j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = (int)i;
        for (j = 1; j <= lb; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int best = prev + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            tmp = row[j];
            row[j] = best;
            prev = tmp;
        }
    }
    return row[lb];
}

/* The key NAME is a near miss of, or NULL; a key of a later version wins,
 * since missing it is the costly mistake. */
static const struct conf_key *
conf_near_miss(const char *name)
{
    const struct conf_key *best = NULL;
    size_t i;

    if (strlen(name) <= 3)
        return NULL;
    for (i = 0; i < conf_nkeys; i++) {
        int d = conf_distance(name, conf_keys[i].name);
        /* another server's name for it: php-fpm's listen_allowed_clients */
        if ((conf_keys[i].flags & CF_STRICT) && strstr(name, conf_keys[i].name))
            return &conf_keys[i];
        if (d > 0 && d <= 2 && (best == NULL || (conf_keys[i].flags & (CF_LATER | CF_STRICT))))
            best = &conf_keys[i];
        if (best && (best->flags & (CF_LATER | CF_STRICT)))
            break;
    }
    return best;
}

/* Warn about globals that look like misspelt keys; -1 (in ctx->err) for
 * a near miss of a key that does not work yet, or of allowed_clients
 * (CF_STRICT): a misspelt one would leave the daemon open to all while the
 * operator believes it restricts. */
static int
conf_check_unknown(struct conf_ctx *ctx, lua_State *L)
{
    lua_pushnil(L);
    while (lua_next(L, LUA_GLOBALSINDEX) != 0) {
        const struct conf_key *k;
        const char *name;

        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            continue;
        name = lua_tostring(L, -1);
        if (conf_find_key(name) || (k = conf_near_miss(name)) == NULL)
            continue;
        if (k->flags & CF_STRICT) {
            conf_error(ctx, name, "unknown; did you mean '%s'? A misspelt %s would let every "
                       "client in", k->name, k->name);
            lua_pop(L, 1);
            return -1;
        }
        if (k->flags & CF_LATER) {
            conf_error(ctx, name, "unknown; did you mean '%s'? That key is not supported "
                       "yet either; remove it from the config", k->name);
            lua_pop(L, 1);
            return -1;
        }
        log_warn("%s: unknown key '%s' ignored; did you mean '%s'?", ctx->path, name, k->name);
    }
    return 0;
}

static void
conf_budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luaL_error(L, "the config ran too long (a loop that never ends?)");
}

/* The config state's allocator: M's cap refuses growth past it (Lua then
 * raises "not enough memory"); shrinking and freeing always succeed. */
static void *
conf_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct conf_mem *m = ud;
    void *p;

    if (ptr == NULL)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        m->used -= osize;
        return NULL;
    }
    if (m->limit && nsize > osize && m->used - osize + nsize > m->limit) {
        m->over = 1;
        return NULL;
    }
    if ((p = realloc(ptr, nsize)) == NULL)
        return NULL;
    m->used = m->used - osize + nsize;
    return p;
}

/* An error outside a protected call (Lua exits after this): said, as
 * luaL_newstate's state would, with the file. */
static int
conf_panic(lua_State *L)
{
    void *ud;

    lua_getallocf(L, &ud);
    log_err("%s: error while reading the config: %s", ((struct conf_mem *)ud)->path,
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "no message");
    return 0;
}

/* Run the file under the budget and the cap of M. Then the cap is lifted:
 * the keys are read outside a protected call, where a refused allocation
 * would end the process, and what reading allocates is bounded by what the
 * file built (key names, a table for a list given as one string). */
static int
conf_run(struct conf_ctx *ctx, lua_State *L, struct conf_mem *m)
{
    int rc = conf_file_compile(L, ctx->path, ctx->err, ctx->errlen);

    if (rc == LUA_ERRFILE)
        return -1;
    if (rc == 0) {
        lua_sethook(L, conf_budget_hook, LUA_MASKCOUNT, CONF_INSTRUCTION_BUDGET);
        rc = lua_pcall(L, 0, 0, 0);
    }
    m->limit = 0;
    if (rc == LUA_ERRMEM || m->over) {
        /* Lua's message for it names no file */
        snprintf(ctx->err, ctx->errlen, "%s: the config used too much memory (more than %d MB; "
                 "a loop that builds ever larger values?)", ctx->path, (int)(LF_CONF_MEMORY_MAX >> 20));
        return -1;
    }
    if (rc != 0) {
        const char *msg = lua_tostring(L, -1);
        /* Lua's messages already name the file and line */
        snprintf(ctx->err, ctx->errlen, "%s", msg ? msg : "error with no message");
        return -1;
    }
    return 0;
}

static char *
conf_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    char cwd[PATH_MAX];
    char *dir;

    if (slash == NULL) {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return NULL;
        return strdup(cwd);
    }
    if (path[0] != '/') {
        size_t n;
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return NULL;
        n = strlen(cwd) + 1 + (size_t)(slash - path) + 1;
        if ((dir = malloc(n)) == NULL)
            return NULL;
        snprintf(dir, n, "%s/%.*s", cwd, (int)(slash - path), path);
        return dir;
    }
    if (slash == path)
        return strdup("/");
    if ((dir = malloc((size_t)(slash - path) + 1)) == NULL)
        return NULL;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    return dir;
}

static int
conf_read_keys(struct conf_ctx *ctx, lua_State *L, struct conf *c)
{
    size_t i;

    for (i = 0; i < conf_nkeys; i++) {
        const struct conf_key *k = &conf_keys[i];
        int rc;

        lua_getglobal(L, k->name);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            continue;
        }
        /* an ignored allowed_clients would serve everyone while the
         * operator believes it restricts: refuse what does not work yet */
        if (k->flags & CF_LATER) {
            conf_error(ctx, k->name, "not supported yet; remove it from the config");
            lua_pop(L, 1);
            return -1;
        }
        rc = conf_parse_key(ctx, L, k, c);
        lua_pop(L, 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Load PATH; on failure return NULL with the reason in ERR. */
struct conf *
conf_load(const char *path, char *err, size_t errlen)
{
    struct conf_ctx ctx = { path, NULL, err, errlen };
    struct conf_mem mem = { path, 0, LF_CONF_MEMORY_MAX, 0 };
    struct conf *c;
    lua_State *L;
    int rc = -1;

    if ((c = calloc(1, sizeof(*c))) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    c->refs = 1;
    c->serial = __atomic_add_fetch(&conf_serial, 1, __ATOMIC_RELAXED);
    if ((c->path = strdup(path)) == NULL || (ctx.dir = conf_dirname(path)) == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        conf_free(c);
        return NULL;
    }
    if ((L = lua_newstate(conf_alloc, &mem)) == NULL) {
        snprintf(err, errlen, "%s: cannot create a Lua state", path);
        free(ctx.dir);
        conf_free(c);
        return NULL;
    }
    lua_atpanic(L, conf_panic);
    if (conf_set_defaults(&ctx, c) == 0 && conf_run(&ctx, L, &mem) == 0 &&
        conf_read_keys(&ctx, L, c) == 0 && conf_check(&ctx, c) == 0 &&
        conf_check_unknown(&ctx, L) == 0)
        rc = 0;
    lua_close(L);
    free(ctx.dir);
    if (rc < 0) {
        conf_free(c);
        return NULL;
    }
    return c;
}

void
conf_free(struct conf *c)
{
    if (c == NULL)
        return;
    conf_free_fields(c);
    acl_free(c->acl);
    free(c->path);
    free(c);
}

/* Where C logs: its logfile, or stderr in the foreground, or the default. */
const char *
conf_log_target(const struct conf *c, int foreground)
{
    if (c->logfile)
        return c->logfile;
    return foreground ? "stderr" : LF_DEFAULT_LOGFILE;
}

/* Whether the log target or level differs between OLD and C. */
int
conf_log_changed(const struct conf *old, const struct conf *c)
{
    return (old->logfile == NULL) != (c->logfile == NULL) ||
           (c->logfile && strcmp(old->logfile, c->logfile) != 0) || old->loglevel != c->loglevel;
}

/* The uid of the user NAME a key gives (`user`, `listen_owner`), or
 * (uid_t)-1 when NAME is NULL or no such user. */
uid_t
conf_uid(const char *name)
{
    const struct passwd *pw = name != NULL ? getpwnam(name) : NULL;

    return pw != NULL ? pw->pw_uid : (uid_t)-1;
}

/* The gid of the group NAME, or (gid_t)-1 when NAME is NULL or unknown. */
gid_t
conf_gid(const char *name)
{
    const struct group *gr = name != NULL ? getgrnam(name) : NULL;

    return gr != NULL ? gr->gr_gid : (gid_t)-1;
}


/* ---- the current snapshot --------------------------------------------- */

/* conf_lock guards conf_current and every snapshot's refs. */
static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conf *conf_current;

/* Make C current; the publisher's reference passes to the module. */
void
conf_publish(struct conf *c)
{
    struct conf *old;

    pthread_mutex_lock(&conf_lock);
    old = conf_current;
    conf_current = c;
    pthread_mutex_unlock(&conf_lock);
    conf_release(old);
}

struct conf *
conf_acquire(void)
{
    struct conf *c;

    pthread_mutex_lock(&conf_lock);
    c = conf_current;
    if (c)
        c->refs++;
    pthread_mutex_unlock(&conf_lock);
    return c;
}

void
conf_release(struct conf *c)
{
    int last;

    if (c == NULL)
        return;
    pthread_mutex_lock(&conf_lock);
    last = --c->refs == 0;
    pthread_mutex_unlock(&conf_lock);
    if (last)
        conf_free(c);
}

/* May the client SA, just accepted, be served under the running config's
 * allowed_clients? 1, or 0 (logged by acl.c): the caller closes it. */
int
conf_admit(const struct sockaddr *sa)
{
    struct conf *c = conf_acquire();
    int ok = acl_admit(c ? c->acl : NULL, sa);

    conf_release(c);
    return ok;
}

/* A connection admitted earlier has a request to serve: is its client
 * still in the running config's allowed_clients (acl_readmit)? */
int
conf_readmit(int fd)
{
    struct conf *c = conf_acquire();
    int ok = acl_readmit(c ? c->acl : NULL, fd);

    conf_release(c);
    return ok;
}
