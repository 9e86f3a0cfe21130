/*
 * sandbox.c: what a script can reach, trimmed so that the limits hold.
 *
 * timeout is a count hook and memory an allocator cap (state_limit.c).
 * Both hold only where Lua code runs with hooks on and errors reach us, so
 * every way round them is closed here, once, when a state is set up:
 *
 * - Errors that a library catches by itself: load, loadstring, loadfile
 *   and dofile run their reader or parser in protected mode, so a limit hit
 *   there came back as a return value. They are wrapped to raise it again.
 *   (pcall, xpcall and coroutine.resume are wrapped in state.c.)
 * - Finalizers run with hooks off: a looping __gc could be stopped by
 *   nothing, and lua_close runs them in whatever thread closes a state.
 *   newproxy is removed; the file handles' metatable is locked, so no
 *   script can give files a __gc of its own; debug.setmetatable, the one
 *   other way to reach a userdata's metatable, goes with the debug
 *   library. What finalizers remain are our C ones (files: fclose).
 * - debug could remove or replace the hook (sethook), reach the registry,
 *   or read the upvalues and locals of our wrappers to find the originals.
 *   Only traceback and getinfo stay: they read, and change nothing.
 *   getinfo's "f" is dropped: it gave the functions on the stack, the
 *   originals behind our wrappers among them, and lua_cpcall's entry
 *   point, which crashed the daemon when a script called it.
 * - io.popen: its handle's finalizer waits for the child (pclose), so a
 *   forgotten one would hold whatever thread closes the state; removed.
 *   os.execute stays: it holds only its own request, which the script
 *   asked for, as a C module's code would (documented).
 * - package.loadlib binds any symbol of any library, the C library's
 *   umask or abort among them, and needs no module installed: removed.
 *   require still loads C modules (its loader looks up luaopen_* only).
 * - LuaJIT: jit.on() would compile traces, which run no hooks; ffi can
 *   make finalizers (ffi.gc) and read or write any memory. jit keeps only
 *   its version fields, and ffi is not loadable: require "ffi" says so,
 *   under Lua 5.1 too, so that an OpenResty library built on it fails
 *   with the reason rather than a list of paths searched. The operator
 *   may let LuaJIT's ffi in (the ffi key) for trusted code only: the
 *   OpenResty libraries built on it then run, and no limit binds what
 *   they do through it. jit stays trimmed either way.
 *
 * - Binary chunks, which Lua trusts blindly, are refused (loadsource.c).
 * - Single C calls that could run without end: table.insert, table.sort
 *   and unpack get bounds (tablib.c).
 * - Files that reach the daemon itself (/proc/self/mem...) or block
 *   open() forever (FIFOs) are refused by name (pathguard.c).
 * - require cannot load a standard library again from liblua through a
 *   cpath the script sets (cmodule.c).
 * - fork() from a C module would copy the threaded process with its
 *   socket, logs and held locks: refused in the serving process, with
 *   _Fork() and daemon(); a copy made by the system call itself ends
 *   before it answers or accepts (forkguard.c, armed by main.c, not here:
 *   it is the process's).
 *
 * pairs honours a __pairs metamethod, as Lua 5.2's does (the handler's
 * lazy env table fills itself there, reqenv.c); on a table without one it
 * is the base library's, returning the base library's next, which
 * sandbox_push_next gives C code too, whatever a script made of the
 * global.
 *
 * Error objects are described by sandbox_describe: __tostring runs in
 * protected mode with the request's limits still armed, and a failing
 * one gives a fixed description.
 */
#include <limits.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "loadsource.h"
#include "cmodule.h"
#include "luawrap.h"
#include "metalock.h"
#include "pathguard.h"
#include "sandbox.h"
#include "state.h"
#include "tablib.h"

