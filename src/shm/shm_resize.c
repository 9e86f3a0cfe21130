/*
 * shm_resize.c: a dictionary's size changed in place, while the processes
 * that use it go on using it.
 *
 * A USR2 upgrade whose config gives a dictionary another size used to
 * copy it into new memory while the old serving process still wrote to
 * the old: what it wrote after the copy was lost, and a counter it went
 * on counting was counted again from the copy (values handed out twice).
 * The old serving process cannot be given new memory (it maps what it
 * inherited), so the memory stays and its size changes instead. Every
 * process maps more than the file (shm_zone.c: `reserved` bytes, 16 GiB
 * and a header where the system lets it), so a file grown by one is seen
 * by all at once, with no new mapping and no copy.
 *
 * Grow: the file is made longer (no lock needed: past the heap, nobody
 * looks), then, in one logged step under the lock, the heap's end moves
 * and the new space joins the last free block. O(1), whatever the size.
 *
 * Shrink: a limit is set at the new end, and nothing is allocated past
 * it (shm_arena.c parks what is free there). Then the entries and list
 * nodes that lie past it are moved below it, a bucket range a step, the
 * lock let go between steps so the old serving process goes on serving:
 * each move builds the copy whole and swaps it in (one logged step, as a
 * set does); when there is no room below the limit, the oldest entries
 * are evicted, so the smaller dictionary keeps the most recent, as a copy
 * oldest first would. Once nothing past the limit is in use, what lies
 * there is one free block: the heap's end moves to the limit in one step,
 * and the file is cut. The hash table keeps the size it was made with
 * (its chains only get shorter); a shrink that would leave it more than
 * half the heap is refused, as is any resize a process could not see.
 * Resizes come from the supervisor of an upgrade, one at a time.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "shm_impl.h"

/* Relocations (or entries looked at) a shrink step makes at most. */
#define SHM_SHRINK_STEP     256

/* A new heap end of NEW_END granules, grown from the current one, and
 * the figures SIZE and MAPPED (lock held): one step. */
static void
shm_grow_locked(struct shm_head *h, uint32_t new_end, size_t size, size_t mapped)
{
    uint32_t old_end = h->heap_end, start = old_end;
    struct shm_footer *ft = SHM_AT(h, old_end - 1);
    struct shm_block *last;
    uint8_t bits = 0;

    if (ft->magic == SHM_BLOCK_MAGIC && ft->size <= old_end - h->heap &&
        (last = shm_block_at(h, old_end - ft->size, SHM_KIND_FREE)) != NULL && last->size == ft->size) {
        start = old_end - ft->size;
        bits = last->bits;
        shm_arena_unlist(h, start);
    }
    SHM_SET(h, h->heap_end, new_end);
    SHM_SET(h, h->limit, new_end);
    shm_log(h, SHM_BLOCK(h, start));
    SHM_BLOCK(h, start)->bits = bits & SHM_BIT_PREV_FREE;
    shm_arena_add_free(h, start, new_end - start);
    SHM_STAT_ADD(h, free_granules, new_end - old_end);
    SHM_STAT_SET(h, size, (uint64_t)size);
    SHM_STAT_SET(h, mapped, (uint64_t)mapped);
    shm_commit(h);
}

/* The used part of the block whose body is BODY (an entry's or a node's). */
static size_t
shm_used_bytes(const struct shm_block *b)
{
    const struct shm_entry *e = SHM_BODY(b);
    const struct shm_node *nd = SHM_BODY(b);

    if (b->kind == SHM_KIND_NODE)
        return sizeof(*nd) + nd->len;
    return sizeof(*e) + SHM_KEY_ROOM(e->klen) + (e->type == SHM_TLIST ? 0 : e->vlen);
}

/* A block of N granules of KIND below the limit, evicting the oldest
 * entries (never KEEP) while there is none; 0 when none can be had. */
static uint32_t
shm_alloc_below(struct shm_dict *d, uint32_t n, int kind, const struct shm_entry *keep)
{
    struct shm_head *h = d->h;
    uint32_t off;

    while ((off = shm_arena_alloc(h, n, kind)) == 0 && !h->damaged) {
        if (h->garbage)
            shm_dict_collect(h, SHM_STEP);
        else if (!shm_dict_evict_oldest(d, keep))
            return 0;
    }
    return off;
}

/* Move the list node at OFF, of E, below the limit: one step. 0, or -1
 * when there is no room (then E, the list, is dropped). */
