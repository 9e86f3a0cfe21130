/*
 * metalock.c: C modules' metatables, read-only to scripts.
 *
 * A C module's userdata share a metatable kept in the registry
 * (luaL_newmetatable). getmetatable hands it to any script, which could
 * then give it a __gc of its own: finalizers run with hooks off, so a
 * looping one held its worker past every limit, and one that ran while
 * lfs loaded caught its chdir before it was wrapped. Or the script could
 * call the module's own __gc on a live object, and free it twice.
 *
 * So after each C module loads, every metatable in the registry that is
 * not locked yet gets a __metatable: a proxy that reads through to it
 * (lpeg's re takes __add and friends from getmetatable(pattern)), hides
 * __gc, and refuses writes. Many metatables are their own __index (the
 * io library's, lxp's), so obj.__index was the metatable itself, past any
 * __metatable: their methods move to a table of their own first. This
 * runs once when a state is made, for the standard library's files, and
 * after every C module. Metatables a module makes later, or keeps outside
 * the registry, are not reached (luafcgid(8) says so).
 */
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "metalock.h"

/* The proxy's __index: the metatable's field (upvalue 1), but no __gc. */
static int
metalock_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "__gc") == 0)
        return 0;
    lua_settop(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* The proxy's __newindex. */
static int
metalock_refuse(lua_State *L)
{
    return luaL_error(L, "the metatable of %s objects is read-only",
                      lua_tostring(L, lua_upvalueindex(1)));
}

/* The metatable at -1 is its own __index: give its methods (the fields
 * not named __*) a table of their own, which becomes __index. [-0, +0, m] */
static void
metalock_split(lua_State *L)
{
    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
    if (!lua_rawequal(L, -1, -2)) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, -3) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || strncmp(lua_tostring(L, -2), "__", 2) != 0) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_pushliteral(L, "__index");
    lua_insert(L, -2);
    lua_rawset(L, -3);
}

/* Does the table at -1 look like a metatable? Split it if it is its own
 * __index; whether it is still to be locked. */
static int
metalock_wanted(lua_State *L)
{
    int wanted;

    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
    lua_pushliteral(L, "__gc");
    lua_rawget(L, -3);
    wanted = !lua_isnil(L, -1) || !lua_isnil(L, -2);
    lua_pop(L, 2);
    if (!wanted)
        return 0;
    metalock_split(L);
    lua_pushliteral(L, "__metatable");
    lua_rawget(L, -2);
    wanted = lua_isnil(L, -1);
    lua_pop(L, 1);
    return wanted;
}

/* Lock the metatable at -1, named NAME (at NAMEIDX). [-0, +0, m] */
static void
metalock_one(lua_State *L, int nameidx)
{
    lua_newtable(L);                    /* the proxy */
    lua_newtable(L);                    /* its metatable */
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, metalock_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushvalue(L, nameidx);
    lua_pushcclosure(L, metalock_refuse, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, nameidx);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "__metatable");
}

/* Lock every metatable in the registry not locked yet. [-0, +0, m] */
void
metalock_registry(lua_State *L)
{
    lua_pushnil(L);
    while (lua_next(L, LUA_REGISTRYINDEX) != 0) {
        /* string keys are luaL_newmetatable's names; "_LOADED" and the
         * like are Lua's own */
        if (lua_type(L, -2) == LUA_TSTRING && lua_tostring(L, -2)[0] != '_' &&
            lua_istable(L, -1) && metalock_wanted(L))
            metalock_one(L, lua_gettop(L) - 1);
        lua_pop(L, 1);
    }
}
