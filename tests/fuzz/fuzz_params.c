/* libFuzzer: building a script's env table from FastCGI parameters
 * ("NAME=value" strings, split here at NUL bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "buf.h"
#include "reqenv.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
push(lua_State *L)
{
    reqenv_push(L, lua_touserdata(L, 1));
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    char *copy = malloc(size + 1), *p, **envp;
    size_t i, n = 1;
    struct request r;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (i = 0; i < size; i++)
        n += copy[i] == '\0';
    envp = calloc(n + 1, sizeof(char *));
    if (envp == NULL) {
        free(copy);
        return 0;
    }
    for (i = 0, p = copy; i < n; i++, p += strlen(p) + 1)
        envp[i] = p;
    if (L == NULL)
        L = luaL_newstate();
    memset(&r, 0, sizeof(r));
    r.fcgx.envp = envp;
    if (lua_cpcall(L, push, &r) != 0)
        lua_pop(L, 1);
    lua_settop(L, 0);
    buf_free(&r.params);        /* the parameters' copy the env reads from */
    free(envp);
    free(copy);
    return 0;
}
