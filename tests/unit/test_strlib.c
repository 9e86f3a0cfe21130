/*
 * Our string.find/match/gmatch/gsub/rep against liblua5.1's: hand-written
 * cases for every feature and error, then tens of thousands of generated
 * ones (seeded, biased towards the pattern items), each compared result
 * for result and message for message. Then what only ours does: the depth
 * bound, the deadline checks, rep's shortcuts, the allocator.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "strlib_diff.h"

#define GENERATED 100000

/* The seam to the state (state_charge), as state_limit.c has it: the
 * units add up across calls, and every CHECK_UNITS of them is one look at
 * the deadline, which raises once armed. check_calls counts the looks. */
#define CHECK_UNITS 16384

static int check_calls;
static int check_armed;
static size_t check_units;

void
state_charge(lua_State *L, size_t units)
{
    check_units += units;
    if (check_units < CHECK_UNITS)
        return;
    check_units = 0;
    check_calls++;
    if (check_armed)
        luaL_error(L, "timeout: the request ran over 1 s");
}

/* ---- hand-written cases ------------------------------------------------ */

struct hand {
    int         kind;
    const char *s, *p, *r;
    int         init;           /* 0: none */
    int         n;              /* -99: none */
};

#define NONE (-99)

static const struct hand hand_cases[] = {
    /* find, plain and not, init */
    { DIFF_FIND, "hello world", "o w", 0, 0, NONE },
    { DIFF_FIND, "hello world", "o", 0, 6, NONE },
    { DIFF_FIND, "hello world", "o", 0, -3, NONE },
    { DIFF_FIND, "hello world", "o", 0, -100, NONE },
    { DIFF_FIND, "hello", "", 0, 10, NONE },
    { DIFF_FIND, "hello", "", 0, 6, NONE },
    { DIFF_FIND, "hello", "l+", 0, 0, NONE },
    { DIFF_FIND_PLAIN, "a.b(c", ".b(", 0, 0, NONE },
    { DIFF_FIND_PLAIN, "a.b(c", "", 0, 3, NONE },
    { DIFF_FIND_PLAIN, "a%b", "%", 0, 0, NONE },
    { DIFF_FIND, "a+b", "+", 0, 0, NONE },
    /* match, captures, position captures */
    { DIFF_MATCH, "key = value", "(%w+)%s*=%s*(%w+)", 0, 0, NONE },
    { DIFF_MATCH, "hello", "()ll()", 0, 0, NONE },
    { DIFF_MATCH, "hello", "(h)(e)(l)(l)(o)", 0, 0, NONE },
    { DIFF_MATCH, "hello", "((l)(l))", 0, 0, NONE },
    { DIFF_MATCH, "abcabc", "(abc)%1", 0, 0, NONE },
    { DIFF_MATCH, "abab", "()a%1", 0, 0, NONE },
    { DIFF_MATCH, "  x", "^%s*(.-)%s*$", 0, 0, NONE },
    { DIFF_MATCH, "x$y", "x$y", 0, 0, NONE },
    { DIFF_MATCH, "x^y", "x^y", 0, 0, NONE },
    { DIFF_MATCH, "^x", "^^x", 0, 0, NONE },
    { DIFF_MATCH, "abc", "^b", 0, 0, NONE },
    { DIFF_MATCH, "abc", "c$", 0, 0, NONE },
    /* %b and %f */
    { DIFF_MATCH, "f(a(b)c) d", "%b()", 0, 0, NONE },
    { DIFF_MATCH, "f(a(b c) d", "%b()", 0, 0, NONE },
    { DIFF_MATCH, "'x' 'y'", "%b''", 0, 0, NONE },
    { DIFF_GSUB_STRING, "THE (quick) fox", "%f[%a]%a+", "W", 0, NONE },
    { DIFF_GSUB_STRING, "THE (quick) fox", "%f[%a]", "^", 0, NONE },
    { DIFF_GSUB_STRING, "THE (quick) fox", "%f[%A]", "$", 0, NONE },
    { DIFF_FIND, "abc", "%f[%z]", 0, 0, NONE },
    { DIFF_FIND, "abc", "%f[^%z]", 0, 0, NONE },
    /* classes and their complements */
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%a", "<%0>", 0, NONE },
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%A", "<%0>", 0, NONE },
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%c", ".", 0, NONE },
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%d", ".", 0, NONE },
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%l", ".", 0, NONE },
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%p", ".", 0, NONE },
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%s", ".", 0, NONE },
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%u", ".", 0, NONE },
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%W", ".", 0, NONE },
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%x", ".", 0, NONE },
    { DIFF_GSUB_STRING, "aZ 09_!\t\001x\177", "%X", ".", 0, NONE },
    { DIFF_GSUB_STRING, "a.b%c", "%.", "!", 0, NONE },
    { DIFF_GSUB_STRING, "a.b%c", "%%", "!", 0, NONE },
    /* sets and ranges */
    { DIFF_GSUB_STRING, "a-z]^b", "[a-c]", "#", 0, NONE },
    { DIFF_GSUB_STRING, "a-z]^b", "[^a-c]", "#", 0, NONE },
    { DIFF_GSUB_STRING, "a-z]^b", "[]]", "#", 0, NONE },
    { DIFF_GSUB_STRING, "a-z]^b", "[^]]", "#", 0, NONE },
    { DIFF_GSUB_STRING, "a-z]^b", "[a-]", "#", 0, NONE },
    { DIFF_GSUB_STRING, "a-z]^b", "[-a]", "#", 0, NONE },
    { DIFF_GSUB_STRING, "a-z]^b", "[%a-]", "#", 0, NONE },
    { DIFF_GSUB_STRING, "a-z]^b", "[z-a]", "#", 0, NONE },
    { DIFF_GSUB_STRING, "a-z]^b", "[%]^]", "#", 0, NONE },
    { DIFF_GSUB_STRING, "a-z]^b", "[^%^]", "#", 0, NONE },
    /* quantifiers */
    { DIFF_MATCH, "aaab", "a-b", 0, 0, NONE },
    { DIFF_MATCH, "aaab", "a*", 0, 0, NONE },
    { DIFF_MATCH, "aaab", "a+$", 0, 0, NONE },
    { DIFF_MATCH, "aaab", "a?a?a?a?b", 0, 0, NONE },
    { DIFF_MATCH, "<a><b>", "<(.-)>", 0, 0, NONE },
    { DIFF_MATCH, "<a><b>", "<(.*)>", 0, 0, NONE },
    /* gmatch, empty matches, '^' taken literally */
    { DIFF_GMATCH, "one two  three", "%a+", 0, 0, NONE },
    { DIFF_GMATCH, "k=v, x=y", "(%w+)=(%w+)", 0, 0, NONE },
    { DIFF_GMATCH, "abc", "", 0, 0, NONE },
    { DIFF_GMATCH, "baaac", "a*", 0, 0, NONE },
    { DIFF_GMATCH, "^a^a", "^a", 0, 0, NONE },
    { DIFF_GMATCH, "abc", "()", 0, 0, NONE },
    /* gsub: string, table, function, number, n */
    { DIFF_GSUB_STRING, "hello world", "(o)", "[%1%1]", 0, NONE },
    { DIFF_GSUB_STRING, "hello world", "o", "%0%0", 0, NONE },
    { DIFF_GSUB_STRING, "hello world", "o", "100%%", 0, NONE },
    { DIFF_GSUB_STRING, "hello world", "o", "%x%", 0, NONE },
    { DIFF_GSUB_STRING, "hello world", "o", "%1", 0, NONE },
    { DIFF_GSUB_STRING, "hello world", "(o)", "%2", 0, NONE },
    { DIFF_GSUB_STRING, "hello world", "()o", "%1", 0, NONE },
    { DIFF_GSUB_STRING, "hello world", "o", "0", 0, 1 },
    { DIFF_GSUB_STRING, "hello world", "o", "0", 0, 0 },
    { DIFF_GSUB_STRING, "hello world", "o", "0", 0, -1 },
    { DIFF_GSUB_STRING, "hello world", "", "-", 0, NONE },
    { DIFF_GSUB_STRING, "hello world", "^", "-", 0, NONE },
    { DIFF_GSUB_STRING, "hello world", "^h", "-", 0, NONE },
    { DIFF_GSUB_STRING, "hello world", "$", "-", 0, NONE },
    { DIFF_GSUB_TABLE, "a ab b abc x", "%w+", 0, 0, NONE },
    { DIFF_GSUB_TABLE, "a ab b abc", "(%w)(%w*)", 0, 0, NONE },
    { DIFF_GSUB_TABLE, "a x", "%w+", 0, 0, NONE },
    { DIFF_GSUB_TABLE, "a1", "()%w", 0, 0, NONE },
    { DIFF_GSUB_FUNCTION, "a ab abc abcde", "%w+", 0, 0, NONE },
    { DIFF_GSUB_FUNCTION, "a=b c=d", "(%w)=(%w)", 0, 0, 1 },
    { DIFF_GSUB_FUNCTION, "abc", "()b()", 0, 0, NONE },
    { DIFF_GSUB_FUNCTION, "x y", "%w", 0, 0, NONE },
    { DIFF_GSUB_NUMBER, "abc", "b", "xyz", 0, NONE },
    /* patterns whose first byte lets the loops skip ahead */
    { DIFF_GSUB_STRING, "a+b+c", "+", " ", 0, NONE },
    { DIFF_GMATCH, "x-y--z", "-+", 0, 0, NONE },
    { DIFF_GSUB_STRING, "100% sure %%", "%%", "pct", 0, NONE },
    { DIFF_GSUB_STRING, "a^b^^", "^^", "!", 0, NONE },
    { DIFF_GSUB_STRING, "a]b", "]", "!", 0, NONE },
    { DIFF_FIND, "xyzab", "(()(a)b)", 0, 0, NONE },
    { DIFF_FIND, "xyzab", "((((((a)))))", 0, 0, NONE },
    { DIFF_FIND, "xyz", "a%", 0, 0, NONE },
    { DIFF_FIND, "xyz", "((((((((((((((((((((((((((((((((((q))))))))))))))))))))))))))))))))))", 0, 0, NONE },
    { DIFF_GSUB_STRING, "xyz", "((((((((((((((((((((((((((((((((((q))))))))))))))))))))))))))))))))))", "", 0, 0 },
    { DIFF_GMATCH, "xyz", "q[", 0, 0, NONE },
    { DIFF_GMATCH, "xyq", "q[", 0, 0, NONE },
    /* every error */
    { DIFF_FIND, "abc", "%", 0, 0, NONE },
    { DIFF_FIND, "abc", "a%", 0, 0, NONE },
    { DIFF_FIND, "abc", "[a", 0, 0, NONE },
    { DIFF_FIND, "abc", "[a%", 0, 0, NONE },
    { DIFF_FIND, "abc", "[]", 0, 0, NONE },
    { DIFF_FIND, "abc", "[^]", 0, 0, NONE },
    { DIFF_FIND, "abc", "(a)%2", 0, 0, NONE },
    { DIFF_FIND, "abc", "%1", 0, 0, NONE },
    { DIFF_FIND, "abc", "(a%1)", 0, 0, NONE },
    { DIFF_FIND, "abc", "a%0", 0, 0, NONE },
    { DIFF_FIND, "abc", "a)", 0, 0, NONE },
    { DIFF_FIND, "abc", "(a", 0, 0, NONE },
    { DIFF_MATCH, "abc", "(a", 0, 0, NONE },
    { DIFF_FIND, "abc", "x(a", 0, 0, NONE },
    { DIFF_FIND, "abc", "%fa", 0, 0, NONE },
    { DIFF_FIND, "abc", "%f", 0, 0, NONE },
    { DIFF_FIND, "abc", "%f[a", 0, 0, NONE },
    { DIFF_FIND, "abc", "%b", 0, 0, NONE },
    { DIFF_FIND, "abc", "%ba", 0, 0, NONE },
    { DIFF_FIND, "abc", "((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))", 0, 0, NONE },
    { DIFF_FIND, "abc", "()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()", 0, 0, NONE },
    { DIFF_GSUB_TABLE, "x", "x", 0, 0, NONE },
    { DIFF_GSUB_FUNCTION, "x", "x", 0, 0, NONE },
    { DIFF_GSUB_STRING, "abc", "(", "x", 0, NONE },
};

