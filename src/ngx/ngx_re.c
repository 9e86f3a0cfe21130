/*
 * ngx_re.c: ngx.re.match, find, gmatch, sub and gsub, the Lua side of
 * ngx.re: a match's captures as OpenResty's tables, ctx.pos, gmatch's
 * iterator, sub and gsub's replacement (a template or a function).
 * Compiling, keeping and running a pattern, and the limits that hold
 * inside a match, are the engine's (ngx_re_engine.c); the two meet in
 * ngx_re_impl.h. This file includes ngx_impl.h too and is part of ngx's
 * table, which stands on the engine (tools/layers: module ngx).
 *
 * OpenResty's answers (resty.core's regex.lua is the model): errors a
 * script can handle come back as values (nil, "pcre_compile() failed:
 * ..." or "pcre_exec() failed: N", the number PCRE1's, as the engine
 * gives it), and a broken replacement template as "failed to compile the
 * replacement template".
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "ngx_impl.h"
#include "ngx_re_impl.h"

#define NGX_RE_LOCAL_PAIRS 16    /* a match's offsets copied on the C stack up to so many captures */

/* Push capture I of a match (offsets OV, RC pairs set) as a string, or
 * false. [-0, +1, m] */
static void
ngx_re_push_capture(lua_State *L, const PCRE2_SIZE *ov, const char *s, int rc, uint32_t i)
{
    size_t at = (size_t)2 * i;

    if ((int)i < rc && ov[at] != PCRE2_UNSET)
        lua_pushlstring(L, s + ov[at], ov[at + 1] - ov[at]);
    else
        lua_pushboolean(L, 0);
}

/* t[k] = v for the table at -3, the key at -2 and the value at -1: with
 * its metamethods when RAW is 0, as OpenResty's assignments. [-2, +0, e] */
static void
ngx_re_set(lua_State *L, int raw)
{
    if (raw)
        lua_rawset(L, -3);
    else
        lua_settable(L, -3);
}

/* The captures table of a match (offsets OV): in the table at RES when it
 * is one (its metamethods run, and may run matches of their own: OV must
 * be the caller's copy then), else a new one; pushed. [-0, +1, e] */
static void
ngx_re_captures(lua_State *L, const PCRE2_SIZE *ov, struct ngx_re *re, const char *s, int rc, int res)
{
    uint32_t i;
    int raw = !(res != 0 && lua_istable(L, res));

    if (!raw)
        lua_pushvalue(L, res);
    else
        lua_createtable(L, (int)re->ncaptures, (int)re->name_count + 1);
    for (i = 0; i <= re->ncaptures; i++) {
        lua_pushinteger(L, (lua_Integer)i);
        ngx_re_push_capture(L, ov, s, rc, i);
        ngx_re_set(L, raw);
    }
    for (i = 0; i < re->name_count; i++) {
        PCRE2_SPTR entry = re->names + (size_t)i * re->name_size;
        uint32_t n = ((uint32_t)entry[0] << 8) | entry[1];
        const char *name = (const char *)entry + 2;

        if (!(re->flags & RE_DUPNAMES)) {
            lua_pushstring(L, name);
            ngx_re_push_capture(L, ov, s, rc, n);
            ngx_re_set(L, raw);
            continue;
        }
        /* duplicate names: every one that matched, in a list */
        ngx_re_push_capture(L, ov, s, rc, n);
        if (!lua_toboolean(L, -1)) {
            lua_pop(L, 1);
            continue;
        }
        lua_getfield(L, -2, name);
        if (!lua_istable(L, -1)) {
            lua_pop(L, 1);
            lua_newtable(L);        /* captures, capture, list */
            lua_pushvalue(L, -3);
            lua_pushstring(L, name);
            lua_pushvalue(L, -3);
            ngx_re_set(L, raw);     /* captures[name] = list */
            lua_pop(L, 1);
        }
        lua_insert(L, -2);
        lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
        lua_pop(L, 1);
    }
}

/* Where ctx.pos (CTX, when a table) says to start, as OpenResty takes
 * it: nil, false or up to 0, the start; else pos - 1, truncated as LuaJIT
 * makes an int of it; NaN or past an int, SIZE_MAX, an offset the match
 * refuses (pcre_exec() failed: -24, as OpenResty's). Anything else fails
 * OpenResty's comparison of it with 0. [-0, +0, e] */
