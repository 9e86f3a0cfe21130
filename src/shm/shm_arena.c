/*
 * shm_arena.c: the block allocator inside a dictionary's arena.
 *
 * A dictionary must never take more than its SIZE, whatever the scripts
 * store, so it allocates from its own fixed heap, never from malloc. The
 * heap is cut into blocks with boundary tags: free blocks sit on
 * segregated lists (one per size up to SHM_EXACT granules, four per power
 * of two above), a bitmap finds the first non-empty list that fits in a
 * few word scans, and a freed block merges with free neighbours on both
 * sides at once, so the heap does not crumble into pieces too small for
 * the next value. Unlike a slab allocator (ngx_lua's), a size that was
 * popular once does not keep its pages: a 1 MiB dictionary can hold one
 * 900 KiB value after holding ten thousand counters.
 *
 * Crash order: a process can die between any two stores here (it holds
 * the dictionary's lock, which the next holder then finds abandoned).
 * Every store to a granule in use (a header, a footer, a free block's
 * links, a list head, the bitmap, a figure) is logged first (SHM_SET,
 * shm_undo.c), so the next holder puts the heap back as it was before the
 * step; what a new block's body receives needs no record, except the
 * granules of the free block it was cut from that stay meaningful if the
 * cut is undone (its links and its footer), which alloc logs.
 *
 * A shrink (shm_resize.c) sets a limit below the heap's end: nothing is
 * allocated past it. A free block past it is parked (kind FREE, on no
 * list, SHM_BIT_PARKED), one that straddles it is cut at it, so that once
 * every entry is moved below the limit, what lies past it is one free
 * block, cut off at once.
 *
 * Every link followed is checked (shm_block_at); a bad one marks the
 * dictionary damaged, and it is repaired before its lock is let go.
 * Callers hold the dictionary's lock.
 */
#include <string.h>

#include "shm_impl.h"

/* The free list for a block of SIZE granules. */
static unsigned
shm_class(uint32_t size)
{
    unsigned fl = 0;
    uint32_t v = size;

    if (size < SHM_EXACT)
        return size;
    while (v >>= 1)
        fl++;
    return SHM_EXACT + (fl - 6) * 4 + ((size >> (fl - 2)) & 3);
}

/* The smallest size in list C. */
static uint32_t
shm_class_min(unsigned c)
{
    unsigned k, fl;

    if (c < SHM_EXACT)
        return c;
    k = c - SHM_EXACT;
    fl = 6 + k / 4;
    return (1u << fl) + (k % 4) * (1u << (fl - 2));
}

/* The head of size class C's list and its bit, logged. */
static void
shm_list_set_head(struct shm_head *h, unsigned c, uint32_t off)
{
    uint32_t bits = h->bitmap[c / 32];

    SHM_SET(h, h->lists[c], off);
    bits = off ? bits | (1u << (c % 32)) : bits & ~(1u << (c % 32));
    if (bits != h->bitmap[c / 32])
        SHM_SET(h, h->bitmap[c / 32], bits);
}

static void
shm_list_insert(struct shm_head *h, uint32_t off)
{
    struct shm_block *b = SHM_BLOCK(h, off), *nb = NULL;
    struct shm_free *f = SHM_BODY(b);
    unsigned c = shm_class(b->size);
    uint32_t next = h->lists[c];

    if (next && ((nb = shm_block_at(h, next, SHM_KIND_FREE)) == NULL ||
                 ((struct shm_free *)SHM_BODY(nb))->prev != 0)) {
        nb = NULL;
        h->damaged = 1;
        next = 0;
    }
    shm_log(h, f);
    f->prev = 0;
    f->next = next;
    if (nb)
        SHM_SET(h, ((struct shm_free *)SHM_BODY(nb))->prev, off);
    shm_list_set_head(h, c, off);
}

static void
shm_list_remove(struct shm_head *h, uint32_t off)
{
    struct shm_block *b = SHM_BLOCK(h, off), *nb;
    struct shm_free *f = SHM_BODY(b);
    unsigned c = shm_class(b->size);

    /* each neighbour must link back to OFF: one that names another
     * block is damage, never written through */
    if (f->prev == off || f->next == off) {
        h->damaged = 1;     /* its own neighbour: its link back would pass */
        return;
    }
    if (f->prev) {
        if ((nb = shm_block_at(h, f->prev, SHM_KIND_FREE)) != NULL &&
            ((struct shm_free *)SHM_BODY(nb))->next == off)
            SHM_SET(h, ((struct shm_free *)SHM_BODY(nb))->next, f->next);
        else
            h->damaged = 1;
    } else if (h->lists[c] == off)
        shm_list_set_head(h, c, f->next);
    else
        h->damaged = 1;
    if (f->next) {
        if ((nb = shm_block_at(h, f->next, SHM_KIND_FREE)) != NULL &&
            ((struct shm_free *)SHM_BODY(nb))->prev == off)
            SHM_SET(h, ((struct shm_free *)SHM_BODY(nb))->prev, f->prev);
        else
            h->damaged = 1;
    }
}

