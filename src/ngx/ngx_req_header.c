/*
 * ngx_req_header.c: the request's headers in ngx.req: get_headers,
 * set_header, clear_header and raw_header, and the header ngx.var.http_NAME
 * reads (ngx_req_header).
 *
 * A file of its own because in ngx.req headers are a concern apart from
 * the URI, its arguments, the method and the body (ngx_req.c): a header's
 * name is folded and found in any spelling, and one the script set or
 * cleared shadows the parameter under that name.
 *
 * Headers come from the HTTP_* parameters (name lower-cased, "_" back to
 * "-"; CONTENT_TYPE and CONTENT_LENGTH when the web server sends only
 * those, but no Content-Length for a chunked body), in the order the web
 * server sent them; the table answers any
 * spelling of a name (Content_Type, content-type), as OpenResty's does.
 * What set_header and clear_header change is kept for the rest of the
 * request and seen by every later read, ngx.var included; raw_header is
 * made again from the parameters, as the web server sent them.
 */
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "ngx_impl.h"
#include "request.h"

static const char ngx_req_header_mt_key = 'h';

/* The headers table's __index: any spelling of a name. [-2, +1, m] */
static int
ngx_req_header_index(lua_State *L)
{
    size_t len, i;
    const char *k = lua_tolstring(L, 2, &len);
    char buf[256];

    luaL_checktype(L, 1, LUA_TTABLE);     /* a script can call it by its metatable */
    if (k == NULL || len >= sizeof(buf))
        return 0;
    for (i = 0; i < len; i++)
        buf[i] = ngx_fold(k[i]);
    lua_pushlstring(L, buf, len);
    lua_rawget(L, 1);
    return 1;
}

/* Give the table on top the headers' metatable, which answers any
 * spelling of a name: get_headers's and ngx.resp.get_headers's
 * (ngx_header.c). [-0, +0, m] */
void
ngx_req_header_metatable(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&ngx_req_header_mt_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, ngx_req_header_index);
        lua_setfield(L, -2, "__index");
        lua_pushlightuserdata(L, (void *)&ngx_req_header_mt_key);
        lua_pushvalue(L, -2);
        lua_rawset(L, LUA_REGISTRYINDEX);
    }
    lua_setmetatable(L, -2);
}

/* NAME (LEN bytes, a parameter's after HTTP_) as a header name into BUF:
 * lower case and dashes, or Each-Word-Capitalised for RAW. */
static size_t
ngx_req_header_name(const char *name, size_t len, int raw, char *buf, size_t size)
{
    size_t i;
    int start = 1;

    if (len >= size)
        len = size - 1;
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (c == '_') {
            buf[i] = '-';
            start = 1;
            continue;
        }
        if (c >= 'A' && c <= 'Z' && !(raw && start))
            c = (char)(c | 0x20);
        else if (c >= 'a' && c <= 'z' && raw && start)
            c = (char)(c - 32);
        buf[i] = c;
        start = 0;
    }
    return len;
}

/* Is header NAME (lower case) changed by set_header/clear_header? Pushes
 * its new value (false when cleared) and returns 1, or pushes nothing. */
