/*
 * pattern_impl.h: the matcher's single-item tests, shared by its own files
 * only: pattern.c (the matcher) and pattern_start.c (where a match may
 * start). strlib.c uses pattern.h.
 */
#ifndef LF_PATTERN_IMPL_H
#define LF_PATTERN_IMPL_H

#include "pattern.h"

/* C against %CL: a class letter, its complement, or CL itself. */
int pattern_class(int c, int cl);

/* C against the set from '[' at P to its ']' at LAST. */
int pattern_set(int c, const char *p, const char *last);

/* Where the single-character item at P ends; raises a malformed one. */
const char *pattern_item_end(struct pattern_match *m, const char *p);

/* C against the item from P to END. Inline, as the matcher and the
 * start tables test every byte through it. */
static inline int
pattern_single(int c, const char *p, const char *end)
{
    switch (*p) {
    case '.':
        return 1;
    case PATTERN_ESC:
        return pattern_class(c, (unsigned char)p[1]);
    case '[':
        return pattern_set(c, p, end - 1);
    default:
        return (unsigned char)*p == c;
    }
}

/* What testing one byte against the item from P to END costs: a set is
 * read to its end, a short one within the unit. */
#define PATTERN_SET_SHORT 32

static inline size_t
pattern_single_cost(const char *p, const char *end)
{
    return *p == '[' && end - p > PATTERN_SET_SHORT ? (size_t)(end - p) : 1;
}

#endif
