/*
 * ngx_worker.c: what nginx's API tells a script of where it runs (ngx.worker,
 * ngx.config, ngx.get_phase), and ngx.sleep and ngx.on_abort.
 *
 * luafcgid's workers are threads of one process: ngx.worker.id() is the
 * worker's number, its pid the process's, and the config's prefix the
 * directory of luafcgid.conf. ngx.sleep waits as the sockets do
 * (src/net/): the light threads take turns meanwhile, and it never goes
 * past the request's deadline: sleeping longer raises the timeout when
 * the deadline comes.
 */
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf.h"
#include "net.h"
#include "ngx_impl.h"
#include "request.h"

/* ngx.sleep(seconds): at most until the request's deadline, taking turns
 * with the light threads (net_lua_sleep; in a light thread it yields).
 * ngx.now() reads the clock again afterwards. [-0, +0, e] */
static int
ngx_worker_sleep(lua_State *L)
{
    struct ngx_state *s = ngx_bound(L);

    s->now_ms = 0;
    return net_lua_sleep(L);
}

static int
ngx_worker_get_phase(lua_State *L)
{
    struct ngx_state *s = ngx_bound(L);

    lua_pushstring(L, s->timer ? "timer" : s->r ? "content" : "init");
    return 1;
}

/* ngx.worker.id(): this worker, from 0, as nginx numbers its workers. */
static int
ngx_worker_id(lua_State *L)
{
    struct ngx_state *s = ngx_bound(L);

    if (s->r != NULL && s->r->worker > 0)
        lua_pushinteger(L, s->r->worker - 1);
    else
        lua_pushnil(L);
    return 1;
}

static int
ngx_worker_count(lua_State *L)
{
    struct conf *c = conf_acquire();

    lua_pushinteger(L, c->workers);
    conf_release(c);
    return 1;
}

static int
ngx_worker_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

static int
ngx_worker_pids(lua_State *L)
{
    lua_createtable(L, 1, 0);
    lua_pushinteger(L, (lua_Integer)getpid());
    lua_rawseti(L, -2, 1);
    return 1;
}

static int
ngx_worker_exiting(lua_State *L)
{
    lua_pushboolean(L, ngx_timer_exiting());
    return 1;
}

/* ngx.config.prefix(): the directory of luafcgid.conf, as nginx's is its
 * prefix. */
static int
ngx_worker_prefix(lua_State *L)
{
    struct conf *c = conf_acquire();
    const char *slash = c->path ? strrchr(c->path, '/') : NULL;

    if (slash != NULL)
        lua_pushlstring(L, c->path, (size_t)(slash - c->path) + 1);
    else
        lua_pushliteral(L, "./");
    conf_release(c);
    return 1;
}

static int
ngx_worker_configure(lua_State *L)
{
    lua_pushliteral(L, "");
    return 1;
}

/* ngx.on_abort(fn): as in nginx without lua_check_client_abort. */
static int
ngx_worker_on_abort(lua_State *L)
{
    ngx_check(L, NGX_IN_REQUEST);
    lua_pushnil(L);
    lua_pushliteral(L, "lua_check_client_abort is off");
    return 2;
}

static const luaL_Reg ngx_worker_top_fns[] = {
    { "sleep",      ngx_worker_sleep },
    { "get_phase",  ngx_worker_get_phase },
    { "on_abort",   ngx_worker_on_abort },
    { NULL, NULL }
};

static const luaL_Reg ngx_worker_sub_fns[] = {
    { "id",         ngx_worker_id },
    { "count",      ngx_worker_count },
    { "pid",        ngx_worker_pid },
    { "pids",       ngx_worker_pids },
    { "exiting",    ngx_worker_exiting },
    { NULL, NULL }
};

static const luaL_Reg ngx_worker_config_fns[] = {
    { "prefix",            ngx_worker_prefix },
    { "nginx_configure",   ngx_worker_configure },
    { NULL, NULL }
};

void
ngx_worker_install(lua_State *L)
{
    ngx_register(L, ngx_worker_top_fns);
    ngx_subtable(L, "worker", ngx_worker_sub_fns);
    ngx_subtable(L, "config", ngx_worker_config_fns);
    lua_getfield(L, -1, "config");
    lua_pushliteral(L, "http");
    lua_setfield(L, -2, "subsystem");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "debug");
    lua_pushinteger(L, LF_NGX_LUA_VERSION);
    lua_setfield(L, -2, "ngx_lua_version");
    lua_pushinteger(L, LF_NGX_NGINX_VERSION);
    lua_setfield(L, -2, "nginx_version");
    lua_pop(L, 1);
}
