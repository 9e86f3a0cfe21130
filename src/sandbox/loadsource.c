/*
 * loadsource.c: scripts load source code only, never precompiled chunks.
 *
 * Lua 5.1 (and LuaJIT) trust a binary chunk: crafted bytecode reads and
 * writes memory at will, so one string handed to loadstring could end
 * the daemon. Every way a script loads code is made to refuse a chunk
 * that starts with the binary signature (ESC): loadstring and load look
 * at the first byte they are given (load and loadfile take Lua 5.2's
 * mode and env arguments too); loadfile, dofile and require's Lua
 * file searcher read files through one reader that does the same (the
 * file is opened once, so it cannot be swapped between check and load).
 * Scripts the daemon itself loads are the operator's and are not
 * concerned.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "loadsource.h"
#include "iolib.h"
#include "luawrap.h"

#define CHUNK_REFUSED "binary chunks are not accepted"

struct loadsource_file {
    FILE       *f;
    int         started;        /* the first byte was checked */
    int         refused;
    char        buf[4096];
};

/* Reads the file; ends it at once when it turns out to be binary. */
static const char *
loadsource_file_read(lua_State *L, void *ud, size_t *size)
{
    struct loadsource_file *cf = ud;

    (void)L;
    *size = fread(cf->buf, 1, sizeof(cf->buf), cf->f);
    if (*size == 0)
        return NULL;
    if (!cf->started) {
        cf->started = 1;
        if (cf->buf[0] == LUA_SIGNATURE[0]) {
            cf->refused = 1;
            *size = 0;
            return NULL;
        }
    }
    return cf->buf;
}

/* A first line starting with '#' is skipped, as luaL_loadfile does;
 * its newline is kept so line numbers stay right. */
static void
loadsource_skip_comment(struct loadsource_file *cf)
{
    int c = getc(cf->f);

    if (c == '#') {
        while ((c = getc(cf->f)) != EOF && c != '\n')
            ;
        if (c == '\n')
            ungetc(c, cf->f);
    } else if (c != EOF)
        ungetc(c, cf->f);
}

/* Load the source file PATH: 0 with the function pushed, or an error
 * status with a message pushed. [-0, +1, m] */
static int
loadsource_loadfile(lua_State *L, const char *path)
{
    struct loadsource_file cf;
    int status, err;

    memset(&cf, 0, sizeof(cf));
    if ((cf.f = fopen(path, "r")) == NULL) {
        lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
        return LUA_ERRFILE;
    }
    if (iolib_is_stdio(fileno(cf.f))) {       /* /dev/stdin, /proc/self/fd/0... */
        fclose(cf.f);
        lua_pushfstring(L, "cannot open %s: the daemon's standard files are not available", path);
        return LUA_ERRFILE;
    }
    loadsource_skip_comment(&cf);
    lua_pushfstring(L, "@%s", path);
    status = lua_load(L, loadsource_file_read, &cf, lua_tostring(L, -1));
    lua_remove(L, -2);
    err = ferror(cf.f);
    fclose(cf.f);
    if (status == 0 && cf.refused) {
        lua_pop(L, 1);
        lua_pushfstring(L, "%s: " CHUNK_REFUSED, path);
        return LUA_ERRSYNTAX;
    }
    if (status == 0 && err) {
        lua_pop(L, 1);
        lua_pushfstring(L, "cannot read %s", path);
        return LUA_ERRFILE;
    }
    return status;
}

/* nil and the message on top, as load answers a failure. [-1, +2] */
static int
loadsource_failed(lua_State *L)
{
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* nil and why a binary chunk is refused. [-0, +2] */
static int
loadsource_binary_refused(lua_State *L)
{
    lua_pushliteral(L, CHUNK_REFUSED);
    return loadsource_failed(L);
}

/* Lua 5.2's answer when MODE does not allow a text chunk. [-0, +2] */
static int
loadsource_mode_refused(lua_State *L, const char *mode)
{
    lua_pushnil(L);
    lua_pushfstring(L, "attempt to load a text chunk (mode is '%s')", mode);
    return 2;
}

/* Lua 5.2's mode and env at IDX, IDX + 1: checks env, answers whether
 * MODE lets text load. [-0, +0, v] */
static int
loadsource_text_allowed(lua_State *L, int idx, const char **mode)
{
    *mode = luaL_optstring(L, idx, "bt");
    if (!lua_isnoneornil(L, idx + 1))
        luaL_checktype(L, idx + 1, LUA_TTABLE);
    return strchr(*mode, 't') != NULL;
}

/* The function on top gets the env at IDX, if one was given. [-0, +0] */
static void
loadsource_set_env(lua_State *L, int idx)
{
    if (!lua_isnoneornil(L, idx)) {
        lua_pushvalue(L, idx);
        lua_setfenv(L, -2);
    }
}

/* The chunk on top, loaded: refused when MODE lets no text load, else
 * given the env at ENV, if one was given. [-0, +0|2] */
static int
loadsource_loaded(lua_State *L, int text_ok, const char *mode, int env)
{
    if (!text_ok)
        return loadsource_mode_refused(L, mode);
    loadsource_set_env(L, env);
    return 1;
}

/* loadfile(path [, mode [, env]]): as Lua 5.2's, source only; no path
 * (stdin) is refused. [-3, +1|2] */
static int
loadsource_lua_loadfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1), *mode;
    int text_ok = loadsource_text_allowed(L, 2, &mode);

    lua_settop(L, 3);
    if (loadsource_loadfile(L, path) != 0)
        return loadsource_failed(L);
    return loadsource_loaded(L, text_ok, mode, 3);
}

