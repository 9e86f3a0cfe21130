/*
 * shm_impl.h: the layout of a shared dictionary's arena, shared by the
 * engine's files only (shm_arena.c, the block allocator; shm_undo.c, the
 * undo log that makes every step of an operation all or nothing;
 * shm_dict.c, the operations; shm_lru.c, the LRU list and expiry;
 * shm_list.c, the lists; shm_bulk.c, those that walk the whole
 * dictionary, in steps; shm_check.c, the check and repair; shm_lock.c,
 * the lock; shm_resize.c, a size changed in place; shm_zone.c, mapping
 * and hand-over).
 *
 * An arena is one mapping: a fixed header (the undo log included), then
 * SIZE bytes of heap cut into blocks. Every link inside it is a 32-bit
 * offset counted in 8-byte granules from the start of the mapping, never
 * a pointer: the new binary of a USR2 upgrade maps the same memory at
 * another address. Offset 0 is the header, so it doubles as "none".
 * Every process maps `reserved` bytes, more than the heap (the file's
 * size): a size grown by an upgrade is seen by every process at once.
 *
 * A block starts with an 8-byte header (its size, a constant magic, its
 * kind and two bits). What the blocks hold:
 *
 *   ENTRY    one key: its hash chain, its place in the LRU list, expiry,
 *            flags, type, then the key's bytes, and the value's from the
 *            next granule (so a number is one granule, stored at once)
 *   NODE     one value of a list, in its entry's doubly linked list
 *   BUCKETS  the hash table: one 32-bit offset a bucket
 *   FREE     free space, on a size-class list (or parked, off the lists,
 *            past the limit of a shrink); its last granule repeats its
 *            size, so the block after it can merge with it
 *
 * Crash atomicity: every store to a granule that was in use before the
 * step (a header, a link, a counter, a footer) is first written to the
 * undo log (shm_log); a step ends with shm_commit. A process that dies
 * holding the lock leaves at most one step unfinished, and the next
 * holder writes its logged granules back (shm_undo): the dictionary is
 * exactly as before that step, whatever its size. A value is never
 * rewritten in place: a new entry is built whole in a free block, then
 * swapped in for the old one by one logged store.
 *
 * Everything in an arena below `lock` is guarded by `lock`, except the
 * figures the status page reads (stored and read with relaxed atomics,
 * shm_stat_*), `wedged_tid` and `wedged_ms` (atomics, shm_lock.c).
 */
#ifndef LF_SHM_IMPL_H
#define LF_SHM_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "luafcgid.h"
#include "shm.h"

#define SHM_MAGIC           "LFSHDICT"
#define SHM_LAYOUT          2           /* bump when any struct below changes */
#define SHM_GRANULE         8
#define SHM_BLOCK_MAGIC     0xB10Cu
#define SHM_MIN_BLOCK       3           /* granules: header, free links, footer */

enum shm_kind { SHM_KIND_FREE = 1, SHM_KIND_ENTRY, SHM_KIND_NODE, SHM_KIND_BUCKETS };

#define SHM_BIT_PREV_FREE   0x1         /* the block before this one is free */
#define SHM_BIT_MARK        0x2         /* reached, during a check */
#define SHM_BIT_PARKED      0x4         /* FREE, past a shrink's limit: on no list */

struct shm_block {
    uint32_t    size;                   /* granules, this header included */
    uint16_t    magic;                  /* SHM_BLOCK_MAGIC */
    uint8_t     kind;                   /* enum shm_kind */
    uint8_t     bits;
};

struct shm_free {                       /* a FREE block's body */
    uint32_t    next, prev;             /* its size class's list */
};

struct shm_footer {                     /* a FREE block's last granule */
    uint32_t    size;
    uint32_t    magic;
};

