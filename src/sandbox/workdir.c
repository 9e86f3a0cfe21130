/*
 * workdir.c: each worker's own working directory.
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
 * cannot have its own directory (other systems, or unshare refused, as in
 * containers), only a lone worker may move the process's; with more, and
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
#include "luawrap.h"
#include "workdir.h"

/* The calling thread's struct workdir, when it has a directory of its own. */
static pthread_key_t workdir_key;
static pthread_once_t workdir_once = PTHREAD_ONCE_INIT;
static int workdir_key_ok;

static void
workdir_make_key(void)
{
    workdir_key_ok = pthread_key_create(&workdir_key, NULL) == 0;
}

#if defined(O_PATH)
#define WDIR_OPEN (O_PATH | O_DIRECTORY | O_CLOEXEC)   /* needs no read permission */
#else
#define WDIR_OPEN (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#endif

/* Can this thread move its directory? Its own (CLONE_FS), or the
 * process's when it is the one thread that runs scripts. */
static int
workdir_own(int number, int alone)
{
#if defined(__linux__)
    if (unshare(CLONE_FS) == 0)
        return 0;
    if (alone)
        return 0;
    log_warn("worker %d cannot have a working directory of its own (unshare: %s); "
             "lfs.chdir is refused while workers > 1", number, strerror(errno));
    return -1;
#else
    if (alone)
        return 0;
    if (number == 1)    /* the same for every worker: said once */
        log_info("workers share one working directory on this system; "
                 "lfs.chdir is refused while workers > 1");
    return -1;
#endif
}

/* In worker NUMBER's thread, before it serves (ALONE: the only worker):
 * give it a directory of its own, the one the process has now. 0, or -1
 * (logged) when lfs.chdir is refused on it. */
int
workdir_enter(struct workdir *d, int number, int alone)
{
    d->home = -1;
    d->moved = 0;
    d->number = number;
    d->warned = 0;
    pthread_once(&workdir_once, workdir_make_key);
    if (!workdir_key_ok) {
        log_warn("worker %d: no thread-specific key; lfs.chdir is refused", number);
        return -1;
    }
    if (pthread_setspecific(workdir_key, d) != 0) {
        log_warn("worker %d cannot record its working directory; lfs.chdir is refused", number);
        return -1;
    }
    if (workdir_own(number, alone) < 0)
        return -1;
    /* and it must be able to come back (user may not search it) */
    if ((d->home = open(".", WDIR_OPEN)) < 0 || fchdir(d->home) < 0) {
        log_warn("worker %d cannot %s its working directory (%s); lfs.chdir is refused",
                 number, d->home < 0 ? "open" : "return to", strerror(errno));
        if (d->home >= 0)
            close(d->home);
        d->home = -1;
        return -1;
    }
    return 0;
}

/* When the worker ends. */
void
workdir_leave(struct workdir *d)
{
    if (workdir_key_ok)
        pthread_setspecific(workdir_key, NULL);
    if (d->home >= 0)
        close(d->home);
    d->home = -1;
}

/* After a request: back to the worker's own directory if a script moved
 * it. If that fails it stays marked, to try again after the next one. */
void
workdir_reset(struct workdir *d)
{
    if (!d->moved)
        return;
    if (fchdir(d->home) == 0) {
        d->moved = 0;
        d->warned = 0;
        return;
    }
    if (!d->warned)
        log_syswarn("worker %d cannot go back to its working directory", d->number);
    d->warned = 1;
}

/* lfs.chdir (the original is upvalue 1), on the calling worker only. */
static int
workdir_chdir(lua_State *L)
{
    struct workdir *d = workdir_key_ok ? pthread_getspecific(workdir_key) : NULL;

    if (d == NULL || d->home < 0) {
        lua_pushnil(L);
        lua_pushstring(L, d == NULL ? "lfs.chdir: refused outside a request"
                                    : "lfs.chdir: refused: workers share one working directory "
                                      "here (see luafcgid(8))");
        return 2;
    }
    d->moved = 1;
    return luawrap_call(L, LUA_MULTRET);
}

/* Wrap the chdir of the module table at IDX (lfs's). [-0, +0, m] */
void
workdir_wrap(lua_State *L, int idx)
{
    if (lua_istable(L, idx))
        luawrap_field(L, idx, "chdir", workdir_chdir);
}
