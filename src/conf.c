/*
 * conf.c: load luafcgid.conf.
 *
 * The config is a Lua chunk run once in a private state with no libraries
 * (arithmetic works, nothing can touch the system) and a bounded instruction
 * budget, so a loop in the config cannot hang start-up or -t. The keys are a
 * table of { name, type, offset, range }: adding a key is one row, and one
 * cross-field check follows. Every error names the file and the key.
 *
 * A loaded config is immutable and reference counted. conf_publish() makes a
 * new one current (start-up, SIGHUP); a worker takes a reference for the
 * length of one request, so a reload never changes the rules under a
 * request in flight, and the old snapshot is freed by its last user.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf.h"
#include "log.h"

#define CONF_INSTRUCTION_BUDGET 10000000
#define CONF_UNSET (-1)

enum conf_type {
    CT_STRING,      /* any string */
    CT_TEXT,        /* a string with no CR, LF or NUL (goes into headers) */
    CT_PATH,        /* a path; relative ones are taken from the config's dir */
    CT_LISTEN,      /* a unix socket path or host:port */
    CT_HEADERS,     /* "Name: value" lines */
    CT_INT,
    CT_SIZE,        /* a byte count, may exceed INT_MAX */
    CT_BOOL,
    CT_MODE,        /* octal permissions */
    CT_LEVEL,       /* log level name */
    CT_LIST         /* array of strings */
};

#define CF_LATER    0x1     /* accepted, not implemented yet: warn when set */

struct conf_key {
    const char     *name;
    enum conf_type  type;
    size_t          offset;
    double          min, max;
    int             flags;
};

