/*
 * libFuzzer: our pattern functions answer as liblua5.1's own do, result
 * for result and error message for error message; any difference aborts.
 *
 * Input: one byte choosing the function (and init and n), then subject,
 * pattern and replacement separated by 0xff. Sizes and the number of
 * quantifiers (one only past FUZZ_LONG bytes of subject) are bounded so that the stock matcher, exponential in them,
 * always finishes quickly.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "strlib_diff.h"

#define FUZZ_SUBJECT_MAX     160
#define FUZZ_PATTERN_MAX     32
#define FUZZ_REPLACEMENT_MAX 16
#define FUZZ_QUANTIFIERS_MAX 4
#define FUZZ_LONG            48     /* past it, one quantifier */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The deadline is the daemon's business; here it never runs out. */
void
state_charge(lua_State *L, size_t units)
{
    (void)L;
    (void)units;
}

/* The next piece of DATA up to a 0xff, or to the end. */
static const char *
fuzz_piece(const uint8_t **data, size_t *size, size_t *len)
{
    const uint8_t *start = *data, *sep = memchr(*data, 0xff, *size);

    *len = sep ? (size_t)(sep - start) : *size;
    *data += *len + (sep != NULL);
    *size -= *len + (sep != NULL);
    return (const char *)start;
}

static int
fuzz_quantifiers(const char *p, size_t len)
{
    size_t i;
    int n = 0;

    for (i = 0; i < len; i++)
        n += p[i] == '*' || p[i] == '+' || p[i] == '-' || p[i] == '?';
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    struct diff_case c;
    const char *stock, *ours;
    unsigned op;

    if (L == NULL && (L = diff_open()) == NULL)
        __builtin_trap();
    if (size < 1)
        return 0;
    op = data[0];
    data++;
    size--;
    memset(&c, 0, sizeof(c));
    c.kind = (int)(op % DIFF_KINDS);
    c.has_init = (int)((op >> 3) & 1);
    c.init = (int)((op >> 4) & 7) - 3;
    c.has_n = (int)((op >> 7) & 1);
    c.n = (int)((op >> 4) & 3);
    c.s = fuzz_piece(&data, &size, &c.ls);
    c.p = fuzz_piece(&data, &size, &c.lp);
    c.r = fuzz_piece(&data, &size, &c.lr);
    if (c.ls > FUZZ_SUBJECT_MAX || c.lp > FUZZ_PATTERN_MAX || c.lr > FUZZ_REPLACEMENT_MAX ||
        fuzz_quantifiers(c.p, c.lp) > (c.ls > FUZZ_LONG ? 1 : FUZZ_QUANTIFIERS_MAX))
        return 0;
    if (!diff_same(L, &c, &stock, &ours)) {
        fprintf(stderr, "kind %d: stock %s\nours %s\n", c.kind, stock ? stock : "?", ours ? ours : "?");
        __builtin_trap();
    }
    return 0;
}
