/*
 * conf_keys.c: the keys of luafcgid.conf, as a table.
 *
 * The keys are a table of { name, type, offset, range, flags, default }:
 * adding a key is one row. The same table sets the defaults, lets
 * req:config() read a value back, conf_free() release the strings, and a
 * reload tell which changed keys need a restart (CF_RESTART).
 * How each value is checked and stored is conf_parse.c's concern; loading
 * the file and publishing snapshots is conf.c's.
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
#include "conf_impl.h"
#include "log.h"

/* A number key (int, size, boolean, mode): its range and default. */
#define K(name, type, min, max, flags, def) \
    { #name, type, offsetof(struct conf, name), min, max, flags, NULL, def }
/* A string key (text, path, list, level): its default, or NULL for none. */
#define S(name, type, flags, def) \
    { #name, type, offsetof(struct conf, name), 0, 0, flags, def, 0 }

const struct conf_key conf_keys[] = {
    S(listen,            CT_LISTEN,  CF_RESTART, LF_DEFAULT_LISTEN),
    K(listen_mode,       CT_MODE,    0, 07777, CF_RESTART, LF_DEFAULT_LISTEN_MODE),
    S(listen_owner,      CT_TEXT,    CF_RESTART, NULL),
    S(listen_group,      CT_TEXT,    CF_RESTART, NULL),
    K(backlog,           CT_INT,     1, 65535, CF_RESTART, LF_DEFAULT_BACKLOG),
    K(keepalive_timeout, CT_INT,     0, 86400, 0, LF_DEFAULT_KEEPALIVE_TIMEOUT),
    K(keepalive_max,     CT_INT,     0, 1000000, 0, LF_DEFAULT_KEEPALIVE_MAX),
    S(user,              CT_TEXT,    CF_RESTART, NULL),
    S(group,             CT_TEXT,    CF_RESTART, NULL),
    K(daemonize,         CT_BOOL,    0, 0, CF_RESTART, 1),
    S(pidfile,           CT_PATH,    CF_RESTART, LF_DEFAULT_PIDFILE),
    S(logfile,           CT_PATH,    0, NULL),
    S(loglevel,          CT_LEVEL,   0, LF_DEFAULT_LOGLEVEL),
    K(upgrade_timeout,   CT_INT,     1, 86400, 0, LF_DEFAULT_UPGRADE_TIMEOUT),
    K(workers,           CT_INT,     1, LF_MAX_WORKERS, CF_RESTART, LF_DEFAULT_WORKERS),
    K(states,            CT_INT,     1, LF_MAX_STATES, 0, CONF_UNSET),
    K(clones,            CT_INT,     1, LF_MAX_STATES, 0, CONF_UNSET),
    K(sweep,             CT_INT,     10, LF_MAX_SWEEP, 0, LF_DEFAULT_SWEEP),
    K(maxidle,           CT_INT,     0, INT_MAX, 0, 0),
    K(maxrequests,       CT_INT,     0, INT_MAX, 0, 0),
    K(retries,           CT_INT,     0, 1000, 0, LF_DEFAULT_RETRIES),
    K(jitter,            CT_INT,     0, LF_MAX_JITTER, 0, LF_DEFAULT_JITTER),
    K(client_timeout,    CT_INT,     0, 86400, 0, LF_DEFAULT_CLIENT_TIMEOUT),
    K(maxparams,         CT_SIZE,    1024, 1e9, 0, LF_DEFAULT_MAXPARAMS),
    K(timeout,           CT_INT,     0, 86400, 0, LF_DEFAULT_TIMEOUT),
    K(terminate_timeout, CT_INT,     0, 86400, 0, CONF_UNSET),
    K(max_written_off,   CT_INT,     1, LF_MAX_WORKERS, 0, LF_DEFAULT_MAX_WRITTEN_OFF),
    K(max_rss,           CT_SIZE,    0, 1e15, 0, 0),
    K(memory,            CT_SIZE,    0, 1e15, 0, LF_DEFAULT_MEMORY),
    K(maxpost,           CT_SIZE,    0, 1e12, 0, LF_DEFAULT_MAXPOST),
    K(showerrors,        CT_BOOL,    0, 0, 0, 0),
    K(buffering,         CT_BOOL,    0, 0, 0, 1),
    K(ffi,               CT_BOOL,    0, 0, CF_RESTART, 0),
    K(headersize,        CT_SIZE,    16, LF_MAX_BUFSIZE, 0, LF_DEFAULT_HEADERSIZE),
    K(bodysize,          CT_SIZE,    16, LF_MAX_BUFSIZE, 0, LF_DEFAULT_BODYSIZE),
    S(headers,           CT_HEADERS, 0, LF_DEFAULT_HEADERS),
    S(handler,           CT_TEXT,    0, LF_DEFAULT_HANDLER),
    S(httpstatus,        CT_TEXT,    0, LF_DEFAULT_HTTPSTATUS),
    S(contenttype,       CT_TEXT,    0, LF_DEFAULT_CONTENTTYPE),
    S(docroot,           CT_PATH,    0, NULL),
    S(extensions,        CT_LIST,    0, LF_DEFAULT_EXTENSION),
    S(preload,           CT_LIST,    0, NULL),
    K(upload_memory,     CT_SIZE,    0, LF_MAX_BUFSIZE, 0, LF_DEFAULT_UPLOAD_MEMORY),
    S(upload_dir,        CT_PATH,    0, NULL),
    K(maxfields,         CT_INT,     0, INT_MAX, 0, LF_DEFAULT_MAXFIELDS),
    S(allowed_clients,   CT_LIST,    CF_STRICT, NULL),
    S(status_path,       CT_TEXT,    0, NULL),
    S(ping_path,         CT_TEXT,    0, NULL),
    S(ping_response,     CT_TEXT,    0, LF_DEFAULT_PING_RESPONSE),
    S(slowlog,           CT_PATH,    0, NULL),
    K(slowtime,          CT_INT,     0, 86400, 0, 0),
    S(access_log,        CT_PATH,    0, NULL),
    S(access_format,     CT_TEXT,    0, LF_DEFAULT_ACCESS_FORMAT),
    S(shared,            CT_SHARED,  CF_RESTART, NULL),
    K(socket_timeout,    CT_INT,     1, 86400, 0, LF_DEFAULT_SOCKET_TIMEOUT),
    K(socket_keepalive_timeout, CT_INT, 0, 86400, 0, LF_DEFAULT_SOCKET_KEEPALIVE),
    K(socket_pool_size,  CT_INT,     1, 65535, 0, LF_DEFAULT_SOCKET_POOL_SIZE),
    K(socket_pool_max,   CT_INT,     0, 1000000, 0, LF_DEFAULT_SOCKET_POOL_MAX),
    S(ssl_trusted_certificate, CT_PATH, 0, NULL),
    K(ssl_verify_depth,  CT_INT,     0, 100, 0, LF_DEFAULT_SSL_VERIFY_DEPTH),
    K(timer_max_pending, CT_INT,     0, LF_MAX_TIMER_PENDING, 0, LF_DEFAULT_TIMER_MAX_PENDING),
    K(timer_max_running, CT_INT,     1, LF_MAX_TIMER_RUNNING, CF_RESTART, LF_DEFAULT_TIMER_MAX_RUNNING),
};

const size_t conf_nkeys = sizeof(conf_keys) / sizeof(conf_keys[0]);

const struct conf_key *
conf_find_key(const char *name)
{
    const struct conf_key *k;

    for (k = conf_keys; k < conf_keys + conf_nkeys; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* A list of the one item TEXT in *L; 0, or -1 (logged). */
static int
conf_default_list(struct conf_ctx *ctx, const struct conf_key *k, struct strlist *l)
{
    if ((l->items = calloc(2, sizeof(char *))) == NULL) {
        conf_error(ctx, k->name, "out of memory");
        return -1;
    }
    if ((l->items[0] = conf_strdup(ctx, k->name, k->text, strlen(k->text))) == NULL)
        return -1;
    l->count = 1;
    return 0;
}

/* K's default in FIELD, its place in a zeroed config. 0, or -1 (logged). */
static int
conf_default(struct conf_ctx *ctx, const struct conf_key *k, void *field)
{
    switch (k->type) {
    case CT_STRING: case CT_TEXT: case CT_PATH: case CT_HEADERS:
        if (k->text == NULL)
            return 0;
        *(char **)field = conf_strdup(ctx, k->name, k->text, strlen(k->text));
        return *(char **)field != NULL ? 0 : -1;
    case CT_LIST: case CT_LISTEN:
        return k->text != NULL ? conf_default_list(ctx, k, field) : 0;
    case CT_LEVEL:
        *(int *)field = log_level_parse(k->text);
        return 0;
    case CT_SIZE:
        *(size_t *)field = (size_t)k->num;
        return 0;
    case CT_SHARED:
        return 0;   /* none */
    default:        /* CT_INT, CT_MODE, CT_BOOL */
        *(int *)field = (int)k->num;
        return 0;
    }
}

/* Every key's default in C (zeroed), from the table. 0, or -1 (logged). */
int
conf_set_defaults(struct conf_ctx *ctx, struct conf *c)
{
    const struct conf_key *k;

    for (k = conf_keys; k < conf_keys + conf_nkeys; k++)
        if (conf_default(ctx, k, (char *)c + k->offset) < 0)
            return -1;
    return 0;
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
        case CT_SHARED:
            conf_shared_free((struct conf_shared_list *)(void *)field);
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
        lua_pushnumber(L, (lua_Number)*(const size_t *)(const void *)field);
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
    case CT_SHARED:
        conf_shared_push(L, (const struct conf_shared_list *)(const void *)field);
        break;
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
    case CT_SHARED:
        return conf_shared_same((const struct conf_shared_list *)(const void *)fa,
                                (const struct conf_shared_list *)(const void *)fb);
    default:
        return 1;
    }
}

/* The first key that differs and that only a restart can apply, or NULL. */
const char *
conf_restart_keys(const struct conf *old, const struct conf *new_conf)
{
    size_t i;

    for (i = 0; i < conf_nkeys; i++)
        if ((conf_keys[i].flags & CF_RESTART) && !conf_same_value(old, new_conf, &conf_keys[i]))
            return conf_keys[i].name;
    return NULL;
}

static int
conf_keep_failed(struct conf_ctx *ctx, const struct conf_key *k)
{
    log_syserr("reload: cannot keep the running '%s'", k->name);
    conf_error(ctx, k->name, "cannot keep the running value: out of memory");
    return -1;
}

/*
 * Give NEW_CONF the values OLD has for the keys only a restart applies, so
 * that a reloaded snapshot says what really runs (and a serving process
 * forked from it runs the same), then work out again what follows from
 * workers: the running value, not the file's, is what states must cover.
 * 0, or -1 with the reason in ERR (out of memory is logged too).
 */
int
conf_keep_restart(struct conf *new_conf, const struct conf *old, char *err, size_t errlen)
{
    struct conf_ctx ctx = { new_conf->path, NULL, err, errlen };
    size_t i;

    for (i = 0; i < conf_nkeys; i++) {
        const struct conf_key *k = &conf_keys[i];
        const char *from;
        char *to, *s;

        if (!(k->flags & CF_RESTART))
            continue;
        from = (const char *)old + k->offset;
        to = (char *)new_conf + k->offset;
        switch (k->type) {
        case CT_LISTEN:
            if (conf_copy_list((struct strlist *)(void *)to, (const struct strlist *)(const void *)from) < 0) {
                return conf_keep_failed(&ctx, k);
            }
            break;
        case CT_STRING: case CT_TEXT: case CT_PATH: case CT_HEADERS:
            s = NULL;
            if (*(char *const *)(const void *)from &&
                (s = strdup(*(char *const *)(const void *)from)) == NULL) {
                return conf_keep_failed(&ctx, k);
            }
            free(*(char **)(void *)to);
            *(char **)(void *)to = s;
            break;
        case CT_INT: case CT_MODE: case CT_BOOL: case CT_LEVEL:
            *(int *)(void *)to = *(const int *)(const void *)from;
            break;
        case CT_SHARED:
            if (conf_shared_copy((struct conf_shared_list *)(void *)to,
                                 (const struct conf_shared_list *)(const void *)from) < 0) {
                return conf_keep_failed(&ctx, k);
            }
            break;
        default:
            break;
        }
    }
    return conf_check_workers(&ctx, new_conf, 1);
}
