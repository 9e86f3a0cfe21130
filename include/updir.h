/* updir.h: the directory of a serving process's upload files (see src/updir.c). */
#ifndef LF_UPDIR_H
#define LF_UPDIR_H

#include <stddef.h>
#include <sys/types.h>

struct conf;

int  updir_make(const struct conf *c, char *out, size_t len);
void updir_remove(const struct conf *c, pid_t pid, uid_t owner);

#endif
