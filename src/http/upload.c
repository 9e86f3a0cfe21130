/*
 * upload.c: req:form(), the request's form as Lua tables.
 *
 * A multipart/form-data body goes through multipart.c part by part, as
 * body.c hands it over (from memory, or from the connection): a
 * field's value and a file up to `upload_memory` bytes stay in memory,
 * counted toward the state's `memory` (they are allocated with the state's
 * own allocator); a larger file goes, as it arrives, to a temp file in
 * the serving process's directory in `upload_dir` (else $TMPDIR, else
 * /tmp; see uploaddir.c), created 0600 with O_EXCL under an unpredictable
 * name. Each temp file's name is recorded in the request as soon as it
 * exists, so upload_cleanup() removes it when the request
 * ends, however the script ended; a script keeps a file by renaming it
 * (a name that no longer exists was moved). The descriptor is ours and is
 * closed at the part's end: it never counts toward the script's files.
 *
 * An application/x-www-form-urlencoded body is split by formfields.c, which
 * also fills the tables for both. For both, `maxfields` bounds the number of
 * fields and files, and LF_MAX_FIELD_NAME a name's length, before any name
 * reaches a Lua table (hash flooding, huge forms). Every malformed body is
 * a Lua error with the reason, which a script can catch with pcall.
 *
 * The parse state is a full userdata with a C __gc: a Lua error anywhere
 * (memory, a limit) still frees its buffer and closes its descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "body.h"
#include "conf.h"
#include "formfields.h"
#include "log.h"
#include "multipart.h"
#include "reqenv.h"
#include "request.h"
#include "uploaddir.h"
#include "upload.h"

#define UPLOAD_META         "luafcgid.upload"
#define UPLOAD_VALUE_MAX    1024    /* a filename or a content type */

struct upload {
    struct multipart    mp;
    lua_State          *L;
    struct request     *r;
    int                 fields, files;  /* stack indices of the result tables */
    int                 count;          /* fields and files so far */
    int                 has_name, is_file;
    size_t              nlen;
    char                name[LF_MAX_FIELD_NAME + 1];
    char                filename[UPLOAD_VALUE_MAX];
    char                ctype[UPLOAD_VALUE_MAX];
    char               *data;           /* in memory, from the state's allocator */
    size_t              len, cap;
    size_t              size;
    int                 fd;             /* the temp file, or -1 */
    char                path[PATH_MAX];
    char                err[256];
};

/* Stop the parse with a reason that names what went wrong. */
static int
upload_fail(struct upload *u, const char *fmt, const char *arg)
{
    snprintf(u->err, sizeof(u->err), fmt, arg);
    multipart_fail(&u->mp, u->err);
    return -1;
}

static void
upload_close(struct upload *u)
{
    if (u->fd >= 0 && close(u->fd) < 0)
        log_syserr("worker %d: %s: closing upload %s", u->r->worker, u->r->script, u->path);
    u->fd = -1;
}

/* L is the state running now: u->L, the thread that called form(), may be
 * a coroutine freed before this userdata is collected. */
static void
upload_release(struct upload *u, lua_State *L)
{
    void *aud;
    lua_Alloc alloc = lua_getallocf(L, &aud);

    if (u->data != NULL)
        alloc(aud, u->data, u->cap, 0);
    u->data = NULL;
    u->len = u->cap = 0;
    u->L = NULL;
    u->r = NULL;
}

/* Only after a Lua error in the parse: the request may be over by now,
 * so u->r is not looked at. */
static int
upload_gc(lua_State *L)
{
    struct upload *u = lua_touserdata(L, 1);

    if (u->fd >= 0 && close(u->fd) < 0)
        log_syserr("closing upload %s", u->path);
    u->fd = -1;
    if (u->r != NULL)
        upload_release(u, L);
    return 0;
}

/* A name is counted, and its length checked, before it is used. */
static int
upload_count(struct upload *u, int maxfields, size_t nlen)
{
    if (++u->count > maxfields) {
        snprintf(u->err, sizeof(u->err), "more than maxfields (%d) fields and files", maxfields);
        return -1;
    }
    if (nlen > LF_MAX_FIELD_NAME) {
        snprintf(u->err, sizeof(u->err), "a field name is over %d bytes", LF_MAX_FIELD_NAME);
        return -1;
    }
    return 0;
}

static int
upload_part_begin(void *ud)
{
    struct upload *u = ud;

    u->has_name = u->is_file = 0;
    u->nlen = u->len = u->size = 0;
    u->filename[0] = '\0';
    strcpy(u->ctype, "text/plain");     /* RFC 7578's default */
    return 0;
}

