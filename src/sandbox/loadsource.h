/* loadsource.h: scripts load source code only, never precompiled chunks. */
#ifndef LF_LOADSOURCE_H
#define LF_LOADSOURCE_H

#include <lua.h>

void loadsource_install(lua_State *L);

#endif
