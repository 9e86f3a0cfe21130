/*
 * contentscript.c: an OpenResty content script, served as
 * content_by_lua_file serves it.
 *
 * Such a script is a chunk with no handler function: nginx compiles it
 * once and runs it for every request. luafcgid runs a script's top level
 * once, when its state is made, and then calls the handler (or the WSAPI
 * app) per request; the two meet here. The compiled chunk is kept before
 * the top level runs (contentscript_keep). That run is already the first
 * request's (its req, and so ngx, are bound: script.c), and after it
 * contentscript_decide looks at what the script turned out to be, in this order:
 *
 *  1. its run answered its request through ngx (output, headers, a
 *     status, ngx.exit, ngx.redirect, ngx.eof): a content chunk, whatever
 *     it defined on the way (`function run() ngx.say(...) end run()`,
 *     `function main() ... end main()`, `return M` where M has `run`);
 *  2. it defines the handler, or is a WSAPI application: served as such;
 *  3. it used ngx for its request (read ngx.var, say, in a branch not
 *     taken this time): a content chunk;
 *  4. else the error it always was ("no handler function").
 *
 * A content chunk runs again for each later request (contentscript_push). One
 * whose first run raised an error after it used ngx for its request is a
 * content chunk whose first answer is that error (contentscript_fail): its state
 * is kept, as nginx keeps a chunk that failed once.
 *
 * Globals: every run is in _G, as in Debian's ngx_lua (0.10.23, whose
 * content chunks share one _G; OpenResty logs each new global a request
 * writes). What a run sets stays for the later runs: "set up once" (`if
 * not cache then cache = {} end`, a timer started on the first request)
 * works, and a run that failed half-way leaves what it set. Modules a
 * script requires run in _G too.
 */
#include <lua.h>
#include <lauxlib.h>

#include "contentscript.h"
#include "reqapi.h"
#include "wsapi.h"

/* The addresses are the keys: light userdata no script can forge. */
static const char contentscript_fn_key = 'f';       /* the compiled chunk */
static const char contentscript_first_key = '1';    /* the first run answered: true, or its error */

static void
contentscript_set(lua_State *L, const char *key)
{
    lua_pushlightuserdata(L, (void *)key);
    lua_insert(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

static void
contentscript_get(lua_State *L, const char *key)
{
    lua_pushlightuserdata(L, (void *)key);
    lua_rawget(L, LUA_REGISTRYINDEX);
}

/* Before the top level runs: keep the chunk (on top). [-0, +0, m] */
void
contentscript_keep(lua_State *L)
{
    lua_pushvalue(L, -1);
    contentscript_set(L, &contentscript_fn_key);
}

/* Forget what contentscript_keep kept: the script is no content chunk. */
static void
contentscript_forget(lua_State *L)
{
    lua_pushnil(L);
    contentscript_set(L, &contentscript_fn_key);
}

/* Is the global NAME a function? */
static int
contentscript_global_fn(lua_State *L, const char *name)
{
    int yes;

    lua_getglobal(L, name);
    yes = lua_isfunction(L, -1);
    lua_pop(L, 1);
    return yes;
}

/*
 * After the top level ran (RESULT: the index of what it returned, or 0
 * when it ended with os.exit or ngx.exit): a content chunk, or a script
 * served as before? The rules are at the top. [-0, +0, m]
 */
void
contentscript_decide(lua_State *L, const char *handler, int result)
{
    struct reqapi_bind *b = reqapi_binding(L);
    int served;

    if (b == NULL || !b->used) {
        contentscript_forget(L);
        return;
    }
    if (!b->answered) {
        served = contentscript_global_fn(L, handler) || contentscript_global_fn(L, "run") ||
                 (result != 0 && wsapi_is_app(L, result));
        if (served) {
            contentscript_forget(L);
            return;
        }
    }
    lua_pushboolean(L, 1);
    contentscript_set(L, &contentscript_first_key);
}

/*
 * The top level raised the error on top: when the script is a content
 * chunk (its run used ngx for its request, and it had defined no handler
 * and no `run`), keep the error as its first request's answer, pop it,
 * and return 1: the state is made, and kept. Else 0, the error left on
 * top: the load failed. [-(0|1), +0, m]
 */
int
contentscript_fail(lua_State *L, const char *handler)
{
    struct reqapi_bind *b = reqapi_binding(L);

    if (b == NULL || !b->used || contentscript_global_fn(L, handler) ||
        contentscript_global_fn(L, "run"))
        return 0;
    contentscript_set(L, &contentscript_first_key);
    return 1;
}

/*
 * For a request: CONTENTSCRIPT_NONE when the script is no content chunk;
 * CONTENTSCRIPT_ANSWERED when its first run (the state's load) was this request;
 * CONTENTSCRIPT_FAILED when that run failed, its error pushed; else CONTENTSCRIPT_PUSHED,
 * with the chunk pushed. [-0, +(0|1), m]
 */
int
contentscript_push(lua_State *L)
{
    contentscript_get(L, &contentscript_first_key);
    if (!lua_isnil(L, -1)) {
        lua_pushnil(L);
        contentscript_set(L, &contentscript_first_key);
        if (lua_type(L, -1) == LUA_TBOOLEAN) {
            lua_pop(L, 1);
            return CONTENTSCRIPT_ANSWERED;
        }
        return CONTENTSCRIPT_FAILED;
    }
    lua_pop(L, 1);
    contentscript_get(L, &contentscript_fn_key);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return CONTENTSCRIPT_NONE;
    }
    return CONTENTSCRIPT_PUSHED;
}
