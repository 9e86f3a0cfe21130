/* shm_lua.h: the shared dictionaries as scripts see them. */
#ifndef LF_SHM_LUA_H
#define LF_SHM_LUA_H

struct lua_State;

/* Push this state's `shared` table, made on first use: the object
 * ngx.shared and require("luafcgid").shared both are. [-0, +1, m] */
int shm_lua_push(struct lua_State *L);

#endif