static size_t
ngx_re_ctx_pos(lua_State *L, int ctx)
{
    lua_Number pos;
    int type;

    if (!lua_istable(L, ctx))
        return 0;
    lua_getfield(L, ctx, "pos");
    type = lua_type(L, -1);
    if (type != LUA_TNUMBER && type != LUA_TNIL && !(type == LUA_TBOOLEAN && !lua_toboolean(L, -1)))
        luaL_error(L, "attempt to compare %s with number", luaL_typename(L, -1));
    pos = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (pos <= 0)
        return 0;
    if (!(pos - 1 < 2147483648.0))
        return SIZE_MAX;
    return pos < 2 ? 0 : (size_t)(pos - 1);
}

/* ctx.pos (at 4, when a table) = END + 1: where the next match starts.
 * [-0, +0, e] */
static void
ngx_re_set_pos(lua_State *L, size_t end)
{
    if (lua_istable(L, 4)) {
        lua_pushnumber(L, (lua_Number)end + 1);
        lua_setfield(L, 4, "pos");
    }
}

/* An offset as ngx_lua has it: -1 for a capture unset. */
static long long
ngx_re_off(PCRE2_SIZE v)
{
    return v == PCRE2_UNSET ? -1 : (long long)v;
}

/* The offset find reads for nth X: OpenResty indexes its offsets with
 * nth * 2 and nth * 2 + 1, truncated as LuaJIT truncates an index (a
 * fraction reads between captures). X is in [0, 2 * ncaptures + 2). */
static size_t
ngx_re_nth_at(lua_Number x)
{
    return (size_t)x;
}

/* find's answer to the match just made, as OpenResty's: the from and to
 * of capture nth (at 5; nil, false or below 0: the whole match), nil, nil
 * when it is unset or past the captures matched, nil, nil and an error
 * past the pattern's captures; anything else but a number fails as
 * OpenResty's comparison of it with 0 does, ctx.pos set first. The offsets
 * are read before ctx.pos is set: its metamethods may match again.
 * [-0, +(2|3), e] */
static int
ngx_re_find_result(lua_State *L, struct ngx_re_engine *e, struct ngx_re *re, int rc)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
    PCRE2_SIZE end = ov[1];
    int type = lua_type(L, 5), bad, oob, late;
    lua_Number n = type == LUA_TNUMBER ? lua_tonumber(L, 5) : 0;
    long long from = -1, to = -1;

    bad = type != LUA_TNIL && type != LUA_TNUMBER && !(type == LUA_TBOOLEAN && !lua_toboolean(L, 5));
    if (n < 0 || n != n)
        n = 0;      /* NaN: OpenResty's answer changes once LuaJIT compiles it; this is the compiled one */
    oob = n > re->ncaptures;
    late = !oob && n >= rc;
    if (!bad && !oob && !late) {
        from = ngx_re_off(ov[ngx_re_nth_at(n * 2)]);
        to = ngx_re_off(ov[ngx_re_nth_at(n * 2 + 1)]);
    }
    ngx_re_done(L, re);
    ngx_re_set_pos(L, end);
    if (bad)
        return luaL_error(L, "attempt to compare %s with number", luaL_typename(L, 5));
    lua_pushnil(L);
    lua_pushnil(L);
    if (oob) {
        lua_pushliteral(L, "nth out of bound");
        return 3;
    }
    if (late || from + 1 < 0 || to < 0)
        return 2;
    lua_pop(L, 2);
    lua_pushnumber(L, (lua_Number)(from + 1));
    lua_pushnumber(L, (lua_Number)to);
    return 2;
}

/* match's answer: the captures, in res (at 5) when it is a table, after
 * ctx.pos, as OpenResty sets them. The match's offsets are copied first
 * (to LOCAL when they fit): the metamethods of ctx and res may run
 * matches of their own, which reuse the state's match data. [-0, +1, e] */
static int
ngx_re_match_result(lua_State *L, struct ngx_re_engine *e, struct ngx_re *re, const char *s, int rc)
{
    PCRE2_SIZE local[2 * NGX_RE_LOCAL_PAIRS], *ov = local;
    int pairs = rc > 0 ? rc : 1;    /* the whole match's pair is always set */
    size_t size = (size_t)2 * (size_t)pairs * sizeof(*ov);

    if (pairs > NGX_RE_LOCAL_PAIRS)
        ov = lua_newuserdata(L, size);
    memcpy(ov, pcre2_get_ovector_pointer(e->md), size);
    ngx_re_set_pos(L, ov[1]);
    ngx_re_captures(L, ov, re, s, rc, 5);
    ngx_re_done(L, re);
    return 1;
}

