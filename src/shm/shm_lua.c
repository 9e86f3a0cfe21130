/*
 * shm_lua.c: the shared dictionaries as scripts see them, with ngx_lua's
 * arguments, answers and error strings.
 *
 * shm_lua_push() pushes a state's `shared` table, made on first use and
 * kept in the registry, so that require("luafcgid").shared and
 * ngx.shared are one object. Each dictionary is what ngx_lua makes: a
 * table holding a userdata at [1], whose metatable (shared by all of a
 * state's dictionaries) is its own __index and holds the methods. Unlike
 * ngx_lua we check that the userdata is ours: a script cannot make a
 * method read another object as a dictionary. Every method has as its
 * upvalue the list of the state's own (shm_lua_known), which also keeps
 * each of them alive, so no other userdata can ever have one's address:
 * a few compares, where asking for the userdata's metatable and
 * comparing it was a third of a method's own cost.
 *
 * ngx_lua implements get, get_stale, set, safe_set, add, safe_add,
 * replace, delete, incr, ttl, expire, flush_all, capacity and free_space
 * in Lua over FFI (lua-resty-core's shdict.lua), and the list methods,
 * flush_expired and get_keys in C; each function below follows its
 * model's order of checks (zone, then exptime, then key, then value), its
 * count of return values and its words. A wrong-typed argument that the
 * FFI would refuse raises LuaJIT's "cannot convert" error.
 *
 * No Lua is called while a dictionary's lock is held: the engine copies a
 * value into a buffer under the lock (a stack buffer, or a userdata made
 * before asking again when the value is larger, which replaces the one
 * before it, so a value that keeps growing meanwhile never fills the
 * stack), and the string is made afterwards. get_keys and flush_expired
 * walk the dictionary a step at a time (shm_bulk.c): between steps the
 * lock is let go, the keys found become strings, and the step is charged
 * to the request, whose deadline holds across the one call. A lock not
 * had in time raises an error that names the dictionary.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "shm.h"
#include "shm_lua.h"

#define SHM_LUA_BUF     4096

/* The registry key of a state's `shared` table: this address. */
static const char shm_lua_registry_key = 's';

/* Set by the daemon before any worker runs, read-only afterwards. */
static void (*shm_lua_charge)(lua_State *L, size_t units);

void
shm_lua_use_charge(void (*charge)(lua_State *L, size_t units))
{
    shm_lua_charge = charge;
}

/* A step of a walk is done: charged to the request (which raises its
 * timeout error once past its deadline). [-0, +0, v] */
static void
shm_lua_step(lua_State *L)
{
    if (shm_lua_charge)
        shm_lua_charge(L, (size_t)1 << 30);
}

/* A buffer of SIZE bytes on the stack at IDX (0: none there yet), in
 * place of the one there. [-0|1, +1|0, m] */
static char *
shm_lua_buffer(lua_State *L, int *idx, size_t size)
{
    char *buf = lua_newuserdata(L, size);

    if (*idx)
        lua_replace(L, *idx);
    else
        *idx = lua_gettop(L);
    return buf;
}

/* A state's own dictionary userdata, the methods' upvalue: their
 * addresses, each userdata kept alive by this one's environment. */
struct shm_lua_known {
    int         n;
    void       *ud[];
};

/* The dictionary of the object at 1, or NULL. */
static struct shm_dict *
shm_lua_zone(lua_State *L)
{
    const struct shm_lua_known *k;
    void *ud = NULL;
    int i;

    if (lua_type(L, 1) != LUA_TTABLE)
        return NULL;
    lua_rawgeti(L, 1, 1);
    if (lua_type(L, -1) == LUA_TUSERDATA)
        ud = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (ud == NULL)
        return NULL;
    k = lua_touserdata(L, lua_upvalueindex(1));
    for (i = 0; i < k->n; i++)
        if (k->ud[i] == ud)
            return *(struct shm_dict **)ud;
    return NULL;
}

/* As lua-resty-core's check_zone: a bad self is an error. [-0, +0, v] */
static struct shm_dict *
shm_lua_check_zone(lua_State *L)
{
    struct shm_dict *d = shm_lua_zone(L);

    if (d == NULL)
        luaL_error(L, "bad \"zone\" argument");
    return d;
}

/* Raise what the engine said when the lock was not had. */
static int
shm_lua_locked(lua_State *L, struct shm_dict *d, const char *err)
{
    return luaL_error(L, "shared dictionary '%s': %s", shm_dict_name(d), err);
}

