/*
 * conf_keys.c: the keys of luafcgid.conf and how each value is read.
 *
 * The keys are a table of { name, type, offset, range }: adding a key is one
 * row. Each type has one parser that checks the Lua value and stores it in
 * struct conf; every error names the file and the key. The same table lets
 * req:config() read a value back, conf_free() release the strings, and a
 * reload tell which changed keys need a restart. Loading the file and
 * publishing snapshots is conf.c's concern.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf_keys.h"
#include "log.h"

#define K(name, type, min, max, flags) \
    { #name, type, offsetof(struct conf, name), min, max, flags }

const struct conf_key conf_keys[] = {
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
    K(client_timeout,    CT_INT,     0, 86400, 0),
    K(maxparams,         CT_SIZE,    1024, 1e9, 0),
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
    K(upload_memory,     CT_SIZE,    0, LF_MAX_BUFSIZE, 0),
    K(upload_dir,        CT_PATH,    0, 0, 0),
    K(maxfields,         CT_INT,     0, INT_MAX, 0),
    K(allowed_clients,   CT_LIST,    0, 0, CF_STRICT),
    K(status_path,       CT_TEXT,    0, 0, 0),
    K(ping_path,         CT_TEXT,    0, 0, 0),
    K(ping_response,     CT_TEXT,    0, 0, 0),
    K(slowlog,           CT_PATH,    0, 0, 0),
    K(slowtime,          CT_INT,     0, 86400, 0),
    K(access_log,        CT_PATH,    0, 0, 0),
    K(access_format,     CT_TEXT,    0, 0, 0),
};

const size_t conf_nkeys = sizeof(conf_keys) / sizeof(conf_keys[0]);

/* Keys whose new value needs a restart rather than a SIGHUP. */
static const char *const conf_restart_only[] = {
    "listen", "listen_mode", "listen_owner", "listen_group", "backlog",
    "user", "group", "daemonize", "pidfile", "workers"
};

void
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

char *
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

/* The port of TCP listen entry I (S, "host:port"): 1 to 65535. Port 0
 * would bind a port the kernel picks, one over 65535 another one. */
static int
conf_check_port(struct conf_ctx *ctx, const struct conf_key *k, int i, const char *s)
{
    const char *p = strrchr(s, ':') + 1;
    long v;

    v = strlen(p) > 5 ? 0 : strtol(p, NULL, 10);
    if (v < 1 || v > 65535) {
        conf_error(ctx, k->name, "entry %d: '%s': the port must be 1 to 65535", i, s);
        return -1;
    }
    return 0;
}

/* Entry I of listen OUT, the same as one before it: it would not bind twice. */
static int
conf_listed_before(struct conf_ctx *ctx, const struct conf_key *k, const struct strlist *out, int i)
{
    int j;

    for (j = 0; j < i - 1; j++)
        if (strcmp(out->items[j], out->items[i - 1]) == 0) {
            conf_error(ctx, k->name, "'%s' is listed twice (entries %d and %d)", out->items[j],
                       j + 1, i);
            return -1;
        }
    return 0;
}

/* A list is positions 1..N and nothing else: a key such as
 * { web1 = "10.0.0.5" }, or an entry after a hole, would be dropped
 * unseen (an allowed_clients read as empty lets every client in). */
static int
conf_list_keys(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k, int n)
{
    lua_Number v;

    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TNUMBER) {
            conf_error(ctx, k->name, "must be a list such as { \"a\", \"b\" }: '%s = ...' is "
                       "not an entry", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
            lua_pop(L, 1);
            return -1;
        }
        v = lua_tonumber(L, -1);
        if (v != (lua_Number)(int)v || v < 1 || v > n) {
            conf_error(ctx, k->name, "must be a list such as { \"a\", \"b\" }: entry [%.14g] "
                       "follows a hole or is not a position", (double)v);
            lua_pop(L, 1);
            return -1;
        }
    }
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
    if (n > (k->type == CT_LISTEN ? LF_MAX_LISTEN : LF_MAX_LIST)) {
        conf_error(ctx, k->name, "has more than %d entries",
                   k->type == CT_LISTEN ? LF_MAX_LISTEN : LF_MAX_LIST);
        return -1;
    }
    if (n == 0 && k->type == CT_LISTEN) {
        conf_error(ctx, k->name, "must name at least one socket path or host:port");
        return -1;
    }
    if (conf_list_keys(ctx, L, k, n) < 0)
        return -1;
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
        if (memchr(s, '\0', len)) {
            conf_error(ctx, k->name, "entry %d holds a NUL byte", i);
            lua_pop(L, 1);
            return -1;
        }
        if (k->type == CT_LISTEN && (len == 0 || memchr(s, '\n', len))) {
            conf_error(ctx, k->name, "entry %d must be a socket path or host:port", i);
            lua_pop(L, 1);
            return -1;
        }
        if (k->type == CT_LISTEN && conf_is_tcp(s) && conf_check_port(ctx, k, i, s) < 0) {
            lua_pop(L, 1);
            return -1;
        }
        if (strcmp(k->name, "preload") == 0 || (k->type == CT_LISTEN && !conf_is_tcp(s)))
            out->items[i - 1] = conf_abspath(ctx, k->name, s, len);
        else
            out->items[i - 1] = conf_strdup(ctx, k->name, s, len);
        lua_pop(L, 1);
        if (out->items[i - 1] == NULL)
            return -1;
        out->count = i;
        if (k->type == CT_LISTEN && conf_listed_before(ctx, k, out, i) < 0)
            return -1;
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
int
conf_parse_key(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k, struct conf *c)
{
    char *field = (char *)c + k->offset;
    double d;
    int lvl;

    switch (k->type) {
    case CT_STRING: case CT_TEXT: case CT_PATH: case CT_HEADERS:
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
    case CT_LIST: case CT_LISTEN:
        conf_strlist_free((struct strlist *)(void *)field);
        return conf_parse_list(ctx, L, k, (struct strlist *)(void *)field);
    }
    return -1;
}

