/*
 * ngx_re_engine.c: the PCRE2 engine under ngx.re (ngx_re.c): patterns
 * compiled, kept and matched within the state's limits.
 *
 * It is a file of its own because it owns what every ngx.re function
 * shares, apart from their answers: one engine per state (PCRE2's
 * contexts and match data, allocating through the state), OpenResty's
 * option letters as PCRE2's options (i m s x a u U D J compile, j JIT, d
 * DFA, o the cache), a match's error as PCRE1 numbered it, which is what
 * OpenResty, built on PCRE1, reports, so code that tests for -8 (match
 * limit) still works, and the limits below. The words of a compile error
 * are PCRE2's. The API (ngx_re.c) reads a match's offsets and turns them
 * into OpenResty's answers.
 *
 * Limits hold inside a match, where no Lua hook runs:
 *
 *  - time: every match gets a match limit (PCRE2 counts its backtracking
 *    steps) of at most NGX_RE_MATCH_LIMIT, PCRE's default and so
 *    OpenResty's, and less when the request's deadline is near: the time
 *    left times a rate no machine beats. A match cut short by the deadline
 *    raises the timeout as the count hook does; one cut by the fixed limit
 *    returns "pcre_exec() failed: -8", as OpenResty does. The limit does
 *    not count the scan PCRE2 starts again from each position of the
 *    subject (`a*[^a]` over 300 KB of "a" backtracks never, and takes
 *    n^2 / 2 steps), and PCRE2 counts the limit afresh at each start
 *    position: every pattern is compiled with a callout first (after its
 *    leading (*VERB) options), which PCRE2 calls at each start position it
 *    tries, and which looks at the deadline on the coarse clock (a few ns;
 *    it runs a tick behind at most). Each call looks, not every Nth: a
 *    start position may take up to the match limit, so N of them between
 *    two looks could run N times past the deadline (one start position's
 *    own work, counted in steps, may still take a while: the steps of a
 *    possessive run like the second a* of `a*a*[^a]` each scan the rest
 *    of the subject; 15,000 bytes of "a" take a fraction of a second a
 *    position; over megabytes, one position can outlast the timeout, and
 *    the worker is written off as any stuck one). PCRE2's start
 *    optimizations (the first code unit, the minimum length) stay: a
 *    simple pattern calls it at the few positions worth a try, or none. A
 *    loop in C over many matches (gsub) looks at the clock before each
 *    one.
 *  - memory: PCRE2 allocates everything (compiled patterns, match data,
 *    its backtracking frames) through the state's own allocator, so it
 *    counts toward `memory`, and a match that would pass it fails the
 *    request as Lua code would. JIT code is the exception: PCRE2 puts it
 *    in executable pages of its own; its size (PCRE2_INFO_JITSIZE) is
 *    counted toward `memory` while the pattern lives (state_outside).
 *
 * Compiled patterns are full userdata with a C finalizer, so a Lua error
 * in the middle never leaks one; with "o" they are kept per state, up to
 * NGX_RE_CACHE_MAX (lua_regex_cache_max_entries' default), keyed by the
 * options and the pattern. One state's patterns serve only it: states are
 * never used by two threads at once, and neither are these.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "monoclock.h"
#include "ngx_re_impl.h"
#include "state.h"

#define NGX_RE_META         "luafcgid.ngx.regex"
#define NGX_RE_ENGINE_META  "luafcgid.ngx.regex.engine"
#define NGX_RE_ERRLEN       128     /* resty.core's MAX_ERR_MSG_LEN */
#define NGX_RE_DFA_WS       100     /* ints of DFA workspace, as ngx_lua */
#define NGX_RE_CALLOUT      "(?C)"  /* at each start position: the deadline */
#define NGX_RE_PAST_DEADLINE (-1000) /* the callout's answer: no PCRE2 code */

