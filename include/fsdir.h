/*
 * fsdir.h: directories luafcgid writes into as root.
 */
#ifndef LF_FSDIR_H
#define LF_FSDIR_H

#include <sys/types.h>

struct conf;

const char *fsdir_split(const char *path, char *dir, size_t size);
int fsdir_open(const char *dir, uid_t also, const char *what);
int fsdir_check_file(int fd, const char *path, const char *what);
int fsdir_make(const char *dir, const char *what);
uid_t fsdir_user_uid(const struct conf *c);

#endif
