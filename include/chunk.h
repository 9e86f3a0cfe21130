/* chunk.h: scripts load source code only, never precompiled chunks. */
#ifndef LF_CHUNK_H
#define LF_CHUNK_H

#include <lua.h>

void chunk_install(lua_State *L);

#endif
