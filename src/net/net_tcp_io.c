/*
 * net_tcp_io.c: connecting, and the non-blocking steps that every
 * operation is made of (plain, or through TLS once sslhandshake
 * succeeded); sending is net_tcp_send.c's, receiving net_tcp_recv.c's.
 *
 * connect looks in the daemon's pool first, as ngx_lua does, before it
 * resolves anything: a kept connection to "host:port" (or to the `pool`
 * name) is taken as it is. A new one is resolved within the connect
 * timeout (net_resolve.c), opened non-blocking and close-on-exec (no
 * child of os.execute, no upgraded binary inherits it), and waited for
 * through net_wait. With `backlog`, at most `pool_size` connections of a
 * key are open at once and up to `backlog` connects wait their turn
 * (net_pool_admit).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf.h"
#include "monoclock.h"
#include "net_impl.h"
#include "state.h"

/* What a plain socket's recv or send returned (GOT), as net_io_read
 * answers: itself, -2 when it would block (*WANT = AWAIT), -1 on an
 * error. */
static ssize_t
net_io_plain(ssize_t got, short await, short *want)
{
    if (got >= 0)
        return got;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        *want = await;
        return -2;
    }
    return -1;
}

/* Does TLS's ERR (SSL_get_error's) ask to wait for the socket? Then 1,
 * with *WANT what to poll for. */
static int
net_io_tls_wants(int err, short *want)
{
    if (err == SSL_ERROR_WANT_READ)
        *want = POLLIN;
    else if (err == SSL_ERROR_WANT_WRITE)
        *want = POLLOUT;
    else
        return 0;
    return 1;
}

