/*
 * ngx_var.c: ngx.var, nginx's variables from the FastCGI parameters.
 *
 * Nothing is built per request: ngx.var is one empty table whose
 * __index finds a variable when it is read. A name is nginx's, lower case
 * (ngx.var.REMOTE_ADDR reads remote_addr, as in nginx):
 *
 *  - those a web server sends as a parameter of the same name upper-cased
 *    (request_method, request_uri, content_type, remote_addr, server_port,
 *    document_root, https, request_scheme, and any other it sends);
 *  - those nginx names otherwise: args and query_string (QUERY_STRING),
 *    uri (DOCUMENT_URI, else SCRIPT_NAME and PATH_INFO), request_filename
 *    (SCRIPT_FILENAME), fastcgi_script_name, fastcgi_path_info;
 *  - those derived as nginx derives them: arg_NAME, http_NAME (a header
 *    sent twice is its first line, Cookie's and X-Forwarded-For's joined,
 *    as in nginx 1.22), cookie_NAME,
 *    host, scheme, is_args, request_body, binary_remote_addr, msec,
 *    time_local, time_iso8601, request_time, pid, hostname, request_id.
 *
 * A variable nginx does not know reads as nil. Writing one keeps the
 * value for the rest of the request (nginx would want it declared with
 * `set` first, which a FastCGI server cannot see); args and query_string
 * are the query string, as ngx.req.set_uri_args sets it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "monoclock.h"
#include "ngx_impl.h"
#include "reqenv.h"
#include "request.h"

#define NGX_VAR_NAME_MAX 256

/* The FastCGI parameter NAME (upper case, LEN bytes), or NULL; of a name
 * sent twice the last, of a header the first (reqenv.c). */
const char *
ngx_var_param(struct request *r, const char *name, size_t len)
{
    return reqenv_param_len(name, len, r->fcgx.envp);
}

/* The parameter for a variable: its name upper-cased, PREFIX before it. */
static const char *
ngx_var_upper(struct request *r, const char *prefix, const char *name, size_t len, int dashes)
{
    char up[NGX_VAR_NAME_MAX];
    size_t plen = strlen(prefix), i;

    if (plen + len >= sizeof(up))
        return NULL;
    memcpy(up, prefix, plen);
    for (i = 0; i < len; i++) {
        up[plen + i] = ngx_param_char(name[i]);
        if (name[i] == '-' && !dashes)
            up[plen + i] = '-';
    }
    up[plen + len] = '\0';
    return ngx_var_param(r, up, plen + len);
}

/* Push VALUE (LEN bytes, or to its NUL when LEN is -1), or nil. */
static int
ngx_var_push(lua_State *L, const char *value, long len)
{
    if (value == NULL)
        lua_pushnil(L);
    else if (len < 0)
        lua_pushstring(L, value);
    else
        lua_pushlstring(L, value, (size_t)len);
    return 1;
}

/* $arg_NAME: the raw value of the first NAME (case aside) in the query. */
static int
ngx_var_arg(lua_State *L, struct ngx_state *s, struct request *r, const char *name, size_t len)
{
    size_t qlen;
    const char *q = ngx_req_args(L, s, r, &qlen), *end = q + qlen, *p = q;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
        if ((size_t)(stop - p) > len && p[len] == '=' && strncasecmp(p, name, len) == 0)
            return ngx_var_push(L, p + len + 1, stop - (p + len + 1));
        p = stop + 1;       /* a NAME with no "=" has no value: nil, as nginx */
    }
    lua_pushnil(L);
    return 1;
}

/* $cookie_NAME: from the Cookie header, in any of its lines (joined by
 * $http_cookie, with "; "), as set_header left it, parsed as nginx 1.22
 * parses it: a cookie starts after ";" or "," but its value ends only at
 * ";" ("a=1,b=2" gives a "1,b=2" and b "2"); spaces around "=" go. */
static int
ngx_var_cookie(lua_State *L, struct ngx_state *s, struct request *r, const char *name, size_t len)
{
    const char *p, *end, *v, *last;
    size_t n;

    ngx_req_header(L, s, r, "cookie", 6);   /* on the stack while it is parsed */
    if ((p = lua_tolstring(L, -1, &n)) == NULL)
        return 1;                   /* the nil pushed */
    for (end = p + n; p < end; ) {
        if ((size_t)(end - p) > len && strncasecmp(p, name, len) == 0) {
            for (v = p + len; v < end && *v == ' '; v++)
                ;
            if (v < end && *v == '=') {
                for (v++; v < end && *v == ' '; v++)
                    ;
                for (last = v; last < end && *last != ';'; last++)
                    ;
                ngx_var_push(L, v, last - v);
                lua_remove(L, -2);
                return 1;
            }
        }
        while (p < end && *p != ';' && *p != ',')
            p++;
        for (p += p < end; p < end && *p == ' '; p++)
            ;
    }
    lua_pop(L, 1);
    return ngx_var_push(L, NULL, 0);
}

