/*
 * ngx_time.c: ngx.time, now, update_time, today, localtime, utctime,
 * http_time, cookie_time and parse_http_time.
 *
 * nginx serves ngx.now() from a clock it updates once per turn of its
 * event loop, so two reads within one stretch of Lua code agree; code
 * measures a span with ngx.update_time() first. The same holds here: the
 * clock is read at a request's (or timer's) first ask and again only on
 * ngx.update_time() or after ngx.sleep(), to the millisecond, as nginx
 * keeps it. The formats are nginx's; parsing takes the three forms HTTP
 * allows (RFC 1123, RFC 850, asctime), with the C library's strptime.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>

#include "ngx_impl.h"

static const char *const ngx_time_week[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const ngx_time_months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Read the wall clock into S's cache, to the millisecond. */
void
ngx_time_update(struct ngx_state *s)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    s->now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The cached clock, in ms. */
static long long
ngx_time_ms(lua_State *L)
{
    struct ngx_state *s = ngx_bound(L);

    if (s->now_ms == 0)
        ngx_time_update(s);
    return s->now_ms;
}

static int
ngx_time_time(lua_State *L)
{
    long long sec = ngx_time_ms(L) / 1000;

    lua_pushnumber(L, (lua_Number)sec);
    return 1;
}

static int
ngx_time_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)ngx_time_ms(L) / 1000.0);
    return 1;
}

static int
ngx_time_update_time(lua_State *L)
{
    ngx_time_update(ngx_bound(L));
    return 0;
}

/* Push the cached time as FMT (strftime), local or UTC. [-0, +1] */
static int
ngx_time_format(lua_State *L, const char *fmt, int utc)
{
    time_t t = (time_t)(ngx_time_ms(L) / 1000);
    struct tm tm;
    char buf[64];

    if (utc)
        gmtime_r(&t, &tm);
    else
        localtime_r(&t, &tm);
    lua_pushlstring(L, buf, strftime(buf, sizeof(buf), fmt, &tm));
    return 1;
}

static int
ngx_time_today(lua_State *L)
{
    return ngx_time_format(L, "%Y-%m-%d", 0);
}

static int
ngx_time_localtime(lua_State *L)
{
    return ngx_time_format(L, "%Y-%m-%d %H:%M:%S", 0);
}

static int
ngx_time_utctime(lua_State *L)
{
    return ngx_time_format(L, "%Y-%m-%d %H:%M:%S", 1);
}

/* The number at 1 as a UTC time, or OpenResty's error. [-0, +0, v] */
static void
ngx_time_arg(lua_State *L, struct tm *tm)
{
    time_t t;

    if (lua_type(L, 1) != LUA_TNUMBER)
        ngx_error_at(L, 2, "number argument only");
    t = (time_t)lua_tonumber(L, 1);
    gmtime_r(&t, tm);
}

/* ngx.http_time(sec): "Thu, 18 Nov 2010 11:27:35 GMT". [-0, +1, e] */
static int
ngx_time_http_time(lua_State *L)
{
    struct tm tm;
    char buf[64];

    ngx_time_arg(L, &tm);
    lua_pushlstring(L, buf, (size_t)snprintf(buf, sizeof(buf), "%s, %02d %s %4d %02d:%02d:%02d GMT",
                    ngx_time_week[tm.tm_wday], tm.tm_mday, ngx_time_months[tm.tm_mon],
                    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec));
    return 1;
}

/* ngx.cookie_time(sec): "Thu, 18-Nov-10 11:27:35 GMT", four digits of
 * year after 2037, as nginx writes it. [-0, +1, e] */
static int
ngx_time_cookie_time(lua_State *L)
{
    struct tm tm;
    char buf[64];
    int year;

    ngx_time_arg(L, &tm);
    year = tm.tm_year + 1900;
    lua_pushlstring(L, buf, (size_t)snprintf(buf, sizeof(buf),
                    year > 2037 ? "%s, %02d-%s-%d %02d:%02d:%02d GMT" :
                                  "%s, %02d-%s-%02d %02d:%02d:%02d GMT",
                    ngx_time_week[tm.tm_wday], tm.tm_mday, ngx_time_months[tm.tm_mon],
                    year > 2037 ? year : year % 100, tm.tm_hour, tm.tm_min, tm.tm_sec));
    return 1;
}

/* ngx.parse_http_time(str): seconds, or nil. [-0, +1, e] */
static int
ngx_time_parse_http_time(lua_State *L)
{
    static const char *const forms[] = {
        "%a, %d %b %Y %H:%M:%S",        /* RFC 1123 */
        "%A, %d-%b-%y %H:%M:%S",        /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",         /* asctime */
    };
    const char *s, *end;
    struct tm tm;
    size_t i;

    if (lua_type(L, 1) != LUA_TSTRING)
        return ngx_error_at(L, 2, "string argument only");
    s = lua_tostring(L, 1);
    for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, forms[i], &tm);
        /* " GMT" may follow, or nothing, as nginx takes it */
        if (end != NULL && (*end == '\0' || strcmp(end, " GMT") == 0)) {
            if (tm.tm_year + 1900 < 1970) {
                break;
            }
            lua_pushnumber(L, (lua_Number)timegm(&tm));
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

static const luaL_Reg ngx_time_fns[] = {
    { "time",            ngx_time_time },
    { "now",             ngx_time_now },
    { "update_time",     ngx_time_update_time },
    { "today",           ngx_time_today },
    { "localtime",       ngx_time_localtime },
    { "utctime",         ngx_time_utctime },
    { "http_time",       ngx_time_http_time },
    { "cookie_time",     ngx_time_cookie_time },
    { "parse_http_time", ngx_time_parse_http_time },
    { NULL, NULL }
};

void
ngx_time_install(lua_State *L)
{
    ngx_register(L, ngx_time_fns);
}
