/*
 * net_tcp_send.c: sock:send, with ngx_lua's arguments and answers.
 *
 * send flattens its argument (strings, numbers, booleans, nil, nested
 * array tables, ngx.null) into the socket's out buffer once, so that a
 * send continued after a yield goes on from where it stood.
 */
#include <errno.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "monoclock.h"
#include "net_impl.h"

#define NET_SEND_DEPTH  100     /* nesting of send's tables */

static void
net_send_error(lua_State *L, const char *msg)
{
    net_argerror(L, 2, msg);
}

/*
 * N in DIGITS as ngx_lua's send writes it, when N is a whole number of at
 * most 14 digits (a length, a count: what protocols send): its length,
 * else 0 (then tostring's "%.14g" is ngx_lua's too). Minus zero is "0",
 * as there. Without a string made for it, nor printf's floating point.
 */
static size_t
net_send_integer(lua_Number n, char *digits)
{
    char tmp[16];
    size_t len = 0, i;
    long long v;

    if (!(n > -1e14 && n < 1e14) || n != (lua_Number)(long long)n)
        return 0;
    v = (long long)n;
    if (v < 0) {
        digits[len++] = '-';
        v = -v;
    }
    i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (i > 0)
        digits[len++] = tmp[--i];
    return len;
}

/* Append the value at IDX (a string, number, boolean, nil, or an array
 * table of strings, numbers and such tables, as ngx_lua's strict rule
 * says) to B; DEPTH 0 at the top. Raises send's argument errors. Shared
 * with the udp send, whose rule is the same. [-0, +0, e] */
void
net_send_flatten(lua_State *L, struct net_buf *b, int idx, int depth)
{
    const char *p;
    char digits[20];
    size_t len = 0;
    int i, max = 0, count = 0;

    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if ((len = net_send_integer(lua_tonumber(L, idx), digits)) > 0) {
            p = digits;
            lua_pushnil(L);
            break;
        }
        /* fall through */
    case LUA_TSTRING:
        lua_pushvalue(L, idx);
        p = lua_tolstring(L, -1, &len);
        break;
    case LUA_TBOOLEAN:
        if (depth > 0)
            net_send_error(L, "bad data type boolean found");
        p = lua_toboolean(L, idx) ? "true" : "false";
        len = strlen(p);
        lua_pushnil(L);
        break;
    case LUA_TNIL:
        if (depth > 0)
            net_send_error(L, "bad data type nil found");
        p = "nil";
        len = 3;
        lua_pushnil(L);
        break;
    default:
        if (lua_type(L, idx) != LUA_TTABLE) {
            if (depth == 0)
                net_send_error(L, lua_pushfstring(L, "string, number, boolean, nil, or array table expected, got %s",
                                                  luaL_typename(L, idx)));
            net_send_error(L, lua_pushfstring(L, "bad data type %s found", luaL_typename(L, idx)));
        }
        if (depth >= NET_SEND_DEPTH)
            net_send_error(L, "tables nested too deep");
        if (idx < 0)
            idx = lua_gettop(L) + idx + 1;
        lua_pushnil(L);
        while (lua_next(L, idx) != 0) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 1 ||
                lua_tonumber(L, -1) != (lua_Number)(int)lua_tonumber(L, -1))
                net_send_error(L, "non-array table found");
            if ((int)lua_tonumber(L, -1) > max)
                max = (int)lua_tonumber(L, -1);
            count++;
        }
        if (count != max)
            net_send_error(L, "non-array table found");
        luaL_checkstack(L, 4, "tables nested too deep");
        for (i = 1; i <= max; i++) {
            lua_rawgeti(L, idx, i);
            net_send_flatten(L, b, -1, depth + 1);
            lua_pop(L, 1);
        }
        return;
    }
    if (len > 0) {
        if (net_buf_reserve(L, b, len) < 0)
            net_nomem(L);
        memcpy(b->data + b->start + b->len, p, len);
        b->len += len;
    }
    lua_pop(L, 1);
}

/* Go on sending S's out buffer. [-0, +1|2, e] */
static int
net_tcp_send_go(lua_State *L, struct net_sock *s)
{
    ssize_t put;
    short want = POLLOUT;
    size_t total;

    for (;;) {
        total = s->out.len;
        if (s->sent >= total) {
            s->op = NET_OP_NONE;
            s->out.len = 0;
            s->out.start = 0;
            lua_pushinteger(L, (lua_Integer)total);
            return 1;
        }
        put = net_io_write(s, s->out.data + s->out.start + s->sent, total - s->sent, &want);
        if (put > 0) {
            s->sent += (size_t)put;
            /* as nginx's, the timeout is between two writes: it
             * starts when the send next has to wait */
            s->deadline = 0;
            continue;
        }
        if (put == -1) {
            int e = errno;
            s->op = NET_OP_NONE;
            s->failed = 1;
            s->write_closed = 1;
            s->out.len = 0;
            e = net_errno_push(L, e);
            /* its reading side ended too: closed, as ngx_lua closes it */
            if (s->read_closed)
                net_sock_close(s, 0);
            return e;
        }
        if (s->deadline == 0)
            s->deadline = net_op_deadline(s->send_ms ? s->send_ms : s->dflt_ms);
        switch (net_wait(L, s->ns, s, s->fd, want, s->deadline)) {
        case NET_YIELD:
            NET_AGAIN_PUSH(L);
            return 1;
        case NET_TIMEDOUT:
            /* part of the message may be out: as ngx_lua, nothing more
             * is sent on it (its write side answers "closed") */
            s->op = NET_OP_NONE;
            s->failed = 1;
            s->write_closed = 1;
            s->out.len = 0;
            return net_sock_push_error(L, s, "timeout");
        }
    }
}

int
net_tcp_send(lua_State *L)
{
    struct net_sock *s;
    int n = lua_gettop(L);

    if (n != 2)
        return net_error(L, "expecting 2 arguments (including the object), but got %d", n);
    s = net_sock_check(L, 1, 0);
    if (s->fd < 0 || s->write_closed)
        return net_sock_push_error(L, s, "closed");
    if (s->op == NET_OP_SEND || s->op == NET_OP_CONNECT || s->op == NET_OP_HANDSHAKE)
        return net_sock_push_error(L, s, s->op == NET_OP_SEND ? "socket busy writing" : "socket busy connecting");
    s->out.len = 0;
    s->out.start = 0;
    net_send_flatten(L, &s->out, 2, 0);
    if (s->out.len == 0) {
        lua_pushinteger(L, 0);
        return 1;
    }
    s->sent = 0;
    s->op = NET_OP_SEND;
    s->deadline = 0;            /* set once it has to wait */
    return net_tcp_send_go(L, s);
}

int
net_tcp_send_cont(lua_State *L)
{
    struct net_sock *s = net_sock_check(L, 1, 0);

    lua_settop(L, 1);
    if (s->op != NET_OP_SEND || s->fd < 0)
        return net_sock_push_error(L, s, "closed");
    return net_tcp_send_go(L, s);
}
