/*
 * safedir.h: directories luafcgid writes into as root.
 */
#ifndef LF_SAFEDIR_H
#define LF_SAFEDIR_H

#include <sys/types.h>

struct stat;

const char *safedir_split(const char *path, char *dir, size_t size);
int safedir_open(const char *dir, uid_t also, const char *what);
int safedir_check_file(int fd, const char *path, const char *what);
int safedir_make(const char *dir, const char *what);
int safedir_open_to_strangers(uid_t user, gid_t group, const char *path, const struct stat *sb,
                              int sticky_ok, const char *what, const char *why);
int safedir_check_ancestors(uid_t user, gid_t group, const char *path, const char *what,
                            const char *why);

#endif
