/* luawrap.h: replacing a library function by a wrapper around it, the
 * registry's weak sets such wrappers keep, or giving require a module of
 * ours. */
#ifndef LF_LUAWRAP_H
#define LF_LUAWRAP_H

#include <lua.h>

/* t[NAME] = F, a closure whose upvalue 1 is the old t[NAME] (t at IDX);
 * nothing when t[NAME] is not a function. [-0, +0, m] */
void luawrap_field(lua_State *L, int idx, const char *name, lua_CFunction f);

/* As luawrap_field, the N values on top of the stack the closure's
 * upvalues 2 to N+1; IDX is t's index below them. They are popped, used
 * or not. [-n, +0, m] */
void luawrap_field_with(lua_State *L, int idx, const char *name, lua_CFunction f, int n);

/* In a wrapper made so: calls the function it replaced (upvalue 1) with
 * every value on the stack, which its NRESULTS results (LUA_MULTRET:
 * all) replace; errors go on. How many values the stack then holds.
 * [-n, +r, e] */
int  luawrap_call(lua_State *L, int nresults);

/* registry[KEY] = a new table with weak keys, also pushed. [-0, +1, m] */
void luawrap_new_weak(lua_State *L, const void *key);

/* package.preload[NAME] = LOADER: what require runs for NAME, whatever
 * the search paths say. [-0, +0, m] */
void luawrap_preload(lua_State *L, const char *name, lua_CFunction loader);

#endif