/* PCRE1's match error numbers, which OpenResty reports */
#define PCRE1_NOMEMORY      (-6)
#define PCRE1_MATCHLIMIT    (-8)
#define PCRE1_BADUTF8       (-10)
#define PCRE1_BADUTF8_OFFSET (-11)
#define PCRE1_DFA_UITEM     (-16)
#define PCRE1_DFA_UCOND     (-17)
#define PCRE1_DFA_WSSIZE    (-19)
#define PCRE1_DFA_RECURSE   (-20)
#define PCRE1_RECURSIONLIMIT (-21)
#define PCRE1_BADOFFSET     (-24)
#define PCRE1_JIT_STACKLIMIT (-27)

static const char ngx_re_engine_key = 'e';
static const char ngx_re_cache_key = 'c';

/* The block's size is kept before it: the state's allocator needs it to
 * free, as Lua's allocators do. */
#define NGX_RE_HEAD 16

static void *
ngx_re_malloc(PCRE2_SIZE n, void *data)
{
    struct ngx_re_engine *e = data;
    size_t *p;

    if (n > SIZE_MAX - NGX_RE_HEAD)
        return NULL;
    if ((p = e->alloc(e->ud, NULL, 0, n + NGX_RE_HEAD)) == NULL)
        return NULL;
    p[0] = n + NGX_RE_HEAD;
    return (char *)p + NGX_RE_HEAD;
}

static void
ngx_re_free(void *block, void *data)
{
    struct ngx_re_engine *e = data;
    size_t *p;

    if (block == NULL)
        return;
    p = (size_t *)(void *)((char *)block - NGX_RE_HEAD);
    e->alloc(e->ud, p, p[0], 0);
}

/* PCRE2 calls this at each start position it tries (the pattern's first
 * item): past the deadline, the match ends with NGX_RE_PAST_DEADLINE. */
static int
ngx_re_callout(pcre2_callout_block *block, void *data)
{
    const struct ngx_re_engine *e = data;

    (void)block;
    return e->deadline != 0 && monoclock_coarse_ms() >= e->deadline ? NGX_RE_PAST_DEADLINE : 0;
}

/* The engine's finalizer: its contexts go; the struct itself stays
 * readable until Lua frees it, for the patterns finalized after it when
 * the state closes. [-0, +0] */
static int
ngx_re_engine_gc(lua_State *L)
{
    struct ngx_re_engine *e = lua_touserdata(L, 1);

    pcre2_match_data_free(e->md);
    pcre2_match_context_free(e->mctx);
    pcre2_compile_context_free(e->cctx);
    pcre2_general_context_free(e->gen);
    e->md = NULL;
    e->mctx = NULL;
    e->cctx = NULL;
    e->gen = NULL;
    return 0;
}

