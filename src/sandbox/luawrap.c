/*
 * luawrap.c: the one way the sandbox's pieces wrap a standard function.
 *
 * Each wrapper keeps what it replaces as its first upvalue and calls it,
 * so wrappers installed one after the other (the open-file bound, then
 * the path guard) chain instead of undoing each other.
 */
#include <lua.h>

#include "luawrap.h"

void
luawrap_field(lua_State *L, const char *name, lua_CFunction f)
{
    lua_getfield(L, -1, name);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, -2, name);
}