/* dofile(path): as Lua's, source only. [-1, +?, e] */
static int
loadsource_lua_dofile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);

    lua_settop(L, 1);
    if (loadsource_loadfile(L, path) != 0)
        return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

/* loadstring(s [, name]): refuses binary, else the original. */
static int
loadsource_lua_loadstring(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);

    if (len > 0 && s[0] == LUA_SIGNATURE[0])
        return loadsource_binary_refused(L);
    return luawrap_call(L, LUA_MULTRET);
}

/* The reader given to load, wrapped: its first piece must not be binary.
 * Upvalues: the reader, and whether the first piece was seen. */
static int
loadsource_reader(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_call(L, 0, 1);
    if (!lua_toboolean(L, lua_upvalueindex(2)) && lua_type(L, -1) == LUA_TSTRING &&
        lua_objlen(L, -1) > 0) {
        if (lua_tostring(L, -1)[0] == LUA_SIGNATURE[0])
            return luaL_error(L, CHUNK_REFUSED);
        lua_pushboolean(L, 1);
        lua_replace(L, lua_upvalueindex(2));
    }
    return 1;
}

/*
 * load(chunk [, name [, mode [, env]]]): Lua 5.2's form on both builds,
 * since CGILua and others call it so. CHUNK is a string or a reader
 * (wrapped, as above); binary is refused whatever MODE says, so MODE
 * only decides whether text may load. ENV, a table, becomes the chunk's
 * environment. LuaJIT's own load takes mode and env too, with other
 * messages: it is called with the first two arguments only, so that
 * both builds answer alike.
 */
static int
loadsource_lua_load(lua_State *L)
{
    const char *mode;
    int text_ok = loadsource_text_allowed(L, 3, &mode);
    size_t len;

    lua_settop(L, 4);
    if (lua_type(L, 1) == LUA_TSTRING) {
        const char *s = lua_tolstring(L, 1, &len);
        if (len > 0 && s[0] == LUA_SIGNATURE[0])
            return loadsource_binary_refused(L);
        if (!text_ok)
            return loadsource_mode_refused(L, mode);
        if (luaL_loadbuffer(L, s, len, luaL_optstring(L, 2, s)) != 0)
            return loadsource_failed(L);
    } else {
        luaL_checktype(L, 1, LUA_TFUNCTION);
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_pushvalue(L, 1);
        lua_pushboolean(L, 0);
        lua_pushcclosure(L, loadsource_reader, 2);
        lua_pushvalue(L, 2);
        lua_call(L, 2, 2);
        if (lua_isnil(L, -2))
            return 2;
        lua_pop(L, 1);
    }
    return loadsource_loaded(L, text_ok, mode, 4);
}

/* require's Lua searcher: package.path, then loadsource_loadfile. [-1, +1] */
static int
loadsource_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1), *path, *next;
    luaL_Buffer tried;

    name = luaL_gsub(L, name, ".", LUA_DIRSEP);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    if ((path = lua_tostring(L, -1)) == NULL)
        return luaL_error(L, LUA_QL("package.path") " must be a string");
    luaL_buffinit(L, &tried);
    for (; *path; path = *next ? next + 1 : next) {
        const char *file;
        FILE *f;
        if ((next = strchr(path, *LUA_PATHSEP)) == NULL)
            next = path + strlen(path);
        if (next == path)
            continue;
        lua_pushlstring(L, path, (size_t)(next - path));
        file = luaL_gsub(L, lua_tostring(L, -1), LUA_PATH_MARK, name);
        lua_remove(L, -2);
        if ((f = fopen(file, "r")) == NULL) {
            lua_pushfstring(L, "\n\tno file " LUA_QS, file);
            lua_remove(L, -2);
            luaL_addvalue(&tried);
            continue;
        }
        fclose(f);
        if (loadsource_loadfile(L, file) != 0)
            return luaL_error(L, "error loading module " LUA_QS " from file " LUA_QS ":\n\t%s",
                              lua_tostring(L, 1), file, lua_tostring(L, -1));
        return 1;
    }
    luaL_pushresult(&tried);
    return 1;
}

/* After luaL_openlibs, in protected mode. [-0, +0, m] */
void
loadsource_install(lua_State *L)
{
    luawrap_field(L, LUA_GLOBALSINDEX, "load", loadsource_lua_load);
    luawrap_field(L, LUA_GLOBALSINDEX, "loadstring", loadsource_lua_loadstring);
    lua_pushcfunction(L, loadsource_lua_loadfile);
    lua_setglobal(L, "loadfile");
    lua_pushcfunction(L, loadsource_lua_dofile);
    lua_setglobal(L, "dofile");
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaders");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, loadsource_searcher);
        lua_rawseti(L, -2, 2);
    }
    lua_pop(L, 2);
}
