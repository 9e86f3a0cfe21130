/* chunk.h: an OpenResty content script, run per request (see chunk.c). */
#ifndef LF_CHUNK_H
#define LF_CHUNK_H

#include <lua.h>

#define CHUNK_NONE      0   /* the script is no content chunk */
#define CHUNK_ANSWERED  1   /* its first run was this request's answer */
#define CHUNK_PUSHED    2   /* the chunk is on the stack, ready to run */
#define CHUNK_FAILED    3   /* its first run failed for this request: the error pushed */

void chunk_keep(lua_State *L);
void chunk_decide(lua_State *L, const char *handler, int result);
int  chunk_fail(lua_State *L, const char *handler);
int  chunk_push(lua_State *L);

#endif