/* Take the free block at OFF off its list, unless it is parked. */
void
shm_arena_unlist(struct shm_head *h, uint32_t off)
{
    if (!(SHM_BLOCK(h, off)->bits & SHM_BIT_PARKED))
        shm_list_remove(h, off);
}

/* OFF..OFF+SIZE made one free block, on its list or PARKED; BITS its
 * header's bits (whether the block before it is free). */
static void
shm_free_block(struct shm_head *h, uint32_t off, uint32_t size, uint8_t bits, int parked)
{
    struct shm_block *b = SHM_BLOCK(h, off);
    struct shm_footer *ft = SHM_AT(h, off + size - 1);
    struct shm_block *next;

    shm_log(h, b);
    b->size = size;
    b->magic = SHM_BLOCK_MAGIC;
    b->kind = SHM_KIND_FREE;
    b->bits = (uint8_t)((bits & SHM_BIT_PREV_FREE) | (parked ? SHM_BIT_PARKED : 0));
    shm_log(h, ft);
    ft->size = size;
    ft->magic = SHM_BLOCK_MAGIC;
    if (!parked)
        shm_list_insert(h, off);
    if (off + size < h->heap_end) {
        next = SHM_BLOCK(h, off + size);
        if (!(next->bits & SHM_BIT_PREV_FREE))
            SHM_SET(h, next->bits, (uint8_t)(next->bits | SHM_BIT_PREV_FREE));
    }
}

/* Make OFF..OFF+SIZE free (its neighbours are not free: the caller merged
 * them): on its list; past a shrink's limit, parked, and cut at the
 * limit when it straddles it. */
void
shm_arena_add_free(struct shm_head *h, uint32_t off, uint32_t size)
{
    uint8_t bits = SHM_BLOCK(h, off)->bits;
    uint32_t lim = h->limit;

    if (lim >= h->heap_end || off + size <= lim) {
        shm_free_block(h, off, size, bits, 0);
    } else if (off < lim && lim - off >= SHM_MIN_BLOCK && off + size - lim >= SHM_MIN_BLOCK) {
        shm_free_block(h, lim, off + size - lim, SHM_BIT_PREV_FREE, 1);
        shm_free_block(h, off, lim - off, bits, 0);
    } else {
        shm_free_block(h, off, size, bits, 1);
    }
}

void
shm_arena_clear_lists(struct shm_head *h)
{
    unsigned i;

    for (i = 0; i < SHM_CLASSES; i++)
        if (h->lists[i])
            SHM_SET(h, h->lists[i], 0);
    for (i = 0; i < SHM_BITMAP_WORDS; i++)
        if (h->bitmap[i])
            SHM_SET(h, h->bitmap[i], 0);
}

/* An empty heap: the bucket array, then one free block. ZEROED: the
 * memory is known to be zeros (a new file): its pages are not touched,
 * so a dictionary costs memory only as it fills. Not logged: a format is
 * a repair's (shm_check.c), which a dead holder leaves to be done again. */
void
shm_arena_format(struct shm_head *h, int zeroed)
{
    uint32_t heap = h->heap, bsize;
    struct shm_block *b;

    bsize = shm_granules((size_t)h->nbuckets * sizeof(uint32_t));
    b = SHM_BLOCK(h, heap);
    b->size = bsize;
    b->magic = SHM_BLOCK_MAGIC;
    b->kind = SHM_KIND_BUCKETS;
    b->bits = 0;
    if (!zeroed)
        memset(SHM_BODY(b), 0, (size_t)bsize * SHM_GRANULE - sizeof(*b));
    h->buckets = heap;
    memset(h->lists, 0, sizeof(h->lists));
    memset(h->bitmap, 0, sizeof(h->bitmap));
    h->lru_head = h->lru_tail = 0;
    h->limit = h->heap_end;
    __atomic_store_n(&h->keys, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->free_granules, (uint64_t)(h->heap_end - heap - bsize), __ATOMIC_RELAXED);
    b = SHM_BLOCK(h, heap + bsize);
    b->bits = 0;
    shm_free_block(h, heap + bsize, h->heap_end - heap - bsize, 0, 0);
    h->undo_count = 0;
    h->undo_lost = 0;
}

/* The first non-empty list from C on, or SHM_CLASSES. */
static unsigned
shm_first_list(const struct shm_head *h, unsigned c)
{
    unsigned w = c / 32;
    uint32_t bits;

    if (c >= SHM_CLASSES)
        return SHM_CLASSES;
    bits = h->bitmap[w] & (~0u << (c % 32));
    for (;;) {
        if (bits)
            return w * 32 + (unsigned)__builtin_ctz(bits);
        if (++w == SHM_BITMAP_WORDS)
            return SHM_CLASSES;
        bits = h->bitmap[w];
    }
}

