/*
 * tools/luafmt.h: forced into every file `make lint` checks (-include),
 * so the compiler checks the arguments of Lua's formatting calls as it
 * checks printf's: an int for %d, a string for %s, a double for %f, a
 * pointer for %p. Lua 5.1 reads its arguments as printf does for those
 * five; the conversions printf has and Lua lacks (%x, %zu, widths...) are
 * tools/luafmt's to refuse. Lua's headers declare these functions with
 * their names in parentheses, so the macros leave the declarations be.
 */
#ifndef LF_TOOLS_LUAFMT_H
#define LF_TOOLS_LUAFMT_H

#include <lua.h>
#include <lauxlib.h>

static inline void luafmt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void
luafmt_printf(const char *fmt, ...)
{
    (void)fmt;
}

#define lua_pushfstring(L, ...) (luafmt_printf(__VA_ARGS__), (lua_pushfstring)(L, __VA_ARGS__))
#define luaL_error(L, ...)      (luafmt_printf(__VA_ARGS__), (luaL_error)(L, __VA_ARGS__))

#endif
