/*
 * shm_dict.c: the operations of a shared dictionary, with ngx_lua's
 * answers.
 *
 * Keys are found through a hash table (a power-of-two array of bucket
 * heads, sized from SIZE when the dictionary is made); every entry is also
 * on one LRU list, newest first (shm_lru.c). The semantics are ngx_lua's
 * (ngx_http_lua_shdict.c), step for step where a script could tell the
 * difference: a lookup that finds a key moves it to the front; every
 * write, get and list operation first removes at most two expired entries
 * from the back; flush_all makes everything expired and removes three;
 * ttl and expire see an expired entry that was not removed yet. Where we
 * differ on purpose: set, add and incr, when the heap is full, evict
 * from the back for as long as it takes (ngx_lua gives up after 30
 * entries), and a value that could never fit evicts nothing; expiry runs
 * on the monotonic clock (a clock step does not expire everything);
 * flush_all is one store (a generation every entry is compared with), not
 * a walk of every entry under the lock.
 *
 * Crash atomicity (shm_undo.c): a value is never written over the one a
 * reader may get. A set builds the new entry whole in a free block, then
 * swaps it in for the old one, and frees the old; all of it one step, so
 * a process killed anywhere in it leaves the old value or the new one.
 * When the heap cannot hold both (a value of most of the dictionary
 * replaced), the old one is removed in a step of its own first: then a
 * crash between the two loses that key, and only it. A removed list goes
 * on a garbage chain in the same step as its key leaves, and its nodes
 * are freed afterwards a bounded number at a time (shm_dict_collect), so
 * neither the undo log nor the lock's hold grows with a list's length.
 *
 * Each public function takes the dictionary's lock (shm_lock.c), does its
 * work with no system call and no Lua, and lets go. Values are copied out
 * into the caller's buffer under the lock; when it is too small the caller
 * is told the size (SHM_NEED) and asks again, so nothing here allocates.
 * Every link followed is checked, and a neighbour's link back is checked
 * before it is relinked through (one naming another entry would cut the
 * entries between them out of the list); a bad one marks the dictionary
 * damaged, and every operation ends through shm_done: the step under way
 * is undone, the dictionary repaired before the lock is let go
 * (shm_check.c), and the operation fails with SHM_ERR_DAMAGED, whatever
 * it was about to answer (a value read from damaged memory, or "not
 * found" from a chain cut short, is no answer).
 */
#include <string.h>

#include "shm_impl.h"

/* List nodes freed at once when a list is removed; a longer list goes on
 * the garbage chain. */
#define SHM_NODES_AT_ONCE   8

/* The link that points at E: its bucket's head or the hnext of the entry
 * before it; NULL (damage) when its chain does not reach it. */
uint32_t *
shm_dict_link_to(struct shm_head *h, struct shm_entry *e)
{
    uint32_t *link = &shm_buckets(h)[e->hash & (h->nbuckets - 1)];
    uint32_t off = shm_off_of(h, e), n;
    struct shm_entry *c;

    for (n = 0; *link && n <= h->keys; n++) {
        if (*link == off)
            return link;
        if ((c = shm_entry_at(h, *link)) == NULL)
            break;
        link = &c->hnext;
    }
    h->damaged = 1;
    return NULL;
}

/* Free up to BUDGET of the garbage chain's nodes and entries, a step each
 * (committed); what was freed. */
int
shm_dict_collect(struct shm_head *h, int budget)
{
    struct shm_entry *e;
    struct shm_node *nd;
    uint32_t off;
    int done = 0;

    while (h->garbage && done < budget && !h->damaged) {
        if ((e = shm_entry_at(h, h->garbage)) == NULL) {
            h->damaged = 1;
            break;
        }
        if (e->vlen == 0 || e->first == 0) {
            off = h->garbage;
            SHM_SET(h, h->garbage, e->hnext);
            shm_arena_free(h, off);
        } else if ((nd = shm_node_at(h, e->first)) == NULL) {
            h->damaged = 1;
            break;
        } else {
            off = e->first;
            shm_log(h, &e->vlen);
            e->vlen--;
            SHM_SET(h, e->first, nd->next);
            shm_arena_free(h, off);
        }
        shm_commit(h);
        done++;
    }
    return done;
}

/* Remove E: out of its chain and the LRU list, then freed (a long list
 * goes on the garbage chain, whole, to be freed in steps). The caller
 * commits. */