static int
ngx_req_header_override(lua_State *L, struct ngx_state *s, const char *name, size_t len)
{
    if (s->hdr_ref == LUA_NOREF)
        return 0;
    ngx_push_ref(L, s->hdr_ref);
    lua_pushlstring(L, name, len);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* Is LOW met for the first time? Marks it in the table at DONE. */
static int
ngx_req_header_first(lua_State *L, int done, const char *low, size_t len)
{
    int first;

    lua_pushlstring(L, low, len);
    lua_rawget(L, done);
    first = lua_isnil(L, -1);
    lua_pop(L, 1);
    if (first) {
        lua_pushlstring(L, low, len);
        lua_pushboolean(L, 1);
        lua_rawset(L, done);
    }
    return first;
}

/* The headers the script added (set, and not sent) into the table at T,
 * after the sent ones, in the order it first changed them, by the name
 * it spelled (RAW) and counted against MAX as ngx_lua lists them. -1
 * when MAX is reached first. [-0, +0, m] */
static int
ngx_req_header_added(lua_State *L, struct ngx_state *s, int t, int done, int max, int raw, int *count)
{
    char low[256];
    const char *spelt;
    size_t len, i;
    int k, n;

    if (s->hdr_ref == LUA_NOREF)
        return 0;
    ngx_push_ref(L, s->hdr_ref);
    n = (int)lua_objlen(L, -1);
    for (k = 1; k <= n; k++) {
        lua_rawgeti(L, -1, k);
        spelt = lua_tolstring(L, -1, &len);
        if (len > sizeof(low))
            len = sizeof(low);
        for (i = 0; i < len; i++)
            low[i] = ngx_fold(spelt[i]);
        if (!ngx_req_header_first(L, done, low, len)) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushlstring(L, low, len);
        lua_rawget(L, -3);
        if (lua_type(L, -1) == LUA_TBOOLEAN) {
            lua_pop(L, 2);
            continue;
        }
        if (max > 0 && *count >= max) {
            lua_pop(L, 3);
            return -1;
        }
        (*count)++;
        if (!raw) {
            lua_pushlstring(L, low, len);
            lua_replace(L, -3);
        }
        lua_rawset(L, t);
    }
    lua_pop(L, 1);
    return 0;
}

/* ngx.req.get_headers([max[, raw]]). [-0, +(1|2), e] */
static int
ngx_req_get_headers(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    struct ngx_state *s = ngx_bound(L);
    int max = lua_isnoneornil(L, 1) ? 100 : (int)luaL_checkinteger(L, 1), raw = lua_toboolean(L, 2);
    int count = 0, t, done, changed, has_ctype = 0, has_clen = 0;
    char name[256], low[256] = "";
    char **e;
    size_t len;

    lua_settop(L, 2);
    lua_newtable(L);            /* the changed ones met so far, by name */
    done = lua_gettop(L);
    lua_createtable(L, 0, 16);
    t = lua_gettop(L);
    for (e = r->fcgx.envp; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, "HTTP_", 5) != 0 || eq == NULL)
            continue;
        has_ctype |= strncmp(*e, "HTTP_CONTENT_TYPE=", 18) == 0;
        /* a chunked body came with no Content-Length: CONTENT_LENGTH is
         * then the web server's count of what it read, no header */
        has_clen |= strncmp(*e, "HTTP_CONTENT_LENGTH=", 20) == 0 ||
                    strncmp(*e, "HTTP_TRANSFER_ENCODING=", 23) == 0;
    }
    for (e = r->fcgx.envp; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '='), *from;
        if (eq == NULL)
            continue;
        if (strncmp(*e, "HTTP_", 5) == 0)
            from = *e + 5;
        else if ((!has_ctype && strncmp(*e, "CONTENT_TYPE=", 13) == 0 && eq[1] != '\0') ||
                 (!has_clen && strncmp(*e, "CONTENT_LENGTH=", 15) == 0 && eq[1] != '\0'))
            from = *e;
        else
            continue;
        len = ngx_req_header_name(from, (size_t)(eq - from), 0, low, sizeof(low));
        /* changed: its new value in its place, once; cleared: none */
        changed = ngx_req_header_override(L, s, low, len);
        if (changed && (!ngx_req_header_first(L, done, low, len) || lua_type(L, -1) == LUA_TBOOLEAN)) {
            lua_pop(L, 1);
            continue;
        }
        if (max > 0 && count >= max) {
            lua_pop(L, changed);
            lua_pushliteral(L, "truncated");
            return 2;
        }
        count++;
        if (raw)
            lua_pushlstring(L, name, ngx_req_header_name(from, (size_t)(eq - from), 1, name, sizeof(name)));
        else
            lua_pushlstring(L, low, len);
        if (changed) {
            lua_insert(L, -2);
            lua_rawset(L, t);
        } else {
            lua_pushstring(L, eq + 1);
            ngx_add_value(L, t);
        }
    }
    if (ngx_req_header_added(L, s, t, done, max, raw, &count) < 0) {
        lua_pushliteral(L, "truncated");
        return 2;
    }
    if (!raw)
        ngx_req_header_metatable(L);
    return 1;
}

