/*
 * formfields.c: the tables req:form() fills.
 *
 * A name given once maps to its value; given again, to an array of its
 * values in order, as the luafcgid module's parse() does. A file's value
 * is a table too, so an array is told from one value by its [1]. The
 * urlencoded splitter is parse()'s in C ('&' or ';' between pairs, '+' and
 * %XX decoded, empty names skipped), with the bounds that parse() lacks:
 * `maxfields` names and LF_MAX_FIELD_NAME bytes a name, checked before a
 * name reaches a table.
 */
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "formfields.h"

/* Is the value at IDX an array of values (a repeated name), not one value? */
static int
formfields_is_array(lua_State *L, int idx)
{
    int yes;

    if (!lua_istable(L, idx))
        return 0;
    lua_rawgeti(L, idx, 1);
    yes = !lua_isnil(L, -1);    /* a file's table has no [1] */
    lua_pop(L, 1);
    return yes;
}

/* t[name] = value (on top, popped); a repeated name becomes an array. [-1, +0, m] */
void
formfields_add(lua_State *L, int t, const char *name, size_t nlen)
{
    int value = lua_gettop(L);

    lua_pushlstring(L, name, nlen);             /* value name */
    lua_pushvalue(L, -1);
    lua_rawget(L, t);                           /* value name old */
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushvalue(L, value);
        lua_rawset(L, t);
    } else if (formfields_is_array(L, -1)) {
        lua_pushvalue(L, value);
        lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
    } else {
        lua_createtable(L, 2, 0);               /* value name old array */
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
        lua_pushvalue(L, value);
        lua_rawseti(L, -2, 2);
        lua_rawset(L, t);
    }
    lua_settop(L, value - 1);
}

static int
formfields_unhex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One urlencoded name or value, decoded onto the stack. [-0, +1, m] */
static void
formfields_push_decoded(lua_State *L, const char *p, size_t n)
{
    luaL_Buffer b;
    size_t i;

    luaL_buffinit(L, &b);
    for (i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '+')
            luaL_addchar(&b, ' ');
        else if (p[i] == '%' && i + 2 < n && (hi = formfields_unhex((unsigned char)p[i + 1])) >= 0 &&
                 (lo = formfields_unhex((unsigned char)p[i + 2])) >= 0) {
            luaL_addchar(&b, (char)(hi << 4 | lo));
            i += 2;
        } else
            luaL_addchar(&b, p[i]);
    }
    luaL_pushresult(&b);
}

/*
 * An application/x-www-form-urlencoded BODY into the table at FIELDS, as
 * the module's parse() splits it; more than MAXFIELDS names, or a name
 * over LF_MAX_FIELD_NAME bytes, is an error. [-0, +0, e]
 */
void
formfields_urlencoded(lua_State *L, int fields, const char *body, size_t len, int maxfields)
{
    const char *p = body, *end = body + len;
    int count = 0;

    while (p < end) {
        const char *stop = p, *eq;
        while (stop < end && *stop != '&' && *stop != ';')
            stop++;
        eq = memchr(p, '=', (size_t)(stop - p));
        if (eq == NULL)
            eq = stop;
        if (eq > p) {
            size_t nlen;
            if (++count > maxfields) {
                lua_pushfstring(L, "form: more than maxfields (%d) fields and files", maxfields);
                lua_error(L);
            }
            formfields_push_decoded(L, p, (size_t)(eq - p));
            nlen = lua_objlen(L, -1);
            if (nlen > LF_MAX_FIELD_NAME) {
                lua_pushfstring(L, "form: a field name is over %d bytes", LF_MAX_FIELD_NAME);
                lua_error(L);
            }
            formfields_push_decoded(L, eq < stop ? eq + 1 : stop, eq < stop ? (size_t)(stop - eq - 1) : 0);
            formfields_add(L, fields, lua_tostring(L, -2), nlen);
            lua_pop(L, 1);
        }
        if (stop == end)
            break;
        p = stop + 1;
    }
}

