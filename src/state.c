/*
 * state.c: a script's Lua state.
 *
 * A state is created with the standard libraries, the luafcgid module
 * (compiled in, so it is found whatever the install paths), the script's
 * own directory first on package.path (nothing ever chdir()s: the working
 * directory is shared by every thread), and the script loaded and run once.
 *
 * Limits live in the allocator's user data, found again with
 * lua_getallocf(): byte counts checked by the allocator (memory) and a
 * deadline checked by a count hook (timeout). Once a state is over a
 * limit, or os.exit() was called, the error must reach us and not stop
 * at a pcall in the script, so pcall, xpcall and coroutine.resume are
 * wrapped to pass those errors on.
 *
 * What a script can reach is trimmed by sandbox.c, so that no library
 * catches a limit or removes the hook, and no Lua finalizer (which runs
 * with hooks off) can be written. A state is closed with its memory cap
 * still set; the finalizers that remain are C ones.
 *
 * LuaJIT: code compiled to machine code never runs hooks, so an endless
 * loop in a trace could not be stopped. With a timeout set, each state runs
 * in LuaJIT's interpreter (still faster than Lua 5.1's); timeout = 0 lets
 * it compile, and gives up the guarantee.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#ifdef LF_LUAJIT
#include <luajit.h>
#endif

#include "luafcgid.h"
#include "api.h"
#include "conf.h"
#include "iolib.h"
#include "log.h"
#include "oslib.h"
#include "sandbox.h"
#include "scriptfile.h"
#include "slab.h"
#include "slowlog.h"
#include "state.h"
#include "wsapi.h"
#include "strlib.h"

/* The hook runs every STATE_HOOK_COUNT instructions and reads the clock.
 * One instruction can be a C call of any length (s:upper() on megabytes,
 * a comparison of long strings), so while the time between two hooks
 * shows instructions slower than STATE_HOOK_SLOW_NS on average, the hook
 * runs every STATE_HOOK_SLOW instead: the clock then costs nothing next to
 * the calls it measures, and a timeout is late by about ten of them. */
#define STATE_HOOK_COUNT   1000
#define STATE_HOOK_SLOW    10
#define STATE_HOOK_SLOW_NS 5000

extern const char lf_module_source[];

struct state_info {
    struct slab slab;           /* the state's small blocks */
    size_t      used;           /* bytes Lua holds */
    size_t      big;            /* of those, in blocks over SLAB_MAX */
    size_t      held;           /* the answer the request buffers: counts too */
    size_t      limit;          /* 0 = none */
    size_t      peak;           /* most bytes used since state_arm */
    long long   deadline_ms;    /* 0 = none */
    long long   hook_us;        /* when the hook last ran */
    int         hook_count;     /* the hook's current period */
    int         timeout;
    int         over;           /* enum state_over */
    int         exiting;
    struct slowlog_slot *slow;  /* the worker's slow log slot, while it serves */
    size_t      strlib_units;   /* pattern work since the clock was last read */
};

/* The address is the key: a light userdata no script can forge. */
static const char state_exit_key = 'x';

static struct state_info *
state_info(lua_State *L)
{
    void *ud;

    lua_getallocf(L, &ud);
    return ud;
}

static void *
state_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct state_info *info = ud;
    size_t obig, nbig;
    void *p;

    if (ptr == NULL)
        osize = 0;
    obig = osize > SLAB_MAX ? osize : 0;
    nbig = nsize > SLAB_MAX ? nsize : 0;
    if (nsize == 0) {
        slab_realloc(&info->slab, ptr, osize, 0);
        info->used -= osize;
        info->big -= obig;
        return NULL;
    }
    /* The freed small blocks a state keeps for reuse count too, up to as
     * much again: else churning through block sizes could hold any amount. */
    if (info->limit && nsize > osize &&
        (info->used + info->held + (nsize - osize) > info->limit ||
         info->slab.footprint + info->big + nbig - obig > 2 * info->limit)) {
        info->over = STATE_OVER_MEMORY;
        return NULL;
    }
    if ((p = slab_realloc(&info->slab, ptr, osize, nsize)) == NULL)
        return NULL;
    info->used = info->used - osize + nsize;
    info->big = info->big - obig + nbig;
    if (info->used > info->peak)
        info->peak = info->used;
    return p;
}

