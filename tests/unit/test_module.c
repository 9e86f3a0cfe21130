/* The luafcgid Lua module, run in a plain Lua state. */
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "tap.h"

extern const char lf_module_source[];

/* ok(cond, name [, got]) for the Lua side. */
static int
lua_ok(lua_State *L)
{
    ok(lua_toboolean(L, 1), "%s", luaL_checkstring(L, 2));
    if (!lua_toboolean(L, 1) && lua_isstring(L, 3))
        printf("#   got: %s\n", lua_tostring(L, 3));
    return 0;
}

static const char *tests =
    "local lf = ...\n"
    "ok(lf.urlencode('a b&c=d/é') == 'a%20b%26c%3Dd%2F%C3%A9', 'urlencode escapes all but unreserved', lf.urlencode('a b&c=d/é'))\n"
    "ok(lf.urlencode('AZaz09-._~') == 'AZaz09-._~', 'urlencode keeps unreserved characters')\n"
    "ok(lf.urldecode('a+b%20c%3d%zz') == 'a b c=%zz', 'urldecode: plus, escapes, and a bad escape kept')\n"
    "ok(lf.urldecode(lf.urlencode('x=1&y=\\0\\255')) == 'x=1&y=\\0\\255', 'urlencode and urldecode round-trip bytes')\n"
    "local t = lf.parse('a=1&b=two+words&a=2&c&=skip&d=%26')\n"
    "ok(type(t.a) == 'table' and t.a[1] == '1' and t.a[2] == '2', 'parse: a repeated name becomes an array')\n"
    "ok(t.b == 'two words', 'parse decodes values')\n"
    "ok(t.c == '', 'parse: a name with no value is an empty string')\n"
    "ok(t[''] == nil, 'parse skips an empty name')\n"
    "ok(t.d == '&', 'parse decodes escapes')\n"
    "ok(next(lf.parse('')) == nil and next(lf.parse(nil)) == nil, 'parse of nothing is an empty table')\n"
    "local t3 = lf.parse('x=1&x=2&x=3')\n"
    "ok(#t3.x == 3 and t3.x[3] == '3', 'parse: three values of one name')\n"
    "ok(lf.escape([[<a href=\"x\">'&']]) == '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;', 'escape covers & < > \" and quote')\n"
    "ok(lf.escape(42) == '42', 'escape takes numbers')\n"
    "local c = lf.cookies('a=1; b = two ; c=\"q\"; a=ignored; d=%41')\n"
    "ok(c.a == '1' and c.b == 'two' and c.c == 'q' and c.d == 'A', 'cookies: trimmed, unquoted, decoded, first wins')\n"
    "ok(next(lf.cookies(nil)) == nil, 'cookies of no header is empty')\n"
    "local h = lf.cookies('a=1;b=two;;c=%41; d=4')\n"
    "ok(h.a == '1' and h.b == 'two' and h.c == 'A' and h.d == '4', 'cookies: joined by ; with no space (H2O), an empty one skipped')\n"
    "local v = { 1, 'two', { x = true }, name = 'n\\n\"', [10] = 0.5, [true] = false }\n"
    "local s = lf.serialize(v)\n"
    "local back = loadstring('return ' .. s)()\n"
    "ok(back[1] == 1 and back[2] == 'two' and back[3].x == true and back.name == 'n\\n\"' and back[10] == 0.5 and back[true] == false, 'serialize round-trips through loadstring', s)\n"
    "ok(lf.serialize(1/0) == '1/0' and lf.serialize('x') == '\"x\"', 'serialize of scalars')\n"
    "local cyc = {} cyc.self = cyc\n"
    "ok(not pcall(lf.serialize, cyc), 'serialize refuses a cycle')\n"
    "ok(not pcall(lf.serialize, print), 'serialize refuses a function')\n";

int
main(void)
{
    lua_State *L = luaL_newstate();

    luaL_openlibs(L);
    lua_register(L, "ok", lua_ok);
    ok(luaL_loadbuffer(L, lf_module_source, strlen(lf_module_source), "=luafcgid") == 0 &&
       lua_pcall(L, 0, 1, 0) == 0 && lua_istable(L, -1), "the module loads and returns a table");
    if (luaL_loadstring(L, tests) != 0 || (lua_insert(L, -2), lua_pcall(L, 1, 0, 0)) != 0)
        ok(0, "the module tests ran: %s", lua_tostring(L, -1));
    lua_close(L);
    return done_testing();
}
