/*
 * shm_impl.h: the layout of a shared dictionary's arena, shared by the
 * engine's files only (shm_arena.c, the block allocator; shm_dict.c, the
 * operations; shm_check.c, the check and repair; shm_lock.c, the lock;
 * shm_zone.c, mapping and hand-over).
 *
 * An arena is one mapping: a fixed header, then SIZE bytes of heap cut
 * into blocks. Every link inside it is a 32-bit offset counted in 8-byte
 * granules from the start of the mapping, never a pointer: the new binary
 * of a USR2 upgrade maps the same memory at another address. Offset 0 is
 * the header, so it doubles as "none".
 *
 * A block starts with an 8-byte header (its size, a constant magic, its
 * kind and two bits). What the blocks hold:
 *
 *   ENTRY    one key: its hash chain, its place in the LRU list, expiry,
 *            flags, type, then the key's bytes and the value's
 *   NODE     one value of a list, in its entry's doubly linked list
 *   BUCKETS  the hash table: one 32-bit offset a bucket
 *   FREE     free space, on a size-class list; its last granule repeats
 *            its size, so the block after it can merge with it
 *
 * The heap is always walkable block by block from its start to its end
 * (the allocator orders its stores so that a process killed between any
 * two of them leaves it so): that walk is what shm_check.c rebuilds a
 * dictionary from when a process died holding its lock.
 *
 * Everything in an arena below `lock` is guarded by `lock`.
 */
#ifndef LF_SHM_IMPL_H
#define LF_SHM_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "luafcgid.h"
#include "shm.h"

#define SHM_MAGIC           "LFSHDICT"
#define SHM_LAYOUT          1           /* bump when any struct below changes */
#define SHM_GRANULE         8
#define SHM_BLOCK_MAGIC     0xB10Cu
#define SHM_MIN_BLOCK       3           /* granules: header, free links, footer */

enum shm_kind { SHM_KIND_FREE = 1, SHM_KIND_ENTRY, SHM_KIND_NODE, SHM_KIND_BUCKETS };

#define SHM_BIT_PREV_FREE   0x1         /* the block before this one is free */
#define SHM_BIT_MARK        0x2         /* reached, during a check */

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

struct shm_entry {                      /* an ENTRY block's body */
    uint32_t    hnext;                  /* next in its bucket */
    uint32_t    lprev, lnext;           /* LRU: toward newer, toward older */
    uint32_t    hash;
    uint64_t    expires;                /* monotonic ms; 0 never */
    uint32_t    vlen;                   /* value bytes; a list: its length */
    int32_t     flags;                  /* the user's flags */
    uint16_t    klen;
    uint8_t     type;                   /* enum shm_type */
    uint8_t     pad;
    uint32_t    first, last;            /* a list's nodes */
    /* the key's bytes, then the value's */
};

struct shm_node {                       /* a NODE block's body */
    uint32_t    next, prev;
    uint32_t    len;
    uint8_t     type;                   /* SHM_TSTRING or SHM_TNUMBER */
    uint8_t     pad[3];
    /* the value's bytes */
};

/* Free lists: one per size up to SHM_EXACT granules, then four per power
 * of two. A bitmap says which are not empty. */
#define SHM_EXACT           64
#define SHM_CLASSES         (SHM_EXACT + 4 * 26)
#define SHM_BITMAP_WORDS    ((SHM_CLASSES + 31) / 32)

struct shm_head {
    char            magic[8];           /* SHM_MAGIC */
    uint32_t        layout;             /* SHM_LAYOUT */
    uint32_t        mutex_size;         /* sizeof(pthread_mutex_t) when made */
    uint64_t        size;               /* SIZE as configured: the capacity */
    uint64_t        mapped;             /* bytes of the mapping */
    char            name[LF_SHARED_NAME_MAX + 1];
    pthread_mutex_t lock;               /* process-shared, robust */
    /* guarded by lock: */
    uint64_t        seed;               /* of the key hash */
    uint32_t        heap, heap_end;     /* granules */
    uint32_t        buckets, nbuckets;  /* the BUCKETS block; a power of two */
    uint32_t        lru_head, lru_tail; /* newest, oldest */
    uint32_t        keys;               /* entries, expired ones not yet removed too */
    uint32_t        damaged;            /* an operation found a bad link: repair before unlocking */
    uint64_t        free_granules;
    uint64_t        evictions;          /* live entries removed to make room */
    uint64_t        expirations;        /* expired entries removed */
    uint64_t        repairs;            /* checks after a holder died, or damage found */
    uint32_t        bitmap[SHM_BITMAP_WORDS];
    uint32_t        lists[SHM_CLASSES];
};

/* The header's share of the mapping, rounded to a whole number of
 * granules: the fixed overhead above SIZE. */
#define SHM_HEAD_GRANULES   ((sizeof(struct shm_head) + SHM_GRANULE - 1) / SHM_GRANULE)

/* One dictionary as a process sees it. */
struct shm_dict {
    struct shm_head *h;
    size_t          mapped;
    int             fd;                 /* the memory's descriptor, kept for USR2; -1: none */
};

#define SHM_AT(h, off)      ((void *)((char *)(h) + (size_t)(off) * SHM_GRANULE))
#define SHM_BLOCK(h, off)   ((struct shm_block *)SHM_AT(h, off))
#define SHM_BODY(b)         ((void *)((struct shm_block *)(b) + 1))
#define SHM_ENTRY_KEY(e)    ((char *)((struct shm_entry *)(e) + 1))
#define SHM_ENTRY_VALUE(e)  (SHM_ENTRY_KEY(e) + (e)->klen)
#define SHM_NODE_DATA(n)    ((char *)((struct shm_node *)(n) + 1))

/* Granules a block needs for BYTES of body. */
static inline uint32_t
shm_granules(size_t bytes)
{
    size_t g = (sizeof(struct shm_block) + bytes + SHM_GRANULE - 1) / SHM_GRANULE;

    return (uint32_t)(g < SHM_MIN_BLOCK ? SHM_MIN_BLOCK : g);
}

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

static inline struct shm_entry *
shm_entry_at(struct shm_head *h, uint32_t off)
{
    struct shm_block *b = shm_block_at(h, off, SHM_KIND_ENTRY);

    return b ? SHM_BODY(b) : NULL;
}

static inline struct shm_node *
shm_node_at(struct shm_head *h, uint32_t off)
{
    struct shm_block *b = shm_block_at(h, off, SHM_KIND_NODE);

    return b ? SHM_BODY(b) : NULL;
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

/* shm_arena.c */
void     shm_arena_format(struct shm_head *h);
uint32_t shm_arena_alloc(struct shm_head *h, uint32_t granules, int kind);
void     shm_arena_free(struct shm_head *h, uint32_t off);
void     shm_arena_clear_lists(struct shm_head *h);
void     shm_arena_add_free(struct shm_head *h, uint32_t off, uint32_t size);
uint32_t shm_arena_largest(struct shm_head *h);
uint32_t shm_hash(const struct shm_head *h, const char *key, size_t len);

/* shm_dict.c */
void     shm_dict_unlink_entry(struct shm_dict *d, struct shm_entry *e);

/* shm_check.c */
int      shm_check_locked(struct shm_dict *d, int repair, struct shm_check_result *res);

/* shm_lock.c */
int      shm_lock(struct shm_dict *d, const char **err);
void     shm_unlock(struct shm_dict *d);
int      shm_lock_init(struct shm_head *h);

#endif