static int
shm_lua_nil_err(lua_State *L, const char *err)
{
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

/* tostring(v) as the base library does (__tostring, or "type: 0x..."):
 * replaces the value at IDX. [-0, +0, e] */
static void
shm_lua_tostring(lua_State *L, int idx)
{
    if (lua_isnumber(L, idx) || lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
        lua_tostring(L, -1);
    } else if (luaL_callmeta(L, idx, "__tostring")) {
        if (!lua_isstring(L, -1))
            luaL_error(L, "'tostring' must return a string");
    } else if (lua_type(L, idx) == LUA_TBOOLEAN) {
        lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
    } else {
        lua_pushfstring(L, "%s: %p", luaL_typename(L, idx), lua_topointer(L, idx));
    }
    lua_replace(L, idx);
}

/*
 * The key at 2. Nil is "nil key"; then, as lua-resty-core takes it (FFI),
 * anything goes through tostring, or, as ngx_lua's C functions do, it
 * must be a string or a number. Then its length is checked. NULL with the
 * answer (nil and the reason) pushed.
 */
static const char *
shm_lua_key(lua_State *L, int ffi, size_t *len)
{
    const char *k;

    if (lua_type(L, 2) != LUA_TSTRING) {        /* a string, the usual key, needs no look */
        if (lua_isnoneornil(L, 2)) {
            shm_lua_nil_err(L, "nil key");
            return NULL;
        }
        if (ffi)
            shm_lua_tostring(L, 2);
    }
    k = luaL_checklstring(L, 2, len);
    if (*len == 0 || *len > LF_SHARED_KEY_MAX) {
        shm_lua_nil_err(L, *len == 0 ? "empty key" : "key too long");
        return NULL;
    }
    return k;
}

/* A Lua number as LuaJIT's FFI passes it to a C long: truncated; NaN or
 * one out of range becomes the lowest (x86's "integer indefinite"). */
static long long
shm_lua_to_long(lua_Number n)
{
    if (!(n > -9223372036854775808.0 && n < 9223372036854775808.0))
        return LLONG_MIN;
    return (long long)n;
}

/* The flags at IDX as the FFI makes a C int of them: a number truncated
 * (out of range: the lowest int), true 1; anything else it refuses, with
 * its words. [-0, +0, v] */
static int
shm_lua_flags(lua_State *L, int idx)
{
    lua_Number n;

    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        n = lua_tonumber(L, idx);
        return n > -2147483649.0 && n < 2147483648.0 ? (int)n : INT_MIN;
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx);
    default:
        return luaL_error(L, "bad argument #10 to 'ngx_lua_ffi_shdict_store' (cannot convert '%s' to 'int')",
                          luaL_typename(L, idx));
    }
}

/* The value in OUT (BUF holds a string's bytes). [-0, +1, m] */
static void
shm_lua_push_value(lua_State *L, const struct shm_value *v)
{
    switch (v->type) {
    case SHM_TSTRING:  lua_pushlstring(L, v->str, v->len); break;
    case SHM_TNUMBER:  lua_pushnumber(L, v->num); break;
    case SHM_TBOOLEAN: lua_pushboolean(L, v->num != 0); break;
    default:           lua_pushnil(L); break;
    }
}

/* get and get_stale. */
static int
shm_lua_fetch(lua_State *L, int stale)
{
    struct shm_dict *d = shm_lua_check_zone(L);
    char stack[SHM_LUA_BUF], *buf = stack;
    size_t klen, size = sizeof(stack);
    struct shm_value v;
    const char *key, *err = NULL;
    int rc, is_stale = 0, ud = 0;

    if ((key = shm_lua_key(L, 1, &klen)) == NULL)
        return 2;
    while ((rc = shm_dict_get(d, key, klen, stale, &v, buf, size, &is_stale, &err)) == SHM_NEED) {
        size = v.len;
        buf = shm_lua_buffer(L, &ud, size);
    }
    switch (rc) {
    case SHM_NONE:
        lua_pushnil(L);
        return 1;
    case SHM_FAIL:
        return shm_lua_nil_err(L, err);
    case SHM_LOCKED:
        return shm_lua_locked(L, d, err);
    default:
        break;
    }
    shm_lua_push_value(L, &v);
    if (!stale) {
        if (v.flags == 0)
            return 1;
        lua_pushinteger(L, v.flags);
        return 2;
    }
    if (v.flags)
        lua_pushinteger(L, v.flags);
    else
        lua_pushnil(L);
    lua_pushboolean(L, is_stale);
    return 3;
}

