/*
 * state.c: a script's Lua state.
 *
 * A state is created with the standard libraries, the script's own
 * directory first on package.path (a state may run on any worker, and
 * each worker starts every request in the daemon's directory: workdir.c),
 * what the layer above adds (struct state_setup: for requests the
 * sandbox, the req API and the luafcgid module, script.c), and the script
 * loaded and run once, as that layer runs it.
 *
 * Limits live in the allocator's user data, found again with
 * lua_getallocf(): byte counts checked by the allocator (memory) and a
 * deadline checked by a count hook (timeout). Once a state is over a
 * limit, or os.exit() was called, the error must reach us and not stop
 * at a pcall in the script, so pcall, xpcall and coroutine.resume are
 * wrapped to pass those errors on. The deadline's watchdog must know which
 * coroutine runs (Lua 5.1 hooks each apart): coroutine.resume and wrap,
 * and the light threads (state_resume), tell it.
 *
 * What a script can reach is trimmed by the sandbox (installed by the
 * setup), so that no library catches a limit or removes the hook, and no
 * Lua finalizer (which runs with hooks off) can be written. A state is
 * closed with its memory cap still set; the finalizers that remain are C
 * ones.
 *
 * The limits themselves (the allocator, the hook, the charging of the
 * pattern functions) are state_limit.c; this file opens and closes states.
 *
 * LuaJIT: code compiled to machine code never runs hooks, so an endless
 * loop in a trace could not be stopped. With a timeout set, each state runs
 * in LuaJIT's interpreter (still faster than Lua 5.1's); timeout = 0 lets
 * it compile, and gives up the guarantee.
 */
#include <errno.h>
#include <stdint.h>
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
#include "chunkcache.h"
#include "conf.h"
#include "luawrap.h"
#include "pool.h"
#include "scriptfile.h"
#include "slab.h"
#include "state.h"
#include "state_impl.h"
#include "state_watchdog.h"

/* The address is the key: a light userdata no script can forge. */
static const char state_exit_key = 'x';
static const char state_unresumable_key = 'u';

/* True when the error at IDX must not be caught by the script. */
int
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

/* os.exit(): ends the request, not the daemon; ngx.exit() too. No
 * pcall of the script's catches it. [-0, +0, e] */
int
state_exit(lua_State *L)
{
    state_info(L)->exiting = 1;
    lua_pushlightuserdata(L, (void *)&state_exit_key);
    return lua_error(L);
}

/* What pcall and xpcall give once lua_pcall returned STATUS: a limit or
 * os.exit() goes on; else the boolean at index 1 (in place of what is
 * there when REPLACE) before the results or the error. */
static int
state_caught(lua_State *L, int status, int replace)
{
    if (status != 0 && state_must_propagate(L, -1))
        return state_propagate(L);
    lua_pushboolean(L, status == 0);
    if (replace)
        lua_replace(L, 1);
    else
        lua_insert(L, 1);
    return lua_gettop(L);
}

/* pcall(f, ...) that lets limits and os.exit through. */
static int
state_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    return state_caught(L, lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0), 0);
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
    luawrap_call(L, 1);
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
    return state_caught(L, status, 1);
}

/* lua_resume(CO, NARGS), from L: the watchdog is told which runs. */
int
state_resume(lua_State *L, lua_State *co, int nargs)
{
    int rc;

    state_watchdog_switch(co);
    rc = lua_resume(co, nargs);
    state_watchdog_switch(L);
    return rc;
}

/* The registry's weak-keyed set of the coroutines coroutine.resume
 * refuses (its key: this address), made at its first use. [-0, +1, m] */
static void
state_push_unresumable(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&state_unresumable_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (lua_istable(L, -1))
        return;
    lua_pop(L, 1);
    luawrap_new_weak(L, &state_unresumable_key);
}

void
state_unresumable(lua_State *L, int idx)
{
    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    state_push_unresumable(L);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* Is CO (at 1) one coroutine.resume refuses? [-0, +0, m] */
static int
state_is_unresumable(lua_State *L)
{
    int yes;

    state_push_unresumable(L);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    yes = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return yes;
}

/*
 * coroutine.resume(co, ...): the original (upvalue 1), then pass limits
 * on. A light thread is refused, as ngx_lua refuses it: only its
 * scheduler runs it. The watchdog is told which coroutine runs; the original runs
 * protected, so that what it raises after its resume (too many results,
 * memory) leaves the watchdog told of the return. [-n, +r, e]
 */
static int
state_co_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    int rc, n;

    if (co != NULL && state_is_unresumable(L)) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "cannot resume running coroutine");
        return 2;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    if (co != NULL)
        state_watchdog_switch(co);
    rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    if (co != NULL)
        state_watchdog_switch(L);
    if (rc != 0)
        return lua_error(L);
    n = lua_gettop(L);
    if (n >= 2 && !lua_toboolean(L, 1) && state_must_propagate(L, 2)) {
        lua_pushvalue(L, 2);
        return state_propagate(L);
    }
    return n;
}

#ifndef LF_LUAJIT
/* What coroutine.wrap returns: resumes its coroutine (upvalue 1) with
 * coroutine.resume (upvalue 2, state_co_resume); an error goes on, a
 * string one told where the call was, as Lua's. [-n, +r, e] */
static int
state_co_wrapped(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    if (!lua_toboolean(L, 1)) {
        lua_settop(L, 2);
        if (lua_isstring(L, 2)) {
            luaL_where(L, 1);
            lua_insert(L, 2);
            lua_concat(L, 2);
        }
        return lua_error(L);
    }
    return lua_gettop(L) - 1;
}

