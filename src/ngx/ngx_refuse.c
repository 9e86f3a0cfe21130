/*
 * ngx_refuse.c: what only nginx can do raises an error that says so.
 *
 * Subrequests (ngx.location.capture), internal redirects (ngx.exec), the
 * raw request socket and the other phases need nginx itself; each is a
 * function that raises an error naming it and saying why, rather than
 * doing something else quietly.
 */
#include <lua.h>
#include <lauxlib.h>

#include "ngx_impl.h"

/* What only nginx can do: upvalue 2 names it, upvalue 3 says why. */
static int
ngx_refuse_call(lua_State *L)
{
    return luaL_error(L, "%s is not available in luafcgid: %s", lua_tostring(L, lua_upvalueindex(2)),
                      lua_tostring(L, lua_upvalueindex(3)));
}

/* t[name] = a function raising that NAME needs nginx (WHY), in the table
 * on top. [-0, +0, m] */
void
ngx_refuse_field(lua_State *L, const char *field, const char *name, const char *why)
{
    ngx_push_state(L);
    lua_pushstring(L, name);
    lua_pushstring(L, why);
    lua_pushcclosure(L, ngx_refuse_call, 3);
    lua_setfield(L, -2, field);
}

#define NGX_SUBREQUESTS "subrequests are nginx's own; luafcgid serves the content phase over FastCGI"
#define NGX_REDIRECTS   "internal redirects are nginx's own; answer with ngx.redirect() instead"

void
ngx_refuse_install(lua_State *L)
{
    lua_newtable(L);
    ngx_refuse_field(L, "capture", "ngx.location.capture", NGX_SUBREQUESTS);
    ngx_refuse_field(L, "capture_multi", "ngx.location.capture_multi", NGX_SUBREQUESTS);
    lua_setfield(L, -2, "location");
    ngx_refuse_field(L, "exec", "ngx.exec", NGX_REDIRECTS);
    lua_getfield(L, -1, "req");
    ngx_refuse_field(L, "socket", "ngx.req.socket",
                     "the web server reads the client's connection; a FastCGI server has only the request");
    ngx_refuse_field(L, "set_body_file", "ngx.req.set_body_file",
                     "use ngx.req.set_body_data() with the file's contents");
    lua_pop(L, 1);
    ngx_refuse_field(L, "run_worker_thread", "ngx.run_worker_thread",
                     "the handler already runs on a thread of its own; call the function directly");
}
