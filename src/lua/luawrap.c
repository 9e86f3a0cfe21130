/*
 * luawrap.c: the one way a standard function is wrapped (the state's
 * pcall and coroutine.resume, the sandbox's pieces), and a module of ours
 * given to require.
 *
 * Each wrapper keeps what it replaces as its first upvalue and calls it,
 * so wrappers installed one after the other (the open-file bound, then
 * the path guard) chain instead of undoing each other.
 */
#include <lua.h>

#include "luawrap.h"

void
luawrap_field(lua_State *L, int idx, const char *name, lua_CFunction f)
{
    luawrap_field_with(L, idx, name, f, 0);
}

void
luawrap_field_with(lua_State *L, int idx, const char *name, lua_CFunction f, int n)
{
    if (idx < 0 && idx > LUA_REGISTRYINDEX)
        idx = lua_gettop(L) - n + idx + 1;
    lua_getfield(L, idx, name);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, n + 1);
        return;
    }
    lua_insert(L, -(n + 1));    /* the original first, then the N values */
    lua_pushcclosure(L, f, n + 1);
    lua_setfield(L, idx, name);
}

int
luawrap_call(lua_State *L, int nresults)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, nresults);
    return lua_gettop(L);
}

void
luawrap_new_weak(lua_State *L, const void *key)
{
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushlightuserdata(L, (void *)key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

void
luawrap_preload(lua_State *L, const char *name, lua_CFunction loader)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, loader);
    lua_setfield(L, -2, name);
    lua_pop(L, 2);
}
