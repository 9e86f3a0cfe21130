/*
 * ngx.c: the `ngx` table of OpenResty's content phase, in every state.
 *
 * The table is made once, when a state is set up: its functions, its
 * constants, and sub-tables (ngx.req, ngx.re, ngx.timer...), each made
 * by the file that implements it. What belongs to a request (ngx.ctx,
 * ngx.status, the header and variable tables' contents) is not built
 * per request: the functions find the request through the req API's
 * binding (reqapi.h) and reset their per-request fields the first time they
 * run for a new one (ngx_bound). A request that never touches ngx pays
 * nothing; one that does pays for what it touches.
 *
 * A few keys of ngx are properties, not fields: ngx.status, ngx.ctx,
 * ngx.headers_sent and ngx.is_subrequest go through the table's
 * metatable, as in OpenResty; everything else is a plain field, so
 * ngx.say costs one table lookup.
 *
 * Where a call needs a request and there is none (a timer's callback, the
 * top level of a preloaded script), it raises OpenResty's error for that
 * context. What only nginx can do (subrequests, internal redirects, other
 * phases) raises an error that says so: see ngx_refuse.c.
 *
 * ngx.shared and ngx.socket are the same objects as the luafcgid module's
 * `shared` and `socket`; they plug in at one place, ngx_plug.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "ngx.h"
#include "ngx_impl.h"
#include "reqapi.h"
#include "request.h"
#include "sandbox.h"

#define NGX_STATE_META "luafcgid.ngx.state"

static const char ngx_state_key = 's';

/* The state's ngx_state, rebound to the current request when it is a new
 * one (its per-request fields reset). Upvalue 1 of every ngx function. */
struct ngx_state *
ngx_bound(lua_State *L)
{
    struct ngx_state *s = lua_touserdata(L, lua_upvalueindex(1));
    struct reqapi_bind *b = s->bind;

    if (b->serial != s->serial || b->r != s->r)
        ngx_reset(L, s);
    if (s->r != NULL)
        b->used = 1;
    return s;
}

/* S's per-request fields, fresh, for the request bound now (or none: a
 * timer's callback, which sets s->timer). [-0, +0] */
void
ngx_reset(lua_State *L, struct ngx_state *s)
{
    struct reqapi_bind *b = s->bind;

    ngx_unref(L, &s->ctx_ref);
    ngx_unref(L, &s->var_ref);
    ngx_unref(L, &s->args_ref);
    ngx_unref(L, &s->uri_ref);
    ngx_unref(L, &s->method_ref);
    ngx_unref(L, &s->body_ref);
    ngx_unref(L, &s->file_ref);
    ngx_unref(L, &s->hdr_ref);
    ngx_unref(L, &s->newbody_ref);
    s->newbody_held = s->newbody_size = 0;
    s->newbody_file_only = 0;
    s->serial = b->serial;
    s->r = b->r;
    s->status = 0;
    s->sent = 0;
    s->ctype_set = 0;
    s->eof = 0;
    s->body_read = 0;
    s->body_discarded = 0;
    s->body_cap = NGX_BODY_AS_SENT;
    s->body_counted = 0;
    s->now_ms = 0;
}

/* The request, when the call is allowed WHERE we are; else OpenResty's
 * error for the context. [-0, +0, v] */
struct request *
ngx_check(lua_State *L, int where)
{
    struct ngx_state *s = ngx_bound(L);

    if (s->timer != NULL) {
        if (!(where & NGX_IN_TIMER))
            luaL_error(L, "%s", where & NGX_FAKE_REFUSED ? "API disabled in the current context" :
                       "API disabled in the context of ngx.timer");
        return NULL;
    }
    if (s->r == NULL)
        luaL_error(L, "no request found");
    return s->r;
}

/* Push the state's ngx_state. [-0, +1] */
void
ngx_push_state(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&ngx_state_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
}

/* Raise FMT as error(msg, LEVEL) raises it in one of OpenResty's Lua
 * functions: with LEVEL 2, the position of our caller (none when that is
 * a C function, pcall). [-0, +0, v] */
int
ngx_error_at(lua_State *L, int level, const char *fmt, ...)
{
    va_list ap;

    luaL_where(L, level - 1);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

/* The functions FNS into the table on top, each with the ngx_state as
 * upvalue 1. [-0, +0, m] */
void
ngx_register(lua_State *L, const luaL_Reg *fns)
{
    for (; fns->name != NULL; fns++) {
        ngx_push_state(L);
        lua_pushcclosure(L, fns->func, 1);
        lua_setfield(L, -2, fns->name);
    }
}

/* ngx[NAME] = a table of FNS (the ngx table on top). [-0, +0, m] */
void
ngx_subtable(lua_State *L, const char *name, const luaL_Reg *fns)
{
    lua_getfield(L, -1, name);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, name);
    }
    ngx_register(L, fns);
    lua_pop(L, 1);
}

