/*
 * net_tcp.c: ngx.socket.tcp()'s class and its small methods
 * (settimeout(s), setoption, getoption, getreusedtimes, setkeepalive,
 * close), and ngx.socket.connect. The object's life is net_sock.c;
 * connecting is net_tcp_io.c, sending net_tcp_send.c, receiving
 * net_tcp_recv.c, TLS net_tls.c.
 *
 * Answers and error strings are ngx_lua's: nil and "closed" on a socket
 * that is not connected, "bad request" raised on one another request
 * made, errno's text in lower case for system errors ("connection
 * refused"). An operation that timed out marks the connection failed,
 * as any error does: setkeepalive then refuses it ("invalid connection"),
 * so nothing that went wrong is ever pooled. A receive that timed out
 * may be tried again; a send that timed out closes the write side.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf.h"
#include "net_impl.h"

static int
net_tcp_new(lua_State *L)
{
    return net_sock_create(L, 0);
}

/* A timeout argument as ngx_lua takes it: ms, 0 for the config's. */
static int
net_tcp_timeout_arg(lua_State *L, int idx)
{
    lua_Number t = lua_tonumber(L, idx);

    if (t < 0 || t >= 2147483648.0)
        net_error(L, "bad timeout value");
    return (int)t;
}

static int
net_tcp_settimeout(lua_State *L)
{
    struct net_sock *s;
    int ms;

    if (lua_gettop(L) != 2)
        return net_error(L, "ngx.socket settimeout: expecting 2 arguments (including the object) but seen %d",
                          lua_gettop(L));
    s = net_sock_check(L, 1, -1);
    ms = net_tcp_timeout_arg(L, 2);
    s->connect_ms = s->send_ms = s->read_ms = ms;
    return 0;
}

static int
net_tcp_settimeouts(lua_State *L)
{
    struct net_sock *s;

    if (lua_gettop(L) != 4)
        return net_error(L, "ngx.socket settimeouts: expecting 4 arguments (including the object) but seen %d",
                          lua_gettop(L));
    s = net_sock_check(L, 1, 0);
    s->connect_ms = net_tcp_timeout_arg(L, 2);
    s->send_ms = net_tcp_timeout_arg(L, 3);
    s->read_ms = net_tcp_timeout_arg(L, 4);
    return 0;
}

static const struct {
    const char *name;
    int         level;
    int         opt;
} net_tcp_options[] = {
    { "keepalive",   SOL_SOCKET,  SO_KEEPALIVE },
    { "reuseaddr",   SOL_SOCKET,  SO_REUSEADDR },
    { "tcp-nodelay", IPPROTO_TCP, TCP_NODELAY },
    { "sndbuf",      SOL_SOCKET,  SO_SNDBUF },
    { "rcvbuf",      SOL_SOCKET,  SO_RCVBUF },
    { NULL, 0, 0 }
};

/* The option named at 2, or -1 with nil and the error pushed. */
static int
net_tcp_option(lua_State *L, struct net_sock *s, int want_value)
{
    const char *name = lua_tostring(L, 2);
    int i;

    if (lua_isnil(L, 2) || lua_isnone(L, 2)) {
        lua_pushnil(L);
        lua_pushliteral(L, "missing the \"option\" argument");
        return -1;
    }
    if (want_value && lua_isnoneornil(L, 3)) {
        lua_pushnil(L);
        lua_pushliteral(L, "missing the \"value\" argument");
        return -1;
    }
    for (i = 0; name != NULL && net_tcp_options[i].name; i++)
        if (strcmp(name, net_tcp_options[i].name) == 0)
            break;
    if (name == NULL || net_tcp_options[i].name == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "unsupported option %s",
                        lua_isstring(L, 2) ? lua_tostring(L, 2) : luaL_typename(L, 2));
        return -1;
    }
    if (s->fd < 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        return -1;
    }
    return i;
}

