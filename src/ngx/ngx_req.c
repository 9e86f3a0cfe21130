/*
 * ngx_req.c: ngx.req, the request as OpenResty shows it: its URI and
 * arguments, its method, version and start time, and its body. Its
 * headers are ngx_req_header.c's.
 *
 * What the script changes (set_uri_args, set_method, set_uri,
 * set_body_data) is kept for the rest of the request and seen by every
 * later read, ngx.var included.
 *
 * The body: as in OpenResty, nothing of it is seen until
 * ngx.req.read_body(). A body luafcgid read whole before the handler (up
 * to `upload_memory`) is then get_body_data()'s; a larger one, which waits
 * on the connection, is written to a temp file in `upload_dir` and is
 * get_body_file()'s, as nginx spills one past client_body_buffer_size. The
 * file goes when the request ends. A body the script writes (init_body,
 * append_body, finish_body) is ngx_req_body.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "body.h"
#include "conf.h"
#include "log.h"
#include "ngx_impl.h"
#include "reqapi.h"
#include "request.h"
#include "state.h"
#include "upload.h"
#include "uploaddir.h"

/* The query string the request has now. The pointer stays valid until
 * the request's query string is set again. [-0, +0] */
const char *
ngx_req_args(lua_State *L, struct ngx_state *s, struct request *r, size_t *len)
{
    const char *q;

    if (s->args_ref != LUA_NOREF) {
        ngx_push_ref(L, s->args_ref);
        q = lua_tolstring(L, -1, len);
        lua_pop(L, 1);      /* the registry keeps it */
        return q;
    }
    q = ngx_var_param(r, "QUERY_STRING", 12);
    if (q == NULL)
        q = "";
    *len = strlen(q);
    return q;
}

/* ngx.req.get_uri_args([max[, tab]]). [-0, +(1|2), e] */
static int
ngx_req_get_uri_args(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    struct ngx_state *s = ngx_bound(L);
    int max = lua_isnoneornil(L, 1) ? 100 : (int)luaL_checkinteger(L, 1);
    size_t len;
    const char *q;

    lua_settop(L, 2);
    if (lua_istable(L, 2)) {
        lua_pushnil(L);
        while (lua_next(L, 2) != 0) {       /* clear it, as resty.core does */
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, 2);
        }
        lua_pushvalue(L, 2);
    } else
        lua_createtable(L, 0, 4);
    if (max < 0)
        max = 100;
    q = ngx_req_args(L, s, r, &len);
    return ngx_codec_args(L, q, len, max, -1);
}

/* ngx.req.set_uri_args(args): a string (escaped where it must be) or a
 * table. [-0, +0, e] */