/* The state's engine, made on first use. [-0, +0, m] */
struct ngx_re_engine *
ngx_re_engine(lua_State *L)
{
    struct ngx_re_engine *e;

    lua_pushlightuserdata(L, (void *)&ngx_re_engine_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    e = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (e != NULL)
        return e;
    e = lua_newuserdata(L, sizeof(*e));
    memset(e, 0, sizeof(*e));
    e->alloc = lua_getallocf(L, &e->ud);
    luaL_newmetatable(L, NGX_RE_ENGINE_META);
    lua_pushcfunction(L, ngx_re_engine_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushlightuserdata(L, (void *)&ngx_re_engine_key);
    lua_insert(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);   /* kept before it holds anything */
    if ((e->gen = pcre2_general_context_create(ngx_re_malloc, ngx_re_free, e)) == NULL ||
        (e->cctx = pcre2_compile_context_create(e->gen)) == NULL ||
        (e->mctx = pcre2_match_context_create(e->gen)) == NULL) {
        luaL_error(L, "no memory for the regex engine");
        return NULL;
    }
    pcre2_set_callout(e->mctx, ngx_re_callout, e);
    return e;
}

/* Match data for PAIRS capture pairs. [-0, +0, m] */
static pcre2_match_data *
ngx_re_match_data(lua_State *L, struct ngx_re_engine *e, uint32_t pairs)
{
    if (e->md != NULL && e->md_pairs >= pairs)
        return e->md;
    pcre2_match_data_free(e->md);
    e->md_pairs = 0;
    if ((e->md = pcre2_match_data_create(pairs, e->gen)) == NULL)
        luaL_error(L, "no memory for a regex match");
    e->md_pairs = pairs;
    return e->md;
}

/* RE's compiled code goes, and its JIT code's count with it (from L, any
 * thread of the state: the one that compiled it may be gone). */
static void
ngx_re_free_code(lua_State *L, struct ngx_re *re)
{
    if (re->jit_size > 0)
        state_outside(L, -(long long)re->jit_size);
    re->jit_size = 0;
    pcre2_code_free(re->code);
    re->code = NULL;
}

static int
ngx_re_gc(lua_State *L)
{
    ngx_re_free_code(L, lua_touserdata(L, 1));
    return 0;
}

/* The compiled patterns' metatable, whose finalizer frees them: made
 * before the state compiles any (ngx_re_install). [-0, +0, m] */
void
ngx_re_metatable(lua_State *L)
{
    luaL_newmetatable(L, NGX_RE_META);
    lua_pushcfunction(L, ngx_re_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

/* JIT-compile RE when it can be (else PCRE2 interprets it), its machine
 * code counted toward the state's memory: PCRE2 keeps it in executable
 * pages of its own, which the state's allocator never sees. [-0, +0, m] */
static void
ngx_re_jit(lua_State *L, struct ngx_re *re)
{
    size_t size = 0;

    if (pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) != 0)
        return;
    if (pcre2_pattern_info(re->code, PCRE2_INFO_JITSIZE, &size) != 0 || size == 0)
        return;
    re->jit_size = size;
    if (state_outside(L, (long long)size) < 0) {
        ngx_re_free_code(L, re);
        luaL_error(L, "memory limit reached compiling a regex");
    }
}

/* The options string at IDX as PCRE2 compile options and our flags; an
 * unknown letter raises OpenResty's error. [-0, +0, v] */
static void
ngx_re_options(lua_State *L, int idx, uint32_t *options, int *flags)
{
    size_t len = 0, i;
    const char *o = lua_isnoneornil(L, idx) ? "" : luaL_checklstring(L, idx, &len);

    *options = 0;
    *flags = 0;
    for (i = 0; i < len; i++) {
        switch (o[i]) {
        case 'o': *flags |= RE_ONCE; break;
        case 'j': *flags |= RE_JIT; break;
        case 'd': *flags |= RE_DFA; break;
        case 'i': *options |= PCRE2_CASELESS; break;
        case 's': *options |= PCRE2_DOTALL; break;
        case 'm': *options |= PCRE2_MULTILINE; break;
        case 'x': *options |= PCRE2_EXTENDED; break;
        case 'a': *options |= PCRE2_ANCHORED; break;
        case 'u': *options |= PCRE2_UTF; break;
        case 'U': *options |= PCRE2_UTF; *flags |= RE_NO_UTF_CHECK; break;
        case 'D': *options |= PCRE2_DUPNAMES; *flags |= RE_DUPNAMES; break;
        case 'J':
            /* PCRE1's PCRE_JAVASCRIPT_COMPAT, as PCRE2 spells it */
            *options |= PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS | PCRE2_MATCH_UNSET_BACKREF;
            break;
        default:
            /* by pieces: the flags may hold a NUL, which %c and %s would drop */
            luaL_where(L, 1);
            lua_pushliteral(L, "unknown flag \"");
            lua_pushlstring(L, o + i, 1);
            lua_pushliteral(L, "\" (flags \"");
            lua_pushlstring(L, o, len);
            lua_pushliteral(L, "\")");
            lua_concat(L, 6);
            lua_error(L);
        }
    }
}

/* Where the options a pattern may start with end ((*UTF), (*LIMIT_MATCH=N),
 * (*CRLF)...: PCRE2 takes them at its very start only), in P (LEN bytes). */
static size_t
ngx_re_options_end(const char *p, size_t len)
{
    size_t at = 0, i;

    while (len - at >= 3 && p[at] == '(' && p[at + 1] == '*') {
        for (i = at + 2; i < len && ((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
                                     p[i] == '_' || p[i] == '='); i++)
            continue;
        if (i == len || p[i] != ')')
            break;
        at = i + 1;
    }
    return at;
}

/* Compile the pattern at IDX into a new userdata, pushed; or push nil and
 * the error, and return NULL. [-0, +1|+2, m] */
static struct ngx_re *
ngx_re_compile(lua_State *L, struct ngx_re_engine *e, int idx, uint32_t options, int flags)
{
    size_t len;
    const char *pat = luaL_checklstring(L, idx, &len);
    struct ngx_re *re;
    PCRE2_UCHAR msg[NGX_RE_ERRLEN];
    PCRE2_SIZE erroff;
    char err[4 * NGX_RE_ERRLEN];
    int errcode;

    size_t at = ngx_re_options_end(pat, len), with_len;
    const char *with;

    /* the pattern with the callout after its leading options */
    lua_pushlstring(L, pat, at);
    lua_pushliteral(L, NGX_RE_CALLOUT);
    lua_pushlstring(L, pat + at, len - at);
    lua_concat(L, 3);
    with = lua_tolstring(L, -1, &with_len);
    re = lua_newuserdata(L, sizeof(*re));
    memset(re, 0, sizeof(*re));
    luaL_getmetatable(L, NGX_RE_META);
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
    re->code = pcre2_compile((PCRE2_SPTR)with, with_len, options, &errcode, &erroff, e->cctx);
    if (erroff >= at + sizeof(NGX_RE_CALLOUT) - 1)
        erroff -= sizeof(NGX_RE_CALLOUT) - 1;   /* where it is in the script's pattern */
    else if (erroff > at)
        erroff = at;
    if (re->code == NULL) {
        if (errcode == PCRE2_ERROR_NOMEMORY)
            luaL_error(L, "memory limit reached compiling a regex");
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        if (erroff >= len)
            snprintf(err, sizeof(err), "pcre_compile() failed: %s in \"%s\"", (char *)msg, pat);
        else
            snprintf(err, sizeof(err), "pcre_compile() failed: %s in \"%s\" at \"%s\"",
                     (char *)msg, pat, pat + erroff);
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_pushlstring(L, err, strlen(err) < NGX_RE_ERRLEN ? strlen(err) : NGX_RE_ERRLEN - 1);
        return NULL;
    }
    if (flags & RE_JIT)
        ngx_re_jit(L, re);
    re->flags = flags;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &re->ncaptures);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &re->name_count);
    if (re->name_count > 0) {
        pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &re->name_size);
        pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &re->names);
    }
    if (flags & RE_DFA)
        re->ncaptures = 0;      /* the longest match only, as ngx_lua */
    return re;
}