static int
shm_move_node(struct shm_dict *d, struct shm_entry *e, uint32_t off)
{
    struct shm_head *h = d->h;
    struct shm_block *b = SHM_BLOCK(h, off);
    struct shm_node *nd = SHM_BODY(b), *nn, *o;
    uint32_t noff = shm_alloc_below(d, b->size, SHM_KIND_NODE, e);

    if (noff == 0)
        return -1;
    nn = SHM_BODY(SHM_BLOCK(h, noff));
    memcpy(nn, nd, shm_used_bytes(b));
    o = nd->prev ? shm_node_at(h, nd->prev) : NULL;
    shm_relink(h, nd->prev, &e->first, o ? &o->next : NULL, off, noff);
    o = nd->next ? shm_node_at(h, nd->next) : NULL;
    shm_relink(h, nd->next, &e->last, o ? &o->prev : NULL, off, noff);
    shm_arena_free(h, off);
    shm_commit(h);
    return 0;
}

/* Move E (and its list's nodes) below the limit, each a step of its own;
 * dropped (evicted) when there is no room. The moves made. */
static int
shm_move_entry(struct shm_dict *d, struct shm_entry *e, unsigned long *dropped)
{
    struct shm_head *h = d->h;
    struct shm_block *b = SHM_BLOCK(h, shm_off_of(h, e));
    uint32_t off = shm_off_of(h, e), noff, at, next, n;
    struct shm_node *nd;
    int moves = 0;

    if (off + b->size > h->limit) {
        if ((noff = shm_alloc_below(d, b->size, SHM_KIND_ENTRY, e)) == 0)
            goto drop;
        memcpy(SHM_BODY(SHM_BLOCK(h, noff)), e, shm_used_bytes(b));
        shm_dict_move_entry(h, e, noff);
        shm_commit(h);
        e = SHM_BODY(SHM_BLOCK(h, noff));
        moves++;
    }
    if (e->type != SHM_TLIST)
        return moves;
    for (at = e->first, n = 0; at && n < e->vlen && !h->damaged; n++, at = next) {
        if ((nd = shm_node_at(h, at)) == NULL) {
            h->damaged = 1;
            break;
        }
        next = nd->next;
        if (at + SHM_BLOCK(h, at)->size <= h->limit)
            continue;
        if (shm_move_node(d, e, at) < 0)
            goto drop;
        moves++;
    }
    return moves;
drop:
    SHM_STAT_ADD(h, evictions, 1);
    shm_dict_unlink_entry(d, e);
    shm_commit(h);
    (*dropped)++;
    return moves + 1;
}

/* Does E (or a node of its list) lie past the limit? */
static int
shm_past_limit(struct shm_head *h, struct shm_entry *e)
{
    uint32_t off = shm_off_of(h, e), at, n;
    struct shm_node *nd;

    if (off + SHM_BLOCK(h, off)->size > h->limit)
        return 1;
    if (e->type == SHM_TLIST)
        for (at = e->first, n = 0; at && n < e->vlen; n++, at = nd->next) {
            if ((nd = shm_node_at(h, at)) == NULL)
                return 0;
            if (at + SHM_BLOCK(h, at)->size > h->limit)
                return 1;
        }
    return 0;
}

/* A shrink step (lock held): what lies past the limit in the buckets from
 * *BUCKET on, moved below it, SHM_SHRINK_STEP moves or looks at most. */
static void
shm_shrink_step(struct shm_dict *d, uint32_t *bucket, unsigned long *dropped)
{
    struct shm_head *h = d->h;
    struct shm_entry *e;
    uint32_t off, n;
    int budget = SHM_SHRINK_STEP, moved;

    while (*bucket < h->nbuckets && budget > 0 && !h->damaged) {
        moved = 0;
        for (off = shm_buckets(h)[*bucket], n = 0; off && n <= h->keys && budget > 0; n++, off = e->hnext) {
            if ((e = shm_entry_at(h, off)) == NULL) {
                h->damaged = 1;
                return;
            }
            budget--;
            if (shm_past_limit(h, e)) {
                budget -= shm_move_entry(d, e, dropped);
                moved = 1;
                break;          /* the chain changed: look at it again */
            }
        }
        if (!moved)
            (*bucket)++;
    }
}

/* The shrink's last step (lock held): past the limit is one free block,
 * cut off. 0, or -1 when something there is still in use. */
