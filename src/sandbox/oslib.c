/*
 * oslib.c: the standard library without process-wide C state.
 *
 * Every worker thread runs scripts in its own Lua state, but some of
 * Lua's standard functions reach state that the C library keeps once per
 * process: one script could change what every other script sees, or two
 * threads could share a static buffer. Each such function is replaced
 * here, once per state, after luaL_openlibs (Lua 5.1 and LuaJIT alike):
 *
 *   os.date         gmtime_r/localtime_r and a bounded strftime, with Lua
 *                   5.1's formats and answers (each conversion is handed to
 *                   strftime on its own, as 5.1 does)
 *   os.setlocale    queries only; asking for another locale answers nil,
 *                   the documented failure, and changes nothing
 *   math.random     a generator per state (splitmix64), with Lua 5.1's
 *   math.randomseed ranges and argument errors
 *   os.clock        CPU time of the calling thread, not of the process
 *   io.stdin/out/err  closed handles: the state never holds the daemon's
 *                   FILE *s, so no script can read the terminal, or close or
 *                   replace descriptors 0-2 (io.read, io.write and io.lines
 *                   without a file say the standard file is closed)
 *   os.execute      posix_spawn, not system(): nothing process-wide changes
 *                   while the command runs, and the command gets default
 *                   signals, no descriptor but 1 and 2, and /dev/null as 0
 *                   (osexec.c)
 *   debug.debug     raises an error: it would read the daemon's standard input
 *   loadfile(), dofile()  the same without a file name, for the same reason
 *
 * The other choices (print, os.getenv, os.tmpname, collectgarbage...) are
 * in luafcgid(8), SHARED PROCESS STATE.
 */
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "luawrap.h"
#include "oslib.h"
#include "osexec.h"

/* Lua 5.1's buffer for one conversion; strftime never writes past it. */
#define OSLIB_CONV_MAX 200

/* ---- os.date ------------------------------------------------------------ */

/* The time argument as a time_t, false when it has none (NaN, too large). */
static int
oslib_to_time(lua_Number n, time_t *t)
{
    long long ll;

    if (!(n >= -9223372036854775808.0 && n < 9223372036854775808.0))
        return 0;
    ll = (long long)n;
    *t = (time_t)ll;
    return (long long)*t == ll;
}

static void
oslib_set_int(lua_State *L, const char *key, int value)
{
    lua_pushinteger(L, value);
    lua_setfield(L, -2, key);
}

/* The "*t" table of TM. [-0, +1, m] */
static void
oslib_push_tm(lua_State *L, const struct tm *tm)
{
    lua_createtable(L, 0, 9);
    oslib_set_int(L, "sec", tm->tm_sec);
    oslib_set_int(L, "min", tm->tm_min);
    oslib_set_int(L, "hour", tm->tm_hour);
    oslib_set_int(L, "day", tm->tm_mday);
    oslib_set_int(L, "month", tm->tm_mon + 1);
    lua_pushnumber(L, (lua_Number)tm->tm_year + 1900);   /* tm_year may be INT_MAX */
    lua_setfield(L, -2, "year");
    oslib_set_int(L, "wday", tm->tm_wday + 1);
    oslib_set_int(L, "yday", tm->tm_yday + 1);
    if (tm->tm_isdst >= 0) {           /* negative: not known, left out */
        lua_pushboolean(L, tm->tm_isdst);
        lua_setfield(L, -2, "isdst");
    }
}

/* FORMAT with each "%x" replaced by strftime's answer for it alone; a
 * '%' that ends the format stays as it is. [-0, +1, m] */
static void
oslib_push_strftime(lua_State *L, const char *format, const struct tm *tm)
{
    luaL_Buffer b;
    char conv[3] = { '%', 0, 0 };
    char out[OSLIB_CONV_MAX];
    const char *p;

    luaL_buffinit(L, &b);
    for (p = format; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] != '\0') {
            conv[1] = *++p;
            luaL_addlstring(&b, out, strftime(out, sizeof(out), conv, tm));
        } else
            luaL_addchar(&b, *p);
    }
    luaL_pushresult(&b);
}

