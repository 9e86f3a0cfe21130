/* ngx.h: OpenResty's content-phase API (ngx.*) in every script's state. */
#ifndef LF_NGX_H
#define LF_NGX_H

#include <lua.h>

struct pool;

void ngx_install(lua_State *L);

/* ngx.timer's threads (ngx_timer.c): started before the workers; HUP
 * runs the pending callbacks premature; the stop, the same, then waits. */
int  ngx_timers_start(struct pool *pool, int workers, int max);
void ngx_timers_flush(void);
int  ngx_timers_stop(long long ms);

#endif
