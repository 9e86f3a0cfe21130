/*
 * strlib.c: string.find, match, gmatch, gsub and rep, written from the
 * Lua 5.1 manual (§5.4, §5.4.1) and installed in every state in place of
 * the stock ones.
 *
 * Why our own: the stock matcher runs in C where the count hook never
 * fires, so a pattern can hold a worker far past `timeout` (its cost grows
 * as n^k with k quantifiers), and it recurses without a bound, so a long
 * pattern overflows the thread's stack and kills the daemon.
 *
 * The matcher is the classic backtracking one the manual describes, with
 * two additions:
 * - depth: every recursive step spends one of LF_PATTERN_DEPTH levels;
 *   running out raises "pattern too complex", as Lua 5.2 and later do.
 *   Recursion happens only for ?, *, +, - and captures, so the depth is
 *   about the number of such items in the pattern, never the subject's
 *   length; 200 levels of a few hundred bytes each fit any thread stack.
 * - budget: work is counted: every pattern item visited, a long set's
 *   length each time a byte is tested against it, a byte scanned or
 *   copied in bulk, a gsub replacement's length. The units gather in the
 *   call and go to strlib_charge() (state.c) every STRLIB_STEPS, at the
 *   call's end and before an error the matcher raises, so they add up
 *   across calls: a million calls of a few hundred steps reach the
 *   deadline as one long call does. Counting costs an add; the clock is
 *   read rarely.
 *
 * The unanchored loops skip positions where the pattern's first item
 * cannot match (memchr, or a byte table for a class), which is where the
 * common gsub shapes spend their time; see strlib_start_init.
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
#include "strlib.h"

#define STRLIB_ESC       '%'
#define STRLIB_SPECIALS  "^$*+?.([%-"
#define STRLIB_STEPS     1024           /* work between two deadline checks */
#define STRLIB_REP_CHUNK ((size_t)1024 * 1024) /* bytes rep copies per check */

#define CAP_OPEN     (-1)               /* capture started, not closed */
#define CAP_POSITION (-2)               /* () */

struct strlib_capture {
    const char *start;
    ptrdiff_t   len;                    /* or CAP_OPEN, CAP_POSITION */
};

struct strlib_match {
    lua_State  *L;
    const char *subject;
    const char *subject_end;
    int         level;                  /* captures in use */
    int         depth;                  /* recursion levels left */
    size_t      pending;                /* work not yet charged to the state */
    struct strlib_capture capture[LUA_MAXCAPTURES];
};

static const char *strlib_match_here(struct strlib_match *m, const char *s, const char *p);

static void
strlib_match_init(struct strlib_match *m, lua_State *L, const char *s, size_t len)
{
    m->L = L;
    m->subject = s;
    m->subject_end = s + len;
    m->level = 0;
    m->depth = LF_PATTERN_DEPTH;
    m->pending = 0;
}

/* Hands the call's work so far to the state, which may raise the timeout. */
static void
strlib_flush(struct strlib_match *m)
{
    size_t units = m->pending;

    if (units != 0) {
        m->pending = 0;
        strlib_charge(m->L, units);
    }
}

/* Spends COST units of work. */
static inline void
strlib_spend(struct strlib_match *m, size_t cost)
{
    m->pending += cost;
    if (m->pending >= STRLIB_STEPS)
        strlib_flush(m);
}

/* Raises MSG; the work done so far is charged first, so a script cannot
 * run free by making every call fail. */
static void
strlib_error(struct strlib_match *m, const char *msg)
{
    strlib_flush(m);
    luaL_error(m->L, "%s", msg);
}

/* ---- one character against one class ---------------------------------- */

/* C against %CL: a letter names a class, its upper case the complement;
 * any other character stands for itself. */
static int
strlib_class(int c, int cl)
{
    int in;

    switch (tolower(cl)) {
    case 'a': in = isalpha(c); break;
    case 'c': in = iscntrl(c); break;
    case 'd': in = isdigit(c); break;
    case 'l': in = islower(c); break;
    case 'p': in = ispunct(c); break;
    case 's': in = isspace(c); break;
    case 'u': in = isupper(c); break;
    case 'w': in = isalnum(c); break;
    case 'x': in = isxdigit(c); break;
    case 'z': in = c == 0; break;
    default:  return cl == c;
    }
    return isupper(cl) ? !in : in != 0;
}

