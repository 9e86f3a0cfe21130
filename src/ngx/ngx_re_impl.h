/*
 * ngx_re_impl.h: the insides of ngx.re, shared by its two files: the
 * PCRE2 engine (ngx_re_engine.c), which compiles, keeps and matches
 * patterns under the state's limits, and the Lua API on it (ngx_re.c),
 * which turns a match into OpenResty's answers. The rest of ngx sees only
 * ngx_re_install (ngx_impl.h).
 *
 * The API reads a compiled pattern's captures and names, and the last
 * match's offsets in the engine's match data, as PCRE2 left them: they
 * hold until the next ngx_re_exec on the same engine.
 *
 * The engine is module ngx_re and stands on nothing of ngx; ngx_re.c
 * includes ngx_impl.h too, and its comment says it is part of ngx's
 * table (tools/layers), which stands on the engine.
 */
#ifndef LF_NGX_RE_IMPL_H
#define LF_NGX_RE_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <stddef.h>
#include <stdint.h>

#include <pcre2.h>

#include <lua.h>

/* flags that are not PCRE2 compile options */
#define RE_ONCE         0x01
#define RE_DFA          0x02
#define RE_JIT          0x04
#define RE_DUPNAMES     0x08
#define RE_NO_UTF_CHECK 0x10

/* One per state: PCRE2's contexts, allocating through the state. */
struct ngx_re_engine {
    lua_Alloc               alloc;
    void                   *ud;
    pcre2_general_context  *gen;
    pcre2_compile_context  *cctx;
    pcre2_match_context    *mctx;
    pcre2_match_data       *md;
    uint32_t                md_pairs;
    int                     cached;     /* patterns in the cache */
    long long               deadline;   /* the running match's, monoclock ms; 0 = none */
};

/* A compiled pattern. */
struct ngx_re {
    pcre2_code     *code;
    size_t          jit_size;       /* JIT code counted toward the state's memory */
    uint32_t        ncaptures;
    uint32_t        name_count;
    uint32_t        name_size;
    PCRE2_SPTR      names;
    int             flags;
};

/* ngx_re_engine.c */
void                  ngx_re_metatable(lua_State *L);
struct ngx_re_engine *ngx_re_engine(lua_State *L);
struct ngx_re        *ngx_re_get(lua_State *L, int idx, struct ngx_re_engine **ep);
void                  ngx_re_done(lua_State *L, struct ngx_re *re);
int                   ngx_re_exec(lua_State *L, struct ngx_re_engine *e, struct ngx_re *re,
                                  const char *s, size_t len, size_t pos);

#endif