/* $host: the Host header lower-cased without its port, or server_name. */
static int
ngx_var_host(lua_State *L, struct request *r)
{
    const char *h = ngx_var_param(r, "HTTP_HOST", 9);
    char buf[NGX_VAR_NAME_MAX];
    size_t i;

    if (h == NULL || *h == '\0')
        return ngx_var_push(L, ngx_var_param(r, "SERVER_NAME", 11), -1);
    for (i = 0; i < sizeof(buf) - 1 && h[i]; i++) {
        if (h[i] == ':' && h[0] != '[')
            break;
        buf[i] = ngx_lower(h[i]);
        if (h[i] == ']') {
            i++;
            break;
        }
    }
    if (i > 0 && buf[i - 1] == '.')
        i--;
    return ngx_var_push(L, buf, (long)i);
}

/* $uri: DOCUMENT_URI, else SCRIPT_NAME and PATH_INFO. */
static int
ngx_var_uri(lua_State *L, struct ngx_state *s, struct request *r)
{
    const char *v = ngx_var_param(r, "DOCUMENT_URI", 12);

    if (s->uri_ref != LUA_NOREF) {
        ngx_push_ref(L, s->uri_ref);
        return 1;
    }
    if (v != NULL)
        return ngx_var_push(L, v, -1);
    lua_pushstring(L, r->vars.script_name ? r->vars.script_name : "");
    lua_pushstring(L, r->vars.path_info ? r->vars.path_info : "");
    lua_concat(L, 2);
    return 1;
}

/* The time now as nginx's $msec, $time_local or $time_iso8601. */
static int
ngx_var_time(lua_State *L, const char *which)
{
    struct timespec ts;
    struct tm tm;
    char buf[64];
    long off;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (strcmp(which, "msec") == 0) {
        snprintf(buf, sizeof(buf), "%lld.%03ld", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
        return ngx_var_push(L, buf, -1);
    }
    localtime_r(&ts.tv_sec, &tm);
    off = tm.tm_gmtoff / 60;
    if (strcmp(which, "time_local") == 0)
        strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S", &tm);
    else
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    lua_pushstring(L, buf);
    if (strcmp(which, "time_local") == 0)
        lua_pushfstring(L, " %c%d%d%d%d", off < 0 ? '-' : '+', (int)(labs(off) / 60 / 10),
                        (int)(labs(off) / 60 % 10), (int)(labs(off) % 60 / 10), (int)(labs(off) % 10));
    else
        lua_pushfstring(L, "%c%d%d:%d%d", off < 0 ? '-' : '+', (int)(labs(off) / 60 / 10),
                        (int)(labs(off) / 60 % 10), (int)(labs(off) % 60 / 10), (int)(labs(off) % 10));
    lua_concat(L, 2);
    return 1;
}

/* $content_type and $content_length: the header as the script left it
 * (set_header, a body it set), else as sent (sent empty: there is none).
 * nginx keeps these two variables' first value for the rest of the
 * request, so that is kept too, as if set. [-0, +1, m] */
static int
ngx_var_entity(lua_State *L, struct ngx_state *s, struct request *r, const char *name, size_t len)
{
    const char *low = strcmp(name, "content_type") == 0 ? "content-type" : "content-length", *v;
    int as_sent = !ngx_req_header_changed(L, s, low, strlen(low));
    int chunked = strcmp(name, "content_length") == 0 &&
                  ngx_req_chunked(r);

    if (!as_sent && lua_isnil(L, -1) && chunked && (s->body_counted || s->body_discarded)) {
        /* cleared, then a chunked body read: nginx's count of it (a clear
         * after the read leaves none) */
        lua_pop(L, 1);
        as_sent = 1;
    }
    if (as_sent && chunked && s->body_discarded)
        lua_pushliteral(L, "0");    /* a chunked body discarded: nginx counts none */
    else if (as_sent) {
        v = ngx_var_upper(r, "", name, len, 0);
        ngx_var_push(L, v != NULL && *v != '\0' ? v : NULL, -1);
    }
    /* nil is not kept for a chunked body's length, which nginx gives
     * once it has read the body */
    if (lua_isnil(L, -1) && chunked)
        return 1;
    ngx_ref_table(L, &s->var_ref);
    lua_pushvalue(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 0);  /* nil from now on */
    }
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    return 1;
}