/* TABLE[c] = strlib_class(c, CL) for every byte, with the class looked
 * up once rather than per byte: gsub and find build one per call. */
static void
strlib_class_table(unsigned char *table, int cl)
{
    int (*is)(int);
    int c, in, flip = isupper(cl) != 0;

    switch (tolower(cl)) {
    case 'a': is = isalpha; break;
    case 'c': is = iscntrl; break;
    case 'd': is = isdigit; break;
    case 'l': is = islower; break;
    case 'p': is = ispunct; break;
    case 's': is = isspace; break;
    case 'u': is = isupper; break;
    case 'w': is = isalnum; break;
    case 'x': is = isxdigit; break;
    case 'z': is = NULL; break;
    default:
        for (c = 0; c < 256; c++)
            table[c] = c == cl;
        return;
    }
    for (c = 0; c < 256; c++) {
        in = is != NULL ? is(c) != 0 : c == 0;
        table[c] = (unsigned char)(in != flip);
    }
}

/* C against the set from '[' at P to its ']' at LAST. */
static int
strlib_set(int c, const char *p, const char *last)
{
    int want = 1;

    if (p[1] == '^') {
        want = 0;
        p++;
    }
    while (++p < last) {
        if (*p == STRLIB_ESC) {
            p++;
            if (strlib_class(c, (unsigned char)*p))
                return want;
        } else if (p[1] == '-' && p + 2 < last) {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
                return want;
            p += 2;
        } else if ((unsigned char)*p == c) {
            return want;
        }
    }
    return !want;
}

/* Where the single-character class at P ends. */
static const char *
strlib_item_end(struct strlib_match *m, const char *p)
{
    const char *set = p;

    if (*p == STRLIB_ESC) {
        if (p[1] == '\0')
            strlib_error(m, "malformed pattern (ends with '%')");
        return p + 2;
    }
    if (*p != '[')
        return p + 1;
    p++;
    if (*p == '^')
        p++;
    /* the first character is in the set even when it is ']' */
    do {
        if (*p == '\0')
            strlib_error(m, "malformed pattern (missing ']')");
        if (*p++ == STRLIB_ESC && *p != '\0')
            p++;
    } while (*p != ']');
    strlib_spend(m, (size_t)(p - set));
    return p + 1;
}

/* C against the item from P to END. */
static inline int
strlib_single(int c, const char *p, const char *end)
{
    switch (*p) {
    case '.':
        return 1;
    case STRLIB_ESC:
        return strlib_class(c, (unsigned char)p[1]);
    case '[':
        return strlib_set(c, p, end - 1);
    default:
        return (unsigned char)*p == c;
    }
}

/* What testing one byte against the item from P to END costs: a set is
 * read to its end, a short one within the unit. */
#define STRLIB_SET_SHORT 32

static inline size_t
strlib_single_cost(const char *p, const char *end)
{
    return *p == '[' && end - p > STRLIB_SET_SHORT ? (size_t)(end - p) : 1;
}

/* ---- the pattern items that are not one character ----------------------- */

/* %bxy at S, P pointing at x: the end of the balanced run, or NULL. */
static const char *
strlib_balance(struct strlib_match *m, const char *s, const char *p)
{
    const char *start = s;
    int open, close, depth = 1;

    if (p[0] == '\0' || p[1] == '\0')
        strlib_error(m, "unbalanced pattern");
    open = (unsigned char)p[0];
    close = (unsigned char)p[1];
    if (s >= m->subject_end || (unsigned char)*s != open)
        return NULL;
    while (++s < m->subject_end) {
        if ((unsigned char)*s == close) {
            if (--depth == 0) {
                strlib_spend(m, (size_t)(s - start));
                return s + 1;
            }
        } else if ((unsigned char)*s == open) {
            depth++;
        }
    }
    strlib_spend(m, (size_t)(s - start));
    return NULL;
}