/* t[key] = value, the pair on top; a repeated key makes a list, as
 * OpenResty's tables of arguments and headers do. [-2, +0, m] */
void
ngx_add_value(lua_State *L, int t)
{
    lua_pushvalue(L, -2);
    lua_rawget(L, t);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_rawset(L, t);
    } else if (lua_istable(L, -1)) {
        lua_insert(L, -2);
        lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
        lua_pop(L, 2);
    } else {
        lua_createtable(L, 4, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 2);
        lua_rawset(L, t);
    }
}

/* The value at IDX as a string, made one in place by tostring() when it
 * is none, as OpenResty's Lua functions do. [-0, +0, e] */
const char *
ngx_tostring(lua_State *L, int idx, size_t *len)
{
    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    if (lua_type(L, idx) != LUA_TSTRING && lua_type(L, idx) != LUA_TNUMBER)
        ngx_call_tostring(L, idx);
    return lua_tolstring(L, idx, len);
}

/* nil and ERR, as OpenResty's functions fail. [-0, +2, m] */
int
ngx_push_fail(lua_State *L, const char *err)
{
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

/* The value at IDX (a positive index) replaced by what tostring() makes
 * of it. [-0, +0, e] */
void
ngx_call_tostring(lua_State *L, int idx)
{
    lua_getglobal(L, "tostring");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    lua_replace(L, idx);
}

/* A new table whose metatable's __index and __newindex are INDEX and
 * NEWINDEX, each with the ngx_state as upvalue 1: a table that looks
 * its fields up. [-0, +1, m] */
void
ngx_push_proxy(lua_State *L, lua_CFunction index, lua_CFunction newindex)
{
    const luaL_Reg meta[] = { { "__index", index }, { "__newindex", newindex }, { NULL, NULL } };

    lua_newtable(L);
    lua_createtable(L, 0, 2);
    ngx_register(L, meta);
    lua_setmetatable(L, -2);
}

void
ngx_push_ref(lua_State *L, int ref)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

/* The table *REF names, made (and referenced) the first time. [-0, +1, m] */
void
ngx_ref_table(lua_State *L, int *ref)
{
    if (*ref == LUA_NOREF) {
        lua_newtable(L);
        *ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    ngx_push_ref(L, *ref);
}

void
ngx_unref(lua_State *L, int *ref)
{
    if (*ref != LUA_NOREF) {
        luaL_unref(L, LUA_REGISTRYINDEX, *ref);
        *ref = LUA_NOREF;
    }
}

/* nginx's status line for CODE ("404 Not Found"), or NULL where nginx
 * has no reason phrase (the web server then adds its own). */
const char *
ngx_status_line(int code)
{
    static const struct { int code; const char *line; } lines[] = {
        { 200, "200 OK" }, { 201, "201 Created" }, { 202, "202 Accepted" },
        { 204, "204 No Content" }, { 206, "206 Partial Content" },
        { 301, "301 Moved Permanently" }, { 302, "302 Moved Temporarily" },
        { 303, "303 See Other" }, { 304, "304 Not Modified" },
        { 307, "307 Temporary Redirect" }, { 308, "308 Permanent Redirect" },
        { 400, "400 Bad Request" }, { 401, "401 Unauthorized" },
        { 402, "402 Payment Required" }, { 403, "403 Forbidden" }, { 404, "404 Not Found" },
        { 405, "405 Not Allowed" }, { 406, "406 Not Acceptable" },
        { 408, "408 Request Time-out" }, { 409, "409 Conflict" }, { 410, "410 Gone" },
        { 411, "411 Length Required" }, { 412, "412 Precondition Failed" },
        { 413, "413 Request Entity Too Large" }, { 414, "414 Request-URI Too Large" },
        { 415, "415 Unsupported Media Type" }, { 416, "416 Requested Range Not Satisfiable" },
        { 421, "421 Misdirected Request" }, { 429, "429 Too Many Requests" },
        { 500, "500 Internal Server Error" }, { 501, "501 Not Implemented" },
        { 502, "502 Bad Gateway" }, { 503, "503 Service Temporarily Unavailable" },
        { 504, "504 Gateway Time-out" }, { 505, "505 HTTP Version Not Supported" },
        { 507, "507 Insufficient Storage" },
    };
    size_t i;

    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        if (lines[i].code == code)
            return lines[i].line;
    return NULL;
}

/* ngx's __index: the properties. [-2, +1, e] */
static int
ngx_index(lua_State *L)
{
    size_t len;
    const char *k = lua_tolstring(L, 2, &len);
    struct ngx_state *s;

    if (k == NULL)
        return 0;
    if (strcmp(k, "status") == 0) {
        ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
        lua_pushinteger(L, ngx_out_status_get(L, ngx_bound(L)));
        return 1;
    }
    if (strcmp(k, "ctx") == 0) {
        s = ngx_bound(L);
        if (s->timer == NULL && s->r == NULL)
            return luaL_error(L, "no request found");
        ngx_ref_table(L, &s->ctx_ref);
        return 1;
    }
    if (strcmp(k, "headers_sent") == 0) {
        ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
        s = ngx_bound(L);
        lua_pushboolean(L, s->sent || s->r->headers_sent);
        return 1;
    }
    if (strcmp(k, "is_subrequest") == 0) {
        ngx_check(L, NGX_IN_REQUEST);
        lua_pushboolean(L, 0);
        return 1;
    }
    return 0;
}

/* ngx's __newindex: ngx.status and ngx.ctx; anything else is a field. [-3, +0, e] */
static int
ngx_newindex(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    struct ngx_state *s;

    if (k != NULL && strcmp(k, "status") == 0) {
        ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
        s = ngx_bound(L);
        ngx_out_status_set(L, s, 3);
        return 0;
    }
    if (k != NULL && strcmp(k, "ctx") == 0) {
        s = ngx_bound(L);
        if (s->timer == NULL && s->r == NULL)
            return luaL_error(L, "no request found");
        if (!lua_istable(L, 3))
            return luaL_error(L, "ctx should be a table while getting a %s", luaL_typename(L, 3));
        ngx_unref(L, &s->ctx_ref);
        lua_pushvalue(L, 3);
        s->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return 0;
    }
    lua_rawset(L, 1);
    return 0;
}

static void
ngx_constants(lua_State *L)
{
    static const struct { const char *name; int value; } k[] = {
        { "OK", 0 }, { "ERROR", -1 }, { "AGAIN", -2 }, { "DONE", -4 }, { "DECLINED", -5 },
        { "HTTP_GET", 2 }, { "HTTP_HEAD", 4 }, { "HTTP_POST", 8 }, { "HTTP_PUT", 16 },
        { "HTTP_DELETE", 32 }, { "HTTP_MKCOL", 64 }, { "HTTP_COPY", 128 }, { "HTTP_MOVE", 256 },
        { "HTTP_OPTIONS", 512 }, { "HTTP_PROPFIND", 1024 }, { "HTTP_PROPPATCH", 2048 },
        { "HTTP_LOCK", 4096 }, { "HTTP_UNLOCK", 8192 }, { "HTTP_PATCH", 16384 },
        { "HTTP_TRACE", 32768 },
        { "HTTP_CONTINUE", 100 }, { "HTTP_SWITCHING_PROTOCOLS", 101 },
        { "HTTP_OK", 200 }, { "HTTP_CREATED", 201 }, { "HTTP_ACCEPTED", 202 },
        { "HTTP_NO_CONTENT", 204 }, { "HTTP_PARTIAL_CONTENT", 206 },
        { "HTTP_SPECIAL_RESPONSE", 300 }, { "HTTP_MOVED_PERMANENTLY", 301 },
        { "HTTP_MOVED_TEMPORARILY", 302 }, { "HTTP_SEE_OTHER", 303 },
        { "HTTP_NOT_MODIFIED", 304 }, { "HTTP_TEMPORARY_REDIRECT", 307 },
        { "HTTP_PERMANENT_REDIRECT", 308 },
        { "HTTP_BAD_REQUEST", 400 }, { "HTTP_UNAUTHORIZED", 401 },
        { "HTTP_PAYMENT_REQUIRED", 402 }, { "HTTP_FORBIDDEN", 403 }, { "HTTP_NOT_FOUND", 404 },
        { "HTTP_NOT_ALLOWED", 405 }, { "HTTP_NOT_ACCEPTABLE", 406 },
        { "HTTP_REQUEST_TIMEOUT", 408 }, { "HTTP_CONFLICT", 409 }, { "HTTP_GONE", 410 },
        { "HTTP_UPGRADE_REQUIRED", 426 }, { "HTTP_TOO_MANY_REQUESTS", 429 },
        { "HTTP_CLOSE", 444 }, { "HTTP_ILLEGAL", 451 },
        { "HTTP_INTERNAL_SERVER_ERROR", 500 }, { "HTTP_NOT_IMPLEMENTED", 501 },
        { "HTTP_METHOD_NOT_IMPLEMENTED", 501 },
        { "HTTP_BAD_GATEWAY", 502 }, { "HTTP_SERVICE_UNAVAILABLE", 503 },
        { "HTTP_GATEWAY_TIMEOUT", 504 }, { "HTTP_VERSION_NOT_SUPPORTED", 505 },
        { "HTTP_INSUFFICIENT_STORAGE", 507 },
        { "STDERR", 0 }, { "EMERG", 1 }, { "ALERT", 2 }, { "CRIT", 3 }, { "ERR", 4 },
        { "WARN", 5 }, { "NOTICE", 6 }, { "INFO", 7 }, { "DEBUG", 8 },
    };
    size_t i;

    for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        lua_pushinteger(L, k[i].value);
        lua_setfield(L, -2, k[i].name);
    }
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
}

/* Make the state's ngx_state, kept in the registry. [-0, +0, m] */
static struct ngx_state *
ngx_state_new(lua_State *L)
{
    struct ngx_state *s;

    lua_pushlightuserdata(L, (void *)&ngx_state_key);
    s = lua_newuserdata(L, sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->bind = reqapi_binding(L);
    s->ctx_ref = s->var_ref = s->args_ref = s->uri_ref = s->method_ref = s->body_ref = LUA_NOREF;
    s->file_ref = s->hdr_ref = s->newbody_ref = s->ngx_ref = LUA_NOREF;
    luaL_newmetatable(L, NGX_STATE_META);
    lua_pushliteral(L, "ngx");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
    return s;
}

/* Fill the ngx table with its functions, constants and sub-tables, once:
 * the first time a script touches ngx. The table is found by its
 * reference, not taken from the metamethod's arguments: a script may call
 * those with a table of its own. [-0, +0, m] */
static void
ngx_build(lua_State *L, struct ngx_state *s)
{
    if (s->built)
        return;
    s->built = 1;
    ngx_push_ref(L, s->ngx_ref);
    ngx_constants(L);
    ngx_out_install(L);
    ngx_header_install(L);
    ngx_var_install(L);
    ngx_req_install(L);
    ngx_req_body_install(L);
    ngx_req_header_install(L);
    ngx_codec_install(L);
    ngx_hash_install(L);
    ngx_time_install(L);
    ngx_log_install(L);
    ngx_worker_install(L);
    ngx_refuse_install(L);
    ngx_re_install(L);
    ngx_timer_install(L);
    ngx_plug_install(L);
    lua_pop(L, 1);
}

/* ngx's __index before and after it is built: a field, or a property. */
static int
ngx_first_index(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);     /* a script can call it by its metatable */
    ngx_build(L, lua_touserdata(L, lua_upvalueindex(1)));
    lua_pushvalue(L, 2);
    lua_rawget(L, 1);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    return ngx_index(L);
}

static int
ngx_first_newindex(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);     /* a script can call it by its metatable */
    ngx_build(L, lua_touserdata(L, lua_upvalueindex(1)));
    return ngx_newindex(L);
}

/* ngx's __pairs: pairs(ngx) lists its fields even as the first touch,
 * as in OpenResty (the sandbox's pairs honours __pairs). [-0, +3, m] */
static int
ngx_first_pairs(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);     /* a script can call it by its metatable */
    ngx_build(L, lua_touserdata(L, lua_upvalueindex(1)));
    sandbox_push_next(L);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/*
 * The global `ngx`, in a state being set up (after the req API). It is
 * an empty table until a script first touches it: a state whose script
 * never does holds no more than this (about 23 KiB of functions and
 * tables otherwise). [-0, +0, e]
 */
void
ngx_install(lua_State *L)
{
    const luaL_Reg pairs[] = { { "__pairs", ngx_first_pairs }, { NULL, NULL } };

    struct ngx_state *s = ngx_state_new(L);

    ngx_push_proxy(L, ngx_first_index, ngx_first_newindex);
    lua_getmetatable(L, -1);
    ngx_register(L, pairs);
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    s->ngx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_setglobal(L, "ngx");
}