/* os.date([format [, time]]): a string or the "*t" table; nil when the
 * time cannot be broken down. [-0, +1, e] */
static int
oslib_date(lua_State *L)
{
    const char *format = luaL_optstring(L, 1, "%c");
    struct tm tm, *ok;
    time_t t;

    if (lua_isnoneornil(L, 2))
        t = time(NULL);
    else if (!oslib_to_time(luaL_checknumber(L, 2), &t)) {
        lua_pushnil(L);
        return 1;
    }
    if (format[0] == '!') {
        ok = gmtime_r(&t, &tm);
        format++;
    } else
        ok = localtime_r(&t, &tm);
    if (ok == NULL)
        lua_pushnil(L);
    else if (strcmp(format, "*t") == 0)
        oslib_push_tm(L, &tm);
    else
        oslib_push_strftime(L, format, &tm);
    return 1;
}

/* ---- os.setlocale --------------------------------------------------------- */

static const char *const oslib_category_names[] =
    { "all", "collate", "ctype", "monetary", "numeric", "time", NULL };
static const int oslib_categories[] =
    { LC_ALL, LC_COLLATE, LC_CTYPE, LC_MONETARY, LC_NUMERIC, LC_TIME };

/* "C" and "POSIX" name the same locale (POSIX.1: setlocale). */
static int
oslib_same_locale(const char *a, const char *b)
{
    int a_c = strcmp(a, "C") == 0 || strcmp(a, "POSIX") == 0;
    int b_c = strcmp(b, "C") == 0 || strcmp(b, "POSIX") == 0;

    return (a_c && b_c) || strcmp(a, b) == 0;
}

/* os.setlocale([locale [, category]]): the current name. Asking for the
 * locale already in force answers its name; any other answers nil: the
 * locale is the whole process's, so tostring(1.5) would change in every
 * other script. [-0, +1, e] */
static int
oslib_setlocale(lua_State *L)
{
    const char *want = luaL_optstring(L, 1, NULL);
    int category = oslib_categories[luaL_checkoption(L, 2, "all", oslib_category_names)];
    const char *now = setlocale(category, NULL);

    if (now != NULL && (want == NULL || oslib_same_locale(want, now)))
        lua_pushstring(L, now);
    else
        lua_pushnil(L);
    return 1;
}

/* ---- os.clock ------------------------------------------------------------- */

/* os.clock(): CPU seconds of this thread, the one running the script;
 * clock() would count every worker's. [-0, +1, -] */
static int
oslib_clock(lua_State *L)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    else
        lua_pushnumber(L, (lua_Number)clock() / (lua_Number)CLOCKS_PER_SEC);
    return 1;
}

/* ---- math.random ---------------------------------------------------------- */

/* splitmix64 (Steele, Lea, Flood 2014): 64 bits of state, every seed good. */
static uint64_t
oslib_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* math.random([m [, n]]): as Lua 5.1, from this state's generator. [-0, +1, e] */
static int
oslib_random(lua_State *L)
{
    uint64_t *state = lua_touserdata(L, lua_upvalueindex(1));
    lua_Number r = (lua_Number)(oslib_next(state) >> 11) / 9007199254740992.0;   /* [0, 1) */
    int low, up;

    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, r);
        return 1;
    case 1:
        low = 1;
        up = luaL_checkint(L, 1);
        luaL_argcheck(L, low <= up, 1, "interval is empty");
        break;
    case 2:
        low = luaL_checkint(L, 1);
        up = luaL_checkint(L, 2);
        luaL_argcheck(L, low <= up, 2, "interval is empty");
        break;
    default:
        return luaL_error(L, "wrong number of arguments");
    }
    lua_pushnumber(L, floor(r * ((lua_Number)up - low + 1)) + low);
    return 1;
}

