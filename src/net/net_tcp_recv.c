/*
 * net_tcp_recv.c: receive ("*l", "*a", a byte count), receiveany and
 * receiveuntil's iterator, with ngx_lua's answers.
 *
 * What is read waits in the socket's buffer (allocated through the
 * state, so it counts toward `memory`: a server that sends a gigabyte
 * ends the request at the memory limit, not the daemon). Each call first
 * tries to answer from the buffer and reads only when it must. On an
 * error the call answers nil, the error and the partial data (what the
 * buffer held, taken out of it); a timeout leaves the connection open but
 * marked failed, as ngx_lua does, so it is never pooled; the end of the
 * stream closes the reading side.
 *
 * "*l" drops every CR of the line, as ngx_lua does.
 */
#include <errno.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "monoclock.h"
#include "net_impl.h"
#include "state.h"

#define NET_UNTIL_MT "luafcgid.net.until"

/* Push N bytes of the buffer's front as a string, dropping CRs when
 * NOCR, and take N + SKIP bytes out of it. [-0, +1, m] */
static void
net_recv_take(lua_State *L, struct net_sock *s, size_t n, size_t skip, int nocr)
{
    const char *p = s->in.data + s->in.start;

    if (nocr && memchr(p, '\r', n) != NULL) {
        luaL_Buffer b;
        size_t i;

        luaL_buffinit(L, &b);
        for (i = 0; i < n; i++)
            if (p[i] != '\r')
                luaL_addchar(&b, p[i]);
        luaL_pushresult(&b);
    } else
        lua_pushlstring(L, p, n);
    s->in.start += n + skip;
    s->in.len -= n + skip;
    s->in_taken += n + skip;
    if (s->in.len == 0)
        s->in.start = 0;
}

/* nil, ERR and the partial data (the whole buffer, taken). [-0, +3, m] */
static int
net_recv_fail(lua_State *L, struct net_sock *s, const char *err, int nocr)
{
    net_sock_push_error(L, s, err);
    net_recv_take(L, s, s->in.len, 0, nocr);
    s->rop = NET_OP_NONE;
    s->failed = 1;
    return 3;
}

/* Bytes came: the read timeout counts from now, as nginx's (a timeout
 * is between two reads, not for the whole call; the request's deadline
 * bounds the whole). It is set when the read first has to wait
 * (net_recv_deadline): most reads never do, and need no clock. */
static void
net_recv_progress(struct net_sock *s)
{
    s->rdeadline = 0;
}

/* The read's deadline, counted from its start or its last bytes. */
static long long
net_recv_deadline(struct net_sock *s)
{
    if (s->rdeadline == 0)
        s->rdeadline = net_op_deadline(s->read_ms ? s->read_ms : s->dflt_ms);
    return s->rdeadline;
}

/* Answer from the buffer if it can: 1 with the data pushed, else 0. */
static int
net_recv_try(lua_State *L, struct net_sock *s)
{
    const char *nl;
    size_t n;

    switch (s->recv_kind) {
    case NET_RECV_LINE:
        nl = s->in.len ? memchr(s->in.data + s->in.start, '\n', s->in.len) : NULL;
        if (nl == NULL)
            return 0;
        net_recv_take(L, s, (size_t)(nl - (s->in.data + s->in.start)), 1, 1);
        return 1;
    case NET_RECV_BYTES:
        if (s->in.len < s->recv_want)
            return 0;
        net_recv_take(L, s, s->recv_want, 0, 0);
        return 1;
    case NET_RECV_ANY:
        if (s->in.len == 0)
            return 0;
        n = s->in.len < s->recv_want ? s->in.len : s->recv_want;
        net_recv_take(L, s, n, 0, 0);
        return 1;
    default:
        return 0;       /* "*a": to the end */
    }
}

/* As net_recv_fail, for an error on the reading side (a reset, a TLS
 * failure): the socket stays open, its reading side ended, as ngx_lua
 * leaves it: receive then answers "closed", setkeepalive "closed", a send
 * tries (and meets the error the peer left, "broken pipe"), and close()
 * answers 1. [-0, +3, m] */
static int
net_recv_broken(lua_State *L, struct net_sock *s, const char *err, int nocr)
{
    s->read_closed = 1;
    return net_recv_fail(L, s, err, nocr);
}

