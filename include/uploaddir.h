/* uploaddir.h: the directory of a serving process's upload files (see uploaddir.c). */
#ifndef LF_UPLOADDIR_H
#define LF_UPLOADDIR_H

#include <stddef.h>
#include <sys/types.h>

struct conf;

int  uploaddir_make(const struct conf *c, char *out, size_t len);
int  uploaddir_temp(const struct conf *c, char *path, size_t len);
void uploaddir_remove(const struct conf *c, pid_t pid, uid_t owner);

#endif
