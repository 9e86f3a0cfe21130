/* wsapi.h: scripts that are WSAPI applications (see wsapi.c). */
#ifndef LF_WSAPI_H
#define LF_WSAPI_H

#include <lua.h>

int  wsapi_is_app(lua_State *L, int idx);
void wsapi_keep(lua_State *L, const char *modname);
int  wsapi_push_call(lua_State *L);
void wsapi_modname(const char *path, char *out, size_t outlen);

#endif