/* The separator nginx 1.22 joins the lines of header NAME (lower case)
 * with in $http_NAME, or 0 for one whose variable is its first line. */
static char
ngx_req_header_sep(const char *name, size_t len)
{
    if (len == 6 && memcmp(name, "cookie", 6) == 0)
        return ';';
    if (len == 15 && memcmp(name, "x-forwarded-for", 15) == 0)
        return ',';
    return 0;
}

/* The lines the script set for a header (a string or a table of them, on
 * top) as its variable reads them, in their place: joined by SEP and a
 * space, or the first for SEP 0; empty lines skipped, as nginx skips those
 * ngx_lua adds; nil when none is left. [-1, +1, m] */
static void
ngx_req_header_lines(lua_State *L, char sep)
{
    luaL_Buffer b;
    int t = lua_gettop(L), i, n, kept = 0;

    if (!lua_istable(L, t)) {
        if (lua_objlen(L, t) == 0) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
        return;
    }
    n = (int)lua_objlen(L, t);
    luaL_buffinit(L, &b);
    for (i = 1; i <= n && !(kept > 0 && sep == 0); i++) {
        lua_rawgeti(L, t, i);
        if (lua_objlen(L, -1) == 0) {
            lua_pop(L, 1);
            continue;
        }
        if (kept++ > 0) {
            luaL_addchar(&b, sep);
            luaL_addchar(&b, ' ');
        }
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    if (kept == 0) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    lua_remove(L, t);
}

/* Every parameter PARAM (LEN bytes, "HTTP_..."), joined by SEP and a
 * space, or nil when there is none. [-0, +1, m] */
static void
ngx_req_header_join_params(lua_State *L, struct request *r, const char *param, size_t len, char sep)
{
    luaL_Buffer b;
    char **e;
    int n = 0;

    luaL_buffinit(L, &b);
    for (e = r->fcgx.envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, param, len) != 0 || (*e)[len] != '=')
            continue;
        if (n++ > 0) {
            luaL_addchar(&b, sep);
            luaL_addchar(&b, ' ');
        }
        luaL_addstring(&b, *e + len + 1);
    }
    luaL_pushresult(&b);
    if (n == 0) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

/* Header LOW (lower case) as the script left it, if it changed it: 1 with
 * the value its variable reads pushed (nil when cleared), else 0 and
 * nothing pushed. [-0, +(0|1), m] */
int
ngx_req_header_changed(lua_State *L, struct ngx_state *s, const char *low, size_t len)
{
    if (!ngx_req_header_override(L, s, low, len))
        return 0;
    if (lua_type(L, -1) == LUA_TBOOLEAN) {
        lua_pop(L, 1);
        lua_pushnil(L);
    } else
        ngx_req_header_lines(L, ngx_req_header_sep(low, len));
    return 1;
}

/* A request header by name, as ngx.var.http_NAME reads it: the override,
 * or the parameter; a header sent (or set) several times is its first
 * line, but Cookie's and X-Forwarded-For's are joined, as nginx 1.22
 * joins them. Pushes it (or nil). [-0, +1, m] */
