/*
 * pathguard.c: files a script must not open, whatever opens them.
 *
 * Through /proc a script reaches the daemon itself: /proc/self/mem
 * opened for writing overwrites the code of every worker, /proc/self/fd
 * gives the listening socket and the other requests' connections,
 * /proc/self/environ the environment. And a FIFO with no writer blocks
 * open() forever, in C, where no limit reaches.
 *
 * So every function that opens a file by name (io.open, io.lines,
 * io.input, io.output, loadfile, dofile) is wrapped, whatever it is when
 * the sandbox is installed: the wrapper checks the name, then calls the
 * previous function, kept as its upvalue. Refused are:
 * - in /proc, anything opened for writing;
 * - in a process's directory (/proc/<n>, /proc/self, /proc/thread-self,
 *   and their task/<n>), the entries that give its memory, descriptors,
 *   environment or root: PATHGUARD_PROC;
 * - a FIFO.
 * The name is checked as written, with its directory resolved, and
 * resolved whole (realpath), so symlinks (/dev/fd, /proc/self/root) and
 * ".." lead to the same answer. A refused name gives nil, "<path>: not
 * allowed", as a failed open does, or raises it where the original raises.
 *
 * A name swapped between this check and the open is caught for io.open
 * (and io.input, io.output, which go through it): iolib.c checks the
 * descriptor it opened, by what it is and where /proc says it leads.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lua.h>
#include <lauxlib.h>

#include "luawrap.h"
#include "pathguard.h"

static const char *const PATHGUARD_PROC[] = {
    "mem", "fd", "fdinfo", "environ", "map_files", "cwd", "root", "exe",
    "pagemap", "auxv", "syscall", "stack", "task", NULL
};

/* True when S (of length N) is all digits, or "self" / "thread-self". */
static int
pathguard_is_process(const char *s, size_t n)
{
    size_t i;

    if ((n == 4 && strncmp(s, "self", 4) == 0) || (n == 11 && strncmp(s, "thread-self", 11) == 0))
        return 1;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return n > 0;
}

/* The length of the first component of S (after its leading '/'). */
static size_t
pathguard_part(const char *s)
{
    const char *end = strchr(s, '/');

    return end ? (size_t)(end - s) : strlen(s);
}

/* P is a resolved path under /proc: is it in a process's directory, on a
 * refused entry? */
static int
pathguard_proc_entry(const char *p)
{
    size_t n, i;
    int depth;

    for (depth = 0; depth < 2; depth++) {
        n = pathguard_part(p);
        if (!pathguard_is_process(p, n))
            return 0;
        p += n;
        if (*p == '\0')
            return 1;       /* the directory itself: its links are not for scripts */
        p++;
        n = pathguard_part(p);
        for (i = 0; PATHGUARD_PROC[i]; i++)
            if (strlen(PATHGUARD_PROC[i]) == n && strncmp(p, PATHGUARD_PROC[i], n) == 0)
                break;
        if (PATHGUARD_PROC[i] == NULL)
            return 0;
        if (n != 4 || strncmp(p, "task", 4) != 0)
            return 1;
        p += n;             /* task/<n>/...: the thread's entries, the same list */
        if (*p == '\0')
            return 1;
        p++;
    }
    return 1;
}

/* Why the resolved path R is refused, or NULL. Also asked by iolib.c of
 * what a descriptor it opened turned out to be. */
const char *
pathguard_resolved(const char *r, int write)
{
    if (strncmp(r, "/proc", 5) != 0 || (r[5] != '/' && r[5] != '\0'))
        return NULL;
    if (write)
        return "not allowed";
    if (r[5] == '/' && pathguard_proc_entry(r + 6))
        return "not allowed";
    return NULL;
}

/* realpath of PATH's directory, joined with its last part. 0, or -1
 * when the directory does not resolve. */
static int
pathguard_resolve_dir(const char *path, char *out)
{
    char dir[PATH_MAX];
    const char *slash, *base;
    size_t dlen;

    slash = strrchr(path, '/');
    if (slash == NULL) {
        dir[0] = '.';
        dir[1] = '\0';
        base = path;
    } else {
        dlen = slash == path ? 1 : (size_t)(slash - path);
        if (dlen >= sizeof(dir))
            return -1;
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
        base = slash + 1;
    }
    if (realpath(dir, out) == NULL)
        return -1;
    dlen = strlen(out);
    if (dlen + 1 + strlen(base) >= PATH_MAX)
        return -1;
    if (strcmp(out, "/") != 0)
        out[dlen++] = '/';
    memcpy(out + dlen, base, strlen(base) + 1);
    return 0;
}

/*
 * Checked: the name as written, its directory resolved (the last part may
 * be a link, /dev/fd/0 to whatever fd 0 is, or a link to nothing, as
 * /proc/self/fd/N of a socket), and the whole name resolved.
 */
const char *
pathguard_refuse(const char *path, int write)
{
    char r[PATH_MAX];
    struct stat st;
    const char *why;

    if (path[0] == '/' && (why = pathguard_resolved(path, write)) != NULL)
        return why;
    if (pathguard_resolve_dir(path, r) == 0 && (why = pathguard_resolved(r, write)) != NULL)
        return why;
    if (realpath(path, r) != NULL && (why = pathguard_resolved(r, write)) != NULL)
        return why;
    if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
        return "not allowed (a FIFO)";
    return NULL;
}

/* A mode that writes: any of w, a, +. */
static int
pathguard_writes(const char *mode)
{
    return mode && strpbrk(mode, "wa+") != NULL;
}

/* Call the original (upvalue 1) with every argument. */
static int
pathguard_call(lua_State *L)
{
    return luawrap_call(L, LUA_MULTRET);
}

/* Argument 1, when it is a file name, is checked; upvalue 2 says the
 * mode (0: read, 1: write, 2: argument 2's mode) and upvalue 3 whether a
 * refusal raises. */
static int
pathguard_open(lua_State *L)
{
    int how = (int)lua_tointeger(L, lua_upvalueindex(2));
    const char *path, *why;
    int write;

    if (lua_type(L, 1) != LUA_TSTRING)
        return pathguard_call(L);
    path = lua_tostring(L, 1);
    write = how == 2 ? pathguard_writes(luaL_optstring(L, 2, "r")) : how;
    if ((why = pathguard_refuse(path, write)) == NULL)
        return pathguard_call(L);
    if (lua_toboolean(L, lua_upvalueindex(3)))
        return luaL_error(L, "%s: %s", path, why);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, why);
    lua_pushinteger(L, EACCES);
    return 3;
}

/* t[name] (t at IDX) wrapped with HOW and RAISES. [-0, +0, m] */
static void
pathguard_wrap(lua_State *L, int idx, const char *name, int how, int raises)
{
    lua_pushinteger(L, how);
    lua_pushboolean(L, raises);
    luawrap_field_with(L, idx, name, pathguard_open, 2);
}

void
pathguard_install(lua_State *L)
{
    pathguard_wrap(L, LUA_GLOBALSINDEX, "loadfile", 0, 0);
    pathguard_wrap(L, LUA_GLOBALSINDEX, "dofile", 0, 1);
    lua_getglobal(L, "io");
    if (lua_istable(L, -1)) {
        pathguard_wrap(L, -1, "open", 2, 0);
        pathguard_wrap(L, -1, "lines", 0, 1);
        pathguard_wrap(L, -1, "input", 0, 1);
        pathguard_wrap(L, -1, "output", 1, 1);
    }
    lua_pop(L, 1);
}
