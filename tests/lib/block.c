/*
 * block.c: a Lua C module for the tests of what no hook reaches: C code
 * that waits or spins without returning to Lua, or mallocs outside the
 * Lua allocator (tests/t/daemon/terminate.t, replace-under-load.t).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lua.h>
#include <lauxlib.h>
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
/* block.sleep(s): waits in C, as a socket read with no timeout would */
static int b_sleep(lua_State *L)
{
    double end = now() + luaL_checknumber(L, 1);
    struct timespec ts = { 0, 10000000 };
    while (now() < end)
        nanosleep(&ts, NULL);
    lua_pushboolean(L, 1);
    return 1;
}
/* block.spin(s): burns the CPU in C, as a pattern library's match would */
static int b_spin(lua_State *L)
{
    double end = now() + luaL_checknumber(L, 1);
    volatile unsigned long x = 0;
    while (now() < end)
        for (int i = 0; i < 100000; i++)
            x++;
    lua_pushboolean(L, 1);
    return 1;
}
/* block.grab(mib): mallocs and touches MiB, never freed, as a C library's
 * own buffers are outside the Lua allocator */
static int b_grab(lua_State *L)
{
    size_t n = (size_t)luaL_checknumber(L, 1) << 20;
    char *p = malloc(n);
    if (p == NULL)
        return luaL_error(L, "no memory");
    memset(p, 1, n);
    lua_pushboolean(L, 1);
    return 1;
}
int luaopen_block(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, b_sleep);
    lua_setfield(L, -2, "sleep");
    lua_pushcfunction(L, b_spin);
    lua_setfield(L, -2, "spin");
    lua_pushcfunction(L, b_grab);
    lua_setfield(L, -2, "grab");
    return 1;
}

