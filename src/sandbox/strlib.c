/*
 * strlib.c: string.find, match, gmatch, gsub and rep, written from the
 * Lua 5.1 manual (§5.4, §5.4.1) and installed in every state in place of
 * the stock ones: their arguments, results, gsub's replacements and rep.
 * The matching itself is pattern.c's.
 *
 * Why our own: the stock matcher runs in C where the count hook never
 * fires, so a pattern can hold a worker far past `timeout` (its cost grows
 * as n^k with k quantifiers), and it recurses without a bound, so a long
 * pattern overflows the thread's stack and kills the daemon. Here the
 * matcher's depth is bounded and its work, with the bytes scanned or
 * copied here (plain finds, gsub's replacements, rep), is charged to the
 * request through state_charge() (state_limit.c); see pattern.c.
 *
 * Apart from the depth bound, the answers, quirks included, are Lua
 * 5.1's: a pattern ends at its first '\0' (5.1 reads it as a C string), a
 * '%' at the end of a gsub replacement adds a '\0', find's init past the
 * end still matches an empty pattern, gmatch takes '^' literally.
 * tests/unit/test_strlib.c checks this against liblua5.1 on generated
 * cases, and so does tests/fuzz/fuzz_strlib.c.
 *
 * Results are built on the Lua stack (luaL_Buffer, userdata), so every
 * byte goes through the state's allocator and its `memory` limit.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "pattern.h"
#include "strlib.h"

#define STRLIB_REP_CHUNK ((size_t)1024 * 1024) /* bytes rep copies per check */

/* ---- find and match ---------------------------------------------------- */

/* init as the manual has it: negative counts from the end; then clamped
 * to the subject, 0-based. */
static size_t
strlib_start(lua_Integer init, size_t len)
{
    if (init < 0)
        init += (lua_Integer)len + 1;
    if (init < 1)
        return 0;
    if ((size_t)init - 1 > len)
        return len;
    return (size_t)init - 1;
}

/* The first copy of P (LP bytes) in S (LS bytes), or NULL. */
static const char *
strlib_find_plain(struct pattern_match *m, const char *s, size_t ls, const char *p, size_t lp)
{
    const char *last, *hit;

    if (lp == 0)
        return s;
    if (lp > ls)
        return NULL;
    last = s + (ls - lp);
    while (s <= last && (hit = memchr(s, *p, (size_t)(last - s) + 1)) != NULL) {
        pattern_spend(m, lp + (size_t)(hit - s) / 64);
        if (memcmp(hit + 1, p + 1, lp - 1) == 0)
            return hit;
        s = hit + 1;
    }
    pattern_spend(m, (size_t)(last + 1 - s) / 64);
    return NULL;
}

/* string.find(s, pattern [, init [, plain]]) and string.match(s, pattern
 * [, init]). [-(2|3|4), +n, e] */
static int
strlib_find_aux(lua_State *L, int find)
{
    struct pattern_match m;
    size_t ls, lp, init;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *start, *end;
    struct pattern_start st;
    int anchor;

    init = strlib_start(luaL_optinteger(L, 3, 1), ls);
    pattern_match_init(&m, L, s, ls);
    /* a pattern without specials is found as plain text, all LP bytes */
    if (find && (lua_toboolean(L, 4) || strpbrk(p, PATTERN_SPECIALS) == NULL)) {
        start = strlib_find_plain(&m, s + init, ls - init, p, lp);
        pattern_flush(&m);
        if (start != NULL) {
            lua_pushinteger(L, start - s + 1);
            lua_pushinteger(L, (lua_Integer)(start - s + lp));
            return 2;
        }
        lua_pushnil(L);
        return 1;
    }
    anchor = *p == '^';
    if (anchor)
        p++;
    pattern_start_init(&st, p, anchor, 1);
    start = s + init;
    do {
        if ((start = pattern_start_next(&m, &st, start)) == NULL)
            break;
        m.level = 0;
        if ((end = pattern_match_here(&m, start, p)) != NULL) {
            pattern_flush(&m);
            if (!find)
                return pattern_push_captures(&m, start, end);
            lua_pushinteger(L, start - s + 1);
            lua_pushinteger(L, end - s);
            return pattern_push_captures(&m, NULL, NULL) + 2;
        }
    } while (start++ < m.subject_end && !anchor);
    pattern_flush(&m);
    lua_pushnil(L);
    return 1;
}