static long long
state_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void state_hook(lua_State *L, lua_Debug *ar);

static long long
state_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Every STATE_HOOK_COUNT instructions, or STATE_HOOK_SLOW while they are
 * slow (see STATE_HOOK_SLOW_NS). */
static void
state_hook_period(lua_State *L, struct state_info *info, long long now_us)
{
    long long per_ns = (now_us - info->hook_us) * 1000 / info->hook_count;
    int count = per_ns >= STATE_HOOK_SLOW_NS ? STATE_HOOK_SLOW : STATE_HOOK_COUNT;

    info->hook_us = now_us;
    if (count != info->hook_count) {
        info->hook_count = count;
        lua_sethook(L, state_hook, LUA_MASKCOUNT, count);
    }
}

static void
state_hook(lua_State *L, lua_Debug *ar)
{
    struct state_info *info = state_info(L);
    long long now_us = state_now_us();

    (void)ar;
    if (info->over == STATE_OVER_TIME || (info->deadline_ms && now_us / 1000 > info->deadline_ms)) {
        info->over = STATE_OVER_TIME;
        /* every instruction from now on: a library that catches the error
         * (load's reader, a finalizer's caller) gets it again at once */
        lua_sethook(L, state_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "timeout: the request ran over %d s", info->timeout);
    }
    /* the housekeeper marked this request slow: its traceback, from here */
    if (info->slow && slowlog_pending(info->slow))
        slowlog_trace(info->slow, L);
    state_hook_period(L, info, now_us);
}

/* The pattern functions run in C, where the hook never fires: they charge
 * their work here. It adds up across calls (many small calls are as slow
 * as one big one); the clock is read once per STATE_STRLIB_UNITS. Raises
 * as the hook does. */
#define STATE_STRLIB_UNITS 16384

void
strlib_charge(lua_State *L, size_t units)
{
    struct state_info *info = state_info(L);

    info->strlib_units += units;
    if (info->strlib_units < STATE_STRLIB_UNITS && info->over != STATE_OVER_TIME)
        return;
    info->strlib_units = 0;
    if (info->over == STATE_OVER_TIME ||
        (info->deadline_ms && state_now_ms() > info->deadline_ms)) {
        info->over = STATE_OVER_TIME;
        luaL_error(L, "timeout: the request ran over %d s", info->timeout);
    }
}

/* True when the error at IDX must not be caught by the script. */
static int
state_must_propagate(lua_State *L, int idx)
{
    struct state_info *info = state_info(L);

    return info->over != STATE_OK || info->exiting || state_is_exit(L, idx);
}

/* Raise again what must reach us: os.exit() as itself, whatever error
 * object a handler left in its place. [-0, +0, e] */
static int
state_propagate(lua_State *L)
{
    if (state_info(L)->exiting) {
        lua_pushlightuserdata(L, (void *)&state_exit_key);
        return lua_error(L);
    }
    return lua_error(L);
}

/* os.exit(): ends the request, not the daemon. [-0, +0, e] */
static int
state_os_exit(lua_State *L)
{
    state_info(L)->exiting = 1;
    lua_pushlightuserdata(L, (void *)&state_exit_key);
    return lua_error(L);
}

/* pcall(f, ...) that lets limits and os.exit through. */
static int
state_pcall(lua_State *L)
{
    int status;

    luaL_checkany(L, 1);
    status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    if (status != 0 && state_must_propagate(L, -1))
        return state_propagate(L);
    lua_pushboolean(L, status == 0);
    lua_insert(L, 1);
    return lua_gettop(L);
}

