/*
 * shm_lru.c: the order entries leave a dictionary in, and the clock they
 * expire by.
 *
 * Every entry is on one LRU list, newest first (lru_head) to oldest
 * (lru_tail), linked both ways through lprev and lnext, with ngx_lua's
 * rules (ngx_http_lua_shdict.c): a lookup that finds a key moves it to
 * the front; every write, get and list operation first removes at most
 * two expired entries from the back; a write the heap cannot hold evicts
 * from the back. It is apart from the operations (shm_dict.c) because
 * every one of them rewrites it, and a wrong link in it loses entries
 * without a trace: each relink here first checks that the neighbour it
 * writes through links back to the entry it moves; anything else is
 * damage, mended before the lock is let go (shm_check.c).
 *
 * Expiry runs on the monotonic clock (a step of the wall clock expires
 * nothing), read once, when an operation first needs it; flush_all is a
 * generation, so an entry written before the last one is expired
 * whatever its time (shm_expires).
 */
#include "monoclock.h"
#include "shm_impl.h"

/* The operation's clock: read at its first use, the same after. */
uint64_t
shm_time(struct shm_clock *clk)
{
    if (clk->ms == 0)
        clk->ms = (uint64_t)monoclock_ms();
    return clk->ms;
}

/* When something stored now for MS ms expires (0 or less: never). */
uint64_t
shm_expiry(long long ms, struct shm_clock *clk)
{
    return ms > 0 ? shm_time(clk) + (uint64_t)ms : 0;
}

static int
shm_is_expired(const struct shm_head *h, const struct shm_entry *e, struct shm_clock *clk)
{
    uint64_t x = shm_expires(h, e);

    return x != 0 && x <= shm_time(clk);
}

/* What points at the entry at SELF in the LRU list from one side, set
 * to TO: the lnext (FORWARD) or lprev of the entry at NEIGHBOUR, or the
 * list's END when NEIGHBOUR is 0; damage when it does not point at SELF. */
static void
shm_lru_bypass(struct shm_head *h, uint32_t neighbour, uint32_t *end, int forward, uint32_t self, uint32_t to)
{
    struct shm_entry *o = neighbour ? shm_entry_at(h, neighbour) : NULL;

    shm_relink(h, neighbour, end, o == NULL ? NULL : forward ? &o->lnext : &o->lprev, self, to);
}

/* Take E off the LRU list. */
void
shm_lru_unlink(struct shm_head *h, struct shm_entry *e)
{
    uint32_t off = shm_off_of(h, e);

    shm_lru_bypass(h, e->lprev, &h->lru_head, 1, off, e->lnext);
    shm_lru_bypass(h, e->lnext, &h->lru_tail, 0, off, e->lprev);
    SHM_SET(h, e->lprev, 0);        /* two granules: each its record */
    SHM_SET(h, e->lnext, 0);
}

/* Put E, on the list no more (or not yet), at its front. */
void
shm_lru_push(struct shm_head *h, struct shm_entry *e)
{
    struct shm_entry *first;
    uint32_t off = shm_off_of(h, e), next = h->lru_head;

    if (next && (first = shm_entry_at(h, next)) != NULL && first->lprev == 0)
        SHM_SET(h, first->lprev, off);
    else if (next) {
        h->damaged = 1;
        next = 0;
    }
    SHM_SET(h, e->lprev, 0);
    SHM_SET(h, e->lnext, next);
    SHM_SET(h, h->lru_head, off);
    if (h->lru_tail == 0)
        SHM_SET(h, h->lru_tail, off);
}

/* Move E to the front of the LRU list: every lookup that finds a key
 * does, so it is one pass (six logged stores), not an unlink and a push
 * (eight). E is not the newest, so it has an entry before it, whose
 * lnext is E, and the head is another entry, with none before it: a
 * link that says otherwise is damage, and nothing is moved. */
void
shm_lru_touch(struct shm_head *h, struct shm_entry *e)
{
    uint32_t off = shm_off_of(h, e), head = h->lru_head;
    struct shm_entry *prev, *first;

    if (head == off)
        return;
    if (e->lprev == off || e->lnext == off ||
        (prev = shm_entry_at(h, e->lprev)) == NULL || prev->lnext != off ||
        (first = shm_entry_at(h, head)) == NULL || first->lprev != 0) {
        h->damaged = 1;
        return;
    }
    SHM_SET(h, prev->lnext, e->lnext);
    shm_lru_bypass(h, e->lnext, &h->lru_tail, 0, off, e->lprev);
    SHM_SET(h, first->lprev, off);
    SHM_SET(h, e->lprev, 0);
    SHM_SET(h, e->lnext, head);
    SHM_SET(h, h->lru_head, off);
}

/* Put the entry at NOFF (a new block, not linked yet) in E's place in
 * the LRU list. */
void
shm_lru_replace(struct shm_head *h, struct shm_entry *e, uint32_t noff)
{
    struct shm_entry *ne = SHM_BODY(SHM_BLOCK(h, noff));
    uint32_t eoff = shm_off_of(h, e);

    ne->lprev = e->lprev;           /* a new block: no record needed */
    ne->lnext = e->lnext;
    shm_lru_bypass(h, e->lprev, &h->lru_head, 1, eoff, noff);
    shm_lru_bypass(h, e->lnext, &h->lru_tail, 0, eoff, noff);
}

/*
 * ngx_lua's expire step. N = 1: remove the oldest entry if it has expired,
 * and the next one if that has too. N = 0: remove the oldest entry
 * whatever it holds (an eviction), then up to two expired ones. Each
 * removal is a step of its own; KEEP (may be NULL) is never removed. The
 * count removed.
 */
int
shm_expire_some(struct shm_dict *d, int n, struct shm_clock *clk, const struct shm_entry *keep)
{
    struct shm_head *h = d->h;
    struct shm_entry *e;
    int freed = 0;

    while (n < 3) {
        if (h->lru_tail == 0)
            return freed;
        if ((e = shm_entry_at(h, h->lru_tail)) == NULL) {
            h->damaged = 1;
            return freed;
        }
        if (e == keep || (n++ != 0 && !shm_is_expired(h, e, clk)))
            return freed;
        if (e->gen != h->flush_gen)
            SHM_STAT_ADD(h, flushed, 1);
        else if (shm_is_expired(h, e, clk))
            SHM_STAT_ADD(h, expirations, 1);
        else
            SHM_STAT_ADD(h, evictions, 1);
        shm_dict_unlink_entry(d, e);
        shm_commit(h);
        freed++;
    }
    return freed;
}

/* Evict the oldest entry (and up to two expired ones), never KEEP: for a
 * shrink's moves. Whether anything was removed. */
int
shm_dict_evict_oldest(struct shm_dict *d, const struct shm_entry *keep)
{
    struct shm_clock clk = { 0 };

    return shm_expire_some(d, 0, &clk, keep) > 0;
}