/*
 * The compiled pattern for the pattern at IDX and the options at IDX + 1,
 * pushed (from the cache with "o"); or nil and the error pushed, and NULL
 * returned. [-0, +1|+2, v]
 */
struct ngx_re *
ngx_re_get(lua_State *L, int idx, struct ngx_re_engine **ep)
{
    struct ngx_re_engine *e = ngx_re_engine(L);
    struct ngx_re *re;
    uint32_t options;
    int flags, top;

    ngx_re_options(L, idx + 1, &options, &flags);
    luaL_checkstring(L, idx);
    *ep = e;
    if (!(flags & RE_ONCE))
        return ngx_re_compile(L, e, idx, options, flags);
    top = lua_gettop(L);
    lua_pushlightuserdata(L, (void *)&ngx_re_cache_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushlightuserdata(L, (void *)&ngx_re_cache_key);
        lua_pushvalue(L, -2);
        lua_rawset(L, LUA_REGISTRYINDEX);
    }
    lua_pushvalue(L, idx + 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    }
    lua_pushliteral(L, "\n");
    lua_pushvalue(L, idx);
    lua_concat(L, 3);                               /* cache key */
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if ((re = lua_touserdata(L, -1)) != NULL) {
        lua_replace(L, top + 1);
        lua_settop(L, top + 1);
        return re;
    }
    lua_pop(L, 1);                                  /* cache key */
    if ((re = ngx_re_compile(L, e, idx, options, flags)) == NULL) {
        lua_replace(L, top + 2);                    /* cache err nil */
        lua_replace(L, top + 1);                    /* nil err */
        lua_settop(L, top + 2);
        return NULL;
    }
    if (e->cached >= LF_NGX_RE_CACHE_MAX) {
        /* full: it serves this call only, as in ngx_lua */
        re->flags &= ~RE_ONCE;
    } else {
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, -5);
        e->cached++;
    }
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return re;
}

