/*
 * ngx_plug.c: where the parts of ngx that other subsystems own plug in.
 *
 *  - ngx.shared: the shared dictionaries (src/shm/), the very object the
 *    luafcgid module hands out as `shared` (shm_lua_push makes it once
 *    per state).
 *  - ngx.socket and ngx.thread: the sockets (src/net/) and the light
 *    threads that take turns at their waits, the very tables the luafcgid
 *    module hands out as `socket` and `thread` (made once per state).
 */
#include <lua.h>
#include <lauxlib.h>

#include "net.h"
#include "ngx_impl.h"
#include "shm_lua.h"

void
ngx_plug_install(lua_State *L)
{
    shm_lua_push(L);
    lua_setfield(L, -2, "shared");

    net_lua_push_socket(L);
    lua_setfield(L, -2, "socket");

    net_lua_push_thread(L);
    lua_setfield(L, -2, "thread");
}
