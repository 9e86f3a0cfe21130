/*
 * ngx_codec.c: ngx's escaping, argument strings and base64.
 *
 * Escaping follows ngx_lua byte for byte: its tables of what each kind of
 * escape leaves alone (URI, URI component, header name and value) are
 * OpenResty's, and unescaping turns "+" into a space and keeps a "%" not
 * followed by two hex digits. Argument strings parse as ngx_lua parses a
 * query string: "a" alone is true, a repeated name a list, an empty name
 * dropped, at most MAX pairs (then "truncated").
 *
 * The base64 transform is OpenSSL's libcrypto; around it only what
 * nginx's decoder accepts is checked here (the alphabet, the length,
 * padding optional). The digests are ngx_hash.c's.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include <lua.h>
#include <lauxlib.h>

#include "ngx_impl.h"

/* OpenResty's tables (ngx_http_lua_util.c), by type: a set bit is a byte
 * to escape. Memcached's is mail_auth's. */
static const uint32_t ngx_esc_tables[][8] = {
    [NGX_ESCAPE_URI] =          { 0xffffffff, 0x80000029, 0, 0x80000000, ~0U, ~0U, ~0U, ~0U },
    [NGX_ESCAPE_ARGS] =         { 0xffffffff, 0x80000829, 0, 0x80000000, ~0U, ~0U, ~0U, ~0U },
    [NGX_ESCAPE_URI_COMPONENT] = { 0xffffffff, 0xfc00987d, 0x78000001, 0xb8000001, ~0U, ~0U, ~0U, ~0U },
    [NGX_ESCAPE_HTML] =         { 0xffffffff, 0x000000ad, 0, 0x80000000, ~0U, ~0U, ~0U, ~0U },
    [NGX_ESCAPE_REFRESH] =      { 0xffffffff, 0x00000085, 0, 0x80000000, ~0U, ~0U, ~0U, ~0U },
    [NGX_ESCAPE_MEMCACHED] =    { 0xffffffff, 0x00000021, 0, 0, 0, 0, 0, 0 },
    [NGX_ESCAPE_MAIL_AUTH] =    { 0xffffffff, 0x00000021, 0, 0, 0, 0, 0, 0 },
    [NGX_ESCAPE_HEADER_NAME] =  { 0xffffffff, 0xfc009305, 0x38000001, 0xa8000000, ~0U, ~0U, ~0U, ~0U },
    [NGX_ESCAPE_HEADER_VALUE] = { 0xfffffdff, 0, 0, 0x80000000, 0, 0, 0, 0 },
    [NGX_ESCAPE_SET_ARGS] =     { 0xffffffff, 0x00000001, 0, 0x80000000, 0, 0, 0, 0 },  /* %00-%20, %7F */
};

/* TYPE's table; mail_auth's for a type it does not know. */
static const uint32_t *
ngx_esc_table(int type)
{
    if (type < 0 || (size_t)type >= sizeof(ngx_esc_tables) / sizeof(ngx_esc_tables[0]))
        return ngx_esc_tables[NGX_ESCAPE_MAIL_AUTH];
    return ngx_esc_tables[type];
}

/*
 * Escape N bytes at SRC as TYPE into DST: the bytes written; with DST
 * NULL, the number of bytes that need escaping (each grows by two).
 */
size_t
ngx_escape(char *dst, const char *src, size_t n, int type)
{
    static const char hex[] = "0123456789ABCDEF";
    const uint32_t *t = ngx_esc_table(type);
    const unsigned char *s = (const unsigned char *)src;
    char *d = dst;
    size_t count = 0;

    for (; n > 0; n--, s++) {
        int esc = (t[*s >> 5] & (1U << (*s & 0x1f))) != 0;
        if (dst == NULL) {
            count += esc;
            continue;
        }
        if (esc) {
            *d++ = '%';
            *d++ = hex[*s >> 4];
            *d++ = hex[*s & 0xf];
        } else
            *d++ = (char)*s;
    }
    return dst == NULL ? count : (size_t)(d - dst);
}

static int
ngx_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Unescape N bytes at S into D (as long at most): "%XX" and "+"; the
 * length written. */