/* Bytes with a '\0' inside: a pattern ends at its first '\0' (5.1 reads
 * it as a C string), except for find's plain search. */
static const struct diff_case nul_cases[] = {
    { DIFF_FIND, "a\0b", "a\0c", 0, 3, 3, 0, 0, 0, 0, 0 },
    { DIFF_FIND_PLAIN, "a\0b", "a\0c", 0, 3, 3, 0, 0, 0, 0, 0 },
    { DIFF_FIND, "xa\0b", "a\0b", 0, 4, 3, 0, 0, 0, 0, 0 },
    { DIFF_FIND, "a\0b", "%z", 0, 3, 2, 0, 0, 0, 0, 0 },
    { DIFF_MATCH, "a\0b", "[%z]", 0, 3, 4, 0, 0, 0, 0, 0 },
    { DIFF_MATCH, "a\0b", ".\0*", 0, 3, 3, 0, 0, 0, 0, 0 },
    { DIFF_GSUB_STRING, "a\0b", "%z", "<%0>", 3, 2, 4, 0, 0, 0, 0 },
    { DIFF_GSUB_STRING, "a\0b", "b", "%", 3, 1, 1, 0, 0, 0, 0 },
};

static void
test_hand(lua_State *L)
{
    size_t i;
    int bad = 0;
    const char *stock, *ours;

    for (i = 0; i < sizeof(hand_cases) / sizeof(hand_cases[0]); i++) {
        const struct hand *h = &hand_cases[i];
        struct diff_case c = { h->kind, h->s, h->p, h->r, strlen(h->s), strlen(h->p),
                               h->r ? strlen(h->r) : 0, h->init != 0, h->init, h->n != NONE, h->n };

        if (!diff_same(L, &c, &stock, &ours)) {
            bad++;
            printf("# case %zu: find/match/.. kind %d on \"%s\" with \"%s\"\n#   stock: %s\n#   ours:  %s\n",
                   i, h->kind, h->s, h->p, stock ? stock : "?", ours ? ours : "?");
        }
    }
    ok(bad == 0, "%zu hand-written cases answer as Lua 5.1 does (%d differ)",
       sizeof(hand_cases) / sizeof(hand_cases[0]), bad);
    bad = 0;
    for (i = 0; i < sizeof(nul_cases) / sizeof(nul_cases[0]); i++)
        if (!diff_same(L, &nul_cases[i], &stock, &ours)) {
            bad++;
            printf("# nul case %zu\n#   stock: %s\n#   ours:  %s\n", i, stock ? stock : "?", ours ? ours : "?");
        }
    ok(bad == 0, "subjects and patterns holding '\\0' answer as Lua 5.1 does (%d differ)", bad);
}

