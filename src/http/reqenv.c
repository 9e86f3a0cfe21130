/*
 * reqenv.c: the env table a script's handler gets.
 *
 * Every FastCGI parameter as the web server sent it, then what resolving
 * the script changed (resolve.c), as php-fpm shows it: SCRIPT_FILENAME,
 * PATH_INFO and SCRIPT_NAME hold the resolved values and the received
 * ones stay as ORIG_SCRIPT_FILENAME, ORIG_PATH_INFO and ORIG_SCRIPT_NAME,
 * so a script sees both what it is and what was asked.
 *
 * Also the few variables the request reads itself (reqenv_find_vars),
 * found in one pass over the environment, by their first two bytes before
 * any compare, where FCGX_GetParam would walk all of it for each one.
 */
#include <stddef.h>
#include <string.h>

#include <lua.h>

#include "luafcgid.h"
#include "reqenv.h"
#include "request.h"

/* E's value into *SLOT when E is "NAME=value" and no earlier E was. E's
 * first byte is NAME's, so its second can be read. */
static void
reqenv_take(const char *e, const char *name, size_t len, const char **slot)
{
    if (*slot == NULL && e[1] == name[1] && strncmp(e, name, len) == 0 && e[len] == '=')
        *slot = e + len + 1;
}

/* The variables struct request_vars holds, and where. */
#define REQENV_VAR(name, field) { name, sizeof(name) - 1, offsetof(struct request_vars, field) }

static const struct reqenv_var {
    const char *name;
    size_t      len;
    size_t      offset;
} reqenv_vars[] = {
    REQENV_VAR("SCRIPT_FILENAME", script_filename),
    REQENV_VAR("SCRIPT_NAME", script_name),
    REQENV_VAR("DOCUMENT_ROOT", document_root),
    REQENV_VAR("PATH_INFO", path_info),
    REQENV_VAR("PATH_TRANSLATED", path_translated),
    REQENV_VAR("CONTENT_LENGTH", content_length),
    REQENV_VAR("REQUEST_METHOD", request_method),
    REQENV_VAR("REQUEST_URI", request_uri),
};

/* The variables of struct request_vars from ENV ("NAME=value" strings,
 * NULL at the end): the first of a name wins, as with FCGX_GetParam. */
void
reqenv_find_vars(char **env, struct request_vars *v)
{
    size_t i;

    memset(v, 0, sizeof(*v));
    for (; env != NULL && *env != NULL; env++)
        for (i = 0; i < sizeof(reqenv_vars) / sizeof(reqenv_vars[0]); i++)
            if ((*env)[0] == reqenv_vars[i].name[0])
                reqenv_take(*env, reqenv_vars[i].name, reqenv_vars[i].len,
                            (const char **)(void *)((char *)v + reqenv_vars[i].offset));
}

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
reqenv_push(lua_State *L, struct request *r)
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
