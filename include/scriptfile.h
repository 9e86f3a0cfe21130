/* scriptfile.h: a script's file: which version it is, and opened once,
 * checked and loaded through that descriptor. */
#ifndef LF_SCRIPTFILE_H
#define LF_SCRIPTFILE_H

#include <stddef.h>
#include <sys/types.h>

struct lua_State;
struct stat;

/* What identifies a version of a script file: a change in any field means
 * the file was edited or replaced. All zero means "not there". */
struct file_id {
    dev_t   dev;
    ino_t   ino;
    off_t   size;
    long    mtime_sec;
    long    mtime_nsec;
};

int scriptfile_file_id(const char *path, struct file_id *id);
int scriptfile_stat_id(const struct stat *sb, struct file_id *id);
int scriptfile_same_file(const struct file_id *a, const struct file_id *b);

int scriptfile_in_docroot(const char *path, const char *docroot);
int scriptfile_errno_status(int err);
int scriptfile_open(const char *path, const char *docroot, struct file_id *id,
                    char *why, size_t whylen);
int scriptfile_load(struct lua_State *L, int fd, const char *path);

#endif
