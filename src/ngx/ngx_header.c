/*
 * ngx_header.c: ngx.header (the response headers) and ngx.resp.get_headers.
 *
 * There is one set of headers, the request's (r->head, r->ctype), which
 * req:header() writes too; ngx.header reads and rewrites it. A name is
 * looked up without regard to case, with "_" read as "-" (OpenResty's
 * default); setting a header replaces every line of that name; a table
 * sets one line per value; nil or an empty table removes it. Names and
 * values are escaped as OpenResty escapes them (%0D%0A for CR LF, ...), so
 * no value can split the answer. Content-Type is the request's own
 * buffer; reading it gives nil until the script set it, as in OpenResty,
 * where nginx adds its default type only when the headers go out.
 *
 * After the headers count as sent (ngx_out.c), setting one logs
 * OpenResty's error and changes nothing.
 */
#include <string.h>
#include <strings.h>

#include <lua.h>
#include <lauxlib.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "ngx_impl.h"
#include "reqapi.h"
#include "request.h"

#define NGX_HEADER_MAX_VALUES 100   /* resty.core's MAX_HEADER_VALUES */

/* Does NAME (LEN bytes) name KEY (KLEN), case aside, "_" as "-"? */
static int
ngx_header_is(const char *name, size_t len, const char *key, size_t klen)
{
    size_t i;

    if (len != klen)
        return 0;
    for (i = 0; i < len; i++)
        if (ngx_fold(name[i]) != ngx_fold(key[i]))
            return 0;
    return 1;
}

/* The next line of r->head at *AT: its name and value; 0 at the end. */
static int
ngx_header_next(const struct buf *head, size_t *at, const char **name, size_t *nlen,
                const char **value, size_t *vlen, size_t *line_len)
{
    const char *p, *end, *colon, *eol;

    if (*at >= head->len)
        return 0;
    p = head->data + *at;
    end = head->data + head->len;
    eol = memchr(p, '\r', (size_t)(end - p));
    if (eol == NULL)
        eol = end;
    colon = memchr(p, ':', (size_t)(eol - p));
    if (colon == NULL)
        colon = eol;
    *name = p;
    *nlen = (size_t)(colon - p);
    *value = colon < eol ? colon + 2 : eol;
    if (*value > eol)
        *value = eol;
    *vlen = (size_t)(eol - *value);
    *line_len = (size_t)(eol - p) + (eol + 2 <= end ? 2 : (size_t)(end - eol));
    *at += *line_len;
    return 1;
}

/* Drop every line named KEY from r->head. */
static void
ngx_header_remove(struct request *r, const char *key, size_t klen)
{
    size_t at = 0, start, nlen, vlen, line;
    const char *name, *value;

    for (;;) {
        start = at;
        if (!ngx_header_next(&r->head, &at, &name, &nlen, &value, &vlen, &line))
            break;
        if (ngx_header_is(name, nlen, key, klen)) {
            memmove(r->head.data + start, r->head.data + at, r->head.len - at);
            r->head.len -= line;
            at = start;
        }
    }
    if (ngx_header_is("Content-Length", 14, key, klen))
        r->has_length = 0;
}

/* Push S escaped as OpenResty escapes header names (NAME) or values. [-0, +1, m] */
static const char *
ngx_header_escape(lua_State *L, const char *s, size_t len, int name, size_t *out)
{
    size_t n = ngx_escape(NULL, s, len, name ? NGX_ESCAPE_HEADER_NAME : NGX_ESCAPE_HEADER_VALUE);
    luaL_Buffer b;

    if (n == 0) {
        lua_pushlstring(L, s, len);
    } else {
        char *p;
        luaL_buffinit(L, &b);
        while (len > 0) {
            size_t chunk = len > 256 ? 256 : len;
            p = luaL_prepbuffer(&b);
            luaL_addsize(&b, ngx_escape(p, s, chunk, name ? NGX_ESCAPE_HEADER_NAME :
                                        NGX_ESCAPE_HEADER_VALUE));
            s += chunk;
            len -= chunk;
        }
        luaL_pushresult(&b);
    }
    return lua_tolstring(L, -1, out);
}

