/* libFuzzer: the luafcgid module's parsers never fail on any string. */
#include <stdint.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

extern const char lf_module_source[];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *check =
    "local lf, s = ...\n"
    "local t = lf.parse(s)\n"
    "for k, v in pairs(t) do assert(type(k) == 'string') end\n"
    "lf.cookies(s)\n"
    "assert(lf.urldecode(lf.urlencode(s)) == s)\n"
    "local e = lf.escape(s)\n"
    "assert(not e:find('[<>\"]'))\n"
    "assert(loadstring('return ' .. lf.serialize(s))() == s)\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;

    if (L == NULL) {
        L = luaL_newstate();
        luaL_openlibs(L);
        if (luaL_loadbuffer(L, lf_module_source, strlen(lf_module_source), "=luafcgid") != 0 ||
            lua_pcall(L, 0, 1, 0) != 0)
            __builtin_trap();
        lua_setglobal(L, "lf");
    }
    if (luaL_loadstring(L, check) != 0)
        __builtin_trap();
    lua_getglobal(L, "lf");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 2, 0, 0) != 0)
        __builtin_trap();   /* the message is on the stack for a debugger */
    return 0;
}
