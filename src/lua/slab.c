/*
 * slab.c: a Lua state's small blocks, carved from chunks the state owns.
 *
 * With every state allocating from malloc, a state's thousands of small
 * blocks lie among those of other states, so when a state is closed (a
 * memory hog, an eviction) most pages it touched stay pinned by a few live
 * neighbours and RSS never comes back. Here a state's blocks up to
 * SLAB_MAX bytes come from its own chunks, so closing it hands back whole
 * chunks; larger blocks (big strings, table parts) still go to malloc.
 *
 * Lua gives the old size with every free and realloc, so blocks need no
 * header: a block's class follows from its size. Freed blocks wait on a
 * list per class for the state's next allocation of that class.
 */
#include <stdlib.h>
#include <string.h>

#include "slab.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_ASAN 1
#endif
#endif

/* Under ASan, free and uncarved bytes are poisoned, so a stray access
 * into them is still caught although malloc never sees these blocks. */
#ifdef SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define slab_poison(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define slab_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define slab_poison(p, n)   ((void)(p), (void)(n))
#define slab_unpoison(p, n) ((void)(p), (void)(n))
#endif

struct slab_chunk {
    struct slab_chunk *prev;
    size_t             size;
};

/* Blocks start SLAB_STEP-aligned, as malloc's do. */
#define SLAB_HEAD (((sizeof(struct slab_chunk) + SLAB_STEP - 1) / SLAB_STEP) * SLAB_STEP)

static size_t
slab_class(size_t n)
{
    return (n + SLAB_STEP - 1) / SLAB_STEP - 1;
}

static size_t
slab_class_size(size_t k)
{
    return (k + 1) * SLAB_STEP;
}

void
slab_init(struct slab *s)
{
    memset(s, 0, sizeof(*s));
}

static void
slab_push(struct slab *s, void *p, size_t k)
{
    slab_unpoison(p, sizeof(void *));
    memcpy(p, &s->free[k], sizeof(void *));
    s->free[k] = p;
    slab_poison(p, slab_class_size(k));
}

/* A new chunk; what is left of the old one becomes a free block. */
static int
slab_grow(struct slab *s)
{
    size_t size = s->chunks ? s->chunks->size * 2 : SLAB_FIRST;
    size_t rest = (size_t)(s->end - s->next);
    struct slab_chunk *c;

    if (size > SLAB_CHUNK)
        size = SLAB_CHUNK;
    if ((c = malloc(size)) == NULL)
        return -1;
    if (rest >= SLAB_STEP)
        slab_push(s, s->next, slab_class(rest));
    c->prev = s->chunks;
    c->size = size;
    s->chunks = c;
    s->next = (char *)c + SLAB_HEAD;
    s->end = (char *)c + size;
    s->footprint += size;
    slab_poison(s->next, (size_t)(s->end - s->next));
    return 0;
}

static void *
slab_alloc(struct slab *s, size_t n)
{
    size_t k = slab_class(n), size = slab_class_size(k);
    void *p = s->free[k];

    if (p != NULL) {
        slab_unpoison(p, sizeof(void *));
        memcpy(&s->free[k], p, sizeof(void *));
    } else {
        if ((size_t)(s->end - s->next) < size && slab_grow(s) < 0)
            return NULL;
        p = s->next;
        s->next += size;
    }
    slab_unpoison(p, n);
    return p;
}

static void
slab_free(struct slab *s, void *p, size_t n)
{
    slab_push(s, p, slab_class(n));
}

/* The lua_Alloc contract: NSIZE 0 frees, PTR NULL allocates. */
void *
slab_realloc(struct slab *s, void *ptr, size_t osize, size_t nsize)
{
    void *p;

    if (ptr == NULL) {
        if (nsize == 0)
            return NULL;
        return nsize <= SLAB_MAX ? slab_alloc(s, nsize) : malloc(nsize);
    }
    if (nsize == 0) {
        if (osize <= SLAB_MAX)
            slab_free(s, ptr, osize);
        else
            free(ptr);
        return NULL;
    }
    if (osize > SLAB_MAX && nsize > SLAB_MAX)
        return realloc(ptr, nsize);
    if (osize <= SLAB_MAX && nsize <= SLAB_MAX && slab_class(osize) == slab_class(nsize)) {
        slab_unpoison(ptr, nsize);
        return ptr;
    }
    if ((p = nsize <= SLAB_MAX ? slab_alloc(s, nsize) : malloc(nsize)) == NULL)
        return NULL;
    memcpy(p, ptr, osize < nsize ? osize : nsize);
    if (osize <= SLAB_MAX)
        slab_free(s, ptr, osize);
    else
        free(ptr);
    return p;
}

/* Every chunk goes back at once; the state must be closed already. */
void
slab_release(struct slab *s)
{
    struct slab_chunk *c = s->chunks, *prev;

    while (c != NULL) {
        prev = c->prev;
        slab_unpoison(c, c->size);
        free(c);
        c = prev;
    }
    slab_init(s);
}