/* Argument errors: the same messages, naming the function. */
static void
test_arguments(lua_State *L)
{
    static const char *calls[] = {
        "return F.find()", "return F.find('x')", "return F.find({}, 'x')", "return F.find('x', 'x', 'y')",
        "return F.find('x', 'x', 1.5)", "return F.find(12, 2)", "return F.match(nil, 'x')",
        "return F.match('x')", "return F.gmatch('x')", "return F.gmatch({}, 'x')",
        "return F.gsub('x', 'x')", "return F.gsub('x', 'x', true)", "return F.gsub('x', 'x', {}, 'n')",
        "return F.gsub('x')", "return F.gsub(123, 2, 5)", "return F.rep()", "return F.rep('x')",
        "return F.rep('x', 'y')", "return F.rep(5, 3)", "return F.rep('ab', 3)", "return F.rep('ab', 0)",
        "return F.rep('ab', -1)", "return ('x'):find()", "return F.match('x', 'x', {})",
        NULL
    };
    int i, bad = 0;

    for (i = 0; calls[i]; i++) {
        const char *answer[2];
        int side;

        for (side = 0; side < 2; side++) {
            lua_settop(L, 0);
            lua_getglobal(L, side ? "M" : "S");
            lua_setglobal(L, "F");
            if (side == 1) {
                /* the method form goes through the strings' metatable */
                strlib_install(L);
            }
            luaL_loadstring(L, calls[i]);
            lua_pcall(L, 0, 1, 0);
            answer[side] = lua_tostring(L, -1) ? lua_tostring(L, -1) : "(not a string)";
            lua_pushstring(L, answer[side]);
            lua_setglobal(L, side ? "answer_ours" : "answer_stock");
            if (side == 1) {
                lua_getglobal(L, "string");
                lua_getglobal(L, "S");
                lua_getfield(L, -1, "find");
                lua_setfield(L, -3, "find");
                lua_getfield(L, -1, "match");
                lua_setfield(L, -3, "match");
                lua_getfield(L, -1, "gmatch");
                lua_setfield(L, -3, "gmatch");
                lua_getfield(L, -1, "gsub");
                lua_setfield(L, -3, "gsub");
                lua_getfield(L, -1, "rep");
                lua_setfield(L, -3, "rep");
                lua_pop(L, 2);
            }
        }
        lua_getglobal(L, "answer_stock");
        lua_getglobal(L, "answer_ours");
        if (strcmp(lua_tostring(L, -2), lua_tostring(L, -1)) != 0) {
            bad++;
            printf("# %s\n#   stock: %s\n#   ours:  %s\n", calls[i], lua_tostring(L, -2), lua_tostring(L, -1));
        }
    }
    ok(bad == 0, "argument errors read as Lua 5.1's (%d calls, %d differ)", i, bad);
}