/* dict:get(key): value[, flags]; nil; nil, err. */
static int
shm_lua_get(lua_State *L)
{
    return shm_lua_fetch(L, 0);
}

/* dict:get_stale(key): value, flags, stale; nil; nil, err. */
static int
shm_lua_get_stale(lua_State *L)
{
    return shm_lua_fetch(L, 1);
}

/* set, safe_set, add, safe_add, replace: (key, value, exptime, flags) ->
 * ok, err, forcible; nil, err for a bad key or value type. */
static int
shm_lua_store(lua_State *L, int op)
{
    struct shm_dict *d = shm_lua_check_zone(L);
    struct shm_value v = { SHM_TNIL, 0, NULL, 0, 0 };
    long long exptime = 0;
    const char *key, *err = NULL;
    size_t klen;
    int forcible = 0, rc;

    if (lua_toboolean(L, 4)) {
        if (lua_type(L, 4) != LUA_TNUMBER)
            luaL_error(L, "attempt to compare %s with number", luaL_typename(L, 4));
        if (lua_tonumber(L, 4) < 0)
            luaL_error(L, "bad \"exptime\" argument");
        exptime = shm_lua_to_long(lua_tonumber(L, 4) * 1000);
    }
    if ((key = shm_lua_key(L, 1, &klen)) == NULL)
        return 2;
    switch (lua_type(L, 3)) {
    case LUA_TSTRING:
        v.type = SHM_TSTRING;
        v.str = lua_tolstring(L, 3, &v.len);
        break;
    case LUA_TNUMBER:
        v.type = SHM_TNUMBER;
        v.num = lua_tonumber(L, 3);
        break;
    case LUA_TBOOLEAN:
        v.type = SHM_TBOOLEAN;
        v.num = lua_toboolean(L, 3);
        break;
    case LUA_TNIL: case LUA_TNONE:
        break;
    default:
        return shm_lua_nil_err(L, "bad value type");
    }
    /* the FFI converts the flags last, as it makes the call */
    if (lua_toboolean(L, 5))
        v.flags = shm_lua_flags(L, 5);
    rc = shm_dict_store(d, op, key, klen, &v, exptime, &forcible, &err);
    if (rc == SHM_LOCKED)
        return shm_lua_locked(L, d, err);
    lua_pushboolean(L, rc == SHM_OK);
    if (rc == SHM_OK)
        lua_pushnil(L);
    else
        lua_pushstring(L, err);
    lua_pushboolean(L, forcible);
    return 3;
}

static int shm_lua_set(lua_State *L)      { return shm_lua_store(L, 0); }
static int shm_lua_safe_set(lua_State *L) { return shm_lua_store(L, SHM_OP_SAFE); }
static int shm_lua_add(lua_State *L)      { return shm_lua_store(L, SHM_OP_ADD); }
static int shm_lua_safe_add(lua_State *L) { return shm_lua_store(L, SHM_OP_ADD | SHM_OP_SAFE); }
static int shm_lua_replace(lua_State *L)  { return shm_lua_store(L, SHM_OP_REPLACE); }

/* dict:delete(key): set(key, nil). */
static int
shm_lua_delete(lua_State *L)
{
    lua_settop(L, 2);
    return shm_lua_store(L, 0);
}

/* An optional number argument of incr (init, init_ttl), as lua-resty-core
 * takes it: a number, or a string tonumber() reads; else an error. */
static lua_Number
shm_lua_incr_arg(lua_State *L, int idx, const char *what)
{
    lua_Number n = lua_tonumber(L, idx);        /* 0 when not a number: then look */

    if (n == 0 && !lua_isnumber(L, idx))
        luaL_error(L, "bad %s arg: number expected, got %s", what, luaL_typename(L, idx));
    return n;
}

/* dict:incr(key, value, init, init_ttl): the new value (and nil,
 * forcible when INIT is given); nil, err. */
