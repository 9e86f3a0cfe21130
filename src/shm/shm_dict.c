/*
 * shm_dict.c: the operations of a shared dictionary, with ngx_lua's
 * answers.
 *
 * Keys are found through a hash table (a power-of-two array of bucket
 * heads, sized from SIZE when the dictionary is made); every entry is also
 * on one LRU list, newest first. The semantics are ngx_lua's
 * (ngx_http_lua_shdict.c), step for step where a script could tell the
 * difference: a lookup that finds a key moves it to the front; every
 * write, get and list operation first removes at most two expired entries
 * from the back; a value of the same length is rewritten in place, any
 * other replaces the entry; flush_all marks everything expired and removes
 * three; ttl and expire see an expired entry that was not removed yet.
 * Where we differ on purpose: set, add and incr, when the heap is full,
 * evict from the back for as long as it takes (ngx_lua gives up after 30
 * entries), and a value that could never fit evicts nothing; expiry runs
 * on the monotonic clock (a clock step does not expire everything).
 *
 * Each public function takes the dictionary's lock (shm_lock.c), does its
 * work with no system call and no Lua, and lets go. Values are copied out
 * into the caller's buffer under the lock; when it is too small the caller
 * is told the size (SHM_NEED) and asks again, so nothing here allocates.
 * Every link followed is checked; a bad one marks the dictionary damaged,
 * the operation fails, and the dictionary is repaired before the lock is
 * let go (shm_check.c).
 */
#include <string.h>

#include "monoclock.h"
#include "shm_impl.h"

enum shm_found { SHM_MISSING, SHM_FOUND, SHM_EXPIRED };

/* The clock expiry runs on: monotonic ms, shared by every process of the
 * machine; read once an operation first needs it (most entries never
 * expire, and reading it is a good part of a lookup's cost). */
struct shm_clock {
    uint64_t    ms;     /* 0: not read yet */
};

static uint64_t
shm_time(struct shm_clock *clk)
{
    if (clk->ms == 0)
        clk->ms = (uint64_t)monoclock_ms();
    return clk->ms;
}

static void
shm_lru_unlink(struct shm_head *h, struct shm_entry *e)
{
    struct shm_entry *o;

    if (e->lprev == 0)
        h->lru_head = e->lnext;
    else if ((o = shm_entry_at(h, e->lprev)) != NULL)
        o->lnext = e->lnext;
    else
        h->damaged = 1;
    if (e->lnext == 0)
        h->lru_tail = e->lprev;
    else if ((o = shm_entry_at(h, e->lnext)) != NULL)
        o->lprev = e->lprev;
    else
        h->damaged = 1;
    e->lprev = e->lnext = 0;
}

static void
shm_lru_push(struct shm_head *h, struct shm_entry *e)
{
    struct shm_entry *first;
    uint32_t off = shm_off_of(h, e);

    e->lprev = 0;
    e->lnext = h->lru_head;
    if (h->lru_head) {
        if ((first = shm_entry_at(h, h->lru_head)) != NULL)
            first->lprev = off;
        else {
            h->damaged = 1;
            e->lnext = 0;
        }
    }
    h->lru_head = off;
    if (h->lru_tail == 0)
        h->lru_tail = off;
}

static void
shm_lru_touch(struct shm_head *h, struct shm_entry *e)
{
    if (h->lru_head == shm_off_of(h, e))
        return;
    shm_lru_unlink(h, e);
    shm_lru_push(h, e);
}

/* Take E out of its bucket's chain. */
static void
shm_hash_unlink(struct shm_head *h, struct shm_entry *e)
{
    uint32_t *link = &shm_buckets(h)[e->hash & (h->nbuckets - 1)];
    uint32_t off = shm_off_of(h, e), n;
    struct shm_entry *c;

    for (n = 0; *link && n <= h->keys; n++) {
        if (*link == off) {
            *link = e->hnext;
            return;
        }
        if ((c = shm_entry_at(h, *link)) == NULL)
            break;
        link = &c->hnext;
    }
    h->damaged = 1;
}

