/*
 * reqapi.c: the `req` object a handler gets.
 *
 * One full userdata per state, made when the state is created and kept in
 * the registry; it holds a pointer to the request being served, set just
 * before the handler is called and cleared right after, so a request costs
 * no allocation here and a req kept past its request fails cleanly.
 *
 * What the answer buffers (the body with buffering on, and the header
 * lines, Status and Content-Type included, until they are sent) counts toward the state's memory
 * (state_hold): a script cannot hold more outside Lua than inside it. So
 * does a body that req:gets() takes whole from the connection, counted at
 * its CONTENT_LENGTH before it is read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "body.h"
#include "buf.h"
#include "conf.h"
#include "httpstatus.h"
#include "log.h"
#include "reqapi.h"
#include "reqenv.h"
#include "request.h"
#include "state.h"
#include "upload.h"

#define REQAPI_META "luafcgid.req"

static const char reqapi_req_key = 'r';

/* The live request behind the req object at IDX, or a Lua error (also
 * for the modules that take a req: luafcgid.session). [-0, +0, v] */
struct request *
reqapi_request(lua_State *L, int idx)
{
    struct reqapi_bind *slot = luaL_checkudata(L, idx, REQAPI_META);

    if (slot->r == NULL)
        luaL_error(L, "this req belongs to a request that has ended");
    return slot->r;
}

/* The live request behind argument 1. [-0, +0, v] */
static struct request *
reqapi_check(lua_State *L)
{
    return reqapi_request(L, 1);
}

/* What the answer buffers, and a body req:gets() took whole from the
 * connection, held outside Lua. */
static size_t
reqapi_held(const struct request *r)
{
    return (r->headers_sent ? 0 : r->head.len + r->status.len + r->ctype.len) +
           (r->conf->buffering ? r->body.len : 0) +
           (r->body_taken > 0 && !r->body_given ? r->post.len : 0);
}

/* It counts toward the state's memory. [-0, +0, v] */
void
reqapi_hold(lua_State *L, struct request *r, size_t more)
{
    size_t held = reqapi_held(r);

    if (state_hold(L, held + more) < 0)
        luaL_error(L, "memory limit reached by the buffered answer (%f bytes)",
                   (lua_Number)(held + more));
}

/* A body left on the connection counts whole (its CONTENT_LENGTH, which
 * body_defer checked) before req:gets() reads a byte of it. [-0, +0, v] */
static void
reqapi_hold_body(lua_State *L, struct request *r)
{
    const char *cl = reqenv_param("CONTENT_LENGTH", r->fcgx.envp);
    unsigned long long want;

    if (!r->body_left || r->body_given || cl == NULL)
        return;
    want = strtoull(cl, NULL, 10);
    if (want > SIZE_MAX - reqapi_held(r) || state_hold(L, reqapi_held(r) + (size_t)want) < 0)
        luaL_error(L, "memory limit reached by the request body (%s bytes)", cl);
}

/* N bytes at P to the body: buffered (and held), or sent. [-0, +0, v] */
void
reqapi_write(lua_State *L, struct request *r, const char *p, size_t n)
{
    if (r->ended)
        return;     /* after req:finish(), as php-fpm after fastcgi_finish_request() */
    if (r->conf->buffering) {
        reqapi_hold(L, r, n);
        if (buf_append(&r->body, p, n) < 0)
            luaL_error(L, "out of memory for the response");
        return;
    }
    if (!r->headers_sent)
        request_send_headers(r);
    request_write(r, p, n);
}

/* req:puts(...): strings and numbers to the body. [-0, +0, e] */
static int
reqapi_puts(lua_State *L)
{
    struct request *r = reqapi_check(L);
    int i, n = lua_gettop(L);

    for (i = 2; i <= n; i++) {
        size_t len;
        const char *s;
        int t = lua_type(L, i);

        if (t != LUA_TSTRING && t != LUA_TNUMBER)
            return luaL_argerror(L, i - 1, lua_pushfstring(L, "string or number expected, got %s",
                                                          luaL_typename(L, i)));
        s = lua_tolstring(L, i, &len);
        reqapi_write(L, r, s, len);
    }
    return 0;
}

/* B holds the N bytes at V (and a NUL past them), held. [-0, +0, v] */
int
reqapi_set_buf(lua_State *L, struct request *r, struct buf *b, const char *v, size_t n)
{
    buf_reset(b);
    reqapi_hold(L, r, n + 1);
    if (buf_append(b, v, n) < 0 || buf_append(b, "", 1) < 0)
        return luaL_error(L, "out of memory for a header");
    b->len--;       /* keep the NUL out of the length */
    return 0;
}

