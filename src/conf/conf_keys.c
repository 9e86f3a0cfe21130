/*
 * conf_keys.c: the keys of luafcgid.conf, as a table.
 *
 * The keys are a table of { name, type, offset, range, flags }: adding a
 * key is one row. The same table lets req:config() read a value back,
 * conf_free() release the strings, and a reload tell which changed keys
 * need a restart (CF_RESTART).
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

#define K(name, type, min, max, flags) \
    { #name, type, offsetof(struct conf, name), min, max, flags }

const struct conf_key conf_keys[] = {
    K(listen,            CT_LISTEN,  0, 0, CF_RESTART),
    K(listen_mode,       CT_MODE,    0, 07777, CF_RESTART),
    K(listen_owner,      CT_TEXT,    0, 0, CF_RESTART),
    K(listen_group,      CT_TEXT,    0, 0, CF_RESTART),
    K(backlog,           CT_INT,     1, 65535, CF_RESTART),
    K(keepalive_timeout, CT_INT,     0, 86400, 0),
    K(keepalive_max,     CT_INT,     0, 1000000, 0),
    K(user,              CT_TEXT,    0, 0, CF_RESTART),
    K(group,             CT_TEXT,    0, 0, CF_RESTART),
    K(daemonize,         CT_BOOL,    0, 0, CF_RESTART),
    K(pidfile,           CT_PATH,    0, 0, CF_RESTART),
    K(logfile,           CT_PATH,    0, 0, 0),
    K(loglevel,          CT_LEVEL,   0, 0, 0),
    K(upgrade_timeout,   CT_INT,     1, 86400, 0),
    K(workers,           CT_INT,     1, LF_MAX_WORKERS, CF_RESTART),
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

    for (i = 0; i < conf_nkeys; i++)
        if ((conf_keys[i].flags & CF_RESTART) && !conf_same_value(old, new_conf, &conf_keys[i]))
            return conf_keys[i].name;
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