/* Free a list's nodes. */
static void
shm_free_nodes(struct shm_head *h, struct shm_entry *e)
{
    uint32_t off = e->first, next, n;
    struct shm_node *nd;

    for (n = 0; off && n < e->vlen; n++) {
        if ((nd = shm_node_at(h, off)) == NULL) {
            h->damaged = 1;
            break;
        }
        next = nd->next;
        shm_arena_free(h, off);
        off = next;
    }
    e->first = e->last = 0;
    e->vlen = 0;
}

/* Remove E and free it. Unlinked from its bucket first: a holder that
 * dies later leaves an unreachable block, which the check reclaims. */
void
shm_dict_unlink_entry(struct shm_dict *d, struct shm_entry *e)
{
    struct shm_head *h = d->h;

    shm_hash_unlink(h, e);
    shm_lru_unlink(h, e);
    if (e->type == SHM_TLIST)
        shm_free_nodes(h, e);
    shm_arena_free(h, shm_off_of(h, e));
    h->keys--;
}

/*
 * ngx_lua's expire step. N = 1: remove the oldest entry if it has expired,
 * and the next one if that has too. N = 0: remove the oldest entry
 * whatever it holds (an eviction), then up to two expired ones. The
 * count removed.
 */
static int
shm_expire_some(struct shm_dict *d, int n, struct shm_clock *clk)
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
        if (n++ != 0 && (e->expires == 0 || e->expires > shm_time(clk)))
            return freed;
        if (e->expires != 0 && e->expires <= shm_time(clk))
            h->expirations++;
        else
            h->evictions++;
        shm_dict_unlink_entry(d, e);
        freed++;
    }
    return freed;
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
static enum shm_found
shm_lookup(struct shm_head *h, uint32_t hash, const char *key, size_t klen, struct shm_clock *clk,
           struct shm_entry **found)
{
    if (shm_peek(h, hash, key, klen, found) == SHM_MISSING)
        return SHM_MISSING;
    shm_lru_touch(h, *found);
    return (*found)->expires != 0 && (*found)->expires < shm_time(clk) ? SHM_EXPIRED : SHM_FOUND;
}

/* A block of N granules, evicting the oldest entries while the heap is
 * full (unless SAFE): at most every entry, never for a block that could
 * not fit in the empty heap. 0 when it cannot be had. */
static uint32_t
shm_alloc_evicting(struct shm_dict *d, uint32_t n, int safe, struct shm_clock *clk, int *forcible)
{
    struct shm_head *h = d->h;
    uint32_t off;

    if (n > shm_arena_largest(h))
        return 0;
    while ((off = shm_arena_alloc(h, n, SHM_KIND_ENTRY)) == 0 && !safe && !h->damaged) {
        if (shm_expire_some(d, 0, clk) == 0)
            return 0;
        *forcible = 1;
    }
    return off;
}

/* A new entry for KEY in the block at OFF, linked in: the bucket last,
 * so that it is never reachable half written. */
static struct shm_entry *
shm_entry_init(struct shm_head *h, uint32_t off, uint32_t hash, const char *key, size_t klen)
{
    struct shm_entry *e = SHM_BODY(SHM_BLOCK(h, off));
    uint32_t *bucket = &shm_buckets(h)[hash & (h->nbuckets - 1)];

    memset(e, 0, sizeof(*e));
    e->hash = hash;
    e->klen = (uint16_t)klen;
    memcpy(SHM_ENTRY_KEY(e), key, klen);
    e->hnext = *bucket;
    *bucket = off;
    shm_lru_push(h, e);
    h->keys++;
    return e;
}

static uint64_t
shm_expiry(long long ms, struct shm_clock *clk)
{
    return ms > 0 ? shm_time(clk) + (uint64_t)ms : 0;
}

/* The bytes a scalar value is stored as, in BUF (8 bytes at least). */
static const char *
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

/*
 * set, safe_set, add, safe_add, replace, and delete (set to nil), as
 * ngx_lua's store: SHM_OK; or SHM_FAIL with "not found" (replace),
 * "exists" (add), "no memory", "attempt to add or replace nil values".
 */