static void
reqapi_trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* req:header(name, value) or req:header("Name: value"). [-0, +0, e] */
static int
reqapi_header(lua_State *L)
{
    struct request *r = reqapi_check(L);
    const char *name, *value, *why;
    size_t nlen, vlen;

    name = luaL_checklstring(L, 2, &nlen);
    if (lua_isnoneornil(L, 3)) {
        const char *colon = memchr(name, ':', nlen);
        if (colon == NULL)
            return luaL_argerror(L, 1, "expected \"Name: value\"");
        value = colon + 1;
        vlen = nlen - (size_t)(value - name);
        nlen = (size_t)(colon - name);
    } else
        value = luaL_checklstring(L, 3, &vlen);
    reqapi_trim(&name, &nlen);
    reqapi_trim(&value, &vlen);
    if (request_check_header(name, nlen, value, vlen, &why) < 0)
        return luaL_error(L, "bad header: %s", why);
    if (r->headers_sent)
        return luaL_error(L, "headers already sent (after req:flush or output)");

    if (nlen == 6 && strncasecmp(name, "Status", 6) == 0) {
        /* a web server drops an answer whose status it cannot read */
        if (!httpstatus_valid(value, vlen))
            return luaL_error(L, "bad header: Status must be a code and a reason, like \"404 Not Found\"");
        return reqapi_set_buf(L, r, &r->status, value, vlen);
    }
    if (nlen == 12 && strncasecmp(name, "Content-Type", 12) == 0)
        return reqapi_set_buf(L, r, &r->ctype, value, vlen);
    if (nlen == 14 && strncasecmp(name, "Content-Length", 14) == 0)
        r->has_length = 1;
    reqapi_hold(L, r, nlen + vlen + 4);
    if (buf_append(&r->head, name, nlen) < 0 || buf_append(&r->head, ": ", 2) < 0 ||
        buf_append(&r->head, value, vlen) < 0 || buf_append(&r->head, "\r\n", 2) < 0)
        return luaL_error(L, "out of memory for a header");
    return 0;
}

/* The body can still be read: not after req:finish(). [-0, +0, v] */
static struct request *
reqapi_check_body(lua_State *L)
{
    struct request *r = reqapi_check(L);

    if (r->ended && r->body_left)
        luaL_error(L, "the request has ended (req:finish): its body can no longer be read");
    return r;
}

/* req:gets(): the request body, or nil when there is none. [-0, +1, e] */
static int
reqapi_gets(lua_State *L)
{
    struct request *r = reqapi_check_body(L);
    const char *why;

    reqapi_hold_body(L, r);
    if (body_whole(r, &why) < 0)
        return luaL_error(L, "%s", why);
    if (r->post.len == 0)
        lua_pushnil(L);
    else
        lua_pushlstring(L, r->post.data, r->post.len);
    return 1;
}

/* req:read([n]): the next piece of the body, at most n bytes (64 KiB
 * by default), or nil at the end. [-0, +1, v] */
static int
reqapi_read(lua_State *L)
{
    struct request *r = reqapi_check_body(L);
    lua_Number n = luaL_optnumber(L, 2, LF_DEFAULT_READ);
    const char *p, *why;
    long got;

    if (!(n >= 1))
        return luaL_argerror(L, 2, "must be at least 1");
    got = body_next(r, &p, n >= (lua_Number)SIZE_MAX ? SIZE_MAX : (size_t)n, &why);
    if (got < 0)
        return luaL_error(L, "%s", why);
    if (got == 0)
        lua_pushnil(L);
    else
        lua_pushlstring(L, p, (size_t)got);
    return 1;
}

/* req:form(): the body's fields and files, two tables. [-0, +2, e] */
static int
reqapi_form(lua_State *L)
{
    return upload_form(L, reqapi_check_body(L));
}

/* req:flush(): headers and what is buffered go out now. [-0, +0] */
static int
reqapi_flush(lua_State *L)
{
    struct request *r = reqapi_check(L);

    request_flush(r);
    reqapi_hold(L, r, 0);      /* what was sent is no longer held */
    return 0;
}

/*
 * req:finish() (and ngx.eof()): the answer is complete. What is buffered
 * goes out and the FastCGI request ends now, END_REQUEST and all, so the
 * web server answers its client; the handler runs on under its limits,
 * and what it writes from now on is dropped (php-fpm's
 * fastcgi_finish_request). [-0, +0]
 */
void
reqapi_finish(lua_State *L, struct request *r)
{
    request_end_early(r);
    reqapi_hold(L, r, 0);
}

