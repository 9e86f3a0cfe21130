/* oslib: os.date answers exactly as the stock os.date on many times, formats
 * and zones; os.setlocale only queries; math.random keeps one sequence per
 * state with Lua 5.1's ranges and errors; the standard files are out of
 * reach. The stock library runs in a second state, single-threaded. */
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "oslib.h"
#include "tap.h"

/* describe(f, ...): what calling f(...) answers, as one string. */
static const char describe_src[] =
    "function describe(f, ...)\n"
    "  local r = { pcall(f, ...) }\n"
    "  if not r[1] then return 'error: ' .. tostring(r[2]) end\n"
    "  local v = r[2]\n"
    "  if type(v) ~= 'table' then return type(v) .. ' ' .. tostring(v) end\n"
    "  local keys = {}\n"
    "  for k in pairs(v) do keys[#keys + 1] = k end\n"
    "  table.sort(keys)\n"
    "  for i, k in ipairs(keys) do keys[i] = k .. '=' .. tostring(v[k]) end\n"
    "  return 'table ' .. table.concat(keys, ',')\n"
    "end\n"
    "function date(fmt, t) return describe(os.date, fmt, t) end\n"
    "function run(src) return describe(assert(loadstring(src))) end\n";

static int
install(lua_State *L)
{
    oslib_install(L);
    return 0;
}

static lua_State *
new_state(int ours)
{
    lua_State *L = luaL_newstate();

    luaL_openlibs(L);
    if (ours && lua_cpcall(L, install, NULL) != 0) {
        fprintf(stderr, "oslib_install: %s\n", lua_tostring(L, -1));
        exit(1);
    }
    if (luaL_dostring(L, describe_src) != 0) {
        fprintf(stderr, "describe: %s\n", lua_tostring(L, -1));
        exit(1);
    }
    return L;
}

static lua_State *stock, *ours;
static char got_stock[4096], got_ours[4096];
static char first_difference[8400];     /* shown after the test that found it */

