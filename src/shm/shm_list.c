/*
 * shm_list.c: a dictionary's lists (lpush, rpush, lpop, rpop, llen),
 * with ngx_lua's answers.
 *
 * A list is an entry of type SHM_TLIST whose value is a doubly linked
 * chain of NODE blocks (first, last; vlen counts them), each holding one
 * string or number. Lists are the one value that grows in steps rather
 * than being swapped whole, so they are apart from the scalar operations
 * (shm_dict.c), which they share only the start of a keyed operation
 * with (shm_dict_open_key) and the making of an entry. As in ngx_lua, a
 * list never evicts to make room: a push the heap cannot hold fails, and
 * a list emptied by a pop is removed. Each push or pop is one step of
 * the undo log; a node is linked only once it is built whole, and the
 * neighbour a push or pop writes through must link back to the node it
 * moves (anything else is damage: the step is undone, the dictionary
 * mended before the lock is let go, and the push or pop fails). A
 * removed list's nodes are freed in bounded steps (shm_dict_collect).
 */
#include <string.h>

#include "shm_impl.h"

/* A list node for V, built whole, at the front (LEFT) or back of E; 0,
 * or -1 when the heap has no room (lists never evict). */
int
shm_dict_push_node(struct shm_head *h, struct shm_entry *e, int left, const struct shm_value *v)
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
    shm_log(h, &e->first);
    if (e->vlen == 0) {
        e->first = e->last = off;
    } else if (left) {
        if ((o = shm_node_at(h, e->first)) != NULL && o->prev == 0)
            SHM_SET(h, o->prev, off);
        else
            h->damaged = 1;
        e->first = off;
    } else {
        if ((o = shm_node_at(h, e->last)) != NULL && o->next == 0)
            SHM_SET(h, o->next, off);
        else
            h->damaged = 1;
        e->last = off;
    }
    SHM_SET(h, e->vlen, e->vlen + 1);
    return 0;
}

/*
 * lpush, rpush: the list's new length in *LEN. SHM_FAIL "value not a
 * list", "no memory" (no room for the value: nil); SHM_FALSE "no memory"
 * (no room to make the list: false), as ngx_lua answers. Lists never
 * evict, as in ngx_lua. An expired list is removed and made anew.
 */
int
shm_dict_push(struct shm_dict *d, int left, const char *key, size_t klen, const struct shm_value *v,
              long *len, const char **err)
{
    struct shm_head *h;
    struct shm_entry *e;
    enum shm_found rc;
    struct shm_clock clk = { 0 };
    struct shm_put p;
    uint32_t off;

    if ((rc = shm_dict_open_key(d, key, klen, &clk, &p.hash, &e, err)) == SHM_NOT_LOCKED)
        return SHM_LOCKED;
    h = d->h;
    if (rc == SHM_FOUND && e->type != SHM_TLIST) {
        *err = "value not a list";
        return shm_done(d, SHM_FAIL, err);
    }
    if (rc != SHM_FOUND) {
        if (rc == SHM_EXPIRED) {
            shm_dict_unlink_entry(d, e);
            shm_commit(h);
        }
        p.key = key;
        p.klen = klen;
        p.type = SHM_TLIST;
        p.val = NULL;
        p.vlen = 0;
        p.flags = 0;
        p.expires = 0;
        if (h->garbage)
            shm_dict_collect(h, SHM_STEP);
        if ((off = shm_arena_alloc(h, shm_entry_granules(klen, 0), SHM_KIND_ENTRY)) == 0) {
            *err = "no memory";
            return shm_done(d, SHM_FALSE, err);
        }
        e = shm_entry_build(h, off, &p);
        shm_entry_link(h, off);
    }
    if (shm_dict_push_node(h, e, left, v) < 0) {
        if (e->vlen == 0)
            shm_dict_unlink_entry(d, e);
        *err = "no memory";
        return shm_done(d, SHM_FAIL, err);
    }
    *len = (long)e->vlen;
    return shm_done(d, SHM_OK, err);
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

    if ((rc = shm_dict_open_key(d, key, klen, &clk, NULL, &e, err)) == SHM_NOT_LOCKED)
        return SHM_LOCKED;
    h = d->h;
    if (rc != SHM_FOUND)
        return shm_done(d, SHM_NONE, err);
    if (e->type != SHM_TLIST) {
        *err = "value not a list";
        return shm_done(d, SHM_FAIL, err);
    }
    off = left ? e->first : e->last;
    if (e->vlen == 0 || (nd = shm_node_at(h, off)) == NULL ||
        (nd->type == SHM_TNUMBER && nd->len != sizeof(double))) {
        h->damaged = 1;
        return shm_done(d, SHM_NONE, err);
    }
    out->type = nd->type;
    out->flags = 0;
    out->len = nd->len;
    if (nd->type == SHM_TNUMBER) {
        memcpy(&out->num, SHM_NODE_DATA(nd), sizeof(double));
    } else if (nd->len > size) {
        return shm_done(d, SHM_NEED, err);
    } else {
        memcpy(buf, SHM_NODE_DATA(nd), nd->len);
        out->str = buf;
    }
    if (e->vlen == 1) {
        shm_dict_unlink_entry(d, e);
    } else {
        /* the node taken is an end (nothing beyond it), and its
         * neighbour links back to it */
        if (left) {
            SHM_SET(h, e->first, nd->next);
            if (nd->prev == 0 && (o = shm_node_at(h, nd->next)) != NULL && o->prev == off)
                SHM_SET(h, o->prev, 0);
            else
                h->damaged = 1;
        } else {
            SHM_SET(h, e->last, nd->prev);
            if (nd->next == 0 && (o = shm_node_at(h, nd->prev)) != NULL && o->next == off)
                SHM_SET(h, o->next, 0);
            else
                h->damaged = 1;
        }
        SHM_SET(h, e->vlen, e->vlen - 1);
        shm_arena_free(h, off);
    }
    return shm_done(d, SHM_OK, err);
}

/* llen: 0 for a missing key; SHM_FAIL "value not a list". */
int
shm_dict_llen(struct shm_dict *d, const char *key, size_t klen, long *len, const char **err)
{
    struct shm_entry *e;
    struct shm_clock clk = { 0 };

    if (shm_lock(d, err) < 0)
        return SHM_LOCKED;
    shm_expire_some(d, 1, &clk, NULL);
    *len = 0;
    if (shm_lookup(d->h, shm_hash(d->h, key, klen), key, klen, &clk, &e) == SHM_FOUND) {
        if (e->type != SHM_TLIST) {
            *err = "value not a list";
            return shm_done(d, SHM_FAIL, err);
        }
        *len = (long)e->vlen;
    }
    return shm_done(d, SHM_OK, err);
}
