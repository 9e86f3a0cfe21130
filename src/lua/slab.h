/* slab.h: one Lua state's small blocks, carved from chunks it owns. */
#ifndef LF_SLAB_H
#define LF_SLAB_H

#include <stddef.h>

#define SLAB_STEP     16                /* block sizes are multiples of this */
#define SLAB_MAX      512               /* larger blocks come from malloc */
#define SLAB_CLASSES  (SLAB_MAX / SLAB_STEP)
#define SLAB_FIRST    ((size_t)16 * 1024)     /* first chunk; each next one doubles */
#define SLAB_CHUNK    ((size_t)64 * 1024)     /* up to this */

struct slab_chunk;

struct slab {
    void              *free[SLAB_CLASSES];  /* freed blocks, linked through themselves */
    struct slab_chunk *chunks;              /* newest first */
    char              *next, *end;          /* untouched part of the newest chunk */
    size_t             footprint;           /* bytes in chunks */
};

void  slab_init(struct slab *s);
void *slab_realloc(struct slab *s, void *ptr, size_t osize, size_t nsize);
void  slab_release(struct slab *s);

#endif