void
shm_dict_unlink_entry(struct shm_dict *d, struct shm_entry *e)
{
    struct shm_head *h = d->h;
    uint32_t *link = shm_dict_link_to(h, e), off = shm_off_of(h, e), n, next;
    struct shm_node *nd;

    if (link == NULL)
        return;
    SHM_SET(h, *link, e->hnext);
    shm_lru_unlink(h, e);
    SHM_STAT_SUB(h, keys, 1);
    if (e->type == SHM_TLIST && e->vlen > SHM_NODES_AT_ONCE) {
        SHM_SET(h, e->hnext, h->garbage);
        SHM_SET(h, h->garbage, off);
        return;
    }
    if (e->type == SHM_TLIST)
        for (n = 0, next = e->first; next && n < e->vlen; n++) {
            if ((nd = shm_node_at(h, next)) == NULL) {
                h->damaged = 1;
                break;
            }
            off = next;
            next = nd->next;
            shm_arena_free(h, off);
        }
    shm_arena_free(h, shm_off_of(h, e));
}

/* Put the entry at NOFF (built whole) in E's place: its chain, its place
 * in the LRU list; then E is freed. The caller commits. */
void
shm_dict_move_entry(struct shm_head *h, struct shm_entry *e, uint32_t noff)
{
    struct shm_entry *ne = SHM_BODY(SHM_BLOCK(h, noff));
    uint32_t *link = shm_dict_link_to(h, e), eoff = shm_off_of(h, e);

    if (link == NULL)
        return;
    ne->hnext = e->hnext;           /* a new block: no record needed */
    SHM_SET(h, *link, noff);
    shm_lru_replace(h, e, noff);
    shm_arena_free(h, eoff);
}

/* Find KEY without touching the LRU list, expired or not. */
static enum shm_found
shm_peek(struct shm_head *h, uint32_t hash, const char *key, size_t klen, struct shm_entry **found)
{
    uint32_t off = shm_buckets(h)[hash & (h->nbuckets - 1)], n;
    struct shm_entry *e;

    *found = NULL;
    for (n = 0; off && n <= h->keys; n++) {
        if ((e = shm_entry_at(h, off)) == NULL)
            break;
        if (e->hash == hash && e->klen == klen && memcmp(SHM_ENTRY_KEY(e), key, klen) == 0) {
            *found = e;
            return SHM_FOUND;
        }
        off = e->hnext;
    }
    if (off)
        h->damaged = 1;
    return SHM_MISSING;
}

/* Find KEY: found, it moves to the front, expired or not, and it has
 * expired once its time is past (as ngx_lua 0.10.23's lookup, which
 * Debian 12 ships). */
enum shm_found
shm_lookup(struct shm_head *h, uint32_t hash, const char *key, size_t klen, struct shm_clock *clk,
           struct shm_entry **found)
{
    uint64_t x;

    if (shm_peek(h, hash, key, klen, found) == SHM_MISSING)
        return SHM_MISSING;
    shm_lru_touch(h, *found);
    x = shm_expires(h, *found);
    return x != 0 && x < shm_time(clk) ? SHM_EXPIRED : SHM_FOUND;
}

/* A block of N granules, evicting the oldest entries while the heap is
 * full (unless SAFE), and freeing garbage first: at most every entry but
 * KEEP, never for a block that could not fit in the empty heap. 0 when
 * it cannot be had. Each eviction is a step of its own. */
static uint32_t
shm_alloc_evicting(struct shm_dict *d, uint32_t n, int kind, int safe, const struct shm_entry *keep,
                   struct shm_clock *clk, int *forcible)
{
    struct shm_head *h = d->h;
    uint32_t off;

    if (n > shm_arena_largest(h))
        return 0;
    while ((off = shm_arena_alloc(h, n, kind)) == 0 && !h->damaged) {
        if (h->garbage) {
            shm_dict_collect(h, SHM_STEP);
            continue;
        }
        if (safe || h->lru_tail == 0)
            return 0;
        if (shm_expire_some(d, 0, clk, keep) == 0)
            return 0;
        *forcible = 1;
    }
    return off;
}

/* The bytes a scalar value is stored as, in BUF (8 bytes at least). */
const char *
shm_value_bytes(const struct shm_value *v, char *buf, size_t *len)
{
    switch (v->type) {
    case SHM_TSTRING:
        *len = v->len;
        return v->str;
    case SHM_TNUMBER:
        memcpy(buf, &v->num, sizeof(double));
        *len = sizeof(double);
        return buf;
    case SHM_TBOOLEAN:
        buf[0] = (char)(v->num != 0 ? 1 : 0);
        *len = 1;
        return buf;
    default:
        *len = 0;
        return NULL;
    }
}

/* A new entry for P built whole in the block at OFF (taken from the free
 * space: nothing here needs a record), linked nowhere yet. */