static int
net_tcp_setoption(lua_State *L)
{
    struct net_sock *s = net_sock_check(L, 1, 0);
    int i, v;

    if ((i = net_tcp_option(L, s, 1)) < 0)
        return 2;
    v = lua_isboolean(L, 3) ? lua_toboolean(L, 3) : (int)lua_tointeger(L, 3);
    if (setsockopt(s->fd, net_tcp_options[i].level, net_tcp_options[i].opt, &v, sizeof(v)) < 0)
        return net_errno_push(L, errno);
    lua_pushboolean(L, 1);
    return 1;
}

static int
net_tcp_getoption(lua_State *L)
{
    struct net_sock *s = net_sock_check(L, 1, 0);
    socklen_t len;
    int i, v = 0;

    if ((i = net_tcp_option(L, s, 0)) < 0)
        return 2;
    len = sizeof(v);
    if (getsockopt(s->fd, net_tcp_options[i].level, net_tcp_options[i].opt, &v, &len) < 0)
        return net_errno_push(L, errno);
    lua_pushinteger(L, v);
    return 1;
}

static int
net_tcp_getreusedtimes(lua_State *L)
{
    struct net_sock *s;

    if (lua_gettop(L) != 1)
        return net_error(L, "expecting 1 argument (including the object), but got %d", lua_gettop(L));
    s = net_sock_check(L, 1, 0);
    if (s->fd < 0)
        return net_push_fail(L, "closed");
    lua_pushinteger(L, (lua_Integer)s->reused);
    return 1;
}

static int
net_tcp_close(lua_State *L)
{
    struct net_sock *s;
    const char *busy;

    if (lua_gettop(L) != 1)
        return net_error(L, "expecting 1 argument (including the object) but seen %d", lua_gettop(L));
    s = net_sock_check(L, 1, 0);
    if (s->fd < 0)
        return net_push_fail(L, "closed");
    if ((busy = net_sock_busy(s)) != NULL)
        return net_push_fail(L, busy);
    net_sock_close(s, 0);
    lua_pushinteger(L, 1);
    return 1;
}

/* setkeepalive's pool_size (argument 3, when N has it and it is not nil)
 * as ngx_lua takes it, or DFLT; clamped to an int's range. */
