/*
 * wsapi.c: a script with no handler that is a WSAPI application.
 *
 * wsapi.fcgi takes an application from a file in the forms the Lua web
 * world writes: a `.ws` file returns the app (a table with `run`, or the
 * `run` function itself); a `.lua` file is `require`d, so its `...` is its
 * module name and `module(..., package.seeall)` makes a module table that
 * holds `run`. We run a script's top level once with `...` set to the
 * name `require` would give it (its file name without the extension) and
 * keep, in the registry, what it returned if that is an app, or else the
 * module of that name if it has `run`. A global `run` is looked up at
 * each request, so a script may also simply define one.
 *
 * Serving is the luafcgid module's wsapi_run() (Lua: the environment,
 * input, error, status, headers and body iterator); here we only find
 * the app and that function. The handler, when the script defines one,
 * always wins.
 */
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "wsapi.h"

/* The address is the key: a light userdata no script can forge. */
static const char wsapi_app_key = 'a';
static const char wsapi_run_key = 'w';

/* Is the value at IDX a WSAPI application (a function, or a table with run)? */
int
wsapi_is_app(lua_State *L, int idx)
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

/* The module name `require` would give the script at PATH. */
void
wsapi_modname(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/'), *dot;
    size_t n;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    n = dot && dot > base ? (size_t)(dot - base) : strlen(base);
    if (outlen == 0)
        return;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, base, n);
    out[n] = '\0';
}

/* After the top level ran: its first result on top (popped). [-1, +0, m] */
void
wsapi_keep(lua_State *L, const char *modname)
{
    lua_pushlightuserdata(L, (void *)&wsapi_app_key);
    if (wsapi_is_app(L, -2))
        lua_pushvalue(L, -2);
    else {
        lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
        lua_getfield(L, -1, modname);
        lua_remove(L, -2);
        if (!wsapi_is_app(L, -1)) {
            lua_pop(L, 3);
            return;
        }
    }
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
}

/*
 * Push the luafcgid module's wsapi_run, found once and kept in the
 * registry: package.loaded.luafcgid's if it has one, else the compiled-in
 * module's, from package.preload whatever the script did to require. An
 * app named luafcgid.lua has that name in package.loaded, so it is left
 * there. [-0, +1, e]
 */
static void
wsapi_push_run(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&wsapi_run_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (lua_isfunction(L, -1))
        return;
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    lua_getfield(L, -1, "luafcgid");
    if (lua_istable(L, -1))
        lua_getfield(L, -1, "wsapi_run");
    else
        lua_pushnil(L);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);                          /* _LOADED mod */
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "preload");
        lua_getfield(L, -1, "luafcgid");
        lua_replace(L, -3);
        lua_pop(L, 1);                          /* _LOADED mod loader */
        lua_pushliteral(L, "luafcgid");
        lua_call(L, 1, 1);                      /* _LOADED mod new */
        if (lua_isnil(L, -2)) {
            lua_pushvalue(L, -1);
            lua_setfield(L, -4, "luafcgid");
        }
        lua_getfield(L, -1, "wsapi_run");
        lua_remove(L, -2);
    }
    lua_replace(L, -3);
    lua_pop(L, 1);                              /* wsapi_run */
    if (!lua_isfunction(L, -1))
        luaL_error(L, "the luafcgid module has no wsapi_run");
    lua_pushlightuserdata(L, (void *)&wsapi_run_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

/*
 * Push the luafcgid module's wsapi_run and the script's app, and return
 * 1; or push nothing and return 0 when the script is no application.
 * [-0, +(0|2), e]
 */
int
wsapi_push_call(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&wsapi_app_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_getglobal(L, "run");
        if (!lua_isfunction(L, -1)) {
            lua_pop(L, 1);
            return 0;
        }
    }
    wsapi_push_run(L);
    lua_insert(L, -2);          /* wsapi_run app */
    return 1;
}