struct shm_entry *
shm_entry_build(struct shm_head *h, uint32_t off, const struct shm_put *p)
{
    struct shm_entry *e = SHM_BODY(SHM_BLOCK(h, off));

    memset(e, 0, sizeof(*e));
    e->hash = p->hash;
    e->klen = (uint16_t)p->klen;
    e->type = (uint8_t)p->type;
    e->flags = p->flags;
    e->expires = p->expires;
    e->gen = h->flush_gen;
    e->vlen = (uint32_t)p->vlen;
    memcpy(SHM_ENTRY_KEY(e), p->key, p->klen);
    if (p->vlen)
        memcpy(SHM_ENTRY_VALUE(e), p->val, p->vlen);
    return e;
}

/* Link the entry at OFF, built whole, at the head of its chain and of
 * the LRU list. */
void
shm_entry_link(struct shm_head *h, uint32_t off)
{
    struct shm_entry *e = SHM_BODY(SHM_BLOCK(h, off));
    uint32_t *bucket = &shm_buckets(h)[e->hash & (h->nbuckets - 1)];

    e->hnext = *bucket;             /* a new block: no record needed */
    shm_lru_push(h, e);
    SHM_SET(h, *bucket, off);
    SHM_STAT_ADD(h, keys, 1);
}

/*
 * Store P, in place of OLD when it is not NULL: built whole, then linked
 * or swapped in, one step. When the heap cannot hold the old value and
 * the new at once, the old is removed first, a step of its own. SHM_OK,
 * or SHM_FAIL (no memory: OLD stays, unless it was removed to make room).
 */
static int
shm_put(struct shm_dict *d, struct shm_entry *old, const struct shm_put *p, int safe, struct shm_clock *clk,
        int *forcible)
{
    struct shm_head *h = d->h;
    uint32_t n = shm_entry_granules(p->klen, p->vlen), off;

    if (n > shm_arena_largest(h))
        return SHM_FAIL;
    off = shm_alloc_evicting(d, n, SHM_KIND_ENTRY, safe, old, clk, forcible);
    if (off == 0 && old != NULL && !safe && !h->damaged) {
        shm_dict_unlink_entry(d, old);
        shm_commit(h);
        old = NULL;
        off = shm_alloc_evicting(d, n, SHM_KIND_ENTRY, safe, NULL, clk, forcible);
    }
    if (off == 0)
        return SHM_FAIL;
    shm_entry_build(h, off, p);
    if (old && old->type != SHM_TLIST) {
        shm_dict_move_entry(h, old, off);
        return SHM_OK;
    }
    if (old)
        shm_dict_unlink_entry(d, old);  /* with its nodes (or to the garbage chain) */
    shm_entry_link(h, off);
    return SHM_OK;
}

/* How a keyed operation starts: D locked, the oldest entries expired as
 * ngx_lua's store does before it looks, and KEY looked up, its entry in
 * *E and its hash in *HASH (may be NULL). SHM_NOT_LOCKED, D unlocked and
 * *ERR saying why, when the lock was not obtained. */
enum shm_found
shm_dict_open_key(struct shm_dict *d, const char *key, size_t klen, struct shm_clock *clk,
                  uint32_t *hash, struct shm_entry **e, const char **err)
{
    uint32_t hv;

    if (shm_lock(d, err) < 0)
        return SHM_NOT_LOCKED;
    shm_expire_some(d, 1, clk, NULL);
    hv = shm_hash(d->h, key, klen);
    if (hash != NULL)
        *hash = hv;
    return shm_lookup(d->h, hv, key, klen, clk, e);
}

/*
 * set, safe_set, add, safe_add, replace, and delete (set to nil), as
 * ngx_lua's store: SHM_OK; or SHM_FAIL with "not found" (replace),
 * "exists" (add), "no memory", "attempt to add or replace nil values".
 */