const struct conf_key *
conf_find_key(const char *name)
{
    size_t i;

    for (i = 0; i < conf_nkeys; i++)
        if (strcmp(conf_keys[i].name, name) == 0)
            return &conf_keys[i];
    return NULL;
}


/* Free what the string and list keys of C own (not C itself). */
void
conf_free_fields(struct conf *c)
{
    size_t i;

    for (i = 0; i < conf_nkeys; i++) {
        const struct conf_key *k = &conf_keys[i];
        char *field = (char *)c + k->offset;

        switch (k->type) {
        case CT_STRING: case CT_TEXT: case CT_PATH: case CT_HEADERS:
            free(*(char **)(void *)field);
            break;
        case CT_LIST: case CT_LISTEN:
            conf_strlist_free((struct strlist *)(void *)field);
            break;
        default:
            break;
        }
    }
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
    case CT_STRING: case CT_TEXT: case CT_PATH: case CT_HEADERS: {
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
    case CT_LIST: case CT_LISTEN: {
        const struct strlist *l = (const struct strlist *)(const void *)field;
        if (k->type == CT_LISTEN && l->count == 1) {    /* as written, mostly */
            lua_pushstring(L, l->items[0]);
            break;
        }
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
conf_same_list(const struct strlist *a, const struct strlist *b)
{
    int i;

    if (a->count != b->count)
        return 0;
    for (i = 0; i < a->count; i++)
        if (strcmp(a->items[i], b->items[i]) != 0)
            return 0;
    return 1;
}

/* A copy of FROM in TO (freed first); 0, or -1 when out of memory. */
static int
conf_copy_list(struct strlist *to, const struct strlist *from)
{
    struct strlist l = { calloc((size_t)from->count + 1, sizeof(char *)), 0 };

    if (l.items == NULL)
        return -1;
    for (; l.count < from->count; l.count++)
        if ((l.items[l.count] = strdup(from->items[l.count])) == NULL) {
            conf_strlist_free(&l);
            return -1;
        }
    conf_strlist_free(to);
    *to = l;
    return 0;
}

static int
conf_same_value(const struct conf *a, const struct conf *b, const struct conf_key *k)
{
    const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;

    switch (k->type) {
    case CT_LISTEN:
        return conf_same_list((const struct strlist *)(const void *)fa,
                              (const struct strlist *)(const void *)fb);
    case CT_STRING: case CT_TEXT: case CT_PATH: case CT_HEADERS: {
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

/*
 * Give NEW_CONF the values OLD has for the keys only a restart applies, so
 * that a reloaded snapshot says what really runs (and a serving process
 * forked from it runs the same). 0, or -1 when out of memory (logged).
 */
int
conf_keep_restart(struct conf *new_conf, const struct conf *old)
{
    size_t i;

    for (i = 0; i < sizeof(conf_restart_only) / sizeof(conf_restart_only[0]); i++) {
        const struct conf_key *k = conf_find_key(conf_restart_only[i]);
        const char *from;
        char *to, *s;

        if (k == NULL)
            continue;
        from = (const char *)old + k->offset;
        to = (char *)new_conf + k->offset;
        switch (k->type) {
        case CT_LISTEN:
            if (conf_copy_list((struct strlist *)(void *)to, (const struct strlist *)(const void *)from) < 0) {
                log_syserr("reload: cannot keep the running '%s'", k->name);
                return -1;
            }
            break;
        case CT_STRING: case CT_TEXT: case CT_PATH: case CT_HEADERS:
            s = NULL;
            if (*(char *const *)(const void *)from &&
                (s = strdup(*(char *const *)(const void *)from)) == NULL) {
                log_syserr("reload: cannot keep the running '%s'", k->name);
                return -1;
            }
            free(*(char **)(void *)to);
            *(char **)(void *)to = s;
            break;
        case CT_INT: case CT_MODE: case CT_BOOL: case CT_LEVEL:
            *(int *)(void *)to = *(const int *)(const void *)from;
            break;
        default:
            break;
        }
    }
    return 0;
}
