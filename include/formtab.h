/* formtab.h: the fields and files tables of req:form() (see src/formtab.c). */
#ifndef LF_FORMTAB_H
#define LF_FORMTAB_H

#include <stddef.h>

#include <lua.h>

void formtab_add(lua_State *L, int t, const char *name, size_t nlen);
void formtab_urlencoded(lua_State *L, int fields, const char *body, size_t len, int maxfields);

#endif
