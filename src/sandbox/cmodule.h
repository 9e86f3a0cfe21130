/* cmodule.h: require's C searchers, held to the state's first cpath. */
#ifndef LF_CMODULE_H
#define LF_CMODULE_H

#include <lua.h>

/* Replaces package.loaders[3] and [4]. [-0, +0, m] */
void cmodule_install(lua_State *L);

#endif