#define K(name, type, min, max, flags) \
    { #name, type, offsetof(struct conf, name), min, max, flags }

static const struct conf_key conf_keys[] = {
    K(listen,            CT_LISTEN,  0, 0, 0),
    K(listen_mode,       CT_MODE,    0, 07777, 0),
    K(listen_owner,      CT_TEXT,    0, 0, 0),
    K(listen_group,      CT_TEXT,    0, 0, 0),
    K(backlog,           CT_INT,     1, 65535, 0),
    K(keepalive_timeout, CT_INT,     0, 86400, 0),
    K(keepalive_max,     CT_INT,     0, 1000000, 0),
    K(user,              CT_TEXT,    0, 0, 0),
    K(group,             CT_TEXT,    0, 0, 0),
    K(daemonize,         CT_BOOL,    0, 0, 0),
    K(pidfile,           CT_PATH,    0, 0, 0),
    K(logfile,           CT_PATH,    0, 0, 0),
    K(loglevel,          CT_LEVEL,   0, 0, 0),
    K(workers,           CT_INT,     1, LF_MAX_WORKERS, 0),
    K(states,            CT_INT,     1, LF_MAX_STATES, 0),
    K(clones,            CT_INT,     1, LF_MAX_STATES, 0),
    K(sweep,             CT_INT,     10, LF_MAX_SWEEP, 0),
    K(maxidle,           CT_INT,     0, INT_MAX, 0),
    K(maxrequests,       CT_INT,     0, INT_MAX, 0),
    K(retries,           CT_INT,     0, 1000, 0),
    K(jitter,            CT_INT,     0, LF_MAX_JITTER, 0),
    K(timeout,           CT_INT,     0, 86400, 0),
    K(memory,            CT_SIZE,    0, 1e15, 0),
    K(maxpost,           CT_SIZE,    0, 1e12, 0),
    K(showerrors,        CT_BOOL,    0, 0, 0),
    K(buffering,         CT_BOOL,    0, 0, 0),
    K(headersize,        CT_SIZE,    16, LF_MAX_BUFSIZE, 0),
    K(bodysize,          CT_SIZE,    16, LF_MAX_BUFSIZE, 0),
    K(headers,           CT_HEADERS, 0, 0, 0),
    K(handler,           CT_TEXT,    0, 0, 0),
    K(httpstatus,        CT_TEXT,    0, 0, 0),
    K(contenttype,       CT_TEXT,    0, 0, 0),
    K(docroot,           CT_PATH,    0, 0, 0),
    K(extensions,        CT_LIST,    0, 0, 0),
    K(preload,           CT_LIST,    0, 0, 0),
    K(allowed_clients,   CT_LIST,    0, 0, CF_LATER),
    K(status_path,       CT_TEXT,    0, 0, CF_LATER),
    K(ping_path,         CT_TEXT,    0, 0, CF_LATER),
    K(ping_response,     CT_TEXT,    0, 0, CF_LATER),
    K(slowlog,           CT_PATH,    0, 0, CF_LATER),
    K(slowtime,          CT_INT,     0, 86400, CF_LATER),
};

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

/* Keys whose new value needs a restart rather than a SIGHUP. */
static const char *const conf_restart_only[] = {
    "listen", "listen_mode", "listen_owner", "listen_group", "backlog",
    "user", "group", "daemonize", "pidfile", "workers"
};

/* ---- loading ---------------------------------------------------------- */

struct conf_ctx {
    const char  *path;
    char        *dir;       /* the config file's directory, for relative paths */
    char        *err;
    size_t       errlen;
};

static void
conf_error(struct conf_ctx *ctx, const char *key, const char *fmt, ...)
    LF_PRINTF(3, 4);

static void
conf_error(struct conf_ctx *ctx, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (key)
        snprintf(ctx->err, ctx->errlen, "%s: key '%s': %s", ctx->path, key, msg);
    else
        snprintf(ctx->err, ctx->errlen, "%s: %s", ctx->path, msg);
}

static char *
conf_strdup(struct conf_ctx *ctx, const char *key, const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p == NULL) {
        conf_error(ctx, key, "out of memory");
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static int
conf_has_ctl(const char *s, size_t n)
{
    return memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, '\0', n);
}

/* Relative paths are taken from the config file's directory: the daemon
 * runs from "/", and the file is what the user was looking at. */
static char *
conf_abspath(struct conf_ctx *ctx, const char *key, const char *s, size_t n)
{
    char *p;
    size_t dl;

    if (n == 0 || s[0] == '/')
        return conf_strdup(ctx, key, s, n);
    dl = strlen(ctx->dir);
    if ((p = malloc(dl + 1 + n + 1)) == NULL) {
        conf_error(ctx, key, "out of memory");
        return NULL;
    }
    memcpy(p, ctx->dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, s, n);
    p[dl + 1 + n] = '\0';
    return p;
}

static int
conf_is_tcp(const char *s)
{
    const char *colon = strrchr(s, ':');

    if (s[0] == '/' || colon == NULL || colon[1] == '\0')
        return 0;
    return strspn(colon + 1, "0123456789") == strlen(colon + 1);
}

/* "Name: value" lines, separated by LF or CRLF, become CRLF-terminated. */
static char *
conf_parse_headers(struct conf_ctx *ctx, const char *key, const char *s, size_t n)
{
    char *out, *o;
    size_t i = 0;

    if (memchr(s, '\0', n)) {
        conf_error(ctx, key, "contains a NUL byte");
        return NULL;
    }
    if ((out = malloc(n * 2 + 3)) == NULL) {
        conf_error(ctx, key, "out of memory");
        return NULL;
    }
    o = out;
    while (i < n) {
        size_t start = i, end;
        const char *colon;

        while (i < n && s[i] != '\n')
            i++;
        end = i;
        if (end > start && s[end - 1] == '\r')
            end--;
        if (i < n)
            i++;
        if (end == start)
            continue;
        colon = memchr(s + start, ':', end - start);
        if (colon == NULL || colon == s + start || memchr(s + start, '\r', end - start)) {
            conf_error(ctx, key, "each line must be \"Name: value\"");
            free(out);
            return NULL;
        }
        memcpy(o, s + start, end - start);
        o += end - start;
        *o++ = '\r';
        *o++ = '\n';
    }
    *o = '\0';
    return out;
}

static int
conf_parse_number(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k, double *out)
{
    double v;

    if (lua_type(L, -1) != LUA_TNUMBER) {
        conf_error(ctx, k->name, "must be a number, not a %s", luaL_typename(L, -1));
        return -1;
    }
    v = lua_tonumber(L, -1);
    if (v != floor(v) || v < k->min || v > k->max) {
        conf_error(ctx, k->name, "must be a whole number from %.0f to %.0f", k->min, k->max);
        return -1;
    }
    *out = v;
    return 0;
}

static int
conf_parse_mode(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k, int *out)
{
    char digits[32];
    const char *s;
    char *end;
    long v;

    if (lua_type(L, -1) == LUA_TNUMBER) {
        /* listen_mode = 660 means what it looks like: octal digits. */
        double d = lua_tonumber(L, -1);
        if (d < 0 || d > 7777 || d != floor(d)) {
            conf_error(ctx, k->name, "must be an octal mode such as \"0660\"");
            return -1;
        }
        snprintf(digits, sizeof(digits), "%.0f", d);
        s = digits;
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        s = lua_tostring(L, -1);
    } else {
        conf_error(ctx, k->name, "must be an octal mode such as \"0660\"");
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 8);
    if (*s == '\0' || *end != '\0' || errno || v < 0 || v > 07777) {
        conf_error(ctx, k->name, "must be an octal mode such as \"0660\"");
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int
conf_parse_list(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k, struct strlist *out)
{
    int i, n;

    if (lua_type(L, -1) == LUA_TSTRING) {
        /* a single string is a list of one */
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, -2);
        lua_rawseti(L, -2, 1);
        lua_replace(L, -2);
    }
    if (lua_type(L, -1) != LUA_TTABLE) {
        conf_error(ctx, k->name, "must be a list of strings, not a %s", luaL_typename(L, -1));
        return -1;
    }
    n = (int)lua_objlen(L, -1);
    if (n > LF_MAX_LIST) {
        conf_error(ctx, k->name, "has more than %d entries", LF_MAX_LIST);
        return -1;
    }
    out->count = 0;
    if ((out->items = calloc((size_t)n + 1, sizeof(char *))) == NULL) {
        conf_error(ctx, k->name, "out of memory");
        return -1;
    }
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *s;

        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            conf_error(ctx, k->name, "entry %d must be a string, not a %s", i, luaL_typename(L, -1));
            lua_pop(L, 1);
            return -1;
        }
        s = lua_tolstring(L, -1, &len);
        if (strcmp(k->name, "preload") == 0)
            out->items[i - 1] = conf_abspath(ctx, k->name, s, len);
        else
            out->items[i - 1] = conf_strdup(ctx, k->name, s, len);
        lua_pop(L, 1);
        if (out->items[i - 1] == NULL)
            return -1;
        out->count = i;
    }
    return 0;
}