/* The last component of a client's path, whichever separator it used. */
static void
upload_basename(char *s)
{
    char *slash = strrchr(s, '/'), *back = strrchr(s, '\\');
    char *cut = slash > back ? slash : back;

    if (cut != NULL)
        memmove(s, cut + 1, strlen(cut + 1) + 1);
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        s[0] = '\0';
}

static int
upload_disposition(struct upload *u, const char *v, size_t vlen)
{
    size_t n;
    int rc;

    if (vlen < 9 || strncasecmp(v, "form-data", 9) != 0 || (vlen > 9 && v[9] != ';' && v[9] != ' '))
        return upload_fail(u, "a part's Content-Disposition is not %s", "form-data");
    rc = multipart_param(v, vlen, "name", u->name, sizeof(u->name), &u->nlen);
    if (rc < 0) {
        snprintf(u->err, sizeof(u->err), "a part's name is malformed or over %d bytes", LF_MAX_FIELD_NAME);
        multipart_fail(&u->mp, u->err);
        return -1;
    }
    u->has_name = rc == 1;
    rc = multipart_param(v, vlen, "filename", u->filename, sizeof(u->filename), &n);
    if (rc < 0)
        return upload_fail(u, "a part's %s is malformed or too long", "filename");
    if (rc == 1) {
        u->is_file = 1;
        upload_basename(u->filename);
    }
    return 0;
}

static int
upload_header(void *ud, const char *name, size_t nlen, const char *v, size_t vlen)
{
    struct upload *u = ud;

    if (nlen == 19 && strncasecmp(name, "Content-Disposition", 19) == 0)
        return upload_disposition(u, v, vlen);
    if (nlen == 12 && strncasecmp(name, "Content-Type", 12) == 0) {
        if (vlen >= sizeof(u->ctype))
            return upload_fail(u, "a part's %s is too long", "Content-Type");
        memcpy(u->ctype, v, vlen);
        u->ctype[vlen] = '\0';
    }
    return 0;
}

static int
upload_headers_done(void *ud)
{
    struct upload *u = ud;

    if (!u->has_name)
        return upload_fail(u, "a part has no %s", "Content-Disposition name");
    if (upload_count(u, u->r->conf->maxfields, u->nlen) < 0) {
        multipart_fail(&u->mp, u->err);
        return -1;
    }
    return 0;
}

/* Room for N more bytes in memory, from the state's allocator. */
static int
upload_keep(struct upload *u, const char *p, size_t n)
{
    if (u->len + n > u->cap) {
        void *aud, *q;
        lua_Alloc alloc = lua_getallocf(u->L, &aud);
        size_t cap = u->cap ? u->cap : 256;
        while (cap < u->len + n)
            cap *= 2;
        if ((q = alloc(aud, u->data, u->cap, cap)) == NULL)
            return upload_fail(u, "memory limit reached by a form %s", "field");
        u->data = q;
        u->cap = cap;
    }
    memcpy(u->data + u->len, p, n);
    u->len += n;
    return 0;
}

/* Record a temp file at PATH in R, removed when the request ends
 * (upload_cleanup); unrecorded, it is removed at once: it must not
 * outlive the request. 0, or -1 (logged). */
int
upload_add_temp(struct request *r, const char *path)
{
    if (buf_append(&r->temps, path, strlen(path) + 1) < 0) {
        if (unlink(path) < 0)
            log_syserr("worker %d: %s: removing upload %s", r->worker, r->script, path);
        return -1;
    }
    return 0;
}

/* The temp file, in the serving process's directory (uploaddir.c). */
static int
upload_create(struct upload *u)
{
    if ((u->fd = uploaddir_temp(u->r->conf, u->path, sizeof(u->path))) >= 0)
        return upload_add_temp(u->r, u->path);
    log_syserr("worker %d: %s: cannot create an upload file in %s", u->r->worker, u->r->script, u->path);
    return upload_fail(u, "cannot create an upload file in %.200s", u->path);
}

