/*
 * conf_shared.c: the `shared` key: { NAME = SIZE, ... }, the shared
 * dictionaries.
 *
 * A SIZE is bytes (a whole number), or a string of digits with k, m or g
 * (nginx's lua_shared_dict sizes, and g for the larger ones), between
 * LF_SHARED_MIN and LF_SHARED_MAX. A NAME is what ngx.shared.NAME can
 * spell, and what a log line or a metric label can hold without quoting:
 * a letter or '_', then letters, digits, '_', '-' or '.', at most
 * LF_SHARED_NAME_MAX. Every error names the dictionary, so `-t` says
 * which line to fix. The list is kept sorted by name: a reload compares
 * two lists entry by entry, and the status page lists them in that order.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf_impl.h"

static int
conf_shared_name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > LF_SHARED_NAME_MAX || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

/* "64k", "16m", "1g", "65536": bytes in *OUT; 0, or -1 when not a size. */
static int
conf_shared_size_text(const char *s, size_t n, unsigned long long *out)
{
    unsigned long long v = 0, unit = 1;
    size_t i;

    for (i = 0; i < n && isdigit((unsigned char)s[i]); i++) {
        if (v > (~0ULL - 9) / 10)
            return -1;
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    if (i == 0)
        return -1;
    if (i + 1 == n) {
        switch (s[i]) {
        case 'k': case 'K': unit = 1024ULL; break;
        case 'm': case 'M': unit = 1024ULL * 1024; break;
        case 'g': case 'G': unit = 1024ULL * 1024 * 1024; break;
        default:  return -1;
        }
    } else if (i != n) {
        return -1;
    }
    if (v > ~0ULL / unit)
        return -1;
    *out = v * unit;
    return 0;
}

/* The size on top of the stack, for dictionary NAME. */
static int
conf_shared_size(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k, const char *name,
                 unsigned long long *out)
{
    const char *s;
    size_t n;
    double d;

    if (lua_type(L, -1) == LUA_TNUMBER) {
        d = lua_tonumber(L, -1);
        if (d != floor(d) || d < 0 || d > (double)LF_SHARED_MAX) {
            conf_error(ctx, k->name, "dictionary '%s': %.14g is not a size in bytes", name, d);
            return -1;
        }
        *out = (unsigned long long)d;
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        s = lua_tolstring(L, -1, &n);
        if (conf_shared_size_text(s, n, out) < 0) {
            conf_error(ctx, k->name, "dictionary '%s': '%.32s' is not a size (bytes, or a number "
                       "with k, m or g, such as \"64k\", \"16m\", \"1g\")", name, s);
            return -1;
        }
    } else {
        conf_error(ctx, k->name, "dictionary '%s': the size must be bytes or a string such as "
                   "\"16m\", not a %s", name, luaL_typename(L, -1));
        return -1;
    }
    if (*out < LF_SHARED_MIN || *out > LF_SHARED_MAX) {
        conf_error(ctx, k->name, "dictionary '%s': %llu bytes is too %s (%s)", name, *out,
                   *out < LF_SHARED_MIN ? "small" : "large",
                   *out < LF_SHARED_MIN ? "at least 16k" : "at most 16g");
        return -1;
    }
    return 0;
}

static int
conf_shared_by_name(const void *a, const void *b)
{
    return strcmp(((const struct conf_shared *)a)->name, ((const struct conf_shared *)b)->name);
}

/* Parse `shared` (on top of the stack) into OUT. 0, or -1 (in ctx->err). */
int
conf_parse_shared(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k, struct conf_shared_list *out)
{
    struct conf_shared_list l = { NULL, 0 };
    const char *name;
    size_t n;

    conf_shared_free(out);
    if (lua_type(L, -1) != LUA_TTABLE) {
        conf_error(ctx, k->name, "must be a table such as { cache = \"16m\" }, not a %s",
                   luaL_typename(L, -1));
        return -1;
    }
    if ((l.items = calloc(LF_MAX_SHARED, sizeof(*l.items))) == NULL) {
        conf_error(ctx, k->name, "out of memory");
        return -1;
    }
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            conf_error(ctx, k->name, "must be { NAME = SIZE, ... }: a key that is a %s is not a name",
                       luaL_typename(L, -2));
            lua_pop(L, 2);
            conf_shared_free(&l);
            return -1;
        }
        name = lua_tolstring(L, -2, &n);
        if (!conf_shared_name_ok(name, n)) {
            conf_error(ctx, k->name, "'%.*s' is not a dictionary name (a letter or '_', then letters, "
                       "digits, '_', '-' or '.', at most %d)", n > 64 ? 64 : (int)n, name, LF_SHARED_NAME_MAX);
            lua_pop(L, 2);
            conf_shared_free(&l);
            return -1;
        }
        if (l.count == LF_MAX_SHARED) {
            conf_error(ctx, k->name, "more than %d dictionaries", LF_MAX_SHARED);
            lua_pop(L, 2);
            conf_shared_free(&l);
            return -1;
        }
        if ((l.items[l.count].name = conf_strdup(ctx, k->name, name, n)) == NULL ||
            conf_shared_size(ctx, L, k, name, &l.items[l.count].size) < 0) {
            l.count += l.items[l.count].name != NULL;
            lua_pop(L, 2);
            conf_shared_free(&l);
            return -1;
        }
        l.count++;
        lua_pop(L, 1);
    }
    qsort(l.items, (size_t)l.count, sizeof(*l.items), conf_shared_by_name);
    *out = l;
    return 0;
}

void
conf_shared_free(struct conf_shared_list *l)
{
    int i;

    for (i = 0; i < l->count; i++)
        free(l->items[i].name);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

/* TO becomes a copy of FROM (a reload keeps the running dictionaries).
 * 0, or -1 when out of memory (TO untouched). */
int
conf_shared_copy(struct conf_shared_list *to, const struct conf_shared_list *from)
{
    struct conf_shared_list l = { calloc((size_t)from->count + 1, sizeof(*l.items)), 0 };

    if (l.items == NULL)
        return -1;
    for (; l.count < from->count; l.count++) {
        if ((l.items[l.count].name = strdup(from->items[l.count].name)) == NULL) {
            conf_shared_free(&l);
            return -1;
        }
        l.items[l.count].size = from->items[l.count].size;
    }
    conf_shared_free(to);
    *to = l;
    return 0;
}

int
conf_shared_same(const struct conf_shared_list *a, const struct conf_shared_list *b)
{
    int i;

    if (a->count != b->count)
        return 0;
    for (i = 0; i < a->count; i++)
        if (strcmp(a->items[i].name, b->items[i].name) != 0 || a->items[i].size != b->items[i].size)
            return 0;
    return 1;
}

/* req:config("shared"): { NAME = bytes }. [-0, +1, m] */
void
conf_shared_push(lua_State *L, const struct conf_shared_list *l)
{
    int i;

    lua_createtable(L, 0, l->count);
    for (i = 0; i < l->count; i++) {
        lua_pushnumber(L, (lua_Number)l->items[i].size);
        lua_setfield(L, -2, l->items[i].name);
    }
}