static int
reqapi_finish_method(lua_State *L)
{
    reqapi_finish(L, reqapi_check(L));
    return 0;
}

/* req:reset(): drop the buffered body. [-0, +0] */
static int
reqapi_reset(lua_State *L)
{
    struct request *r = reqapi_check(L);

    buf_reset(&r->body);
    reqapi_hold(L, r, 0);
    return 0;
}

/* The level req:log's first argument names, with more after it; else
 * notice, and *FIRST stays at the first argument. */
static int
reqapi_log_level(lua_State *L, int *first)
{
    int level;

    if (lua_gettop(L) >= 3 && lua_type(L, 2) == LUA_TSTRING &&
        (level = log_level_parse(lua_tostring(L, 2))) >= 0) {
        *first = 3;
        return level;
    }
    return LOG_LEVEL_NOTICE;
}

/* req:log([level,] ...): one line in the daemon's log, at LEVEL ("error",
 * "warn", "notice", "info", "debug"), notice when none. [-0, +0, e] */
static int
reqapi_log(lua_State *L)
{
    struct request *r = reqapi_check(L);
    int i, n = lua_gettop(L), first = 2, level = reqapi_log_level(L, &first);
    const char *msg;
    size_t len;
    luaL_Buffer b;

    if (!log_enabled(level))
        return 0;
    luaL_buffinit(L, &b);
    for (i = first; i <= n; i++) {
        lua_getglobal(L, "tostring");
        lua_pushvalue(L, i);
        lua_call(L, 1, 1);
        if (!lua_isstring(L, -1))
            return luaL_error(L, "'tostring' must return a string to 'log'");
        if (i > first)
            luaL_addchar(&b, ' ');
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    msg = lua_tolstring(L, -1, &len);
    log_data(level, msg, len, "worker %d request %s: %s", r->worker, r->id, r->script);
    return 0;
}

/* req:config(name): a config value, nil for an unknown key. [-0, +1] */
static int
reqapi_config(lua_State *L)
{
    struct request *r = reqapi_check(L);

    return conf_push_value(L, r->conf, luaL_checkstring(L, 2));
}

static int
reqapi_tostring(lua_State *L)
{
    struct reqapi_bind *slot = luaL_checkudata(L, 1, REQAPI_META);

    lua_pushfstring(L, "req (%s)", slot->r ? slot->r->script : "ended");
    return 1;
}

static const luaL_Reg reqapi_methods[] = {
    { "puts",   reqapi_puts },
    { "header", reqapi_header },
    { "gets",   reqapi_gets },
    { "read",   reqapi_read },
    { "form",   reqapi_form },
    { "flush",  reqapi_flush },
    { "finish", reqapi_finish_method },
    { "reset",  reqapi_reset },
    { "log",    reqapi_log },
    { "config", reqapi_config },
    { NULL, NULL }
};

/* Make the metatable and this state's req object. [-0, +0, m] */
int
reqapi_register(lua_State *L)
{
    struct reqapi_bind *slot;

    luaL_newmetatable(L, REQAPI_META);
    lua_newtable(L);
    luaL_register(L, NULL, reqapi_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, reqapi_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "req");
    lua_setfield(L, -2, "__metatable");

    lua_pushlightuserdata(L, (void *)&reqapi_req_key);
    slot = lua_newuserdata(L, sizeof(*slot));
    memset(slot, 0, sizeof(*slot));
    lua_pushvalue(L, -3);
    lua_setmetatable(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
    return 0;
}

/* Bind the req object to R and push it. Binding the request it is
 * already bound to (its load, then its handler) is no new request. [-0, +1] */
void
reqapi_push_req(lua_State *L, struct request *r)
{
    struct reqapi_bind *slot;

    lua_pushlightuserdata(L, (void *)&reqapi_req_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    slot = lua_touserdata(L, -1);
    if (slot->r != r) {
        slot->r = r;
        slot->serial++;
        slot->used = 0;
        slot->answered = 0;
    }
}

void
reqapi_clear_req(lua_State *L)
{
    struct reqapi_bind *slot;

    lua_pushlightuserdata(L, (void *)&reqapi_req_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    slot = lua_touserdata(L, -1);
    if (slot)
        slot->r = NULL;
    lua_pop(L, 1);
}

/* This state's binding (reqapi_register made it). [-0, +0] */
struct reqapi_bind *
reqapi_binding(lua_State *L)
{
    struct reqapi_bind *slot;

    lua_pushlightuserdata(L, (void *)&reqapi_req_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    slot = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return slot;
}
