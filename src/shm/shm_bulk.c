/*
 * shm_bulk.c: the operations that walk a whole dictionary (get_keys,
 * flush_expired), in steps.
 *
 * ngx_lua walks the whole dictionary under its lock, which in nginx
 * stalls only the worker process that asked. Here every worker of the
 * serving process waits on that one lock: get_keys(0) over 27 million
 * keys held it for a minute. So a walk is cut into steps: each takes the
 * lock, visits at most SHM_STEP entries (and a bounded run of empty
 * buckets), and lets go; the caller makes its Lua strings, and checks
 * the request's deadline, between steps, with no lock held.
 *
 * A cursor between steps must survive anything the other workers do
 * meanwhile, so it is a bucket number, never an entry (which may be
 * gone): a key lives in one bucket for its whole life, so a walk sees each
 * key at most once, and every key that stays from its start to its end;
 * a key written or removed meanwhile may or may not be seen, as with any
 * walk that other writers overlap. The order is then the table's, not
 * the LRU list's. A dictionary of at most SHM_STEP entries is walked in
 * one step, along its LRU list, oldest first, exactly as ngx_lua does
 * (the order and the count a script sees on a small dictionary are
 * ngx_lua's; on a large one they are a walk's, in no particular order).
 */
#include <string.h>

#include "shm_impl.h"

/* Empty buckets a step may scan, besides its entries. */
#define SHM_STEP_BUCKETS    (SHM_STEP * 32)

enum { SHM_WALK_START, SHM_WALK_LRU, SHM_WALK_BUCKETS };

static int
shm_live(const struct shm_head *h, const struct shm_entry *e, struct shm_clock *clk)
{
    uint64_t x = shm_expires(h, e);

    return x == 0 || x > shm_time(clk);
}

/* Append E's key to BUF at *USED as [2-byte length][bytes]. */
static void
shm_put_key(char *buf, size_t *used, const struct shm_entry *e)
{
    uint16_t klen = e->klen;

    memcpy(buf + *used, &klen, sizeof(klen));
    memcpy(buf + *used + sizeof(klen), SHM_ENTRY_KEY(e), klen);
    *used += sizeof(klen) + klen;
}

/* The whole LRU list, oldest first: MAX live keys at most (0: all). */
static int
shm_keys_lru(struct shm_head *h, int max, char *buf, size_t size, size_t *used, int *count,
             struct shm_clock *clk)
{
    struct shm_entry *e;
    uint32_t off, n;
    size_t need = 0;
    int k = 0;

    for (off = h->lru_tail, n = 0; off && n < h->keys && (max <= 0 || k < max); n++, off = e->lprev) {
        if ((e = shm_entry_at(h, off)) == NULL) {
            h->damaged = 1;
            break;
        }
        if (shm_live(h, e, clk)) {
            need += sizeof(uint16_t) + e->klen;
            k++;
        }
    }
    if (need > size) {
        *used = need;
        return SHM_NEED;
    }
    *used = 0;
    *count = k;
    for (off = h->lru_tail; off && k > 0; off = e->lprev) {
        e = SHM_BODY(SHM_BLOCK(h, off));
        if (shm_live(h, e, clk)) {
            shm_put_key(buf, used, e);
            k--;
        }
    }
    return SHM_OK;
}

/* The live keys of bucket I: their count, their bytes in *BYTES, the
 * entries visited in *SEEN. */
static int
shm_bucket_keys(struct shm_head *h, uint32_t i, size_t *bytes, uint32_t *seen, struct shm_clock *clk)
{
    uint32_t off = shm_buckets(h)[i];
    struct shm_entry *e;
    int k = 0;

    *bytes = 0;
    for (*seen = 0; off && *seen <= h->keys; (*seen)++, off = e->hnext) {
        if ((e = shm_entry_at(h, off)) == NULL) {
            h->damaged = 1;
            break;
        }
        if (shm_live(h, e, clk)) {
            *bytes += sizeof(uint16_t) + e->klen;
            k++;
        }
    }
    return k;
}

/* A step of buckets from CUR: up to MAX keys (0: no bound). */
static int
shm_keys_buckets(struct shm_head *h, struct shm_cursor *cur, int max, char *buf, size_t size,
                 size_t *used, int *count, struct shm_clock *clk)
{
    uint32_t visited = 0, scanned = 0, seen, off;
    struct shm_entry *e;
    size_t bytes;
    int k;

    *used = 0;
    *count = 0;
    while (cur->bucket < h->nbuckets && visited < SHM_STEP && scanned < SHM_STEP_BUCKETS &&
           (max <= 0 || *count < max)) {
        k = shm_bucket_keys(h, cur->bucket, &bytes, &seen, clk);
        if (h->damaged)
            break;
        if (*used + bytes > size) {
            if (*used == 0) {
                *used = bytes;
                return SHM_NEED;
            }
            break;
        }
        for (off = shm_buckets(h)[cur->bucket]; off && k > 0 && (max <= 0 || *count < max); off = e->hnext) {
            e = SHM_BODY(SHM_BLOCK(h, off));
            if (shm_live(h, e, clk)) {
                shm_put_key(buf, used, e);
                (*count)++;
                k--;
            }
        }
        cur->bucket++;
        visited += seen;
        scanned++;
    }
    cur->done = cur->bucket >= h->nbuckets || (max > 0 && *count >= max);
    return SHM_OK;
}