static size_t
ngx_unescape(char *d, const char *s, size_t n)
{
    char *start = d;

    while (n > 0) {
        char c = *s++;
        n--;
        if (c == '%' && n >= 2 && ngx_hex((unsigned char)s[0]) >= 0 &&
            ngx_hex((unsigned char)s[1]) >= 0) {
            *d++ = (char)(ngx_hex((unsigned char)s[0]) * 16 + ngx_hex((unsigned char)s[1]));
            s += 2;
            n -= 2;
        } else {
            if (c == '+')
                c = ' ';
            *d++ = c;
        }
    }
    return (size_t)(d - start);
}

/* Push S (LEN bytes) escaped as TYPE. [-0, +1, m] */
static void
ngx_push_escaped(lua_State *L, const char *s, size_t len, int type)
{
    size_t extra = ngx_escape(NULL, s, len, type);
    char *out;

    if (extra == 0) {
        lua_pushlstring(L, s, len);
        return;
    }
    out = lua_newuserdata(L, len + 2 * extra);
    lua_pushlstring(L, out, ngx_escape(out, s, len, type));
    lua_remove(L, -2);
}

/* Push S unescaped. [-0, +1, m] */
static void
ngx_push_unescaped(lua_State *L, const char *s, size_t len)
{
    char *out;

    if (len == 0 || (memchr(s, '%', len) == NULL && memchr(s, '+', len) == NULL)) {
        lua_pushlstring(L, s, len);
        return;
    }
    out = lua_newuserdata(L, len);
    lua_pushlstring(L, out, ngx_unescape(out, s, len));
    lua_remove(L, -2);
}

/* The argument at 1 as OpenResty's Lua functions take a string: nil and
 * false are "", others go through tostring() (ngx_hash.c's digests take
 * theirs so too). [-0, +0, e] */
const char *
ngx_codec_string(lua_State *L, size_t *len)
{
    if (lua_type(L, 1) != LUA_TSTRING) {
        if (lua_toboolean(L, 1)) {
            ngx_call_tostring(L, 1);
        } else {
            lua_pushliteral(L, "");
            lua_replace(L, 1);
        }
    }
    return lua_tolstring(L, 1, len);
}

/* ngx.escape_uri(s[, type]): type 0 (a URI) or 2 (a component, the
 * default), up to 6. [-0, +1, e] */
static int
ngx_codec_escape_uri(lua_State *L)
{
    size_t len;
    const char *s = ngx_codec_string(L, &len);
    int type = NGX_ESCAPE_URI_COMPONENT;

    if (!lua_isnoneornil(L, 2)) {
        if (lua_type(L, 2) != LUA_TNUMBER)
            return ngx_error_at(L, 3, "\"type\" is not a number");
        type = (int)lua_tointeger(L, 2);
        if (lua_tonumber(L, 2) < 0 || lua_tonumber(L, 2) > 6)
            return ngx_error_at(L, 3, "\"type\" %s out of range", lua_tostring(L, 2));
    }
    ngx_push_escaped(L, s, len, type);
    return 1;
}

static int
ngx_codec_unescape_uri(lua_State *L)
{
    size_t len;
    const char *s = ngx_codec_string(L, &len);

    ngx_push_unescaped(L, s, len);
    return 1;
}

/* Push one key or value of an argument string, unescaped. */
static void
ngx_codec_piece(lua_State *L, const char *p, size_t n)
{
    ngx_push_unescaped(L, p, n);
}

/*
 * Parse the argument string P (LEN bytes) into the table at IDX, at most
 * MAX pairs (0: no limit): 1, or 2 with "truncated" pushed when MAX was
 * reached. [-0, +(0|1), m]
 */