/* The variables derived, not sent: 1 with the value pushed, 0 when NAME
 * is none of them. */
static int
ngx_var_derived(lua_State *L, struct ngx_state *s, struct request *r, const char *name, size_t len)
{
    const char *v;
    char buf[64];

    if (len > 4 && strncmp(name, "arg_", 4) == 0)
        return ngx_var_arg(L, s, r, name + 4, len - 4);
    if (len > 5 && strncmp(name, "http_", 5) == 0)
        return ngx_req_header(L, s, r, name + 5, len - 5);
    if (len > 7 && strncmp(name, "cookie_", 7) == 0)
        return ngx_var_cookie(L, s, r, name + 7, len - 7);
    if (strcmp(name, "args") == 0 || strcmp(name, "query_string") == 0) {
        size_t qlen;
        v = ngx_req_args(L, s, r, &qlen);
        /* as nginx: nil when the request had none, "" once set so */
        return ngx_var_push(L, qlen > 0 || s->args_ref != LUA_NOREF ? v : NULL, (long)qlen);
    }
    if (strcmp(name, "is_args") == 0) {
        size_t qlen;
        ngx_req_args(L, s, r, &qlen);
        return ngx_var_push(L, qlen > 0 ? "?" : "", -1);
    }
    if (strcmp(name, "uri") == 0)
        return ngx_var_uri(L, s, r);
    if (strcmp(name, "host") == 0)
        return ngx_var_host(L, r);
    if (strcmp(name, "request_method") == 0) {
        if (s->method_ref != LUA_NOREF) {
            ngx_push_ref(L, s->method_ref);
            return 1;
        }
        return ngx_var_push(L, r->vars.request_method, -1);
    }
    if (strcmp(name, "scheme") == 0) {
        if ((v = ngx_var_param(r, "REQUEST_SCHEME", 14)) != NULL)
            return ngx_var_push(L, v, -1);
        v = ngx_var_param(r, "HTTPS", 5);
        return ngx_var_push(L, v != NULL && strcasecmp(v, "on") == 0 ? "https" : "http", -1);
    }
    if (strcmp(name, "request_filename") == 0)
        return ngx_var_push(L, r->script ? r->script : r->vars.script_filename, -1);
    if (strcmp(name, "fastcgi_script_name") == 0)
        return ngx_var_push(L, r->vars.script_name, -1);
    if (strcmp(name, "fastcgi_path_info") == 0)
        return ngx_var_push(L, r->vars.path_info ? r->vars.path_info : "", -1);
    if (strcmp(name, "request_body") == 0) {
        if (ngx_req_body_push(L, s))
            return 1;
        if (!s->body_read || s->body_discarded || s->file_ref != LUA_NOREF ||
            r->vars.content_length == NULL || *r->vars.content_length == '\0' ||
            s->body_cap == NGX_BODY_NONE)
            return ngx_var_push(L, NULL, 0);        /* no Content-Length: no body buffer */
        return ngx_var_push(L, r->post.data ? r->post.data : "", (long)ngx_req_body_read_len(s, r));
    }
    if (strcmp(name, "content_type") == 0 || strcmp(name, "content_length") == 0)
        return ngx_var_entity(L, s, r, name, len);
    if (strcmp(name, "https") == 0) {               /* always defined in nginx */
        v = ngx_var_param(r, "HTTPS", 5);
        return ngx_var_push(L, v ? v : "", -1);
    }
    if (strcmp(name, "binary_remote_addr") == 0) {
        unsigned char a[16];
        v = ngx_var_param(r, "REMOTE_ADDR", 11);
        if (v != NULL && inet_pton(AF_INET, v, a) == 1)
            return ngx_var_push(L, (const char *)a, 4);
        if (v != NULL && inet_pton(AF_INET6, v, a) == 1)
            return ngx_var_push(L, (const char *)a, 16);
        return ngx_var_push(L, NULL, 0);
    }
    if (strcmp(name, "msec") == 0 || strcmp(name, "time_local") == 0 ||
        strcmp(name, "time_iso8601") == 0)
        return ngx_var_time(L, name);
    if (strcmp(name, "request_time") == 0) {
        long long us = monoclock_us() - r->began_us;
        snprintf(buf, sizeof(buf), "%lld.%03lld", us / 1000000, us / 1000 % 1000);
        return ngx_var_push(L, buf, -1);
    }
    if (strcmp(name, "pid") == 0) {
        snprintf(buf, sizeof(buf), "%ld", (long)getpid());
        return ngx_var_push(L, buf, -1);
    }
    if (strcmp(name, "hostname") == 0) {
        if (gethostname(buf, sizeof(buf)) < 0)
            return ngx_var_push(L, NULL, 0);
        buf[sizeof(buf) - 1] = '\0';
        return ngx_var_push(L, buf, -1);
    }
    if (strcmp(name, "request_id") == 0)
        return ngx_var_push(L, r->id, -1);
    return 0;
}

