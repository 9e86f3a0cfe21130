/*
 * pattern.h: the Lua 5.1 pattern matcher with a depth bound and a work
 * budget, for the string functions in strlib.c. One pattern_match holds a
 * call's subject, captures, depth left and work not yet charged.
 */
#ifndef LF_PATTERN_H
#define LF_PATTERN_H

#include <stddef.h>

#include <lua.h>

#include "state.h"

#define PATTERN_ESC      '%'
#define PATTERN_SPECIALS "^$*+?.([%-"
#define PATTERN_STEPS    1024           /* work between two deadline checks */

struct pattern_capture {
    const char *start;
    ptrdiff_t   len;                    /* or open, or a position: pattern.c */
};

struct pattern_match {
    lua_State  *L;
    const char *subject;
    const char *subject_end;
    int         level;                  /* captures in use */
    int         depth;                  /* recursion levels left */
    size_t      pending;                /* work not yet charged to the state */
    struct pattern_capture capture[LUA_MAXCAPTURES];
};

/* Where a match can start, worked out once per call: see pattern_start.c. */
struct pattern_start {
    int         kind;
    int         byte;                   /* a byte the first item must be */
    const char *item, *item_end;
    unsigned char table[256];           /* 1 for a byte the first item takes */
};

/* M for the subject S of LEN bytes, in the state L. */
void pattern_match_init(struct pattern_match *m, lua_State *L, const char *s, size_t len);

/* Hands the call's work so far to the state, which may raise the
 * timeout. Inline, with pattern_spend, because the matcher and the gsub
 * loop spend per item. */
static inline void
pattern_flush(struct pattern_match *m)
{
    size_t units = m->pending;

    if (units != 0) {
        m->pending = 0;
        state_charge(m->L, units);
    }
}

/* Spends COST units of work: an add, and now and then a flush. */
static inline void
pattern_spend(struct pattern_match *m, size_t cost)
{
    m->pending += cost;
    if (m->pending >= PATTERN_STEPS)
        pattern_flush(m);
}

/* The pattern P against the subject from S: where the match ends, or
 * NULL; the captures are in M. Raises the pattern's errors. */
const char *pattern_match_here(struct pattern_match *m, const char *s, const char *p);

/* ST for the pattern P (after any '^'); WITH_TABLE lets a class or set
 * that opens it be skipped to with a byte table. */
void pattern_start_init(struct pattern_start *st, const char *p, int anchored, int with_table);

/* The next place in [S, subject end) where a match may start, or NULL. */
const char *pattern_start_next(struct pattern_match *m, struct pattern_start *st, const char *s);

/* Capture I, or the whole match S..E when there are none. [-0, +1, e] */
void pattern_push_capture(struct pattern_match *m, int i, const char *s, const char *e);

/* Every capture (the whole match if none and S is given). [-0, +n, e] */
int pattern_push_captures(struct pattern_match *m, const char *s, const char *e);

#endif
