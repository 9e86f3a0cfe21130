/* upload.h: req:form(), a request's form fields and uploaded files. */
#ifndef LF_UPLOAD_H
#define LF_UPLOAD_H

#include <lua.h>

struct request;

int  upload_form(lua_State *L, struct request *r);
void upload_cleanup(struct request *r);
int  upload_add_temp(struct request *r, const char *path);
void upload_close_kept(struct request *r);

#endif