/* coroutine.wrap(f): Lua's resumes in C, unseen by the watchdog, so the
 * coroutine is made by coroutine.create (upvalue 1) and resumed by
 * coroutine.resume (upvalue 2). LuaJIT's hook is the VM's, the same in
 * every coroutine: its own wrap stays. [-1, +1, e] */
static int
state_co_wrap(lua_State *L)
{
    luaL_argcheck(L, lua_isfunction(L, 1) && !lua_iscfunction(L, 1), 1, "Lua function expected");
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 1, 1);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushcclosure(L, state_co_wrapped, 2);
    return 1;
}
#endif

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
    lua_pushcfunction(L, state_exit);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);

    lua_pushcfunction(L, state_pcall);
    lua_setglobal(L, "pcall");
    lua_pushcfunction(L, state_xpcall);
    lua_setglobal(L, "xpcall");

    lua_getglobal(L, "coroutine");
    luawrap_field(L, -1, "resume", state_co_resume);
#ifndef LF_LUAJIT
    lua_getfield(L, -1, "create");
    lua_getfield(L, -2, "resume");
    lua_pushcclosure(L, state_co_wrap, 2);
    lua_setfield(L, -2, "wrap");
#endif
    lua_pop(L, 1);
}

struct state_load {
    const char *path;
    int         fd;             /* the script, opened and checked (scriptfile.c) */
    int         loaded;         /* compiled: what fails now is running it */
    const struct state_setup *setup;
};

/* Everything that allocates, in protected mode. [-0, +0, m] */
static int
state_setup(lua_State *L)
{
    const struct state_load *ld = lua_touserdata(L, 1);

    lua_gc(L, LUA_GCSTOP, 0);
    luaL_openlibs(L);
    state_set_path(L, ld->path);
    state_wrap(L);
    if (ld->setup->install != NULL)
        ld->setup->install(L, ld->setup->arg);
    lua_gc(L, LUA_GCRESTART, 0);
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

/* Push the script's chunk: kept from an earlier state of the same file,
 * or compiled from the descriptor, and kept. [-0, +1, m] */
static int
state_compile(lua_State *L, const struct state_load *ld)
{
    const struct file_id *id = ld->setup->id;
    struct chunkcache *cc = id != NULL && id->ino != 0 ? ld->setup->chunks : NULL;
    int status;

    if ((status = chunkcache_push(cc, L, ld->path, id, sizeof(*id))) >= 0)
        return status;
    if ((status = scriptfile_load(L, ld->fd, ld->path)) == 0)
        chunkcache_keep(cc, L, ld->path, id, sizeof(*id));
    return status;
}

/* Load and run the script's top level (SETUP's run, or a plain call), in
 * protected mode, limits armed. [-0, +0, e] */
static int
state_load_entry(lua_State *L)
{
    struct state_load *ld = lua_touserdata(L, 1);

    lua_settop(L, 0);
    lua_pushcfunction(L, state_traceback);
    if (state_compile(L, ld) != 0)
        return lua_error(L);
    ld->loaded = 1;
    if (ld->setup->run != NULL)
        ld->setup->run(L, ld->path, ld->setup->arg);
    else
        lua_call(L, 0, 0);
    return 0;
}

/* Why the load of L (a failure RC, LOADED when the script compiled)
 * failed: its limits first, as a limit once hit fails the load. */
static enum state_fail
state_failure(lua_State *L, int rc, int loaded)
{
    if (state_info(L)->over == STATE_OVER_TIME)
        return STATE_FAIL_TIME;
    if (state_info(L)->over == STATE_OVER_MEMORY || rc == LUA_ERRMEM)
        return STATE_FAIL_MEMORY;
    return loaded ? STATE_FAIL_RUNTIME : STATE_FAIL_SYNTAX;
}

/*
 * A new state for the script at PATH, read from FD (which stays open),
 * with what SETUP adds, loaded and run once (its load watched by SETUP's
 * watch as a request's handler is), or NULL with the reason in ERR and
 * its kind in *FAIL (when FAIL is not NULL).
 */
lua_State *
state_open(const char *path, int fd, const struct conf *c, const struct state_setup *setup,
           char *err, size_t errlen, enum state_fail *fail)
{
    struct state_info *info = calloc(1, sizeof(*info));
    struct state_load ld = { path, fd, 0, setup };
    enum state_fail why = STATE_FAIL_SETUP;
    lua_State *L;
    int rc;

    if (fail == NULL)
        fail = &why;
    *fail = STATE_FAIL_SETUP;
    if (info == NULL) {
        snprintf(err, errlen, "cannot allocate a state: %s", strerror(errno));
        return NULL;
    }
    slab_init(&info->slab);
    info->limit = c->memory;
    info->gc_due = SIZE_MAX;    /* until state_arm paces it */
    if ((L = lua_newstate(state_alloc, info)) == NULL) {
        snprintf(err, errlen, "cannot create a Lua state%s",
                 info->over ? ": memory limit too low" : "");
        slab_release(&info->slab);
        free(info);
        return NULL;
    }
    info->main = L;
    if (lua_cpcall(L, state_setup, &ld) != 0) {
        state_fail(L, err, errlen, "cannot set up a state");
        if (setup->failed != NULL)
            setup->failed(L);
        state_close(L);
        return NULL;
    }
#ifdef LF_LUAJIT
    if (c->timeout > 0)
        luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
#endif
    state_arm(L, c);
    state_watch(L, setup->watch, setup->watch_arg);
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
        *fail = state_failure(L, rc, ld.loaded);
        if (setup->failed != NULL)
            setup->failed(L);
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
    state_watchdog_disarm(L);     /* a load that failed was not disarmed */
    /* the memory cap stays: a finalizer that allocates is refused */
    info->deadline_ms = 0;
    lua_close(L);
    slab_release(&info->slab);
    free(info);
}
