/*
 * wdir.c: each worker's own working directory.
 *
 * CGILua (and wsapi.common's launchers) call lfs.chdir around every page
 * and then open the page by a relative name. The working directory is a
 * process's, so with several workers one page's chdir moved every other
 * worker too: a page could load another directory's file of the same name.
 *
 * On Linux a thread can leave the process's shared directory with
 * unshare(CLONE_FS) (as Samba's thread pool does), so each worker takes a
 * directory of its own when it starts. lfs.chdir is wrapped to mark the
 * worker as moved, and after each request a moved worker goes back to
 * where it started, so no request sees another's directory. Where a thread
 * cannot have its own directory (other systems, or unshare failed), or
 * outside a worker (a script's preload runs in the main thread), lfs.chdir
 * returns nil and a message instead: moving every worker is never right.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#endif

#include <lua.h>
#include <lauxlib.h>

#include "log.h"
#include "wdir.h"

/* The calling thread's struct wdir, when it has a directory of its own. */
static pthread_key_t wdir_key;
static pthread_once_t wdir_once = PTHREAD_ONCE_INIT;
static int wdir_key_ok;

static void
wdir_make_key(void)
{
    wdir_key_ok = pthread_key_create(&wdir_key, NULL) == 0;
}

/* In a worker thread, before it serves: give it a directory of its own,
 * the one the process has now. 0, or -1 when it shares (logged when LOUD:
 * one worker speaks for all). */
int
wdir_enter(struct wdir *d, int loud)
{
    d->home = -1;
    d->moved = 0;
    pthread_once(&wdir_once, wdir_make_key);
    if (!wdir_key_ok) {
        if (loud)
            log_warn("workers share one working directory (no thread-specific key); "
                     "lfs.chdir is refused");
        return -1;
    }
#if defined(__linux__)
    if (unshare(CLONE_FS) < 0) {
        if (loud)
            log_warn("workers cannot have working directories of their own (unshare: %s); "
                     "lfs.chdir is refused", strerror(errno));
        return -1;
    }
    if ((d->home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        if (loud)
            log_warn("worker cannot open its working directory (%s); lfs.chdir is refused",
                     strerror(errno));
        return -1;
    }
    if (pthread_setspecific(wdir_key, d) != 0) {
        if (loud)
            log_warn("worker cannot record its working directory; lfs.chdir is refused");
        close(d->home);
        d->home = -1;
        return -1;
    }
    return 0;
#else
    (void)loud;
    return -1;
#endif
}

/* When the worker ends. */
void
wdir_leave(struct wdir *d)
{
    if (d->home >= 0) {
        pthread_setspecific(wdir_key, NULL);
        close(d->home);
        d->home = -1;
    }
}

/* After a request: back to the worker's own directory if a script moved it. */
void
wdir_reset(struct wdir *d)
{
    if (!d->moved)
        return;
    d->moved = 0;
    if (fchdir(d->home) < 0)
        log_syswarn("worker: cannot go back to its working directory");
}

/* lfs.chdir (the original is upvalue 1), on the calling worker only. */
static int
wdir_chdir(lua_State *L)
{
    struct wdir *d = wdir_key_ok ? pthread_getspecific(wdir_key) : NULL;

    if (d == NULL || d->home < 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "lfs.chdir: the working directory is shared by every worker here");
        return 2;
    }
    d->moved = 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* Wrap the chdir of the module table at IDX (lfs's). [-0, +0, m] */
void
wdir_wrap(lua_State *L, int idx)
{
    if (!lua_istable(L, idx))
        return;
    lua_getfield(L, idx, "chdir");
    if (!lua_iscfunction(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_pushcclosure(L, wdir_chdir, 1);
    lua_setfield(L, idx < 0 ? idx - 1 : idx, "chdir");
}