static int
shm_lua_incr(lua_State *L)
{
    struct shm_dict *d = shm_lua_check_zone(L);
    const char *key, *err = NULL;
    lua_Number init = 0, ttl = 0;
    double value;
    size_t klen;
    int has_init, forcible = 0, rc;

    lua_settop(L, 5);
    if ((key = shm_lua_key(L, 1, &klen)) == NULL)
        return 2;
    if ((value = lua_tonumber(L, 3)) == 0 && !lua_isnumber(L, 3))
        luaL_error(L, "cannot convert 'nil' to 'double'");
    if ((has_init = lua_toboolean(L, 4)) != 0)
        init = shm_lua_incr_arg(L, 4, "init");
    if (!lua_isnil(L, 5)) {
        ttl = shm_lua_incr_arg(L, 5, "init_ttl");
        if (ttl < 0)
            luaL_error(L, "bad \"init_ttl\" argument");
        if (!has_init)
            luaL_error(L, "must provide \"init\" when providing \"init_ttl\"");
    }
    rc = shm_dict_incr(d, key, klen, &value, has_init, init, shm_lua_to_long(ttl * 1000), &forcible, &err);
    if (rc == SHM_LOCKED)
        return shm_lua_locked(L, d, err);
    if (rc != SHM_OK)
        return shm_lua_nil_err(L, err);
    lua_pushnumber(L, value);
    if (!has_init)
        return 1;
    lua_pushnil(L);
    lua_pushboolean(L, forcible);
    return 3;
}

/* dict:ttl(key): seconds left (0: none); nil, "not found"; nil, err. */
static int
shm_lua_ttl(lua_State *L)
{
    struct shm_dict *d = shm_lua_check_zone(L);
    const char *key, *err = NULL;
    long long ms = 0;
    size_t klen;
    int rc;

    if ((key = shm_lua_key(L, 1, &klen)) == NULL)
        return 2;
    if ((rc = shm_dict_ttl(d, key, klen, &ms, &err)) == SHM_LOCKED)
        return shm_lua_locked(L, d, err);
    if (rc == SHM_NONE)
        return shm_lua_nil_err(L, "not found");
    if (rc == SHM_FAIL)
        return shm_lua_nil_err(L, err);
    lua_pushnumber(L, (lua_Number)ms / 1000);
    return 1;
}

/* dict:expire(key, exptime): true; nil, "not found"; nil, err. */
static int
shm_lua_expire(lua_State *L)
{
    struct shm_dict *d = shm_lua_check_zone(L);
    const char *key, *err = NULL;
    lua_Number exptime;
    size_t klen;
    int rc;

    if (!lua_toboolean(L, 3))
        luaL_error(L, "bad \"exptime\" argument");
    if ((key = shm_lua_key(L, 1, &klen)) == NULL)
        return 2;
    if (!lua_isnumber(L, 3))
        luaL_error(L, "attempt to perform arithmetic on local 'exptime' (a %s value)", luaL_typename(L, 3));
    exptime = lua_tonumber(L, 3);
    rc = shm_dict_expire(d, key, klen, shm_lua_to_long(exptime * 1000), &err);
    if (rc == SHM_LOCKED)
        return shm_lua_locked(L, d, err);
    if (rc == SHM_NONE)
        return shm_lua_nil_err(L, "not found");
    if (rc == SHM_FAIL)
        return shm_lua_nil_err(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* dict:flush_all(): nothing. */
static int
shm_lua_flush_all(lua_State *L)
{
    struct shm_dict *d = shm_lua_check_zone(L);
    const char *err = NULL;

    if (shm_dict_flush_all(d, &err) == SHM_LOCKED)
        return shm_lua_locked(L, d, err);
    return 0;
}

static int
shm_lua_capacity(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)shm_dict_capacity(shm_lua_check_zone(L)));
    return 1;
}

static int
shm_lua_free_space(lua_State *L)
{
    struct shm_stats st;

    shm_dict_stats(shm_lua_check_zone(L), &st);
    lua_pushnumber(L, (lua_Number)st.free_space);
    return 1;
}

/* flush_expired and get_keys: self, and an optional count (their own
 * checks, ngx_lua's C ones). [-0, +0, v] */
static struct shm_dict *
shm_lua_count_args(lua_State *L, int *count)
{
    struct shm_dict *d;
    int n = lua_gettop(L);

    if (n != 1 && n != 2)
        luaL_error(L, "expecting 1 or 2 argument(s), but saw %d", n);
    luaL_checktype(L, 1, LUA_TTABLE);
    if ((d = shm_lua_zone(L)) == NULL)
        luaL_error(L, "bad user data for the ngx_shm_zone_t pointer");
    if (n == 2)
        *count = luaL_checkint(L, 2);
    return d;
}

/* dict:flush_expired(max_count): how many were removed (0: no bound), a
 * step at a time. */