int
shm_dict_store(struct shm_dict *d, int op, const char *key, size_t klen, const struct shm_value *v,
               long long exptime_ms, int *forcible, const char **err)
{
    struct shm_entry *e;
    enum shm_found rc;
    char nbuf[sizeof(double)];
    struct shm_put p;
    struct shm_clock clk = { 0 };
    int r;

    *forcible = 0;
    if (v->type == SHM_TNIL && (op & (SHM_OP_ADD | SHM_OP_REPLACE))) {
        *err = "attempt to add or replace nil values";
        return SHM_FAIL;
    }
    p.val = shm_value_bytes(v, nbuf, &p.vlen);
    if ((rc = shm_dict_open_key(d, key, klen, &clk, &p.hash, &e, err)) == SHM_NOT_LOCKED)
        return SHM_LOCKED;
    if ((op & SHM_OP_REPLACE) && rc != SHM_FOUND) {
        *err = "not found";
        return shm_done(d, SHM_FAIL, err);
    }
    if ((op & SHM_OP_ADD) && rc == SHM_FOUND) {
        *err = "exists";
        return shm_done(d, SHM_FAIL, err);
    }
    if (p.val == NULL) {
        if (rc != SHM_MISSING)
            shm_dict_unlink_entry(d, e);
        return shm_done(d, SHM_OK, err);
    }
    p.key = key;
    p.klen = klen;
    p.type = v->type;
    p.flags = v->flags;
    p.expires = shm_expiry(exptime_ms, &clk);
    r = shm_put(d, rc == SHM_MISSING ? NULL : e, &p, op & SHM_OP_SAFE, &clk, forcible);
    if (r != SHM_OK)
        *err = "no memory";
    return shm_done(d, r, err);
}

/* Copy E's scalar value into OUT (a string into BUF when it fits). */
static int
shm_copy_value(struct shm_head *h, struct shm_entry *e, struct shm_value *out, char *buf, size_t size)
{
    const char *val = SHM_ENTRY_VALUE(e);

    out->type = e->type;
    out->flags = e->flags;
    out->len = e->vlen;
    switch (e->type) {
    case SHM_TSTRING:
        if (e->vlen > size)
            return SHM_NEED;
        memcpy(buf, val, e->vlen);
        out->str = buf;
        return SHM_OK;
    case SHM_TNUMBER:
        if (e->vlen != sizeof(double))
            break;
        memcpy(&out->num, val, sizeof(double));
        return SHM_OK;
    case SHM_TBOOLEAN:
        if (e->vlen != 1)
            break;
        out->num = val[0] != 0;
        return SHM_OK;
    default:
        break;
    }
    h->damaged = 1;
    return SHM_NONE;
}

/*
 * get and get_stale: SHM_OK with the value in OUT, SHM_NONE when missing
 * (or expired, unless STALE), SHM_NEED when a string is longer than SIZE
 * (OUT->len says how long), SHM_FAIL "value is a list".
 */
int
shm_dict_get(struct shm_dict *d, const char *key, size_t klen, int stale, struct shm_value *out,
             char *buf, size_t size, int *is_stale, const char **err)
{
    struct shm_entry *e;
    enum shm_found rc;
    struct shm_clock clk = { 0 };
    int r;

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    if (!stale)
        shm_expire_some(d, 1, &clk, NULL);
    rc = shm_lookup(d->h, shm_hash(d->h, key, klen), key, klen, &clk, &e);
    if (rc == SHM_MISSING || (rc == SHM_EXPIRED && !stale))
        return shm_done(d, SHM_NONE, err);
    if (e->type == SHM_TLIST) {
        *err = "value is a list";
        return shm_done(d, SHM_FAIL, err);
    }
    r = shm_copy_value(d->h, e, out, buf, size);
    *is_stale = rc == SHM_EXPIRED;
    return shm_done(d, r, err);
}

/*
 * incr: add *VALUE to a number; with HAS_INIT a missing (or expired) key
 * starts at INIT, expiring after INIT_TTL_MS. The sum in *VALUE; SHM_FAIL
 * "not found", "not a number", "no memory". A number is one granule:
 * logged and stored in place, it is all or nothing.
 */
int
shm_dict_incr(struct shm_dict *d, const char *key, size_t klen, double *value, int has_init,
              double init, long long init_ttl_ms, int *forcible, const char **err)
{
    struct shm_head *h;
    struct shm_entry *e;
    enum shm_found rc;
    struct shm_clock clk = { 0 };
    struct shm_put p;
    double num;
    char *val;

    *forcible = 0;
    if ((rc = shm_dict_open_key(d, key, klen, &clk, &p.hash, &e, err)) == SHM_NOT_LOCKED)
        return SHM_LOCKED;
    h = d->h;
    if (rc == SHM_FOUND) {
        if (e->type != SHM_TNUMBER || e->vlen != sizeof(double)) {
            *err = "not a number";
            return shm_done(d, SHM_FAIL, err);
        }
        val = SHM_ENTRY_VALUE(e);
        memcpy(&num, val, sizeof(double));
        num += *value;
        shm_log(h, val);
        memcpy(val, &num, sizeof(double));
        *value = num;
        return shm_done(d, SHM_OK, err);
    }
    if (!has_init) {
        *err = "not found";
        return shm_done(d, SHM_FAIL, err);
    }
    num = *value + init;
    if (rc == SHM_EXPIRED && e->type == SHM_TNUMBER && e->vlen == sizeof(double)) {
        /* an expired number starts again in place: a granule or two */
        val = SHM_ENTRY_VALUE(e);
        shm_log(h, &e->expires);
        e->expires = shm_expiry(init_ttl_ms, &clk);
        shm_log(h, &e->gen);
        e->gen = h->flush_gen;
        SHM_SET(h, e->flags, 0);
        shm_log(h, val);
        memcpy(val, &num, sizeof(double));
        *value = num;
        return shm_done(d, SHM_OK, err);
    }
    p.key = key;
    p.klen = klen;
    p.type = SHM_TNUMBER;
    p.val = (const char *)&num;
    p.vlen = sizeof(double);
    p.flags = 0;
    p.expires = shm_expiry(init_ttl_ms, &clk);
    if (shm_put(d, rc == SHM_MISSING ? NULL : e, &p, 0, &clk, forcible) != SHM_OK) {
        *err = "no memory";
        return shm_done(d, SHM_FAIL, err);
    }
    *value = num;
    return shm_done(d, SHM_OK, err);
}

