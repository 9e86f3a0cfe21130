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
 * the dictionary's lock, which the next holder then finds abandoned). The
 * stores are ordered so that the heap stays walkable block by block: a
 * split writes the remainder's header before it shrinks the block, a
 * merge grows the surviving block with one store. The free lists may be
 * left half-linked; shm_check.c rebuilds them from the walk.
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

static void
shm_list_insert(struct shm_head *h, uint32_t off)
{
    struct shm_block *b = SHM_BLOCK(h, off);
    struct shm_free *f = SHM_BODY(b);
    unsigned c = shm_class(b->size);
    struct shm_block *nb;

    f->prev = 0;
    f->next = h->lists[c];
    if (f->next) {
        if ((nb = shm_block_at(h, f->next, SHM_KIND_FREE)) != NULL)
            ((struct shm_free *)SHM_BODY(nb))->prev = off;
        else {
            h->damaged = 1;
            f->next = 0;
        }
    }
    h->lists[c] = off;
    h->bitmap[c / 32] |= 1u << (c % 32);
}

static void
shm_list_remove(struct shm_head *h, uint32_t off)
{
    struct shm_block *b = SHM_BLOCK(h, off), *nb;
    struct shm_free *f = SHM_BODY(b);
    unsigned c = shm_class(b->size);

    if (f->prev) {
        if ((nb = shm_block_at(h, f->prev, SHM_KIND_FREE)) != NULL)
            ((struct shm_free *)SHM_BODY(nb))->next = f->next;
        else
            h->damaged = 1;
    } else if (h->lists[c] == off)
        h->lists[c] = f->next;
    else
        h->damaged = 1;
    if (f->next) {
        if ((nb = shm_block_at(h, f->next, SHM_KIND_FREE)) != NULL)
            ((struct shm_free *)SHM_BODY(nb))->prev = f->prev;
        else
            h->damaged = 1;
    }
    if (h->lists[c] == 0)
        h->bitmap[c / 32] &= ~(1u << (c % 32));
}

/* Make OFF..OFF+SIZE one free block on its list (its neighbours are not
 * free: the caller merged them). */
void
shm_arena_add_free(struct shm_head *h, uint32_t off, uint32_t size)
{
    struct shm_block *b = SHM_BLOCK(h, off);
    struct shm_footer *ft = SHM_AT(h, off + size - 1);
    struct shm_block *next;

    b->size = size;
    b->magic = SHM_BLOCK_MAGIC;
    b->kind = SHM_KIND_FREE;
    b->bits &= SHM_BIT_PREV_FREE;
    ft->size = size;
    ft->magic = SHM_BLOCK_MAGIC;
    shm_list_insert(h, off);
    if (off + size < h->heap_end) {
        next = SHM_BLOCK(h, off + size);
        next->bits |= SHM_BIT_PREV_FREE;
    }
}

void
shm_arena_clear_lists(struct shm_head *h)
{
    memset(h->lists, 0, sizeof(h->lists));
    memset(h->bitmap, 0, sizeof(h->bitmap));
}

/* An empty heap: the bucket array, then one free block. */
void
shm_arena_format(struct shm_head *h)
{
    uint32_t heap = h->heap, bsize;
    struct shm_block *b;

    bsize = shm_granules((size_t)h->nbuckets * sizeof(uint32_t));
    b = SHM_BLOCK(h, heap);
    b->size = bsize;
    b->magic = SHM_BLOCK_MAGIC;
    b->kind = SHM_KIND_BUCKETS;
    b->bits = 0;
    memset(SHM_BODY(b), 0, (size_t)bsize * SHM_GRANULE - sizeof(*b));
    h->buckets = heap;
    shm_arena_clear_lists(h);
    h->lru_head = h->lru_tail = 0;
    h->keys = 0;
    h->damaged = 0;
    h->free_granules = h->heap_end - heap - bsize;
    SHM_BLOCK(h, heap + bsize)->bits = 0;
    shm_arena_add_free(h, heap + bsize, h->heap_end - heap - bsize);
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

/* A free block of at least N granules, off its list; 0 when none. */
static uint32_t
shm_take(struct shm_head *h, uint32_t n)
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
        shm_list_remove(h, off);
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
        if (b->size >= n) {
            shm_list_remove(h, off);
            return off;
        }
        off = ((struct shm_free *)SHM_BODY(b))->next;
    }
    return 0;
}

/* A block of N granules (N >= SHM_MIN_BLOCK) of KIND; 0 when the heap has
 * no free block that large. */
uint32_t
shm_arena_alloc(struct shm_head *h, uint32_t n, int kind)
{
    uint32_t off = shm_take(h, n), size, rest;
    struct shm_block *b, *r;

    if (off == 0)
        return 0;
    b = SHM_BLOCK(h, off);
    size = b->size;
    if (size - n >= SHM_MIN_BLOCK) {
        /* the remainder's header first: the heap stays walkable */
        rest = off + n;
        r = SHM_BLOCK(h, rest);
        r->bits = 0;
        shm_arena_add_free(h, rest, size - n);
        b->size = n;
    } else if (off + size < h->heap_end) {
        SHM_BLOCK(h, off + size)->bits &= (uint8_t)~SHM_BIT_PREV_FREE;
    }
    b->kind = (uint8_t)kind;
    b->bits &= (uint8_t)~SHM_BIT_MARK;
    h->free_granules -= b->size;
    return off;
}

/* Give the block at OFF back, merged with its free neighbours. */
void
shm_arena_free(struct shm_head *h, uint32_t off)
{
    struct shm_block *b = SHM_BLOCK(h, off), *n, *p;
    struct shm_footer *ft;
    uint32_t size = b->size, prev;

    h->free_granules += size;
    b->kind = SHM_KIND_FREE;
    if (off + size < h->heap_end && (n = shm_block_at(h, off + size, SHM_KIND_FREE)) != NULL) {
        shm_list_remove(h, off + size);
        size += n->size;
        b->size = size;
    }
    if (b->bits & SHM_BIT_PREV_FREE) {
        ft = SHM_AT(h, off - 1);
        prev = off - ft->size;
        if (ft->magic != SHM_BLOCK_MAGIC || ft->size > off - h->heap ||
            (p = shm_block_at(h, prev, SHM_KIND_FREE)) == NULL || p->size != ft->size) {
            h->damaged = 1;
        } else {
            shm_list_remove(h, prev);
            p->size += size;
            off = prev;
            size = p->size;
        }
    }
    shm_arena_add_free(h, off, size);
}

/* The largest block the heap could ever give: all of it but the buckets. */
uint32_t
shm_arena_largest(struct shm_head *h)
{
    return h->heap_end - h->heap - SHM_BLOCK(h, h->buckets)->size;
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