static int
ngx_req_set_uri_args(lua_State *L)
{
    struct ngx_state *s;
    size_t len;
    const char *p;
    char *out;

    if (lua_gettop(L) != 1)
        return luaL_error(L, "expecting 1 argument but seen %d", lua_gettop(L));
    ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    s = ngx_bound(L);
    switch (lua_type(L, 1)) {
    case LUA_TNUMBER:
        lua_pushstring(L, lua_tostring(L, 1));
        break;
    case LUA_TSTRING:
        p = lua_tolstring(L, 1, &len);
        out = lua_newuserdata(L, len + 2 * ngx_escape(NULL, p, len, NGX_ESCAPE_SET_ARGS));
        lua_pushlstring(L, out, ngx_escape(out, p, len, NGX_ESCAPE_SET_ARGS));
        lua_remove(L, -2);
        break;
    case LUA_TTABLE:
        ngx_codec_encode(L, 1);
        break;
    default:
        return luaL_argerror(L, 1, lua_pushfstring(L, "string, number, or table expected, but got %s",
                                                   luaL_typename(L, 1)));
    }
    ngx_unref(L, &s->args_ref);
    s->args_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* ngx.req.set_uri(uri[, jump]): the URI ngx.var.uri reads; a jump is an
 * internal redirect, which only nginx can do. [-0, +0, e] */
static int
ngx_req_set_uri(lua_State *L)
{
    struct ngx_state *s;
    size_t len;
    int n = lua_gettop(L);

    if (n < 1 || n > 3)
        return luaL_error(L, "expecting 1, 2 or 3 arguments but seen %d", n);
    ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    s = ngx_bound(L);
    luaL_checklstring(L, 1, &len);
    if (len == 0)
        return luaL_error(L, "attempt to use zero-length uri");
    if (n >= 2 && lua_toboolean(L, 2))
        return luaL_error(L, "ngx.req.set_uri with jump is an internal redirect, which only nginx "
                          "can make; luafcgid serves the content phase over FastCGI");
    ngx_unref(L, &s->uri_ref);
    lua_pushvalue(L, 1);
    s->uri_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static const struct { int id; const char *name; } ngx_req_methods[] = {
    { 0x0002, "GET" }, { 0x0004, "HEAD" }, { 0x0008, "POST" }, { 0x0010, "PUT" },
    { 0x0020, "DELETE" }, { 0x0040, "MKCOL" }, { 0x0080, "COPY" }, { 0x0100, "MOVE" },
    { 0x0200, "OPTIONS" }, { 0x0400, "PROPFIND" }, { 0x0800, "PROPPATCH" }, { 0x1000, "LOCK" },
    { 0x2000, "UNLOCK" }, { 0x4000, "PATCH" }, { 0x8000, "TRACE" },
};

static int
ngx_req_get_method(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    struct ngx_state *s = ngx_bound(L);

    if (s->method_ref != LUA_NOREF)
        ngx_push_ref(L, s->method_ref);
    else
        lua_pushstring(L, r->vars.request_method ? r->vars.request_method : "GET");
    return 1;
}

/* ngx.req.set_method(ngx.HTTP_POST...). [-0, +0, e] */
static int
ngx_req_set_method(lua_State *L)
{
    struct ngx_state *s;
    size_t i;
    int id;

    ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    s = ngx_bound(L);
    if (lua_type(L, 1) != LUA_TNUMBER)
        return ngx_error_at(L, 2, "bad method number");
    id = (int)lua_tointeger(L, 1);
    for (i = 0; i < sizeof(ngx_req_methods) / sizeof(ngx_req_methods[0]); i++)
        if (ngx_req_methods[i].id == id) {
            ngx_unref(L, &s->method_ref);
            lua_pushstring(L, ngx_req_methods[i].name);
            s->method_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            return 0;
        }
    return ngx_error_at(L, 2, "unsupported HTTP method: %d", id);
}

/* ngx.req.http_version(): 0.9, 1.0, 1.1, 2.0, 3.0, or nil. [-0, +1] */
static int
ngx_req_http_version(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    const char *p = ngx_var_param(r, "SERVER_PROTOCOL", 15);

    if (p == NULL || strncmp(p, "HTTP/", 5) != 0) {
        lua_pushnil(L);
        return 1;
    }
    p += 5;
    if (strcmp(p, "2") == 0 || strcmp(p, "2.0") == 0)
        lua_pushnumber(L, 2.0);
    else if (strcmp(p, "3") == 0 || strcmp(p, "3.0") == 0)
        lua_pushnumber(L, 3.0);
    else if (strcmp(p, "1.1") == 0 || strcmp(p, "1.0") == 0 || strcmp(p, "0.9") == 0)
        lua_pushnumber(L, strtod(p, NULL));
    else
        lua_pushnil(L);
    return 1;
}

static int
ngx_req_start_time(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST);

    long ms = r->began_at.tv_nsec / 1000000;    /* nginx keeps it to the ms */

    lua_pushnumber(L, (lua_Number)r->began_at.tv_sec + (lua_Number)ms / 1000.0);
    return 1;
}

static int
ngx_req_is_internal(lua_State *L)
{
    ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    lua_pushboolean(L, 0);
    return 1;
}

/* The body read_body reads: NGX_BODY_AS_SENT, or what the request's
 * Content-Length says when it comes, if the script changed it (set_header,
 * clear_header), as nginx reads by that header. A chunked body is read
 * whole whatever it says. [-0, +0, m] */
static long
ngx_req_body_cap(lua_State *L, struct ngx_state *s, struct request *r)
{
    const char *v;
    char *end;
    long cap = NGX_BODY_NONE, n;

    if (ngx_req_chunked(r) ||
        !ngx_req_header_changed(L, s, "content-length", 14))
        return NGX_BODY_AS_SENT;
    if ((v = lua_tostring(L, -1)) != NULL) {
        errno = 0;
        n = strtol(v, &end, 10);
        /* set_header let only digits through (ngx_req_header_length_ok) */
        cap = errno == 0 && *end == '\0' && n >= 0 ? n : NGX_BODY_AS_SENT;
    }
    lua_pop(L, 1);
    return cap;
}

/* The bytes of the body read into memory that read_body took (its cap). */
size_t
ngx_req_body_read_len(const struct ngx_state *s, const struct request *r)
{
    if (s->body_cap == NGX_BODY_NONE)
        return 0;
    if (s->body_cap >= 0 && (size_t)s->body_cap < r->post.len)
        return (size_t)s->body_cap;
    return r->post.len;
}

/* Write the body still on the connection to a temp file in upload_dir,
 * up to S's cap; its path is kept in S and removed with the request's
 * other temps. */
static void
ngx_req_spill(lua_State *L, struct ngx_state *s, struct request *r)
{
    char path[4096];
    const char *why, *p;
    size_t piece = (size_t)64 * 1024, left = s->body_cap >= 0 ? (size_t)s->body_cap : (size_t)-1;
    long got = 0;
    int fd;

    if ((fd = uploaddir_temp(r->conf, path, sizeof(path))) < 0) {
        ngx_note(ngx_bound(L), LOG_LEVEL_ERR, "cannot create a file for the request body in %s: %s",
                 path, strerror(errno));
        luaL_error(L, "cannot create a file for the request body in %s", path);
    }
    if (upload_add_temp(r, path) < 0) {
        close(fd);
        luaL_error(L, "cannot keep the request body's temp file");
    }
    while (left > 0 && (got = body_next(r, &p, left < piece ? left : piece, &why)) > 0) {
        left -= (size_t)got;
        if (ngx_req_write_all(fd, p, (size_t)got) < 0) {
            int e = errno;
            close(fd);
            luaL_error(L, "cannot write the request body to %s: %s", path, strerror(e));
        }
    }
    if (got < 0) {
        close(fd);
        luaL_error(L, "%s", why);
    }
    upload_close_kept(r);
    r->temp_fd = fd;        /* append_body may go on writing it (ngx_req_body.c) */
    lua_pushstring(L, path);
    s->file_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* The body still on the connection, LEN bytes of it, in memory as the
 * body read (body_ref): gathered in a userdata, then made a string, so
 * that the state holds at most twice LEN meanwhile. [-0, +0, e] */
static void
ngx_req_take(lua_State *L, struct ngx_state *s, struct request *r, size_t len)
{
    char *buf = lua_newuserdata(L, len);
    const char *why, *p;
    size_t at = 0;
    long got = 0;

    while (at < len && (got = body_next(r, &p, len - at, &why)) > 0) {
        memcpy(buf + at, p, (size_t)got);
        at += (size_t)got;
    }
    if (got < 0)
        luaL_error(L, "%s", why);
    lua_pushlstring(L, buf, at);
    s->body_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
}

/* ngx.req.read_body(). [-0, +0, e] */
static int
ngx_req_read_body(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST);
    struct ngx_state *s = ngx_bound(L);
    long want;

    if (s->body_read)
        return 0;
    s->body_cap = ngx_req_body_cap(L, s, r);
    s->body_read = 1;
    if (ngx_req_chunked(r) &&
        ngx_req_header_changed(L, s, "content-length", 14)) {
        s->body_counted = lua_isnil(L, -1);     /* cleared: see ngx_var_entity */
        lua_pop(L, 1);
    }
    if (!r->body_left || r->body_given || s->body_cap == 0 || s->body_cap == NGX_BODY_NONE ||
        s->body_discarded)
        return 0;
    want = s->body_cap;
    if (want == NGX_BODY_AS_SENT && r->vars.content_length != NULL &&
        !ngx_req_chunked(r))
        want = strtol(r->vars.content_length, NULL, 10);
    /* nginx gives a body of known length that is less than 1.25 times its
     * buffer a buffer of its own size, in memory; past that, a file. So
     * does a body the state's memory could not hold (ngx_req_take holds
     * it twice, and a margin for the string's own) */
    if (want > 0 && (size_t)want < r->conf->upload_memory + r->conf->upload_memory / 4 &&
        (size_t)want < state_room(L) / 3)
        ngx_req_take(L, s, r, (size_t)want);
    else
        ngx_req_spill(L, s, r);
    return 0;
}

static int
ngx_req_discard_body(lua_State *L)
{
    struct ngx_state *s;

    ngx_check(L, NGX_IN_REQUEST);
    s = ngx_bound(L);
    if (!s->body_read)
        s->body_discarded = 1;
    return 0;
}

/* ngx.req.get_body_data(): the body read, in memory; nil when none was
 * read, it is empty, or it went to a file. [-0, +1] */
static int
ngx_req_get_body_data(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    struct ngx_state *s = ngx_bound(L);

    if (ngx_req_body_push(L, s)) {
        if (lua_isstring(L, -1) && lua_objlen(L, -1) == 0) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
        return 1;
    }
    if (!s->body_read || s->body_discarded || s->file_ref != LUA_NOREF || r->body_left ||
        ngx_req_body_read_len(s, r) == 0)
        lua_pushnil(L);
    else
        lua_pushlstring(L, r->post.data, ngx_req_body_read_len(s, r));
    return 1;
}

static int
ngx_req_get_body_file(lua_State *L)
{
    struct ngx_state *s;

    ngx_check(L, NGX_IN_REQUEST);
    s = ngx_bound(L);
    if (s->body_ref == LUA_NOREF && s->file_ref != LUA_NOREF)
        ngx_push_ref(L, s->file_ref);
    else
        lua_pushnil(L);
    return 1;
}

/* ngx.req.get_post_args([max]). [-0, +(1|2), e] */
static int
ngx_req_get_post_args(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    struct ngx_state *s = ngx_bound(L);
    int n = lua_gettop(L), max = 100;
    size_t len;
    const char *body;

    if (n > 1)
        return luaL_error(L, "expecting 0 or 1 arguments but seen %d", n);
    if (n == 1)
        max = (int)luaL_checkinteger(L, 1);
    if (!s->body_read)
        return luaL_error(L, "no request body found; maybe you should turn on lua_need_request_body?");
    if (s->body_discarded) {    /* read_body after discard_body: none */
        lua_newtable(L);
        return 1;
    }
    if (s->body_ref == LUA_NOREF && s->file_ref != LUA_NOREF)
        return ngx_push_fail(L, "request body in temp file not supported");
    /* the string stays on the stack, under the table, while it is parsed */
    if (!ngx_req_body_push(L, s))
        lua_pushlstring(L, r->post.data, ngx_req_body_read_len(s, r));
    else if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    }
    body = lua_tolstring(L, -1, &len);
    lua_createtable(L, 0, 4);
    if (len == 0)
        return 1;
    return ngx_codec_args(L, body, len, max, -1);
}