struct shm_entry {                      /* an ENTRY block's body: 56 bytes */
    uint32_t    hnext;                  /* next in its bucket */
    uint32_t    lprev, lnext;           /* LRU: toward newer, toward older */
    uint32_t    hash;
    uint64_t    expires;                /* monotonic ms; 0 never */
    uint64_t    gen;                    /* h->flush_gen when written: an older one is flushed */
    uint32_t    vlen;                   /* value bytes; a list: its length */
    int32_t     flags;                  /* the user's flags */
    uint32_t    first, last;            /* a list's nodes */
    uint16_t    klen;
    uint8_t     type;                   /* enum shm_type */
    uint8_t     pad[5];
    /* the key's bytes, then from the next granule the value's */
};

struct shm_node {                       /* a NODE block's body */
    uint32_t    next, prev;
    uint32_t    len;
    uint8_t     type;                   /* SHM_TSTRING or SHM_TNUMBER */
    uint8_t     pad[3];
    /* the value's bytes */
};

/* One granule as it was before a step wrote to it. */
struct shm_undo_rec {
    uint32_t    off;                    /* granules from the mapping's start */
    uint32_t    pad;
    uint64_t    old;
};

/* Granules a step may log: the largest (a set that replaces a value and
 * frees the old one, merging it on both sides) takes about 60. */
#define SHM_UNDO_MAX        512

/* Free lists: one per size up to SHM_EXACT granules, then four per power
 * of two. A bitmap says which are not empty. */
#define SHM_EXACT           64
#define SHM_CLASSES         (SHM_EXACT + 4 * 26)
#define SHM_BITMAP_WORDS    ((SHM_CLASSES + 31) / 32)

struct shm_head {
    char            magic[8];           /* SHM_MAGIC */
    uint32_t        layout;             /* SHM_LAYOUT */
    uint32_t        mutex_size;         /* sizeof(pthread_mutex_t) when made */
    uint64_t        reserved;           /* bytes every process maps (>= the file's size) */
    uint64_t        pad0;
    char            name[LF_SHARED_NAME_MAX + 1];
    pthread_mutex_t lock;               /* process-shared, robust */
    /* atomics, not guarded (shm_lock.c): a holder seen stopped, and since when */
    int32_t         wedged_tid;
    uint32_t        pad1;
    int64_t         wedged_ms;
    /* guarded by lock, and read by the status page as relaxed atomics: */
    uint64_t        size;               /* the capacity: SIZE as configured */
    uint64_t        mapped;             /* bytes of the file */
    uint64_t        free_granules;
    uint64_t        evictions;          /* live entries removed to make room */
    uint64_t        expirations;        /* entries past their time removed */
    uint64_t        flushed;            /* entries removed after flush_all */
    uint64_t        repairs;            /* steps undone, checks after damage */
    uint32_t        keys;               /* entries held, expired and flushed ones not yet removed too */
    uint32_t        pad2;
    /* guarded by lock: */
    uint64_t        seed;               /* of the key hash */
    uint64_t        flush_gen;          /* flush_all's count: an entry of an older one is flushed */
    uint32_t        heap, heap_end;     /* granules */
    uint32_t        limit;              /* a shrink under way: nothing is allocated past it */
    uint32_t        damaged;            /* an operation found a bad link: repair before unlocking */
    uint32_t        buckets, nbuckets;  /* the BUCKETS block; a power of two */
    uint32_t        lru_head, lru_tail; /* newest, oldest */
    uint32_t        garbage;            /* removed lists whose nodes are still to free, by hnext */
    uint32_t        pad3;
    uint32_t        bitmap[SHM_BITMAP_WORDS];
    uint32_t        lists[SHM_CLASSES];
    /* the undo log of the step under way (shm_undo.c) */
    uint32_t        undo_count;         /* records; 0: no step under way */
    uint32_t        undo_lost;          /* it overflowed: the step cannot be undone */
    struct shm_undo_rec undo[SHM_UNDO_MAX];
};

/* The header's share of the mapping, rounded to a whole number of
 * granules: the fixed overhead above SIZE. */
