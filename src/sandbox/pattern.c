/*
 * pattern.c: the Lua 5.1 pattern matcher (manual §5.4.1) behind
 * strlib.c's find, match, gmatch and gsub: classes, sets, %b, %f,
 * back-references, captures.
 *
 * It is the classic backtracking matcher the manual describes, with two
 * additions:
 * - depth: every recursive step spends one of LF_PATTERN_DEPTH levels;
 *   running out raises "pattern too complex", as Lua 5.2 and later do.
 *   Recursion happens only for ?, *, +, - and captures, so the depth is
 *   about the number of such items in the pattern, never the subject's
 *   length; 200 levels of a few hundred bytes each fit any thread stack.
 * - budget: work is counted: every pattern item visited, a long set's
 *   length each time a byte is tested against it, a byte scanned or
 *   copied in bulk. The units gather in the pattern_match and go to
 *   state_charge() (state_limit.c) every PATTERN_STEPS, at the call's end and
 *   before an error the matcher raises, so they add up across calls: a
 *   million calls of a few hundred steps reach the deadline as one long
 *   call does. Counting costs an add; the clock is read rarely.
 *
 * The unanchored loops skip positions where the pattern's first item
 * cannot match (memchr, or a byte table for a class), which is where the
 * common gsub shapes spend their time; see pattern_start.c.
 *
 * The matcher's quirks are Lua 5.1's: a pattern ends at its first '\0'
 * (5.1 reads it as a C string). The Lua API is used only to raise errors
 * and to push captures.
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "pattern.h"
#include "pattern_impl.h"

#define CAP_OPEN     (-1)               /* capture started, not closed */
#define CAP_POSITION (-2)               /* () */

void
pattern_match_init(struct pattern_match *m, lua_State *L, const char *s, size_t len)
{
    m->L = L;
    m->subject = s;
    m->subject_end = s + len;
    m->level = 0;
    m->depth = LF_PATTERN_DEPTH;
    m->pending = 0;
}

/* Raises MSG; the work done so far is charged first, so a script cannot
 * run free by making every call fail. */
static void
pattern_error(struct pattern_match *m, const char *msg)
{
    pattern_flush(m);
    luaL_error(m->L, "%s", msg);
}

/* ---- one character against one class ---------------------------------- */

/* C against %CL: a letter names a class, its upper case the complement;
 * any other character stands for itself. */
int
pattern_class(int c, int cl)
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

