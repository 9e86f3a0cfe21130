/* oslib.h: the standard library functions that would reach process-wide
 * C state, replaced by per-state or read-only ones. */
#ifndef LF_OSLIB_H
#define LF_OSLIB_H

#include <lua.h>

/* After luaL_openlibs, in protected mode. [-0, +0, m] */
void oslib_install(lua_State *L);

#endif
