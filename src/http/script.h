/* script.h: a script's Lua state as requests see it (state.h's setup). */
#ifndef LF_SCRIPT_H
#define LF_SCRIPT_H

#include <stddef.h>

#include <lua.h>

#include "state.h"

struct chunkcache;
struct conf;
struct file_id;
struct request;

/* What a layer above adds to each new state, after the req API. */
typedef void script_install_fn(lua_State *L);

/* The script's file: opened and checked (scriptfile_open), its identity,
 * and where its compiled chunk is kept (NULL: compiled every time). */
struct script_file {
    const char           *path;
    int                   fd;
    const struct file_id *id;
    struct chunkcache    *chunks;
};

lua_State *script_open(const struct script_file *f, const struct conf *c, struct request *r,
                       script_install_fn *more, char *err, size_t errlen, enum state_fail *fail);

#endif
