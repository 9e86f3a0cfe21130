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
 * table with _G behind it. The first run is also the state's load, and
 * runs in _G itself (it cannot know yet what the script is): what it sets
 * stays for the later runs to read, as what a module sets when it loads
 * does, and as OpenResty's own LuaJIT builds keep every global. So the
 * usual "set up once" (`if not cache then cache = {} end`, a timer
 * started on the first request) works, and closures made by the first
 * run (a timer's callback) keep the globals they read. Modules a script
 * requires run in _G, as they do in OpenResty.
 */
#include <lua.h>
#include <lauxlib.h>

#include "api.h"
#include "chunk.h"

/* The addresses are the keys: light userdata no script can forge. */
static const char chunk_fn_key = 'f';       /* the compiled chunk */
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

/* Before the top level runs: keep the chunk (on top). [-0, +0, m] */
void
chunk_keep(lua_State *L)
{
    lua_pushvalue(L, -1);
    chunk_set(L, &chunk_fn_key);
}

/* Forget what chunk_keep kept: the script is no content chunk. */
static void
chunk_forget(lua_State *L)
{
    lua_pushnil(L);
    chunk_set(L, &chunk_fn_key);
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