static int
shm_lua_flush_expired(lua_State *L)
{
    int attempts = 0, freed = 0, n;
    struct shm_dict *d = shm_lua_count_args(L, &attempts);
    const char *err = NULL;
    struct shm_cursor cur;

    memset(&cur, 0, sizeof(cur));
    while (!cur.done) {
        if (shm_dict_flush_expired_step(d, &cur, attempts > 0 ? attempts - freed : 0, &n, &err) == SHM_LOCKED)
            return shm_lua_locked(L, d, err);
        freed += n;
        if (!cur.done)
            shm_lua_step(L);
    }
    lua_pushnumber(L, freed);
    return 1;
}

/* dict:get_keys(max_count): the live keys, 1024 at most by default (0:
 * all); oldest first on a dictionary small enough for one step, in the
 * table's order on a larger one (shm_bulk.c). A step at a time: its keys
 * become strings with no lock held. */
static int
shm_lua_get_keys(lua_State *L)
{
    int attempts = 1024, count = 0, total = 0, i, rc, ud = 0;
    struct shm_dict *d = shm_lua_count_args(L, &attempts);
    char stack[SHM_LUA_BUF], *buf = stack, *p;
    size_t size = sizeof(stack), used = 0;
    const char *err = NULL;
    struct shm_cursor cur;
    uint16_t klen;

    lua_settop(L, 2);
    lua_newtable(L);                            /* the keys, at 3 */
    memset(&cur, 0, sizeof(cur));
    while (!cur.done) {
        rc = shm_dict_keys_step(d, &cur, attempts > 0 ? attempts - total : 0, buf, size, &used, &count, &err);
        if (rc == SHM_NEED) {
            size = used;
            buf = shm_lua_buffer(L, &ud, size);
            continue;
        }
        if (rc == SHM_LOCKED)
            return shm_lua_locked(L, d, err);
        for (i = 0, p = buf; i < count; i++) {
            memcpy(&klen, p, sizeof(klen));
            lua_pushlstring(L, p + sizeof(klen), klen);
            lua_rawseti(L, 3, ++total);
            p += sizeof(klen) + klen;
        }
        if (!cur.done)
            shm_lua_step(L);
    }
    lua_settop(L, 3);
    return 1;
}

/* The checks of ngx_lua's list functions: N arguments, self, the key.
 * NULL with the answer pushed (*RESULTS of them). [-0, +0|2, v] */
static const char *
shm_lua_list_args(lua_State *L, int n, struct shm_dict **d, size_t *klen)
{
    int got = lua_gettop(L);

    if (got != n)
        luaL_error(L, "expecting %d arguments, but only seen %d", n, got);
    if (lua_type(L, 1) != LUA_TTABLE || (*d = shm_lua_zone(L)) == NULL)
        luaL_error(L, "bad \"zone\" argument");
    return shm_lua_key(L, 0, klen);
}

/* lpush and rpush: (key, value) -> the list's length; nil, err; false,
 * "no memory" when the list could not be made. */
static int
shm_lua_list_push(lua_State *L, int left)
{
    struct shm_value v = { SHM_TNIL, 0, NULL, 0, 0 };
    struct shm_dict *d = NULL;
    const char *key, *err = NULL;
    size_t klen;
    long len = 0;
    int rc;

    if ((key = shm_lua_list_args(L, 3, &d, &klen)) == NULL)
        return 2;
    if (lua_type(L, 3) == LUA_TSTRING) {
        v.type = SHM_TSTRING;
        v.str = lua_tolstring(L, 3, &v.len);
    } else if (lua_type(L, 3) == LUA_TNUMBER) {
        v.type = SHM_TNUMBER;
        v.num = lua_tonumber(L, 3);
    } else
        return shm_lua_nil_err(L, "bad value type");
    rc = shm_dict_push(d, left, key, klen, &v, &len, &err);
    if (rc == SHM_LOCKED)
        return shm_lua_locked(L, d, err);
    if (rc == SHM_FALSE) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, err);
        return 2;
    }
    if (rc != SHM_OK)
        return shm_lua_nil_err(L, err);
    lua_pushnumber(L, (lua_Number)len);
    return 1;
}

static int shm_lua_lpush(lua_State *L) { return shm_lua_list_push(L, 1); }
static int shm_lua_rpush(lua_State *L) { return shm_lua_list_push(L, 0); }