#define SHM_HEAD_GRANULES   ((sizeof(struct shm_head) + SHM_GRANULE - 1) / SHM_GRANULE)

/* One dictionary as a process sees it. */
struct shm_dict {
    struct shm_head *h;
    size_t          mapped;             /* bytes this process maps: h->reserved, or the file's size */
    int             fd;                 /* the memory's descriptor, kept for USR2; -1: none */
};

#define SHM_AT(h, off)      ((void *)((char *)(h) + (size_t)(off) * SHM_GRANULE))
#define SHM_BLOCK(h, off)   ((struct shm_block *)SHM_AT(h, off))
#define SHM_BODY(b)         ((void *)((struct shm_block *)(b) + 1))
#define SHM_ENTRY_KEY(e)    ((char *)((struct shm_entry *)(e) + 1))
#define SHM_KEY_ROOM(klen)  (((size_t)(klen) + SHM_GRANULE - 1) / SHM_GRANULE * SHM_GRANULE)
#define SHM_ENTRY_VALUE(e)  (SHM_ENTRY_KEY(e) + SHM_KEY_ROOM((e)->klen))
#define SHM_NODE_DATA(n)    ((char *)((struct shm_node *)(n) + 1))

/* Granules a block needs for BYTES of body. */
static inline uint32_t
shm_granules(size_t bytes)
{
    size_t g = (sizeof(struct shm_block) + bytes + SHM_GRANULE - 1) / SHM_GRANULE;

    return (uint32_t)(g < SHM_MIN_BLOCK ? SHM_MIN_BLOCK : g);
}

/* Granules an entry for a key of KLEN bytes and a value of VLEN needs. */
static inline uint32_t
shm_entry_granules(size_t klen, size_t vlen)
{
    return shm_granules(sizeof(struct shm_entry) + SHM_KEY_ROOM(klen) + vlen);
}

/* ---- the undo log (shm_undo.c) ---------------------------------------
 *
 * shm_log(h, p) before every store to a granule in use (P points into
 * it; every field is naturally aligned, so it lies in one granule): the
 * granule's bytes as they are go to the log, and only then is the count
 * raised, with compiler barriers between, so a process killed between
 * any two instructions leaves a log that undoes exactly what it wrote.
 */
