/* session.h: the C side of luafcgid.session (AES-256-GCM cookies). */
#ifndef LF_SESSION_H
#define LF_SESSION_H

#include <lua.h>

void session_push_natives(lua_State *L);

#endif