int
shm_dict_store(struct shm_dict *d, int op, const char *key, size_t klen, const struct shm_value *v,
               long long exptime_ms, int *forcible, const char **err)
{
    struct shm_head *h;
    struct shm_entry *e;
    enum shm_found rc;
    char nbuf[sizeof(double)];
    const char *val;
    size_t vlen;
    uint32_t hash, off;
    struct shm_clock clk = { 0 };

    *forcible = 0;
    if (v->type == SHM_TNIL && (op & (SHM_OP_ADD | SHM_OP_REPLACE))) {
        *err = "attempt to add or replace nil values";
        return SHM_FAIL;
    }
    val = shm_value_bytes(v, nbuf, &vlen);
    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    h = d->h;
    shm_expire_some(d, 1, &clk);
    hash = shm_hash(h, key, klen);
    rc = shm_lookup(h, hash, key, klen, &clk, &e);
    if (op & SHM_OP_REPLACE) {
        if (rc != SHM_FOUND) {
            shm_unlock(d);
            *err = "not found";
            return SHM_FAIL;
        }
    } else if (op & SHM_OP_ADD) {
        if (rc == SHM_FOUND) {
            shm_unlock(d);
            *err = "exists";
            return SHM_FAIL;
        }
    } else if (rc != SHM_MISSING && val == NULL) {
        shm_dict_unlink_entry(d, e);
        e = NULL;
    }
    if (e && val && vlen == e->vlen && e->type != SHM_TLIST) {
        /* the same length: rewritten in place, as ngx_lua does */
        e->expires = shm_expiry(exptime_ms, &clk);
        e->flags = v->flags;
        e->type = (uint8_t)v->type;
        memcpy(SHM_ENTRY_VALUE(e), val, vlen);
        shm_unlock(d);
        return SHM_OK;
    }
    if (e)
        shm_dict_unlink_entry(d, e);
    if (val == NULL) {
        shm_unlock(d);
        return SHM_OK;
    }
    off = shm_alloc_evicting(d, shm_granules(sizeof(*e) + klen + vlen), op & SHM_OP_SAFE, &clk, forcible);
    if (off == 0) {
        shm_unlock(d);
        *err = "no memory";
        return SHM_FAIL;
    }
    e = shm_entry_init(h, off, hash, key, klen);
    e->expires = shm_expiry(exptime_ms, &clk);
    e->flags = v->flags;
    e->type = (uint8_t)v->type;
    e->vlen = (uint32_t)vlen;
    memcpy(SHM_ENTRY_VALUE(e), val, vlen);
    shm_unlock(d);
    return SHM_OK;
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
        shm_expire_some(d, 1, &clk);
    rc = shm_lookup(d->h, shm_hash(d->h, key, klen), key, klen, &clk, &e);
    if (rc == SHM_MISSING || (rc == SHM_EXPIRED && !stale)) {
        shm_unlock(d);
        return SHM_NONE;
    }
    if (e->type == SHM_TLIST) {
        shm_unlock(d);
        *err = "value is a list";
        return SHM_FAIL;
    }
    r = shm_copy_value(d->h, e, out, buf, size);
    *is_stale = rc == SHM_EXPIRED;
    shm_unlock(d);
    return r;
}

/*
 * incr: add *VALUE to a number; with HAS_INIT a missing (or expired) key
 * starts at INIT, expiring after INIT_TTL_MS. The sum in *VALUE; SHM_FAIL
 * "not found", "not a number", "no memory".
 */
