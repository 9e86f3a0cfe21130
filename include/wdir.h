/* wdir.h: each worker's own working directory (lfs.chdir per worker). */
#ifndef LF_WDIR_H
#define LF_WDIR_H

#include <lua.h>

struct wdir {
    int home;       /* the worker's directory, -1: it shares the process's */
    int moved;      /* a script changed it during this request */
    int number;     /* the worker's, for log lines */
    int warned;     /* going back failed, and was logged */
};

int  wdir_enter(struct wdir *d, int number, int alone);
void wdir_leave(struct wdir *d);
void wdir_reset(struct wdir *d);

/* Wrap chdir in the module table at IDX. [-0, +0, m] */
void wdir_wrap(lua_State *L, int idx);

#endif