/* FN(arg, t) in L, its description copied to OUT. */
static void
call(lua_State *L, const char *fn, const char *arg, size_t arglen, const double *t, char *out)
{
    lua_getglobal(L, fn);
    if (arg != NULL)
        lua_pushlstring(L, arg, arglen);
    else
        lua_pushnil(L);
    if (t != NULL)
        lua_pushnumber(L, *t);
    else
        lua_pushnil(L);
    if (lua_pcall(L, 2, 1, 0) != 0 || !lua_isstring(L, -1))
        snprintf(out, 4096, "(describe failed)");
    else
        snprintf(out, 4096, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
}

/* RUN(src) in a state: what the chunk answers. */
static const char *
run(lua_State *L, const char *src, char *out)
{
    call(L, "run", src, strlen(src), NULL, out);
    return out;
}

static const double times[] = {
    0, 1, -1, 59, 60, 86399, 86400, 951782400 /* 2000-02-29 */, 1e9, 1234567890,
    2147483647, 2147483648.0, -2147483648.0, -2147483649.0, 4102444800.0 /* 2100 */,
    253402300799.0 /* 9999-12-31 */, 253402300800.0, -62135596800.0 /* year 1 */,
    -62135596801.0, -1e11, 1e12, 67768036191676800.0 /* past INT_MAX years */,
    1e18, -1e18, 1e300, -1e300, 1.5, -0.5, -1.5, 1711846799.9 /* before DST */,
    1711846800, 1711850400, 1729990799, 1729990800, 1729994400 /* around DST, both ways */,
};

#define NRANDOM 300

static double random_times[NRANDOM];

static void
make_random_times(void)
{
    unsigned long long x = 88172645463325252ULL;
    int i;

    for (i = 0; i < NRANDOM; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* about 3000 years either side of 1970, and a third near now */
        if (i % 3 == 0)
            random_times[i] = 1.6e9 + (double)(x % 400000000ULL);
        else
            random_times[i] = (double)(long long)(x % 200000000000ULL) - 1e11;
    }
}

/* How many test times os.date(FORMAT, t) answers unlike the stock one. */
static int
count_differences(const char *format, size_t len, int *n)
{
    int bad = 0;
    size_t i;

    for (i = 0; i < sizeof(times) / sizeof(times[0]) + NRANDOM; i++) {
        const double *t = i < sizeof(times) / sizeof(times[0]) ? &times[i]
                        : &random_times[i - sizeof(times) / sizeof(times[0])];

        call(stock, "date", format, len, t, got_stock);
        call(ours, "date", format, len, t, got_ours);
        (*n)++;
        if (strcmp(got_stock, got_ours) != 0 && bad++ == 0)
            snprintf(first_difference, sizeof(first_difference),
                     "#   \"%s\" at %.17g: stock \"%s\", ours \"%s\"\n",
                     format ? format : "nil", *t, got_stock, got_ours);
    }
    return bad;
}

/* os.date(FORMAT, t) agrees with the stock one for every test time. */
static void
same_dates(const char *format, size_t len, const char *name)
{
    int n = 0, bad = count_differences(format, len, &n);

    if (!ok(bad == 0, "os.date %s: as stock at %d times (%d differ)", name, n, bad))
        fputs(first_difference, stdout);
}

#ifdef LF_LUAJIT
/* True when FORMAT has a conversion with a modifier or flag ("%Ec", "%-d"). */
static int
has_modifier(const char *format)
{
    const char *p;

    for (p = format; (p = strchr(p, '%')) != NULL && p[1] != '\0'; p += 2)
        if (strchr("EO-_0^#", p[1]) != NULL)
            return 1;
    return 0;
}
#endif

/* A format longer than os.date's buffer, as one string. */
static const char test_long_format[] =
    "a very long literal a very long literal a very long literal a very long literal "
    "a very long literal a very long literal a very long literal a very long literal";

static void
test_dates_in_zone(const char *tz)
{
    static const char *const formats[] = {
        "*t", "!*t", "%c", "!%c", "%Y-%m-%d %H:%M:%S", "!%Y-%m-%d %H:%M:%S", "%x %X %Z %z",
        "", "!", "%", "!%", "abc%", "%%", "%%%", "%Ec%Ox%Ey%OH", "%-d%_m%0e%^a%#b%10Y",
        "x*t", "*t ", " *t", "!!*t", "*T", "%s %G %g %V %U %W %u %w %j %C %D %F %T %R %r",
        test_long_format,
        "%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c",
        "\xc3\xa9t\xc3\xa9 %A",
    };
    char name[64], fmt[4];
    size_t i;
    int c, n = 0, bad = 0;

    setenv("TZ", tz, 1);
    tzset();
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        snprintf(name, sizeof(name), "\"%.30s\" in %s", formats[i], tz);
#ifdef LF_LUAJIT
        /* LuaJIT's own os.date hands the whole format to strftime, so
         * modifiers differ from Lua 5.1; the Lua 5.1 build checks these. */
        if (has_modifier(formats[i])) {
            skip("%s: LuaJIT's stock os.date is not Lua 5.1's here", name);
            continue;
        }
#endif
        same_dates(formats[i], strlen(formats[i]), name);
    }
    /* every byte after '%', local and UTC */
    for (c = 1; c < 256; c++) {
        fmt[0] = '%', fmt[1] = (char)c;
        bad += count_differences(fmt, 2, &n);
        fmt[0] = '!', fmt[1] = '%', fmt[2] = (char)c;
        bad += count_differences(fmt, 3, &n);
    }
    if (!ok(bad == 0, "os.date \"%%x\" and \"!%%x\" for every byte x in %s: as stock %d times (%d differ)",
            tz, n, bad))
        fputs(first_difference, stdout);
    same_dates("%Y\0%m", 5, "a format cut at its NUL");
    same_dates(NULL, 0, "nil format (\"%c\")");
}

static void
test_date_arguments(void)
{
    static const char *const calls[] = {
        "return os.date({})", "return os.date('%c', {})", "return os.date('%c', 'x')",
        "return os.date('%c', '86400')", "return os.date(2012, 0)", "return os.date(nil, 0)",
        "return os.date('!%c', 0 / 0)", "return os.date(true)", "return os.date('*t', false)",
        /* now: a second may tick between two calls, but not three times */
        "for i = 1, 3 do if os.date('%Y', nil) == os.date('%Y', os.time()) then return true end end",
        "for i = 1, 3 do if os.date() == os.date('%c', os.time()) then return true end end",
        "return os.date('!%H', 3600, 'extra')",
    };
    size_t i;

    for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        run(stock, calls[i], got_stock);
        run(ours, calls[i], got_ours);
        if (strstr(calls[i], "0 / 0") && strcmp(got_stock, got_ours) != 0) {
            /* the stock cast of NaN is undefined; ours answers nil */
            is_str(got_ours, "nil nil", calls[i]);
            continue;
        }
        is_str(got_ours, got_stock, calls[i]);
    }
    /* year 2^31: tm_year + 1900 overflows the int stock Lua adds it in */
    is_str(run(ours, "return os.date('!*t', 67767976233532799).year", got_ours), "number 2147483648",
           "os.date: a year past INT_MAX does not overflow");
}

