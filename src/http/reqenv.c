/*
 * reqenv.c: the env table a script's handler gets.
 *
 * Every FastCGI parameter as the web server sent it, then what resolving
 * the script changed (resolve.c), as php-fpm shows it: SCRIPT_FILENAME,
 * PATH_INFO and SCRIPT_NAME hold the resolved values and the received
 * ones stay as ORIG_SCRIPT_FILENAME, ORIG_PATH_INFO and ORIG_SCRIPT_NAME,
 * so a script sees both what it is and what was asked.
 *
 * Also the few variables the request reads itself (reqenv_find_vars),
 * found in one pass over the environment, by their first two bytes before
 * any compare, where a lookup would walk all of it for each one.
 *
 * A parameter sent twice has its last value, as php-fpm gives it: nginx
 * sends both of two fastcgi_param lines of one name, and a later line
 * (SCRIPT_FILENAME after `include fastcgi.conf`) is meant to override the
 * earlier. A header (HTTP_*) sent twice, a request's two lines of it, has
 * its first, as nginx's $http_ variables and ngx_lua's ngx.var read it.
 * libfcgi's FCGX_GetParam gives the first of any, so it is not used. The
 * env table holds the last of every name, as php-fpm's $_SERVER does.
 */
#include <stddef.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "reqenv.h"
#include "request.h"
#include "sandbox.h"

/* E's value into *SLOT when E is "NAME=value". E's first byte is NAME's,
 * so its second can be read. */
static void
reqenv_take(const char *e, const char *name, size_t len, const char **slot)
{
    if (e[1] == name[1] && strncmp(e, name, len) == 0 && e[len] == '=')
        *slot = e + len + 1;
}

/* The variables struct request_vars holds, and where. */
#define REQENV_VAR(name, field) { name, sizeof(name) - 1, offsetof(struct request_vars, field) }

static const struct reqenv_var {
    const char *name;
    size_t      len;
    size_t      offset;
} reqenv_vars[] = {
    REQENV_VAR("SCRIPT_FILENAME", script_filename),
    REQENV_VAR("SCRIPT_NAME", script_name),
    REQENV_VAR("DOCUMENT_ROOT", document_root),
    REQENV_VAR("PATH_INFO", path_info),
    REQENV_VAR("PATH_TRANSLATED", path_translated),
    REQENV_VAR("CONTENT_LENGTH", content_length),
    REQENV_VAR("REQUEST_METHOD", request_method),
    REQENV_VAR("REQUEST_URI", request_uri),
};

/* The variables of struct request_vars from ENV ("NAME=value" strings,
 * NULL at the end): the last of a name wins. */
void
reqenv_find_vars(char **env, struct request_vars *v)
{
    size_t i;

    memset(v, 0, sizeof(*v));
    for (; env != NULL && *env != NULL; env++)
        for (i = 0; i < sizeof(reqenv_vars) / sizeof(reqenv_vars[0]); i++)
            if ((*env)[0] == reqenv_vars[i].name[0])
                reqenv_take(*env, reqenv_vars[i].name, reqenv_vars[i].len,
                            (const char **)(void *)((char *)v + reqenv_vars[i].offset));
}

/* Does the first of NAME (LEN bytes) sent twice count, not the last? A
 * header's (see the top). */
static int
reqenv_first_wins(const char *name, size_t len)
{
    return len > 5 && memcmp(name, "HTTP_", 5) == 0;
}

/* NAME's value (LEN bytes) in ENV by reqenv_first_wins' rule, or NULL. */
const char *
reqenv_param_len(const char *name, size_t len, char **env)
{
    int first = reqenv_first_wins(name, len);
    const char *v = NULL;

    for (; env != NULL && *env != NULL; env++)
        if ((*env)[0] == name[0] && strncmp(*env, name, len) == 0 && (*env)[len] == '=') {
            v = *env + len + 1;
            if (first)
                break;
        }
    return v;
}