/* N bytes as one TLS call takes them: at most INT_MAX. */
static int
net_io_tls_len(size_t n)
{
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* Up to N bytes read: how many, 0 at the end of the stream, -2 when it
 * would block (*WANT: what to poll for), -1 on an error (errno), -4 on a
 * TLS failure. */
ssize_t
net_io_read(struct net_sock *s, char *p, size_t n, short *want)
{
    ssize_t got;
    int err;

    if (s->ssl == NULL)
        return net_io_plain(recv(s->fd, p, n, 0), POLLIN, want);
    ERR_clear_error();
    got = SSL_read(s->ssl, p, net_io_tls_len(n));
    if (got > 0)
        return got;
    if (net_io_tls_wants(err = SSL_get_error(s->ssl, (int)got), want))
        return -2;
    switch (err) {
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            return 0;
        return -1;
    default:
        /* the peer went without close_notify: an end, as nginx takes it
         * (an OpenSSL without SSL_OP_IGNORE_UNEXPECTED_EOF, net_tls.c); a
         * record that fails its check or any other TLS failure is an
         * error, never a clean end */
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            return 0;
#endif
        return -4;
    }
}

/* As net_io_read, writing. */
ssize_t
net_io_write(struct net_sock *s, const char *p, size_t n, short *want)
{
    ssize_t put;

    if (s->ssl == NULL)
        return net_io_plain(send(s->fd, p, n, MSG_NOSIGNAL), POLLOUT, want);
    ERR_clear_error();
    put = SSL_write(s->ssl, p, net_io_tls_len(n));
    if (put > 0)
        return put;
    if (net_io_tls_wants(SSL_get_error(s->ssl, (int)put), want))
        return -2;
    if (errno == 0)
        errno = EPIPE;
    return -1;
}

/*
 * One read into S's buffer: as net_io_read (1 for data), or -3 over
 * `memory`. A plain socket whose last read came back short (its kernel
 * buffer emptied) is not read again before a poll says it may: a request
 * and its reply would otherwise cost a read that fails every time, as
 * the reply is still on its way (nginx keeps the same flag, rev->ready).
 * TLS reads always: the library may hold a record already read.
 */
int
net_io_fill(lua_State *L, struct net_sock *s, short *want)
{
    ssize_t got;
    size_t room;

    if (s->rdry && s->ssl == NULL) {
        *want = POLLIN;
        return -2;
    }
    if (net_buf_reserve(L, &s->in, LF_NET_READ_CHUNK) < 0)
        return -3;
    room = s->in.cap - s->in.start - s->in.len;
    got = net_io_read(s, s->in.data + s->in.start + s->in.len, room, want);
    if (got > 0)
        s->in.len += (size_t)got;
    else if (got == 0)
        s->eof = 1;
    s->rdry = got == -2 || (got > 0 && (size_t)got < room);
    return (int)(got > 0 ? 1 : got);
}

/* ---- connect ------------------------------------------------------ */

/* Link S, now open on FD under KEY, into its state's sockets; counted in
 * use under KEY, unless the pool did (COUNTED: a kept one, taken). */
static void
net_tcp_opened(struct net_sock *s, int fd, const char *key, int counted)
{
    struct net_state *ns = s->ns;

    s->fd = fd;
    s->serial = ns->serial;
    s->rdry = 0;
    if (s->key != key) {
        free(s->key);
        s->key = strdup(key);
    }
    net_sock_link(s);
    if (s->key != NULL) {
        if (!counted)
            net_pool_busy(s->key, 1);
        s->counted = 1;
    } else if (counted)
        net_pool_busy(key, -1);     /* no key to give it back under later */
    net_sock_settle(s);         /* counted busy now: no longer pending */
}

/* S takes PC, a connection kept in the pool under KEY: sock:connect's
 * answer. [-0, +1, m] */
static int
net_tcp_reuse(lua_State *L, struct net_sock *s, const char *key, const struct net_pooled *pc)
{
    net_tcp_opened(s, pc->fd, key, 1);
    s->ssl = pc->ssl;
    s->rdry = 1;                /* net_pool_take's look found nothing */
    s->reused = pc->reused + 1;
    net_pool_count(key, NET_COUNT_REUSE);
    lua_pushinteger(L, 1);
    return 1;
}

/* The connect is over: its answer. [-0, +1|2] */
static int
net_tcp_connected(lua_State *L, struct net_sock *s, int err, const char *why)
{
    s->op = NET_OP_NONE;
    if (err == 0 && why == NULL) {
        net_pool_count(s->key, NET_COUNT_CONNECT);
        lua_pushinteger(L, 1);
        return 1;
    }
    if (why != NULL)
        net_sock_push_error(L, s, why);
    else
        net_errno_push(L, err);
    net_sock_close(s, 0);
    return 2;
}

/* Wait for S's connect to end. [-0, +1|2, e] */
static int
net_tcp_connect_wait(lua_State *L, struct net_sock *s)
{
    socklen_t len = sizeof(int);
    int err = 0;

    switch (net_wait(L, s->ns, s, s->fd, POLLOUT, s->deadline)) {
    case NET_YIELD:
        NET_AGAIN_PUSH(L);
        return 1;
    case NET_TIMEDOUT:
        return net_tcp_connected(L, s, 0, "timeout");
    }
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    return net_tcp_connected(L, s, err, NULL);
}

static int net_tcp_admit(lua_State *L, struct net_sock *s);

int
net_tcp_connect_cont(lua_State *L)
{
    struct net_sock *s = net_sock_check(L, 1, 0);

    lua_settop(L, 1);
    if (s->op == NET_OP_ADMIT)
        return net_tcp_admit(L, s);
    if (s->op != NET_OP_CONNECT || s->fd < 0)
        return net_sock_push_error(L, s, "closed");
    return net_tcp_connect_wait(L, s);
}

struct net_connect_opts {
    int pool_size;              /* 0: not given */
    int backlog;                /* -1: not given */
};

/* The options table at N, as ngx_lua reads it; the pool name, if any,
 * is left on top (else nothing is pushed). [-0, +0|1, v] */
static int
net_tcp_opts(lua_State *L, int n, struct net_connect_opts *o)
{
    int custom = 0;

    o->pool_size = 0;
    o->backlog = -1;
    lua_getfield(L, n, "pool_size");
    if (lua_isnumber(L, -1)) {
        o->pool_size = (int)lua_tointeger(L, -1);
        if (o->pool_size <= 0)
            net_argerror(L, n, lua_pushfstring(L, "bad \"pool_size\" option value: %d", o->pool_size));
    } else if (!lua_isnil(L, -1))
        net_argerror(L, n, lua_pushfstring(L, "bad \"pool_size\" option type: %s", luaL_typename(L, -1)));
    lua_pop(L, 1);
    lua_getfield(L, n, "backlog");
    if (lua_isnumber(L, -1)) {
        o->backlog = (int)lua_tointeger(L, -1);
        if (o->backlog < 0)
            net_argerror(L, n, lua_pushfstring(L, "bad \"backlog\" option value: %d", o->backlog));
    }
    lua_pop(L, 1);
    lua_getfield(L, n, "pool");
    switch (lua_type(L, -1)) {
    case LUA_TNUMBER:
        lua_tostring(L, -1);
        /* fall through */
    case LUA_TSTRING:
        custom = 1;
        break;
    case LUA_TNIL:
        lua_pop(L, 1);
        break;
    default:
        net_argerror(L, n, lua_pushfstring(L, "bad \"pool\" option type: %s", luaL_typename(L, -1)));
    }
    return custom;
}

/* A unix socket's address for "unix:/path". 0, or -1 (too long). */
static int
net_tcp_unix(const char *host, struct sockaddr_storage *ss, unsigned *len)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    const char *path = host + 5;

    if (strlen(path) >= sizeof(un->sun_path))
        return -1;
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, strlen(path));
    *len = (unsigned)sizeof(*un);
    return 0;
}

