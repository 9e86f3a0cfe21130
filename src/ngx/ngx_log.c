/*
 * ngx_log.c: ngx.log, and the ngx module's own lines in the daemon's log.
 *
 * ngx.log writes to the daemon's log at the matching level, tagged with
 * the worker, the request id and the script, and starts its message as
 * nginx does ("t.lua:3: name(): "). What the ngx module says itself (an
 * ngx.status set too late, say) goes the same way (ngx_note), and a value
 * from the client is escaped before a line carries it (ngx_log_escape).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "log.h"
#include "ngx_impl.h"
#include "request.h"

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
ngx_log_level(int n)
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
ngx_log_value(lua_State *L, luaL_Buffer *b, int i)
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
ngx_log_write(lua_State *L)
{
    struct ngx_state *s = ngx_bound(L);
    int level = luaL_checkint(L, 1), i, n = lua_gettop(L);
    const char *file, *slash;
    lua_Debug ar;
    luaL_Buffer b;
    size_t len;

    if (level < NGX_LOG_STDERR || level > NGX_LOG_DEBUG)
        return luaL_argerror(L, 1, lua_pushfstring(L, "bad log level: %d", level));
    if (!log_enabled(ngx_log_level(level)))
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
        ngx_log_value(L, &b, i);
    luaL_pushresult(&b);
    file = lua_tolstring(L, -1, &len);
    if (s->r != NULL)
        log_data(ngx_log_level(level), file, len, "worker %d request %s: %s", s->r->worker,
                 s->r->id, s->r->script ? s->r->script : "-");
    else
        log_data(ngx_log_level(level), file, len, "%s", s->timer ? "timer" : "ngx");
    return 0;
}

static const luaL_Reg ngx_log_fns[] = {
    { "log",        ngx_log_write },
    { NULL, NULL }
};

void
ngx_log_install(lua_State *L)
{
    ngx_register(L, ngx_log_fns);
}
