/*
 * strlib_diff.h: runs one call through liblua5.1's stock pattern functions
 * and through ours in the same state, and describes both answers (results
 * and error messages) as strings to compare. Shared by test_strlib.c and
 * the fuzzer.
 *
 * The stock functions go into the global S, ours into M; both are called
 * as fields (S.find(...)) so that argument errors name the function the
 * same way. Replacement tables and functions are the same deterministic
 * ones on both sides.
 */
#ifndef LF_STRLIB_DIFF_H
#define LF_STRLIB_DIFF_H

#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "state.h"
#include "strlib.h"

enum diff_kind {
    DIFF_FIND, DIFF_FIND_PLAIN, DIFF_MATCH, DIFF_GMATCH,
    DIFF_GSUB_STRING, DIFF_GSUB_TABLE, DIFF_GSUB_FUNCTION, DIFF_GSUB_NUMBER,
    DIFF_KINDS
};

static const char diff_lua[] =
    "local function pack(...) return { n = select('#', ...), ... } end\n"
    "local function describe(t)\n"
    "  local out = {}\n"
    "  for i = 1, t.n do\n"
    "    local v = t[i]\n"
    "    if type(v) == 'string' then out[i] = string.format('%q', v)\n"
    "    elseif type(v) == 'number' then out[i] = string.format('%.17g', v)\n"
    "    else out[i] = tostring(v) end\n"
    "  end\n"
    "  return table.concat(out, ', ')\n"
    "end\n"
    "local repl_table = setmetatable({ a = 'A', ab = 7, b = false, [''] = '<>', x = {} },\n"
    "  { __index = function(t, k) if type(k) == 'number' then return k * 10 end\n"
    "                             if #k % 3 == 0 then return '[' .. k .. ']' end end })\n"
    "local function repl_function(...)\n"
    "  local n, a = select('#', ...), ...\n"
    "  if type(a) == 'number' then return a + n end\n"
    "  if a == '' then return false end\n"
    "  if #a % 4 == 1 then return nil end\n"
    "  if a == 'x' then return {} end\n"
    "  return n .. '{' .. table.concat({ ... }, '|') .. '}'\n"
    "end\n"
    "local kinds = {}\n"
    "kinds[0] = function(F, s, p, r, i, n) return F.find(s, p, i) end\n"
    "kinds[1] = function(F, s, p, r, i, n) return F.find(s, p, i, true) end\n"
    "kinds[2] = function(F, s, p, r, i, n) return F.match(s, p, i) end\n"
    "kinds[3] = function(F, s, p, r, i, n)\n"
    "  local it, out = F.gmatch(s, p), {}\n"
    "  for k = 1, 40 do\n"
    "    local t = pack(it())\n"
    "    if t.n == 0 then break end\n"
    "    out[k] = '(' .. describe(t) .. ')'\n"
    "  end\n"
    "  return table.concat(out)\n"
    "end\n"
    "kinds[4] = function(F, s, p, r, i, n) return F.gsub(s, p, r, n) end\n"
    "kinds[5] = function(F, s, p, r, i, n) return F.gsub(s, p, repl_table, n) end\n"
    "kinds[6] = function(F, s, p, r, i, n) return F.gsub(s, p, repl_function, n) end\n"
    "kinds[7] = function(F, s, p, r, i, n) return F.gsub(s, p, #r, n) end\n"
    "function diff_run(F, kind, s, p, r, i, n)\n"
    "  return describe(pack(pcall(kinds[kind], F, s, p, r, i, n)))\n"
    "end\n";

/* A state with S (stock) and M (ours) and diff_run; NULL on failure. */
static lua_State *
diff_open(void)
{
    static const char *names[] = { "find", "match", "gmatch", "gsub", "rep", NULL };
    lua_State *L = luaL_newstate();
    int i;

    if (L == NULL)
        return NULL;
    luaL_openlibs(L);
    lua_newtable(L);
    lua_getglobal(L, "string");
    for (i = 0; names[i]; i++) {
        lua_getfield(L, -1, names[i]);
        lua_setfield(L, -3, names[i]);
    }
    lua_pop(L, 1);
    lua_setglobal(L, "S");
    strlib_install(L);
    lua_newtable(L);
    lua_getglobal(L, "string");
    for (i = 0; names[i]; i++) {
        lua_getfield(L, -1, names[i]);
        lua_setfield(L, -3, names[i]);
    }
    lua_pop(L, 1);
    lua_setglobal(L, "M");
    /* the harness itself runs with the stock functions */
    lua_getglobal(L, "string");
    lua_getglobal(L, "S");
    for (i = 0; names[i]; i++) {
        lua_getfield(L, -1, names[i]);
        lua_setfield(L, -3, names[i]);
    }
    lua_pop(L, 2);
    if (luaL_dostring(L, diff_lua) != 0) {
        lua_close(L);
        return NULL;
    }
    return L;
}

struct diff_case {
    int         kind;
    const char *s, *p, *r;  /* subject, pattern, replacement */
    size_t      ls, lp, lr;
    int         has_init, init;
    int         has_n, n;
};

/* One side's answer, left on the stack. */
static const char *
diff_side(lua_State *L, const char *side, const struct diff_case *c)
{
    lua_getglobal(L, "diff_run");
    lua_getglobal(L, side);
    lua_pushinteger(L, c->kind);
    lua_pushlstring(L, c->s, c->ls);
    lua_pushlstring(L, c->p, c->lp);
    lua_pushlstring(L, c->r ? c->r : "", c->r ? c->lr : 0);
    if (c->has_init)
        lua_pushinteger(L, c->init);
    else
        lua_pushnil(L);
    if (c->has_n)
        lua_pushinteger(L, c->n);
    else
        lua_pushnil(L);
    if (lua_pcall(L, 7, 1, 0) != 0)
        return lua_tostring(L, -1);
    return lua_tostring(L, -1);
}

/* 1 when both agree; else 0 with both answers at *STOCK and *OURS (valid
 * until the next call). */
static int
diff_same(lua_State *L, const struct diff_case *c, const char **stock, const char **ours)
{
    int same;

    lua_settop(L, 0);
    *stock = diff_side(L, "S", c);
    *ours = diff_side(L, "M", c);
    same = *stock && *ours && strcmp(*stock, *ours) == 0;
    return same;
}

#endif
