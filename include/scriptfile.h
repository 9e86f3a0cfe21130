/* scriptfile.h: a script's file, opened once, checked and loaded through that descriptor. */
#ifndef LF_SCRIPTFILE_H
#define LF_SCRIPTFILE_H

#include <stddef.h>

#include <lua.h>

struct file_id;

int scriptfile_in_docroot(const char *path, const char *docroot);
int scriptfile_open(const char *path, const char *docroot, struct file_id *id,
                    char *why, size_t whylen);
int scriptfile_load(lua_State *L, int fd, const char *path);

#endif
