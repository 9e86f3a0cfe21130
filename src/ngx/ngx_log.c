/*
 * ngx_log.c: ngx.log, ngx.sleep, ngx.worker, ngx.config, ngx.get_phase,
 * and what only nginx can do.
 *
 * ngx.log writes to the daemon's log at the matching level, tagged with
 * the worker, the request id and the script, and starts its message as
 * nginx does ("t.lua:3: name(): "). ngx.sleep waits as the sockets do
 * (src/net/): the light threads take turns meanwhile, and it never goes
 * past the request's deadline: sleeping longer raises the timeout when
 * the deadline comes.
 *
 * Subrequests (ngx.location.capture), internal redirects (ngx.exec), the
 * raw request socket and the other phases need nginx itself; they raise
 * an error that says so, rather than doing something else quietly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf.h"
#include "log.h"
#include "net.h"
#include "ngx_impl.h"
#include "request.h"
#include "state.h"

#define NGX_LOG_STDERR  0
#define NGX_LOG_DEBUG   8

/* One line in the daemon's log about S's request (or timer). */
void
ngx_note(struct ngx_state *s, int level, const char *fmt, ...)
{
    char msg[LF_LOG_LINE_MAX];
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s->r != NULL)
        log_msg(level, "worker %d request %s: %s: %s", s->r->worker, s->r->id,
                s->r->script ? s->r->script : "-", msg);
    else
        log_msg(level, "%s: %s", s->timer ? "timer" : "ngx", msg);
}

/* Push S with what a log line must not carry escaped (\xHH). [-0, +1, m] */
const char *
ngx_log_escape(lua_State *L, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    luaL_Buffer b;
    size_t i;

    luaL_buffinit(L, &b);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '\\' || c == '"') {
            luaL_addchar(&b, '\\');
            luaL_addchar(&b, 'x');
            luaL_addchar(&b, hex[c >> 4]);
            luaL_addchar(&b, hex[c & 0xf]);
        } else
            luaL_addchar(&b, (char)c);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* nginx's level N as ours. */
static int
ngx_misc_level(int n)
{
    switch (n) {
    case 5:  return LOG_LEVEL_WARN;
    case 6:  return LOG_LEVEL_NOTICE;
    case 7:  return LOG_LEVEL_INFO;
    case 8:  return LOG_LEVEL_DEBUG;
    default: return LOG_LEVEL_ERR;      /* stderr, emerg, alert, crit, err */
    }
}

/* Add the value at I to B as ngx.log writes it. [-0, +0, e] */
static void
ngx_misc_log_value(lua_State *L, luaL_Buffer *b, int i)
{
    switch (lua_type(L, i)) {
    case LUA_TNUMBER: case LUA_TSTRING:
        lua_pushvalue(L, i);
        luaL_addvalue(b);
        return;
    case LUA_TNIL:
        luaL_addstring(b, "nil");
        return;
    case LUA_TBOOLEAN:
        luaL_addstring(b, lua_toboolean(L, i) ? "true" : "false");
        return;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, i) == NULL)
            luaL_addstring(b, "null");
        return;
    default:
        break;
    }
    if (lua_istable(L, i) && luaL_callmeta(L, i, "__tostring")) {
        if (!lua_isstring(L, -1))
            lua_pushliteral(L, "?");
        luaL_addvalue(b);
        return;
    }
    luaL_argerror(L, i - 1, lua_istable(L, i) ? "expected table to have __tostring metamethod" :
                  lua_pushfstring(L, "string, number, boolean, or nil expected, got %s",
                                  luaL_typename(L, i)));
}

/* ngx.log(level, ...). [-0, +0, e] */
static int
ngx_misc_log(lua_State *L)
{
    struct ngx_state *s = ngx_bound(L);
    int level = luaL_checkint(L, 1), i, n = lua_gettop(L);
    const char *file, *slash;
    lua_Debug ar;
    luaL_Buffer b;
    size_t len;

    if (level < NGX_LOG_STDERR || level > NGX_LOG_DEBUG)
        return luaL_argerror(L, 1, lua_pushfstring(L, "bad log level: %d", level));
    if (!log_enabled(ngx_misc_level(level)))
        return 0;
    /* check every argument before the buffer takes the stack; numbered
     * from the message, as OpenResty drops the level first */
    for (i = 2; i <= n; i++) {
        int t = lua_type(L, i);
        if (t == LUA_TTABLE) {
            if (!luaL_getmetafield(L, i, "__tostring"))
                return luaL_argerror(L, i - 1, "expected table to have __tostring metamethod");
            lua_pop(L, 1);
        } else if (t != LUA_TNUMBER && t != LUA_TSTRING && t != LUA_TNIL && t != LUA_TBOOLEAN &&
                   t != LUA_TLIGHTUSERDATA)
            return luaL_argerror(L, i - 1, lua_pushfstring(L, "string, number, boolean, or nil "
                                 "expected, got %s", lua_typename(L, t)));
    }
    memset(&ar, 0, sizeof(ar));
    if (lua_getstack(L, 1, &ar))
        lua_getinfo(L, "Snl", &ar);
    file = ar.short_src;
    if ((slash = strrchr(file, '/')) != NULL)
        file = slash + 1;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "[lua] %s:%d: ", file, ar.currentline > 0 ? ar.currentline : ar.linedefined);
    luaL_addvalue(&b);
    if (ar.namewhat != NULL && *ar.namewhat != '\0' && ar.what != NULL && *ar.what == 'L') {
        lua_pushfstring(L, "%s(): ", ar.name);
        luaL_addvalue(&b);
    }
    for (i = 2; i <= n; i++)
        ngx_misc_log_value(L, &b, i);
    luaL_pushresult(&b);
    file = lua_tolstring(L, -1, &len);
    if (s->r != NULL)
        log_data(ngx_misc_level(level), file, len, "worker %d request %s: %s", s->r->worker,
                 s->r->id, s->r->script ? s->r->script : "-");
    else
        log_data(ngx_misc_level(level), file, len, "%s", s->timer ? "timer" : "ngx");
    return 0;
}

