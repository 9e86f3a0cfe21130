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
 * - A file that turns out to be the daemon's descriptor 0, 1 or 2 (same
 *   device and inode, looked up after opening, so no name can get round
 *   it) is closed again and refused. The name is looked up before
 *   opening too, so that mode "w" does not truncate the daemon's output
 *   first (a name swapped between the two looks is still caught by the
 *   second, after the truncation; a command run by os.execute can write
 *   to descriptors 1 and 2 anyway).
 *
 * loadfile, dofile and require refuse the standard files too (chunk.c);
 * they close their file before returning, so they are not counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "luafcgid.h"
#include "iolib.h"
#include "luawrap.h"

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
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* io.open(name [, mode]), io.tmpfile(): as the originals (upvalue 1),
 * within the limit and never a standard file. [-?, +1|3, e] */
static int
iolib_open(lua_State *L)
{
    const char *name = lua_tostring(L, 1);   /* NULL for io.tmpfile */
    int n;

    if (!iolib_room(L))
        return iolib_fail(L, name, strerror(EMFILE), EMFILE);
    if (name != NULL && iolib_name_is_stdio(name))
        return iolib_fail(L, name, IOLIB_STDIO, EACCES);
    n = iolib_call_original(L);
    if (n >= 1 && iolib_adopt(L, 1) != 0)
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
    lua_getfield(L, -1, name);
    lua_getfield(L, -2, "open");
    if (!lua_isfunction(L, -2) || !lua_isfunction(L, -1)) {
        lua_pop(L, 2);
        return;
    }
    lua_pushstring(L, mode);
    lua_pushcclosure(L, iolib_default, 3);
    lua_setfield(L, -2, name);
}

void
iolib_install(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&iolib_key);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);

    lua_getglobal(L, "io");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    luawrap_field(L, "open", iolib_open);
    luawrap_field(L, "tmpfile", iolib_open);
    luawrap_field(L, "lines", iolib_lines);
    iolib_wrap_default(L, "input", "r");
    iolib_wrap_default(L, "output", "w");
    lua_pop(L, 1);
}
