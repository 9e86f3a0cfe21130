/* osexec.h: os.execute without process-wide side effects. */
#ifndef LF_OSEXEC_H
#define LF_OSEXEC_H

#include <lua.h>

/* os.execute([command]): /bin/sh -c COMMAND and its wait status, as Lua
 * 5.1; without a command, whether the shell can be run. [-0, +1, e] */
int osexec_execute(lua_State *L);

#endif