/* ngx.sleep(seconds): at most until the request's deadline, taking turns
 * with the light threads (net_lua_sleep; in a light thread it yields).
 * ngx.now() reads the clock again afterwards. [-0, +0, e] */
static int
ngx_misc_sleep(lua_State *L)
{
    struct ngx_state *s = ngx_bound(L);

    s->now_ms = 0;
    return net_lua_sleep(L);
}

static int
ngx_misc_get_phase(lua_State *L)
{
    struct ngx_state *s = ngx_bound(L);

    lua_pushstring(L, s->timer ? "timer" : s->r ? "content" : "init");
    return 1;
}

/* ngx.worker.id(): this worker, from 0, as nginx numbers its workers. */
static int
ngx_misc_worker_id(lua_State *L)
{
    struct ngx_state *s = ngx_bound(L);

    if (s->r != NULL && s->r->worker > 0)
        lua_pushinteger(L, s->r->worker - 1);
    else
        lua_pushnil(L);
    return 1;
}

static int
ngx_misc_worker_count(lua_State *L)
{
    struct conf *c = conf_acquire();

    lua_pushinteger(L, c->workers);
    conf_release(c);
    return 1;
}

static int
ngx_misc_worker_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

static int
ngx_misc_worker_pids(lua_State *L)
{
    lua_createtable(L, 1, 0);
    lua_pushinteger(L, (lua_Integer)getpid());
    lua_rawseti(L, -2, 1);
    return 1;
}

static int
ngx_misc_worker_exiting(lua_State *L)
{
    lua_pushboolean(L, ngx_timer_exiting());
    return 1;
}

/* ngx.config.prefix(): the directory of luafcgid.conf, as nginx's is its
 * prefix. */
static int
ngx_misc_prefix(lua_State *L)
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
ngx_misc_configure(lua_State *L)
{
    lua_pushliteral(L, "");
    return 1;
}

/* ngx.on_abort(fn): as in nginx without lua_check_client_abort. */
static int
ngx_misc_on_abort(lua_State *L)
{
    ngx_check(L, NGX_IN_REQUEST);
    lua_pushnil(L);
    lua_pushliteral(L, "lua_check_client_abort is off");
    return 2;
}

/* What only nginx can do: upvalue 2 names it, upvalue 3 says why. */
static int
ngx_misc_nginx_only(lua_State *L)
{
    return luaL_error(L, "%s is not available in luafcgid: %s", lua_tostring(L, lua_upvalueindex(2)),
                      lua_tostring(L, lua_upvalueindex(3)));
}

/* t[name] = a function raising that NAME needs nginx (WHY), in the table
 * on top. [-0, +0, m] */
void
ngx_misc_refuse(lua_State *L, const char *field, const char *name, const char *why)
{
    ngx_push_state(L);
    lua_pushstring(L, name);
    lua_pushstring(L, why);
    lua_pushcclosure(L, ngx_misc_nginx_only, 3);
    lua_setfield(L, -2, field);
}

static const luaL_Reg ngx_misc_fns[] = {
    { "log",        ngx_misc_log },
    { "sleep",      ngx_misc_sleep },
    { "get_phase",  ngx_misc_get_phase },
    { "on_abort",   ngx_misc_on_abort },
    { NULL, NULL }
};

static const luaL_Reg ngx_worker_fns[] = {
    { "id",         ngx_misc_worker_id },
    { "count",      ngx_misc_worker_count },
    { "pid",        ngx_misc_worker_pid },
    { "pids",       ngx_misc_worker_pids },
    { "exiting",    ngx_misc_worker_exiting },
    { NULL, NULL }
};

static const luaL_Reg ngx_config_fns[] = {
    { "prefix",            ngx_misc_prefix },
    { "nginx_configure",   ngx_misc_configure },
    { NULL, NULL }
};

#define NGX_SUBREQUESTS "subrequests are nginx's own; luafcgid serves the content phase over FastCGI"
#define NGX_REDIRECTS   "internal redirects are nginx's own; answer with ngx.redirect() instead"

void
ngx_misc_install(lua_State *L)
{
    ngx_register(L, ngx_misc_fns);
    ngx_subtable(L, "worker", ngx_worker_fns);
    ngx_subtable(L, "config", ngx_config_fns);
    lua_getfield(L, -1, "config");
    lua_pushliteral(L, "http");
    lua_setfield(L, -2, "subsystem");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "debug");
    lua_pushinteger(L, LF_NGX_LUA_VERSION);
    lua_setfield(L, -2, "ngx_lua_version");
    lua_pop(L, 1);

    lua_newtable(L);
    ngx_misc_refuse(L, "capture", "ngx.location.capture", NGX_SUBREQUESTS);
    ngx_misc_refuse(L, "capture_multi", "ngx.location.capture_multi", NGX_SUBREQUESTS);
    lua_setfield(L, -2, "location");
    ngx_misc_refuse(L, "exec", "ngx.exec", NGX_REDIRECTS);
    lua_getfield(L, -1, "req");
    ngx_misc_refuse(L, "socket", "ngx.req.socket",
                    "the web server reads the client's connection; a FastCGI server has only the request");
    ngx_misc_refuse(L, "set_body_file", "ngx.req.set_body_file",
                    "use ngx.req.set_body_data() with the file's contents");
    lua_pop(L, 1);
    ngx_misc_refuse(L, "run_worker_thread", "ngx.run_worker_thread",
                    "the handler already runs on a thread of its own; call the function directly");
}
