/*
 * evil.c: a Lua C module for the attacks on terminate_timeout, max_rss
 * and the fork guard (tests/lib/LFEvil.pm): C code that blocks in a call
 * or in a userdata's __gc, forks by every road (the C library's _Fork and
 * daemon, the system call itself), and ends the process.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void csleep(double s)
{
    double end = now() + s;
    struct timespec ts = { 0, 10000000 };
    while (now() < end)
        nanosleep(&ts, NULL);
}
/* evil.sleep(s) */
static int e_sleep(lua_State *L) { csleep(luaL_checknumber(L, 1)); lua_pushboolean(L, 1); return 1; }
static int gc_sleep(lua_State *L) { csleep(*(double *)lua_touserdata(L, 1)); return 0; }
/* evil.gcsleep(s): a userdata whose __gc sleeps s in C when its state closes */
static int e_gcsleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    double *u = lua_newuserdata(L, sizeof(double));
    *u = s;
    lua_newtable(L);
    lua_pushcfunction(L, gc_sleep);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    return 1;
}
static int push_pid(lua_State *L, pid_t p)
{
    if (p < 0) { lua_pushnil(L); lua_pushstring(L, strerror(errno)); return 2; }
    lua_pushinteger(L, p);
    return 1;
}
/* evil._Fork(): POSIX.1-2024's _Fork, which runs no pthread_atfork handler */
static int e_Fork(lua_State *L)
{
    pid_t (*f)(void) = (pid_t (*)(void))dlsym(RTLD_DEFAULT, "_Fork");
    if (f == NULL)
        return luaL_error(L, "no _Fork in this C library");
    return push_pid(L, f());
}
/* evil.sysfork(): the fork system call itself, which no library function sees */
static int e_sysfork(lua_State *L)
{
#ifdef SYS_fork
    return push_pid(L, (pid_t)syscall(SYS_fork));
#else
    return push_pid(L, (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
#endif
}
/* evil.daemon(): the C library's daemon(3): 0, or nil and the error */
static int e_daemon(lua_State *L) { return push_pid(L, daemon(1, 1)); }
/* evil._exit(n): the process ends at once, as daemon(3)'s parent does */
static int e_exit(lua_State *L) { _exit((int)luaL_checkinteger(L, 1)); return 0; }
static int e_getpid(lua_State *L) { lua_pushinteger(L, getpid()); return 1; }
int luaopen_evil(lua_State *L)
{
    static const luaL_Reg f[] = {
        { "sleep", e_sleep }, { "gcsleep", e_gcsleep }, { "_Fork", e_Fork },
        { "daemon", e_daemon }, { "getpid", e_getpid }, { "sysfork", e_sysfork },
        { "_exit", e_exit }, { NULL, NULL }
    };
    lua_newtable(L);
    luaL_register(L, NULL, f);
    return 1;
}
