/*
 * net_sock.c: the life of a socket object, TCP or UDP: making one,
 * checking one a script hands back, linking it among its state's open
 * sockets (the request's end closes them), closing it and its finalizer;
 * and the answers every socket method shares (nil and the error, errno's
 * text, the default timeouts).
 *
 * An object is what ngx_lua makes: a table holding a userdata at [1],
 * methods through the table's metatable. The userdata's own metatable is
 * never handed out, so a method can tell a socket from anything a script
 * forges. Its finalizer closes the descriptor (C only).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "conf.h"
#include "monoclock.h"
#include "net_impl.h"

#define NET_SOCK_MT     "luafcgid.net.sock"     /* the userdata's */

/* The config's default (ms) for WHICH (NET_TIMEOUT_*). */
int
net_timeout_default(int which)
{
    struct conf *c = conf_acquire();
    int s = c != NULL ? c->socket_timeout : LF_DEFAULT_SOCKET_TIMEOUT;

    (void)which;
    if (c != NULL)
        conf_release(c);
    return s * 1000;
}

/* The deadline of an operation that may take MS (ms). */
long long
net_op_deadline(int ms)
{
    return monoclock_ms() + (ms > 0 ? ms : 1);
}

/* nil and errno ERR's text in lower case, as ngx_lua gives it. [-0, +2] */
int
net_errno_push(lua_State *L, int err)
{
    char msg[256];
    size_t i;

    snprintf(msg, sizeof(msg), "%s", strerror(err));
    for (i = 0; msg[i]; i++)
        if (msg[i] >= 'A' && msg[i] <= 'Z')
            msg[i] = (char)(msg[i] - 'A' + 'a');
    return net_push_fail(L, msg);
}

