/* workdir.h: each worker's own working directory (lfs.chdir per worker). */
#ifndef LF_WORKDIR_H
#define LF_WORKDIR_H

#include <lua.h>

struct workdir {
    int home;       /* the worker's directory, -1: it shares the process's */
    int moved;      /* a script changed it during this request */
    int number;     /* the worker's, for log lines */
    int warned;     /* going back failed, and was logged */
};

int  workdir_enter(struct workdir *d, int number, int alone);
void workdir_leave(struct workdir *d);
void workdir_reset(struct workdir *d);

/* Wrap chdir in the module table at IDX. [-0, +0, m] */
void workdir_wrap(lua_State *L, int idx);

#endif
