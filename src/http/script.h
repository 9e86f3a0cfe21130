/* script.h: a script's Lua state as requests see it (state.h's setup). */
#ifndef LF_SCRIPT_H
#define LF_SCRIPT_H

#include <stddef.h>

#include <lua.h>

#include "state.h"

struct conf;
struct request;

/* What a layer above adds to each new state, after the req API. */
typedef void script_install_fn(lua_State *L);

lua_State *script_open(const char *path, int fd, const struct conf *c, struct request *r,
                       script_install_fn *more, char *err, size_t errlen, enum state_fail *fail);

#endif