/*
 * get_keys, one step from CUR (zeroed to start): up to MAX more live keys
 * (0: no bound) into BUF as [2-byte length][bytes]..., their count in
 * *COUNT and their bytes in *USED; CUR->done once the walk is over.
 * SHM_NEED (the bytes needed in *USED) when SIZE cannot hold the step's
 * keys: ask again, with a larger buffer.
 */
int
shm_dict_keys_step(struct shm_dict *d, struct shm_cursor *cur, int max, char *buf, size_t size,
                   size_t *used, int *count, const char **err)
{
    struct shm_clock clk = { 0 };
    int rc;

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    if (cur->mode == SHM_WALK_START && d->h->keys <= SHM_STEP) {
        rc = shm_keys_lru(d->h, max, buf, size, used, count, &clk);
        cur->done = rc == SHM_OK;
    } else {
        cur->mode = SHM_WALK_BUCKETS;
        rc = shm_keys_buckets(d->h, cur, max, buf, size, used, count, &clk);
    }
    if (rc == SHM_OK && cur->mode == SHM_WALK_START)
        cur->mode = SHM_WALK_LRU;
    shm_unlock(d);
    return rc;
}

/* Remove E, expired, counted as what removed it. */
static void
shm_remove_expired(struct shm_dict *d, struct shm_entry *e)
{
    struct shm_head *h = d->h;

    if (e->gen != h->flush_gen)
        SHM_STAT_ADD(h, flushed, 1);
    else
        SHM_STAT_ADD(h, expirations, 1);
    shm_dict_unlink_entry(d, e);
    shm_commit(h);
}

/* flush_expired along the LRU list, oldest first: at most MAX (0: all). */
static int
shm_flush_lru(struct shm_dict *d, int max, struct shm_clock *clk)
{
    struct shm_head *h = d->h;
    struct shm_entry *e;
    uint32_t off, prev, n, total = h->keys;
    int freed = 0;

    for (off = h->lru_tail, n = 0; off && n < total && !h->damaged; n++) {
        if ((e = shm_entry_at(h, off)) == NULL) {
            h->damaged = 1;
            break;
        }
        prev = e->lprev;
        if (!shm_live(h, e, clk)) {
            shm_remove_expired(d, e);
            if (++freed == max)
                break;
        }
        off = prev;
    }
    return freed;
}

/* flush_expired over a step of buckets from CUR: at most MAX (0: all). */
static int
shm_flush_buckets(struct shm_dict *d, struct shm_cursor *cur, int max, struct shm_clock *clk)
{
    struct shm_head *h = d->h;
    uint32_t visited = 0, scanned = 0, off, next, n;
    struct shm_entry *e;
    int freed = 0;

    while (cur->bucket < h->nbuckets && visited < SHM_STEP && scanned < SHM_STEP_BUCKETS &&
           (max <= 0 || freed < max) && !h->damaged) {
        for (off = shm_buckets(h)[cur->bucket], n = 0; off && n <= h->keys && (max <= 0 || freed < max);
             n++, off = next) {
            if ((e = shm_entry_at(h, off)) == NULL) {
                h->damaged = 1;
                break;
            }
            next = e->hnext;
            if (!shm_live(h, e, clk)) {
                shm_remove_expired(d, e);
                freed++;
            }
        }
        cur->bucket++;
        visited += n;
        scanned++;
    }
    cur->done = cur->bucket >= h->nbuckets || (max > 0 && freed >= max);
    return freed;
}

/* flush_expired, one step from CUR (zeroed to start): at most MAX more
 * expired entries removed (0: no bound); how many in *FREED; CUR->done
 * once the walk is over. */
int
shm_dict_flush_expired_step(struct shm_dict *d, struct shm_cursor *cur, int max, int *freed, const char **err)
{
    struct shm_clock clk = { 0 };

    *freed = 0;
    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    if (cur->mode == SHM_WALK_START && d->h->keys <= SHM_STEP) {
        cur->mode = SHM_WALK_LRU;
        *freed = shm_flush_lru(d, max, &clk);
        cur->done = 1;
    } else {
        cur->mode = SHM_WALK_BUCKETS;
        *freed = shm_flush_buckets(d, cur, max, &clk);
    }
    shm_unlock(d);
    return SHM_OK;
}

/* flush_expired whole, step after step (for callers with no request to
 * answer to): at most ATTEMPTS removed (0: all), how many in *FREED. */
int
shm_dict_flush_expired(struct shm_dict *d, int attempts, int *freed, const char **err)
{
    struct shm_cursor cur;
    int n;

    memset(&cur, 0, sizeof(cur));
    *freed = 0;
    while (!cur.done) {
        if (shm_dict_flush_expired_step(d, &cur, attempts > 0 ? attempts - *freed : 0, &n, err) != SHM_OK)
            return SHM_LOCKED;
        *freed += n;
    }
    return SHM_OK;
}

/* get_keys whole, step after step, into BUF (as shm_dict_keys_step):
 * SHM_NEED when SIZE is short (*USED: at least what is needed). */
int
shm_dict_keys(struct shm_dict *d, int attempts, char *buf, size_t size, size_t *used, int *count,
              const char **err)
{
    struct shm_cursor cur;
    size_t got = 0, n;
    int rc, k;

    memset(&cur, 0, sizeof(cur));
    *count = 0;
    while (!cur.done) {
        rc = shm_dict_keys_step(d, &cur, attempts > 0 ? attempts - *count : 0, buf + got, size - got, &n, &k,
                                err);
        if (rc == SHM_NEED) {
            *used = got + n;
            return SHM_NEED;
        }
        if (rc != SHM_OK)
            return rc;
        got += n;
        *count += k;
    }
    *used = got;
    return SHM_OK;
}
