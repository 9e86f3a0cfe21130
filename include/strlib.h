/* strlib.h: the pattern functions of the string library, with limits. */
#ifndef LF_STRLIB_H
#define LF_STRLIB_H

#include <lua.h>

/* Replaces find, match, gmatch (and gfind), gsub and rep in the global
 * string table, which is also the strings' metatable __index. [-0, +0, m] */
void strlib_install(lua_State *L);

#endif
