/* luawrap.h: replacing a library function by a wrapper around it. */
#ifndef LF_LUAWRAP_H
#define LF_LUAWRAP_H

#include <lua.h>

/* t[NAME] = F, a closure whose upvalue 1 is the old t[NAME] (t on top);
 * nothing when t[NAME] is not a function. [-0, +0, m] */
void luawrap_field(lua_State *L, const char *name, lua_CFunction f);

#endif
