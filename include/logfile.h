/* logfile.h: an append-only file many threads write whole lines to. */
#ifndef LF_LOGFILE_H
#define LF_LOGFILE_H

#include <stddef.h>

#include "ratelog.h"

struct logfile {
    int             fd;         /* atomic; -1 until opened */
    char           *path;       /* the signal thread's only */
    const char     *what;       /* "access log", for messages */
    struct ratelog  lost;       /* lines lost, reported at most once per LOGFILE_WARN_S */
    int             torn;       /* atomic: the file ends in a cut line */
};

#define LOGFILE_INIT(what) { -1, NULL, what, { 0, 0 }, 0 }

int  logfile_check(const char *path, const char *what, const char *mainlog);
int  logfile_open(struct logfile *lf, const char *path);
void logfile_write(struct logfile *lf, const char *p, size_t n);
void logfile_close(struct logfile *lf);

#endif
