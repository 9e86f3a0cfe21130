/*
 * luasocket.c: LuaSocket keeps the request's limits.
 *
 * LuaSocket's calls block in C, where the count hook never fires: a
 * receive on a server that accepted and never answered held its worker
 * for as long as the server liked (lua-redis: its default "no timeout").
 * When socket.core loads (cmodule.c calls luasocket_wrap), every method
 * that can wait (connect, send, receive, accept, sendto, receivefrom) is
 * wrapped: before the call, the object's total timeout is set to the
 * request's time left, or to the script's own when that is shorter, and
 * its block timeout to the script's own (settimeout is wrapped to record
 * them, per object, in a weak table); after it, a request past its
 * deadline raises its timeout. socket.select and socket.sleep are bounded
 * the same way.
 *
 * Names: LuaSocket resolves with getaddrinfo, which nothing bounds. A
 * connect, setpeername, bind or sendto to a name, socket.connect,
 * socket.dns.toip and getaddrinfo resolve through net_resolve_text
 * (c-ares, within the time left, or socket_timeout when the request has
 * none) and hand LuaSocket a literal address; socket.dns.tohostname (a
 * reverse lookup) is refused.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include <lua.h>
#include <lauxlib.h>

#include "blockhint.h"
#include "conf.h"
#include "luafcgid.h"
#include "luasocket.h"
#include "luawrap.h"
#include "monoclock.h"
#include "net.h"
#include "state.h"

/* Registry key of the weak table: object -> { block, total }. */
static const char luasocket_wanted_key = 'w';

static const char *const luasocket_classes[] = {
    "tcp{master}", "tcp{client}", "tcp{server}", "udp{unconnected}", "udp{connected}", NULL
};
/* socket.unix's and socket.serial's (LuaSocket 3.0's names and the
 * earlier unix{...}): paths and devices, no names to look up */
static const char *const luasocket_local_classes[] = {
    "unixstream{master}", "unixstream{client}", "unixstream{server}", "unixdgram{connected}",
    "unixdgram{unconnected}", "unix{master}", "unix{client}", "unix{server}", "serial{client}", NULL
};
static const char *const luasocket_ops[] = {
    "connect", "send", "receive", "accept", "sendto", "receivefrom", "setpeername", "bind", NULL
};
/* Where each op above takes a name that LuaSocket would look up itself,
 * with getaddrinfo (0: nowhere). */
static const int luasocket_op_name[] = { 2, 0, 0, 0, 3, 0, 2, 2 };

/* The time left (ms) to bound a call by; -1: none. */
static long long
luasocket_left(lua_State *L)
{
    return state_time_left(L);
}

/* The deadline for a name lookup: the request's, or socket_timeout's. */
static long long
luasocket_lookup_deadline(lua_State *L)
{
    long long left = luasocket_left(L);
    struct conf *c;

    if (left < 0) {
        c = conf_acquire();
        left = (long long)c->socket_timeout * 1000;
        conf_release(c);
    }
    return monoclock_ms() + left;
}

/* The literal address of the name at IDX (replaced there), or an error
 * raised as LuaSocket answers: nil, msg pushed and -1 returned. */
static int
luasocket_literal(lua_State *L, int idx, int *family)
{
    char addr[64], err[512];
    unsigned char tmp[16];
    const char *host = lua_tostring(L, idx);

    if (host == NULL)
        return 0;
    if (inet_pton(AF_INET, host, tmp) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, host, tmp) == 1) {
        *family = AF_INET6;
        return 0;
    }
    if (net_resolve_text(host, luasocket_lookup_deadline(L), addr, sizeof(addr), family,
                         err, sizeof(err)) != 0) {
        if (state_time_left(L) == 0)
            return state_raise_timeout(L);
        lua_pushnil(L);
        lua_pushstring(L, err);
        return -1;
    }
    lua_pushstring(L, addr);
    lua_replace(L, idx);
    return 0;
}

/* obj:settimeout(v, mode) recorded for obj, then the original (upvalue 1). */
static int
luasocket_settimeout(lua_State *L)
{
    const char *mode = luaL_optstring(L, 3, "b");

    lua_pushlightuserdata(L, (void *)&luasocket_wanted_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 2, 0);
        lua_pushvalue(L, 1);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);
    }
    if (lua_isnumber(L, 2))
        lua_pushvalue(L, 2);
    else
        lua_pushnumber(L, -1);
    lua_rawseti(L, -2, mode[0] == 't' || mode[0] == 'r' ? 2 : 1);
    lua_pop(L, 2);
    return luawrap_call(L, LUA_MULTRET);
}

/* Call settimeout (upvalue 2) on obj (1) with V and MODE. */
static void
luasocket_apply(lua_State *L, lua_Number v, const char *mode)
{
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, 1);
    lua_pushnumber(L, v);
    lua_pushstring(L, mode);
    lua_call(L, 3, 0);
}

