/*
 * reqenv.c: the env table a script's handler gets.
 *
 * Every FastCGI parameter as the web server sent it, then what resolving
 * the script changed (resolve.c), as php-fpm shows it: SCRIPT_FILENAME,
 * PATH_INFO and SCRIPT_NAME hold the resolved values and the received
 * ones stay as ORIG_SCRIPT_FILENAME, ORIG_PATH_INFO and ORIG_SCRIPT_NAME,
 * so a script sees both what it is and what was asked.
 */
#include <string.h>

#include <lua.h>

#include "luafcgid.h"
#include "request.h"

/* In the env table on top, NAME = VALUE, the value received kept as
 * ORIG_NAME when it differs. */
static void
reqenv_replace(lua_State *L, const char *name, const char *value)
{
    lua_getfield(L, -1, name);
    if (lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), value) != 0) {
        lua_pushfstring(L, "ORIG_%s", name);
        lua_insert(L, -2);
        lua_rawset(L, -3);
    } else
        lua_pop(L, 1);
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
}

/*
 * What resolving changed, as php-fpm shows it: the new value, the old as
 * ORIG_*. SCRIPT_FILENAME is always the script that runs: when it was sent
 * twice, libfcgi's lookup took the first and the table holds the last.
 */
static void
reqenv_resolved(lua_State *L, const struct request *r)
{
    if (r->script != r->res.script)
        return;
    reqenv_replace(L, "SCRIPT_FILENAME", r->res.script);
    if (r->res.changed & RESOLVE_PATH_INFO)
        reqenv_replace(L, "PATH_INFO", r->res.path_info);
    if (r->res.changed & RESOLVE_SCRIPT_NAME)
        reqenv_replace(L, "SCRIPT_NAME", r->res.script_name);
}

/*
 * Push the env table: every FastCGI parameter, the resolved script's
 * variables, and LUAFCGID_VERSION. [-0, +1, m]
 */
void
request_push_env(lua_State *L, struct request *r)
{
    char **p;
    int n = 0;

    for (p = r->fcgx.envp; *p; p++)
        n++;
    lua_createtable(L, 0, n + 1);
    for (p = r->fcgx.envp; *p; p++) {
        const char *eq = strchr(*p, '=');
        if (eq == NULL)
            continue;
        lua_pushlstring(L, *p, (size_t)(eq - *p));
        lua_pushstring(L, eq + 1);
        lua_rawset(L, -3);
    }
    reqenv_resolved(L, r);
    lua_pushliteral(L, LF_VERSION);
    lua_setfield(L, -2, "LUAFCGID_VERSION");
}