/* %1-%9 at S: the same bytes as that capture again, or NULL. */
static const char *
strlib_backref(struct strlib_match *m, const char *s, int digit)
{
    int i = digit - '1';
    ptrdiff_t len;

    if (i < 0 || i >= m->level || m->capture[i].len == CAP_OPEN) {
        strlib_error(m, "invalid capture index");
        return NULL;    /* not reached */
    }
    len = m->capture[i].len;
    if (len < 0 || m->subject_end - s < len)
        return NULL;    /* a position capture never matches text */
    strlib_spend(m, 1 + (size_t)len / 16);     /* memcmp is bulk work */
    return memcmp(m->capture[i].start, s, (size_t)len) == 0 ? s + len : NULL;
}

static const char *
strlib_open_capture(struct strlib_match *m, const char *s, const char *p, ptrdiff_t what)
{
    const char *end;

    if (m->level >= LUA_MAXCAPTURES)
        strlib_error(m, "too many captures");
    m->capture[m->level].start = s;
    m->capture[m->level].len = what;
    m->level++;
    if ((end = strlib_match_here(m, s, p)) == NULL)
        m->level--;
    return end;
}

static const char *
strlib_close_capture(struct strlib_match *m, const char *s, const char *p)
{
    const char *end;
    int i;

    for (i = m->level - 1; i >= 0 && m->capture[i].len != CAP_OPEN; i--)
        ;
    if (i < 0) {
        strlib_error(m, "invalid pattern capture");
        return NULL;    /* not reached */
    }
    m->capture[i].len = s - m->capture[i].start;
    if ((end = strlib_match_here(m, s, p)) == NULL)
        m->capture[i].len = CAP_OPEN;
    return end;
}

/* item* (and item+ once one is taken): the longest run that lets the rest
 * of the pattern match. */
static const char *
strlib_expand_max(struct strlib_match *m, const char *s, const char *p, const char *end)
{
    const char *r;
    ptrdiff_t n = 0;
    size_t cost = strlib_single_cost(p, end);

    if (cost > 1) {
        while (s + n < m->subject_end && strlib_single((unsigned char)s[n], p, end)) {
            strlib_spend(m, cost);
            n++;
        }
    } else {
        while (s + n < m->subject_end && strlib_single((unsigned char)s[n], p, end))
            n++;
        strlib_spend(m, (size_t)n);
    }
    for (; n >= 0; n--)
        if ((r = strlib_match_here(m, s + n, end + 1)) != NULL)
            return r;
    return NULL;
}

/* item-: the shortest run that lets the rest of the pattern match. */
static const char *
strlib_expand_min(struct strlib_match *m, const char *s, const char *p, const char *end)
{
    const char *r;

    for (;;) {
        if ((r = strlib_match_here(m, s, end + 1)) != NULL)
            return r;
        if (s < m->subject_end && strlib_single((unsigned char)*s, p, end)) {
            strlib_spend(m, strlib_single_cost(p, end));
            s++;
        }
        else
            return NULL;
    }
}

/* ---- the matcher ------------------------------------------------------- */

/* The pattern P against the subject from S: where the match ends, or
 * NULL. Items that need no backtracking loop here instead of recursing;
 * each costs a unit, so a long pattern is no cheaper than a deep one. */