const char *
reqenv_param(const char *name, char **env)
{
    return reqenv_param_len(name, strlen(name), env);
}

/*
 * The env table is lazy. A request carries some twenty variables and a
 * script reads a few, if any; made eagerly, each cost two interned strings
 * and a table slot, a third of what a small request costs us, and garbage
 * for the collector. So env starts empty but for what resolving changed,
 * with a metatable that holds the request's parameters as one string
 * ("NAME=value\0..." in the order received): a field is looked up there
 * when first read, and kept in the table. pairs(env) fills the table with
 * every variable first (the sandbox's pairs honours __pairs, as Lua 5.2's
 * does), so it lists what an eager table listed. The parameters are the
 * state's own string, so env outlives its request as a table does. Raw
 * access (next, rawget, C code that walks the table) sees only the fields
 * read so far; documented.
 */

#define REQENV_BLOB 1   /* the metatable's slot of the parameters' string */

/* In BLOB (LEN bytes of "NAME=value\0"), the value of the last NAME (of
 * NLEN bytes), as the eager table held the last; NULL when none. */
static const char *
reqenv_lookup(const char *blob, size_t len, const char *name, size_t nlen, size_t *vlen)
{
    const char *p = blob, *end = blob + len, *found = NULL, *z;

    for (; p < end; p = z + 1) {
        z = memchr(p, '\0', (size_t)(end - p));
        if (z == NULL)
            z = end;
        if ((size_t)(z - p) > nlen && p[nlen] == '=' && p[0] == name[0] && memcmp(p, name, nlen) == 0) {
            found = p + nlen + 1;
            *vlen = (size_t)(z - found);
        }
    }
    return found;
}

/* The parameters' string of env table T's metatable, or NULL (it has none,
 * or a script replaced it). [-0, +0, -] */
static const char *
reqenv_blob(lua_State *L, int t, size_t *len)
{
    const char *blob = NULL;

    if (lua_getmetatable(L, t)) {
        lua_rawgeti(L, -1, REQENV_BLOB);
        blob = lua_tolstring(L, -1, len);
        lua_pop(L, 2);      /* a string in the metatable stays alive */
    }
    return blob;
}

/* env's __index: T[K] from the request's parameters, kept in T once read.
 * [-0, +1, m] */