/* match and find: (subj, regex, opts, ctx, res|nth). [-0, +(1|2|3), v] */
static int
ngx_re_match_find(lua_State *L, int want_caps)
{
    struct ngx_re_engine *e;
    struct ngx_re *re;
    size_t len, pos;
    const char *s;
    int rc;

    lua_settop(L, 5);
    s = ngx_tostring(L, 1, &len);
    if ((re = ngx_re_get(L, 2, &e)) == NULL) {
        if (!want_caps) {
            lua_pushnil(L);
            lua_insert(L, -2);
            return 3;
        }
        return 2;
    }
    pos = ngx_re_ctx_pos(L, 4);
    rc = ngx_re_exec(L, e, re, s, len, pos);
    if (rc == PCRE2_ERROR_NOMATCH) {
        ngx_re_done(L, re);
        lua_pushnil(L);
        return 1;
    }
    if (rc < 0) {
        ngx_re_done(L, re);
        lua_pushnil(L);
        if (!want_caps)
            lua_pushnil(L);
        lua_pushfstring(L, "pcre_exec() failed: %d", rc);
        return want_caps ? 2 : 3;
    }
    return want_caps ? ngx_re_match_result(L, e, re, s, rc) : ngx_re_find_result(L, e, re, rc);
}

static int
ngx_re_match(lua_State *L)
{
    return ngx_re_match_find(L, 1);
}

static int
ngx_re_find(lua_State *L)
{
    return ngx_re_match_find(L, 0);
}

/* gmatch's iterator: upvalues subject, pattern, and the next position
 * (false once exhausted). [-0, +(1|2), v] */
static int
ngx_re_gmatch_next(lua_State *L)
{
    struct ngx_re_engine *e = ngx_re_engine(L);
    struct ngx_re *re = lua_touserdata(L, lua_upvalueindex(2));
    size_t len, pos, end;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &len);
    PCRE2_SIZE *ov;
    int rc;

    if (!lua_isnumber(L, lua_upvalueindex(3)) || re->code == NULL) {
        lua_pushnil(L);         /* exhausted: nil, as OpenResty's iterator */
        return 1;
    }
    pos = (size_t)lua_tonumber(L, lua_upvalueindex(3));
    rc = ngx_re_exec(L, e, re, s, len, pos);
    if (rc < 0) {
        lua_pushboolean(L, 0);
        lua_replace(L, lua_upvalueindex(3));
        ngx_re_done(L, re);
        lua_pushnil(L);
        if (rc == PCRE2_ERROR_NOMATCH)
            return 1;
        lua_pushfstring(L, "pcre_exec() failed: %d", rc);
        return 2;
    }
    ov = pcre2_get_ovector_pointer(e->md);
    end = ov[1];
    ngx_re_captures(L, ov, re, s, rc, 0);
    if (end == ov[0] && ++end > len) {
        /* an empty match at the end: this is the last */
        lua_pushboolean(L, 0);
        ngx_re_done(L, re);
    } else
        lua_pushnumber(L, (lua_Number)end);
    lua_replace(L, lua_upvalueindex(3));
    return 1;
}

/* gmatch(subj, regex, opts): an iterator, or nil and the error. [-0, +(1|2), v] */
static int
ngx_re_gmatch(lua_State *L)
{
    struct ngx_re_engine *e;

    lua_settop(L, 3);
    ngx_tostring(L, 1, NULL);
    if (ngx_re_get(L, 2, &e) == NULL)
        return 2;
    lua_pushvalue(L, 1);
    lua_insert(L, -2);
    lua_pushnumber(L, 0);
    lua_pushcclosure(L, ngx_re_gmatch_next, 3);
    return 1;
}

/* The replacement template at IDX is ngx_lua's: $0..$N, ${N}, $$; a name,
 * a lone $ or an unclosed brace fails. 0, or -1. */
static int
ngx_re_check_template(const char *t, size_t n)
{
    size_t i = 0;

    while (i < n) {
        if (t[i++] != '$')
            continue;
        if (i == n)
            return -1;
        if (t[i] == '$') {
            i++;
            continue;
        }
        if (t[i] == '{') {
            size_t digits = 0;
            for (i++; i < n && t[i] >= '0' && t[i] <= '9'; i++)
                digits++;
            if (digits == 0 || i == n || t[i] != '}')
                return -1;
            i++;
            continue;
        }
        if (t[i] < '0' || t[i] > '9')
            return -1;
        while (i < n && t[i] >= '0' && t[i] <= '9')
            i++;
    }
    return 0;
}

