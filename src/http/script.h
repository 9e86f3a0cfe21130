/* script.h: a script's Lua state as requests see it (state.h's setup). */
#ifndef LF_SCRIPT_H
#define LF_SCRIPT_H

#include <stddef.h>

#include <lua.h>

struct conf;
struct slowlog_slot;

lua_State *script_open(const char *path, int fd, const struct conf *c, struct slowlog_slot *slow,
                       char *err, size_t errlen);

#endif
