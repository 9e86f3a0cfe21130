/*
 * conf_file.c: the config file, compiled.
 *
 * It is opened without waiting and must be a regular file: a FIFO (or a
 * device) in its place would hold -t for ever, and on a HUP the
 * supervisor, which then takes no signal but KILL. It is read through
 * lua_load from the descriptor that was checked; a first line starting
 * with '#' is skipped but for its newline, as luaL_loadfile does, so line
 * numbers stay right.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "conf_impl.h"

struct conf_file {
    int  fd;
    int  started;
    int  err;           /* errno of a read that failed */
    char buf[4096];
};

/* The next bytes of F into its buffer: how many, 0 at the end or on an
 * error (kept in F). */
static ssize_t
conf_file_next(struct conf_file *f)
{
    ssize_t n;

    do
        n = read(f->fd, f->buf, sizeof(f->buf));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        f->err = errno;
    return n < 0 ? 0 : n;
}

static const char *
conf_file_read(lua_State *L, void *ud, size_t *size)
{
    struct conf_file *f = ud;
    ssize_t n = conf_file_next(f);
    char *nl;

    (void)L;
    if (n == 0)
        return NULL;
    if (!f->started) {
        f->started = 1;
        if (f->buf[0] == '#') {
            while ((nl = memchr(f->buf, '\n', (size_t)n)) == NULL)
                if ((n = conf_file_next(f)) == 0)
                    return NULL;
            *size = (size_t)(n - (nl - f->buf));
            return nl;
        }
    }
    *size = (size_t)n;
    return f->buf;
}

/* Compile the config at PATH onto L: lua_load's answer (the chunk pushed
 * on 0), or LUA_ERRFILE with why in ERR (ERRLEN bytes). */
int
conf_file_compile(lua_State *L, const char *path, char *err, size_t errlen)
{
    struct conf_file f;
    struct stat st;
    char name[PATH_MAX + 2];
    int rc;

    f.started = f.err = 0;
    if ((f.fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return LUA_ERRFILE;
    }
    if (fstat(f.fd, &st) < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        close(f.fd);
        return LUA_ERRFILE;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: %s", path, S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
        close(f.fd);
        return LUA_ERRFILE;
    }
    snprintf(name, sizeof(name), "@%s", path);
    rc = lua_load(L, conf_file_read, &f, name);
    close(f.fd);
    if (rc == 0 && f.err != 0) {
        lua_pop(L, 1);
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(f.err));
        return LUA_ERRFILE;
    }
    return rc;
}