/*
 * The handler xpcall really gets. A limit is raised inside the hook, where
 * hooks are off, and Lua runs the handler right there: the script's own
 * handler would run with nothing to stop it. So for a limit or os.exit()
 * the error goes on untouched; otherwise the script's handler (upvalue 1)
 * runs as usual, under the hook. [-1, +1, e]
 */
static int
state_xpcall_handler(lua_State *L)
{
    if (state_must_propagate(L, 1))
        return 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* xpcall(f, handler): as pcall; the handler is not run for limits. */
static int
state_xpcall(lua_State *L)
{
    int status;

    luaL_checkany(L, 2);
    lua_settop(L, 2);
    lua_pushcclosure(L, state_xpcall_handler, 1);
    lua_insert(L, 1);           /* handler, f */
    status = lua_pcall(L, 0, LUA_MULTRET, 1);
    /* os.exit() in the script's handler fails the handler: Lua returns
     * "error in error handling", so look at the state, not the object */
    if (status != 0 && state_must_propagate(L, -1))
        return state_propagate(L);
    lua_pushboolean(L, status == 0);
    lua_replace(L, 1);
    return lua_gettop(L);
}

/* coroutine.resume(co, ...): the original, then pass limits on. */
static int
state_resume(lua_State *L)
{
    int n;

    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    n = lua_gettop(L);
    if (n >= 2 && !lua_toboolean(L, 1) && state_must_propagate(L, 2)) {
        lua_pushvalue(L, 2);
        return state_propagate(L);
    }
    return n;
}

int
state_is_exit(lua_State *L, int idx)
{
    return lua_touserdata(L, idx) == (void *)&state_exit_key && lua_islightuserdata(L, idx);
}

/* The message handler: a traceback for string errors. [-1, +1] */
int
state_traceback(lua_State *L)
{
    if (!lua_isstring(L, 1) || state_must_propagate(L, 1))
        return 1;
    lua_getfield(L, LUA_GLOBALSINDEX, "debug");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return 1;
    }
    lua_getfield(L, -1, "traceback");
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 2);
        return 1;
    }
    lua_pushvalue(L, 1);
    lua_pushinteger(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

/* package.preload.luafcgid: runs the compiled-in module. [-0, +1, e] */
static int
state_module_loader(lua_State *L)
{
    if (luaL_loadbuffer(L, lf_module_source, strlen(lf_module_source), "=luafcgid") != 0)
        return lua_error(L);
    lua_call(L, 0, 1);
    return 1;
}

/* Keep only the absolute templates of package[FIELD] (the table on top):
 * a relative one ("./?.lua", Lua's default) is resolved against the
 * daemon's working directory, never a place for a script's modules. */
static void
state_keep_absolute(lua_State *L, const char *field)
{
    const char *s, *end;
    luaL_Buffer b;
    int first = 1;

    lua_getfield(L, -1, field);
    s = lua_tostring(L, -1);
    luaL_buffinit(L, &b);
    while (s && *s) {
        end = strchr(s, ';');
        if (end == NULL)
            end = s + strlen(s);
        if (*s == '/') {
            if (!first)
                luaL_addchar(&b, ';');
            luaL_addlstring(&b, s, (size_t)(end - s));
            first = 0;
        }
        s = *end ? end + 1 : end;
    }
    luaL_pushresult(&b);
    lua_setfield(L, -3, field);
    lua_pop(L, 1);
}

static void
state_set_path(lua_State *L, const char *script)
{
    const char *slash = strrchr(script, '/');
    size_t dirlen = slash ? (size_t)(slash - script) : 0;

    lua_getglobal(L, "package");
    if (slash == NULL)
        lua_pushliteral(L, "");
    else {
        lua_pushlstring(L, script, dirlen);
        lua_pushliteral(L, "/?.lua;");
        lua_pushlstring(L, script, dirlen);
        lua_pushliteral(L, "/?/init.lua;");
        lua_concat(L, 4);
    }
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    state_keep_absolute(L, "path");
    state_keep_absolute(L, "cpath");
    lua_pop(L, 1);
}

static void
state_wrap(lua_State *L)
{
    lua_getglobal(L, "os");
    lua_pushcfunction(L, state_os_exit);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);

    lua_pushcfunction(L, state_pcall);
    lua_setglobal(L, "pcall");
    lua_pushcfunction(L, state_xpcall);
    lua_setglobal(L, "xpcall");

    lua_getglobal(L, "coroutine");
    lua_getfield(L, -1, "resume");
    lua_pushcclosure(L, state_resume, 1);
    lua_setfield(L, -2, "resume");
    lua_pop(L, 1);

    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, state_module_loader);
    lua_setfield(L, -2, "luafcgid");
    lua_pop(L, 2);
}

