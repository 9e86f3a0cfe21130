/* state.h: one script's Lua state: creation, limits, closing. */
#ifndef LF_STATE_H
#define LF_STATE_H

#include <stddef.h>
#include <lua.h>

struct conf;
struct slowlog_slot;

enum state_over {
    STATE_OK = 0,
    STATE_OVER_TIME,
    STATE_OVER_MEMORY
};

lua_State *state_open(const char *path, int fd, const struct conf *c, char *err, size_t errlen);
lua_State *state_open_watched(const char *path, int fd, const struct conf *c,
                              struct slowlog_slot *slow, char *err, size_t errlen);
void       state_close(void *L);
void       state_arm(lua_State *L, const struct conf *c);
void       state_disarm(lua_State *L);
void       state_watch(lua_State *L, struct slowlog_slot *slot);
size_t     state_peak(lua_State *L);
int        state_over(lua_State *L);
int        state_is_exit(lua_State *L, int idx);
size_t     state_memory(lua_State *L);
int        state_hold(lua_State *L, size_t bytes);
int        state_traceback(lua_State *L);
long long  state_time_left(lua_State *L);
int        state_raise_timeout(lua_State *L);

#endif