/* A listed free block of at least N granules; 0 when none. */
static uint32_t
shm_find_free(struct shm_head *h, uint32_t n)
{
    unsigned c = shm_class(n), start, i;
    uint32_t off;
    struct shm_block *b;

    start = shm_class_min(c) < n ? c + 1 : c;
    if ((i = shm_first_list(h, start)) < SHM_CLASSES) {
        off = h->lists[i];
        if (shm_block_at(h, off, SHM_KIND_FREE) == NULL) {
            h->damaged = 1;
            return 0;
        }
        return off;
    }
    if (start == c)
        return 0;
    /* the list N falls in holds sizes on both sides of it: look a little */
    for (off = h->lists[c], i = 0; off && i < 64; i++) {
        if ((b = shm_block_at(h, off, SHM_KIND_FREE)) == NULL) {
            h->damaged = 1;
            return 0;
        }
        if (b->size >= n)
            return off;
        off = ((struct shm_free *)SHM_BODY(b))->next;
    }
    return 0;
}

/* A free block of at least N granules below the limit, off its list; 0
 * when none. During a shrink, a block found past the limit is parked (or
 * cut at it) instead, a few at a time. */
static uint32_t
shm_take(struct shm_head *h, uint32_t n)
{
    uint32_t off;
    int tries;

    for (tries = 0; tries < 8; tries++) {
        if ((off = shm_find_free(h, n)) == 0)
            return 0;
        shm_list_remove(h, off);
        if (off + n <= h->limit)
            return off;
        shm_arena_add_free(h, off, SHM_BLOCK(h, off)->size);
    }
    return 0;
}

/* A block of N granules (N >= SHM_MIN_BLOCK) of KIND; 0 when the heap has
 * no free block that large. */
uint32_t
shm_arena_alloc(struct shm_head *h, uint32_t n, int kind)
{
    uint32_t off = shm_take(h, n), size;
    struct shm_block *b, *r;

    if (off == 0)
        return 0;
    b = SHM_BLOCK(h, off);
    size = b->size;
    /* what a cut that is undone needs of the free block: its links, its
     * footer (the new block's body may cover both) */
    shm_log(h, SHM_BODY(b));
    shm_log(h, SHM_AT(h, off + size - 1));
    shm_log(h, b);
    if (size - n >= SHM_MIN_BLOCK) {
        r = SHM_BLOCK(h, off + n);      /* inside the free block: no record needed */
        r->bits = 0;
        b->size = n;
        shm_arena_add_free(h, off + n, size - n);
    } else if (off + size < h->heap_end) {
        r = SHM_BLOCK(h, off + size);
        SHM_SET(h, r->bits, (uint8_t)(r->bits & ~SHM_BIT_PREV_FREE));
    }
    b->kind = (uint8_t)kind;
    b->bits &= (uint8_t)~(SHM_BIT_MARK | SHM_BIT_PARKED);
    SHM_STAT_SUB(h, free_granules, b->size);
    return off;
}

/* Give the block at OFF back, merged with its free neighbours. */
void
shm_arena_free(struct shm_head *h, uint32_t off)
{
    struct shm_block *b = SHM_BLOCK(h, off), *n, *p;
    struct shm_footer *ft;
    uint32_t size = b->size, prev;

    SHM_STAT_ADD(h, free_granules, size);
    shm_log(h, b);
    b->kind = SHM_KIND_FREE;
    if (off + size < h->heap_end && (n = shm_block_at(h, off + size, SHM_KIND_FREE)) != NULL) {
        shm_arena_unlist(h, off + size);
        size += n->size;
    }
    if (b->bits & SHM_BIT_PREV_FREE) {
        ft = SHM_AT(h, off - 1);
        prev = off - ft->size;
        if (ft->magic != SHM_BLOCK_MAGIC || ft->size > off - h->heap ||
            (p = shm_block_at(h, prev, SHM_KIND_FREE)) == NULL || p->size != ft->size) {
            h->damaged = 1;
        } else {
            shm_arena_unlist(h, prev);
            off = prev;
            size += p->size;
        }
    }
    shm_arena_add_free(h, off, size);
}

/* The largest block the heap could ever give: all of it but the buckets
 * (below a shrink's limit). */
uint32_t
shm_arena_largest(struct shm_head *h)
{
    return h->limit - h->heap - SHM_BLOCK(h, h->buckets)->size;
}

/* The key's hash: FNV-1a, seeded per dictionary (so the bucket a key
 * lands in cannot be foretold), folded to 32 bits. */
uint32_t
shm_hash(const struct shm_head *h, const char *key, size_t len)
{
    uint64_t x = 0xcbf29ce484222325ULL ^ h->seed;
    size_t i;

    for (i = 0; i < len; i++) {
        x ^= (unsigned char)key[i];
        x *= 0x100000001b3ULL;
    }
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 32;
    return (uint32_t)x;
}