static void
test_setlocale(void)
{
    char before[256];

    snprintf(before, sizeof(before), "string %s", setlocale(LC_ALL, NULL));
    is_str(run(ours, "return os.setlocale()", got_ours), before, "os.setlocale() answers the locale");
    is_str(run(ours, "return os.setlocale('C.UTF-8')", got_ours), "nil nil",
           "asking for another locale answers nil");
    is_str(run(ours, "return os.setlocale('', 'numeric')", got_ours), "nil nil",
           "and so does the environment's locale");
    is_str(run(ours, "return os.setlocale('de_DE.UTF-8', 'numeric')", got_ours), "nil nil",
           "or one for numbers");
    is_str(run(ours, "return os.setlocale()", got_ours), before, "the locale is unchanged");
    is_str(setlocale(LC_ALL, NULL), before + 7, "also for C");
    is_str(run(ours, "return tostring(1.5) .. string.format(' %.1f', 2.5)", got_ours),
           "string 1.5 2.5", "numbers still print with a point");
    is_str(run(ours, "return os.setlocale(nil, 'numeric')", got_ours), before,
           "a category can be queried");
    is_str(run(ours, "return os.setlocale('C', 'time')", got_ours), "string C",
           "asking for the locale in force answers its name");
    run(stock, "return os.setlocale('POSIX', 'time')", got_stock);
    is_str(run(ours, "return os.setlocale('POSIX', 'time')", got_ours), got_stock,
           "POSIX is C, as the stock function answers");
    run(stock, "return os.setlocale(nil, 'bogus')", got_stock);
    is_str(run(ours, "return os.setlocale(nil, 'bogus')", got_ours), got_stock,
           "a bad category: the stock error");
    run(stock, "return os.setlocale({})", got_stock);
    is_str(run(ours, "return os.setlocale({})", got_ours), got_stock, "a bad locale: the stock error");
}

static void
test_random(void)
{
    static const char *const bad[] = {
        "return math.random(0)", "return math.random(3, 2)", "return math.random(1, 2, 3)",
        "return math.random('x')", "return math.random(1, {})", "return math.randomseed()",
        "return math.randomseed('x')",
    };
    lua_State *other = new_state(1);
    size_t i;

#ifdef LF_LUAJIT
    /* Lua 5.1's answers, which LuaJIT's own math.random does not give */
    static const char *const lua51[] = {
        "error: bad argument #1 to '?' (interval is empty)",
        "error: bad argument #2 to '?' (interval is empty)",
        "error: wrong number of arguments",
    };
#endif

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run(stock, bad[i], got_stock);
#ifdef LF_LUAJIT
        if (i < sizeof(lua51) / sizeof(lua51[0]))
            snprintf(got_stock, sizeof(got_stock), "%s", lua51[i]);
#endif
        is_str(run(ours, bad[i], got_ours), got_stock, bad[i]);
    }
    is_str(run(ours, "local seen = {} for i = 1, 10000 do local r = math.random(3)\n"
                     "  if r ~= math.floor(r) or r < 1 or r > 3 then return r end seen[r] = true end\n"
                     "return seen[1] and seen[2] and seen[3]", got_ours),
           "boolean true", "math.random(3) gives 1, 2 and 3, and nothing else");
    is_str(run(ours, "for i = 1, 10000 do local r = math.random(-2, 2)\n"
                     "  if r ~= math.floor(r) or r < -2 or r > 2 then return r end end\n"
                     "for i = 1, 10000 do local r = math.random()\n"
                     "  if r < 0 or r >= 1 then return r end end\n"
                     "return math.random(5, 5)", got_ours),
           "number 5", "math.random(m, n) within [m, n], math.random() within [0, 1)");
    is_str(run(ours, "math.randomseed(42) local a = math.random(1e6) .. ' ' .. math.random(1e6)\n"
                     "math.randomseed(42) return a == math.random(1e6) .. ' ' .. math.random(1e6)", got_ours),
           "boolean true", "the same seed, the same sequence");
    run(ours, "math.randomseed(7) return math.random(1e9)", got_stock);
    run(other, "math.randomseed(1) return math.random()", got_ours);
    run(ours, "return math.random(1e9)", got_ours);
    run(other, "math.randomseed(7) math.random(1e9) return math.random(1e9)", got_stock);
    is_str(got_ours, got_stock, "seeding another state does not move this state's sequence");
    srand(5);
    i = (size_t)rand();
    srand(5);
    run(ours, "math.randomseed(9) return math.random()", got_ours);
    is_int(rand(), (long long)i, "C's rand() is left alone");
    lua_close(other);
}