/* ---- generated cases --------------------------------------------------- */

static uint32_t rnd_state = 20260101u;

static uint32_t
rnd(uint32_t n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state % n;
}

static const char subject_chars[] = "aaabbc()[]%-.^$ 1A_\n\0xyz";

/* Mostly short; one in six long enough for the start tables of find and
 * gsub to be built. */
static size_t
gen_subject(char *out)
{
    size_t i, n = rnd(6) == 0 ? 64 + rnd(100) : rnd(14);

    for (i = 0; i < n; i++)
        out[i] = subject_chars[rnd(sizeof(subject_chars) - 1)];
    return n;
}

static void
gen_add(char *out, size_t *n, size_t cap, const char *piece)
{
    size_t l = strlen(piece);

    if (*n + l < cap) {
        memcpy(out + *n, piece, l);
        *n += l;
    }
}

/* One single-character item. */
static void
gen_class(char *out, size_t *n, size_t cap)
{
    static const char *pieces[] = {
        "a", "b", "c", "x", ".", "%a", "%d", "%s", "%w", "%p", "%l", "%u", "%c", "%x", "%z",
        "%A", "%D", "%S", "%W", "%P", "%%", "%.", "%(", "%)", "%[", "%]", "%-", "%^", "%$",
        "[ab]", "[^ab]", "[a-c]", "[%a_]", "[^%s]", "[]]", "[^]]", "[a-]", "[-a]", "[%]x]",
        "[%w%p]", "[z-a]", "[b-b]", "]", "^", "-", " ", "1", "A", "(", ")", "[", "%",
    };
    gen_add(out, n, cap, pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))]);
}