/* Raise the limit the state is over, if any. [-0, +0, e] */
static void
sandbox_check(lua_State *L)
{
    switch (state_over(L)) {
    case STATE_OVER_TIME:
        luaL_error(L, "timeout: the request ran over its time");
        break;
    case STATE_OVER_MEMORY:
        luaL_error(L, "memory limit reached");
        break;
    }
}

/* A function that may catch errors: the original, then the limits. */
static int
sandbox_guarded(lua_State *L)
{
    luawrap_call(L, LUA_MULTRET);
    sandbox_check(L);
    return lua_gettop(L);
}

/* Replace t[name] (t at IDX) with the guarded original. [-0, +0, m] */
static void
sandbox_guard(lua_State *L, int idx, const char *name)
{
    luawrap_field(L, idx, name, sandbox_guarded);
}

/* Set t[name] = nil for the table global GLOBAL, if there is one. [-0, +0, m] */
static void
sandbox_remove(lua_State *L, const char *global, const char *name)
{
    lua_getglobal(L, global);
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        lua_setfield(L, -2, name);
    }
    lua_pop(L, 1);
}

/* debug.getinfo (upvalue 1) without the "f" option. A level in this
 * thread counts from the caller, as if this frame were not there. */
static int
sandbox_getinfo(lua_State *L)
{
    int thread = lua_type(L, 1) == LUA_TTHREAD, at = thread ? 3 : 2;   /* the options */
    int here = !thread || lua_tothread(L, 1) == L;      /* levels on this stack */
    const char *what;
    luaL_Buffer b;

    if (lua_gettop(L) < at - 1)
        lua_settop(L, at - 1);
    else if (lua_gettop(L) > at)
        lua_settop(L, at);
    what = luaL_optstring(L, at, "flnSu");
    if (here && lua_type(L, at - 1) != LUA_TFUNCTION && lua_isnumber(L, at - 1) &&
        lua_tonumber(L, at - 1) >= 0 && lua_tonumber(L, at - 1) < INT_MAX) {
        lua_pushnumber(L, (lua_Number)(int)lua_tonumber(L, at - 1) + 1);
        lua_replace(L, at - 1);
    }
    luaL_buffinit(L, &b);
    for (; *what; what++)
        if (*what != 'f' && *what != '>')
            luaL_addchar(&b, *what);
    luaL_pushresult(&b);
    if (lua_gettop(L) > at)
        lua_replace(L, at);     /* else it is in its place already */
    luawrap_call(L, 1);
    return 1;
}

/* Make global NAME (and package.loaded[NAME]) a new table with only KEEP. [-0, +0, m] */
static void
sandbox_keep_only(lua_State *L, const char *name, const char *const *keep)
{
    lua_newtable(L);
    lua_getglobal(L, name);
    if (lua_istable(L, -1)) {
        for (; *keep; keep++) {
            lua_getfield(L, -1, *keep);
            lua_setfield(L, -3, *keep);
        }
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_setglobal(L, name);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, name);
    lua_pop(L, 3);
}

