/* logfile.h: the files logs go to: the daemon's log (log.c writes it),
 * and append-only files many threads write whole lines to. */
#ifndef LF_LOGFILE_H
#define LF_LOGFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "ratelog.h"

struct logfile {
    int             fd;         /* atomic; -1 until opened */
    char           *path;       /* the signal thread's only */
    const char     *what;       /* "access log", for messages */
    struct ratelog  lost;       /* lines lost, reported at most once per LOGFILE_WARN_S */
    int             torn;       /* atomic: the file ends in a cut line */
};

#define LOGFILE_INIT(what) { -1, NULL, what, { 0, 0, 0 }, 0 }

int  logfile_main_open(const char *target, int level);
int  logfile_main_reopen(void);
int  logfile_main_adopt(const char *target, int fd, int level);
int  logfile_main_reopened(int fd);
int  logfile_main_give_dir(uid_t uid, gid_t gid);
void logfile_main_set_owner(uid_t uid);

int  logfile_check(const char *path, const char *what, const char *mainlog);
int  logfile_open(struct logfile *lf, const char *path);
void logfile_write(struct logfile *lf, const char *p, size_t n);
void logfile_close(struct logfile *lf);

#endif
