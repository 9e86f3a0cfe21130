/* reqenv.h: the CGI variables a request reads, and its handler's env. */
#ifndef LF_REQENV_H
#define LF_REQENV_H

#include <stddef.h>

#include <lua.h>

struct request;
struct request_vars;

void reqenv_find_vars(char **env, struct request_vars *v);

const char *reqenv_param(const char *name, char **env);
const char *reqenv_param_len(const char *name, size_t len, char **env);
void reqenv_push(lua_State *L, struct request *r);

#endif