static const char *
strlib_match_items(struct strlib_match *m, const char *s, const char *p)
{
    const char *end, *r;
    int hit, prev;

    for (;;) {
        switch (*p) {
        case '\0':
            return s;
        case '(':
            if (p[1] == ')')
                return strlib_open_capture(m, s, p + 2, CAP_POSITION);
            return strlib_open_capture(m, s, p + 1, CAP_OPEN);
        case ')':
            return strlib_close_capture(m, s, p + 1);
        case '$':
            if (p[1] == '\0')
                return s == m->subject_end ? s : NULL;
            break;      /* a '$' elsewhere is a character */
        case STRLIB_ESC:
            if (p[1] == 'b') {
                if ((s = strlib_balance(m, s, p + 2)) == NULL)
                    return NULL;
                p += 4;
                strlib_spend(m, 1);
                continue;
            }
            if (p[1] == 'f') {
                p += 2;
                if (*p != '[')
                    strlib_error(m, "missing '[' after '%f' in pattern");
                end = strlib_item_end(m, p);
                /* the subject's terminating '\0' is the "character" at its end */
                prev = s == m->subject ? '\0' : (unsigned char)s[-1];
                strlib_spend(m, 2 * (size_t)(end - p));
                if (strlib_set(prev, p, end - 1) || !strlib_set((unsigned char)*s, p, end - 1))
                    return NULL;
                p = end;
                strlib_spend(m, 1);
                continue;
            }
            if (isdigit((unsigned char)p[1])) {
                if ((s = strlib_backref(m, s, (unsigned char)p[1])) == NULL)
                    return NULL;
                p += 2;
                strlib_spend(m, 1);
                continue;
            }
            break;
        }
        end = strlib_item_end(m, p);
        hit = s < m->subject_end && strlib_single((unsigned char)*s, p, end);
        switch (*end) {
        case '?':
            if (hit && (r = strlib_match_here(m, s + 1, end + 1)) != NULL)
                return r;
            p = end + 1;
            strlib_spend(m, 1);
            continue;
        case '*':
            return strlib_expand_max(m, s, p, end);
        case '+':
            return hit ? strlib_expand_max(m, s + 1, p, end) : NULL;
        case '-':
            return strlib_expand_min(m, s, p, end);
        default:
            if (!hit)
                return NULL;
            s++;
            p = end;
            strlib_spend(m, 1);
            continue;
        }
    }
}

/* Every recursion comes through here: one level of depth, one unit. */
static const char *
strlib_match_here(struct strlib_match *m, const char *s, const char *p)
{
    const char *end;

    if (m->depth-- == 0)
        strlib_error(m, "pattern too complex");
    strlib_spend(m, 1);
    end = strlib_match_items(m, s, p);
    m->depth++;
    return end;
}

/*
 * Where a match can start. When the pattern opens (after at most a few
 * captures, which consume nothing) with one single-character item with no
 * ?, * or - after it, a match can only start on a byte that item takes,
 * so the unanchored loops skip the others: with memchr for a character
 * that stands for itself, with a table of the 256 bytes for a class or a
 * set. Skipping changes no answer: there the stock matcher fails at that
 * first item, before any part of the pattern that could raise an error.
 * A class or set is read when the first attempt is about to read it
 * anyway (so a malformed one raises what the stock matcher raises), and
 * only when enough subject is left to pay for the table.
 */
#define STRLIB_SET_MIN 64       /* subject left before a table pays */

enum strlib_start_kind { START_ANY, START_BYTE, START_CLASS, START_TABLE };

struct strlib_start {
    int         kind;
    int         byte;           /* START_BYTE */
    const char *item, *item_end;
    unsigned char table[256];   /* START_TABLE: 1 for a byte the item takes */
};

static void
strlib_start_init(struct strlib_start *st, const char *p, int anchored, int with_table)
{
    int opens;

    st->kind = START_ANY;
    if (anchored)
        return;
    for (opens = 0; *p == '(' && opens < 4; opens++)
        p += p[1] == ')' ? 2 : 1;
    st->item = p;
    if (*p == STRLIB_ESC) {
        if (p[1] == '\0' || p[1] == 'b' || p[1] == 'f' || isdigit((unsigned char)p[1]))
            return;     /* special items, or the error for a lone % */
        st->kind = isalpha((unsigned char)p[1]) ? START_CLASS : START_BYTE;
        st->byte = (unsigned char)p[1];
        p += 2;
    } else if (*p == '[') {
        st->kind = with_table ? START_CLASS : START_ANY;
        return;         /* where it ends is known once it has been read */
    } else {
        if (*p == '\0' || strchr("().$", *p) != NULL)
            return;
        st->kind = START_BYTE;
        st->byte = (unsigned char)*p;
        p++;
    }
    if (*p == '?' || *p == '*' || *p == '-' || (st->kind == START_CLASS && !with_table))
        st->kind = START_ANY;
}