/* ttl: ms left (0: never expires; below 0: expired, not yet removed);
 * SHM_NONE when missing. */
int
shm_dict_ttl(struct shm_dict *d, const char *key, size_t klen, long long *ms, const char **err)
{
    struct shm_entry *e;
    struct shm_clock clk = { 0 };
    uint64_t x;

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    if (shm_peek(d->h, shm_hash(d->h, key, klen), key, klen, &e) == SHM_MISSING)
        return shm_done(d, SHM_NONE, err);
    x = shm_expires(d->h, e);
    *ms = x == 0 ? 0 : (long long)x - (long long)shm_time(&clk);
    return shm_done(d, SHM_OK, err);
}

/* expire: a new expiry (0 or less: never), found expired or not;
 * SHM_NONE when missing. */
int
shm_dict_expire(struct shm_dict *d, const char *key, size_t klen, long long exptime_ms, const char **err)
{
    struct shm_head *h;
    struct shm_entry *e;
    struct shm_clock clk = { 0 };

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    h = d->h;
    if (shm_peek(h, shm_hash(h, key, klen), key, klen, &e) == SHM_MISSING)
        return shm_done(d, SHM_NONE, err);
    SHM_SET(h, e->expires, shm_expiry(exptime_ms, &clk));
    SHM_SET(h, e->gen, h->flush_gen);
    return shm_done(d, SHM_OK, err);
}

/* flush_all: everything expires now (flush_expired or later writes free
 * the memory), as in ngx_lua: one store, whatever the size. */
int
shm_dict_flush_all(struct shm_dict *d, const char **err)
{
    struct shm_clock clk = { 0 };

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    SHM_SET(d->h, d->h->flush_gen, d->h->flush_gen + 1);
    shm_commit(d->h);
    shm_expire_some(d, 0, &clk, NULL);
    (void)shm_unlock(d);    /* the flush is done (committed) before any damage can be found */
    return SHM_OK;
}

size_t
shm_dict_capacity(const struct shm_dict *d)
{
    return (size_t)SHM_STAT_GET(d->h, size);
}

const char *
shm_dict_name(const struct shm_dict *d)
{
    return d->h->name;
}

/* The figures for free_space and the status page, without the lock
 * (each a relaxed atomic: a stopped holder or a long walk never holds
 * the page up; the figures may be of two moments a step apart). */
void
shm_dict_stats(const struct shm_dict *d, struct shm_stats *st)
{
    struct shm_head *h = d->h;

    st->capacity = (size_t)SHM_STAT_GET(h, size);
    st->free_space = (size_t)SHM_STAT_GET(h, free_granules) * SHM_GRANULE;
    st->entries = SHM_STAT_GET(h, keys);
    st->evictions = SHM_STAT_GET(h, evictions);
    st->expirations = SHM_STAT_GET(h, expirations);
    st->flushed = SHM_STAT_GET(h, flushed);
    st->repairs = SHM_STAT_GET(h, repairs);
}

/* The consistency check on demand (tests): SHM_OK when D is sound,
 * SHM_FAIL when not (mended with REPAIR: RES says how). Without REPAIR
 * nothing changes. */
int
shm_dict_check(struct shm_dict *d, int repair, struct shm_check_result *res, const char **err)
{
    int rc;

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    shm_commit(d->h);
    rc = shm_check_locked(d, repair, res);
    if (repair && rc != 0)
        SHM_STAT_ADD(d->h, repairs, 1);
    shm_unlock(d);
    return rc == 0 ? SHM_OK : SHM_FAIL;
}
