/* ngx.h: OpenResty's content-phase API (ngx.*) in every script's state. */
#ifndef LF_NGX_H
#define LF_NGX_H

#include <lua.h>

void ngx_install(lua_State *L);

#endif