static inline void
shm_log(struct shm_head *h, const void *p)
{
    uint32_t g = (uint32_t)(((const char *)p - (const char *)h) / SHM_GRANULE), n = h->undo_count;

    if (n > 0 && h->undo[n - 1].off == g)
        return;
    if (n == SHM_UNDO_MAX) {
        h->undo_lost = 1;
        return;
    }
    h->undo[n].off = g;
    memcpy(&h->undo[n].old, SHM_AT(h, g), sizeof(uint64_t));
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    h->undo_count = n + 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* A logged store: LVALUE = VALUE, undone if the step does not end. */
#define SHM_SET(h, lvalue, value)   do { shm_log((h), &(lvalue)); (lvalue) = (value); } while (0)

/* The figures the status page reads without the lock: logged, and
 * stored as relaxed atomics. */
#define SHM_STAT_ADD(h, field, n) \
    do { shm_log((h), &(h)->field); __atomic_store_n(&(h)->field, (h)->field + (n), __ATOMIC_RELAXED); } while (0)
#define SHM_STAT_SUB(h, field, n) \
    do { shm_log((h), &(h)->field); __atomic_store_n(&(h)->field, (h)->field - (n), __ATOMIC_RELAXED); } while (0)
#define SHM_STAT_SET(h, field, v) \
    do { shm_log((h), &(h)->field); __atomic_store_n(&(h)->field, (v), __ATOMIC_RELAXED); } while (0)
#define SHM_STAT_GET(h, field)      __atomic_load_n(&(h)->field, __ATOMIC_RELAXED)

void     shm_commit(struct shm_head *h);
int      shm_undo(struct shm_head *h);

/* ---- links --------------------------------------------------------- */

/* The block at OFF if it is a block of KIND inside the heap, else NULL:
 * every link an operation follows goes through this (or shm_entry_at). */
static inline struct shm_block *
shm_block_at(struct shm_head *h, uint32_t off, int kind)
{
    struct shm_block *b;

    if (off < h->heap || off >= h->heap_end)
        return NULL;
    b = SHM_BLOCK(h, off);
    if (b->magic != SHM_BLOCK_MAGIC || b->kind != kind || b->size < SHM_MIN_BLOCK ||
        b->size > h->heap_end - off)
        return NULL;
    return b;
}

/* The body of the block of KIND at OFF, and in *ROOM its bytes; else
 * NULL. The room may be less than a header: the caller checks it before
 * it reads one (a forged short block at the heap's end reads past the
 * mapping). */
static inline void *
shm_body_at(struct shm_head *h, uint32_t off, int kind, size_t *room)
{
    struct shm_block *b = shm_block_at(h, off, kind);

    if (b == NULL)
        return NULL;
    *room = (size_t)b->size * SHM_GRANULE - sizeof(*b);
    return SHM_BODY(b);
}

/* The entry at OFF, its key and value inside its block; else NULL. */
static inline struct shm_entry *
shm_entry_at(struct shm_head *h, uint32_t off)
{
    size_t room;
    struct shm_entry *e = shm_body_at(h, off, SHM_KIND_ENTRY, &room);

    if (e == NULL || room < sizeof(*e) ||
        sizeof(*e) + SHM_KEY_ROOM(e->klen) + (e->type == SHM_TLIST ? 0 : e->vlen) > room)
        return NULL;
    return e;
}

/* What points at SELF, a member of a doubly linked list, from one side,
 * set to TO (logged): LINK, the link in the member at NEIGHBOUR (NULL
 * when there is none there), or the list's END when NEIGHBOUR is 0. A
 * link that does not point at SELF (a neighbour that names another
 * member) is damage, never written through: that would cut the members
 * between them out of the list. So is a member named its own neighbour,
 * whose link back to itself would pass. */
static inline void
shm_relink(struct shm_head *h, uint32_t neighbour, uint32_t *end, uint32_t *link, uint32_t self, uint32_t to)
{
    uint32_t *at = neighbour == 0 ? end : link;

    if (neighbour == self || (neighbour == 0 ? *end != self : link == NULL || *link != self))
        h->damaged = 1;     /* a member its own neighbour links back to itself: damage too */
    else
        SHM_SET(h, *at, to);
}

/* The list node at OFF, its bytes inside its block; else NULL. */
static inline struct shm_node *
shm_node_at(struct shm_head *h, uint32_t off)
{
    size_t room;
    struct shm_node *nd = shm_body_at(h, off, SHM_KIND_NODE, &room);

    return nd != NULL && room >= sizeof(*nd) && sizeof(*nd) + nd->len <= room ? nd : NULL;
}

/* The offset of the block whose body is P. */
static inline uint32_t
shm_off_of(struct shm_head *h, const void *body)
{
    return (uint32_t)(((const char *)body - sizeof(struct shm_block) - (const char *)h) / SHM_GRANULE);
}

static inline uint32_t *
shm_buckets(struct shm_head *h)
{
    return SHM_BODY(SHM_BLOCK(h, h->buckets));
}

/* When E expires (monotonic ms; 0 never): a flush_all since it was
 * written makes it expired long ago, as ngx_lua's does. */
static inline uint64_t
shm_expires(const struct shm_head *h, const struct shm_entry *e)
{
    return e->gen != h->flush_gen ? 1 : e->expires;
}

/* Entries a bulk operation visits under the lock before it lets go. */
#define SHM_STEP            1024

/* shm_arena.c */
void     shm_arena_format(struct shm_head *h, int zeroed);
uint32_t shm_arena_alloc(struct shm_head *h, uint32_t granules, int kind);
void     shm_arena_free(struct shm_head *h, uint32_t off);
void     shm_arena_clear_lists(struct shm_head *h);
void     shm_arena_add_free(struct shm_head *h, uint32_t off, uint32_t size);
void     shm_arena_unlist(struct shm_head *h, uint32_t off);
uint32_t shm_arena_largest(struct shm_head *h);
uint32_t shm_hash(const struct shm_head *h, const char *key, size_t len);

/* What expiry looks at: monotonic ms, read once an operation first needs
 * it (most entries never expire, and reading it is a good part of a
 * lookup's cost). */
struct shm_clock {
    uint64_t    ms;     /* 0: not read yet */
};

/* shm_lru.c */
uint64_t shm_time(struct shm_clock *clk);
uint64_t shm_expiry(long long ms, struct shm_clock *clk);
void     shm_lru_unlink(struct shm_head *h, struct shm_entry *e);
void     shm_lru_push(struct shm_head *h, struct shm_entry *e);
void     shm_lru_touch(struct shm_head *h, struct shm_entry *e);
void     shm_lru_replace(struct shm_head *h, struct shm_entry *e, uint32_t noff);
int      shm_expire_some(struct shm_dict *d, int n, struct shm_clock *clk, const struct shm_entry *keep);
int      shm_dict_evict_oldest(struct shm_dict *d, const struct shm_entry *keep);

/* What a lookup found. */
enum shm_found { SHM_MISSING, SHM_FOUND, SHM_EXPIRED, SHM_NOT_LOCKED };

/* What a new entry holds. */
struct shm_put {
    uint32_t    hash;
    const char *key;
    size_t      klen;
    int         type;
    const char *val;
    size_t      vlen;
    int         flags;
    uint64_t    expires;
};

/* shm_dict.c */
enum shm_found shm_dict_open_key(struct shm_dict *d, const char *key, size_t klen, struct shm_clock *clk,
                                 uint32_t *hash, struct shm_entry **e, const char **err);
enum shm_found shm_lookup(struct shm_head *h, uint32_t hash, const char *key, size_t klen,
                          struct shm_clock *clk, struct shm_entry **found);
const char *shm_value_bytes(const struct shm_value *v, char *buf, size_t *len);
struct shm_entry *shm_entry_build(struct shm_head *h, uint32_t off, const struct shm_put *p);
void     shm_entry_link(struct shm_head *h, uint32_t off);
void     shm_dict_unlink_entry(struct shm_dict *d, struct shm_entry *e);
void     shm_dict_move_entry(struct shm_head *h, struct shm_entry *e, uint32_t noff);
uint32_t *shm_dict_link_to(struct shm_head *h, struct shm_entry *e);
int      shm_dict_collect(struct shm_head *h, int budget);

/* shm_list.c */
int      shm_dict_push_node(struct shm_head *h, struct shm_entry *e, int left, const struct shm_value *v);

/* shm_zone.c */
size_t   shm_mapped_size(size_t size);

/* shm_check.c */
int      shm_check_locked(struct shm_dict *d, int repair, struct shm_check_result *res);
int      shm_check_buckets(struct shm_dict *d, uint32_t from, uint32_t to, unsigned long *dropped);

/* shm_lock.c */
int      shm_lock(struct shm_dict *d, const char **err);
int      shm_unlock(struct shm_dict *d);
int      shm_lock_init(struct shm_head *h);

/* How an operation ends: D's lock let go, and RC answered; or, when the
 * operation found damage (its step undone, the dictionary mended),
 * SHM_FAIL with SHM_ERR_DAMAGED, whatever it meant to answer. */
static inline int
shm_done(struct shm_dict *d, int rc, const char **err)
{
    if (shm_unlock(d) == 0)
        return rc;
    *err = SHM_ERR_DAMAGED;
    return SHM_FAIL;
}

#endif
