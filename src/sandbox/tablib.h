/* tablib.h: table.insert, table.sort and unpack with bounds on their work. */
#ifndef LF_TABLIB_H
#define LF_TABLIB_H

#include <lua.h>

/* Replaces table.insert, table.sort and unpack in the state. [-0, +0, m] */
void tablib_install(lua_State *L);

#endif