/* lpop and rpop: (key) -> the value; nil; nil, err. */
static int
shm_lua_pop(lua_State *L, int left)
{
    char stack[SHM_LUA_BUF], *buf = stack;
    struct shm_dict *d = NULL;
    size_t klen, size = sizeof(stack);
    struct shm_value v;
    const char *key, *err = NULL;
    int rc, ud = 0;

    if ((key = shm_lua_list_args(L, 2, &d, &klen)) == NULL)
        return 2;
    while ((rc = shm_dict_pop(d, left, key, klen, &v, buf, size, &err)) == SHM_NEED) {
        size = v.len;
        buf = shm_lua_buffer(L, &ud, size);
    }
    if (rc == SHM_LOCKED)
        return shm_lua_locked(L, d, err);
    if (rc == SHM_FAIL)
        return shm_lua_nil_err(L, err);
    if (rc == SHM_NONE) {
        lua_pushnil(L);
        return 1;
    }
    shm_lua_push_value(L, &v);
    return 1;
}

static int shm_lua_lpop(lua_State *L) { return shm_lua_pop(L, 1); }
static int shm_lua_rpop(lua_State *L) { return shm_lua_pop(L, 0); }

/* llen: (key) -> the length (0 when missing); nil, "value not a list". */
static int
shm_lua_llen(lua_State *L)
{
    struct shm_dict *d = NULL;
    const char *key, *err = NULL;
    size_t klen;
    long len = 0;
    int rc;

    if ((key = shm_lua_list_args(L, 2, &d, &klen)) == NULL)
        return 2;
    if ((rc = shm_dict_llen(d, key, klen, &len, &err)) == SHM_LOCKED)
        return shm_lua_locked(L, d, err);
    if (rc != SHM_OK)
        return shm_lua_nil_err(L, err);
    lua_pushnumber(L, (lua_Number)len);
    return 1;
}

static const luaL_Reg shm_lua_methods[] = {
    { "get",           shm_lua_get },
    { "get_stale",     shm_lua_get_stale },
    { "set",           shm_lua_set },
    { "safe_set",      shm_lua_safe_set },
    { "add",           shm_lua_add },
    { "safe_add",      shm_lua_safe_add },
    { "replace",       shm_lua_replace },
    { "delete",        shm_lua_delete },
    { "incr",          shm_lua_incr },
    { "lpush",         shm_lua_lpush },
    { "rpush",         shm_lua_rpush },
    { "lpop",          shm_lua_lpop },
    { "rpop",          shm_lua_rpop },
    { "llen",          shm_lua_llen },
    { "ttl",           shm_lua_ttl },
    { "expire",        shm_lua_expire },
    { "flush_all",     shm_lua_flush_all },
    { "flush_expired", shm_lua_flush_expired },
    { "get_keys",      shm_lua_get_keys },
    { "capacity",      shm_lua_capacity },
    { "free_space",    shm_lua_free_space },
    { NULL, NULL }
};

/* The `shared` table, made: { NAME = { [1] = userdata } }, each with the
 * methods' metatable. [-0, +1, m] */
static void
shm_lua_make(lua_State *L)
{
    const luaL_Reg *reg;
    struct shm_lua_known *k;
    struct shm_dict **ud;
    int i, n = shm_count();

    lua_createtable(L, 0, n);                   /* shared */
    lua_newtable(L);                            /* the userdata's, never handed out */
    lua_pushliteral(L, "shared dictionary");
    lua_setfield(L, -2, "__metatable");
    lua_createtable(L, 0, 24);                  /* the methods' */
    k = lua_newuserdata(L, sizeof(*k) + (size_t)n * sizeof(k->ud[0]));
    k->n = 0;
    lua_createtable(L, n, 0);                   /* its environment: what keeps them */
    for (i = 0; i < n; i++) {                   /* shared, mt, methods, known, keep */
        lua_createtable(L, 1, 0);
        ud = lua_newuserdata(L, sizeof(*ud));
        *ud = shm_at(i);
        lua_pushvalue(L, -6);
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -4, i + 1);
        k->ud[k->n++] = ud;
        lua_rawseti(L, -2, 1);
        lua_pushvalue(L, -4);
        lua_setmetatable(L, -2);
        lua_setfield(L, -6, shm_dict_name(shm_at(i)));
    }
    lua_setfenv(L, -2);
    for (reg = shm_lua_methods; reg->name; reg++) {
        lua_pushvalue(L, -1);
        lua_pushcclosure(L, reg->func, 1);
        lua_setfield(L, -3, reg->name);
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 2);
}

/* Push this state's `shared` table (ngx.shared), made on first use.
 * [-0, +1, m] */
int
shm_lua_push(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&shm_lua_registry_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    shm_lua_make(L);
    lua_pushlightuserdata(L, (void *)&shm_lua_registry_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
    return 1;
}
