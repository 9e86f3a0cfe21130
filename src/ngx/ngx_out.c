/*
 * ngx_out.c: the answer through ngx: say, print, flush, eof, exit,
 * redirect, send_headers, and ngx.status.
 *
 * The output goes where req:puts() puts it (reqapi_write: buffered with
 * `buffering`, counted toward the state's memory), so ngx and req can be
 * mixed. As in OpenResty, the first output sends the headers: from then on
 * ngx.header and ngx.status refuse changes (logging why, as nginx does)
 * and ngx.headers_sent is true, even while luafcgid still holds the body
 * back to send it with a Content-Length.
 *
 * ngx.exit ends the handler through the same path as os.exit (no pcall
 * of the script stops it). Before any output, a status of 300 or more, or
 * 204, is answered as nginx answers it: its page (the one nginx would
 * send, signed luafcgid), or no body where nginx has none.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "buf.h"
#include "conf.h"
#include "log.h"
#include "ngx_impl.h"
#include "reqapi.h"
#include "request.h"
#include "state.h"

#define NGX_OUT_DEPTH   100     /* nested tables ngx.print follows */

/* The title of nginx's page for CODE, or NULL when it sends none. */
static const char *
ngx_out_page_title(int code)
{
    switch (code) {
    case 302: return "302 Found";
    case 401: return "401 Authorization Required";
    case 301: case 303: case 307: case 308:
    case 400: case 402: case 403: case 404: case 405: case 406: case 408: case 409: case 410:
    case 411: case 412: case 413: case 414: case 415: case 416: case 421: case 429:
    case 500: case 501: case 502: case 503: case 504: case 505: case 507:
        return ngx_status_line(code);
    default:
        return NULL;
    }
}

/* The status line for CODE: nginx's, or the bare code (the web server
 * adds its reason). [-0, +0, v] */
static void
ngx_out_set_status(lua_State *L, struct request *r, int code)
{
    const char *line = ngx_status_line(code);
    char bare[16];

    if (line == NULL) {
        snprintf(bare, sizeof(bare), "%03d", code);
        line = bare;
    }
    reqapi_set_buf(L, r, &r->status, line, strlen(line));
}

/* ngx.status as read: as set, or what went out, or 0. */
int
ngx_out_status_get(lua_State *L, struct ngx_state *s)
{
    (void)L;
    if (s->status != 0)
        return s->status;
    if (s->sent || s->r->headers_sent)
        return atoi(s->r->status.data);
    return 0;
}

/* ngx.status = value at IDX. [-0, +0, v] */
void
ngx_out_status_set(lua_State *L, struct ngx_state *s, int idx)
{
    struct request *r = s->r;
    int code = (int)lua_tonumber(L, idx);

    if (s->sent || r->headers_sent) {
        ngx_note(s, LOG_LEVEL_ERR, "attempt to set ngx.status after sending out response headers");
        return;
    }
    if (code < 100 || code > 999) {
        ngx_note(s, LOG_LEVEL_ERR, "ngx.status: %d is no HTTP status; ignored", code);
        return;
    }
    s->status = code;
    ngx_answered(s);
    ngx_out_set_status(L, r, code);
}

/* The headers count as sent from now on. 0, or -1 when a HEAD request's
 * body is refused ("header only"). */
int
ngx_out_begin(lua_State *L, struct ngx_state *s, struct request *r)
{
    const char *m = r->vars.request_method;

    (void)L;
    if (s->sent && m != NULL && strcmp(m, "HEAD") == 0)
        return -1;
    s->sent = 1;
    ngx_answered(s);
    return 0;
}

/* The array part's end of the table at IDX, as ngx_lua takes it (its
 * largest positive integer key). [-0, +0, v] */
static int
ngx_out_max(lua_State *L, int idx, int arg, int strict)
{
    lua_Number max = 0;

    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_Number k = lua_tonumber(L, -2);
        if (strict && (lua_type(L, -2) != LUA_TNUMBER || k < 1 || (lua_Number)(long long)k != k))
            luaL_argerror(L, arg, "non-array table found");
        if (k > max)
            max = k;
        lua_pop(L, 1);
    }
    if (max > INT_MAX)
        luaL_argerror(L, arg, "table too large");
    return (int)max;
}

/* A loop in C over a sparse table can be long: the deadline holds in it. */
static void
ngx_out_tick(lua_State *L, int i)
{
    if ((i & 0xfff) == 0 && state_time_left(L) == 0)
        state_raise_timeout(L);
}

