/* A state's slab: block reuse, chunk growth, and a random run checked
 * against a record of what every live block must hold. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slab.h"
#include "tap.h"

#define LIVE 2000

struct block {
    unsigned char *p;
    size_t         n;
    unsigned char  fill;
};

static unsigned rnd_state = 12345;

static unsigned
rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

static size_t
rnd_size(void)
{
    unsigned r = rnd(100);

    if (r < 85)
        return 1 + rnd(SLAB_MAX);               /* most Lua blocks are small */
    if (r < 95)
        return SLAB_MAX - 16 + rnd(32);         /* either side of the limit */
    return SLAB_MAX + 1 + rnd(8000);
}

static int
block_intact(const struct block *b)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        if (b->p[i] != b->fill)
            return 0;
    return 1;
}

static void
test_reuse(void)
{
    struct slab s;
    void *a, *b, *c;

    slab_init(&s);
    a = slab_realloc(&s, NULL, 0, 40);
    ok(a != NULL && ((uintptr_t)a % SLAB_STEP) == 0, "a small block is aligned like malloc's");
    is_int(s.footprint, SLAB_FIRST, "the first chunk has the starting size");
    b = slab_realloc(&s, NULL, 0, 40);
    ok(b != a, "two blocks are distinct");
    slab_realloc(&s, a, 40, 0);
    c = slab_realloc(&s, NULL, 0, 33);
    ok(c == a, "a freed block is reused by the next one of its class");
    ok(slab_realloc(&s, c, 33, 48) == c, "growing within its class keeps the block");
    memset(c, 'q', 48);
    c = slab_realloc(&s, c, 48, 200);
    ok(c != a && memcmp(c, "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", 48) == 0,
       "growing past its class moves it, contents kept");
    c = slab_realloc(&s, c, 200, 4000);
    ok(c != NULL && memcmp(c, "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", 48) == 0,
       "growing past SLAB_MAX moves it to malloc, contents kept");
    c = slab_realloc(&s, c, 4000, 16);
    ok(c != NULL && memcmp(c, "qqqqqqqqqqqqqqqq", 16) == 0, "and shrinking brings it back");
    ok(slab_realloc(&s, c, 16, 0) == NULL, "freeing returns NULL");
    ok(slab_realloc(&s, NULL, 0, 0) == NULL, "a zero-size allocation is NULL");
    slab_realloc(&s, b, 40, 0);
    slab_release(&s);
    ok(s.chunks == NULL && s.footprint == 0, "release gives every chunk back");
}

static void
test_growth(void)
{
    struct slab s;
    size_t i, blocks = 4 * SLAB_CHUNK / SLAB_MAX;

    slab_init(&s);
    for (i = 0; i < blocks; i++)
        if (slab_realloc(&s, NULL, 0, SLAB_MAX) == NULL)
            break;
    is_int(i, blocks, "many blocks can be carved");
    ok(s.footprint >= blocks * SLAB_MAX && s.footprint < blocks * SLAB_MAX + 2 * SLAB_CHUNK,
       "chunks grow to SLAB_CHUNK and hold the blocks with little waste");
    slab_release(&s);
    is_int(s.footprint, 0, "all of it goes back");
}

static void
test_random(void)
{
    static struct block live[LIVE];
    struct slab s;
    size_t i, n, bad = 0, moves = 0;
    unsigned step;

    slab_init(&s);
    for (step = 0; step < 200000; step++) {
        struct block *b = &live[rnd(LIVE)];
        unsigned char *p;

        if (b->p != NULL && !block_intact(b))
            bad++;
        if (b->p == NULL) {
            n = rnd_size();
            if ((b->p = slab_realloc(&s, NULL, 0, n)) == NULL)
                break;
            b->n = n;
        } else if (rnd(3) == 0) {
            slab_realloc(&s, b->p, b->n, 0);
            b->p = NULL;
            continue;
        } else {
            uintptr_t was = (uintptr_t)b->p;

            n = rnd_size();
            if ((p = slab_realloc(&s, b->p, b->n, n)) == NULL)
                break;
            moves += (uintptr_t)p != was;
            b->p = p;
            b->n = n;
        }
        b->fill = (unsigned char)rnd(256);
        memset(b->p, b->fill, b->n);
    }
    is_int(step, 200000, "200000 random allocations, reallocations and frees all succeed");
    for (i = 0; i < LIVE; i++)
        if (live[i].p != NULL && !block_intact(&live[i]))
            bad++;
    is_int(bad, 0, "no block was ever overwritten by another");
    ok(moves > 0, "some reallocations moved blocks");
    ok(s.footprint < (size_t)4 * LIVE * SLAB_MAX, "the chunks stay near the live size (freed blocks are reused)");
    for (i = 0; i < LIVE; i++)
        if (live[i].p != NULL)
            slab_realloc(&s, live[i].p, live[i].n, 0);
    slab_release(&s);
    is_int(s.footprint, 0, "everything goes back at release");
}

int
main(void)
{
    test_reuse();
    test_growth();
    test_random();
    return done_testing();
}
