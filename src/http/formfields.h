/* formfields.h: the fields and files tables of req:form() (see formfields.c). */
#ifndef LF_FORMFIELDS_H
#define LF_FORMFIELDS_H

#include <stddef.h>

#include <lua.h>

void formfields_add(lua_State *L, int t, const char *name, size_t nlen);
void formfields_urlencoded(lua_State *L, int fields, const char *body, size_t len, int maxfields);

#endif