int
ngx_req_header(lua_State *L, struct ngx_state *s, struct request *r, const char *name, size_t len)
{
    char low[256] = "", param[262], sep;
    const char *v;
    size_t i;

    if (len >= sizeof(low))
        len = sizeof(low) - 1;
    for (i = 0; i < len; i++)
        low[i] = ngx_fold(name[i]);
    if (ngx_req_header_changed(L, s, low, len))
        return 1;
    sep = ngx_req_header_sep(low, len);
    memcpy(param, "HTTP_", 5);
    for (i = 0; i < len; i++)
        param[5 + i] = ngx_param_char(low[i]);
    param[5 + len] = '\0';
    if (sep != 0) {
        ngx_req_header_join_params(L, r, param, 5 + len, sep);
        return 1;
    }
    if ((v = ngx_var_param(r, param, 5 + len)) != NULL)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

/* The value at IDX as set_header keeps it: a string, or for a table of
 * several lines a table of their strings. As in ngx_lua, an empty string
 * first adds no line (it only clears the header) and a later one adds an
 * empty line, which ngx.var then skips (ngx_req_header). Pushes nothing
 * and returns 0 when no line is left. [-0, +(0|1), e] */
static int
ngx_req_header_value(lua_State *L, int idx)
{
    int n, k, kept = 0;
    size_t len;

    if (!lua_istable(L, idx)) {
        lua_pushvalue(L, idx);
        ngx_tostring(L, -1, &len);
        if (len > 0)
            return 1;
        lua_pop(L, 1);
        return 0;
    }
    n = (int)lua_objlen(L, idx);
    lua_createtable(L, n, 0);
    for (k = 1; k <= n; k++) {
        lua_rawgeti(L, idx, k);
        ngx_tostring(L, -1, &len);
        if (k > 1 || len > 0)
            lua_rawseti(L, -2, ++kept);
        else
            lua_pop(L, 1);
    }
    if (kept == 1) {
        lua_rawgeti(L, -1, 1);      /* one line reads as a string, as ngx_lua gives it */
        lua_remove(L, -2);
    }
    if (kept > 0)
        return 1;
    lua_pop(L, 1);
    return 0;
}

/* Header LOW (LEN bytes, folded) changed to the value on top (false:
 * cleared), which is popped; SPELT is the name as the script wrote it,
 * kept in the order of first changes for the headers it adds (their
 * place and spelling in get_headers). [-1, +0, m] */
static void
ngx_req_header_change(lua_State *L, struct ngx_state *s, const char *low, const char *spelt, size_t len)
{
    ngx_ref_table(L, &s->hdr_ref);
    lua_pushlstring(L, low, len);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pushlstring(L, spelt, len);
        lua_rawseti(L, -3, (int)lua_objlen(L, -3) + 1);
    }
    lua_pop(L, 1);
    lua_pushlstring(L, low, len);
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    lua_pop(L, 2);
}

/* A body the script set is LEN bytes: the request's Content-Length says
 * so from now on, as ngx_lua rewrites the header (set_body_data,
 * finish_body). [-0, +0, m] */
void
ngx_req_header_set_length(lua_State *L, struct ngx_state *s, size_t len)
{
    char v[24];

    snprintf(v, sizeof(v), "%zu", len);
    lua_pushstring(L, v);
    ngx_req_header_change(L, s, "content-length", "Content-Length", 14);
}

/* Is LOW (folded) one of the headers nginx holds one line of, so that
 * ngx_lua keeps the last line a table sets? */
static int
ngx_req_header_single(const char *low, size_t len)
{
    return (len == 14 && memcmp(low, "content-length", 14) == 0) ||
           (len == 12 && memcmp(low, "content-type", 12) == 0);
}

/* Is V a length nginx reads (ngx_atoof): digits only, within off_t? */
static int
ngx_req_header_length_ok(const char *v)
{
    static const char max[] = "9223372036854775807";
    size_t n;

    if (*v == '\0' || strspn(v, "0123456789") != strlen(v))
        return 0;
    while (v[0] == '0' && v[1] != '\0')
        v++;
    n = strlen(v);
    return n < sizeof(max) - 1 || (n == sizeof(max) - 1 && strcmp(v, max) <= 0);
}

