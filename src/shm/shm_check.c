/*
 * shm_check.c: the consistency check of a dictionary, and its repair.
 *
 * A process that dies holding a dictionary's lock (kill -9, a C module's
 * crash) may have been anywhere inside an operation. The next holder
 * finds the lock abandoned (EOWNERDEAD, shm_lock.c) and runs this before
 * anything else, so the dictionary is never followed into a crash:
 *
 *  1. walk the heap block by block (the allocator keeps it walkable at
 *     every store): a header that is not a header, or sizes that do not
 *     add up to the heap's end, and the heap itself is lost: the
 *     dictionary is emptied, and that is logged;
 *  2. mark what the hash table reaches: every entry is checked (a block
 *     start of the right kind, lengths that fit, the hash of its key, a
 *     list's nodes and their count); a chain is cut at the first bad
 *     entry;
 *  3. the LRU list must hold exactly the marked entries, linked both
 *     ways; otherwise it is rebuilt from the heap (order lost, keys kept);
 *  4. sweep: every block nothing reached (an entry being written or
 *     removed when the process died) is freed, free neighbours merged,
 *     the free lists and the counts rebuilt.
 *
 * So an abandoned operation costs at most the entry it was working on.
 * Without REPAIR the same walk only reports, changing nothing but the
 * mark bits it clears again (the unit tests' proof that every operation
 * leaves the dictionary consistent). Block starts are kept in a bitmap
 * of one bit per granule (a 64th of the heap), allocated here: a failed
 * allocation empties the dictionary rather than trusting it.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "shm_impl.h"

struct shm_walk {
    struct shm_head *h;
    unsigned char   *starts;    /* bit per granule: a block starts there */
    int              repair;
    int              problem;
};

static int
shm_is_start(const struct shm_walk *w, uint32_t off)
{
    return off >= w->h->heap && off < w->h->heap_end && (w->starts[off / 8] & (1u << (off % 8)));
}

/* The block at OFF if it starts a block of KIND not marked yet. */
static struct shm_block *
shm_walk_block(const struct shm_walk *w, uint32_t off, int kind)
{
    struct shm_block *b;

    if (!shm_is_start(w, off))
        return NULL;
    b = SHM_BLOCK(w->h, off);
    return b->kind == kind && !(b->bits & SHM_BIT_MARK) ? b : NULL;
}

/* Is the header sane enough to walk? */
static int
shm_head_ok(const struct shm_head *h)
{
    return memcmp(h->magic, SHM_MAGIC, sizeof(h->magic)) == 0 && h->layout == SHM_LAYOUT &&
           h->heap >= SHM_HEAD_GRANULES && h->heap < h->heap_end &&
           (uint64_t)h->heap_end * SHM_GRANULE <= h->mapped &&
           h->nbuckets > 0 && (h->nbuckets & (h->nbuckets - 1)) == 0;
}

/* Step 1: the walk. 0, or -1 when the heap is not a chain of blocks. */
static int
shm_walk_heap(struct shm_walk *w)
{
    struct shm_head *h = w->h;
    uint32_t off = h->heap;
    struct shm_block *b;

    while (off < h->heap_end) {
        b = SHM_BLOCK(h, off);
        if (b->magic != SHM_BLOCK_MAGIC || b->size < SHM_MIN_BLOCK || b->size > h->heap_end - off ||
            b->kind < SHM_KIND_FREE || b->kind > SHM_KIND_BUCKETS)
            return -1;
        w->starts[off / 8] |= (unsigned char)(1u << (off % 8));
        b->bits &= (uint8_t)~SHM_BIT_MARK;
        off += b->size;
    }
    b = SHM_BLOCK(h, h->buckets);
    if (!shm_is_start(w, h->buckets) || b->kind != SHM_KIND_BUCKETS ||
        (size_t)b->size * SHM_GRANULE < sizeof(*b) + (size_t)h->nbuckets * sizeof(uint32_t))
        return -1;
    b->bits |= SHM_BIT_MARK;
    return 0;
}

/* A list's nodes: all there, linked both ways, as many as it says. MARK
 * sets their mark bits (the second pass, once they are known good). */
