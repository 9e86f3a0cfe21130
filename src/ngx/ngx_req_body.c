/*
 * ngx_req_body.c: a body the script writes, ngx.req.init_body,
 * append_body and finish_body, as ngx_lua makes one.
 *
 * The new body is held in memory, as a short list of pieces (the appends,
 * joined as they come while the last is no shorter than the one before
 * it, all joined when read), up to the buffer's size: init_body's
 * argument, or `upload_memory` (nginx: client_body_buffer_size). Past it the
 * body goes to a temp file in `upload_dir`, removed with the request's other
 * temps, and get_body_file() names it; finish_body() writes the pieces held
 * since. A size of 0 puts every later new body of the request in a file, as
 * ngx_lua sets nginx's request_body_in_file_only for the rest of it. The
 * file stays open, as nginx keeps it, in the request (closed with its
 * temps when it ends): it is never opened again by a name the script
 * knows and may have replaced (a symlink to a file it may not write).
 *
 * append_body with no init_body before it goes on with the body read or
 * set, in a file, as ngx_lua writes on the request's body buffers then.
 *
 * What the readers see of a body the script set (this one, or
 * set_body_data's) is ngx_req_body_push's.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf.h"
#include "log.h"
#include "ngx_impl.h"
#include "request.h"
#include "upload.h"
#include "uploaddir.h"

/* Write all of P to FD. 0, or -1 and errno. */
int
ngx_req_write_all(int fd, const char *p, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

/* The descriptor of the new body's file, made the first time (its path
 * then kept in S) and kept open in R till the request ends: the file is
 * never opened again by its name, which the script knows and could have
 * made a symlink by now. -1 with the error logged. [-0, +0, m] */
static int
ngx_req_body_open(lua_State *L, struct ngx_state *s, struct request *r)
{
    char path[4096];
    int fd;

    if (s->file_ref != LUA_NOREF) {
        if (r->temp_fd < 0)
            ngx_note(s, LOG_LEVEL_ERR, "the request body's file is no longer open");
        return r->temp_fd;
    }
    upload_close_kept(r);       /* an earlier new body's, done with */
    if ((fd = uploaddir_temp(r->conf, path, sizeof(path))) < 0) {
        ngx_note(s, LOG_LEVEL_ERR, "cannot create a file for the request body in %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (upload_add_temp(r, path) < 0) {
        ngx_note(s, LOG_LEVEL_ERR, "cannot keep the request body's temp file %s", path);
        close(fd);
        unlink(path);
        return -1;
    }
    r->temp_fd = fd;
    lua_pushstring(L, path);
    s->file_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return fd;
}

/* Append to the new body's file the pieces held, then the string at
 * DATA (0: none), and hold none after. [-0, +0, e] */
static void
ngx_req_body_spill(lua_State *L, struct ngx_state *s, struct request *r, int data)
{
    int fd = ngx_req_body_open(L, s, r), i, n, failed = fd < 0;
    size_t len;
    const char *p;

    ngx_push_ref(L, s->newbody_ref);
    n = (int)lua_objlen(L, -1);
    for (i = 1; i <= n + (data != 0) && !failed; i++) {
        if (i <= n)
            lua_rawgeti(L, -1, i);
        else
            lua_pushvalue(L, data);
        p = lua_tolstring(L, -1, &len);
        failed = ngx_req_write_all(fd, p, len) < 0;
        if (failed)
            ngx_note(s, LOG_LEVEL_ERR, "cannot write the request body to its file: %s",
                     strerror(errno));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (failed)
        luaL_error(L, "fail to write file");
    ngx_unref(L, &s->newbody_ref);
    lua_newtable(L);
    s->newbody_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    s->newbody_held = 0;
}

/* The new body's pieces as one string, kept as its only piece. [-0, +1, m] */
static void
ngx_req_body_join(lua_State *L, struct ngx_state *s)
{
    luaL_Buffer b;
    int i, n, t;

    ngx_push_ref(L, s->newbody_ref);
    t = lua_gettop(L);
    n = (int)lua_objlen(L, t);
    if (n == 1) {
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
        return;
    }
    luaL_buffinit(L, &b);
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, t, i);       /* the buffer may hold stack slots above t */
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_remove(L, t);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, 1);
    ngx_unref(L, &s->newbody_ref);
    s->newbody_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* The string on top, popped, as the last piece of the table T of pieces,
 * joined with the last ones while it is at least as long as the one before
 * (as luaL_Buffer stacks its pieces): tiny appends make a few pieces whose
 * sizes halve down the table, not a slot per append, and each byte is
 * copied about log2(pieces) times. [-1, +0, m] */
static void
ngx_req_body_add(lua_State *L, int t)
{
    int n = (int)lua_objlen(L, t);

    while (n > 0) {
        lua_rawgeti(L, t, n);
        if (lua_objlen(L, -1) > lua_objlen(L, -2)) {
            lua_pop(L, 1);
            break;
        }
        lua_insert(L, -2);
        lua_concat(L, 2);
        lua_pushnil(L);
        lua_rawseti(L, t, n--);
    }
    lua_rawseti(L, t, n + 1);
}

/* The body the script set, as $request_body reads it: the new body ("" when
 * nothing was appended), set_body_data's (nil when it set ""), nil when it
 * is in a file. Pushes nothing and returns 0 when the script set none.
 * [-0, +(0|1), m] */
int
ngx_req_body_push(lua_State *L, struct ngx_state *s)
{
    if (s->newbody_ref != LUA_NOREF) {
        if (s->file_ref != LUA_NOREF)
            lua_pushnil(L);
        else
            ngx_req_body_join(L, s);
        return 1;
    }
    if (s->body_ref == LUA_NOREF)
        return 0;
    ngx_push_ref(L, s->body_ref);
    if (lua_objlen(L, -1) == 0) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    return 1;
}

/* The script's body ends any new body being written. [-0, +0] */
void
ngx_req_body_drop(lua_State *L, struct ngx_state *s)
{
    ngx_unref(L, &s->newbody_ref);
    s->newbody_held = 0;
}

/* With no new body begun, append_body goes on with the body there is, as
 * ngx_lua writes on the request's body buffers: the one read, or
 * set_body_data's, goes on in a file (a file read_body made is written
 * on). 0 when there is none: no body was read, it was discarded, it is
 * empty. BEGIN 0 only tells. [-0, +0, m] */
static int
ngx_req_body_continue(lua_State *L, struct ngx_state *s, struct request *r, int begin)
{
    int seed = 0;

    if (!s->body_read || s->body_discarded)
        return 0;
    if (s->body_ref != LUA_NOREF) {
        ngx_push_ref(L, s->body_ref);
        if (lua_objlen(L, -1) == 0) {
            lua_pop(L, 1);
            return 0;
        }
        seed = 1;
    } else if (s->file_ref == LUA_NOREF) {
        if (r->body_left || ngx_req_body_read_len(s, r) == 0)
            return 0;
        lua_pushlstring(L, r->post.data, ngx_req_body_read_len(s, r));
        seed = 1;
    }
    if (!begin) {
        lua_pop(L, seed);
        return 1;
    }
    if (seed) {                 /* in a file of its own, as its first piece */
        ngx_unref(L, &s->body_ref);
        ngx_unref(L, &s->file_ref);
        upload_close_kept(r);
    }
    lua_newtable(L);
    if (seed) {
        s->newbody_held = lua_objlen(L, -2);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    }
    s->newbody_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    s->newbody_size = 0;
    return 1;
}

/* ngx.req.init_body([size]). [-0, +0, e] */
static int
ngx_req_init_body(lua_State *L)
{
    int n = lua_gettop(L);
    struct request *r;
    struct ngx_state *s;
    size_t size;

    if (n > 1)
        return luaL_error(L, "expecting 0 or 1 argument but seen %d", n);
    r = ngx_check(L, NGX_IN_REQUEST);
    s = ngx_bound(L);
    if (s->body_discarded)      /* even once read_body came after */
        return luaL_error(L, "request body already discarded asynchronously");
    if (!s->body_read)
        return luaL_error(L, "request body not read yet");
    size = r->conf->upload_memory;
    if (n == 1) {
        lua_Integer num = luaL_checkinteger(L, 1);
        if (num < 0)
            return luaL_error(L, "bad size argument: %d", (int)num);
        size = (size_t)num;
    }
    if (size == 0)
        s->newbody_file_only = 1;
    ngx_unref(L, &s->body_ref);
    ngx_unref(L, &s->file_ref);     /* the file itself goes with the request's temps */
    upload_close_kept(r);
    ngx_req_body_drop(L, s);
    lua_newtable(L);
    s->newbody_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    s->newbody_size = size;
    return 0;
}

/* ngx.req.append_body(data). [-0, +0, e] */
static int
ngx_req_append_body(lua_State *L)
{
    int n = lua_gettop(L);
    struct request *r;
    struct ngx_state *s;
    size_t len;

    if (n != 1)
        return luaL_error(L, "expecting 1 arguments but seen %d", n);
    luaL_checklstring(L, 1, &len);
    r = ngx_check(L, NGX_IN_REQUEST);
    s = ngx_bound(L);
    if (s->newbody_ref == LUA_NOREF && !ngx_req_body_continue(L, s, r, 1))
        return luaL_error(L, "request_body not initialized");
    if (s->newbody_file_only || s->newbody_held + len > s->newbody_size) {
        ngx_req_body_spill(L, s, r, 1);
        return 0;
    }
    if (len == 0)
        return 0;           /* no piece: a slot per empty append adds up */
    ngx_push_ref(L, s->newbody_ref);
    lua_pushvalue(L, 1);
    ngx_req_body_add(L, lua_gettop(L) - 1);
    s->newbody_held += len;
    return 0;
}

/* The length of the body there is now, finished (in its file, if it has
 * one), as finish_body tells it in Content-Length. [-0, +0, m] */
static size_t
ngx_req_body_length(lua_State *L, struct ngx_state *s, struct request *r)
{
    struct stat st;
    size_t len;

    if ((s->newbody_ref == LUA_NOREF || s->file_ref == LUA_NOREF) && ngx_req_body_push(L, s)) {
        len = lua_objlen(L, -1);
        lua_pop(L, 1);
        return len;
    }
    if (s->file_ref != LUA_NOREF)
        return r->temp_fd >= 0 && fstat(r->temp_fd, &st) == 0 ? (size_t)st.st_size : 0;
    return ngx_req_body_read_len(s, r);
}

/* ngx.req.finish_body(): the pieces held go to the file, if there is one.
 * [-0, +0, e] */
static int
ngx_req_finish_body(lua_State *L)
{
    int n = lua_gettop(L);
    struct request *r;
    struct ngx_state *s;

    if (n != 0)
        return luaL_error(L, "expecting 0 argument but seen %d", n);
    r = ngx_check(L, NGX_IN_REQUEST);
    s = ngx_bound(L);
    if (s->newbody_ref == LUA_NOREF) {
        if (!ngx_req_body_continue(L, s, r, 0))
            return luaL_error(L, "request_body not initialized");
    } else if (s->file_ref != LUA_NOREF && s->newbody_held > 0)
        ngx_req_body_spill(L, s, r, 0);
    ngx_req_header_set_length(L, s, ngx_req_body_length(L, s, r));
    return 0;
}

static const luaL_Reg ngx_req_body_fns[] = {
    { "init_body",      ngx_req_init_body },
    { "append_body",    ngx_req_append_body },
    { "finish_body",    ngx_req_finish_body },
    { NULL, NULL }
};

void
ngx_req_body_install(lua_State *L)
{
    ngx_subtable(L, "req", ngx_req_body_fns);
}