/* Everything that allocates, in protected mode. [-0, +0, m] */
static int
state_setup(lua_State *L)
{
    const char *path = lua_touserdata(L, 1);

    luaL_openlibs(L);
    oslib_install(L);
    iolib_install(L);
    strlib_install(L);
    state_set_path(L, path);
    state_wrap(L);
    sandbox_install(L);
    api_register(L);
    return 0;
}

static void
state_fail(lua_State *L, char *err, size_t errlen, const char *what)
{
    const char *msg;
    char what_type[64];

    if (state_info(L)->over == STATE_OVER_MEMORY)
        msg = "memory limit reached";
    else if (state_info(L)->over == STATE_OVER_TIME)
        msg = "the script ran over timeout";
    else if (lua_isstring(L, -1))
        msg = lua_tostring(L, -1);
    else if (state_is_exit(L, -1))
        msg = "os.exit() called while loading";
    else {
        snprintf(what_type, sizeof(what_type), "(error object is a %s value)", luaL_typename(L, -1));
        msg = what_type;
    }
    snprintf(err, errlen, "%s: %s", what, msg);
}

struct state_load {
    const char *path;
    int         fd;             /* the script, opened and checked (scriptfile.c) */
    int         loaded;         /* compiled: what fails now is running it */
};

/* Load and run the script's top level, in protected mode, limits armed.
 * An error object is described here, while its __tostring is still
 * bounded by them. [-0, +0, e] */
static int
state_load_entry(lua_State *L)
{
    struct state_load *ld = lua_touserdata(L, 1);
    char modname[256];

    lua_settop(L, 0);
    lua_pushcfunction(L, state_traceback);
    if (scriptfile_load(L, ld->fd, ld->path) != 0)
        return lua_error(L);
    ld->loaded = 1;
    /* `...` is the name `require` would give it, as wsapi.fcgi loads apps */
    wsapi_modname(ld->path, modname, sizeof(modname));
    lua_pushstring(L, modname);
    if (lua_pcall(L, 1, 1, 1) != 0) {
        if (!state_must_propagate(L, -1))
            sandbox_describe(L, -1);
        return lua_error(L);
    }
    wsapi_keep(L, modname);
    return 0;
}

/*
 * A new state for the script at PATH, read from FD (which stays open),
 * loaded and run once, or NULL with the reason in ERR.
 */
lua_State *
state_open(const char *path, int fd, const struct conf *c, char *err, size_t errlen)
{
    return state_open_watched(path, fd, c, NULL, err, errlen);
}

/* state_open() for a request: its load is watched for the slow log's
 * mark (SLOW, may be NULL) as its handler is. */
