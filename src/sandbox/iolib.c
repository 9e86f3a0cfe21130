/*
 * iolib.c: the files a script opens.
 *
 * Descriptors are the process's, shared by every state: one script that
 * kept opening files would leave every other script "Too many open
 * files". And a file a script opens is a descriptor every command run by
 * os.execute would inherit, and could be the daemon's own standard input
 * or output under another name (/dev/stdin, /proc/self/fd/2...).
 *
 * So the functions that open files (io.open, io.lines with a name,
 * io.tmpfile, io.input and io.output with a name) are wrapped here:
 *
 * - A state holds at most LF_STATE_FILES open files. Each file opened is
 *   kept in a weak-keyed table in the registry; the open ones are those
 *   whose FILE * is not NULL (Lua 5.1 and LuaJIT both keep it first in
 *   the userdata and clear it on close). At the limit a full collection
 *   runs first, so files merely forgotten are closed and count no more;
 *   then the answer is the C library's: nil, "NAME: Too many open files".
 * - Each file is made close-on-exec. (os.execute closes every descriptor
 *   above 2 in its command anyway; this covers C modules that exec.)
 * - io.open with a name opens it once, with open(2): O_NONBLOCK, so a
 *   FIFO swapped in cannot block, and without O_TRUNC. The descriptor is
 *   then checked, not the name: a FIFO, a socket, the daemon's
 *   descriptor 0, 1 or 2 (same device and inode), or what pathguard.c
 *   refuses in /proc (by the descriptor's /proc/self/fd link) is closed
 *   and refused; only then is "w" truncated and the handle made. With
 *   LuaJIT, whose handles only its io.open makes, that io.open opens the
 *   descriptor's /proc/self/fd link: the same file, one descriptor more
 *   for a moment.
 * - io.lines with a name still looks the name up before opening and the
 *   descriptor after (not a write, so nothing is truncated).
 *
 * loadfile, dofile and require refuse the standard files too (loadsource.c);
 * they close their file before returning, so they are not counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "luafcgid.h"
#include "iolib.h"
#include "luawrap.h"
#include "pathguard.h"

#define IOLIB_STDIO "the daemon's standard files are not available to scripts"

/* The registry key of the weak table of files opened. */
static const char iolib_key = 'f';

/* Is ST one of the daemon's files 0-2 (other than /dev/null)? */
static int
iolib_stat_is_stdio(const struct stat *st, int fd)
{
    struct stat std, null;
    int i;

    if (stat("/dev/null", &null) == 0 && st->st_dev == null.st_dev && st->st_ino == null.st_ino)
        return 0;
    for (i = 0; i <= 2; i++)
        if (i != fd && fstat(i, &std) == 0 && st->st_dev == std.st_dev && st->st_ino == std.st_ino)
            return 1;
    return 0;
}

int
iolib_is_stdio(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && iolib_stat_is_stdio(&st, fd);
}

/* Does NAME lead to one of them? Asked before opening, so that "w" does
 * not truncate the daemon's standard output before the check after. */
static int
iolib_name_is_stdio(const char *name)
{
    struct stat st;

    return stat(name, &st) == 0 && iolib_stat_is_stdio(&st, -1);
}

/* The file handle at IDX, or NULL when it is not one. [-0, +0, -] */
static FILE **
iolib_tofile(lua_State *L, int idx)
{
    FILE **fp = lua_touserdata(L, idx);

    if (fp == NULL || !lua_getmetatable(L, idx))
        return NULL;
    luaL_getmetatable(L, LUA_FILEHANDLE);
    if (!lua_rawequal(L, -1, -2))
        fp = NULL;
    lua_pop(L, 2);
    return fp;
}

