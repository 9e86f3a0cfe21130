/* iolib.h: the files a script opens: bounded in number, close-on-exec,
 * and never the daemon's standard files. */
#ifndef LF_IOLIB_H
#define LF_IOLIB_H

#include <lua.h>

/* After luaL_openlibs, in protected mode. [-0, +0, m] */
void iolib_install(lua_State *L);

/* Is FD the same file as the daemon's descriptor 0, 1 or 2? /dev/null,
 * which anyone may open, never is. */
int  iolib_is_stdio(int fd);

#endif
