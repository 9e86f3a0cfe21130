/*
 * conf_impl.h: the config module's own, shared by its files only: conf.c
 * (loading, publishing), conf_keys.c (the key table), conf_parse.c (the
 * value parsers) and conf_shared.c (the `shared` key).
 */
#ifndef LF_CONF_IMPL_H
#define LF_CONF_IMPL_H

#include <stddef.h>

#include <lua.h>

#include "conf.h"
#include "log.h"

enum conf_type {
    CT_STRING,      /* any string */
    CT_TEXT,        /* a string with no CR, LF or NUL (goes into headers) */
    CT_PATH,        /* a path; relative ones are taken from the config's dir */
    CT_LISTEN,      /* unix socket paths and host:port, one or a list */
    CT_HEADERS,     /* "Name: value" lines */
    CT_INT,
    CT_SIZE,        /* a byte count (size_t), may exceed INT_MAX */
    CT_BOOL,
    CT_MODE,        /* octal permissions */
    CT_LEVEL,       /* log level name */
    CT_LIST,        /* array of strings */
    CT_SHARED       /* { NAME = SIZE }: the shared dictionaries */
};

#define CF_LATER    0x1     /* not implemented yet: setting it is an error */
#define CF_STRICT   0x2     /* a near miss of its name is an error, not a warning */
#define CF_RESTART  0x4     /* a new value needs a restart; a SIGHUP keeps the running one */

struct conf_key {
    const char     *name;
    enum conf_type  type;
    size_t          offset;
    double          min, max;
    int             flags;
    const char     *text;       /* a string, list (one item) or level key's default */
    double          num;        /* a number or boolean key's default */
};

#define CONF_UNSET (-1)     /* states, clones, terminate_timeout: worked out (conf_check) */

/* What one load is doing: the file, its directory, where errors go. */
struct conf_ctx {
    const char  *path;
    char        *dir;       /* the config file's directory, for relative paths */
    char        *err;
    size_t       errlen;
};

extern const struct conf_key conf_keys[];
extern const size_t conf_nkeys;

void conf_error(struct conf_ctx *ctx, const char *key, const char *fmt, ...)
    LF_PRINTF(3, 4);
char *conf_strdup(struct conf_ctx *ctx, const char *key, const char *s, size_t n);
int conf_file_compile(lua_State *L, const char *path, char *err, size_t errlen);
const struct conf_key *conf_find_key(const char *name);
int  conf_check_workers(struct conf_ctx *ctx, struct conf *c, int running);
int  conf_parse_key(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k, struct conf *c);
int  conf_set_defaults(struct conf_ctx *ctx, struct conf *c);
void conf_free_fields(struct conf *c);
void conf_strlist_free(struct strlist *l);

/* conf_shared.c: the `shared` key. */
int  conf_parse_shared(struct conf_ctx *ctx, lua_State *L, const struct conf_key *k,
                       struct conf_shared_list *out);
void conf_shared_free(struct conf_shared_list *l);
int  conf_shared_copy(struct conf_shared_list *to, const struct conf_shared_list *from);
int  conf_shared_same(const struct conf_shared_list *a, const struct conf_shared_list *b);
void conf_shared_push(lua_State *L, const struct conf_shared_list *l);

#endif
