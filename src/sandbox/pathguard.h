/* pathguard.h: the paths a script may not open. */
#ifndef LF_PATHGUARD_H
#define LF_PATHGUARD_H

#include <lua.h>

/* Why PATH, opened for writing or not, is refused, or NULL when it is
 * allowed. */
const char *pathguard_refuse(const char *path, int write);

/* Why the resolved, absolute PATH is refused, or NULL. */
const char *pathguard_resolved(const char *path, int write);

/* Wraps io.open, io.lines, io.input, io.output, loadfile and dofile, as
 * they are now, with the check. [-0, +0, m] */
void pathguard_install(lua_State *L);

#endif