static void
test_stdio(void)
{
    char path[] = "/tmp/lf-oslib.XXXXXX";
    char src[256];
    int fd;

    like(run(ours, "io.write('x')", got_ours), "file is closed", "io.write: the standard output is closed");
    like(run(ours, "return io.read()", got_ours), "file is closed", "io.read: the standard input is closed");
    like(run(ours, "for l in io.lines() do end", got_ours), "closed", "io.lines(): closed");
    is_str(run(ours, "return io.type(io.stdout) .. io.type(io.stdin) .. io.type(io.stderr)", got_ours),
           "string closed fileclosed fileclosed file", "io.stdin, io.stdout, io.stderr are closed handles");
    like(run(ours, "return io.stdout:close()", got_ours), "error: ", "io.stdout:close() fails");
    like(run(ours, "return io.close()", got_ours), "error: ", "io.close() fails");
    like(run(ours, "return io.stderr:write('x')", got_ours), "closed file", "io.stderr:write fails");
    ok(fcntl(0, F_GETFD) >= 0 && fcntl(1, F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0,
       "descriptors 0, 1 and 2 are still open");
    run(stock, "return io.type(io.stdout)", got_stock);
    is_str(got_stock, "string file", "(the stock state still has its stdout)");
    if ((fd = mkstemp(path)) < 0) {
        ok(0, "mkstemp: %s", path);
        return;
    }
    close(fd);
    snprintf(src, sizeof(src), "io.output('%s') io.write('written') io.close()\n"
                               "io.input('%s') local s = io.read('*a') io.input():close() return s",
             path, path);
    is_str(run(ours, src, got_ours), "string written", "io.output and io.input with a file work");
    unlink(path);
}

/* The "SigIgn:" line of a /proc status file, or "". */
static void
ignored_line(const char *path, char *line, size_t size)
{
    FILE *f = fopen(path, "r");

    line[0] = '\0';
    if (f == NULL)
        return;
    while (fgets(line, (int)size, f) != NULL && strncmp(line, "SigIgn:", 7) != 0)
        ;
    if (strncmp(line, "SigIgn:", 7) != 0)
        line[0] = '\0';
    fclose(f);
}

static void
test_execute(void)
{
    static const char *const calls[] = {
        "return os.execute()", "return os.execute('true')", "return os.execute('exit 3')",
        "return os.execute({})", "return io.popen('echo hi'):read('*a')",
    };
    char path[] = "/tmp/lf-oslib.XXXXXX", src[256], before[128], during[128];
    sigset_t all, old;
    size_t i;
    int fd;

    for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        run(stock, calls[i], got_stock);
        is_str(run(ours, calls[i], got_ours), got_stock, calls[i]);
    }
    /* a worker blocks every signal; its commands must not inherit that */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    is_str(run(ours, "return os.execute('kill -TERM $$; exit 7')", got_ours),
           "number 15", "the command starts with no signal blocked: TERM ends it");
    if ((fd = mkstemp(path)) < 0) {
        ok(0, "mkstemp: %s", path);
        return;
    }
    close(fd);
    snprintf(src, sizeof(src), "return os.execute(\"grep '^SigIgn:' /proc/$PPID/status > %s\")", path);
    run(ours, src, got_ours);
    ignored_line(path, during, sizeof(during));
    ignored_line("/proc/self/status", before, sizeof(before));
    is_str(during, before, "and the process ignores no more signals meanwhile (system() ignores INT, QUIT)");
    unlink(path);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void
test_others(void)
{
    like(run(ours, "return debug.debug()", got_ours), "debug.debug is not available",
         "debug.debug: a clear error");
    like(run(ours, "return loadfile()", got_ours), "loadfile without a file name is not available",
         "loadfile() would read standard input: a clear error");
    like(run(ours, "return dofile(nil)", got_ours), "dofile without a file name is not available",
         "and dofile()");
    is_str(run(ours, "return loadfile('/nonexistent/x.lua')", got_ours), "nil nil",
           "loadfile(name) is as before");
    like(run(ours, "return select(2, loadfile('/nonexistent/x.lua'))", got_ours), "cannot open",
         "with its message");
    like(run(ours, "return dofile('/nonexistent/x.lua')", got_ours), "error: cannot open",
         "and dofile(name)");
    is_str(run(ours, "local f = os.tmpname() local h = io.open(f, 'w') h:write('return 4, 5') h:close()\n"
                     "local a, b = dofile(f) local c, d = loadfile(f)() os.remove(f) return a + b + c + d",
               got_ours),
           "number 18", "a file's chunk runs with all its results");
    is_str(run(ours, "local a = os.clock() local x = 0 for i = 1, 3e6 do x = x + i end\n"
                     "return a >= 0 and os.clock() > a", got_ours),
           "boolean true", "os.clock counts this thread's CPU time");
}

int
main(void)
{
    make_random_times();
    stock = new_state(0);
    ours = new_state(1);
    test_dates_in_zone("UTC0");
    test_dates_in_zone("CET-1CEST,M3.5.0,M10.5.0/3");
    test_dates_in_zone("<+0530>-5:30");
    test_dates_in_zone("EST5EDT,M3.2.0,M11.1.0");
    test_date_arguments();
    test_setlocale();
    test_random();
    test_stdio();
    test_execute();
    test_others();
    lua_close(stock);
    lua_close(ours);
    return done_testing();
}