int
ngx_codec_args(lua_State *L, const char *p, size_t len, int max, int idx)
{
    const char *end = p + len, *q = p, *eq = NULL;
    int count = 0;

    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    for (;; p++) {
        if (p < end && *p == '=' && eq == NULL) {
            eq = p;
            continue;
        }
        if (p < end && *p != '&')
            continue;
        if (p == end && p == q && eq == NULL)
            break;
        if (eq != NULL) {
            ngx_codec_piece(L, q, (size_t)(eq - q));
            ngx_codec_piece(L, eq + 1, (size_t)(p - eq - 1));
        } else {
            ngx_codec_piece(L, q, (size_t)(p - q));
            lua_pushboolean(L, 1);
        }
        if (lua_objlen(L, -2) == 0)
            lua_pop(L, 2);      /* an empty name */
        else
            ngx_add_value(L, idx);
        if (p == end)
            break;
        q = p + 1;
        eq = NULL;
        if (max > 0 && ++count == max) {
            lua_pushliteral(L, "truncated");
            return 2;
        }
    }
    return 1;
}

/* ngx.decode_args(str[, max]). [-0, +(1|2), e] */
static int
ngx_codec_decode_args(lua_State *L)
{
    int n = lua_gettop(L), max = 100;
    size_t len;
    const char *s;

    if (n != 1 && n != 2)
        return luaL_error(L, "expecting 1 or 2 arguments but seen %d", n);
    s = luaL_checklstring(L, 1, &len);
    if (n == 2)
        max = luaL_checkint(L, 2);
    lua_createtable(L, 0, 4);
    return ngx_codec_args(L, s, len, max, -1);
}

/* Push "key=value" (KEY at KIDX, the value on top) or "key", escaped. [-0, +1, m] */
static void
ngx_codec_pair(lua_State *L, int kidx, int with_value)
{
    size_t len;
    const char *s = lua_tolstring(L, kidx, &len);

    ngx_push_escaped(L, s, len, NGX_ESCAPE_URI_COMPONENT);
    if (!with_value)
        return;
    lua_pushliteral(L, "=");
    s = lua_tolstring(L, -3, &len);
    ngx_push_escaped(L, s, len, NGX_ESCAPE_URI_COMPONENT);
    lua_concat(L, 3);
}

/* Check the table at IDX as encode_args takes it. [-0, +0, e] */
static void
ngx_codec_check_args(lua_State *L, int idx)
{
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int t = lua_type(L, -1);
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "attempt to use a non-string key in the \"args\" option table");
        if (t == LUA_TTABLE) {
            lua_pushnil(L);
            while (lua_next(L, -2) != 0) {
                if (!lua_isboolean(L, -1) && !lua_isstring(L, -1))
                    luaL_error(L, "attempt to use %s as query arg value", luaL_typename(L, -1));
                lua_pop(L, 1);
            }
        } else if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN)
            luaL_error(L, "attempt to use %s as query arg value", luaL_typename(L, -1));
        lua_pop(L, 1);
    }
}

/* The table at IDX as a query string, pushed (ngx.encode_args, and
 * set_uri_args with a table). The pairs are made into a list first: a
 * string buffer cannot share the stack with a table walk. [-0, +1, e] */
void
ngx_codec_encode(lua_State *L, int idx)
{
    luaL_Buffer b;
    int n = 0, i, list;

    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    ngx_codec_check_args(L, idx);
    lua_newtable(L);
    list = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int kidx = lua_gettop(L) - 1;
        if (lua_istable(L, -1)) {
            lua_pushnil(L);
            while (lua_next(L, -2) != 0) {
                if (!lua_isboolean(L, -1) || lua_toboolean(L, -1)) {
                    ngx_codec_pair(L, kidx, !lua_isboolean(L, -1));
                    lua_rawseti(L, list, ++n);
                }
                lua_pop(L, 1);
            }
        } else if (!lua_isboolean(L, -1) || lua_toboolean(L, -1)) {
            ngx_codec_pair(L, kidx, !lua_isboolean(L, -1));
            lua_rawseti(L, list, ++n);
        }
        lua_pop(L, 1);
    }
    luaL_buffinit(L, &b);
    for (i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '&');
        lua_rawgeti(L, list, i);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_remove(L, list);
}

static int
ngx_codec_encode_args(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return luaL_error(L, "expecting 1 argument but seen %d", lua_gettop(L));
    luaL_checktype(L, 1, LUA_TTABLE);
    ngx_codec_encode(L, 1);
    return 1;
}

