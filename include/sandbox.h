/* sandbox.h: what a script can reach, trimmed so that the limits hold. */
#ifndef LF_SANDBOX_H
#define LF_SANDBOX_H

#include <lua.h>

int  sandbox_install(lua_State *L, int ffi);
void sandbox_describe(lua_State *L, int idx);
void sandbox_push_next(lua_State *L);

#endif