/* Add the line NAME: value-at-VIDX (a string by now). [-0, +0, v] */
static void
ngx_header_add(lua_State *L, struct ngx_state *s, struct request *r, const char *name,
               size_t nlen, int vidx)
{
    size_t vlen, elen;
    const char *value = lua_tolstring(L, vidx, &vlen);

    value = ngx_header_escape(L, value, vlen, 0, &vlen);
    name = ngx_header_escape(L, name, nlen, 1, &nlen);
    if (ngx_header_is(name, nlen, "Content-Type", 12)) {
        reqapi_set_buf(L, r, &r->ctype, value, vlen);
        s->ctype_set = 1;
        lua_pop(L, 2);
        return;
    }
    if (ngx_header_is(name, nlen, "Content-Length", 14))
        r->has_length = 1;
    elen = nlen + vlen + 4;
    reqapi_hold(L, r, elen);
    if (buf_append(&r->head, name, nlen) < 0 || buf_append(&r->head, ": ", 2) < 0 ||
        buf_append(&r->head, value, vlen) < 0 || buf_append(&r->head, "\r\n", 2) < 0)
        luaL_error(L, "out of memory for a header");
    lua_pop(L, 2);
}

/* Push VIDX's value as a string, tostring() for others. [-0, +1, e] */
static void
ngx_header_tostring(lua_State *L, int vidx)
{
    if (vidx < 0)
        vidx = lua_gettop(L) + vidx + 1;
    if (lua_type(L, vidx) == LUA_TSTRING || lua_type(L, vidx) == LUA_TNUMBER) {
        lua_pushvalue(L, vidx);
        lua_tostring(L, -1);
        return;
    }
    lua_getglobal(L, "tostring");
    lua_pushvalue(L, vidx);
    lua_call(L, 1, 1);
}

/* Add NAME: the value at VIDX, as a string; as nginx, an empty one is no
 * header at all. [-0, +0, e] */
static void
ngx_header_add_value(lua_State *L, struct ngx_state *s, struct request *r, const char *name,
                     size_t nlen, int vidx)
{
    ngx_header_tostring(L, vidx);
    if (lua_objlen(L, -1) > 0)
        ngx_header_add(L, s, r, name, nlen, -1);
    lua_pop(L, 1);
}

/*
 * Set the header NAME (NLEN bytes) to the value at VIDX: a string or
 * number, a table of them (one line each), or nil (removed). Refused,
 * and logged, once the headers count as sent. [-0, +0, e]
 */
void
ngx_header_set(lua_State *L, struct ngx_state *s, struct request *r, const char *name,
               size_t nlen, int vidx)
{
    char dashed[256];
    size_t k;
    int i, n;

    if (vidx < 0)
        vidx = lua_gettop(L) + vidx + 1;
    if (nlen < sizeof(dashed)) {     /* as OpenResty sends foo_bar: foo-bar */
        for (k = 0; k < nlen; k++)
            dashed[k] = (char)(name[k] == '_' ? '-' : name[k]);
        name = dashed;
    }
    if (s->sent || r->headers_sent) {
        ngx_note(s, LOG_LEVEL_ERR, "attempt to set ngx.header.HEADER after sending out response headers");
        return;
    }
    ngx_answered(s);
    if (ngx_header_is(name, nlen, "Content-Type", 12)) {
        /* as nginx: set, it replaces the default type; cleared, none is sent */
        reqapi_set_buf(L, r, &r->ctype, "", 0);
        s->ctype_set = 0;
    } else
        ngx_header_remove(r, name, nlen);
    if (lua_isnil(L, vidx))
        return;
    if (!lua_istable(L, vidx)) {
        ngx_header_add_value(L, s, r, name, nlen, vidx);
        return;
    }
    n = (int)lua_objlen(L, vidx);
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, vidx, i);
        ngx_header_add_value(L, s, r, name, nlen, -1);
        lua_pop(L, 1);
    }
}

/* Push the value of header KEY: a string, a table when several, or nil.
 * [-0, +1, m] */
static void
ngx_header_get(lua_State *L, struct ngx_state *s, struct request *r, const char *key, size_t klen)
{
    size_t at = 0, nlen, vlen, line;
    const char *name, *value;
    int found = 0;

    if (ngx_header_is(key, klen, "Content-Type", 12)) {
        if ((s->ctype_set || s->sent) && r->ctype.len > 0)    /* nginx sets its default as it sends */
            lua_pushlstring(L, r->ctype.data, r->ctype.len);
        else
            lua_pushnil(L);
        return;
    }
    while (ngx_header_next(&r->head, &at, &name, &nlen, &value, &vlen, &line)) {
        if (!ngx_header_is(name, nlen, key, klen))
            continue;
        if (found == 1) {
            lua_createtable(L, 2, 0);
            lua_insert(L, -2);
            lua_rawseti(L, -2, 1);
        }
        lua_pushlstring(L, value, vlen);
        if (found >= 1)
            lua_rawseti(L, -2, found + 1);
        if (++found >= NGX_HEADER_MAX_VALUES)
            break;
    }
    if (found == 0)
        lua_pushnil(L);
}