/* The N results on top say nil, "timeout". [-0, +0] */
static int
luasocket_timed_out(lua_State *L, int n)
{
    const char *e;

    if (n < 2 || !lua_isnil(L, -n) || lua_type(L, -n + 1) != LUA_TSTRING)
        return 0;
    e = lua_tostring(L, -n + 1);
    return strcmp(e, "timeout") == 0;
}

/* A method that waits (upvalue 1), bounded by the request's time left.
 * When the request's time was its only bound (CAPPED), a "timeout" is the
 * request's, even should LuaSocket's clock (the wall clock, rounded) end
 * the wait a hair before the request's deadline. */
static int
luasocket_op(lua_State *L)
{
    long long left = luasocket_left(L);
    lua_Number block = -1, total = -1;
    int family, n, at, capped = 0;

    /* connect(host, port), ...: the name looked up within the limits
     * ("*": any address, or none for setpeername, as LuaSocket reads it) */
    at = (int)lua_tointeger(L, lua_upvalueindex(3));
    if (at > 0 && lua_type(L, at) == LUA_TSTRING && strcmp(lua_tostring(L, at), "*") != 0 &&
        luasocket_literal(L, at, &family) < 0)
        return 2;
    if (left >= 0) {
        lua_pushlightuserdata(L, (void *)&luasocket_wanted_key);
        lua_rawget(L, LUA_REGISTRYINDEX);
        lua_pushvalue(L, 1);
        lua_rawget(L, -2);
        if (lua_istable(L, -1)) {
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            if (lua_isnumber(L, -2))
                block = lua_tonumber(L, -2);
            if (lua_isnumber(L, -1))
                total = lua_tonumber(L, -1);
            lua_pop(L, 2);
        }
        lua_pop(L, 2);
        if (total < 0 || total * 1000 > (lua_Number)left) {
            total = (lua_Number)left / 1000;
            capped = block < 0 || block * 1000 >= (lua_Number)left;
        }
        luasocket_apply(L, block, "b");
        luasocket_apply(L, total, "t");
    }
    blockhint();        /* it may wait: the dispatcher's lead goes on */
    n = luawrap_call(L, LUA_MULTRET);
    if (left >= 0 && (state_time_left(L) == 0 || (capped && luasocket_timed_out(L, n))))
        return state_raise_timeout(L);
    return n;
}

/* socket.select(r, w, timeout) and socket.sleep(s): the timeout bounded. */
static int
luasocket_bounded(lua_State *L)
{
    long long left = luasocket_left(L);
    int at = (int)lua_tointeger(L, lua_upvalueindex(2)), n, capped = 0;

    if (left >= 0) {
        lua_Number t = lua_isnumber(L, at) ? lua_tonumber(L, at) : -1;
        if (t < 0 || t * 1000 > (lua_Number)left) {
            if (lua_gettop(L) < at)
                lua_settop(L, at);
            lua_pushnumber(L, (lua_Number)left / 1000);
            lua_replace(L, at);
            capped = 1;
        }
    }
    blockhint();
    n = luawrap_call(L, LUA_MULTRET);
    /* capped, a sleep slept the request's time, and a select that timed
     * out waited it: the request's timeout, however the clocks round */
    if (left >= 0 && (state_time_left(L) == 0 ||
                      (capped && (at == 1 || (n >= 3 && lua_type(L, -n + 2) == LUA_TSTRING &&
                                              strcmp(lua_tostring(L, -n + 2), "timeout") == 0)))))
        return state_raise_timeout(L);
    return n;
}

/* socket.dns.toip(name) / getaddrinfo(name), within the limits. */
static int
luasocket_toip(lua_State *L)
{
    int family = AF_INET, info = lua_toboolean(L, lua_upvalueindex(1));

    luaL_checkstring(L, 1);
    lua_settop(L, 1);
    lua_pushvalue(L, 1);
    if (luasocket_literal(L, 2, &family) < 0)
        return 2;
    if (info) {         /* getaddrinfo: { { family = "inet", addr = ... } } */
        lua_createtable(L, 1, 0);
        lua_createtable(L, 0, 2);
        lua_pushstring(L, family == AF_INET6 ? "inet6" : "inet");
        lua_setfield(L, -2, "family");
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "addr");
        lua_rawseti(L, -2, 1);
        return 1;
    }
    lua_createtable(L, 0, 3);       /* toip: ip, { name, alias, ip } */
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "name");
    lua_newtable(L);
    lua_setfield(L, -2, "alias");
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, 1);
    lua_setfield(L, -2, "ip");
    return 2;
}