static size_t
gen_pattern(char *out, size_t cap, int max_quantifiers)
{
    static const char *specials[] = {
        "%bab", "%b()", "%b[]", "%bxy", "%b", "%ba", "%f[%a]", "%f[%A]", "%f[ab]", "%f[%z]", "%f[^%z]",
        "%fa", "%f", "%1", "%2", "%3", "%0", "()", "(", ")", "%", "[", "[a", "[^", "$", "^",
    };
    size_t n = 0;
    int items = 1 + (int)rnd(6), quantifiers = 0, open = 0, i;

    if (rnd(5) == 0)
        gen_add(out, &n, cap, "^");
    for (i = 0; i < items; i++) {
        uint32_t r = rnd(20);

        if (r < 3) {
            gen_add(out, &n, cap, specials[rnd(sizeof(specials) / sizeof(specials[0]))]);
        } else if (r < 6) {
            gen_add(out, &n, cap, "(");
            open++;
        } else if (r < 8 && open > 0) {
            gen_add(out, &n, cap, ")");
            open--;
        } else {
            gen_class(out, &n, cap);
            /* the stock matcher is exponential: few quantifiers */
            if (quantifiers < max_quantifiers && rnd(3) == 0) {
                static const char *q[] = { "?", "*", "+", "-" };
                gen_add(out, &n, cap, q[rnd(4)]);
                quantifiers++;
            }
        }
    }
    while (open > 0 && rnd(4) != 0) {
        gen_add(out, &n, cap, ")");
        open--;
    }
    if (rnd(6) == 0)
        gen_add(out, &n, cap, "$");
    return n;
}