static int
shm_shrink_end(struct shm_head *h, size_t size, size_t mapped)
{
    struct shm_footer *ft = SHM_AT(h, h->heap_end - 1);
    struct shm_block *last;
    uint32_t start, lim = h->limit, new_end;
    uint8_t bits;

    if (ft->magic != SHM_BLOCK_MAGIC || ft->size > h->heap_end - h->heap ||
        (last = shm_block_at(h, h->heap_end - ft->size, SHM_KIND_FREE)) == NULL || last->size != ft->size ||
        h->heap_end - ft->size > lim)
        return -1;
    start = h->heap_end - ft->size;
    bits = last->bits;
    shm_arena_unlist(h, start);
    new_end = start == lim || lim - start >= SHM_MIN_BLOCK ? lim : start;
    SHM_STAT_SUB(h, free_granules, h->heap_end - new_end);
    SHM_SET(h, h->heap_end, new_end);
    SHM_SET(h, h->limit, new_end);
    if (start < new_end) {
        shm_log(h, last);
        last->bits = bits & SHM_BIT_PREV_FREE;
        shm_arena_add_free(h, start, new_end - start);
    }
    SHM_STAT_SET(h, size, (uint64_t)size);
    SHM_STAT_SET(h, mapped, (uint64_t)mapped);
    shm_commit(h);
    return 0;
}

/* Shrink D to NEW_END granules (SIZE, MAPPED), in steps. 0, or -1. */
static int
shm_shrink(struct shm_dict *d, uint32_t new_end, size_t size, size_t mapped, unsigned long *dropped)
{
    struct shm_head *h = d->h;
    const char *err;
    uint32_t bucket = 0;
    int rc, garbage = 1;

    if (shm_lock(d, &err) < 0)
        return -1;
    SHM_SET(h, h->limit, new_end);
    shm_commit(h);
    shm_unlock(d);
    while (bucket < h->nbuckets || garbage) {
        if (shm_lock(d, &err) < 0)
            return -1;
        if (bucket < h->nbuckets)
            shm_shrink_step(d, &bucket, dropped);
        else
            shm_dict_collect(h, SHM_STEP);
        garbage = h->garbage != 0;
        shm_unlock(d);
    }
    if (shm_lock(d, &err) < 0)
        return -1;
    if ((rc = shm_shrink_end(h, size, mapped)) < 0) {
        log_err("shared dictionary '%s': cannot shrink: a block past %zu bytes is still in use; it keeps "
                "its size until a restart", h->name, size);
    }
    shm_unlock(d);
    if (rc == 0 && ftruncate(d->fd, (off_t)mapped) < 0)
        log_syswarn("shared dictionary '%s': cannot give back the memory past its new size", h->name);
    return rc;
}

/*
 * Give D the size SIZE in place (the new binary of an upgrade, before it
 * serves). 0; 1 when it cannot be done in place (logged: it keeps its
 * size); -1 on an error (logged). Entries that did not fit a smaller size
 * are counted in *DROPPED.
 */
int
shm_dict_resize(struct shm_dict *d, size_t size, unsigned long *dropped)
{
    struct shm_head *h = d->h;
    size_t mapped = shm_mapped_size(size), bsize;
    uint32_t new_end = (uint32_t)(SHM_HEAD_GRANULES + size / SHM_GRANULE);
    const char *err;

    *dropped = 0;
    bsize = (size_t)SHM_BLOCK(h, h->buckets)->size * SHM_GRANULE;
    if (d->fd < 0 || mapped > d->mapped || mapped > h->reserved) {
        log_warn("shared dictionary '%s': cannot change its size in place (a process maps only %llu "
                 "bytes of it): it keeps its %llu bytes until a restart", h->name,
                 (unsigned long long)h->reserved, (unsigned long long)SHM_STAT_GET(h, size));
        return 1;
    }
    if (bsize > size / 2) {
        log_warn("shared dictionary '%s': cannot shrink to %zu bytes in place: its hash table, made for "
                 "%llu bytes, takes %zu; it keeps its size until a restart", h->name, size,
                 (unsigned long long)SHM_STAT_GET(h, size), bsize);
        return 1;
    }
    if (h->limit < h->heap_end) {
        /* a shrink cut short (its supervisor died): finished first */
        size_t cut = (size_t)(h->limit - SHM_HEAD_GRANULES) * SHM_GRANULE;

        if (shm_shrink(d, h->limit, cut, shm_mapped_size(cut), dropped) < 0)
            return -1;
    }
    if (new_end < h->heap_end)
        return shm_shrink(d, new_end, size, mapped, dropped);
    if (new_end > h->heap_end) {
        if (ftruncate(d->fd, (off_t)mapped) < 0) {
            log_syserr("shared dictionary '%s': cannot grow its memory to %zu bytes", h->name, mapped);
            return -1;
        }
        if (shm_lock(d, &err) < 0)
            return -1;
        shm_grow_locked(h, new_end, size, mapped);
        shm_unlock(d);
        return 0;
    }
    if (shm_lock(d, &err) < 0)
        return -1;
    SHM_STAT_SET(h, size, (uint64_t)size);
    shm_commit(h);
    shm_unlock(d);
    return 0;
}
