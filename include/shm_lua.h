/* shm_lua.h: the shared dictionaries as scripts see them. */
#ifndef LF_SHM_LUA_H
#define LF_SHM_LUA_H

#include <stddef.h>

struct lua_State;

/* Push this state's `shared` table, made on first use: the object
 * ngx.shared and require("luafcgid").shared both are. [-0, +1, m] */
int  shm_lua_push(struct lua_State *L);

/* What charges a long walk's steps (get_keys, flush_expired) to the
 * request, raising its timeout error once past its deadline: the state
 * layer's state_charge, given by the daemon before any worker runs. */
void shm_lua_use_charge(void (*charge)(struct lua_State *L, size_t units));

#endif