static int
shm_walk_list(const struct shm_walk *w, struct shm_entry *e, int mark)
{
    uint32_t off = e->first, prev = 0, n;
    struct shm_block *b;
    struct shm_node *nd;

    if (e->vlen == 0)
        return -1;
    for (n = 0; off && n < e->vlen; n++) {
        if ((b = shm_walk_block(w, off, SHM_KIND_NODE)) == NULL)
            return -1;
        nd = SHM_BODY(b);
        if (nd->prev != prev || sizeof(*b) + sizeof(*nd) + nd->len > (size_t)b->size * SHM_GRANULE ||
            !(nd->type == SHM_TSTRING || (nd->type == SHM_TNUMBER && nd->len == sizeof(double))))
            return -1;
        if (mark)
            b->bits |= SHM_BIT_MARK;
        prev = off;
        off = nd->next;
    }
    return off == 0 && n == e->vlen && e->last == prev ? 0 : -1;
}

/* Is the block at OFF a sound entry of bucket I? */
static struct shm_entry *
shm_walk_entry(const struct shm_walk *w, uint32_t off, uint32_t i)
{
    struct shm_head *h = w->h;
    struct shm_block *b = shm_walk_block(w, off, SHM_KIND_ENTRY);
    struct shm_entry *e;
    size_t need;

    if (b == NULL)
        return NULL;
    e = SHM_BODY(b);
    need = sizeof(*b) + sizeof(*e) + e->klen + (e->type == SHM_TLIST ? 0 : e->vlen);
    if (e->klen == 0 || need > (size_t)b->size * SHM_GRANULE || (e->hash & (h->nbuckets - 1)) != i ||
        shm_hash(h, SHM_ENTRY_KEY(e), e->klen) != e->hash)
        return NULL;
    switch (e->type) {
    case SHM_TSTRING:
        return e;
    case SHM_TNUMBER:
        return e->vlen == sizeof(double) ? e : NULL;
    case SHM_TBOOLEAN:
        return e->vlen == 1 ? e : NULL;
    case SHM_TLIST:
        return shm_walk_list(w, e, 0) == 0 ? e : NULL;
    default:
        return NULL;
    }
}

/* Step 2: mark what the buckets reach; the entries kept. */
static unsigned long
shm_walk_buckets(struct shm_walk *w, struct shm_check_result *res)
{
    struct shm_head *h = w->h;
    uint32_t *bk = shm_buckets(h), *link, i;
    struct shm_entry *e;
    unsigned long kept = 0;

    for (i = 0; i < h->nbuckets; i++) {
        for (link = &bk[i]; *link; link = &e->hnext) {
            if ((e = shm_walk_entry(w, *link, i)) == NULL) {
                w->problem = 1;
                res->dropped++;
                if (w->repair)
                    *link = 0;
                break;
            }
            SHM_BLOCK(h, *link)->bits |= SHM_BIT_MARK;
            if (e->type == SHM_TLIST)
                shm_walk_list(w, e, 1);
            kept++;
        }
    }
    return kept;
}

/* Step 3: the LRU list holds the KEPT entries, each once, both ways. */
static int
shm_walk_lru(const struct shm_walk *w, unsigned long kept)
{
    struct shm_head *h = w->h;
    uint32_t off = h->lru_head, prev = 0;
    unsigned long n = 0;
    struct shm_block *b;
    struct shm_entry *e;

    while (off) {
        if (!shm_is_start(w, off) || (b = SHM_BLOCK(h, off))->kind != SHM_KIND_ENTRY ||
            !(b->bits & SHM_BIT_MARK) || ++n > kept)
            return -1;
        e = SHM_BODY(b);
        if (e->lprev != prev)
            return -1;
        prev = off;
        off = e->lnext;
    }
    return n == kept && h->lru_tail == prev ? 0 : -1;
}

/* The LRU list again from the heap's marked entries (their order lost). */
static void
shm_rebuild_lru(struct shm_head *h)
{
    uint32_t off;
    struct shm_block *b;
    struct shm_entry *e, *first;

    h->lru_head = h->lru_tail = 0;
    for (off = h->heap; off < h->heap_end; off += b->size) {
        b = SHM_BLOCK(h, off);
        if (b->kind != SHM_KIND_ENTRY || !(b->bits & SHM_BIT_MARK))
            continue;
        e = SHM_BODY(b);
        e->lprev = 0;
        e->lnext = h->lru_head;
        if (h->lru_head) {
            first = SHM_BODY(SHM_BLOCK(h, h->lru_head));
            first->lprev = off;
        } else
            h->lru_tail = off;
        h->lru_head = off;
    }
}

/* Free lists, checked without REPAIR: every block on them free, each
 * list's bit set when it is not empty, and as many as the walk found
 * (NFREE). */