/* The reading side's error or end, with the partial data. */
static int
net_recv_ended(lua_State *L, struct net_sock *s, int got)
{
    int e = errno;

    if (s->recv_kind == NET_RECV_ALL && got == 0) {
        /* the end is the answer: the reading side stays open, so "*a"
         * gives "" again and "*l" nil, "closed", "", as ngx_lua */
        s->rop = NET_OP_NONE;
        net_recv_take(L, s, s->in.len, 0, 0);
        return 1;
    }
    s->read_closed = 1;
    if (got == -4)
        return net_recv_broken(L, s, "error", s->recv_kind == NET_RECV_LINE);
    if (got == -1 && e != 0 && e != ECONNRESET) {
        char msg[256];
        size_t i;

        snprintf(msg, sizeof(msg), "%s", strerror(e));
        for (i = 0; msg[i]; i++)
            if (msg[i] >= 'A' && msg[i] <= 'Z')
                msg[i] = (char)(msg[i] - 'A' + 'a');
        return net_recv_broken(L, s, msg, s->recv_kind == NET_RECV_LINE);
    }
    if (got == 0)
        return net_recv_fail(L, s, "closed", s->recv_kind == NET_RECV_LINE);
    return net_recv_broken(L, s, "connection reset by peer", s->recv_kind == NET_RECV_LINE);
}

/* A stream that never stops keeps a read going in C, where the count
 * hook never fires: past the request's deadline, its timeout. [-0, +0, e] */
static void
net_recv_in_time(lua_State *L)
{
    long long req = net_request_deadline(L);

    if (req && monoclock_ms() >= req)
        state_raise_timeout(L);
}

/* One more read for S's receive: 1 when bytes came (the request's
 * deadline checked), else as net_io_read (-2: poll for *WANT); raises
 * over `memory`. [-0, +0, e] */
static int
net_recv_more(lua_State *L, struct net_sock *s, short *want)
{
    int got = net_io_fill(L, s, want);

    if (got == 1) {
        net_recv_progress(s);
        net_recv_in_time(L);
    } else if (got == -3)
        net_nomem(L);
    return got;
}

/* Wait until S's socket is ready for WANT: 0 to read again, or the
 * receive's answer's count: NET_AGAIN to yield, or the timeout's (NOCR
 * as net_recv_fail's). [-0, +0|1|3, m] */
static int
net_recv_wait(lua_State *L, struct net_sock *s, short want, int nocr)
{
    switch (net_wait(L, s->ns, s, s->fd, want, net_recv_deadline(s))) {
    case NET_YIELD:
        NET_AGAIN_PUSH(L);
        return 1;
    case NET_TIMEDOUT:
        return net_recv_fail(L, s, "timeout", nocr);
    }
    return 0;
}

/* Go on with S's receive. [-0, +1..3, e] */
static int
net_recv_go(lua_State *L, struct net_sock *s)
{
    short want = POLLIN;
    int got;

    for (;;) {
        if (net_recv_try(L, s)) {
            s->rop = NET_OP_NONE;
            return 1;
        }
        if ((got = net_recv_more(L, s, &want)) == 1)
            continue;
        if (got != -2)
            return net_recv_ended(L, s, got);
        if ((got = net_recv_wait(L, s, want, s->recv_kind == NET_RECV_LINE)) != 0)
            return got;
    }
}

/* The checks every read makes: 0 to go on, or the answer's count. */
static int
net_recv_check(lua_State *L, struct net_sock *s)
{
    if (s->fd < 0 || s->read_closed)
        return net_push_fail(L, "closed");
    if (s->rop != NET_OP_NONE || s->op == NET_OP_CONNECT || s->op == NET_OP_HANDSHAKE)
        return net_push_fail(L, s->op == NET_OP_CONNECT ? "socket busy connecting" : "socket busy reading");
    return 0;
}

static int
net_recv_start(lua_State *L, struct net_sock *s, int kind, size_t want)
{
    s->recv_kind = kind;
    s->recv_want = want;
    s->rop = NET_OP_RECV;
    s->rdeadline = 0;
    return net_recv_go(L, s);
}

/* sock:receive(pattern?). [-n, +1..3, e] (may answer NET_AGAIN) */
int
net_tcp_receive(lua_State *L)
{
    struct net_sock *s;
    int n = lua_gettop(L), rc, kind = NET_RECV_LINE;
    lua_Number bytes = 0;
    const char *pat;
    size_t plen;

    if (n != 1 && n != 2)
        return net_error(L, "expecting 1 or 2 arguments (including the object), but got %d", n);
    s = net_sock_check(L, 1, 0);
    if ((rc = net_recv_check(L, s)) != 0)
        return rc;
    if (n == 2) {
        if (lua_isnumber(L, 2)) {
            bytes = lua_tonumber(L, 2);
            if (bytes < 0)
                return net_argerror(L, 2, "bad pattern argument");
            if ((size_t)bytes == 0) {
                lua_pushliteral(L, "");
                return 1;
            }
            kind = NET_RECV_BYTES;
        } else if (lua_type(L, 2) == LUA_TSTRING) {
            pat = lua_tolstring(L, 2, &plen);
            if (plen != 2 || pat[0] != '*')
                return net_argerror(L, 2, lua_pushfstring(L, "bad pattern argument: %s", pat));
            if (pat[1] == 'l')
                kind = NET_RECV_LINE;
            else if (pat[1] == 'a')
                kind = NET_RECV_ALL;
            else
                return net_argerror(L, 2, "bad pattern argument");
        } else
            return net_argerror(L, 2, "bad pattern argument");
    }
    lua_settop(L, 1);
    return net_recv_start(L, s, kind, (size_t)bytes);
}