static int
reqenv_index(lua_State *L)
{
    size_t len, nlen, vlen;
    const char *blob, *name, *v;

    luaL_checktype(L, 1, LUA_TTABLE);     /* a script can call it by its metatable */
    blob = reqenv_blob(L, 1, &len);
    if (blob == NULL || lua_type(L, 2) != LUA_TSTRING)
        return 0;
    name = lua_tolstring(L, 2, &nlen);
    if ((v = reqenv_lookup(blob, len, name, nlen, &vlen)) != NULL)
        lua_pushlstring(L, v, vlen);
    else if (strcmp(name, "LUAFCGID_VERSION") == 0)
        lua_pushliteral(L, LF_VERSION);
    else
        return 0;
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

/* env's __pairs: every variable into T first (a field already there,
 * read or set by the script, stays; of a name received twice the last
 * wins), then pairs as on a plain table. [-0, +3, m] */
static int
reqenv_pairs(lua_State *L)
{
    size_t len;
    const char *blob, *p, *end, *z, *eq;

    luaL_checktype(L, 1, LUA_TTABLE);     /* a script can call it by its metatable */
    blob = reqenv_blob(L, 1, &len);
    if (blob != NULL) {
        lua_newtable(L);    /* the names this fill set: a later one replaces them */
        for (p = blob, end = blob + len; p < end; p = z + 1) {
            z = memchr(p, '\0', (size_t)(end - p));
            if (z == NULL)
                z = end;
            if ((eq = memchr(p, '=', (size_t)(z - p))) == NULL)
                continue;
            lua_pushlstring(L, p, (size_t)(eq - p));
            lua_pushvalue(L, -1);
            lua_rawget(L, 1);
            lua_pushvalue(L, -2);
            lua_rawget(L, -4);
            if (lua_isnil(L, -2) || !lua_isnil(L, -1)) {
                lua_pop(L, 2);
                lua_pushvalue(L, -1);
                lua_pushlstring(L, eq + 1, (size_t)(z - eq - 1));
                lua_rawset(L, 1);
                lua_pushboolean(L, 1);
                lua_rawset(L, -3);
            } else
                lua_pop(L, 3);
        }
        lua_pop(L, 1);
        lua_getfield(L, 1, "LUAFCGID_VERSION");     /* through __index */
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_setmetatable(L, 1);     /* a plain table from now on */
    }
    sandbox_push_next(L);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* The value of the last NAME in ENV, as the eager table held it. */
static const char *
reqenv_received(char **env, const char *name)
{
    size_t n = strlen(name);
    const char *v = NULL;

    for (; env != NULL && *env != NULL; env++)
        if ((*env)[0] == name[0] && strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            v = *env + n + 1;
    return v;
}

/* In env on top, NAME = VALUE, the value received kept as ORIG_NAME when
 * it differs; nothing when they are the same (the lazy lookup gives it). */
static void
reqenv_replace(lua_State *L, char **env, const char *name, const char *value)
{
    const char *old = reqenv_received(env, name);

    if (old != NULL && strcmp(old, value) == 0)
        return;
    if (old != NULL) {
        lua_pushfstring(L, "ORIG_%s", name);
        lua_pushstring(L, old);
        lua_rawset(L, -3);
    }
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
}

/*
 * What resolving changed, as php-fpm shows it: the new value, the old as
 * ORIG_*. SCRIPT_FILENAME is always the script that runs: when it was sent
 * twice, libfcgi's lookup took the first and the table holds the last.
 */
static void
reqenv_resolved(lua_State *L, const struct request *r)
{
    char **env = r->fcgx.envp;

    if (r->script != r->res.script)
        return;
    reqenv_replace(L, env, "SCRIPT_FILENAME", r->res.script);
    if (r->res.changed & RESOLVE_PATH_INFO)
        reqenv_replace(L, env, "PATH_INFO", r->res.path_info);
    if (r->res.changed & RESOLVE_SCRIPT_NAME)
        reqenv_replace(L, env, "SCRIPT_NAME", r->res.script_name);
}

/* The functions every env's metatable shares, kept in the registry. */
static const char reqenv_key_index, reqenv_key_pairs;

/* Push the registry's function under KEY, made with FN the first time.
 * [-0, +1, m] */
static void
reqenv_shared(lua_State *L, const char *key, lua_CFunction fn)
{
    lua_pushlightuserdata(L, (void *)key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_isnil(L, -1))
        return;
    lua_pop(L, 1);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, (void *)key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

/*
 * Push the env table: lazy over every FastCGI parameter (see above), the
 * resolved script's variables set, and LUAFCGID_VERSION. [-0, +1, m]
 */
void
reqenv_push(lua_State *L, struct request *r)
{
    char **p;

    buf_reset(&r->params);
    for (p = r->fcgx.envp; p != NULL && *p != NULL; p++)
        if (buf_append(&r->params, *p, strlen(*p) + 1) < 0)
            luaL_error(L, "out of memory for the request's parameters");
    lua_createtable(L, 0, 4);
    lua_createtable(L, 1, 3);
    lua_pushlstring(L, r->params.data, r->params.len);
    lua_rawseti(L, -2, REQENV_BLOB);
    reqenv_shared(L, &reqenv_key_index, reqenv_index);
    lua_setfield(L, -2, "__index");
    reqenv_shared(L, &reqenv_key_pairs, reqenv_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_setmetatable(L, -2);
    reqenv_resolved(L, r);
}