static int
strlib_find(lua_State *L)
{
    return strlib_find_aux(L, 1);
}

static int
strlib_match(lua_State *L)
{
    return strlib_find_aux(L, 0);
}

/* ---- gmatch ------------------------------------------------------------ */

/* The iterator: upvalues subject, pattern, where to go on. [-0, +n, e] */
static int
strlib_gmatch_next(lua_State *L)
{
    struct pattern_match m;
    size_t ls;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tostring(L, lua_upvalueindex(2));
    const char *start, *end;
    lua_Integer next;
    struct pattern_start st;

    /* no tables: one call finds one match, often right where it starts */
    pattern_start_init(&st, p, 0, 0);
    pattern_match_init(&m, L, s, ls);
    for (start = s + (size_t)lua_tointeger(L, lua_upvalueindex(3)); start <= m.subject_end; start++) {
        if ((start = pattern_start_next(&m, &st, start)) == NULL)
            break;
        m.level = 0;
        if ((end = pattern_match_here(&m, start, p)) != NULL) {
            pattern_flush(&m);
            /* after an empty match, go on one further */
            next = end - s + (end == start);
            lua_pushinteger(L, next);
            lua_replace(L, lua_upvalueindex(3));
            return pattern_push_captures(&m, start, end);
        }
    }
    pattern_flush(&m);
    return 0;
}

/* string.gmatch(s, pattern): an iterator over the matches. [-2, +1, e] */
static int
strlib_gmatch(lua_State *L)
{
    luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    lua_settop(L, 2);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, strlib_gmatch_next, 3);
    return 1;
}

/* ---- gsub -------------------------------------------------------------- */

/* A string replacement: %0-%9 are captures, % before anything else
 * stands for that character. */
static void
strlib_add_string(struct pattern_match *m, luaL_Buffer *b, const char *s, const char *e)
{
    size_t len;
    const char *r = lua_tolstring(m->L, 3, &len);
    const char *r_end = r + len, *esc;

    pattern_spend(m, len);
    while (r < r_end) {
        if ((esc = memchr(r, PATTERN_ESC, (size_t)(r_end - r))) == NULL) {
            luaL_addlstring(b, r, (size_t)(r_end - r));
            return;
        }
        luaL_addlstring(b, r, (size_t)(esc - r));
        r = esc + 1;    /* at r_end, this is the string's '\0' */
        if (!isdigit((unsigned char)*r)) {
            luaL_addchar(b, *r);
        } else if (*r == '0') {
            pattern_spend(m, (size_t)(e - s));
            luaL_addlstring(b, s, (size_t)(e - s));
        } else {
            pattern_push_capture(m, *r - '1', s, e);
            pattern_spend(m, lua_objlen(m->L, -1));
            luaL_addvalue(b);
        }
        r++;
    }
}

/* The replacement for the match S..E, added to B. */
static void
strlib_add_value(struct pattern_match *m, luaL_Buffer *b, const char *s, const char *e, int type)
{
    lua_State *L = m->L;

    if (type == LUA_TFUNCTION) {
        int n;

        pattern_flush(m);    /* what runs next is Lua, and may fail */
        lua_pushvalue(L, 3);
        n = pattern_push_captures(m, s, e);
        lua_call(L, n, 1);
    } else if (type == LUA_TTABLE) {
        pattern_flush(m);    /* __index may run Lua */
        pattern_push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    } else {
        strlib_add_string(m, b, s, e);
        return;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, s, (size_t)(e - s));     /* nil or false: keep it */
    } else if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    }
    luaL_addvalue(b);
}

