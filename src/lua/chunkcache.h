/* chunkcache.h: a script's compiled chunk, kept between its states. */
#ifndef LF_CHUNKCACHE_H
#define LF_CHUNKCACHE_H

#include <lua.h>

#include <stddef.h>

struct chunkcache;

struct chunkcache *chunkcache_new(void);
int                chunkcache_push(struct chunkcache *cc, lua_State *L, const char *path,
                                   const void *id, size_t idlen);
void               chunkcache_keep(struct chunkcache *cc, lua_State *L, const char *path,
                                   const void *id, size_t idlen);
void               chunkcache_flush(struct chunkcache *cc);
void               chunkcache_free(struct chunkcache *cc);

#endif