/* C against the set from '[' at P to its ']' at LAST. */
int
pattern_set(int c, const char *p, const char *last)
{
    int want = 1;

    if (p[1] == '^') {
        want = 0;
        p++;
    }
    while (++p < last) {
        if (*p == PATTERN_ESC) {
            p++;
            if (pattern_class(c, (unsigned char)*p))
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
const char *
pattern_item_end(struct pattern_match *m, const char *p)
{
    const char *set = p;

    if (*p == PATTERN_ESC) {
        if (p[1] == '\0')
            pattern_error(m, "malformed pattern (ends with '%')");
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
            pattern_error(m, "malformed pattern (missing ']')");
        if (*p++ == PATTERN_ESC && *p != '\0')
            p++;
    } while (*p != ']');
    pattern_spend(m, (size_t)(p - set));
    return p + 1;
}

/* ---- the pattern items that are not one character ----------------------- */

/* %bxy at S, P pointing at x: the end of the balanced run, or NULL. */
static const char *
pattern_balance(struct pattern_match *m, const char *s, const char *p)
{
    const char *start = s;
    int open, close, depth = 1;

    if (p[0] == '\0' || p[1] == '\0')
        pattern_error(m, "unbalanced pattern");
    open = (unsigned char)p[0];
    close = (unsigned char)p[1];
    if (s >= m->subject_end || (unsigned char)*s != open)
        return NULL;
    while (++s < m->subject_end) {
        if ((unsigned char)*s == close) {
            if (--depth == 0) {
                pattern_spend(m, (size_t)(s - start));
                return s + 1;
            }
        } else if ((unsigned char)*s == open) {
            depth++;
        }
    }
    pattern_spend(m, (size_t)(s - start));
    return NULL;
}

/* %1-%9 at S: the same bytes as that capture again, or NULL. */
static const char *
pattern_backref(struct pattern_match *m, const char *s, int digit)
{
    int i = digit - '1';
    ptrdiff_t len;

    if (i < 0 || i >= m->level || m->capture[i].len == CAP_OPEN) {
        pattern_error(m, "invalid capture index");
        return NULL;    /* not reached */
    }
    len = m->capture[i].len;
    if (len < 0 || m->subject_end - s < len)
        return NULL;    /* a position capture never matches text */
    pattern_spend(m, 1 + (size_t)len / 16);     /* memcmp is bulk work */
    return memcmp(m->capture[i].start, s, (size_t)len) == 0 ? s + len : NULL;
}

static const char *
pattern_open_capture(struct pattern_match *m, const char *s, const char *p, ptrdiff_t what)
{
    const char *end;

    if (m->level >= LUA_MAXCAPTURES)
        pattern_error(m, "too many captures");
    m->capture[m->level].start = s;
    m->capture[m->level].len = what;
    m->level++;
    if ((end = pattern_match_here(m, s, p)) == NULL)
        m->level--;
    return end;
}

static const char *
pattern_close_capture(struct pattern_match *m, const char *s, const char *p)
{
    const char *end;
    int i;

    for (i = m->level - 1; i >= 0 && m->capture[i].len != CAP_OPEN; i--)
        ;
    if (i < 0) {
        pattern_error(m, "invalid pattern capture");
        return NULL;    /* not reached */
    }
    m->capture[i].len = s - m->capture[i].start;
    if ((end = pattern_match_here(m, s, p)) == NULL)
        m->capture[i].len = CAP_OPEN;
    return end;
}

/* item* (and item+ once one is taken): the longest run that lets the rest
 * of the pattern match. */
static const char *
pattern_expand_max(struct pattern_match *m, const char *s, const char *p, const char *end)
{
    const char *r;
    ptrdiff_t n = 0;
    size_t cost = pattern_single_cost(p, end);

    if (cost > 1) {
        while (s + n < m->subject_end && pattern_single((unsigned char)s[n], p, end)) {
            pattern_spend(m, cost);
            n++;
        }
    } else {
        while (s + n < m->subject_end && pattern_single((unsigned char)s[n], p, end))
            n++;
        pattern_spend(m, (size_t)n);
    }
    for (; n >= 0; n--)
        if ((r = pattern_match_here(m, s + n, end + 1)) != NULL)
            return r;
    return NULL;
}

/* item-: the shortest run that lets the rest of the pattern match. */
static const char *
pattern_expand_min(struct pattern_match *m, const char *s, const char *p, const char *end)
{
    const char *r;

    for (;;) {
        if ((r = pattern_match_here(m, s, end + 1)) != NULL)
            return r;
        if (s < m->subject_end && pattern_single((unsigned char)*s, p, end)) {
            pattern_spend(m, pattern_single_cost(p, end));
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
pattern_match_items(struct pattern_match *m, const char *s, const char *p)
{
    const char *end, *r;
    int hit, prev;

    for (;;) {
        switch (*p) {
        case '\0':
            return s;
        case '(':
            if (p[1] == ')')
                return pattern_open_capture(m, s, p + 2, CAP_POSITION);
            return pattern_open_capture(m, s, p + 1, CAP_OPEN);
        case ')':
            return pattern_close_capture(m, s, p + 1);
        case '$':
            if (p[1] == '\0')
                return s == m->subject_end ? s : NULL;
            break;      /* a '$' elsewhere is a character */
        case PATTERN_ESC:
            if (p[1] == 'b') {
                if ((s = pattern_balance(m, s, p + 2)) == NULL)
                    return NULL;
                p += 4;
                pattern_spend(m, 1);
                continue;
            }
            if (p[1] == 'f') {
                p += 2;
                if (*p != '[')
                    pattern_error(m, "missing '[' after '%f' in pattern");
                end = pattern_item_end(m, p);
                /* the subject's terminating '\0' is the "character" at its end */
                prev = s == m->subject ? '\0' : (unsigned char)s[-1];
                pattern_spend(m, 2 * (size_t)(end - p));
                if (pattern_set(prev, p, end - 1) || !pattern_set((unsigned char)*s, p, end - 1))
                    return NULL;
                p = end;
                pattern_spend(m, 1);
                continue;
            }
            if (isdigit((unsigned char)p[1])) {
                if ((s = pattern_backref(m, s, (unsigned char)p[1])) == NULL)
                    return NULL;
                p += 2;
                pattern_spend(m, 1);
                continue;
            }
            break;
        }
        end = pattern_item_end(m, p);
        hit = s < m->subject_end && pattern_single((unsigned char)*s, p, end);
        switch (*end) {
        case '?':
            if (hit && (r = pattern_match_here(m, s + 1, end + 1)) != NULL)
                return r;
            p = end + 1;
            pattern_spend(m, 1);
            continue;
        case '*':
            return pattern_expand_max(m, s, p, end);
        case '+':
            return hit ? pattern_expand_max(m, s + 1, p, end) : NULL;
        case '-':
            return pattern_expand_min(m, s, p, end);
        default:
            if (!hit)
                return NULL;
            s++;
            p = end;
            pattern_spend(m, 1);
            continue;
        }
    }
}

/* Every recursion comes through here: one level of depth, one unit. */
const char *
pattern_match_here(struct pattern_match *m, const char *s, const char *p)
{
    const char *end;

    if (m->depth-- == 0)
        pattern_error(m, "pattern too complex");
    pattern_spend(m, 1);
    end = pattern_match_items(m, s, p);
    m->depth++;
    return end;
}

/* ---- captures onto the stack ------------------------------------------- */

/* Capture I, or the whole match S..E when there are none. [-0, +1, e] */
void
pattern_push_capture(struct pattern_match *m, int i, const char *s, const char *e)
{
    ptrdiff_t len;

    if (i >= m->level) {
        if (i != 0)
            pattern_error(m, "invalid capture index");
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    len = m->capture[i].len;
    if (len == CAP_OPEN)
        pattern_error(m, "unfinished capture");
    if (len == CAP_POSITION)
        lua_pushinteger(m->L, m->capture[i].start - m->subject + 1);
    else
        lua_pushlstring(m->L, m->capture[i].start, (size_t)len);
}

/* Every capture (the whole match if none and S is given). [-0, +n, e] */
int
pattern_push_captures(struct pattern_match *m, const char *s, const char *e)
{
    int i, n = (m->level == 0 && s != NULL) ? 1 : m->level;

    luaL_checkstack(m->L, n, "too many captures");
    for (i = 0; i < n; i++)
        pattern_push_capture(m, i, s, e);
    return n;
}