/* string.gsub(s, pattern, repl [, n]). [-(3|4), +2, e] */
static int
strlib_gsub(lua_State *L)
{
    struct pattern_match m;
    luaL_Buffer b;
    size_t ls;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checkstring(L, 2);
    const char *end, *next;
    int type = lua_type(L, 3);
    int max = luaL_optint(L, 4, (int)(ls + 1));
    struct pattern_start st;
    int anchor = *p == '^', n = 0;

    if (anchor)
        p++;
    luaL_argcheck(L, type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION ||
                  type == LUA_TTABLE, 3, "string/function/table expected");
    pattern_start_init(&st, p, anchor, 1);
    luaL_buffinit(L, &b);
    pattern_match_init(&m, L, s, ls);
    while (n < max) {
        if ((next = pattern_start_next(&m, &st, s)) == NULL)
            break;
        pattern_spend(&m, (size_t)(next - s) / 64);
        luaL_addlstring(&b, s, (size_t)(next - s));
        s = next;
        m.level = 0;
        if ((end = pattern_match_here(&m, s, p)) != NULL) {
            n++;
            strlib_add_value(&m, &b, s, end, type);
        }
        if (end != NULL && end > s)
            s = end;
        else if (s < m.subject_end)
            luaL_addchar(&b, *s++);
        else
            break;
        if (anchor)
            break;
    }
    pattern_flush(&m);
    luaL_addlstring(&b, s, (size_t)(m.subject_end - s));
    luaL_pushresult(&b);
    lua_pushinteger(L, n);
    return 2;
}

/* ---- rep --------------------------------------------------------------- */

/* Fills OUT (TOTAL bytes, a multiple of LEN, the first LEN already S's)
 * with copies of S: doubling copies of at most STRLIB_REP_CHUNK bytes, the
 * deadline looked at between them. OUT holds whole copies up to DONE, so
 * any multiple of LEN copied from its start keeps the period. */
static void
strlib_rep_fill(lua_State *L, char *out, size_t len, size_t total)
{
    size_t done, step;

    for (done = len; done < total; done += step) {
        step = done < total - done ? done : total - done;
        if (step > STRLIB_REP_CHUNK) {
            step = STRLIB_REP_CHUNK - STRLIB_REP_CHUNK % len;
            if (step == 0)
                step = len;
            state_charge(L, step / 64);
        }
        memcpy(out + done, out, step);
    }
}

/* string.rep(s, n): a small result in the buffer on the C stack, a large
 * one in one block from the allocator (so `memory` refuses a huge one
 * before any work). [-2, +1, e] */
static int
strlib_rep(lua_State *L)
{
    size_t len, total;
    const char *s = luaL_checklstring(L, 1, &len);
    int n = luaL_checkint(L, 2);
    luaL_Buffer b;
    char *out;

    if (n <= 0 || len == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    if (len > (SIZE_MAX / 2) / (size_t)n)
        return luaL_error(L, "resulting string too large");
    total = len * (size_t)n;
    if (total <= LUAL_BUFFERSIZE) {
        luaL_buffinit(L, &b);
        out = luaL_prepbuffer(&b);
        memcpy(out, s, len);
        strlib_rep_fill(L, out, len, total);
        luaL_addsize(&b, total);
        luaL_pushresult(&b);
        return 1;
    }
    out = lua_newuserdata(L, total);
    memcpy(out, s, len);
    strlib_rep_fill(L, out, len, total);
    lua_pushlstring(L, out, total);
    return 1;
}

void
strlib_install(lua_State *L)
{
    static const luaL_Reg functions[] = {
        { "find",   strlib_find },
        { "match",  strlib_match },
        { "gmatch", strlib_gmatch },
        { "gsub",   strlib_gsub },
        { "rep",    strlib_rep },
        { NULL, NULL }
    };
    const luaL_Reg *f;

    lua_getglobal(L, "string");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    for (f = functions; f->name != NULL; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, -2, f->name);
    }
    /* 5.1's old name for gmatch would still reach the stock matcher */
    lua_getfield(L, -1, "gfind");
    if (!lua_isnil(L, -1)) {
        lua_pushcfunction(L, strlib_gmatch);
        lua_setfield(L, -3, "gfind");
    }
    lua_pop(L, 2);
}