/* The table of the class or set item. */
static void
strlib_start_table(struct strlib_match *m, struct strlib_start *st)
{
    size_t cost;
    int c;

    st->item_end = strlib_item_end(m, st->item);
    if (*st->item_end == '?' || *st->item_end == '*' || *st->item_end == '-') {
        st->kind = START_ANY;
        return;
    }
    if (*st->item == STRLIB_ESC) {
        strlib_class_table(st->table, (unsigned char)st->item[1]);
        strlib_spend(m, 256);
        st->kind = START_TABLE;
        return;
    }
    cost = strlib_single_cost(st->item, st->item_end);
    for (c = 0; c < 256; c++) {
        st->table[c] = (unsigned char)strlib_single(c, st->item, st->item_end);
        if (cost > 1)
            strlib_spend(m, cost);      /* a long set: a long table */
    }
    strlib_spend(m, 256);
    st->kind = START_TABLE;
}

/* The next place in [S, end) where a match may start, or NULL. */
static const char *
strlib_start_next(struct strlib_match *m, struct strlib_start *st, const char *s)
{
    const char *from = s, *end = m->subject_end;

    switch (st->kind) {
    case START_BYTE:
        if (s >= end)
            return NULL;
        if ((s = memchr(s, st->byte, (size_t)(end - s))) == NULL)
            strlib_spend(m, (size_t)(end - from) / 64);
        return s;
    case START_CLASS:
        if (end - s < STRLIB_SET_MIN)
            return s;
        strlib_start_table(m, st);
        return strlib_start_next(m, st, s);
    case START_TABLE:
        while (s < end && !st->table[(unsigned char)*s])
            s++;
        strlib_spend(m, (size_t)(s - from) / 16);
        return s < end ? s : NULL;
    default:
        return s;
    }
}

/* ---- captures onto the stack ------------------------------------------- */