static int
luasocket_no_reverse(lua_State *L)
{
    lua_pushnil(L);
    lua_pushliteral(L, "reverse lookups cannot be bounded by the request's timeout: not available");
    return 2;
}

/* socket.connect(address, port, laddress, lport, family): a tcp object
 * made by the wrapped constructors, the name looked up within the limits. */
static const char luasocket_connect_source[] =
    "local core, literal = ...\n"
    "return function(address, port, laddress, lport, family)\n"
    "  local addr, fam = literal(address)\n"
    "  if not addr then return nil, fam end\n"
    "  if family == 'inet6' and fam ~= 'inet6' then return nil, 'host not found' end\n"
    "  local s, err = (fam == 'inet6' and core.tcp6 or core.tcp4)()\n"
    "  if not s then return nil, err end\n"
    "  if laddress then\n"
    "    local ok, e = s:bind(laddress, lport or 0)\n"
    "    if not ok then s:close() return nil, e end\n"
    "  end\n"
    "  local ok, e = s:connect(addr, port)\n"
    "  if not ok then s:close() return nil, e end\n"
    "  return s\n"
    "end\n";

/* For the connect above: the literal address and its family. */
static int
luasocket_literal_fn(lua_State *L)
{
    int family = AF_INET;

    luaL_checkstring(L, 1);
    lua_settop(L, 1);
    if (luasocket_literal(L, 1, &family) < 0)
        return 2;
    lua_pushstring(L, family == AF_INET6 ? "inet6" : "inet");
    return 2;
}

/* Wrap the class CLASS's waiting methods and settimeout; the names its
 * ops take are looked up here when NAMES. [-0, +0, m] */
static void
luasocket_wrap_class(lua_State *L, const char *class, int names)
{
    int i;

    luaL_getmetatable(L, class);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "__index");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 2);
        return;
    }
    lua_getfield(L, -1, "settimeout");         /* the original, for the ops */
    for (i = 0; luasocket_ops[i]; i++) {
        lua_pushvalue(L, -1);
        lua_pushinteger(L, names ? luasocket_op_name[i] : 0);
        luawrap_field_with(L, -2, luasocket_ops[i], luasocket_op, 2);
    }
    lua_pop(L, 1);
    luawrap_field(L, -1, "settimeout", luasocket_settimeout);
    lua_pop(L, 2);
}

/* The weak table of what scripts asked of each object, made once: socket.core
 * and socket.unix may load in either order, and each finds the other's. */
static void
luasocket_wanted_table(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&luasocket_wanted_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        luawrap_new_weak(L, &luasocket_wanted_key);
    }
    lua_pop(L, 1);
}

/* t[NAME] bounded, its timeout the argument at AT. (t at -1) */
static void
luasocket_bound_field(lua_State *L, const char *name, int at)
{
    lua_pushinteger(L, at);
    luawrap_field_with(L, -1, name, luasocket_bounded, 1);
}

void
luasocket_wrap(lua_State *L, int idx)
{
    int i;

    if (idx < 0)
        idx = lua_gettop(L) + idx + 1;
    if (!lua_istable(L, idx))
        return;
    luasocket_wanted_table(L);
    for (i = 0; luasocket_classes[i]; i++)
        luasocket_wrap_class(L, luasocket_classes[i], 1);
    lua_pushvalue(L, idx);
    luasocket_bound_field(L, "select", 3);
    luasocket_bound_field(L, "sleep", 1);
    lua_getfield(L, -1, "dns");
    if (lua_istable(L, -1)) {
        lua_pushboolean(L, 0);
        lua_pushcclosure(L, luasocket_toip, 1);
        lua_setfield(L, -2, "toip");
        lua_pushboolean(L, 1);
        lua_pushcclosure(L, luasocket_toip, 1);
        lua_setfield(L, -2, "getaddrinfo");
        lua_pushcfunction(L, luasocket_no_reverse);
        lua_setfield(L, -2, "tohostname");
        lua_pushcfunction(L, luasocket_no_reverse);
        lua_setfield(L, -2, "getnameinfo");
    }
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, luasocket_connect_source, sizeof(luasocket_connect_source) - 1,
                        "=luasocket") == 0) {
        lua_pushvalue(L, -2);
        lua_pushcfunction(L, luasocket_literal_fn);
        lua_call(L, 2, 1);
        lua_setfield(L, -2, "connect");
    } else
        lua_pop(L, 1);
    lua_pop(L, 1);
}

/* socket.unix and socket.serial load apart from socket.core: their
 * classes' waits are bounded the same way once they load. */
void
luasocket_wrap_local(lua_State *L)
{
    int i;

    luasocket_wanted_table(L);
    for (i = 0; luasocket_local_classes[i]; i++)
        luasocket_wrap_class(L, luasocket_local_classes[i], 0);
}
