/*
 * tablib.c: the stock table functions whose one call can run unbounded.
 *
 * The count hook stops a script between instructions; a single C call
 * runs to its end. These three could run far past `timeout`, or crash:
 *
 * - table.insert(t, pos, v) shifts every element from #t down to pos, and
 *   Lua 5.1 takes pos as an int: 2^31 wraps to INT_MIN, and the shift runs
 *   2^31 times. pos must lie in [1, #t + 1], as Lua 5.2 requires.
 * - unpack(t, i, j) computes j - i + 1 in int: a wide range overflows, the
 *   check passes and it writes past the stack (SIGSEGV). The count is
 *   computed in lua_Number here and refused over what the stack takes.
 * - table.sort(t) compares with lua_lessthan in C: strcoll per comparison
 *   of long strings, and no hook between them. The default order is given
 *   as a C comparator that looks at the deadline every TABLIB_SORT_CHECK
 *   comparisons (state_charge). A Lua comparator runs under the hook.
 *
 * Other stock functions bound themselves: string.byte, string.char and
 * select check their counts against the stack, string.format refuses wide
 * formats, table.concat stops at the first missing element and builds in
 * the state's memory, string.rep is ours (strlib.c).
 */
#include <limits.h>

#include <lua.h>
#include <lauxlib.h>

#include "state.h"
#include "luawrap.h"
#include "tablib.h"

#define TABLIB_SORT_CHECK 32

/* table.insert(t, [pos,] v): the original, with pos in [1, #t + 1]. */
static int
tablib_insert(lua_State *L)
{
    if (lua_gettop(L) == 3) {
        lua_Number pos;
        size_t n;

        luaL_checktype(L, 1, LUA_TTABLE);
        pos = luaL_checknumber(L, 2);
        n = lua_objlen(L, 1);
        /* written so that NaN is refused too: cast to int it is anything */
        if (!(pos >= 1 && pos <= (lua_Number)n + 1))
            return luaL_argerror(L, 2, "position out of bounds");
    }
    luawrap_call(L, 0);
    return 0;
}

/* t[i] for any integral I, an int or not. [-0, +1] */
static void
tablib_rawget(lua_State *L, lua_Number i)
{
    if (i >= INT_MIN && i <= INT_MAX)
        lua_rawgeti(L, 1, (int)i);
    else {
        lua_pushnumber(L, i);
        lua_rawget(L, 1);
    }
}

/* unpack(t [, i [, j]]), as Lua 5.1's, with the count in lua_Number. */
static int
tablib_unpack(lua_State *L)
{
    lua_Number i, e, n;
    int k;

    luaL_checktype(L, 1, LUA_TTABLE);
    i = (lua_Number)luaL_optinteger(L, 2, 1);
    e = lua_isnoneornil(L, 3) ? (lua_Number)lua_objlen(L, 1) : (lua_Number)luaL_checkinteger(L, 3);
    if (i > e)
        return 0;
    n = e - i + 1;
    if (n >= INT_MAX || !lua_checkstack(L, (int)n))
        return luaL_error(L, "too many results to unpack");
    for (k = 0; k < (int)n; k++)
        tablib_rawget(L, i + k);
    return (int)n;
}

/* a < b, the default order, with the deadline looked at now and then. */
static int
tablib_less(lua_State *L)
{
    unsigned *calls = lua_touserdata(L, lua_upvalueindex(1));

    if (++*calls % TABLIB_SORT_CHECK == 0)
        state_charge(L, STATE_CHARGE_NOW);
    lua_pushboolean(L, lua_lessthan(L, 1, 2));
    return 1;
}

/* table.sort(t [, comp]): the original; without comp, tablib_less. */
static int
tablib_sort(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_isnoneornil(L, 2)) {
        unsigned *calls;

        lua_settop(L, 1);
        calls = lua_newuserdata(L, sizeof(*calls));
        *calls = 0;
        lua_pushcclosure(L, tablib_less, 1);
    }
    lua_settop(L, 2);
    luawrap_call(L, 0);
    return 0;
}

void
tablib_install(lua_State *L)
{
    lua_getglobal(L, "table");
    if (lua_istable(L, -1)) {
        luawrap_field(L, -1, "insert", tablib_insert);
        luawrap_field(L, -1, "sort", tablib_sort);
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, tablib_unpack);
    lua_setglobal(L, "unpack");
}
