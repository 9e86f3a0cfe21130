/* api.h: the `req` object handed to a script's handler. */
#ifndef LF_API_H
#define LF_API_H

#include <lua.h>

struct request;

int  api_register(lua_State *L);
void api_push_req(lua_State *L, struct request *r);
void api_clear_req(lua_State *L);
struct request *api_request(lua_State *L, int idx);

#endif