/* Check what ngx.print may write, at IDX (argument ARG). [-0, +0, v] */
static void
ngx_out_check(lua_State *L, int idx, int arg, int depth)
{
    int t = lua_type(L, idx), max, i;

    switch (t) {
    case LUA_TNUMBER: case LUA_TSTRING: case LUA_TNIL: case LUA_TBOOLEAN: case LUA_TLIGHTUSERDATA:
        return;
    case LUA_TTABLE:
        break;
    default:
        if (depth == 0)
            luaL_argerror(L, arg, lua_pushfstring(L, "string, number, boolean, nil, ngx.null, "
                          "or array table expected, but got %s", lua_typename(L, t)));
        luaL_argerror(L, arg, lua_pushfstring(L, "bad data type %s found", lua_typename(L, t)));
    }
    if (depth >= NGX_OUT_DEPTH)
        luaL_argerror(L, arg, "tables nested too deep");
    luaL_checkstack(L, 4, "tables nested too deep");
    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    max = ngx_out_max(L, idx, arg, 1);
    for (i = 1; i <= max; i++) {
        ngx_out_tick(L, i);
        lua_rawgeti(L, idx, i);
        ngx_out_check(L, -1, arg, depth + 1);
        lua_pop(L, 1);
    }
}

/* Write the value at IDX, checked before. [-0, +0, v] */
static void
ngx_out_value(lua_State *L, struct request *r, int idx)
{
    size_t len;
    const char *p;
    int max, i;

    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: case LUA_TSTRING:
        p = lua_tolstring(L, idx, &len);
        reqapi_write(L, r, p, len);
        return;
    case LUA_TNIL:
        reqapi_write(L, r, "nil", 3);
        return;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            reqapi_write(L, r, "true", 4);
        else
            reqapi_write(L, r, "false", 5);
        return;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL)
            reqapi_write(L, r, "null", 4);
        return;
    default:
        break;
    }
    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    max = ngx_out_max(L, idx, 0, 0);
    for (i = 1; i <= max; i++) {
        ngx_out_tick(L, i);
        lua_rawgeti(L, idx, i);
        ngx_out_value(L, r, -1);
        lua_pop(L, 1);
    }
}

/* ngx.say and ngx.print. [-0, +(1|2), v] */
static int
ngx_out_echo(lua_State *L, int newline)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST);
    struct ngx_state *s = ngx_bound(L);
    int i, n = lua_gettop(L);

    if (s->eof)
        return ngx_push_fail(L, "seen eof");
    for (i = 1; i <= n; i++)
        if (lua_type(L, i) != LUA_TSTRING)
            ngx_out_check(L, i, i, 0);
    if (ngx_out_begin(L, s, r) < 0)
        return ngx_push_fail(L, "header only");
    for (i = 1; i <= n; i++)
        ngx_out_value(L, r, i);
    if (newline)
        reqapi_write(L, r, "\n", 1);
    lua_pushinteger(L, 1);
    return 1;
}

static int
ngx_out_say(lua_State *L)
{
    return ngx_out_echo(L, 1);
}

static int
ngx_out_print(lua_State *L)
{
    return ngx_out_echo(L, 0);
}

/* ngx.flush([wait]): what is buffered goes out now. [-0, +(1|2)] */
static int
ngx_out_flush(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST);
    struct ngx_state *s = ngx_bound(L);

    if (s->eof)
        return ngx_push_fail(L, "seen eof");
    s->sent = 1;
    ngx_answered(s);
    request_flush(r);
    reqapi_hold(L, r, 0);
    lua_pushinteger(L, 1);
    return 1;
}

/* ngx.send_headers(). [-0, +1] */
static int
ngx_out_send_headers(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST);
    struct ngx_state *s = ngx_bound(L);

    ngx_answered(s);
    if (!s->sent && !r->headers_sent) {
        s->sent = 1;
        if (!r->conf->buffering)
            request_send_headers(r);
    }
    lua_pushinteger(L, 1);
    return 1;
}

/* ngx.eof(): the answer is complete; the FastCGI request ends now and
 * the handler goes on (reqapi_finish). [-0, +(1|2)] */
static int
ngx_out_eof(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST);
    struct ngx_state *s = ngx_bound(L);

    if (s->eof)
        return ngx_push_fail(L, "seen eof");
    s->eof = 1;
    s->sent = 1;
    ngx_answered(s);
    reqapi_finish(L, r);
    lua_pushinteger(L, 1);
    return 1;
}

/* The answer for ngx.exit(CODE) before the headers went: nginx's page
 * for it, or the headers with no body. [-0, +0, v] */