/* sock:receiveany(max). */
int
net_tcp_receiveany(lua_State *L)
{
    struct net_sock *s;
    int n = lua_gettop(L), rc;
    lua_Number max;

    if (n != 2)
        return net_error(L, "expecting 2 arguments (including the object), but got %d", n);
    s = net_sock_check(L, 1, 0);
    if ((rc = net_recv_check(L, s)) != 0)
        return rc;
    if (!lua_isnumber(L, 2) || (max = lua_tonumber(L, 2)) < 1)
        return net_argerror(L, 2, "bad max argument");
    lua_settop(L, 1);
    return net_recv_start(L, s, NET_RECV_ANY, (size_t)max);
}

int
net_tcp_recv_cont(lua_State *L)
{
    struct net_sock *s = net_sock_check(L, 1, 0);

    lua_settop(L, 1);
    if (s->rop != NET_OP_RECV || s->fd < 0)
        return net_push_fail(L, "closed");
    return net_recv_go(L, s);
}

/* ---- receiveuntil ------------------------------------------------- */

/*
 * The search goes on where it stopped: each byte read is looked at once
 * (Knuth-Morris-Pratt), whatever the pattern, so a stream cannot hold
 * the worker in C. What the iterator takes out of the buffer keeps its
 * place; anything else taken from the socket starts it again.
 */
static void
net_until_scan(struct net_until *u, const char *p, size_t len)
{
    size_t m = u->matched, i;

    for (i = u->scanned; i < len && m < u->patlen; i++) {
        while (m > 0 && u->pat[m] != p[i])
            m = u->fail[m - 1];
        if (u->pat[m] == p[i])
            m++;
    }
    u->scanned = i;
    u->matched = m;
}

/* The iterator took N bytes from the front, not past its match. */
static void
net_until_took(struct net_until *u, size_t n, int whole)
{
    if (whole)
        u->scanned = u->matched = 0;
    else
        u->scanned -= n;
    u->at = u->sock->in_taken;
}

/* One try from the buffer: the count pushed (the data, or nil, nil, nil
 * at the end of a sized round, as ngx_lua), or 0 to read more. */
static int
net_until_try(lua_State *L, struct net_until *u)
{
    struct net_sock *s = u->sock;
    const char *p = s->in.data + s->in.start;
    size_t at, safe, n;

    if (u->at != s->in_taken || u->scanned > s->in.len) {
        u->scanned = u->matched = 0;
        u->at = s->in_taken;
    }
    net_until_scan(u, p, s->in.len);
    if (u->matched == u->patlen) {
        at = u->scanned - u->patlen;
        if (u->size == 0) {
            net_recv_take(L, s, u->inclusive ? at + u->patlen : at, u->inclusive ? 0 : u->patlen, 0);
            net_until_took(u, 0, 1);
            return 1;
        }
        if (u->inclusive && at > 0 && at < (size_t)u->size) {
            /* the bytes before the pattern leave room: it comes with
             * them; when they fill the size, it comes next (ngx_lua's
             * round ends as the size is reached) */
            net_recv_take(L, s, at + u->patlen, 0, 0);
            net_until_took(u, 0, 1);
            u->done = 1;
            return 1;
        }
        if (at > 0) {
            n = at < (size_t)u->size ? at : (size_t)u->size;
            net_recv_take(L, s, n, 0, 0);
            net_until_took(u, n, 0);
            return 1;
        }
        /* the pattern is next: this round is over */
        if (u->inclusive) {
            net_recv_take(L, s, u->patlen, 0, 0);
            net_until_took(u, 0, 1);
            u->done = 1;
            return 1;
        }
        net_recv_take(L, s, 0, u->patlen, 0);
        net_until_took(u, 0, 1);
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_pushnil(L);
        lua_pushnil(L);
        return 3;
    }
    if (u->size == 0)
        return 0;
    /* all searched: what may not begin the pattern can go */
    safe = s->in.len - u->matched;
    if (safe >= (size_t)u->size) {
        net_recv_take(L, s, (size_t)u->size, 0, 0);
        net_until_took(u, (size_t)u->size, 0);
        return 1;
    }
    return 0;
}

