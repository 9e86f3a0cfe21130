/*
 * shm.h: shared dictionaries (`shared = { NAME = SIZE }`, ngx.shared.NAME):
 * key-value stores in memory the supervising process creates, so every
 * worker, state and clone sees them, and they outlive a crash of the
 * serving process, HUP and USR2.
 */
#ifndef LF_SHM_H
#define LF_SHM_H

#include <stddef.h>

struct conf;
struct shm_dict;

/* Value types, numbered as Lua's and ngx_lua's are. */
enum shm_type { SHM_TNIL = 0, SHM_TBOOLEAN = 1, SHM_TNUMBER = 3, SHM_TSTRING = 4, SHM_TLIST = 5 };

/* What an operation answers. On SHM_FAIL, SHM_FALSE and SHM_LOCKED the
 * reason is in *err (ngx_lua's words: "not found", "exists", "no memory",
 * "not a number", "value is a list", "value not a list"...; and ours,
 * SHM_ERR_DAMAGED). */
enum shm_rc {
    SHM_OK = 0,
    SHM_NONE = 1,       /* no such key (or expired) */
    SHM_NEED = 2,       /* the caller's buffer is too small: the size needed is given */
    SHM_FAIL = -1,      /* answered nil/false and *err */
    SHM_FALSE = -2,     /* lpush/rpush could not make the list: false, *err */
    SHM_LOCKED = -3     /* the lock was not obtained: *err says why */
};

/* SHM_FAIL's reason when the operation found the dictionary's memory
 * damaged: its step was undone, and the dictionary checked and mended
 * before its lock was let go (logged once, there). Trying again is
 * safe. */
#define SHM_ERR_DAMAGED "damaged"

/* set, add, replace and their safe_ forms. */
#define SHM_OP_ADD      0x1
#define SHM_OP_REPLACE  0x2
#define SHM_OP_SAFE     0x4

struct shm_value {
    int         type;           /* enum shm_type */
    double      num;            /* NUMBER; BOOLEAN: 0 or 1 */
    const char *str;            /* STRING: its bytes (into the caller's buffer when read) */
    size_t      len;
    int         flags;          /* the user's flags */
};

/* A dictionary's figures, as the status page shows them. */
struct shm_stats {
    size_t              capacity;       /* SIZE */
    size_t              free_space;     /* bytes in free blocks */
    unsigned long       entries;        /* held: expired and flushed ones not yet removed too */
    unsigned long long  evictions;      /* live entries removed to make room */
    unsigned long long  expirations;    /* entries past their time removed */
    unsigned long long  flushed;        /* entries removed after flush_all made them expire */
    unsigned long long  repairs;        /* steps undone after a holder died, checks after damage */
};

struct shm_check_result {
    unsigned long   before;             /* entries the dictionary said it held */
    unsigned long   kept;               /* entries sound and reachable */
    unsigned long   dropped;            /* entries found bad, or reachable no more */
    unsigned long   freed;              /* blocks reclaimed that nothing reached */
    int             lru_rebuilt;
    int             emptied;            /* the heap itself was damaged */
};

/* A walk over a whole dictionary in steps (shm_bulk.c): zeroed to start. */
struct shm_cursor {
    unsigned    bucket;         /* the next bucket */
    int         mode;
    int         done;           /* the walk is over */
};

/* One dictionary (shm_dict.c). KEY is 1..65535 bytes (the binding checks). */
int    shm_dict_store(struct shm_dict *d, int op, const char *key, size_t klen,
                      const struct shm_value *v, long long exptime_ms, int *forcible, const char **err);
int    shm_dict_get(struct shm_dict *d, const char *key, size_t klen, int stale, struct shm_value *out,
                    char *buf, size_t size, int *is_stale, const char **err);
int    shm_dict_incr(struct shm_dict *d, const char *key, size_t klen, double *value, int has_init,
                     double init, long long init_ttl_ms, int *forcible, const char **err);
int    shm_dict_push(struct shm_dict *d, int left, const char *key, size_t klen,
                     const struct shm_value *v, long *len, const char **err);
int    shm_dict_pop(struct shm_dict *d, int left, const char *key, size_t klen, struct shm_value *out,
                    char *buf, size_t size, const char **err);
int    shm_dict_llen(struct shm_dict *d, const char *key, size_t klen, long *len, const char **err);
int    shm_dict_ttl(struct shm_dict *d, const char *key, size_t klen, long long *ms, const char **err);
int    shm_dict_expire(struct shm_dict *d, const char *key, size_t klen, long long exptime_ms,
                       const char **err);
int    shm_dict_flush_all(struct shm_dict *d, const char **err);
size_t shm_dict_capacity(const struct shm_dict *d);
void   shm_dict_stats(const struct shm_dict *d, struct shm_stats *st);
int    shm_dict_check(struct shm_dict *d, int repair, struct shm_check_result *res, const char **err);
const char *shm_dict_name(const struct shm_dict *d);

/* The walks (shm_bulk.c): a step at a time, the lock let go between
 * steps (what a request calls, checking its deadline between them), or
 * whole. */
int    shm_dict_keys_step(struct shm_dict *d, struct shm_cursor *cur, int max, char *buf, size_t size,
                          size_t *used, int *count, const char **err);
int    shm_dict_flush_expired_step(struct shm_dict *d, struct shm_cursor *cur, int max, int *freed,
                                   const char **err);
int    shm_dict_flush_expired(struct shm_dict *d, int attempts, int *freed, const char **err);
int    shm_dict_keys(struct shm_dict *d, int attempts, char *buf, size_t size, size_t *used, int *count,
                     const char **err);

/* A dictionary on its own (shm_zone.c): the unit tests'. */
struct shm_dict *shm_dict_create(const char *name, size_t size);
void   shm_dict_destroy(struct shm_dict *d);

/* A new size, in place (shm_resize.c): every process that maps the
 * dictionary sees it at once. 0; 1 when it cannot (logged); or -1. */
int    shm_dict_resize(struct shm_dict *d, size_t size, unsigned long *dropped);

/* The daemon's dictionaries (shm_zone.c): made or adopted (USR2) by
 * shm_setup() in the supervisor before it forks, read-only afterwards. */
int    shm_setup(const struct conf *c);
void   shm_teardown(void);
int    shm_export(void);
void   shm_suspect(int status);
void   shm_check_all(void);
void   shm_check_stop(void);
void   shm_reload_report(const struct conf *old, const struct conf *c);
int    shm_count(void);
struct shm_dict *shm_at(int i);
struct shm_dict *shm_find(const char *name, size_t len);

#endif
