/* cload.h: require's C searchers, held to the state's first cpath. */
#ifndef LF_CLOAD_H
#define LF_CLOAD_H

#include <lua.h>

/* Replaces package.loaders[3] and [4]. [-0, +0, m] */
void cload_install(lua_State *L);

#endif
