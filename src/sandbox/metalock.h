/* metalock.h: C modules' metatables, read-only to scripts. */
#ifndef LF_METALOCK_H
#define LF_METALOCK_H

#include <lua.h>

/* After a C module loads: lock what it put in the registry. [-0, +0, m] */
void metalock_registry(lua_State *L);

#endif