static int
upload_write(struct upload *u, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(u->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            log_syserr("worker %d: %s: writing upload %s", u->r->worker, u->r->script, u->path);
            return upload_fail(u, "cannot write an upload file: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A file past upload_memory moves to disk with what it had in memory. */
static int
upload_data(void *ud, const char *p, size_t n)
{
    struct upload *u = ud;

    u->size += n;
    if (u->fd >= 0)
        return upload_write(u, p, n);
    if (!u->is_file || u->size <= u->r->conf->upload_memory)
        return upload_keep(u, p, n);
    if (upload_create(u) < 0 || upload_write(u, u->data, u->len) < 0)
        return -1;
    u->len = 0;
    return upload_write(u, p, n);
}

static void
upload_setstr(lua_State *L, const char *key, const char *s, size_t n)
{
    lua_pushlstring(L, s, n);
    lua_setfield(L, -2, key);
}

static int
upload_part_end(void *ud)
{
    struct upload *u = ud;
    lua_State *L = u->L;

    if (!u->is_file) {
        lua_pushlstring(L, u->data ? u->data : "", u->len);
        formfields_add(L, u->fields, u->name, u->nlen);
        return 0;
    }
    lua_createtable(L, 0, 5);
    upload_setstr(L, "name", u->name, u->nlen);
    upload_setstr(L, "filename", u->filename, strlen(u->filename));
    upload_setstr(L, "content_type", u->ctype, strlen(u->ctype));
    lua_pushnumber(L, (lua_Number)u->size);
    lua_setfield(L, -2, "size");
    if (u->fd >= 0) {
        upload_close(u);
        upload_setstr(L, "path", u->path, strlen(u->path));
    } else
        upload_setstr(L, "data", u->data ? u->data : "", u->len);
    formfields_add(L, u->files, u->name, u->nlen);
    return 0;
}

static const struct multipart_calls upload_calls = {
    upload_part_begin, upload_header, upload_headers_done, upload_data, upload_part_end
};

/* The error a script can catch: the reason, without a position. */
static void
upload_raise(lua_State *L, const char *why)
{
    lua_pushfstring(L, "form: %s", why);
    lua_error(L);
}

static void
upload_multipart(lua_State *L, struct request *r, const char *ctype)
{
    char boundary[MULTIPART_BOUNDARY_MAX + 2];
    struct body_walk walk = { 0, 0 };
    const char *why = NULL, *p;
    struct upload *u;
    long n;

    if (multipart_boundary(ctype, boundary, sizeof(boundary), &why) < 0)
        upload_raise(L, why);
    u = lua_newuserdata(L, sizeof(*u));
    memset(u, 0, sizeof(*u));
    u->fd = -1;
    if (luaL_newmetatable(L, UPLOAD_META)) {
        lua_pushcfunction(L, upload_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    u->L = L;
    u->r = r;
    u->fields = lua_gettop(L) - 2;
    u->files = lua_gettop(L) - 1;
    multipart_init(&u->mp, boundary, &upload_calls, u);
    while ((n = body_walk(r, &walk, &p, &why)) > 0)
        if (multipart_feed(&u->mp, p, (size_t)n) < 0)
            break;
    if (n < 0)
        multipart_fail(&u->mp, why);
    else if (u->mp.error == NULL)
        multipart_finish(&u->mp);
    upload_close(u);
    upload_release(u, L);
    if (u->mp.error != NULL)
        upload_raise(L, u->mp.error);
    lua_pop(L, 1);
}

static int
upload_is(const char *ctype, const char *type)
{
    size_t n = strlen(type);

    return strncasecmp(ctype, type, n) == 0 && (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

/* req:form(): fields and files of the request's body. [-0, +2, e] */
int
upload_form(lua_State *L, struct request *r)
{
    const char *ctype = reqenv_param("CONTENT_TYPE", r->fcgx.envp), *why;

    lua_newtable(L);
    lua_newtable(L);
    if (!r->body_left && !r->body_given && r->post.len == 0)
        return 2;               /* an empty body: no fields, whatever its type */
    if (ctype == NULL) {
        lua_pushliteral(L, "form: cannot parse a body without a Content-Type");
        return lua_error(L);
    }
    if (upload_is(ctype, "multipart/form-data"))
        upload_multipart(L, r, ctype);
    else if (upload_is(ctype, "application/x-www-form-urlencoded")) {
        if (body_whole(r, &why) < 0)
            upload_raise(L, why);
        formfields_urlencoded(L, lua_gettop(L) - 1, r->post.data, r->post.len, r->conf->maxfields);
    } else {
        lua_pushfstring(L, "form: cannot parse a body of type %s", ctype);
        return lua_error(L);
    }
    return 2;
}

/* The temp file kept open for the request (r->temp_fd), closed. */
void
upload_close_kept(struct request *r)
{
    if (r->temp_fd >= 0 && close(r->temp_fd) < 0)
        log_syserr("worker %d: %s: closing a request body's file", r->worker, r->script ? r->script : "-");
    r->temp_fd = -1;
}

/* The request has ended: its temp files that were not moved go, and the
 * one kept open is closed. */
void
upload_cleanup(struct request *r)
{
    const char *p = r->temps.data, *end = r->temps.data + r->temps.len;

    upload_close_kept(r);

    for (; p != NULL && p < end; p += strlen(p) + 1)
        if (unlink(p) < 0 && errno != ENOENT)
            log_syserr("worker %d: %s: removing upload %s", r->worker, r->script ? r->script : "-", p);
    buf_reset(&r->temps);
}
