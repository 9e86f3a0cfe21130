/*
 * script.c: a script's Lua state as requests see it.
 *
 * state.c makes a state with its limits; this file is what the HTTP
 * layer adds (struct state_setup): the standard libraries replaced or
 * bounded (sandbox/: os, io, string, then the sandbox itself), the `req`
 * API's metatable, and the luafcgid and luafcgid.session modules (compiled
 * in, so they are found whatever the install paths, and given the shared
 * dictionaries and the session's crypto) in package.preload. The script's
 * top level runs once with `...` set to the name `require` would give it,
 * and what it returns is kept when it is a WSAPI application (wsapi.c).
 *
 * The order is the sandbox's: the libraries are replaced before the
 * sandbox wraps and trims them, so its guards go round ours. A layer
 * above may add its own API after ours (the worker's state_install:
 * src/ngx/'s `ngx`).
 *
 * Opened for a request, the state's req is bound to it before the top
 * level runs: that run is the request's answer when the script is an
 * OpenResty content chunk (contentscript.c), which is decided after it.
 */
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "conf.h"
#include "contentscript.h"
#include "iolib.h"
#include "net.h"
#include "luawrap.h"
#include "oslib.h"
#include "reqapi.h"
#include "request.h"
#include "sandbox.h"
#include "script.h"
#include "session.h"
#include "shm_lua.h"
#include "state.h"
#include "strlib.h"
#include "writeoff.h"
#include "wsapi.h"

extern const char lf_module_source[];   /* module.c, made from lua/luafcgid.lua */
extern const char lf_session_source[];  /* module_session.c, made from lua/session.lua */

/* package.preload.luafcgid: runs the compiled-in module, `...` the
 * natives it exposes (shared, and net for socket and thread: the very
 * tables ngx.shared, ngx.socket and ngx.thread are). [-0, +1, e] */
/* The module's `net`: the table named at 1 ("socket" or "thread"), made
 * when a script first reads it. [-1, +1, m] */
static int
script_net_native(lua_State *L)
{
    if (strcmp(luaL_checkstring(L, 1), "thread") == 0)
        net_lua_push_thread(L);
    else
        net_lua_push_socket(L);
    return 1;
}

static int
script_module_loader(lua_State *L)
{
    if (luaL_loadbuffer(L, lf_module_source, strlen(lf_module_source), "=luafcgid") != 0)
        return lua_error(L);
    lua_createtable(L, 0, 2);
    shm_lua_push(L);
    lua_setfield(L, -2, "shared");
    lua_pushcfunction(L, script_net_native);
    lua_setfield(L, -2, "net");
    lua_call(L, 1, 1);
    return 1;
}

/* package.preload["luafcgid.session"]: the compiled-in module, `...`
 * its natives (session.c). [-0, +1, e] */
static int
script_session_loader(lua_State *L)
{
    if (luaL_loadbuffer(L, lf_session_source, strlen(lf_session_source), "=luafcgid.session") != 0)
        return lua_error(L);
    session_push_natives(L);
    lua_call(L, 1, 1);
    return 1;
}

/* What script_open hands its hooks. */
struct script_arg {
    const struct conf  *conf;
    struct request     *r;              /* NULL: a preload */
    script_install_fn  *more;           /* the layer above's API; may be NULL */
};

/* After the standard libraries and the limits' wrappers. [-0, +0, m] */
static void
script_install(lua_State *L, void *arg)
{
    const struct script_arg *a = arg;

    oslib_install(L);
    iolib_install(L);
    strlib_install(L);
    luawrap_preload(L, "luafcgid", script_module_loader);
    luawrap_preload(L, "luafcgid.session", script_session_loader);
    sandbox_install(L, a->conf->ffi);
    net_lua_install(L);
    reqapi_register(L);
    if (a->more != NULL)
        a->more(L);
    if (a->r != NULL) {
        reqapi_push_req(L, a->r);
        lua_pop(L, 1);
    }
}

/* The top level (on top; the message handler at 1) with `...` the name
 * `require` would give it, as wsapi.fcgi loads apps. An error object is
 * described here, while its __tostring is still bounded by the limits.
 * [-1, +0, e] */
static void
script_run(lua_State *L, const char *path, void *arg)
{
    const struct script_arg *a = arg;
    char modname[256];

    contentscript_keep(L);
    wsapi_modname(path, modname, sizeof(modname));
    lua_pushstring(L, modname);
    if (lua_pcall(L, 1, 1, 1) != 0) {
        if (state_is_exit(L, -1) && state_over(L) == STATE_OK) {
            /* os.exit, ngx.exit, ngx.redirect: a load that ends well, and
             * the run that is its request's ends there, its light threads
             * with it (as ngx_lua ends them), never to be finished after */
            net_lua_end(L);
            contentscript_decide(L, a->conf->handler, 0);
        } else if (!state_must_propagate(L, -1))
            sandbox_describe(L, -1);
        if (state_over(L) == STATE_OK && !state_is_exit(L, -1) && !state_must_propagate(L, -1) &&
            contentscript_fail(L, a->conf->handler)) {
            lua_pop(L, 1);      /* a content chunk: the error is its first request's answer */
            return;
        }
        lua_error(L);
    }
    contentscript_decide(L, a->conf->handler, lua_gettop(L));
    wsapi_keep(L, modname);
}

/*
 * A state for the script F (its descriptor stays open), loaded and run
 * once, or NULL with the reason in ERR; its compiled chunk comes from, or
 * goes to, F's chunk cache. For a request R (NULL for
 * a preload) its watch (the slow log's, terminate_timeout's: writeoff.c)
 * sees the load as it sees the handler. MORE (may be NULL) adds the layer above's API.
 * Why it failed in *FAIL (FAIL may be NULL).
 */
lua_State *
script_open(const struct script_file *f, const struct conf *c, struct request *r,
            script_install_fn *more, char *err, size_t errlen, enum state_fail *fail)
{
    struct script_arg a = { c, r, more };
    struct state_setup setup = { script_install, script_run, &a, NULL, NULL, net_lua_end,
                                 f->chunks, f->id };

    if (r != NULL)
        setup.watch = writeoff_watch_for(r, &setup.watch_arg);
    return state_open(f->path, f->fd, c, &setup, err, errlen, fail);
}
