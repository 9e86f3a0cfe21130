/*
 * pattern_start.c: where a match can start, so that the unanchored loops
 * of find, match, gmatch and gsub skip the rest.
 *
 * When the pattern opens (after at most a few captures, which consume
 * nothing) with one single-character item with no ?, * or - after it, a
 * match can only start on a byte that item takes, so the unanchored loops
 * skip the others: with memchr for a character that stands for itself,
 * with a table of the 256 bytes for a class or a set. This is where the
 * common gsub shapes spend their time. Skipping changes no answer: there
 * the stock matcher fails at that first item, before any part of the
 * pattern that could raise an error. A class or set is read when the
 * first attempt is about to read it anyway (so a malformed one raises
 * what the stock matcher raises), and only when enough subject is left to
 * pay for the table. Skipped bytes are charged as bulk work.
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include <lua.h>

#include "pattern.h"
#include "pattern_impl.h"

#define PATTERN_SET_MIN 64      /* subject left before a table pays */

enum pattern_start_kind { START_ANY, START_BYTE, START_CLASS, START_TABLE };

/* TABLE[c] = pattern_class(c, CL) for every byte, with the class looked
 * up once rather than per byte: gsub and find build one per call. */
static void
pattern_class_table(unsigned char *table, int cl)
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

void
pattern_start_init(struct pattern_start *st, const char *p, int anchored, int with_table)
{
    int opens;

    st->kind = START_ANY;
    if (anchored)
        return;
    for (opens = 0; *p == '(' && opens < 4; opens++)
        p += p[1] == ')' ? 2 : 1;
    st->item = p;
    if (*p == PATTERN_ESC) {
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
pattern_start_table(struct pattern_match *m, struct pattern_start *st)
{
    size_t cost;
    int c;

    st->item_end = pattern_item_end(m, st->item);
    if (*st->item_end == '?' || *st->item_end == '*' || *st->item_end == '-') {
        st->kind = START_ANY;
        return;
    }
    if (*st->item == PATTERN_ESC) {
        pattern_class_table(st->table, (unsigned char)st->item[1]);
        pattern_spend(m, 256);
        st->kind = START_TABLE;
        return;
    }
    cost = pattern_single_cost(st->item, st->item_end);
    for (c = 0; c < 256; c++) {
        st->table[c] = (unsigned char)pattern_single(c, st->item, st->item_end);
        if (cost > 1)
            pattern_spend(m, cost);      /* a long set: a long table */
    }
    pattern_spend(m, 256);
    st->kind = START_TABLE;
}

/* The next place in [S, end) where a match may start, or NULL. */
const char *
pattern_start_next(struct pattern_match *m, struct pattern_start *st, const char *s)
{
    const char *from = s, *end = m->subject_end;

    switch (st->kind) {
    case START_BYTE:
        if (s >= end)
            return NULL;
        if ((s = memchr(s, st->byte, (size_t)(end - s))) == NULL)
            pattern_spend(m, (size_t)(end - from) / 64);
        return s;
    case START_CLASS:
        if (end - s < PATTERN_SET_MIN)
            return s;
        pattern_start_table(m, st);
        return pattern_start_next(m, st, s);
    case START_TABLE:
        while (s < end && !st->table[(unsigned char)*s])
            s++;
        pattern_spend(m, (size_t)(s - from) / 16);
        return s < end ? s : NULL;
    default:
        return s;
    }
}