/* Add template T expanded for the last match to B. [-0, +0, m] */
static void
ngx_re_expand(luaL_Buffer *b, struct ngx_re_engine *e, const char *s, int rc, const char *t,
              size_t n)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
    size_t i = 0;

    while (i < n) {
        unsigned long cap = 0;
        if (t[i] != '$') {
            luaL_addchar(b, t[i++]);
            continue;
        }
        i++;
        if (t[i] == '$') {
            luaL_addchar(b, '$');
            i++;
            continue;
        }
        if (t[i] == '{')
            i++;
        while (i < n && t[i] >= '0' && t[i] <= '9' && cap < 100000)
            cap = cap * 10 + (unsigned long)(t[i++] - '0');
        while (i < n && t[i] >= '0' && t[i] <= '9')
            i++;
        if (i < n && t[i] == '}')
            i++;
        if (cap < (unsigned long)rc && ov[2 * cap] != PCRE2_UNSET)
            luaL_addlstring(b, s + ov[2 * cap], ov[2 * cap + 1] - ov[2 * cap]);
    }
}

/* sub and gsub: (subj, regex, replace, opts) -> new, count | nil, nil, err. */
static int
ngx_re_substitute(lua_State *L, int global)
{
    struct ngx_re_engine *e;
    struct ngx_re *re;
    size_t len, pos = 0, copied = 0, tlen = 0;
    const char *s, *t = NULL;
    int count = 0, rc, func;
    luaL_Buffer b;

    lua_settop(L, 4);
    func = lua_isfunction(L, 3);
    if (!func && !lua_isstring(L, 3)) {
        lua_getglobal(L, "tostring");
        lua_pushvalue(L, 3);
        lua_call(L, 1, 1);
        lua_replace(L, 3);
    }
    if (!func)
        t = lua_tolstring(L, 3, &tlen);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 4);            /* regex opts at 5, 6: ngx_re_get's order */
    if ((re = ngx_re_get(L, 5, &e)) == NULL) {
        lua_pushnil(L);
        lua_insert(L, -3);
        return 3;
    }
    s = ngx_tostring(L, 1, &len);
    if (!func && ngx_re_check_template(t, tlen) < 0) {
        ngx_re_done(L, re);
        lua_pushnil(L);
        lua_pushnil(L);
        lua_pushliteral(L, "failed to compile the replacement template");
        return 3;
    }
    luaL_buffinit(L, &b);
    for (;;) {
        PCRE2_SIZE *ov, start, end;

        if ((rc = ngx_re_exec(L, e, re, s, len, pos)) == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            ngx_re_done(L, re);
            lua_pushnil(L);
            lua_pushnil(L);
            lua_pushfstring(L, "pcre_exec() failed: %d", rc);
            return 3;
        }
        count++;
        ov = pcre2_get_ovector_pointer(e->md);
        start = ov[0];
        end = ov[1];
        luaL_addlstring(&b, s + copied, start - copied);
        if (func) {
            lua_pushvalue(L, 3);
            ngx_re_captures(L, ov, re, s, rc, 0);
            lua_call(L, 1, 1);
            if (!lua_isstring(L, -1)) {
                lua_getglobal(L, "tostring");
                lua_insert(L, -2);
                lua_call(L, 1, 1);
            }
            luaL_addvalue(&b);
        } else
            ngx_re_expand(&b, e, s, rc, t, tlen);
        copied = pos = end;
        if (pos == start && ++pos > len)
            break;
        if (!global)
            break;
    }
    ngx_re_done(L, re);
    if (count == 0) {
        lua_pushvalue(L, 1);
        lua_pushinteger(L, 0);
        return 2;
    }
    luaL_addlstring(&b, s + copied, len - copied);
    luaL_pushresult(&b);
    lua_pushinteger(L, count);
    return 2;
}

static int
ngx_re_sub(lua_State *L)
{
    return ngx_re_substitute(L, 0);
}

static int
ngx_re_gsub(lua_State *L)
{
    return ngx_re_substitute(L, 1);
}

static const luaL_Reg ngx_re_fns[] = {
    { "match", ngx_re_match },
    { "find",  ngx_re_find },
    { "gmatch", ngx_re_gmatch },
    { "sub",   ngx_re_sub },
    { "gsub",  ngx_re_gsub },
    { NULL, NULL }
};

/* ngx.re, in the ngx table on top. [-0, +0, m] */
void
ngx_re_install(lua_State *L)
{
    ngx_re_metatable(L);
    ngx_subtable(L, "re", ngx_re_fns);
}