/* How many files of this state are open. [-0, +0, -] */
static int
iolib_count(lua_State *L)
{
    int n = 0;

    lua_pushlightuserdata(L, (void *)&iolib_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        FILE **fp = lua_touserdata(L, -2);

        if (fp != NULL && *fp != NULL)
            n++;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return n;
}

/* May one more file be opened? Collects forgotten files first. [-0, +0, e] */
static int
iolib_room(lua_State *L)
{
    if (iolib_count(L) < LF_STATE_FILES)
        return 1;
    lua_gc(L, LUA_GCCOLLECT, 0);
    return iolib_count(L) < LF_STATE_FILES;
}

/*
 * Take the file handle at IDX, just opened: close-on-exec, counted. When
 * it is one of the standard files it is closed and -1 answered. [-0, +0, m]
 */
static int
iolib_adopt(lua_State *L, int idx)
{
    FILE **fp = iolib_tofile(L, idx);
    int fd, flags;

    if (fp == NULL || *fp == NULL)
        return 0;
    fd = fileno(*fp);
    if (iolib_is_stdio(fd)) {
        fclose(*fp);
        *fp = NULL;             /* closed: its __gc will not close it again */
        return -1;
    }
    if ((flags = fcntl(fd, F_GETFD)) >= 0)
        (void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);   /* only a help: see os.execute */
    lua_pushlightuserdata(L, (void *)&iolib_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, idx < 0 ? idx - 1 : idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return 0;
}

/* nil, "NAME: WHY", ERR: how io.open fails. [-0, +3, m] */
static int
iolib_fail(lua_State *L, const char *name, const char *why, int err)
{
    lua_pushnil(L);
    if (name != NULL)
        lua_pushfstring(L, "%s: %s", name, why);
    else
        lua_pushstring(L, why);
    lua_pushinteger(L, err);
    return 3;
}

/* Call upvalue 1 with the arguments; its results replace them. [-?, +?, e] */
static int
iolib_call_original(lua_State *L)
{
    return luawrap_call(L, LUA_MULTRET);
}

/* open(2) flags for the fopen MODE, without O_TRUNC: truncating waits
 * for the check. -1 for a mode fopen refuses. */
static int
iolib_mode_flags(const char *mode, int *trunc)
{
    int plus = strchr(mode, '+') != NULL;

    *trunc = 0;
    switch (mode[0]) {
    case 'r':
        return plus ? O_RDWR : O_RDONLY;
    case 'w':
        *trunc = 1;
        return (plus ? O_RDWR : O_WRONLY) | O_CREAT;
    case 'a':
        return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
    default:
        return -1;
    }
}

/* Why the file open on FD, opened to write or not, is refused, or NULL:
 * what it is, not the name it was opened by. */
static const char *
iolib_fd_refuse(int fd, int write)
{
    char link[64], target[PATH_MAX];
    struct stat st;
    ssize_t n;

    if (fstat(fd, &st) != 0)
        return strerror(errno);
    if (S_ISFIFO(st.st_mode))
        return "not allowed (a FIFO)";
    if (S_ISSOCK(st.st_mode))
        return "not allowed (a socket)";
    if (iolib_stat_is_stdio(&st, -1))
        return IOLIB_STDIO;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    if ((n = readlink(link, target, sizeof(target) - 1)) < 0)
        return NULL;            /* no /proc: the name was checked already */
    target[n] = '\0';
    return pathguard_resolved(target, write);
}

/* Empty FD as "w" would have: a regular file only (a device, /dev/null,
 * cannot be truncated and need not be). */
static int
iolib_truncate(int fd)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return -1;
    return S_ISREG(st.st_mode) ? ftruncate(fd, 0) : 0;
}

/* Open NAME in MODE once, check what was opened and truncate after: the
 * descriptor, or -1 with *WHY and *ERR set. O_NONBLOCK for the open only,
 * so that a FIFO swapped in for the name cannot block it. */
static int
iolib_open_checked(const char *name, const char *mode, const char **why, int *err)
{
    int trunc, flags = iolib_mode_flags(mode, &trunc), fd;

    *err = EINVAL;
    *why = strerror(EINVAL);
    if (flags < 0)
        return -1;
    if ((fd = open(name, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0666)) < 0) {
        *err = errno;
        *why = strerror(errno);
        return -1;
    }
    *err = EACCES;
    if ((*why = iolib_fd_refuse(fd, (flags & O_ACCMODE) != O_RDONLY)) == NULL &&
        fcntl(fd, F_SETFL, flags & O_APPEND) == 0 && (!trunc || iolib_truncate(fd) == 0))
        return fd;
    if (*why == NULL) {
        *err = errno;
        *why = strerror(errno);
    }
    close(fd);
    return -1;
}

#ifndef LF_LUAJIT
/* The checked FD as a Lua 5.1 file handle, with the environment of the
 * original io.open (upvalue 1), which gives the handle its close. The
 * descriptor is closed when it will not open. [-0, +1|3, m] */
static int
iolib_handle(lua_State *L, const char *name, const char *mode, int fd)
{
    FILE **fp = lua_newuserdata(L, sizeof(FILE *));

    *fp = NULL;
    luaL_getmetatable(L, LUA_FILEHANDLE);
    lua_setmetatable(L, -2);
    lua_getfenv(L, lua_upvalueindex(1));
    lua_setfenv(L, -2);
    if ((*fp = fdopen(fd, mode)) == NULL) {
        int err = errno;

        close(fd);
        lua_pop(L, 1);
        return iolib_fail(L, name, strerror(err), err);
    }
    return 1;
}
#else
/* LuaJIT's handles are its own: the original opens the descriptor's
 * /proc/self/fd link, which leads to that very file whatever the name
 * leads to meanwhile ("w" truncates the checked file again). */
static int
iolib_handle(lua_State *L, const char *name, const char *mode, int fd)
{
    int n;

    lua_settop(L, 0);
    lua_pushfstring(L, "/proc/self/fd/%d", fd);
    lua_pushstring(L, mode);
    n = iolib_call_original(L);
    close(fd);
    if (n >= 2 && lua_isnil(L, 1)) {
        lua_pushfstring(L, "%s: %s", name, strerror((int)lua_tointeger(L, 3)));
        lua_replace(L, 2);
    }
    return n;
}
#endif

/* io.open(name [, mode]), io.tmpfile(): as the originals (upvalue 1),
 * within the limit and never a standard file. A name is opened and
 * checked here, once, by its descriptor. [-?, +1|3, e] */
static int
iolib_open(lua_State *L)
{
    const char *name = lua_tostring(L, 1);   /* NULL for io.tmpfile */
    const char *mode, *why;
    int n, fd, err;

    if (!iolib_room(L))
        return iolib_fail(L, name, strerror(EMFILE), EMFILE);
    if (name == NULL) {
        n = iolib_call_original(L);
    } else {
        mode = luaL_optstring(L, 2, "r");
        if ((fd = iolib_open_checked(name, mode, &why, &err)) < 0)
            return iolib_fail(L, name, why, err);
        n = iolib_handle(L, name, mode, fd);
    }
    if (n >= 1 && iolib_adopt(L, -n) != 0)
        return iolib_fail(L, name, IOLIB_STDIO, EACCES);
    return n;
}

/* Raise as io.lines, io.input and io.output do when NAME will not open:
 * "bad argument #1 (NAME: WHY)". [-0, +0, e] */
static int
iolib_refuse(lua_State *L, const char *name, const char *why)
{
    return luaL_argerror(L, 1, lua_pushfstring(L, "%s: %s", name, why));
}

/* io.lines(name): the original's (upvalue 1) iterator, whose first
 * upvalue is the file (Lua 5.1 and LuaJIT alike); io.lines() is left as
 * it is. [-?, +1, e] */
static int
iolib_lines(lua_State *L)
{
    const char *name;

    if (lua_isnoneornil(L, 1))
        return iolib_call_original(L);
    name = luaL_checkstring(L, 1);
    if (!iolib_room(L))
        return iolib_refuse(L, name, strerror(EMFILE));
    if (iolib_name_is_stdio(name))
        return iolib_refuse(L, name, IOLIB_STDIO);
    iolib_call_original(L);
    if (lua_iscfunction(L, -1) && lua_getupvalue(L, -1, 1) != NULL) {
        int refused = iolib_adopt(L, -1);

        lua_pop(L, 1);
        if (refused)
            return iolib_refuse(L, name, IOLIB_STDIO);
    }
    return 1;
}

/* io.input(name), io.output(name): the file is opened by the wrapped
 * io.open (upvalue 2) in mode upvalue 3, then handed to the original
 * (upvalue 1); so a refused one never becomes the default. [-?, +1, e] */
static int
iolib_default(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TSTRING)
        return iolib_call_original(L);
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, lua_upvalueindex(3));
    lua_call(L, 2, 2);
    if (lua_isnil(L, 2))
        return luaL_argerror(L, 1, lua_tostring(L, 3));
    lua_pop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 2);
    lua_call(L, 1, 1);
    return 1;
}

/* io[NAME] = iolib_default with the original, io.open and MODE. [-0, +0, m] */
static void
iolib_wrap_default(lua_State *L, const char *name, const char *mode)
{
    lua_getfield(L, -1, "open");
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_pushstring(L, mode);
    luawrap_field_with(L, -1, name, iolib_default, 2);
}

void
iolib_install(lua_State *L)
{
    luawrap_new_weak(L, &iolib_key);
    lua_pop(L, 1);

    lua_getglobal(L, "io");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    luawrap_field(L, -1, "open", iolib_open);
    luawrap_field(L, -1, "tmpfile", iolib_open);
    luawrap_field(L, -1, "lines", iolib_lines);
    iolib_wrap_default(L, "input", "r");
    iolib_wrap_default(L, "output", "w");
    lua_pop(L, 1);
}
