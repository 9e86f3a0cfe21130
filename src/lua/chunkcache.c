/*
 * chunkcache.c: a script's compiled chunk, kept between its states.
 *
 * With more scripts than `states`, most requests open a new state, and
 * parsing the script was the largest part of that after the standard
 * libraries. So the first state of a script dumps the function it
 * compiled (lua_dump, debug information kept: names, lines and the
 * "@path" source are the same), and its next states load that bytecode.
 * Only this file makes the bytecode, from a chunk that compiled; the
 * sandbox still refuses binary chunks to scripts (loadsource.c).
 *
 * An entry is the script's path and the identity of the file it was
 * compiled from (device, inode, size, mtime: scriptfile.h's struct file_id,
 * compared as bytes), read from the very descriptor the state is loaded
 * through, which was opened and checked (scriptfile.c). A file that
 * differs misses, as it makes a state stale, and its new chunk replaces
 * the path's old one; a flush (SIGHUP) drops them all, as it drops the
 * states. The caller compiles on a miss (state.c): this file knows
 * nothing of files.
 *
 * Bounded by LF_CHUNK_CACHE_ENTRIES and LF_CHUNK_CACHE_BYTES; past
 * either, the entry used longest ago goes. A chunk over
 * LF_CHUNK_CACHE_ONE is not kept.
 *
 * Workers load concurrently: the lock covers the table, the use order
 * and the counts, never a load. A hit takes a reference to the entry
 * and loads it with the lock dropped; an entry replaced, evicted or
 * flushed meanwhile is freed by its last reference.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "buf.h"
#include "chunkcache.h"
#include "log.h"

struct chunk {
    struct chunk   *hnext;          /* in its bucket */
    struct chunk   *newer, *older;  /* in the use order */
    unsigned        hash;       /* of the path */
    size_t          idlen;      /* bytes of the identity, at path + strlen(path) + 1 */
    int             refs;           /* loads running from it */
    int             listed;         /* in the table (else freed by its last load) */
    size_t          size;           /* of data */
    char           *data;
    char            path[];     /* then the identity */
};

struct chunkcache {
    /* lock guards every field below and each entry's links, refs and
     * listed; an entry's path, id and data never change once listed. */
    pthread_mutex_t lock;
    struct chunk   *buckets[LF_CHUNK_CACHE_BUCKETS];
    struct chunk   *newest, *oldest;
    int             count;
    size_t          bytes;
};

/* The growing copy lua_dump writes into. */
struct chunk_dump {
    struct buf copy;
    int        failed;
};

struct chunkcache *
chunkcache_new(void)
{
    struct chunkcache *cc = calloc(1, sizeof(*cc));

    if (cc == NULL) {
        log_syserr("cannot allocate the chunk cache");
        return NULL;
    }
    if (pthread_mutex_init(&cc->lock, NULL) != 0) {
        log_err("cannot initialise the chunk cache's lock");
        free(cc);
        return NULL;
    }
    return cc;
}

static void
chunkcache_unlink_order(struct chunkcache *cc, struct chunk *c)
{
    if (c->newer != NULL)
        c->newer->older = c->older;
    else
        cc->newest = c->older;
    if (c->older != NULL)
        c->older->newer = c->newer;
    else
        cc->oldest = c->newer;
    c->newer = c->older = NULL;
}

static void
chunkcache_push_newest(struct chunkcache *cc, struct chunk *c)
{
    c->older = cc->newest;
    c->newer = NULL;
    if (cc->newest != NULL)
        cc->newest->newer = c;
    else
        cc->oldest = c;
    cc->newest = c;
}

/* Take C out of the table; it is freed now, or by its last load. With
 * the lock held. */
static void
chunkcache_unlist(struct chunkcache *cc, struct chunk *c)
{
    struct chunk **pp = &cc->buckets[c->hash % LF_CHUNK_CACHE_BUCKETS];

    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    chunkcache_unlink_order(cc, c);
    c->listed = 0;
    cc->count--;
    cc->bytes -= c->size;
    if (c->refs == 0) {
        free(c->data);
        free(c);
    }
}

static struct chunk *
chunkcache_find(struct chunkcache *cc, const char *path, unsigned hash)
{
    struct chunk *c;

    for (c = cc->buckets[hash % LF_CHUNK_CACHE_BUCKETS]; c != NULL; c = c->hnext)
        if (c->hash == hash && strcmp(c->path, path) == 0)
            return c;
    return NULL;
}

