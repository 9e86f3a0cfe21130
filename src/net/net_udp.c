/*
 * net_udp.c: ngx.socket.udp(): setpeername, send, receive, settimeout,
 * close, with ngx_lua's answers.
 *
 * A datagram socket connected to one peer (a name resolved within the
 * read timeout, or "unix:/path"); receive waits, as every wait here
 * does, at most its timeout and never past the request's deadline. A
 * datagram read is at most `size` bytes (default and at most 65536, as
 * ngx_lua's), read into the socket's in buffer, which counts toward
 * `memory` as the tcp reads' does. send takes what tcp's send takes
 * (net_send_flatten): one datagram of the flattened value.
 *
 * A unix datagram socket is autobound on Linux, as nginx's are, so the
 * peer has an address to answer to.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "net_impl.h"
#include "state.h"

static int
net_udp_new(lua_State *L)
{
    return net_sock_create(L, 1);
}

/*
 * Bind the unix datagram socket FD to an address of the kernel's choice,
 * as nginx does, so that the peer's answers have somewhere to go. Only
 * Linux autobinds (a bind of just the family); elsewhere the socket stays
 * unbound, as nginx's does there, and a peer can not answer. 0 or -1.
 */
static int
net_udp_autobind(int fd)
{
#ifdef __linux__
    struct sockaddr_un un;

    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    return bind(fd, (struct sockaddr *)&un, sizeof(sa_family_t));
#else
    (void)fd;
    return 0;
#endif
}

/* udpsock:setpeername(host, port?) or ("unix:/path"). */
static int
net_udp_setpeername(lua_State *L)
{
    struct sockaddr_storage ss;
    struct net_sock *s;
    const char *host;
    unsigned sslen = 0;
    char err[512];
    int n = lua_gettop(L), port = 0, fd;
    size_t hlen;

    if (n != 2 && n != 3)
        return net_error(L, "ngx.socket udp setpeername: expecting 2 or 3 arguments (including the object), but seen %d", n);
    s = net_sock_check(L, 1, 1);
    host = luaL_checklstring(L, 2, &hlen);
    /* as ngx_lua's: a missing port is port 0, which connect takes (a
     * send then goes nowhere: the receive after it is refused) */
    if (n == 3) {
        port = (int)luaL_checkinteger(L, 3);
        if (port < 0 || port > 65535) {
            lua_pushnil(L);
            lua_pushfstring(L, "bad port number: %d", port);
            return 2;
        }
    }
    if (s->fd >= 0)
        net_sock_close(s, 0);
    if (hlen >= 5 && strncasecmp(host, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        if (hlen - 5 >= sizeof(un->sun_path))
            return net_push_fail(L, "path too long");
        memset(un, 0, sizeof(*un));
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, host + 5, hlen - 5);
        sslen = sizeof(*un);
    } else {
        s->deadline = net_op_deadline(s->read_ms ? s->read_ms : s->dflt_ms);
        if (net_resolve(host, port, net_capped(L, s->deadline), &ss, &sslen, err, sizeof(err)) != 0) {
            if (state_time_left(L) == 0)
                return state_raise_timeout(L);
            return net_push_fail(L, err);
        }
    }
    if ((fd = net_sock_room(s->ns)) != 0)
        return net_errno_push(L, fd);
    if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        return net_errno_push(L, errno);
    if (ss.ss_family == AF_UNIX && net_udp_autobind(fd) < 0) {
        int e = errno;
        close(fd);
        return net_errno_push(L, e);
    }
    if (connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
        int e = errno;
        close(fd);
        return net_errno_push(L, e);
    }
    s->fd = fd;
    s->serial = s->ns->serial;
    s->next = s->ns->socks;
    if (s->ns->socks != NULL)
        s->ns->socks->prev = s;
    s->ns->socks = s;
    lua_pushinteger(L, 1);
    return 1;
}

/* udpsock:send(data): what tcp's send takes (a string, number, boolean,
 * nil, or nested array tables of those), as one datagram. [-0, +1|2, e] */
static int
net_udp_send(lua_State *L)
{
    struct net_sock *s;
    ssize_t put;
    int e;

    if (lua_gettop(L) != 2)
        return net_error(L, "expecting 2 arguments (including the object), but got %d", lua_gettop(L));
    s = net_sock_check(L, 1, 1);
    if (s->fd < 0)
        return net_push_fail(L, "closed");
    s->out.len = 0;
    s->out.start = 0;
    net_send_flatten(L, &s->out, 2, 0);
    put = send(s->fd, s->out.len > 0 ? s->out.data : "", s->out.len, MSG_NOSIGNAL);
    e = errno;
    /* a datagram is not kept: its room goes back to `memory` */
    net_buf_free(L, &s->out);
    if (put < 0)
        return net_errno_push(L, e);
    lua_pushinteger(L, 1);
    return 1;
}