static int
net_until_go(lua_State *L, struct net_until *u)
{
    struct net_sock *s = u->sock;
    short want = POLLIN;
    int got;

    for (;;) {
        if ((got = net_until_try(L, u)) != 0) {
            s->rop = NET_OP_NONE;
            return got;
        }
        if ((got = net_recv_more(L, s, &want)) == 1)
            continue;
        if (got != -2) {
            s->read_closed = 1;
            if (got == 0)
                return net_recv_fail(L, s, "closed", 0);
            return net_recv_broken(L, s, got == -4 ? "error" : "connection reset by peer", 0);
        }
        if ((got = net_recv_wait(L, s, want, 0)) != 0)
            return got;
    }
}

static struct net_until *
net_until_check(lua_State *L)
{
    return luaL_checkudata(L, 1, NET_UNTIL_MT);
}

/* The iterator: (u, size?) -> data, or nil at a round's end, or nil,
 * err, partial. [-n, +1..3, e] (may answer NET_AGAIN) */
static int
net_until_iter(lua_State *L)
{
    struct net_until *u = net_until_check(L);
    struct net_sock *s = u->sock;
    int rc;

    if (lua_gettop(L) > 2)
        return net_error(L, "expecting 0 or 1 argument, but seen %d", lua_gettop(L) - 1);
    if (s->fd < 0 || s->read_closed)
        return net_push_fail(L, "closed");
    if (s->serial != s->ns->serial)
        return net_error(L, "bad request");
    if ((rc = net_recv_check(L, s)) != 0)
        return rc;
    u->size = 0;
    if (lua_gettop(L) == 2 && !lua_isnil(L, 2)) {
        lua_Number n = luaL_checknumber(L, 2);
        u->size = n > 0 ? (n > 0x7fffffff ? 0x7fffffff : (int)n) : 0;
    }
    lua_settop(L, 1);
    if (u->done) {
        u->done = 0;
        lua_pushnil(L);
        lua_pushnil(L);
        lua_pushnil(L);
        return 3;
    }
    s->rop = NET_OP_UNTIL;
    s->rdeadline = 0;
    return net_until_go(L, u);
}

static int
net_until_cont(lua_State *L)
{
    struct net_until *u = net_until_check(L);

    lua_settop(L, 1);
    if (u->sock->rop != NET_OP_UNTIL || u->sock->fd < 0)
        return net_push_fail(L, "closed");
    return net_until_go(L, u);
}

static int
net_until_gc(lua_State *L)
{
    struct net_until *u = lua_touserdata(L, 1);

    if (u->pat != NULL)
        net_alloc(L, u->pat, u->patlen, 0);
    if (u->fail != NULL)
        net_alloc(L, u->fail, u->patlen * sizeof(*u->fail), 0);
    u->pat = NULL;
    u->fail = NULL;
    return 0;
}

/* fail[i]: the longest proper prefix of pat[0..i] that ends it too. */
static void
net_until_prefix(struct net_until *u)
{
    size_t i, k = 0;

    u->fail[0] = 0;
    for (i = 1; i < u->patlen; i++) {
        while (k > 0 && u->pat[i] != u->pat[k])
            k = u->fail[k - 1];
        if (u->pat[i] == u->pat[k])
            k++;
        u->fail[i] = (unsigned)k;
    }
}

/* sock:receiveuntil(pattern, {inclusive = b}?): the iterator. */
int
net_tcp_receiveuntil(lua_State *L)
{
    struct net_state *ns = lua_touserdata(L, lua_upvalueindex(1));
    struct net_sock *s;
    struct net_until *u;
    const char *pat;
    size_t plen;
    int n = lua_gettop(L), inclusive = 0;

    if (n != 2 && n != 3)
        return net_error(L, "expecting 2 or 3 arguments (including the object), but got %d", n);
    if (n == 3) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "inclusive");
        if (lua_isboolean(L, -1))
            inclusive = lua_toboolean(L, -1);
        else if (!lua_isnil(L, -1))
            return net_error(L, "bad \"inclusive\" option value type: %s", luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    s = net_sock_check(L, 1, 0);
    pat = luaL_checklstring(L, 2, &plen);
    if (plen == 0)
        return net_push_fail(L, "pattern is empty");
    u = lua_newuserdata(L, sizeof(*u));
    memset(u, 0, sizeof(*u));
    if (luaL_newmetatable(L, NET_UNTIL_MT)) {
        lua_pushcfunction(L, net_until_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, "luafcgid socket iterator");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    if ((u->pat = net_alloc(L, NULL, 0, plen)) == NULL)
        return net_nomem(L);
    memcpy(u->pat, pat, plen);
    u->patlen = plen;
    if ((u->fail = net_alloc(L, NULL, 0, plen * sizeof(*u->fail))) == NULL)
        return net_nomem(L);
    net_until_prefix(u);
    u->at = s->in_taken;
    u->sock = s;
    u->inclusive = inclusive;
    /* the userdata keeps the socket's object alive */
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_setfenv(L, -2);
    /* bind(loop(iter, cont), u) */
    net_push_bound(L, ns, net_until_iter, net_until_cont);
    return 1;
}