static void
ngx_out_final(lua_State *L, struct ngx_state *s, struct request *r, int code)
{
    const char *title;
    char page[512];
    int n;

    s->sent = 1;
    ngx_answered(s);
    if (code < 300 && code != 204) {
        if (s->status == 0)
            ngx_out_set_status(L, r, code);
        return;
    }
    ngx_out_set_status(L, r, code);
    buf_reset(&r->body);
    reqapi_hold(L, r, 0);
    if ((title = ngx_out_page_title(code)) == NULL) {
        reqapi_set_buf(L, r, &r->ctype, "", 0);    /* nginx sends no type with no body */
        return;
    }
    reqapi_set_buf(L, r, &r->ctype, "text/html", 9);
    n = snprintf(page, sizeof(page), "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n"
                 "<center><h1>%s</h1></center>\r\n<hr><center>" LF_NAME "</center>\r\n"
                 "</body>\r\n</html>\r\n", title, title);
    reqapi_write(L, r, page, (size_t)n);
}

/* ngx.exit(status): end the handler (or the timer's callback). [-0, +0, e] */
static int
ngx_out_exit(lua_State *L)
{
    struct ngx_state *s = ngx_bound(L);
    struct request *r;
    int code = (int)luaL_checkinteger(L, 1);

    if (code == -2 || code == -4)
        return ngx_error_at(L, 2, "bad argument to 'ngx.exit': does not accept NGX_AGAIN or NGX_DONE");
    r = ngx_check(L, NGX_IN_ANY);
    if (r == NULL)          /* a timer: its callback ends */
        return state_exit(L);
    if (!s->sent && !r->headers_sent && !s->eof) {
        if (code >= 200)
            ngx_out_final(L, s, r, code);
        else if (code == -1)    /* ngx.ERROR: nginx drops the connection; we can answer */
            ngx_out_final(L, s, r, 500);
    } else if (code >= 300 && code != 408 && code != 444 && code != 499 &&
               code != ngx_out_status_get(L, s)) {
        ngx_note(s, LOG_LEVEL_ERR, "attempt to set status %d via ngx.exit after sending out the "
                 "response status %d", code, ngx_out_status_get(L, s));
    }
    return state_exit(L);
}

/* Is P (LEN bytes) free of what nginx refuses in a redirect: 0x00-0x08,
 * 0x0a-0x1f, 0x7f? The first bad byte in *BAD. */
static int
ngx_out_safe_uri(const char *p, size_t len, unsigned char *bad)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            *bad = c;
            return 0;
        }
    }
    return 1;
}

/* ngx.redirect(uri[, status]). [-0, +0, e] */
static int
ngx_out_redirect(lua_State *L)
{
    struct ngx_state *s;
    struct request *r;
    int n = lua_gettop(L), code = 302;
    size_t len;
    const char *uri;
    unsigned char bad;
    char hex[8];

    if (n != 1 && n != 2)
        return luaL_error(L, "expecting one or two arguments");
    uri = luaL_checklstring(L, 1, &len);
    if (n == 2) {
        code = (int)luaL_checknumber(L, 2);
        if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308)
            return luaL_error(L, "only ngx.HTTP_MOVED_TEMPORARILY, ngx.HTTP_MOVED_PERMANENTLY, "
                              "ngx.HTTP_PERMANENT_REDIRECT, ngx.HTTP_SEE_OTHER, and "
                              "ngx.HTTP_TEMPORARY_REDIRECT are allowed");
    }
    r = ngx_check(L, NGX_IN_REQUEST);
    s = ngx_bound(L);
    if (s->sent || r->headers_sent)
        return luaL_error(L, "attempt to call ngx.redirect after sending out the headers");
    if (!ngx_out_safe_uri(uri, len, &bad)) {
        /* lua_pushfstring knows no %x (tools/luafmt) */
        snprintf(hex, sizeof(hex), "0x%02x", bad);
        lua_pushstring(L, ngx_log_escape(L, uri, len));
        return luaL_error(L, "unsafe byte \"%s\" in redirect uri \"%s\"", hex, lua_tostring(L, -1));
    }
    ngx_header_set(L, s, r, "Location", 8, 1);
    s->status = 0;
    ngx_out_final(L, s, r, code);
    return state_exit(L);
}

static const luaL_Reg ngx_out_fns[] = {
    { "say",          ngx_out_say },
    { "print",        ngx_out_print },
    { "flush",        ngx_out_flush },
    { "eof",          ngx_out_eof },
    { "exit",         ngx_out_exit },
    { "redirect",     ngx_out_redirect },
    { "send_headers", ngx_out_send_headers },
    { NULL, NULL }
};

void
ngx_out_install(lua_State *L)
{
    ngx_register(L, ngx_out_fns);
}