static void
net_sock_unlink(struct net_sock *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else if (s->ns->socks == s)
        s->ns->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

/* S among its state's open sockets (once: unlinked first), so that the
 * request's end closes it. */
void
net_sock_link(struct net_sock *s)
{
    net_sock_unlink(s);
    s->next = s->ns->socks;
    if (s->ns->socks != NULL)
        s->ns->socks->prev = s;
    s->ns->socks = s;
}

/* S no longer waits its turn under backlog, nor holds an admission. */
void
net_sock_settle(struct net_sock *s)
{
    if (s->queued && s->key != NULL)
        net_pool_unqueue(s->key);
    if (s->admitted && s->key != NULL)
        net_pool_leave(s->key);
    s->queued = s->admitted = 0;
    free(s->qhost);
    s->qhost = NULL;
}

/* May NS open one more socket (LF_STATE_SOCKETS)? 0, or EMFILE, as
 * socket() says when the process has none left. */
int
net_sock_room(const struct net_state *ns)
{
    const struct net_sock *s;
    int n = 0;

    for (s = ns->socks; s != NULL; s = s->next)
        if (s->fd >= 0 && ++n >= LF_STATE_SOCKETS)
            return EMFILE;
    return 0;
}

/* Close S (or, with POOL_IT, only forget it: the pool has its
 * descriptor). Its buffers go back to the state. */
void
net_sock_close(struct net_sock *s, int pool_it)
{
    lua_State *L = s->ns->main;

    net_sock_settle(s);
    if (s->fd < 0)
        net_sock_unlink(s);     /* waiting its turn: linked, no descriptor */
    if (s->fd >= 0) {
        if (s->counted)
            net_pool_busy(s->key, -1);
        if (!pool_it) {
            if (s->ssl != NULL)
                net_tls_free(s->ssl, !s->failed);
            close(s->fd);
        }
        net_sock_unlink(s);
    }
    s->fd = -1;
    s->ssl = NULL;
    s->counted = 0;
    s->op = NET_OP_NONE;
    s->rop = NET_OP_NONE;
    s->read_closed = s->write_closed = s->eof = 0;
    free(s->key);
    s->key = NULL;
    free(s->hs_name);
    s->hs_name = NULL;
    net_buf_free(L, &s->in);
    net_buf_free(L, &s->out);
}

static int
net_sock_gc(lua_State *L)
{
    struct net_sock *s = lua_touserdata(L, 1);

    if (s != NULL && s->ns != NULL)
        net_sock_close(s, 0);
    return 0;
}

/* A new object: { [1] = userdata } with the class of UDP or TCP. [-0, +1, m] */
struct net_sock *
net_sock_new(lua_State *L, struct net_state *ns, int udp)
{
    struct net_sock *s;

    lua_createtable(L, 3, 0);
    s = lua_newuserdata(L, sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->ns = ns;
    s->fd = -1;
    s->udp = udp;
    s->serial = ns->serial;
    s->dflt_ms = net_timeout_default(NET_TIMEOUT_READ);
    luaL_getmetatable(L, NET_SOCK_MT);
    lua_setmetatable(L, -2);
    lua_rawseti(L, -2, 1);
    luaL_getmetatable(L, udp ? NET_UDP_CLASS : NET_TCP_CLASS);
    lua_setmetatable(L, -2);
    return s;
}

/* The socket of the object at IDX, of the right kind (UDP 1, TCP 0, any
 * -1); raises on anything
 * else, and "bad request" on one another request made. [-0, +0, v] */
struct net_sock *
net_sock_check(lua_State *L, int idx, int udp)
{
    struct net_sock *s = NULL;
    int ours = 0;

    if (lua_type(L, idx) != LUA_TTABLE)
        net_argerror(L, idx, lua_pushfstring(L, "table expected, got %s", luaL_typename(L, idx)));
    lua_rawgeti(L, idx, 1);
    if (lua_type(L, -1) == LUA_TUSERDATA && lua_getmetatable(L, -1)) {
        luaL_getmetatable(L, NET_SOCK_MT);
        ours = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        s = lua_touserdata(L, -1);
    }
    lua_pop(L, 1);
    if (!ours || (udp >= 0 && s->udp != udp))
        net_argerror(L, idx, udp ? "udp socket expected" : "tcp socket expected");
    if (s->fd >= 0 && s->serial != s->ns->serial)
        net_error(L, "bad request");
    return s;
}

/* nil and ERR, counting a timeout under the socket's key. [-0, +2] */
int
net_sock_push_error(lua_State *L, struct net_sock *s, const char *err)
{
    if (strcmp(err, "timeout") == 0 && s->key != NULL)
        net_pool_count(s->key, NET_COUNT_TIMEOUT);
    return net_push_fail(L, err);
}

/* nil and ERR, as ngx_lua's socket methods fail. [-0, +2, m] */
int
net_push_fail(lua_State *L, const char *err)
{
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

/* What S is busy with, as ngx_lua says it; NULL when it is not. */
const char *
net_sock_busy(const struct net_sock *s)
{
    if (s->op == NET_OP_CONNECT)
        return "socket busy connecting";
    if (s->op != NET_OP_NONE)
        return "socket busy writing";
    return s->rop != NET_OP_NONE ? "socket busy reading" : NULL;
}

/* ngx.socket.tcp() and, with UDP, ngx.socket.udp(): a new socket object
 * (the net_state is upvalue 1). [-0, +1, e] */
int
net_sock_create(lua_State *L, int udp)
{
    struct net_state *ns = lua_touserdata(L, lua_upvalueindex(1));

    if (lua_gettop(L) != 0)
        return net_error(L, "expecting zero arguments, but got %d", lua_gettop(L));
    net_sock_new(L, ns, udp);
    return 1;
}

/* The userdata's metatable, once per state. [-0, +0, m] */
void
net_sock_register(lua_State *L)
{
    if (luaL_newmetatable(L, NET_SOCK_MT)) {
        lua_pushcfunction(L, net_sock_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, "luafcgid socket");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
}
