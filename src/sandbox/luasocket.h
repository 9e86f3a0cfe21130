/* luasocket.h: LuaSocket's waits and lookups bounded by the request's deadline. */
#ifndef LF_LUASOCKET_H
#define LF_LUASOCKET_H

#include <lua.h>

/* socket.core's module table at IDX, just loaded: wrapped. [-0, +0, m] */
void luasocket_wrap(lua_State *L, int idx);
void luasocket_wrap_local(lua_State *L);

#endif