/* The name at 2, lower case, into BUF; its length. [-0, +0, v] */
static size_t
ngx_var_name(lua_State *L, char *buf, size_t size)
{
    size_t len, i;
    const char *k;

    if (lua_type(L, 2) != LUA_TSTRING)
        return (size_t)ngx_error_at(L, 2, "bad variable name");
    k = lua_tolstring(L, 2, &len);
    if (len == 0 || len >= size)
        return (size_t)ngx_error_at(L, 2, "bad variable name");
    for (i = 0; i < len; i++)
        buf[i] = ngx_lower(k[i]);
    buf[len] = '\0';
    return len;
}

/* The parameter sent for variable NAME, or NULL. A web server sends some
 * empty when nginx has no value for them (fastcgi_params: an anonymous
 * user, a request with no body): nginx reads those as nil. */
static const char *
ngx_var_sent(struct request *r, const char *name, size_t len)
{
    static const char *const unset_when_empty[] = { "remote_user", "content_type", "content_length", NULL };
    const char *v = ngx_var_upper(r, "", name, len, 0);
    int i;

    if (v != NULL && *v == '\0')
        for (i = 0; unset_when_empty[i] != NULL; i++)
            if (strcmp(name, unset_when_empty[i]) == 0)
                return NULL;
    return v;
}

/* ngx.var[name]. [-2, +1, e] */
static int
ngx_var_index(lua_State *L)
{
    struct request *r;
    struct ngx_state *s;
    char name[NGX_VAR_NAME_MAX];
    size_t len;

    luaL_checktype(L, 1, LUA_TTABLE);     /* a script can call it by its metatable */
    if (lua_type(L, 2) == LUA_TNUMBER || (lua_type(L, 2) == LUA_TSTRING && lua_objlen(L, 2) == 0)) {
        /* $1...: no regex location here; and no variable has no name */
        ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
        lua_pushnil(L);
        return 1;
    }
    r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    s = ngx_bound(L);
    len = ngx_var_name(L, name, sizeof(name));
    if (s->var_ref != LUA_NOREF) {
        ngx_push_ref(L, s->var_ref);
        lua_getfield(L, -1, name);
        if (lua_type(L, -1) == LUA_TBOOLEAN) {     /* set to nil */
            lua_pushnil(L);
            return 1;
        }
        if (!lua_isnil(L, -1))
            return 1;
        lua_pop(L, 2);
    }
    if (ngx_var_derived(L, s, r, name, len))
        return 1;
    return ngx_var_push(L, ngx_var_sent(r, name, len), -1);
}

/* ngx.var[name] = value. [-3, +0, e] */
static int
ngx_var_newindex(lua_State *L)
{
    struct request *r = ngx_check(L, NGX_IN_REQUEST | NGX_FAKE_REFUSED);
    struct ngx_state *s = ngx_bound(L);
    char name[NGX_VAR_NAME_MAX];
    int t = lua_type(L, 3);

    luaL_checktype(L, 1, LUA_TTABLE);     /* a script can call it by its metatable */
    (void)r;
    ngx_var_name(L, name, sizeof(name));
    if (t != LUA_TNIL && t != LUA_TSTRING && t != LUA_TNUMBER)
        return ngx_error_at(L, 2, "bad variable value");
    if (strcmp(name, "content_length") == 0 || strcmp(name, "content_type") == 0)
        return ngx_error_at(L, 2, "variable \"%s\" not changeable", name);
    if (strcmp(name, "args") == 0 || strcmp(name, "query_string") == 0) {
        ngx_unref(L, &s->args_ref);
        if (t == LUA_TNIL)
            lua_pushliteral(L, "");
        else
            lua_pushvalue(L, 3);
        lua_tostring(L, -1);
        s->args_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return 0;
    }
    ngx_ref_table(L, &s->var_ref);
    if (t == LUA_TNIL)
        lua_pushboolean(L, 0);     /* set to nothing: reads as nil from now on */
    else {
        lua_pushvalue(L, 3);
        lua_tostring(L, -1);
    }
    lua_setfield(L, -2, name);
    return 0;
}

void
ngx_var_install(lua_State *L)
{
    ngx_push_proxy(L, ngx_var_index, ngx_var_newindex);
    lua_setfield(L, -2, "var");
}
