/*
 * cmodule.c: what require may load as C code.
 *
 * The sandbox removes parts of the standard libraries (debug.sethook,
 * io.popen...), but every one of them is also a C module in liblua: with
 * package.cpath pointed at liblua5.1.so and package.loaded.debug cleared,
 * require "debug" ran luaopen_debug and gave the whole library back.
 *
 * So require's two C searchers (package.loaders[3], [4]) are replaced by
 * wrappers that refuse a module whose entry point would be a standard
 * library's (luaopen_debug, luaopen_io...), found however the name is
 * spelled ("x-debug" opens luaopen_debug too). Only entry points named
 * luaopen_* are ever called, so a cpath the script points elsewhere (at
 * liblua, at libc) finds nothing else to run there; scripts that add
 * their own directories to package.cpath keep working.
 *
 * Once a C module has loaded, the metatables it registered are made
 * read-only to scripts (metalock.c).
 *
 * LuaFileSystem's chdir would move every worker at once; once lfs is
 * loaded its chdir moves only the calling worker (workdir.c). luaopen_lfs
 * sets the global lfs itself, so it runs with the thread's globals
 * swapped for a table of its own: a __newindex on _G must not see the
 * table before chdir is wrapped.
 *
 * LuaSocket's calls wait in C, where no hook stops them: once socket.core
 * is loaded its waits and name lookups are bounded by the request's
 * deadline (luasocket.c).
 *
 * Refused outright: lua-rings (which Debian's lua-wsapi pulls in) makes
 * new Lua states with the whole standard library and no limits; lfcgi
 * (wsapi.fcgi's libfcgi binding) opens files past io.open's checks, has a
 * popen whose close waits for the child, and accepts on descriptor 0.
 */
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "cmodule.h"
#include "luasocket.h"
#include "luawrap.h"
#include "metalock.h"
#include "workdir.h"

static const char *const CLOAD_STDLIB[] = {
    "base", "package", "table", "io", "os", "string", "math", "debug",
    "coroutine", "jit", "ffi", NULL
};

/* C modules that would undo the sandbox */
static const char *const CLOAD_REFUSED[][2] = {
    { "rings", "its Lua states would run outside the limits" },
    { "lfcgi", "it would open files and run commands past the sandbox" },
    { NULL, NULL }
};

/* NAME's entry point as Lua 5.1 makes it: what follows the last '-'
 * (dots become underscores; the names compared here have none). */
static const char *
cmodule_entry(const char *name)
{
    const char *mark = strrchr(name, '-');

    return mark ? mark + 1 : name;
}

/* Is NAME's entry point a standard library's? The root searcher uses the
 * same rule. */
static int
cmodule_is_stdlib(const char *name)
{
    int i;

    name = cmodule_entry(name);
    for (i = 0; CLOAD_STDLIB[i]; i++)
        if (strcmp(name, CLOAD_STDLIB[i]) == 0)
            return 1;
    return 0;
}

/* A C module's loader (upvalue 1), then its metatables locked. */
static int
cmodule_loader(lua_State *L)
{
    luawrap_call(L, 1);
    metalock_registry(L);
    return 1;
}

/* luaopen_lfs (upvalue 1), run with this thread's globals swapped for a
 * table of its own (1); the real ones (2) are put back before an error
 * goes on. [-0, +1, e] */
static int
cmodule_lfs_open(lua_State *L)
{
    int rc;

    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_newtable(L);
    lua_replace(L, LUA_GLOBALSINDEX);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushliteral(L, "lfs");
    rc = lua_pcall(L, 1, 1, 0);
    lua_pushvalue(L, -2);
    lua_replace(L, LUA_GLOBALSINDEX);
    if (rc != 0)
        lua_error(L);
    return 1;
}

/* luaopen_lfs, then its chdir wrapped, and only then the global lfs set. */
static int
cmodule_lfs_loader(lua_State *L)
{
    lua_settop(L, 0);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, cmodule_lfs_open, 1);
    lua_call(L, 0, 1);
    metalock_registry(L);
    workdir_wrap(L, -1);
    if (lua_istable(L, -1)) {
        lua_pushvalue(L, -1);
        lua_setglobal(L, "lfs");
    }
    return 1;
}

/* socket.core's loader, then its waits bounded, then its metatables locked. */
static int
cmodule_luasocket_loader(lua_State *L)
{
    luawrap_call(L, 1);
    luasocket_wrap(L, -1);
    metalock_registry(L);
    return 1;
}

/* socket.unix's or socket.serial's loader, then their waits bounded. */
static int
cmodule_luasocket_local_loader(lua_State *L)
{
    luawrap_call(L, 1);
    luasocket_wrap_local(L);
    metalock_registry(L);
    return 1;
}

/* The loader wrapping C module NAME's (its entry point ENTRY). */
static lua_CFunction
cmodule_loader_for(const char *name, const char *entry)
{
    if (strcmp(entry, "lfs") == 0)
        return cmodule_lfs_loader;
    if (strcmp(name, "socket.core") == 0)
        return cmodule_luasocket_loader;
    if (strcmp(name, "socket.unix") == 0 || strcmp(name, "socket.serial") == 0)
        return cmodule_luasocket_local_loader;
    return cmodule_loader;
}

/* A C searcher: refuses the standard libraries, else the original
 * (upvalue 1). */
static int
cmodule_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_CFunction loader;
    int i;

    if (cmodule_is_stdlib(name)) {
        lua_pushfstring(L, "\n\tno C module '%s': standard libraries are not loaded again", name);
        return 1;
    }
    for (i = 0; CLOAD_REFUSED[i][0]; i++) {
        if (strcmp(cmodule_entry(name), CLOAD_REFUSED[i][0]) == 0) {
            lua_pushfstring(L, "\n\tno C module '%s': %s", name, CLOAD_REFUSED[i][1]);
            return 1;
        }
    }
    loader = cmodule_loader_for(name, cmodule_entry(name));
    luawrap_call(L, 1);
    if (lua_iscfunction(L, -1))
        lua_pushcclosure(L, loader, 1);
    return 1;
}

/* loaders[I] (loaders on top) wrapped. [-0, +0, m] */
static void
cmodule_wrap(lua_State *L, int i)
{
    lua_rawgeti(L, -1, i);
    if (!lua_iscfunction(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_pushcclosure(L, cmodule_searcher, 1);
    lua_rawseti(L, -2, i);
}

void
cmodule_install(lua_State *L)
{
    lua_getglobal(L, "package");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "loaders");
    if (lua_istable(L, -1)) {
        cmodule_wrap(L, 3);
        cmodule_wrap(L, 4);
    }
    lua_pop(L, 2);
}
