/* contentscript.h: an OpenResty content script, run per request (see
 * contentscript.c). */
#ifndef LF_CONTENTSCRIPT_H
#define LF_CONTENTSCRIPT_H

#include <lua.h>

#define CONTENTSCRIPT_NONE      0   /* the script is no content chunk */
#define CONTENTSCRIPT_ANSWERED  1   /* its first run was this request's answer */
#define CONTENTSCRIPT_PUSHED    2   /* the chunk is on the stack, ready to run */
#define CONTENTSCRIPT_FAILED    3   /* its first run failed for this request: the error pushed */

void contentscript_keep(lua_State *L);
void contentscript_decide(lua_State *L, const char *handler, int result);
int  contentscript_fail(lua_State *L, const char *handler);
int  contentscript_push(lua_State *L);

#endif