/* No script may set __gc on files: a finalizer runs with hooks off. [-0, +0, m] */
static void
sandbox_lock_files(lua_State *L)
{
    luaL_getmetatable(L, LUA_FILEHANDLE);
    if (lua_istable(L, -1)) {
        lua_pushliteral(L, LUA_FILEHANDLE);
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
}

/* package.preload.ffi: the refusal, with its reason. [-0, +0, e] */
static int
sandbox_no_ffi(lua_State *L)
{
    return luaL_error(L, "module 'ffi' is not available in luafcgid: it reads and writes any "
                      "memory and runs code no limit can stop");
}

#ifdef LF_LUAJIT
/* jit trimmed; ffi's own loader dropped unless FFI lets it in. */
static void
sandbox_luajit(lua_State *L, int ffi)
{
    static const char *const jit_keep[] = { "version", "version_num", "os", "arch", NULL };

    sandbox_keep_only(L, "jit", jit_keep);
    if (ffi)
        return;
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushnil(L);
    lua_setfield(L, -2, "ffi");
    lua_getfield(L, -2, "loaded");
    lua_pushnil(L);
    lua_setfield(L, -2, "ffi");
    lua_pop(L, 3);
}
#endif

/* The registry's key of the base library's next. */
static const char sandbox_next_key;

/* Push the base library's next, kept when the state was set up. [-0, +1, -] */
void
sandbox_push_next(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&sandbox_next_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
}

/* pairs(t): t's __pairs(t) when it has one, else next, t, nil. The base
 * library's next is upvalue 1. [-0, +3, e] */
static int
sandbox_pairs(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE || lua_getmetatable(L, 1)) {
        if (lua_type(L, 1) == LUA_TTABLE)
            lua_pop(L, 1);
        if (luaL_getmetafield(L, 1, "__pairs")) {
            lua_pushvalue(L, 1);
            lua_call(L, 1, 3);
            return 3;
        }
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* The global pairs that honours __pairs, and the base next kept for C
 * code; the globals are still the base library's here. [-0, +0, m] */
static void
sandbox_pairs_install(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&sandbox_next_key);
    lua_getglobal(L, "next");
    lua_rawset(L, LUA_REGISTRYINDEX);
    sandbox_push_next(L);
    lua_pushcclosure(L, sandbox_pairs, 1);
    lua_setglobal(L, "pairs");
}

/* After luaL_openlibs, in protected mode. FFI (the ffi key) leaves
 * LuaJIT's ffi loadable; it has no effect on Lua 5.1. [-0, +0, m] */
int
sandbox_install(lua_State *L, int ffi)
{
    static const char *const debug_keep[] = { "traceback", "getinfo", NULL };

    loadsource_install(L);
    sandbox_guard(L, LUA_GLOBALSINDEX, "load");
    sandbox_guard(L, LUA_GLOBALSINDEX, "loadstring");
    sandbox_guard(L, LUA_GLOBALSINDEX, "loadfile");
    sandbox_guard(L, LUA_GLOBALSINDEX, "dofile");
    lua_pushnil(L);
    lua_setglobal(L, "newproxy");
    sandbox_keep_only(L, "debug", debug_keep);
    lua_getglobal(L, "debug");
    luawrap_field(L, -1, "getinfo", sandbox_getinfo);
    lua_pop(L, 1);
    sandbox_remove(L, "io", "popen");
    sandbox_remove(L, "package", "loadlib");
    sandbox_lock_files(L);
#ifdef LF_LUAJIT
    sandbox_luajit(L, ffi);
    if (!ffi)
        luawrap_preload(L, "ffi", sandbox_no_ffi);
#else
    (void)ffi;
    luawrap_preload(L, "ffi", sandbox_no_ffi);
#endif
    tablib_install(L);
    pathguard_install(L);
    cmodule_install(L);
    metalock_registry(L);   /* the files' methods apart from their metatable */
    sandbox_pairs_install(L);
    return 0;
}

/* __tostring of argument 1, or nil. [-0, +1, e] */
static int
sandbox_tostring(lua_State *L)
{
    if (!luaL_callmeta(L, 1, "__tostring"))
        lua_pushnil(L);
    return 1;
}

/*
 * Push a string that describes the error object at IDX. Its __tostring
 * runs in protected mode, under the limits armed now; when it fails the
 * description is fixed, and when it ran over a limit that error goes on.
 * [-0, +1, e]
 */
void
sandbox_describe(lua_State *L, int idx)
{
    int t;

    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    t = lua_type(L, idx);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        lua_pushvalue(L, idx);
        lua_tostring(L, -1);
        return;
    }
    lua_pushcfunction(L, sandbox_tostring);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) == 0 && lua_type(L, -1) == LUA_TSTRING)
        return;
    if (state_over(L) != STATE_OK)
        lua_error(L);
    lua_pop(L, 1);
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
}