/* math.randomseed(x): restarts this state's sequence only. [-0, +0, e] */
static int
oslib_randomseed(lua_State *L)
{
    uint64_t *state = lua_touserdata(L, lua_upvalueindex(1));

    *state = (uint64_t)(int64_t)luaL_checkint(L, 1);
    return 0;
}

/* A seed that differs between states: the clock, the state's address. */
static uint64_t
oslib_first_seed(lua_State *L)
{
    struct timespec ts;
    uint64_t seed = (uint64_t)(uintptr_t)L;

    if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
        seed ^= (uint64_t)ts.tv_sec * 1000000007ULL + (uint64_t)ts.tv_nsec;
    return oslib_next(&seed);
}

/* ---- what a script cannot have -------------------------------------------- */

/* Raises the reason held in upvalue 1. [-0, +0, e] */
static int
oslib_unavailable(lua_State *L)
{
    return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1)));
}

/* loadfile(name), dofile(name): the stock function in upvalue 1; without
 * a name it would read the daemon's standard input. [-?, +?, e] */
static int
oslib_file_only(lua_State *L)
{
    if (lua_isnoneornil(L, 1))
        return luaL_error(L, "%s without a file name is not available in luafcgid: "
                          "it would read the daemon's standard input",
                          lua_tostring(L, lua_upvalueindex(2)));
    return luawrap_call(L, LUA_MULTRET);
}

/* ---- installing ----------------------------------------------------------- */

/* TABLE.NAME = F, with the string WHY as its upvalue when given. */
static void
oslib_set(lua_State *L, const char *table, const char *name, lua_CFunction f, const char *why)
{
    lua_getglobal(L, table);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (why != NULL) {
        lua_pushstring(L, why);
        lua_pushcclosure(L, f, 1);
    } else
        lua_pushcfunction(L, f);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

/* Global NAME wrapped by oslib_file_only. */
static void
oslib_wrap_file_only(lua_State *L, const char *name)
{
    lua_pushstring(L, name);
    luawrap_field_with(L, LUA_GLOBALSINDEX, name, oslib_file_only, 1);
}

static void
oslib_install_random(lua_State *L)
{
    uint64_t *state;

    lua_getglobal(L, "math");
    state = lua_newuserdata(L, sizeof(*state));
    *state = oslib_first_seed(L);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, oslib_random, 1);
    lua_setfield(L, -3, "random");
    lua_pushcclosure(L, oslib_randomseed, 1);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);
}

/*
 * io.stdin, io.stdout, io.stderr (also the default input and output) made
 * closed handles without closing the process's files: both Lua 5.1 and
 * LuaJIT keep the FILE * first in a file's userdata, and a NULL there is
 * how they mark a closed file (never passed to fclose, also not by __gc).
 */
static void
oslib_detach_stdio(lua_State *L)
{
    static const char *const names[] = { "stdin", "stdout", "stderr" };
    size_t i;

    lua_getglobal(L, "io");
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        FILE **fp;

        lua_getfield(L, -1, names[i]);
        fp = luaL_checkudata(L, -1, LUA_FILEHANDLE);
        *fp = NULL;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void
oslib_install(lua_State *L)
{
    oslib_set(L, "os", "date", oslib_date, NULL);
    oslib_set(L, "os", "setlocale", oslib_setlocale, NULL);
    oslib_set(L, "os", "clock", oslib_clock, NULL);
    oslib_set(L, "os", "execute", osexec_execute, NULL);
    oslib_set(L, "debug", "debug", oslib_unavailable,
              "debug.debug is not available in luafcgid: it reads the daemon's standard input");
    oslib_wrap_file_only(L, "loadfile");
    oslib_wrap_file_only(L, "dofile");
    oslib_install_random(L);
    oslib_detach_stdio(L);
}