static size_t
gen_replacement(char *out, size_t cap)
{
    static const char *pieces[] = { "x", "-", "%0", "%1", "%2", "%3", "%%", "%a", "%", "<", ">", "%9" };
    size_t n = 0;
    int i, k = (int)rnd(4);

    for (i = 0; i < k; i++)
        gen_add(out, &n, cap, pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))]);
    return n;
}

static void
test_generated(lua_State *L)
{
    char s[256], p[128], r[64];
    const char *stock, *ours;
    int i, bad = 0, errors = 0;

    for (i = 0; i < GENERATED; i++) {
        struct diff_case c;

        memset(&c, 0, sizeof(c));
        c.kind = (int)rnd(DIFF_KINDS);
        c.s = s;
        c.p = p;
        c.r = r;
        c.ls = gen_subject(s);
        /* the stock matcher is about n^(k+1) in k quantifiers */
        c.lp = gen_pattern(p, sizeof(p), c.ls > 32 ? 1 : 3);
        c.lr = gen_replacement(r, sizeof(r));
        if (rnd(3) == 0) {
            c.has_init = 1;
            c.init = (int)rnd(31) - 15;
        }
        if (rnd(3) == 0) {
            c.has_n = 1;
            c.n = (int)rnd(6) - 1;
        }
        if (!diff_same(L, &c, &stock, &ours)) {
            if (bad++ < 10)
                printf("# kind %d subject \"%.*s\" pattern \"%.*s\" repl \"%.*s\" init %d n %d\n"
                       "#   stock: %s\n#   ours:  %s\n", c.kind, (int)c.ls, s, (int)c.lp, p, (int)c.lr, r,
                       c.has_init ? c.init : 0, c.has_n ? c.n : 99, stock ? stock : "?", ours ? ours : "?");
        } else if (strncmp(stock, "false", 5) == 0) {
            errors++;
        }
    }
    ok(bad == 0, "%d generated cases answer as Lua 5.1 does (%d differ)", GENERATED, bad);
    ok(errors > GENERATED / 20 && errors < GENERATED / 2,
       "and a fair share of them (%d) are errors, compared message for message", errors);
}

/* ---- what only ours does ----------------------------------------------- */

static const char *
run(lua_State *L, const char *code)
{
    lua_settop(L, 0);
    if (luaL_loadstring(L, code) != 0 || lua_pcall(L, 0, 1, 0) != 0)
        return lua_tostring(L, -1);
    return lua_tostring(L, -1) ? lua_tostring(L, -1) : "(not a string)";
}