/* A pattern not kept in the cache is freed now, not at the next cycle. */
void
ngx_re_done(lua_State *L, struct ngx_re *re)
{
    if (!(re->flags & RE_ONCE))
        ngx_re_free_code(L, re);
}

/* PCRE2's match errors as PCRE1 numbered them. */
static int
ngx_re_pcre1_code(int rc)
{
    if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
        return PCRE1_BADUTF8;
    switch (rc) {
    case PCRE2_ERROR_BADUTFOFFSET:  return PCRE1_BADUTF8_OFFSET;
    case PCRE2_ERROR_MATCHLIMIT:    return PCRE1_MATCHLIMIT;
    case PCRE2_ERROR_DEPTHLIMIT:    return PCRE1_RECURSIONLIMIT;
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_NOMEMORY:      return PCRE1_NOMEMORY;
    case PCRE2_ERROR_JIT_STACKLIMIT: return PCRE1_JIT_STACKLIMIT;
    case PCRE2_ERROR_BADOFFSET:     return PCRE1_BADOFFSET;
    case PCRE2_ERROR_DFA_UITEM:     return PCRE1_DFA_UITEM;
    case PCRE2_ERROR_DFA_UCOND:     return PCRE1_DFA_UCOND;
    case PCRE2_ERROR_DFA_WSSIZE:    return PCRE1_DFA_WSSIZE;
    case PCRE2_ERROR_DFA_RECURSE:   return PCRE1_DFA_RECURSE;
    default:                        return rc;
    }
}

/*
 * Match RE against S (LEN bytes) from POS: the number of pairs set (at
 * least 1), PCRE2_ERROR_NOMATCH, or a PCRE1 error number. The deadline
 * and the memory cap hold inside (see the top of this file). [-0, +0, v]
 */
int
ngx_re_exec(lua_State *L, struct ngx_re_engine *e, struct ngx_re *re, const char *s, size_t len,
            size_t pos)
{
    long long left = state_time_left(L);
    uint32_t limit = LF_NGX_RE_MATCH_LIMIT, options;
    int rc, cut = 0;
    pcre2_match_data *md = ngx_re_match_data(L, e, re->ncaptures + 1);

    if (left == 0)
        state_raise_timeout(L);
    if (left > 0 && (unsigned long long)left < LF_NGX_RE_MATCH_LIMIT / LF_NGX_RE_STEPS_PER_MS) {
        limit = (uint32_t)(left * LF_NGX_RE_STEPS_PER_MS);
        cut = 1;
    }
    pcre2_set_match_limit(e->mctx, limit);
    e->deadline = left > 0 ? monoclock_ms() + left : 0;
    options = (re->flags & RE_NO_UTF_CHECK) ? PCRE2_NO_UTF_CHECK : 0;
    if (re->flags & RE_DFA) {
        int ws[NGX_RE_DFA_WS];
        rc = pcre2_dfa_match(re->code, (PCRE2_SPTR)s, len, pos, options, md, e->mctx, ws,
                             NGX_RE_DFA_WS);
        if (rc == 0)
            rc = 1;     /* more matches than the data holds: the longest is first */
    } else
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, pos, options, md, e->mctx);
    if ((rc == PCRE2_ERROR_MATCHLIMIT && cut) || rc == NGX_RE_PAST_DEADLINE)
        state_raise_timeout(L);
    if (rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_HEAPLIMIT) {
        if (state_over(L) == STATE_OVER_MEMORY)
            luaL_error(L, "memory limit reached in a regex match");
    }
    if (rc == PCRE2_ERROR_NOMATCH)
        return rc;
    return rc < 0 ? ngx_re_pcre1_code(rc) : rc;
}