int
shm_dict_incr(struct shm_dict *d, const char *key, size_t klen, double *value, int has_init,
              double init, long long init_ttl_ms, int *forcible, const char **err)
{
    struct shm_head *h;
    struct shm_entry *e;
    enum shm_found rc;
    uint32_t hash, off;
    struct shm_clock clk = { 0 };
    double num;

    *forcible = 0;
    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    h = d->h;
    shm_expire_some(d, 1, &clk);
    hash = shm_hash(h, key, klen);
    rc = shm_lookup(h, hash, key, klen, &clk, &e);
    if (rc == SHM_FOUND) {
        if (e->type != SHM_TNUMBER || e->vlen != sizeof(double)) {
            shm_unlock(d);
            *err = "not a number";
            return SHM_FAIL;
        }
        memcpy(&num, SHM_ENTRY_VALUE(e), sizeof(double));
        num += *value;
        memcpy(SHM_ENTRY_VALUE(e), &num, sizeof(double));
        shm_unlock(d);
        *value = num;
        return SHM_OK;
    }
    if (!has_init) {
        shm_unlock(d);
        *err = "not found";
        return SHM_FAIL;
    }
    num = *value + init;
    if (rc != SHM_EXPIRED || e->vlen != sizeof(double) || e->type == SHM_TLIST) {
        if (rc == SHM_EXPIRED)
            shm_dict_unlink_entry(d, e);
        off = shm_alloc_evicting(d, shm_granules(sizeof(*e) + klen + sizeof(double)), 0, &clk, forcible);
        if (off == 0) {
            shm_unlock(d);
            *err = "no memory";
            return SHM_FAIL;
        }
        e = shm_entry_init(h, off, hash, key, klen);
        e->vlen = sizeof(double);
    }
    e->flags = 0;
    e->expires = shm_expiry(init_ttl_ms, &clk);
    e->type = SHM_TNUMBER;
    memcpy(SHM_ENTRY_VALUE(e), &num, sizeof(double));
    shm_unlock(d);
    *value = num;
    return SHM_OK;
}

/* A list node for V at the front (LEFT) or back of E; 0 or -1. */
static int
shm_push_node(struct shm_head *h, struct shm_entry *e, int left, const struct shm_value *v)
{
    char nbuf[sizeof(double)];
    const char *val;
    size_t vlen;
    uint32_t off;
    struct shm_node *nd, *o;

    val = shm_value_bytes(v, nbuf, &vlen);
    if ((off = shm_arena_alloc(h, shm_granules(sizeof(*nd) + vlen), SHM_KIND_NODE)) == 0)
        return -1;
    nd = SHM_BODY(SHM_BLOCK(h, off));
    nd->len = (uint32_t)vlen;
    nd->type = (uint8_t)v->type;
    memcpy(SHM_NODE_DATA(nd), val, vlen);
    nd->next = left ? e->first : 0;
    nd->prev = left ? 0 : e->last;
    if (e->vlen == 0) {
        e->first = e->last = off;
    } else if (left) {
        if ((o = shm_node_at(h, e->first)) != NULL)
            o->prev = off;
        else
            h->damaged = 1;
        e->first = off;
    } else {
        if ((o = shm_node_at(h, e->last)) != NULL)
            o->next = off;
        else
            h->damaged = 1;
        e->last = off;
    }
    e->vlen++;
    return 0;
}

/*
 * lpush, rpush: the list's new length in *LEN. SHM_FAIL "value not a
 * list", "no memory" (no room for the value: nil); SHM_FALSE "no memory"
 * (no room to make the list: false), as ngx_lua answers. Lists never
 * evict, as in ngx_lua.
 */
int
shm_dict_push(struct shm_dict *d, int left, const char *key, size_t klen, const struct shm_value *v,
              long *len, const char **err)
{
    struct shm_head *h;
    struct shm_entry *e;
    enum shm_found rc;
    uint32_t hash, off;
    struct shm_clock clk = { 0 };

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    h = d->h;
    shm_expire_some(d, 1, &clk);
    hash = shm_hash(h, key, klen);
    rc = shm_lookup(h, hash, key, klen, &clk, &e);
    if (rc == SHM_FOUND && e->type != SHM_TLIST) {
        shm_unlock(d);
        *err = "value not a list";
        return SHM_FAIL;
    }
    if (rc == SHM_EXPIRED && e->type == SHM_TLIST) {
        /* an expired list is emptied and used again */
        shm_free_nodes(h, e);
        e->expires = 0;
    } else if (rc != SHM_FOUND) {
        if (rc == SHM_EXPIRED)
            shm_dict_unlink_entry(d, e);
        if ((off = shm_arena_alloc(h, shm_granules(sizeof(*e) + klen), SHM_KIND_ENTRY)) == 0) {
            shm_unlock(d);
            *err = "no memory";
            return SHM_FALSE;
        }
        e = shm_entry_init(h, off, hash, key, klen);
        e->type = SHM_TLIST;
    }
    if (shm_push_node(h, e, left, v) < 0) {
        if (e->vlen == 0)
            shm_dict_unlink_entry(d, e);
        shm_unlock(d);
        *err = "no memory";
        return SHM_FAIL;
    }
    *len = (long)e->vlen;
    shm_unlock(d);
    return SHM_OK;
}