static void
test_depth(lua_State *L)
{
    like(run(L, "return select(2, pcall(M.find, ('a'):rep(1e6), ('a?'):rep(1e6) .. '$'))"),
         "pattern too complex", "a million a? raises \"pattern too complex\" instead of overflowing the stack");
    like(run(L, "return select(2, pcall(M.match, ('a'):rep(300), ('(a?)'):rep(30) .. ('a?'):rep(300)))"),
         "pattern too complex", "so does a deep pattern with captures");
    is_str(run(L, "return tostring(#M.match(('a'):rep(150), ('a?'):rep(150) .. '$'))"), "150", "150 nested items are still fine");
    is_str(run(L, "return tostring(#M.match(('x'):rep(1e6), '.*'))"), "1000000",
           "the depth bound does not depend on the subject's length");
    is_str(run(L, "return tostring(#M.gsub(('ab'):rep(1e5), '(a)(b)', '%2%1'))"), "200000",
           "nor does it in gsub over a long subject");
}

/* How many looks at the deadline the chunk CODE makes. */
static int
checks_in(lua_State *L, const char *code)
{
    check_calls = 0;
    check_units = 0;
    run(L, code);
    return check_calls;
}

static void
test_deadline(lua_State *L)
{
    int n;

    n = checks_in(L, "return M.find(('a'):rep(40), '.-.-.-b')");
    ok(n > 0, "a long match looks at the deadline (%d times)", n);
    is_int(checks_in(L, "return M.find('hello', 'l+')"), 0, "a short one does not");

    check_armed = 1;
    like(run(L, "return select(2, pcall(M.find, ('a'):rep(140), '.-.-.-.-b'))"), "timeout",
         "find: past the deadline, the matcher stops with the timeout error");
    like(run(L, "return select(2, pcall(M.gsub, ('a'):rep(140), '.-.-.-.-b', ''))"), "timeout",
         "gsub too");
    like(run(L, "return select(2, pcall(function() for x in M.gmatch(('a'):rep(140), '.-.-.-.-b') do end end))"),
         "timeout", "gmatch too");
    like(run(L, "return select(2, pcall(M.find, ('a'):rep(2e6), ('a'):rep(1e6) .. 'b', 1, true))"), "timeout",
         "a plain find with many near misses too");
    like(run(L, "return select(2, pcall(M.rep, 'abc', 1e7))"), "timeout", "rep too");
    is_str(run(L, "return M.find('hello', 'l') .. ''"), "3", "short calls still answer");
    check_armed = 0;
}

/* Work that does not recurse costs as much as work that does: each case
 * below runs for many seconds in a daemon at ten times its size here, and
 * must look at the deadline about once per CHECK_UNITS of real work. */