static void
shm_check_lists(struct shm_walk *w, uint32_t nfree)
{
    struct shm_head *h = w->h;
    uint32_t off, listed = 0;
    struct shm_block *b;
    unsigned i;

    for (i = 0; i < SHM_CLASSES; i++) {
        if (!h->lists[i] != !(h->bitmap[i / 32] & (1u << (i % 32))))
            w->problem = 1;
        for (off = h->lists[i]; off; off = ((struct shm_free *)SHM_BODY(b))->next) {
            if (!shm_is_start(w, off) || (b = SHM_BLOCK(h, off))->kind != SHM_KIND_FREE ||
                ++listed > nfree) {
                w->problem = 1;
                break;
            }
        }
    }
    if (listed != nfree)
        w->problem = 1;
}

/* Step 4 with REPAIR: free what nothing reached, merge free runs, and
 * rebuild the free lists and counts. Without: only find what is wrong. */
static void
shm_sweep(struct shm_walk *w, struct shm_check_result *res)
{
    struct shm_head *h = w->h;
    uint32_t off, run = 0, runsize = 0, nfree = 0;
    uint64_t free_g = 0;
    struct shm_block *b;
    struct shm_footer *ft;
    int prev_free = 0, is_free, reached;

    if (w->repair)
        shm_arena_clear_lists(h);
    for (off = h->heap; off < h->heap_end; off += b->size) {
        b = SHM_BLOCK(h, off);
        is_free = b->kind == SHM_KIND_FREE;
        reached = is_free || (b->bits & SHM_BIT_MARK);
        if (!reached)
            res->freed++;
        if (!w->repair) {
            ft = SHM_AT(h, off + b->size - 1);
            if (!(b->bits & SHM_BIT_PREV_FREE) != !prev_free || (is_free && prev_free) ||
                (is_free && (ft->size != b->size || ft->magic != SHM_BLOCK_MAGIC)))
                w->problem = 1;
            nfree += is_free;
        }
        if (!reached || is_free) {
            free_g += b->size;
            if (runsize == 0)
                run = off;
            runsize += b->size;
            prev_free = is_free || w->repair;
            continue;
        }
        if (w->repair) {
            if (runsize) {
                SHM_BLOCK(h, run)->bits = 0;
                shm_arena_add_free(h, run, runsize);
            } else
                b->bits &= (uint8_t)~SHM_BIT_PREV_FREE;
        }
        b->bits &= (uint8_t)~SHM_BIT_MARK;
        runsize = 0;
        prev_free = 0;
    }
    if (w->repair && runsize) {
        SHM_BLOCK(h, run)->bits = 0;
        shm_arena_add_free(h, run, runsize);
    }
    if (res->freed)
        w->problem = 1;
    if (!w->repair) {
        shm_check_lists(w, nfree);
        if (free_g != h->free_granules)
            w->problem = 1;
    } else
        h->free_granules = free_g;
}

/*
 * Check D (its lock held). REPAIR: mend it, emptying it when the heap
 * itself is lost. RES says what was found. 0 when it was sound, 1 when
 * not (mended with REPAIR), -1 when it was emptied or could not be
 * checked (logged).
 */
int
shm_check_locked(struct shm_dict *d, int repair, struct shm_check_result *res)
{
    struct shm_head *h = d->h;
    struct shm_walk w = { h, NULL, repair, 0 };
    unsigned long kept;

    memset(res, 0, sizeof(*res));
    h->damaged = 0;
    if (!shm_head_ok(h) ||
        (w.starts = calloc((size_t)h->heap_end / 8 + 1, 1)) == NULL || shm_walk_heap(&w) < 0) {
        if (w.starts == NULL && shm_head_ok(h))
            log_syserr("shared dictionary '%.*s': no memory to check it", LF_SHARED_NAME_MAX, h->name);
        free(w.starts);
        res->emptied = 1;
        if (repair) {
            res->dropped = h->keys;
            if (shm_head_ok(h))
                shm_arena_format(h);
        }
        return -1;
    }
    kept = shm_walk_buckets(&w, res);
    if (shm_walk_lru(&w, kept) < 0) {
        w.problem = 1;
        res->lru_rebuilt = repair;
        if (repair)
            shm_rebuild_lru(h);
    }
    if (kept != h->keys)
        w.problem = 1;
    shm_sweep(&w, res);
    if (repair)
        h->keys = (uint32_t)kept;
    res->kept = kept;
    free(w.starts);
    return w.problem;
}