/*
 * lpop, rpop: the value taken off the front (LEFT) or back in OUT;
 * SHM_NONE when there is no such key; SHM_NEED (OUT->len) when a string
 * is longer than SIZE, the list untouched; SHM_FAIL "value not a list". A
 * list that becomes empty is removed.
 */
int
shm_dict_pop(struct shm_dict *d, int left, const char *key, size_t klen, struct shm_value *out,
             char *buf, size_t size, const char **err)
{
    struct shm_head *h;
    struct shm_entry *e;
    struct shm_node *nd, *o;
    enum shm_found rc;
    uint32_t off;
    struct shm_clock clk = { 0 };

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    h = d->h;
    shm_expire_some(d, 1, &clk);
    rc = shm_lookup(h, shm_hash(h, key, klen), key, klen, &clk, &e);
    if (rc != SHM_FOUND) {
        shm_unlock(d);
        return SHM_NONE;
    }
    if (e->type != SHM_TLIST) {
        shm_unlock(d);
        *err = "value not a list";
        return SHM_FAIL;
    }
    off = left ? e->first : e->last;
    if (e->vlen == 0 || (nd = shm_node_at(h, off)) == NULL ||
        (nd->type == SHM_TNUMBER && nd->len != sizeof(double))) {
        h->damaged = 1;
        shm_unlock(d);
        return SHM_NONE;
    }
    out->type = nd->type;
    out->flags = 0;
    out->len = nd->len;
    if (nd->type == SHM_TNUMBER) {
        memcpy(&out->num, SHM_NODE_DATA(nd), sizeof(double));
    } else if (nd->len > size) {
        shm_unlock(d);
        return SHM_NEED;
    } else {
        memcpy(buf, SHM_NODE_DATA(nd), nd->len);
        out->str = buf;
    }
    if (e->vlen == 1) {
        shm_dict_unlink_entry(d, e);
    } else {
        if (left) {
            e->first = nd->next;
            if ((o = shm_node_at(h, nd->next)) != NULL)
                o->prev = 0;
            else
                h->damaged = 1;
        } else {
            e->last = nd->prev;
            if ((o = shm_node_at(h, nd->prev)) != NULL)
                o->next = 0;
            else
                h->damaged = 1;
        }
        e->vlen--;
        shm_arena_free(h, off);
    }
    shm_unlock(d);
    return SHM_OK;
}

/* llen: 0 for a missing key; SHM_FAIL "value not a list". */
int
shm_dict_llen(struct shm_dict *d, const char *key, size_t klen, long *len, const char **err)
{
    struct shm_entry *e;
    struct shm_clock clk = { 0 };

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    shm_expire_some(d, 1, &clk);
    *len = 0;
    if (shm_lookup(d->h, shm_hash(d->h, key, klen), key, klen, &clk, &e) == SHM_FOUND) {
        if (e->type != SHM_TLIST) {
            shm_unlock(d);
            *err = "value not a list";
            return SHM_FAIL;
        }
        *len = (long)e->vlen;
    }
    shm_unlock(d);
    return SHM_OK;
}

/* ttl: ms left (0: never expires; below 0: expired, not yet removed);
 * SHM_NONE when missing. */
int
shm_dict_ttl(struct shm_dict *d, const char *key, size_t klen, long long *ms, const char **err)
{
    struct shm_entry *e;
    struct shm_clock clk = { 0 };

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    if (shm_peek(d->h, shm_hash(d->h, key, klen), key, klen, &e) == SHM_MISSING) {
        shm_unlock(d);
        return SHM_NONE;
    }
    *ms = e->expires == 0 ? 0 : (long long)e->expires - (long long)shm_time(&clk);
    shm_unlock(d);
    return SHM_OK;
}