/* Capture I, or the whole match S..E when there are none. [-0, +1, e] */
static void
strlib_push_capture(struct strlib_match *m, int i, const char *s, const char *e)
{
    ptrdiff_t len;

    if (i >= m->level) {
        if (i != 0)
            strlib_error(m, "invalid capture index");
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    len = m->capture[i].len;
    if (len == CAP_OPEN)
        strlib_error(m, "unfinished capture");
    if (len == CAP_POSITION)
        lua_pushinteger(m->L, m->capture[i].start - m->subject + 1);
    else
        lua_pushlstring(m->L, m->capture[i].start, (size_t)len);
}

/* Every capture (the whole match if none and S is given). [-0, +n, e] */
static int
strlib_push_captures(struct strlib_match *m, const char *s, const char *e)
{
    int i, n = (m->level == 0 && s != NULL) ? 1 : m->level;

    luaL_checkstack(m->L, n, "too many captures");
    for (i = 0; i < n; i++)
        strlib_push_capture(m, i, s, e);
    return n;
}

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
strlib_find_plain(struct strlib_match *m, const char *s, size_t ls, const char *p, size_t lp)
{
    const char *last, *hit;

    if (lp == 0)
        return s;
    if (lp > ls)
        return NULL;
    last = s + (ls - lp);
    while (s <= last && (hit = memchr(s, *p, (size_t)(last - s) + 1)) != NULL) {
        strlib_spend(m, lp + (size_t)(hit - s) / 64);
        if (memcmp(hit + 1, p + 1, lp - 1) == 0)
            return hit;
        s = hit + 1;
    }
    strlib_spend(m, (size_t)(last + 1 - s) / 64);
    return NULL;
}

/* string.find(s, pattern [, init [, plain]]) and string.match(s, pattern
 * [, init]). [-(2|3|4), +n, e] */
static int
strlib_find_aux(lua_State *L, int find)
{
    struct strlib_match m;
    size_t ls, lp, init;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *start, *end;
    struct strlib_start st;
    int anchor;

    init = strlib_start(luaL_optinteger(L, 3, 1), ls);
    strlib_match_init(&m, L, s, ls);
    /* a pattern without specials is found as plain text, all LP bytes */
    if (find && (lua_toboolean(L, 4) || strpbrk(p, STRLIB_SPECIALS) == NULL)) {
        start = strlib_find_plain(&m, s + init, ls - init, p, lp);
        strlib_flush(&m);
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
    strlib_start_init(&st, p, anchor, 1);
    start = s + init;
    do {
        if ((start = strlib_start_next(&m, &st, start)) == NULL)
            break;
        m.level = 0;
        if ((end = strlib_match_here(&m, start, p)) != NULL) {
            strlib_flush(&m);
            if (!find)
                return strlib_push_captures(&m, start, end);
            lua_pushinteger(L, start - s + 1);
            lua_pushinteger(L, end - s);
            return strlib_push_captures(&m, NULL, NULL) + 2;
        }
    } while (start++ < m.subject_end && !anchor);
    strlib_flush(&m);
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
    struct strlib_match m;
    size_t ls;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tostring(L, lua_upvalueindex(2));
    const char *start, *end;
    lua_Integer next;
    struct strlib_start st;

    /* no tables: one call finds one match, often right where it starts */
    strlib_start_init(&st, p, 0, 0);
    strlib_match_init(&m, L, s, ls);
    for (start = s + (size_t)lua_tointeger(L, lua_upvalueindex(3)); start <= m.subject_end; start++) {
        if ((start = strlib_start_next(&m, &st, start)) == NULL)
            break;
        m.level = 0;
        if ((end = strlib_match_here(&m, start, p)) != NULL) {
            strlib_flush(&m);
            /* after an empty match, go on one further */
            next = end - s + (end == start);
            lua_pushinteger(L, next);
            lua_replace(L, lua_upvalueindex(3));
            return strlib_push_captures(&m, start, end);
        }
    }
    strlib_flush(&m);
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
strlib_add_string(struct strlib_match *m, luaL_Buffer *b, const char *s, const char *e)
{
    size_t len;
    const char *r = lua_tolstring(m->L, 3, &len);
    const char *r_end = r + len, *esc;

    strlib_spend(m, len);
    while (r < r_end) {
        if ((esc = memchr(r, STRLIB_ESC, (size_t)(r_end - r))) == NULL) {
            luaL_addlstring(b, r, (size_t)(r_end - r));
            return;
        }
        luaL_addlstring(b, r, (size_t)(esc - r));
        r = esc + 1;    /* at r_end, this is the string's '\0' */
        if (!isdigit((unsigned char)*r)) {
            luaL_addchar(b, *r);
        } else if (*r == '0') {
            strlib_spend(m, (size_t)(e - s));
            luaL_addlstring(b, s, (size_t)(e - s));
        } else {
            strlib_push_capture(m, *r - '1', s, e);
            strlib_spend(m, lua_objlen(m->L, -1));
            luaL_addvalue(b);
        }
        r++;
    }
}

/* The replacement for the match S..E, added to B. */
static void
strlib_add_value(struct strlib_match *m, luaL_Buffer *b, const char *s, const char *e, int type)
{
    lua_State *L = m->L;

    if (type == LUA_TFUNCTION) {
        int n;

        strlib_flush(m);    /* what runs next is Lua, and may fail */
        lua_pushvalue(L, 3);
        n = strlib_push_captures(m, s, e);
        lua_call(L, n, 1);
    } else if (type == LUA_TTABLE) {
        strlib_flush(m);    /* __index may run Lua */
        strlib_push_capture(m, 0, s, e);
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
    struct strlib_match m;
    luaL_Buffer b;
    size_t ls;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checkstring(L, 2);
    const char *end, *next;
    int type = lua_type(L, 3);
    int max = luaL_optint(L, 4, (int)(ls + 1));
    struct strlib_start st;
    int anchor = *p == '^', n = 0;

    if (anchor)
        p++;
    luaL_argcheck(L, type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION ||
                  type == LUA_TTABLE, 3, "string/function/table expected");
    strlib_start_init(&st, p, anchor, 1);
    luaL_buffinit(L, &b);
    strlib_match_init(&m, L, s, ls);
    while (n < max) {
        if ((next = strlib_start_next(&m, &st, s)) == NULL)
            break;
        strlib_spend(&m, (size_t)(next - s) / 64);
        luaL_addlstring(&b, s, (size_t)(next - s));
        s = next;
        m.level = 0;
        if ((end = strlib_match_here(&m, s, p)) != NULL) {
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
    strlib_flush(&m);
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
            strlib_charge(L, step / 64);
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
