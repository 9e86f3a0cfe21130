/* ngx_timer.c: ngx.timer (placeholder until the timer threads land). */
#include <lua.h>
#include <lauxlib.h>

#include "ngx_impl.h"

int
ngx_timer_exiting(void)
{
    return 0;
}

void
ngx_timer_install(lua_State *L)
{
    lua_newtable(L);
    ngx_misc_refuse(L, "at", "ngx.timer.at", "not yet");
    lua_setfield(L, -2, "timer");
}