/* expire: a new expiry (0 or less: never), found expired or not;
 * SHM_NONE when missing. */
int
shm_dict_expire(struct shm_dict *d, const char *key, size_t klen, long long exptime_ms, const char **err)
{
    struct shm_entry *e;
    struct shm_clock clk = { 0 };

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    if (shm_peek(d->h, shm_hash(d->h, key, klen), key, klen, &e) == SHM_MISSING) {
        shm_unlock(d);
        return SHM_NONE;
    }
    e->expires = shm_expiry(exptime_ms, &clk);
    shm_unlock(d);
    return SHM_OK;
}

/* flush_all: everything expires now (flush_expired or later writes free
 * the memory), as in ngx_lua. */
int
shm_dict_flush_all(struct shm_dict *d, const char **err)
{
    struct shm_clock clk = { 0 };
    struct shm_head *h;
    struct shm_entry *e;
    uint32_t off, n;

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    h = d->h;
    for (off = h->lru_head, n = 0; off && n < h->keys; n++) {
        if ((e = shm_entry_at(h, off)) == NULL) {
            h->damaged = 1;
            break;
        }
        e->expires = 1;
        off = e->lnext;
    }
    shm_expire_some(d, 0, &clk);
    shm_unlock(d);
    return SHM_OK;
}

/* flush_expired: remove expired entries, oldest first, at most ATTEMPTS
 * of them (0: all); how many in *FREED. */
int
shm_dict_flush_expired(struct shm_dict *d, int attempts, int *freed, const char **err)
{
    struct shm_head *h;
    struct shm_entry *e;
    uint32_t off, prev, n, total;
    struct shm_clock clk = { 0 };

    *freed = 0;
    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    h = d->h;
    total = h->keys;
    for (off = h->lru_tail, n = 0; off && n < total; n++) {
        if ((e = shm_entry_at(h, off)) == NULL) {
            h->damaged = 1;
            break;
        }
        prev = e->lprev;
        if (e->expires != 0 && e->expires <= shm_time(&clk)) {
            h->expirations++;
            shm_dict_unlink_entry(d, e);
            if (++*freed == attempts)
                break;
        }
        off = prev;
    }
    shm_unlock(d);
    return SHM_OK;
}

/*
 * get_keys: the live keys, oldest first, at most ATTEMPTS (0: all), into
 * BUF as [2-byte length][bytes]...; their count in *COUNT, the bytes in
 * *USED. SHM_NEED (and the bytes needed in *USED) when SIZE is short.
 */
int
shm_dict_keys(struct shm_dict *d, int attempts, char *buf, size_t size, size_t *used, int *count,
              const char **err)
{
    struct shm_head *h;
    struct shm_entry *e;
    uint32_t off, n;
    uint16_t klen;
    struct shm_clock clk = { 0 };
    size_t need = 0;
    int k = 0, pass;

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    h = d->h;
    for (pass = 0; pass < 2; pass++) {
        k = 0;
        for (off = h->lru_tail, n = 0; off && n < h->keys && (attempts <= 0 || k < attempts); n++) {
            if ((e = shm_entry_at(h, off)) == NULL) {
                h->damaged = 1;
                break;
            }
            if (e->expires == 0 || e->expires > shm_time(&clk)) {
                if (pass == 0) {
                    need += sizeof(klen) + e->klen;
                } else {
                    klen = e->klen;
                    memcpy(buf, &klen, sizeof(klen));
                    memcpy(buf + sizeof(klen), SHM_ENTRY_KEY(e), klen);
                    buf += sizeof(klen) + klen;
                }
                k++;
            }
            off = e->lprev;
        }
        if (pass == 0 && need > size) {
            shm_unlock(d);
            *used = need;
            return SHM_NEED;
        }
    }
    shm_unlock(d);
    *used = need;
    *count = k;
    return SHM_OK;
}

size_t
shm_dict_capacity(const struct shm_dict *d)
{
    return (size_t)d->h->size;
}

const char *
shm_dict_name(const struct shm_dict *d)
{
    return d->h->name;
}