/* A new connection for S to HOST (PORT) under KEY. [-0, +1|2, e] */
static int
net_tcp_open(lua_State *L, struct net_sock *s, const char *host, int port, const char *key)
{
    struct sockaddr_storage ss;
    unsigned sslen = 0;
    char err[512];
    int fd;

    if (port == 0) {
        if (net_tcp_unix(host, &ss, &sslen) < 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "failed to parse host name \"%s\": path too long", host);
            return 2;
        }
    } else if (net_resolve(host, port, net_capped(L, s->deadline), &ss, &sslen, err,
                           sizeof(err)) != 0) {
        if (net_request_deadline(L) && monoclock_ms() >= net_request_deadline(L))
            return state_raise_timeout(L);
        return net_push_fail(L, err);
    }
    if ((fd = net_sock_room(s->ns)) != 0)
        return net_errno_push(L, fd);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return net_errno_push(L, errno);
    net_tcp_opened(s, fd, key, 0);
    s->op = NET_OP_CONNECT;
    if (connect(fd, (struct sockaddr *)&ss, sslen) == 0)
        return net_tcp_connected(L, s, 0, NULL);
    /* EAGAIN is no connect in progress: a unix socket's full listen
     * queue (or no local port left), a failure as nginx takes it */
    if (errno != EINPROGRESS)
        return net_tcp_connected(L, s, errno, NULL);
    return net_tcp_connect_wait(L, s);
}

/*
 * S's connect waits its turn under backlog (net_pool_admit), as any wait:
 * within its connect timeout and the request's deadline, the light
 * threads running meanwhile, or yielding (NET_AGAIN) in one that can.
 * The pool has no descriptor to wake it: it looks again every
 * LF_NET_ADMIT_MS. Once admitted, a kept connection or a new one, with
 * the admission held until that one is counted busy. [-0, +1|2, e]
 */
static int
net_tcp_admit(lua_State *L, struct net_sock *s)
{
    struct net_pooled pc;
    const char *key, *host;
    long long step;
    int rc, n;

    for (;;) {
        rc = net_pool_admit(s->key, s->qsize, s->qbacklog, &s->queued, &pc);
        if (rc == 0 || rc == 2)
            break;
        if (rc < 0 || monoclock_ms() >= s->deadline) {
            if (rc > 0)
                net_sock_push_error(L, s, "timeout");
            net_sock_close(s, 0);
            if (rc > 0)
                return 2;
            return net_push_fail(L, "too many waiting connect operations");
        }
        step = monoclock_ms() + LF_NET_ADMIT_MS;
        if (net_wait(L, s->ns, s, -1, 0, step < s->deadline ? step : s->deadline) == NET_YIELD) {
            NET_AGAIN_PUSH(L);
            return 1;
        }
    }
    s->admitted = 1;
    s->op = NET_OP_NONE;
    lua_pushstring(L, s->key);
    key = lua_tostring(L, -1);
    lua_pushstring(L, s->qhost);
    host = lua_tostring(L, -1);
    if (rc == 2)
        return net_tcp_reuse(L, s, key, &pc);
    n = net_tcp_open(L, s, host, s->qport, key);
    if (s->fd < 0)
        net_sock_close(s, 0);   /* failed before it opened: the turn goes on */
    return n;
}