/* FNV-1a of PATH. */
static unsigned
chunkcache_hash(const char *path)
{
    const unsigned char *p = (const unsigned char *)path;
    unsigned h = 2166136261u;

    for (; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static const void *
chunkcache_id(const struct chunk *c)
{
    return c->path + strlen(c->path) + 1;
}

/* The entry for PATH compiled from identity ID, referenced, or NULL. */
static struct chunk *
chunkcache_take(struct chunkcache *cc, const char *path, unsigned hash, const void *id, size_t idlen)
{
    struct chunk *c;

    pthread_mutex_lock(&cc->lock);
    c = chunkcache_find(cc, path, hash);
    if (c != NULL && c->idlen == idlen && memcmp(chunkcache_id(c), id, idlen) == 0) {
        c->refs++;
        chunkcache_unlink_order(cc, c);
        chunkcache_push_newest(cc, c);
    } else
        c = NULL;
    pthread_mutex_unlock(&cc->lock);
    return c;
}

static void
chunkcache_drop(struct chunkcache *cc, struct chunk *c)
{
    int gone;

    pthread_mutex_lock(&cc->lock);
    gone = --c->refs == 0 && !c->listed;
    pthread_mutex_unlock(&cc->lock);
    if (gone) {
        free(c->data);
        free(c);
    }
}

/* Keep C (made by this thread), in place of PATH's entry if any, and
 * make room. */
static void
chunkcache_put(struct chunkcache *cc, struct chunk *c)
{
    struct chunk *old, *newer;

    pthread_mutex_lock(&cc->lock);
    if ((old = chunkcache_find(cc, c->path, c->hash)) != NULL)
        chunkcache_unlist(cc, old);
    c->hnext = cc->buckets[c->hash % LF_CHUNK_CACHE_BUCKETS];
    cc->buckets[c->hash % LF_CHUNK_CACHE_BUCKETS] = c;
    c->listed = 1;
    chunkcache_push_newest(cc, c);
    cc->count++;
    cc->bytes += c->size;
    for (old = cc->oldest; old != NULL && old != c &&
         (cc->count > LF_CHUNK_CACHE_ENTRIES || cc->bytes > LF_CHUNK_CACHE_BYTES); old = newer) {
        newer = old->newer;
        chunkcache_unlist(cc, old);
    }
    pthread_mutex_unlock(&cc->lock);
}

/* lua_Writer: append to the copy; past LF_CHUNK_CACHE_ONE it is not kept. */
static int
chunkcache_write(lua_State *L, const void *p, size_t n, void *ud)
{
    struct chunk_dump *d = ud;

    (void)L;
    if (d->failed)
        return 0;
    /* not kept when too large or out of memory: the state loads as it would anyway */
    if (n > LF_CHUNK_CACHE_ONE - d->copy.len || buf_append(&d->copy, p, n) < 0)
        d->failed = 1;
    return 0;
}

/*
 * Keep the function on top of L (left there), compiled from PATH's file
 * of identity ID (IDLEN bytes), for the next states of PATH. What cannot
 * be kept is not: the state is loaded either way. [-0, +0, -]
 */
void
chunkcache_keep(struct chunkcache *cc, lua_State *L, const char *path, const void *id,
                size_t idlen)
{
    struct chunk_dump d = { { NULL, 0, 0, 0, 0 }, 0 };
    size_t len = strlen(path);
    struct chunk *c;

    if (cc == NULL || lua_dump(L, chunkcache_write, &d) != 0 || d.failed || d.copy.len == 0 ||
        (c = calloc(1, sizeof(*c) + len + 1 + idlen)) == NULL) {
        buf_free(&d.copy);
        return;
    }
    memcpy(c->path, path, len + 1);
    memcpy(c->path + len + 1, id, idlen);
    c->idlen = idlen;
    c->hash = chunkcache_hash(path);
    c->size = d.copy.len;
    c->data = d.copy.data;
    chunkcache_put(cc, c);
}

/*
 * Push PATH's chunk kept from the file of identity ID (IDLEN bytes): the
 * status of its load (0, or an error with a message, as lua_load's), or
 * -1 with nothing pushed when none is kept. [-0, +(0|1), m]
 */
int
chunkcache_push(struct chunkcache *cc, lua_State *L, const char *path, const void *id,
                size_t idlen)
{
    struct chunk *c;
    int status;

    if (cc == NULL || (c = chunkcache_take(cc, path, chunkcache_hash(path), id, idlen)) == NULL)
        return -1;
    lua_pushfstring(L, "@%s", path);
    status = luaL_loadbuffer(L, c->data, c->size, lua_tostring(L, -1));
    lua_remove(L, -2);
    chunkcache_drop(cc, c);
    return status;
}

/* SIGHUP: every chunk is compiled again, as every state is loaded again. */
void
chunkcache_flush(struct chunkcache *cc)
{
    struct chunk *c, *older;

    if (cc == NULL)
        return;
    pthread_mutex_lock(&cc->lock);
    for (c = cc->newest; c != NULL; c = older) {
        older = c->older;
        chunkcache_unlist(cc, c);
    }
    pthread_mutex_unlock(&cc->lock);
}

/* No load runs any more. */
void
chunkcache_free(struct chunkcache *cc)
{
    if (cc == NULL)
        return;
    chunkcache_flush(cc);
    pthread_mutex_destroy(&cc->lock);
    free(cc);
}