lua_State *
state_open_watched(const char *path, int fd, const struct conf *c, struct slowlog_slot *slow,
                   char *err, size_t errlen)
{
    struct state_info *info = calloc(1, sizeof(*info));
    struct state_load ld = { path, fd, 0 };
    lua_State *L;
    int rc;

    if (info == NULL) {
        snprintf(err, errlen, "cannot allocate a state: %s", strerror(errno));
        return NULL;
    }
    slab_init(&info->slab);
    info->limit = (size_t)c->memory;
    if ((L = lua_newstate(state_alloc, info)) == NULL) {
        snprintf(err, errlen, "cannot create a Lua state%s",
                 info->over ? ": memory limit too low" : "");
        slab_release(&info->slab);
        free(info);
        return NULL;
    }
    if (lua_cpcall(L, state_setup, (void *)path) != 0) {
        state_fail(L, err, errlen, "cannot set up a state");
        state_close(L);
        return NULL;
    }
#ifdef LF_LUAJIT
    if (c->timeout > 0)
        luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
#endif
    state_arm(L, c);
    state_watch(L, slow);
    rc = lua_cpcall(L, state_load_entry, &ld);
    /* a limit once hit fails the load even if something swallowed it */
    if (rc != 0 || state_info(L)->over != STATE_OK) {
        if (rc != 0 && state_is_exit(L, -1) && state_info(L)->over == STATE_OK) {
            lua_settop(L, 0);
            state_disarm(L);
            return L;       /* os.exit at top level only ends the load */
        }
        state_fail(L, err, errlen, !ld.loaded ? "load error" :
                   state_info(L)->over == STATE_OVER_TIME ? "timeout" : "runtime error");
        state_close(L);
        return NULL;
    }
    lua_settop(L, 0);
    state_disarm(L);
    return L;
}

void
state_close(void *ud)
{
    lua_State *L = ud;
    struct state_info *info;

    if (L == NULL)
        return;
    info = state_info(L);
    /* the memory cap stays: a finalizer that allocates is refused */
    info->deadline_ms = 0;
    lua_close(L);
    slab_release(&info->slab);
    free(info);
}

/* Start the clock and the memory cap for one request. */
void
state_arm(lua_State *L, const struct conf *c)
{
    struct state_info *info = state_info(L);

    info->limit = (size_t)c->memory;
    info->over = STATE_OK;
    info->exiting = 0;
    info->held = 0;
    info->peak = info->used;
    info->slow = NULL;
    info->timeout = c->timeout;
    if (c->timeout > 0) {
        info->hook_us = state_now_us();
        info->deadline_ms = info->hook_us / 1000 + (long long)c->timeout * 1000;
        /* slow until the first interval says otherwise: a script that
         * starts with slow calls is measured at once */
        info->hook_count = STATE_HOOK_SLOW;
        lua_sethook(L, state_hook, LUA_MASKCOUNT, STATE_HOOK_SLOW);
    } else {
        info->deadline_ms = 0;
        lua_sethook(L, NULL, 0, 0);
    }
}

void
state_disarm(lua_State *L)
{
    struct state_info *info = state_info(L);

    info->deadline_ms = 0;
    info->exiting = 0;
    info->held = 0;
    info->slow = NULL;
    lua_sethook(L, NULL, 0, 0);
}

/* After state_arm: the hook also watches SLOT for the slow log's mark,
 * running without a timeout too. */
void
state_watch(lua_State *L, struct slowlog_slot *slot)
{
    struct state_info *info = state_info(L);

    info->slow = slot;
    if (slot != NULL && lua_gethook(L) == NULL) {
        info->hook_us = state_now_us();
        info->hook_count = STATE_HOOK_SLOW;
        lua_sethook(L, state_hook, LUA_MASKCOUNT, STATE_HOOK_SLOW);
    }
}

/* The most bytes the state held since it was armed. */
size_t
state_peak(lua_State *L)
{
    return state_info(L)->peak;
}

int
state_over(lua_State *L)
{
    return state_info(L)->over;
}

/* What the state holds: its small-block chunks and its big blocks. */
size_t
state_memory(lua_State *L)
{
    struct state_info *info = state_info(L);

    return info->slab.footprint + info->big;
}

/*
 * BYTES of the request's answer are buffered outside Lua: they count
 * toward memory with what Lua holds. Over it, the state is marked over
 * memory (and so closed) and -1 is returned.
 */
int
state_hold(lua_State *L, size_t bytes)
{
    struct state_info *info = state_info(L);

    info->held = bytes;
    if (info->limit && (bytes > info->limit || info->used > info->limit - bytes)) {
        info->over = STATE_OVER_MEMORY;
        return -1;
    }
    return 0;
}