/* ngx.encode_base64(s[, no_padding]). [-0, +1, e] */
static int
ngx_codec_encode_base64(lua_State *L)
{
    size_t len, out = 0, chunk, step = (size_t)3 << 28;
    const char *s = ngx_codec_string(L, &len);
    unsigned char *buf;
    int no_padding = 0;

    if (lua_toboolean(L, 2)) {
        if (lua_type(L, 2) != LUA_TBOOLEAN)
            return ngx_error_at(L, 2, "bad no_padding: boolean expected, got %s", luaL_typename(L, 2));
        no_padding = 1;
    }
    buf = lua_newuserdata(L, (len + 2) / 3 * 4 + 1);    /* and OpenSSL's NUL */
    for (; len > 0; s += chunk, len -= chunk) {
        chunk = len > step ? step : len;    /* whole groups of 3: no padding between */
        out += (size_t)EVP_EncodeBlock(buf + out, (const unsigned char *)s, (int)chunk);
    }
    if (no_padding)
        while (out > 0 && buf[out - 1] == '=')
            out--;
    lua_pushlstring(L, (const char *)buf, out);
    return 1;
}

/* Is C in base64's alphabet? */
static int
ngx_codec_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* ngx.decode_base64(s): nil when nginx's decoder refuses it. [-0, +1, e] */
static int
ngx_codec_decode_base64(lua_State *L)
{
    size_t len, n, i, whole, out;
    const char *s;
    unsigned char tail[4], *buf;

    if (lua_type(L, 1) != LUA_TSTRING)
        return ngx_error_at(L, 2, "string argument only");
    s = lua_tolstring(L, 1, &len);
    for (n = 0; n < len && s[n] != '='; n++)
        if (!ngx_codec_b64_char((unsigned char)s[n])) {
            lua_pushnil(L);
            return 1;
        }
    if (n % 4 == 1) {
        lua_pushnil(L);
        return 1;
    }
    /* what precedes the first "=", padded as OpenSSL wants it */
    whole = n - n % 4;
    buf = lua_newuserdata(L, whole / 4 * 3 + 3);
    out = 0;
    if (whole > 0)
        out = (size_t)EVP_DecodeBlock(buf, (const unsigned char *)s, (int)whole);
    if (n % 4 != 0) {
        memcpy(tail, s + whole, n % 4);
        for (i = n % 4; i < 4; i++)
            tail[i] = '=';
        EVP_DecodeBlock(buf + out, tail, 4);
        out += n % 4 - 1;
    }
    lua_pushlstring(L, (const char *)buf, out);
    return 1;
}

/* ngx.quote_sql_str(s): a MySQL string literal. [-0, +1, e] */
static int
ngx_codec_quote_sql_str(lua_State *L)
{
    size_t len, i;
    const char *s;
    luaL_Buffer b;

    if (lua_gettop(L) != 1)
        return luaL_error(L, "expecting one argument");
    s = luaL_checklstring(L, 1, &len);
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '\'');
    for (i = 0; i < len; i++) {
        char c = s[i], e = 0;
        switch (c) {
        case '\0': e = '0'; break;
        case '\b': e = 'b'; break;
        case '\n': e = 'n'; break;
        case '\r': e = 'r'; break;
        case '\t': e = 't'; break;
        case 26:   e = 'Z'; break;
        case '\\': e = '\\'; break;
        case '\'': e = '\''; break;
        case '"':  e = '"'; break;
        default: break;
        }
        if (e) {
            luaL_addchar(&b, '\\');
            luaL_addchar(&b, e);
        } else
            luaL_addchar(&b, c);
    }
    luaL_addchar(&b, '\'');
    luaL_pushresult(&b);
    return 1;
}

static const luaL_Reg ngx_codec_fns[] = {
    { "escape_uri",     ngx_codec_escape_uri },
    { "unescape_uri",   ngx_codec_unescape_uri },
    { "encode_args",    ngx_codec_encode_args },
    { "decode_args",    ngx_codec_decode_args },
    { "encode_base64",  ngx_codec_encode_base64 },
    { "decode_base64",  ngx_codec_decode_base64 },
    { "quote_sql_str",  ngx_codec_quote_sql_str },
    { NULL, NULL }
};

void
ngx_codec_install(lua_State *L)
{
    ngx_register(L, ngx_codec_fns);
}