/* ngx.req.set_body_data(data): what the body reads as from now on. */
static int
ngx_req_set_body_data(lua_State *L)
{
    struct ngx_state *s;

    ngx_check(L, NGX_IN_REQUEST);
    s = ngx_bound(L);
    luaL_checkstring(L, 1);
    if (s->body_discarded)      /* as init_body (ngx_req_body.c) */
        return luaL_error(L, "request body already discarded asynchronously");
    if (!s->body_read)
        return luaL_error(L, "request body not read yet");
    ngx_unref(L, &s->body_ref);
    ngx_req_body_drop(L, s);
    lua_pushvalue(L, 1);
    s->body_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    ngx_req_header_set_length(L, s, lua_objlen(L, 1));
    return 0;
}

static const luaL_Reg ngx_req_fns[] = {
    { "get_uri_args",   ngx_req_get_uri_args },
    { "set_uri_args",   ngx_req_set_uri_args },
    { "set_uri",        ngx_req_set_uri },
    { "get_method",     ngx_req_get_method },
    { "set_method",     ngx_req_set_method },
    { "http_version",   ngx_req_http_version },
    { "start_time",     ngx_req_start_time },
    { "is_internal",    ngx_req_is_internal },
    { "read_body",      ngx_req_read_body },
    { "discard_body",   ngx_req_discard_body },
    { "get_body_data",  ngx_req_get_body_data },
    { "get_body_file",  ngx_req_get_body_file },
    { "get_post_args",  ngx_req_get_post_args },
    { "set_body_data",  ngx_req_set_body_data },
    { NULL, NULL }
};

void
ngx_req_install(lua_State *L)
{
    ngx_subtable(L, "req", ngx_req_fns);
}