/* ngx.req.set_header(name, value) and clear_header(name): nil, "", {} or
 * {""} clears it. [-0, +0, e] */
static int
ngx_req_change_header(lua_State *L, int clear)
{
    struct ngx_state *s;
    char low[256];
    size_t len, i;
    const char *name;

    ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    s = ngx_bound(L);
    if (!clear && lua_isnoneornil(L, 1))
        return ngx_error_at(L, 2, "bad 'name' argument: string expected, got nil");
    name = ngx_tostring(L, 1, &len);
    if (lua_isnoneornil(L, 2) || (lua_istable(L, 2) && lua_objlen(L, 2) == 0))
        clear = 1;
    if (len >= sizeof(low))
        len = sizeof(low) - 1;
    for (i = 0; i < len; i++)
        low[i] = ngx_fold(name[i]);
    if (clear || !ngx_req_header_value(L, 2))
        lua_pushboolean(L, 0);
    else if (lua_istable(L, -1) && ngx_req_header_single(low, len)) {
        lua_rawgeti(L, -1, (int)lua_objlen(L, -1));     /* the last line, as ngx_lua keeps */
        lua_remove(L, -2);
    }
    if (len == 14 && memcmp(low, "content-length", 14) == 0 && lua_type(L, -1) == LUA_TSTRING) {
        if (lua_objlen(L, -1) == 0) {       /* a last line "": no length, as ngx_lua */
            lua_pop(L, 1);
            lua_pushboolean(L, 0);
        } else if (!ngx_req_header_length_ok(lua_tostring(L, -1)))
            return luaL_error(L, "failed to set header");   /* nginx could not read it */
    }
    ngx_req_header_change(L, s, low, name, len);
    return 0;
}

static int
ngx_req_set_header(lua_State *L)
{
    return ngx_req_change_header(L, 0);
}

static int
ngx_req_clear_header(lua_State *L)
{
    return ngx_req_change_header(L, 1);
}

/* ngx.req.raw_header([no_request_line]): made again from the parameters,
 * the names capitalised, since the web server sends no more. [-0, +1, m] */
static int
ngx_req_raw_header(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    char name[256];
    luaL_Buffer b;
    char **e;

    luaL_buffinit(L, &b);
    if (!lua_toboolean(L, 1)) {
        const char *uri = r->vars.request_uri, *proto = ngx_var_param(r, "SERVER_PROTOCOL", 15);
        luaL_addstring(&b, r->vars.request_method ? r->vars.request_method : "GET");
        luaL_addchar(&b, ' ');
        luaL_addstring(&b, uri ? uri : "/");
        luaL_addchar(&b, ' ');
        luaL_addstring(&b, proto ? proto : "HTTP/1.0");
        luaL_addstring(&b, "\r\n");
    }
    for (e = r->fcgx.envp; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL || strncmp(*e, "HTTP_", 5) != 0)
            continue;
        luaL_addlstring(&b, name, ngx_req_header_name(*e + 5, (size_t)(eq - *e - 5), 1, name, sizeof(name)));
        luaL_addstring(&b, ": ");
        luaL_addstring(&b, eq + 1);
        luaL_addstring(&b, "\r\n");
    }
    luaL_addstring(&b, "\r\n");
    luaL_pushresult(&b);
    return 1;
}

static const luaL_Reg ngx_req_header_fns[] = {
    { "get_headers",    ngx_req_get_headers },
    { "set_header",     ngx_req_set_header },
    { "clear_header",   ngx_req_clear_header },
    { "raw_header",     ngx_req_raw_header },
    { NULL, NULL }
};

/* ngx.req's header functions, in the ngx table on top. [-0, +0, m] */
void
ngx_req_header_install(lua_State *L)
{
    ngx_subtable(L, "req", ngx_req_header_fns);
}
