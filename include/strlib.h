/* strlib.h: the pattern functions of the string library, with limits. */
#ifndef LF_STRLIB_H
#define LF_STRLIB_H

#include <stddef.h>

#include <lua.h>

/* Replaces find, match, gmatch (and gfind), gsub and rep in the global
 * string table, which is also the strings' metatable __index. [-0, +0, m] */
void strlib_install(lua_State *L);

/* The matcher's work, UNITS steps or bytes, charged to the request: adds
 * up across calls and raises the request's timeout error once its
 * deadline is past, else returns. Defined in state.c. */
void strlib_charge(lua_State *L, size_t units);

/* Units that make strlib_charge look at the clock at once: for C work
 * whose cost it cannot count (string comparisons in a sort). */
#define STRLIB_CHARGE_NOW ((size_t)1 << 30)

#endif