static void
test_work(lua_State *L)
{
    int n;

    n = checks_in(L, "return M.match(('a'):rep(4000), ('a'):rep(4000) .. 'b')");
    ok(n >= 100, "a long pattern of plain characters is charged per item (%d looks)", n);
    n = checks_in(L, "return M.match(('a'):rep(100), ('b?'):rep(2e4) .. 'c')");
    ok(n >= 50, "so is a long run of x? that fails (%d looks)", n);
    n = checks_in(L, "return M.match(('a '):rep(500), ('%f[%a]'):rep(5e3) .. 'b')");
    ok(n >= 100, "so is a long run of %%f (%d looks)", n);
    n = checks_in(L, "local set = '[' .. ('b'):rep(1e5) .. 'a]' for i = 1, 2 do M.find(('a'):rep(64), set) end");
    ok(n >= 400, "a long set costs its length, also when it builds the start table (%d looks)", n);
    n = checks_in(L, "local set = '[' .. ('b'):rep(1e5) .. 'a]+$' M.find(('a'):rep(200) .. 'c', set)");
    ok(n >= 1000, "and per byte it tests (%d looks)", n);
    n = checks_in(L, "local p, s = ('b?'):rep(200) .. 'c', ('a'):rep(4) for i = 1, 1e4 do M.match(s, p) end");
    ok(n >= 100, "many short calls add up (%d looks)", n);
    n = checks_in(L, "local p, s = ('b?'):rep(200) .. '[', ('a'):rep(4) for i = 1, 1e4 do pcall(M.match, s, p) end");
    ok(n >= 100, "also when every call fails with an error (%d looks)", n);
    n = checks_in(L, "local p, s = ('b?'):rep(200) .. 'c', ('a'):rep(4) for x in M.gmatch(('a'):rep(2e3), ('b?'):rep(200) .. 'a') do end");
    ok(n >= 10, "gmatch's calls add up too (%d looks)", n);
    n = checks_in(L, "return M.gsub(('a'):rep(100), '', ('%0'):rep(5e4))");
    ok(n >= 100, "a gsub replacement costs its length per match (%d looks)", n);
    n = checks_in(L, "return M.find(('x'):rep(3e3), '(x*)%1y')");
    ok(n < 10000, "a backreference does not look at the clock for each compare (%d looks)", n);

    check_armed = 1;
    like(run(L, "return select(2, pcall(M.match, ('a'):rep(4000), ('a'):rep(4000) .. 'b'))"), "timeout",
         "past the deadline, a long plain pattern stops with the timeout error");
    like(run(L, "local p, s = ('b?'):rep(200) .. 'c', ('a'):rep(4) "
                "return select(2, pcall(function() for i = 1, 1e4 do M.match(s, p) end end))"), "timeout",
         "and so do many short calls");
    check_armed = 0;
}

static void
test_rep(lua_State *L)
{
    is_str(run(L, "return tostring(M.rep('', 2^31 - 1) == '')"), "true", "rep('', 2^31 - 1) is '' at once");
    is_str(run(L, "return tostring(M.rep('abc', 3))"), "abcabcabc", "rep repeats");
    is_str(run(L, "local s = M.rep('0123456789', 300000) return tostring(#s == 3e6 and s == S.rep('0123456789', 300000))"),
           "true", "a large rep is the same as the stock one, across its copy chunks");
    is_str(run(L, "local s = M.rep(S.rep('q', 1500000) .. 'z', 3) return tostring(s == S.rep(S.rep('q', 1500000) .. 'z', 3))"),
           "true", "and so is one whose piece is larger than a chunk");
}

/* An allocator with a cap, as the daemon's state has. */
static size_t mem_used, mem_limit;

static void *
capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (ptr == NULL)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && mem_used + (nsize - osize) > mem_limit)
        return NULL;
    ptr = realloc(ptr, nsize);
    if (ptr != NULL)
        mem_used = mem_used - osize + nsize;
    return ptr;
}

static void
test_memory(void)
{
    lua_State *L;

    mem_limit = (size_t)8 * 1024 * 1024;
    L = lua_newstate(capped_alloc, NULL);
    luaL_openlibs(L);
    strlib_install(L);
    like(run(L, "return select(2, pcall(string.rep, 'x', 64 * 1024 * 1024))"), "not enough memory",
         "rep past the allocator's cap fails with \"not enough memory\"");
    like(run(L, "local s = string.rep('x', 1024 * 1024) return select(2, pcall(string.gsub, s, 'x', '0123456789'))"),
         "not enough memory", "gsub's result is built through the allocator too");
    is_str(run(L, "return tostring(#string.gsub(string.rep('x', 1000), 'x', 'yy'))"), "2000",
           "and the state goes on working");
    lua_close(L);
}

int
main(void)
{
    lua_State *L = diff_open();

    if (!ok(L != NULL, "a state with the stock and our functions"))
        return done_testing();
    test_hand(L);
    test_arguments(L);
    test_generated(L);
    test_depth(L);
    test_deadline(L);
    test_work(L);
    test_rep(L);
    lua_close(L);
    test_memory();
    return done_testing();
}