/* udpsock:receive(size?): one datagram. [-n, +1|2, e] (may answer NET_AGAIN) */
static int
net_udp_receive(lua_State *L)
{
    struct net_sock *s;
    lua_Number size = LF_NET_UDP_DATAGRAM;
    ssize_t got;

    if (lua_gettop(L) > 2)
        return net_error(L, "expecting 1 or 2 arguments (including the object), but got %d", lua_gettop(L));
    s = net_sock_check(L, 1, 1);
    if (s->fd < 0)
        return net_push_fail(L, "closed");
    if (lua_gettop(L) == 2 && !lua_isnil(L, 2)) {
        size = luaL_checknumber(L, 2);
        if (size < 0)
            return net_error(L, "bad argument #1 to 'receive' (bad size)");
        if (size > LF_NET_UDP_DATAGRAM || size != size)     /* NaN: ngx_lua's reads the most */
            size = LF_NET_UDP_DATAGRAM;
    }
    if (s->rop != NET_OP_RECV) {
        s->rop = NET_OP_RECV;
        s->rdeadline = net_op_deadline(s->read_ms ? s->read_ms : s->dflt_ms);
    }
    /* the in buffer holds no bytes between datagrams: room for one (the
     * buffer doubles from LF_NET_READ_CHUNK: 65536 is 64 KiB, not 128) */
    s->in.len = 0;
    s->in.start = 0;
    if (net_buf_reserve(L, &s->in, size > 0 ? (size_t)size : 1) < 0)
        return net_nomem(L);
    for (;;) {
        got = recv(s->fd, s->in.data, (size_t)size, 0);
        if (got >= 0) {
            s->rop = NET_OP_NONE;
            lua_pushlstring(L, s->in.data, (size_t)got);
            return 1;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            s->rop = NET_OP_NONE;
            return net_errno_push(L, errno);
        }
        switch (net_wait(L, s->ns, s, s->fd, POLLIN, s->rdeadline)) {
        case NET_YIELD:
            NET_AGAIN_PUSH(L);
            return 1;
        case NET_TIMEDOUT:
            s->rop = NET_OP_NONE;
            return net_push_fail(L, "timeout");
        }
    }
}

/* After a yield: receive again, with the size asked for at first? The
 * loop passes only the object: the default size then, which is why a
 * size is kept in recv_want. */
static int
net_udp_receive_cont(lua_State *L)
{
    struct net_sock *s = net_sock_check(L, 1, 1);

    lua_settop(L, 1);
    lua_pushinteger(L, (lua_Integer)s->recv_want);
    return net_udp_receive(L);
}

static int
net_udp_receive_first(lua_State *L)
{
    struct net_sock *s = net_sock_check(L, 1, 1);
    lua_Number want = lua_gettop(L) >= 2 && lua_isnumber(L, 2) ? lua_tonumber(L, 2) : LF_NET_UDP_DATAGRAM;

    s->recv_want = want > LF_NET_UDP_DATAGRAM || want != want ? LF_NET_UDP_DATAGRAM : want < 0 ? 0 : (size_t)want;
    s->rop = NET_OP_NONE;
    return net_udp_receive(L);
}

static int
net_udp_close(lua_State *L)
{
    struct net_sock *s;

    if (lua_gettop(L) != 1)
        return net_error(L, "ngx.socket udp close: expecting 1 argument (including the object) but seen %d",
                          lua_gettop(L));
    s = net_sock_check(L, 1, 1);
    if (s->fd < 0)
        return net_push_fail(L, "closed");
    net_sock_close(s, 0);
    lua_pushinteger(L, 1);
    return 1;
}

static int
net_udp_settimeout(lua_State *L)
{
    struct net_sock *s;
    lua_Number t;

    if (lua_gettop(L) != 2)
        return net_error(L, "ngx.socket settimout: expecting at least 2 arguments (including the object) but seen %d",
                          lua_gettop(L));
    s = net_sock_check(L, 1, 1);
    t = lua_tonumber(L, 2);
    if (t < 0 || t >= 2147483648.0)
        return net_error(L, "bad timeout value");
    s->read_ms = s->send_ms = s->connect_ms = (int)t;
    return 0;
}

void
net_udp_register(lua_State *L, struct net_state *ns)
{
    luaL_newmetatable(L, NET_UDP_CLASS);
    lua_newtable(L);
    net_push_method(L, ns, "setpeername", net_udp_setpeername, NULL);
    net_push_method(L, ns, "send", net_udp_send, NULL);
    net_push_method(L, ns, "receive", net_udp_receive_first, net_udp_receive_cont);
    net_push_method(L, ns, "settimeout", net_udp_settimeout, NULL);
    net_push_method(L, ns, "close", net_udp_close, NULL);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushlightuserdata(L, ns);
    lua_pushcclosure(L, net_udp_new, 1);
    lua_setfield(L, -2, "udp");
}