/* The key at IDX as a string: tostring() for others. [-0, +0, e] */
static const char *
ngx_header_key(lua_State *L, int idx, size_t *len)
{
    if (lua_type(L, idx) != LUA_TSTRING) {
        lua_getglobal(L, "tostring");
        lua_pushvalue(L, idx);
        lua_call(L, 1, 1);
        lua_replace(L, idx);
    }
    return lua_tolstring(L, idx, len);
}

/* ngx.header[key]. [-2, +1, e] */
static int
ngx_header_index(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    size_t len;
    const char *key = ngx_header_key(L, 2, &len);

    luaL_checktype(L, 1, LUA_TTABLE);     /* a script can call it by its metatable */
    ngx_header_get(L, ngx_bound(L), r, key, len);
    return 1;
}

/* ngx.header[key] = value. [-3, +0, e] */
static int
ngx_header_newindex(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    size_t len;
    const char *key = ngx_header_key(L, 2, &len);

    luaL_checktype(L, 1, LUA_TTABLE);     /* a script can call it by its metatable */
    ngx_header_set(L, ngx_bound(L), r, key, len, 3);
    return 0;
}

/* Connection as nginx will answer the client: from what the client asked,
 * the only side of it a FastCGI server sees. */
static const char *
ngx_header_connection(struct request *r)
{
    const char *c = ngx_var_param(r, "HTTP_CONNECTION", 15), *proto;

    if (c != NULL && strcasestr(c, "close") != NULL)
        return "close";
    proto = ngx_var_param(r, "SERVER_PROTOCOL", 15);
    if (proto != NULL && strcmp(proto, "HTTP/1.0") == 0 &&
        (c == NULL || strcasestr(c, "keep-alive") == NULL))
        return "close";
    return "keep-alive";
}

/* ngx.resp.get_headers([max[, raw]]): the response headers as nginx lists
 * them: content-type, connection (and transfer-encoding once the body
 * streams) always, then the others; with more than MAX (100; 0 for all),
 * the table and "truncated". [-0, +(1|2), e] */
static int
ngx_header_resp_get(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    struct ngx_state *s = ngx_bound(L);
    int max = lua_isnoneornil(L, 1) ? 100 : (int)luaL_checkinteger(L, 1);
    int raw = lua_toboolean(L, 2), count = 0, extra = 0, truncated = 0, t;
    size_t at = 0, nlen, vlen, line, i;
    const char *name, *value, *proto = ngx_var_param(r, "SERVER_PROTOCOL", 15);
    char key[256];

    lua_newtable(L);
    t = lua_gettop(L);
    if ((s->ctype_set || s->sent) && r->ctype.len > 0) {     /* cleared: none */
        lua_pushlstring(L, r->ctype.data, r->ctype.len);
        lua_setfield(L, t, "content-type");
        extra++;
    }
    lua_pushstring(L, ngx_header_connection(r));
    lua_setfield(L, t, "connection");
    extra++;
    if ((s->sent || r->headers_sent) && !r->has_length && proto != NULL &&
        strcmp(proto, "HTTP/1.1") == 0) {
        lua_pushliteral(L, "chunked");
        lua_setfield(L, t, "transfer-encoding");
        extra++;
    }
    while (ngx_header_next(&r->head, &at, &name, &nlen, &value, &vlen, &line))
        count++;
    if (max > 0 && count + extra > max) {
        truncated = 1;
        count = max - extra;
    }
    at = 0;
    while (ngx_header_next(&r->head, &at, &name, &nlen, &value, &vlen, &line)) {
        if (nlen >= sizeof(key))
            nlen = sizeof(key) - 1;
        for (i = 0; i < nlen; i++) {
            if (raw)
                key[i] = name[i];
            else
                key[i] = ngx_lower(name[i]);
        }
        lua_pushlstring(L, key, nlen);
        lua_pushlstring(L, value, vlen);
        ngx_add_value(L, t);
        if (--count <= 0)
            break;
    }
    if (!raw)
        ngx_req_header_metatable(L);
    if (truncated) {
        lua_pushliteral(L, "truncated");
        return 2;
    }
    return 1;
}

static const luaL_Reg ngx_resp_fns[] = {
    { "get_headers", ngx_header_resp_get },
    { NULL, NULL }
};

void
ngx_header_install(lua_State *L)
{
    ngx_push_proxy(L, ngx_header_index, ngx_header_newindex);
    lua_setfield(L, -2, "header");
    ngx_subtable(L, "resp", ngx_resp_fns);
}
