/*
 * fsdir.h: directories luafcgid writes into as root.
 */
#ifndef LF_FSDIR_H
#define LF_FSDIR_H

#include <sys/types.h>

struct conf;
struct stat;

const char *fsdir_split(const char *path, char *dir, size_t size);
int fsdir_open(const char *dir, uid_t also, const char *what);
int fsdir_check_file(int fd, const char *path, const char *what);
int fsdir_make(const char *dir, const char *what);
uid_t fsdir_user_uid(const struct conf *c);
int fsdir_open_to_strangers(const struct conf *c, const char *path, const struct stat *sb,
                            int sticky_ok, const char *what, const char *why);
int fsdir_check_ancestors(const struct conf *c, const char *path, const char *what, const char *why);

#endif
