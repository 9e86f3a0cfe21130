/*
 * shm_check.c: the consistency check of a dictionary, and its repair.
 *
 * A holder that dies leaves nothing for this to do: its unfinished step
 * is undone (shm_undo.c). The check is for what the undo log cannot
 * foresee: an operation that finds a bad link (memory something else
 * wrote over: a C module's stray store, a bit flip), and an undo log
 * that overflowed. Then, under the lock:
 *
 *  1. walk the heap block by block: a header that is not a header, or
 *     sizes that do not add up to the heap's end, and the heap itself is
 *     lost: the dictionary is emptied, and that is logged;
 *  2. mark what the hash table reaches: every entry is checked (a block
 *     start of the right kind, lengths that fit, the hash of its key, a
 *     list's nodes and their count); a bad entry is skipped, its chain
 *     followed on past it when its link still leads to an entry, so a
 *     bad entry costs itself, not the keys behind it;
 *  3. the LRU list must hold exactly the marked entries, linked both
 *     ways; otherwise it is rebuilt from the heap (order lost, keys kept);
 *  4. the garbage chain (removed lists being freed) is marked too;
 *  5. sweep: every block nothing reached is freed, free neighbours
 *     merged, the free lists and the counts rebuilt. The entries among
 *     them are counted as dropped: with the bad ones, that is every key
 *     the check lost.
 *
 * Without REPAIR the same walk only reports, changing nothing but the
 * mark bits it clears again (the unit tests' proof that every operation
 * leaves the dictionary consistent). Block starts are kept in a bitmap
 * of one bit per granule (a 64th of the heap), allocated here: a failed
 * allocation empties the dictionary rather than trusting it. A repair
 * keeps `damaged` set until it is done, so one cut short by its own
 * holder's death is done again by the next.
 *
 * The whole check takes time in proportion to the heap; so after a
 * serving process crashed (where a stray store may have hit a
 * dictionary), the next one checks in the background, a few buckets a
 * step (shm_check_buckets): each entry's own soundness and its LRU
 * neighbours' links back to it. Only damage found leads to the whole
 * repair.
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
           h->limit > h->heap && h->limit <= h->heap_end &&
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
    need = sizeof(*b) + sizeof(*e) + SHM_KEY_ROOM(e->klen) + (e->type == SHM_TLIST ? 0 : e->vlen);
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

/* Where the chain goes on after the bad entry at OFF: its hnext, when
 * OFF is an entry's block and that leads to another not seen yet; else
 * 0 (the chain is cut there). */
static uint32_t
shm_walk_past(const struct shm_walk *w, uint32_t off)
{
    struct shm_block *b = shm_walk_block(w, off, SHM_KIND_ENTRY);
    uint32_t next;

    if (b == NULL)
        return 0;
    next = ((struct shm_entry *)SHM_BODY(b))->hnext;
    return next != off && shm_walk_block(w, next, SHM_KIND_ENTRY) ? next : 0;
}

/* Step 2: mark what the buckets reach; the entries kept. A bad entry is
 * dropped, and the chain followed on past it where it can be. */
static unsigned long
shm_walk_buckets(struct shm_walk *w, struct shm_check_result *res)
{
    struct shm_head *h = w->h;
    uint32_t *bk = shm_buckets(h), *link, i, past, n;
    struct shm_entry *e;
    unsigned long kept = 0;

    for (i = 0; i < h->nbuckets; i++) {
        for (link = &bk[i], n = 0; *link && n < h->heap_end; n++) {
            if ((e = shm_walk_entry(w, *link, i)) == NULL) {
                w->problem = 1;
                /* an entry's block is counted by the sweep, which frees it */
                res->dropped += shm_walk_block(w, *link, SHM_KIND_ENTRY) == NULL;
                past = shm_walk_past(w, *link);
                if (!w->repair)
                    break;
                *link = past;
                continue;
            }
            SHM_BLOCK(h, *link)->bits |= SHM_BIT_MARK;
            if (e->type == SHM_TLIST)
                shm_walk_list(w, e, 1);
            kept++;
            link = &e->hnext;
        }
    }
    return kept;
}

/* Step 4: the garbage chain's entries and what is left of their lists
 * (their nodes' back links no longer matter). A bad link cuts it: what
 * follows is swept as unreachable. */
static void
shm_walk_garbage(struct shm_walk *w)
{
    struct shm_head *h = w->h;
    uint32_t *link = &h->garbage, off, n;
    struct shm_block *b;
    struct shm_entry *e;

    while (*link) {
        if ((b = shm_walk_block(w, *link, SHM_KIND_ENTRY)) == NULL) {
            w->problem = 1;
            if (w->repair)
                *link = 0;
            return;
        }
        b->bits |= SHM_BIT_MARK;
        e = SHM_BODY(b);
        for (off = e->first, n = 0; off && n < e->vlen; n++) {
            if ((b = shm_walk_block(w, off, SHM_KIND_NODE)) == NULL) {
                w->problem = 1;
                if (w->repair) {
                    e->vlen = n;
                    e->first = n ? e->first : 0;
                }
                break;
            }
            b->bits |= SHM_BIT_MARK;
            off = ((struct shm_node *)SHM_BODY(b))->next;
        }
        link = &e->hnext;
    }
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

/* Free lists, checked without REPAIR: every block on them free and not
 * parked, each list's bit set when it is not empty, and as many as the
 * walk found (NFREE). */
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
                (b->bits & SHM_BIT_PARKED) || ++listed > nfree) {
                w->problem = 1;
                break;
            }
        }
    }
    if (listed != nfree)
        w->problem = 1;
}

