/*
 * chunk.c: an OpenResty content script, served as content_by_lua_file
 * serves it.
 *
 * Such a script is a chunk with no handler function: nginx compiles it
 * once and runs it for every request. luafcgid runs a script's top level
 * once, when its state is made, and then calls the handler (or the WSAPI
 * app) per request; the two meet here. The compiled chunk is kept before
 * the top level runs (chunk_keep). That run is already the first
 * request's (its req, and so ngx, are bound: script.c), and after it
 * chunk_decide looks at what the script turned out to be: one that
 * defines the handler, or is a WSAPI application, is served as before;
 * one that has neither but used ngx for its request is a content chunk,
 * and runs again for each later request (chunk_push). A script that has
 * neither and never touched ngx is still the error it always was.
 *
 * Globals: OpenResty documents that each request's chunk runs with a
 * global environment of its own, whose misses go to _G, and that a
 * global set by a request ends with it. So each later run gets a new
 * table with _G behind it, and what the first run (which had to run in _G
 * itself, not knowing yet what the script is) added to or changed in _G
 * is put back as it was, except the globals that name loaded modules
 * (module() and Lua 5.1's luaL_register set those): modules stay loaded,
 * and code that reaches them by their global name keeps working.
 * Modules a script requires run in _G, as they do in OpenResty.
 */
#include <lua.h>
#include <lauxlib.h>

#include "api.h"
#include "chunk.h"

/* The addresses are the keys: light userdata no script can forge. */
static const char chunk_fn_key = 'f';       /* the compiled chunk */
static const char chunk_snap_key = 's';     /* _G as it was before the first run */
static const char chunk_first_key = '1';    /* the first run answered its request */
static const char chunk_mt_key = 'm';       /* { __index = _G }, for each run's globals */

static void
chunk_set(lua_State *L, const char *key)
{
    lua_pushlightuserdata(L, (void *)key);
    lua_insert(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

static void
chunk_get(lua_State *L, const char *key)
{
    lua_pushlightuserdata(L, (void *)key);
    lua_rawget(L, LUA_REGISTRYINDEX);
}

/* Before the top level runs: keep the chunk (on top) and a copy of _G.
 * [-0, +0, m] */
void
chunk_keep(lua_State *L)
{
    lua_pushvalue(L, -1);
    chunk_set(L, &chunk_fn_key);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, LUA_GLOBALSINDEX) != 0) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    chunk_set(L, &chunk_snap_key);
}

/* Forget what chunk_keep kept: the script is no content chunk. */
static void
chunk_forget(lua_State *L)
{
    lua_pushnil(L);
    chunk_set(L, &chunk_fn_key);
    lua_pushnil(L);
    chunk_set(L, &chunk_snap_key);
}

/* Push a set of the tables package.loaded holds. [-0, +1, m] */
static void
chunk_modules(lua_State *L)
{
    lua_newtable(L);
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        if (lua_istable(L, -1)) {
            lua_pushboolean(L, 1);
            lua_rawset(L, -5);
        } else
            lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Put _G back as the snapshot on top had it, modules' globals aside.
 * [-1, +0, m] */
static void
chunk_restore(lua_State *L)
{
    int snap = lua_gettop(L), mods;

    chunk_modules(L);
    mods = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, LUA_GLOBALSINDEX) != 0) {
        lua_pushvalue(L, -2);
        lua_rawget(L, snap);
        if (lua_isnil(L, -1)) {
            lua_pushvalue(L, -2);
            lua_rawget(L, mods);
            if (!lua_toboolean(L, -1)) {    /* a global the run set: gone */
                lua_pushvalue(L, -4);
                lua_pushnil(L);
                lua_rawset(L, LUA_GLOBALSINDEX);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 2);
    }
    lua_pushnil(L);
    while (lua_next(L, snap) != 0) {        /* globals it changed: as they were */
        lua_pushvalue(L, -2);
        lua_rawget(L, LUA_GLOBALSINDEX);
        if (!lua_rawequal(L, -1, -2)) {
            lua_pop(L, 1);
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, LUA_GLOBALSINDEX);
        } else
            lua_pop(L, 2);
    }
    lua_settop(L, snap - 1);
}

/* Is the value at IDX a WSAPI application (a function, or a table with run)? */
static int
chunk_is_app(lua_State *L, int idx)
{
    int yes;

    if (lua_isfunction(L, idx))
        return 1;
    if (!lua_istable(L, idx))
        return 0;
    lua_getfield(L, idx, "run");
    yes = lua_isfunction(L, -1);
    lua_pop(L, 1);
    return yes;
}

/*
 * After the top level ran (RESULT: the index of what it returned, or 0
 * when it ended with os.exit or ngx.exit): a content chunk, or a script
 * served as before? [-0, +0, m]
 */
void
chunk_decide(lua_State *L, const char *handler, int result)
{
    struct api_bind *b = api_binding(L);
    int served;

    lua_getglobal(L, handler);
    served = lua_isfunction(L, -1);
    lua_pop(L, 1);
    lua_getglobal(L, "run");
    served |= lua_isfunction(L, -1);
    lua_pop(L, 1);
    if (result != 0)
        served |= chunk_is_app(L, result);
    if (served || b == NULL || !b->used) {
        chunk_forget(L);
        return;
    }
    chunk_get(L, &chunk_snap_key);
    chunk_restore(L);
    lua_pushnil(L);
    chunk_set(L, &chunk_snap_key);
    lua_pushboolean(L, 1);
    chunk_set(L, &chunk_first_key);
}

/*
 * For a request: CHUNK_NONE when the script is no content chunk;
 * CHUNK_ANSWERED when its first run (the state's load) was this request;
 * else CHUNK_PUSHED, with the chunk pushed, its globals a new table with
 * _G behind it. [-0, +(0|1), m]
 */
int
chunk_push(lua_State *L)
{
    chunk_get(L, &chunk_first_key);
    if (lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
        chunk_set(L, &chunk_first_key);
        return CHUNK_ANSWERED;
    }
    lua_pop(L, 1);
    chunk_get(L, &chunk_fn_key);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return CHUNK_NONE;
    }
    lua_createtable(L, 0, 4);
    chunk_get(L, &chunk_mt_key);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, LUA_GLOBALSINDEX);
        lua_setfield(L, -2, "__index");
        lua_pushvalue(L, -1);
        chunk_set(L, &chunk_mt_key);
    }
    lua_setmetatable(L, -2);
    lua_setfenv(L, -2);
    return CHUNK_PUSHED;
}
