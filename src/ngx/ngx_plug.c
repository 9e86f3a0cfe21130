/*
 * ngx_plug.c: where the parts of ngx that other subsystems own plug in.
 *
 *  - ngx.shared: the shared dictionaries (src/shm/), the very object the
 *    luafcgid module hands out as `shared` (shm_lua_push makes it once
 *    per state).
 *  - ngx.socket and ngx.thread: the sockets (src/net/) and the light
 *    threads that take turns at their waits. Until they exist, each
 *    function raises an error that says so; a script that tests for them
 *    (`if ngx.socket then`) still finds the table.
 */
#include <lua.h>
#include <lauxlib.h>

#include "ngx_impl.h"
#include "shm_lua.h"

#define NGX_NO_SOCKETS "luafcgid has no cosockets yet; use a blocking client library (LuaSocket, luasql...) meanwhile"
#define NGX_NO_THREADS "light threads take turns at cosocket waits, and luafcgid has no cosockets yet"

void
ngx_plug_install(lua_State *L)
{
    shm_lua_push(L);
    lua_setfield(L, -2, "shared");

    lua_newtable(L);
    ngx_misc_refuse(L, "tcp", "ngx.socket.tcp", NGX_NO_SOCKETS);
    ngx_misc_refuse(L, "udp", "ngx.socket.udp", NGX_NO_SOCKETS);
    ngx_misc_refuse(L, "stream", "ngx.socket.stream", NGX_NO_SOCKETS);
    ngx_misc_refuse(L, "connect", "ngx.socket.connect", NGX_NO_SOCKETS);
    lua_setfield(L, -2, "socket");

    lua_newtable(L);
    ngx_misc_refuse(L, "spawn", "ngx.thread.spawn", NGX_NO_THREADS);
    ngx_misc_refuse(L, "wait", "ngx.thread.wait", NGX_NO_THREADS);
    ngx_misc_refuse(L, "kill", "ngx.thread.kill", NGX_NO_THREADS);
    lua_setfield(L, -2, "thread");
}