/* Without REPAIR: is the free block B at OFF as the allocator leaves
 * it? Its footer, its neighbour before it not free (but at a shrink's
 * limit, where a free block is cut on purpose), parked only past the
 * limit. */
static int
shm_free_block_ok(const struct shm_head *h, uint32_t off, const struct shm_block *b, int prev_free)
{
    const struct shm_footer *ft = SHM_AT(h, off + b->size - 1);

    if (ft->size != b->size || ft->magic != SHM_BLOCK_MAGIC)
        return 0;
    if ((b->bits & SHM_BIT_PARKED) && off + b->size <= h->limit)
        return 0;
    return !prev_free || (off == h->limit && (b->bits & SHM_BIT_PARKED));
}

/* Step 5 with REPAIR: free what nothing reached, merge free runs, and
 * rebuild the free lists and counts. Without: only find what is wrong. */
static void
shm_sweep(struct shm_walk *w, struct shm_check_result *res)
{
    struct shm_head *h = w->h;
    uint32_t off, run = 0, runsize = 0, nfree = 0;
    uint64_t free_g = 0;
    struct shm_block *b;
    int prev_free = 0, is_free, reached;

    if (w->repair)
        shm_arena_clear_lists(h);
    for (off = h->heap; off < h->heap_end; off += b->size) {
        b = SHM_BLOCK(h, off);
        is_free = b->kind == SHM_KIND_FREE;
        reached = is_free || (b->bits & SHM_BIT_MARK);
        if (!reached) {
            res->freed++;
            res->dropped += b->kind == SHM_KIND_ENTRY;
        }
        if (!w->repair) {
            if (!(b->bits & SHM_BIT_PREV_FREE) != !prev_free || (is_free && !shm_free_block_ok(h, off, b, prev_free)))
                w->problem = 1;
            nfree += is_free && !(b->bits & SHM_BIT_PARKED);
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
        if (free_g != SHM_STAT_GET(h, free_granules))
            w->problem = 1;
    } else
        __atomic_store_n(&h->free_granules, free_g, __ATOMIC_RELAXED);
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
    res->before = SHM_STAT_GET(h, keys);
    if (repair)
        h->damaged = 1;         /* until it is done: a holder that dies meanwhile leaves it to do again */
    if (!shm_head_ok(h) ||
        (w.starts = calloc((size_t)h->heap_end / 8 + 1, 1)) == NULL || shm_walk_heap(&w) < 0) {
        if (w.starts == NULL && shm_head_ok(h))
            log_syserr("shared dictionary '%.*s': no memory to check it", LF_SHARED_NAME_MAX, h->name);
        free(w.starts);
        res->emptied = 1;
        if (repair) {
            res->dropped = res->before;
            if (shm_head_ok(h)) {
                h->garbage = 0;
                shm_arena_format(h, 0);
                h->damaged = 0;
            }
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
    shm_walk_garbage(&w);
    if (kept != res->before)
        w.problem = 1;
    shm_sweep(&w, res);
    if (repair) {
        __atomic_store_n(&h->keys, (uint32_t)kept, __ATOMIC_RELAXED);
        shm_commit(h);
        h->damaged = 0;
    }
    res->kept = kept;
    free(w.starts);
    return w.problem;
}

/* Is E, in bucket I, sound in itself and with its LRU neighbours? */
static int
shm_entry_sound(struct shm_head *h, struct shm_entry *e, uint32_t i, uint32_t off)
{
    struct shm_entry *o;
    struct shm_node *nd;
    uint32_t n, at, prev;

    if (e->klen == 0 || (e->hash & (h->nbuckets - 1)) != i || shm_hash(h, SHM_ENTRY_KEY(e), e->klen) != e->hash)
        return 0;
    if (e->lprev ? (o = shm_entry_at(h, e->lprev)) == NULL || o->lnext != off : h->lru_head != off)
        return 0;
    if (e->lnext ? (o = shm_entry_at(h, e->lnext)) == NULL || o->lprev != off : h->lru_tail != off)
        return 0;
    switch (e->type) {
    case SHM_TSTRING:  return 1;
    case SHM_TNUMBER:  return e->vlen == sizeof(double);
    case SHM_TBOOLEAN: return e->vlen == 1;
    case SHM_TLIST:    break;
    default:           return 0;
    }
    for (n = 0, at = e->first, prev = 0; at && n < e->vlen; n++, prev = at, at = nd->next)
        if ((nd = shm_node_at(h, at)) == NULL || nd->prev != prev ||
            !(nd->type == SHM_TSTRING || (nd->type == SHM_TNUMBER && nd->len == sizeof(double))))
            return 0;
    return e->vlen > 0 && at == 0 && n == e->vlen && e->last == prev;
}

/*
 * A step of the background check (its lock held): the entries of buckets
 * FROM..TO-1, each sound in itself and linked both ways with its LRU
 * neighbours. Damage marks the dictionary damaged (the whole repair runs
 * as the lock is let go). The entries seen.
 */
int
shm_check_buckets(struct shm_dict *d, uint32_t from, uint32_t to, unsigned long *dropped)
{
    struct shm_head *h = d->h;
    struct shm_entry *e;
    uint32_t i, off, n;
    int seen = 0;

    for (i = from; i < to && i < h->nbuckets && !h->damaged; i++)
        for (off = shm_buckets(h)[i], n = 0; off; off = e->hnext, n++, seen++)
            if (n > h->keys || (e = shm_entry_at(h, off)) == NULL || !shm_entry_sound(h, e, i, off)) {
                h->damaged = 1;
                (*dropped)++;
                break;
            }
    return seen;
}