static int
net_tcp_keep_size(lua_State *L, int n, int dflt)
{
    lua_Integer v;

    if (n < 3 || lua_isnil(L, 3))
        return dflt;
    v = luaL_checkinteger(L, 3);
    return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

/* setkeepalive(timeout?, size?): into the daemon's pool, or why not. */
static int
net_tcp_setkeepalive(lua_State *L)
{
    struct net_sock *s;
    struct net_pooled c;
    struct conf *conf;
    long long idle_ms;
    int n = lua_gettop(L), size;
    const char *busy;
    char err[128], peek;
    ssize_t got;

    if (n < 1 || n > 3)
        return net_error(L, "expecting 1 to 3 arguments (including the object), but got %d", n);
    s = net_sock_check(L, 1, 0);
    idle_ms = n >= 2 && !lua_isnil(L, 2) ? (long long)luaL_checkinteger(L, 2) : -1;
    conf = conf_acquire();
    if (idle_ms < 0)
        idle_ms = (long long)conf->socket_keepalive_timeout * 1000;
    size = conf->socket_pool_size;
    conf_release(conf);
    if (s->fd < 0 || s->read_closed || s->write_closed)
        return net_push_fail(L, "closed");
    if ((busy = net_sock_busy(s)) != NULL)
        return net_push_fail(L, busy);
    /* as ngx_lua: a peer that closed makes it "closed" before unread data
     * counts, and leaves it the script's to close */
    if (s->eof || (s->in.len > 0 && s->ssl == NULL && recv(s->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 0))
        return net_push_fail(L, "closed");
    if (s->in.len > 0 || (s->ssl != NULL && SSL_pending(s->ssl) > 0))
        return net_push_fail(L, "unread data in buffer");
    if (s->failed)
        return net_push_fail(L, "invalid connection");
    if (s->key == NULL) {       /* its key could not be kept (out of memory) */
        net_sock_close(s, 0);
        lua_pushinteger(L, 1);
        return 1;
    }
    /* as ngx_lua, the size is read only for a pool not made yet */
    if (!net_pool_sized(s->key) && (size = net_tcp_keep_size(L, n, size)) <= 0)
        return net_argerror(L, n, lua_pushfstring(L, "bad \"pool_size\" option value: %d", size));
    /* the server closed it, or sent what nobody asked for: not kept. As
     * ngx_lua (its read->ready), only when a poll said it was readable
     * since the last read found nothing: otherwise net_pool_take's own
     * look before handing it out is the one that catches it */
    got = -1;
    errno = EAGAIN;
    if (!s->rdry || s->ssl != NULL)
        got = recv(s->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        return net_push_fail(L, "closed");     /* reset too: the script's to close */
    if (got > 0) {
        net_sock_close(s, 0);
        return net_push_fail(L, "connection in dubious state");
    }
    c.fd = s->fd;
    c.ssl = s->ssl;
    c.reused = s->reused;
    if (net_pool_put(s->key, &c, idle_ms, size, err, sizeof(err)) < 0) {
        net_sock_close(s, 0);
        lua_pushinteger(L, 1);      /* ngx_lua closes a connection it cannot keep: no error */
        return 1;
    }
    net_sock_close(s, 1);
    lua_pushinteger(L, 1);
    return 1;
}

/* ngx.socket.connect(host, port?, opts?): a new socket, connected, or
 * nil and why. [-n, +1|2, e] */
static int
net_tcp_connect_new(lua_State *L)
{
    struct net_state *ns = lua_touserdata(L, lua_upvalueindex(1));
    int i, n = lua_gettop(L);

    if (n < 1 || n > 3)
        return net_error(L, "ngx.socket connect: expecting 1, 2, or 3 arguments, but seen %d", n);
    net_sock_new(L, ns, 0);                     /* n + 1 */
    lua_pushvalue(L, lua_upvalueindex(2));      /* the connect method (its loop) */
    lua_pushvalue(L, n + 1);
    for (i = 1; i <= n; i++)
        lua_pushvalue(L, i);
    lua_call(L, n + 1, 2);
    if (lua_isnil(L, -2))
        return 2;
    lua_pop(L, 2);
    return 1;
}

static const luaL_Reg net_tcp_plain[] = {
    { "settimeout",     net_tcp_settimeout },
    { "settimeouts",    net_tcp_settimeouts },
    { "setoption",      net_tcp_setoption },
    { "getoption",      net_tcp_getoption },
    { "getreusedtimes", net_tcp_getreusedtimes },
    { "setkeepalive",   net_tcp_setkeepalive },
    { "close",          net_tcp_close },
    { NULL, NULL }
};

/* tcp, connect and stream into the socket table on top, and the class. [-0, +0, m] */
void
net_tcp_register(lua_State *L, struct net_state *ns)
{
    const luaL_Reg *r;

    luaL_newmetatable(L, NET_TCP_CLASS);
    lua_newtable(L);            /* the methods */
    for (r = net_tcp_plain; r->name; r++)
        net_push_method(L, ns, r->name, r->func, NULL);
    net_push_method(L, ns, "connect", net_tcp_connect, net_tcp_connect_cont);
    net_push_method(L, ns, "send", net_tcp_send, net_tcp_send_cont);
    net_push_method(L, ns, "receive", net_tcp_receive, net_tcp_recv_cont);
    net_push_method(L, ns, "receiveany", net_tcp_receiveany, net_tcp_recv_cont);
    net_push_method(L, ns, "sslhandshake", net_tls_handshake, net_tls_handshake_cont);
    net_push_method(L, ns, "receiveuntil", net_tcp_receiveuntil, NULL);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    lua_pushlightuserdata(L, ns);
    lua_pushcclosure(L, net_tcp_new, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "tcp");
    lua_setfield(L, -2, "stream");

    luaL_getmetatable(L, NET_TCP_CLASS);
    lua_getfield(L, -1, "__index");
    lua_pushlightuserdata(L, ns);
    lua_getfield(L, -2, "connect");
    lua_pushcclosure(L, net_tcp_connect_new, 2);
    lua_setfield(L, -4, "connect");
    lua_pop(L, 2);
}