static void
conf_strlist_free(struct strlist *l)
{
    int i;

    for (i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static int
conf_parse_string(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k, char **out)
{
    const char *s;
    size_t n;
    char *v;

    if (lua_type(L, -1) != LUA_TSTRING) {
        conf_error(ctx, k->name, "must be a string, not a %s", luaL_typename(L, -1));
        return -1;
    }
    s = lua_tolstring(L, -1, &n);
    switch (k->type) {
    case CT_TEXT:
        if (conf_has_ctl(s, n)) {
            conf_error(ctx, k->name, "must not contain CR, LF or NUL");
            return -1;
        }
        v = conf_strdup(ctx, k->name, s, n);
        break;
    case CT_PATH:
        if (n == 0 || memchr(s, '\0', n)) {
            conf_error(ctx, k->name, "must be a non-empty path");
            return -1;
        }
        if (strcmp(k->name, "logfile") == 0 && (strcmp(s, "syslog") == 0 || strcmp(s, "stderr") == 0))
            v = conf_strdup(ctx, k->name, s, n);
        else
            v = conf_abspath(ctx, k->name, s, n);
        break;
    case CT_LISTEN:
        if (n == 0 || memchr(s, '\0', n)) {
            conf_error(ctx, k->name, "must be a socket path or host:port");
            return -1;
        }
        v = conf_is_tcp(s) ? conf_strdup(ctx, k->name, s, n) : conf_abspath(ctx, k->name, s, n);
        break;
    case CT_HEADERS:
        v = conf_parse_headers(ctx, k->name, s, n);
        break;
    default:
        v = conf_strdup(ctx, k->name, s, n);
        break;
    }
    if (v == NULL)
        return -1;
    free(*out);
    *out = v;
    return 0;
}

/* Parse the value on top of the stack into C's field for K. */
static int
conf_parse_key(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k, struct conf *c)
{
    char *field = (char *)c + k->offset;
    double d;
    int lvl;

    switch (k->type) {
    case CT_STRING: case CT_TEXT: case CT_PATH: case CT_LISTEN: case CT_HEADERS:
        return conf_parse_string(ctx, L, k, (char **)(void *)field);
    case CT_INT:
        if (conf_parse_number(ctx, L, k, &d) < 0)
            return -1;
        *(int *)(void *)field = (int)d;
        return 0;
    case CT_SIZE:
        return conf_parse_number(ctx, L, k, (double *)(void *)field);
    case CT_BOOL:
        if (lua_type(L, -1) != LUA_TBOOLEAN) {
            conf_error(ctx, k->name, "must be true or false, not a %s", luaL_typename(L, -1));
            return -1;
        }
        *(int *)(void *)field = lua_toboolean(L, -1);
        return 0;
    case CT_MODE:
        return conf_parse_mode(ctx, L, k, (int *)(void *)field);
    case CT_LEVEL:
        if (lua_type(L, -1) != LUA_TSTRING || (lvl = log_level_parse(lua_tostring(L, -1))) < 0) {
            conf_error(ctx, k->name, "must be one of error, warn, notice, info, debug");
            return -1;
        }
        *(int *)(void *)field = lvl;
        return 0;
    case CT_LIST:
        conf_strlist_free((struct strlist *)(void *)field);
        return conf_parse_list(ctx, L, k, (struct strlist *)(void *)field);
    }
    return -1;
}

static int
conf_set_defaults(struct conf_ctx *ctx, struct conf *c)
{
    c->listen = conf_strdup(ctx, "listen", LF_DEFAULT_LISTEN, strlen(LF_DEFAULT_LISTEN));
    c->pidfile = conf_strdup(ctx, "pidfile", LF_DEFAULT_PIDFILE, strlen(LF_DEFAULT_PIDFILE));
    c->headers = conf_strdup(ctx, "headers", LF_DEFAULT_HEADERS, strlen(LF_DEFAULT_HEADERS));
    c->handler = conf_strdup(ctx, "handler", LF_DEFAULT_HANDLER, strlen(LF_DEFAULT_HANDLER));
    c->httpstatus = conf_strdup(ctx, "httpstatus", LF_DEFAULT_HTTPSTATUS, strlen(LF_DEFAULT_HTTPSTATUS));
    c->contenttype = conf_strdup(ctx, "contenttype", LF_DEFAULT_CONTENTTYPE, strlen(LF_DEFAULT_CONTENTTYPE));
    c->ping_response = conf_strdup(ctx, "ping_response", LF_DEFAULT_PING_RESPONSE,
                                   strlen(LF_DEFAULT_PING_RESPONSE));
    c->extensions.items = calloc(2, sizeof(char *));
    if (c->extensions.items)
        c->extensions.items[0] = conf_strdup(ctx, "extensions", LF_DEFAULT_EXTENSION,
                                             strlen(LF_DEFAULT_EXTENSION));
    if (!c->listen || !c->pidfile || !c->headers || !c->handler ||
        !c->httpstatus || !c->contenttype || !c->ping_response ||
        !c->extensions.items || !c->extensions.items[0]) {
        conf_error(ctx, NULL, "out of memory");
        return -1;
    }
    c->extensions.count = 1;
    c->listen_mode = LF_DEFAULT_LISTEN_MODE;
    c->backlog = LF_DEFAULT_BACKLOG;
    c->keepalive_timeout = LF_DEFAULT_KEEPALIVE_TIMEOUT;
    c->keepalive_max = LF_DEFAULT_KEEPALIVE_MAX;
    c->daemonize = 1;
    c->loglevel = log_level_parse(LF_DEFAULT_LOGLEVEL);
    c->workers = LF_DEFAULT_WORKERS;
    c->states = CONF_UNSET;
    c->clones = CONF_UNSET;
    c->sweep = LF_DEFAULT_SWEEP;
    c->retries = LF_DEFAULT_RETRIES;
    c->jitter = LF_DEFAULT_JITTER;
    c->timeout = LF_DEFAULT_TIMEOUT;
    c->memory = LF_DEFAULT_MEMORY;
    c->maxpost = LF_DEFAULT_MAXPOST;
    c->buffering = 1;
    c->headersize = LF_DEFAULT_HEADERSIZE;
    c->bodysize = LF_DEFAULT_BODYSIZE;
    return 0;
}

/* The one check across keys, after every key is read. */
static int
conf_check(struct conf_ctx *ctx, struct conf *c)
{
    if (c->states == CONF_UNSET)
        c->states = c->workers * 2 > LF_MAX_STATES ? LF_MAX_STATES : c->workers * 2;
    if (c->states < c->workers) {
        conf_error(ctx, "states", "must be at least workers (%d), not %d", c->workers, c->states);
        return -1;
    }
    if (c->clones == CONF_UNSET || c->clones > c->states)
        c->clones = c->states;
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

static const struct conf_key *
conf_find_key(const char *name)
{
    size_t i;

    for (i = 0; i < CONF_NKEYS; i++)
        if (strcmp(conf_keys[i].name, name) == 0)
            return &conf_keys[i];
    return NULL;
}

static void
conf_warn_unknown(struct conf_ctx *ctx, lua_State *L)
{
    lua_pushnil(L);
    while (lua_next(L, LUA_GLOBALSINDEX) != 0) {
        const char *name;
        size_t i;

        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            continue;
        name = lua_tostring(L, -1);
        if (conf_find_key(name))
            continue;
        for (i = 0; i < CONF_NKEYS; i++) {
            int d = conf_distance(name, conf_keys[i].name);
            if (d > 0 && d <= 2 && strlen(name) > 3) {
                log_warn("%s: unknown key '%s' ignored; did you mean '%s'?",
                         ctx->path, name, conf_keys[i].name);
                break;
            }
        }
    }
}

static void
conf_budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luaL_error(L, "the config ran too long (a loop that never ends?)");
}

static int
conf_run(struct conf_ctx *ctx, lua_State *L)
{
    int rc = luaL_loadfile(L, ctx->path);

    if (rc == 0) {
        lua_sethook(L, conf_budget_hook, LUA_MASKCOUNT, CONF_INSTRUCTION_BUDGET);
        rc = lua_pcall(L, 0, 0, 0);
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

    for (i = 0; i < CONF_NKEYS; i++) {
        const struct conf_key *k = &conf_keys[i];
        int rc;

        lua_getglobal(L, k->name);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            continue;
        }
        if (k->flags & CF_LATER)
            log_warn("%s: key '%s' is not supported by this version; ignored",
                     ctx->path, k->name);
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
    struct conf *c;
    lua_State *L;
    int rc = -1;

    if ((c = calloc(1, sizeof(*c))) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    c->refs = 1;
    if ((c->path = strdup(path)) == NULL || (ctx.dir = conf_dirname(path)) == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        conf_free(c);
        return NULL;
    }
    if ((L = luaL_newstate()) == NULL) {
        snprintf(err, errlen, "%s: cannot create a Lua state", path);
        free(ctx.dir);
        conf_free(c);
        return NULL;
    }
    if (conf_set_defaults(&ctx, c) == 0 && conf_run(&ctx, L) == 0 &&
        conf_read_keys(&ctx, L, c) == 0 && conf_check(&ctx, c) == 0) {
        conf_warn_unknown(&ctx, L);
        rc = 0;
    }
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
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < CONF_NKEYS; i++) {
        const struct conf_key *k = &conf_keys[i];
        char *field = (char *)c + k->offset;

        switch (k->type) {
        case CT_STRING: case CT_TEXT: case CT_PATH: case CT_LISTEN: case CT_HEADERS:
            free(*(char **)(void *)field);
            break;
        case CT_LIST:
            conf_strlist_free((struct strlist *)(void *)field);
            break;
        default:
            break;
        }
    }
    free(c->path);
    free(c);
}

/* req:config(name): pushes the value of NAME, or nil for an unknown key. */
int
conf_push_value(lua_State *L, const struct conf *c, const char *name)
{
    const struct conf_key *k = conf_find_key(name);
    const char *field;
    int i;

    if (k == NULL) {
        lua_pushnil(L);
        return 1;
    }
    field = (const char *)c + k->offset;
    switch (k->type) {
    case CT_STRING: case CT_TEXT: case CT_PATH: case CT_LISTEN: case CT_HEADERS: {
        const char *s = *(char *const *)(const void *)field;
        if (s)
            lua_pushstring(L, s);
        else
            lua_pushnil(L);
        break;
    }
    case CT_INT: case CT_MODE:
        lua_pushinteger(L, *(const int *)(const void *)field);
        break;
    case CT_SIZE:
        lua_pushnumber(L, *(const double *)(const void *)field);
        break;
    case CT_BOOL:
        lua_pushboolean(L, *(const int *)(const void *)field);
        break;
    case CT_LEVEL: {
        static const char *const names[] = { "error", "warn", "notice", "info", "debug" };
        lua_pushstring(L, names[*(const int *)(const void *)field]);
        break;
    }
    case CT_LIST: {
        const struct strlist *l = (const struct strlist *)(const void *)field;
        lua_createtable(L, l->count, 0);
        for (i = 0; i < l->count; i++) {
            lua_pushstring(L, l->items[i]);
            lua_rawseti(L, -2, i + 1);
        }
        break;
    }
    }
    return 1;
}

static int
conf_same_value(const struct conf *a, const struct conf *b, const struct conf_key *k)
{
    const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;

    switch (k->type) {
    case CT_STRING: case CT_TEXT: case CT_PATH: case CT_LISTEN: case CT_HEADERS: {
        const char *sa = *(char *const *)(const void *)fa, *sb = *(char *const *)(const void *)fb;
        return (sa == NULL && sb == NULL) || (sa && sb && strcmp(sa, sb) == 0);
    }
    case CT_INT: case CT_MODE: case CT_BOOL: case CT_LEVEL:
        return *(const int *)(const void *)fa == *(const int *)(const void *)fb;
    default:
        return 1;
    }
}

/* The first key that differs and that only a restart can apply, or NULL. */
const char *
conf_restart_keys(const struct conf *old, const struct conf *new_conf)
{
    size_t i;

    for (i = 0; i < sizeof(conf_restart_only) / sizeof(conf_restart_only[0]); i++) {
        const struct conf_key *k = conf_find_key(conf_restart_only[i]);
        if (k && !conf_same_value(old, new_conf, k))
            return k->name;
    }
    return NULL;
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