/* The figures for free_space and the status page. */
int
shm_dict_stats(struct shm_dict *d, struct shm_stats *st, const char **err)
{
    struct shm_head *h = d->h;

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    st->capacity = (size_t)h->size;
    st->free_space = (size_t)h->free_granules * SHM_GRANULE;
    st->keys = h->keys;
    st->evictions = h->evictions;
    st->expirations = h->expirations;
    st->repairs = h->repairs;
    shm_unlock(d);
    return SHM_OK;
}

/* The consistency check on demand (tests, start-up): SHM_OK when D is
 * sound, SHM_FAIL when not (mended with REPAIR: RES says how). Without
 * REPAIR nothing changes. */
int
shm_dict_check(struct shm_dict *d, int repair, struct shm_check_result *res, const char **err)
{
    int rc;

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    rc = shm_check_locked(d, repair, res);
    if (repair && rc != 0)
        d->h->repairs++;
    shm_unlock(d);
    return rc == 0 ? SHM_OK : SHM_FAIL;
}

/* A copy of E's list into NE, node by node; 0, or -1 when TO is full. */
static int
shm_copy_list(struct shm_head *to, struct shm_entry *ne, struct shm_head *from, struct shm_entry *e)
{
    struct shm_value v;
    struct shm_node *nd;
    uint32_t off, n;

    for (off = e->first, n = 0; off && n < e->vlen; n++) {
        if ((nd = shm_node_at(from, off)) == NULL) {
            from->damaged = 1;
            return -1;
        }
        v.type = nd->type;
        v.num = 0;
        v.str = SHM_NODE_DATA(nd);
        v.len = nd->len;
        v.flags = 0;
        if (nd->type == SHM_TNUMBER)
            memcpy(&v.num, SHM_NODE_DATA(nd), sizeof(double));
        if (shm_push_node(to, ne, 0, &v) < 0)
            return -1;
        off = nd->next;
    }
    return 0;
}

/*
 * Copy FROM's live entries into TO (a new dictionary nobody else uses
 * yet, for a resize), oldest first, so that when TO is smaller what it
 * evicts is the oldest and its LRU order is FROM's. Expiry and flags are
 * kept. 0, or SHM_LOCKED.
 */
int
shm_dict_copy(struct shm_dict *to, struct shm_dict *from, unsigned long *copied)
{
    struct shm_head *h = from->h;
    struct shm_entry *e, *ne;
    uint32_t off, noff, n, total;
    const char *err;
    struct shm_clock clk = { 0 };
    int forcible;

    *copied = 0;
    if (shm_lock(from, &err) < 0)
        return SHM_LOCKED;
    if (shm_lock(to, &err) < 0) {
        shm_unlock(from);
        return SHM_LOCKED;
    }
    total = h->keys;
    for (off = h->lru_tail, n = 0; off && n < total; n++, off = e->lprev) {
        if ((e = shm_entry_at(h, off)) == NULL) {
            h->damaged = 1;
            break;
        }
        if (e->expires != 0 && e->expires <= shm_time(&clk))
            continue;
        noff = shm_alloc_evicting(to, shm_granules(sizeof(*e) + e->klen +
                                                   (e->type == SHM_TLIST ? 0 : e->vlen)), 0, &clk, &forcible);
        if (noff == 0)
            continue;
        ne = shm_entry_init(to->h, noff, shm_hash(to->h, SHM_ENTRY_KEY(e), e->klen), SHM_ENTRY_KEY(e), e->klen);
        ne->expires = e->expires;
        ne->flags = e->flags;
        ne->type = e->type;
        if (e->type != SHM_TLIST) {
            ne->vlen = e->vlen;
            memcpy(SHM_ENTRY_VALUE(ne), SHM_ENTRY_VALUE(e), e->vlen);
        } else if (shm_copy_list(to->h, ne, h, e) < 0 && ne->vlen == 0) {
            shm_dict_unlink_entry(to, ne);
            continue;
        }
    }
    *copied = to->h->keys;
    shm_unlock(to);
    shm_unlock(from);
    return 0;
}