/* sock:connect(host, port?, opts?). [-n, +1|2, e] (may answer NET_AGAIN) */
int
net_tcp_connect(lua_State *L)
{
    struct net_connect_opts o = { 0, -1 };
    struct net_pooled pc;
    struct net_sock *s;
    const char *host, *key;
    size_t hlen;
    int n = lua_gettop(L), port = 0, custom = 0;

    if (n < 2 || n > 4)
        return net_error(L, "ngx.socket connect: expecting 2, 3, or 4 arguments (including the object), but seen %d", n);
    s = net_sock_check(L, 1, 0);
    if (lua_type(L, 2) != LUA_TSTRING)
        return net_argerror(L, 2, lua_pushfstring(L, "string expected, got %s", luaL_typename(L, 2)));
    host = lua_tolstring(L, 2, &hlen);
    if (lua_type(L, n) == LUA_TTABLE) {
        custom = net_tcp_opts(L, n, &o);
        if (custom)
            lua_replace(L, n);      /* the pool name in the options' place */
        else
            lua_settop(L, n - 1);
        n--;
    }
    if (n >= 3 && lua_isnumber(L, 3)) {
        port = (int)lua_tointeger(L, 3);
        if (port < 0 || port > 65535) {
            lua_pushnil(L);
            lua_pushfstring(L, "bad port number: %d", port);
            return 2;
        }
    } else if (!(hlen >= 5 && strncasecmp(host, "unix:", 5) == 0)) {
        return net_push_fail(L, "missing the port number");
    }
    /* the pool's key: ngx_lua's */
    if (custom)
        key = lua_tostring(L, n + 1);
    else if (n >= 3 && lua_isnumber(L, 3)) {
        char buf[256];

        /* lua_pushfstring's %d goes through a Lua number and printf's
         * floating point: at every connect */
        if (hlen < sizeof(buf) - 8 && strlen(host) == hlen) {
            snprintf(buf, sizeof(buf), "%s:%d", host, port);
            lua_pushstring(L, buf);
            key = lua_tostring(L, -1);
        } else
            key = lua_pushfstring(L, "%s:%d", host, port);
    }
    else
        key = host;
    if (strncasecmp(host, "unix:", 5) == 0)
        port = 0;
    if (s->op == NET_OP_ADMIT)
        return net_sock_push_error(L, s, "socket busy connecting");
    if (s->fd >= 0) {
        if (s->op != NET_OP_NONE)
            return net_sock_push_error(L, s, "socket busy connecting");
        /* another light thread reads it: as ngx_lua, not closed under it */
        if (s->rop != NET_OP_NONE)
            return net_sock_push_error(L, s, "socket busy reading");
        net_sock_close(s, 0);
    }
    s->serial = s->ns->serial;
    s->failed = 0;
    if (net_pool_take(key, &pc) == 1)
        return net_tcp_reuse(L, s, key, &pc);
    s->reused = 0;
    s->deadline = net_op_deadline(s->connect_ms ? s->connect_ms : s->dflt_ms);
    if (o.pool_size > 0)
        net_pool_size(key, o.pool_size);
    if (o.backlog >= 0) {
        struct conf *c = conf_acquire();

        s->qsize = o.pool_size ? o.pool_size : c->socket_pool_size;
        conf_release(c);
        free(s->key);
        s->key = strdup(key);
        s->qhost = strdup(host);
        if (s->key == NULL || s->qhost == NULL) {
            net_sock_close(s, 0);
            return net_nomem(L);
        }
        s->qport = port;
        s->qbacklog = o.backlog;
        s->op = NET_OP_ADMIT;
        net_sock_link(s);
        return net_tcp_admit(L, s);
    }
    return net_tcp_open(L, s, host, port, key);
}
