/* slowlog.h: entries for requests still running after `slowtime`. */
#ifndef LF_SLOWLOG_H
#define LF_SLOWLOG_H

#include <lua.h>

struct conf;
struct request;
struct slowlog_slot;

int   slowlog_start(int workers, const struct conf *c);
void  slowlog_stop(void);
int   slowlog_open(const struct conf *c);
struct slowlog_slot *slowlog_begin(const struct request *r);
void  slowlog_end(int worker);
void  slowlog_sweep(void);
void  slowlog_watch(lua_State *L, void *slot);

#endif
