/*
 * conf_parse.c: how each value of luafcgid.conf is read.
 *
 * Each key type of the table in conf_keys.c has one parser here that checks
 * the Lua value and stores it in struct conf; every error names the file and
 * the key. Relative paths are resolved against the config file's directory.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf_impl.h"
#include "log.h"

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
        /* ":abc", "127.0.0.1:" or "[::1]:x" would be a socket file of that
         * name in the config's directory: a port mistyped, as nginx and
         * php-fpm take it (a socket path has a '/', or no ':') */
        if (k->type == CT_LISTEN && !conf_is_tcp(s) && strchr(s, ':') != NULL && strchr(s, '/') == NULL) {
            conf_error(ctx, k->name, "entry %d: '%s': the port must be 1 to 65535", i, s);
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

void
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
        if (conf_parse_number(ctx, L, k, &d) < 0)
            return -1;
        if (d > (double)SIZE_MAX) {
            conf_error(ctx, k->name, "is more than this system can address");
            return -1;
        }
        *(size_t *)(void *)field = (size_t)d;
        return 0;
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
    case CT_SHARED:
        return conf_parse_shared(ctx, L, k, (struct conf_shared_list *)(void *)field);
    }
    return -1;
}

