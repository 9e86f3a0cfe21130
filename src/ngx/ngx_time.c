/*
 * ngx_time.c: ngx.time, now, update_time, today, localtime, utctime,
 * http_time, cookie_time and parse_http_time.
 *
 * nginx serves ngx.now() from a clock it updates once per turn of its
 * event loop, so two reads within one stretch of Lua code agree; code
 * measures a span with ngx.update_time() first. The same holds here: the
 * clock is read at a request's (or timer's) first ask and again only on
 * ngx.update_time() or after ngx.sleep(), to the millisecond, as nginx
 * keeps it. The formats and the parsing are nginx's own (not the C
 * library's gmtime and strptime): what scripts see of them, a time past
 * 9999 or before 1970, NaN, a date with something after it, is nginx's.
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

/* A broken-down UTC time, as nginx's ngx_tm_t holds it. */
struct ngx_time_tm {
    int year, mon, mday, wday, hour, min, sec;     /* mon 0-11, wday 0 Sunday */
};

#define NGX_TIME_MAX_DAYS   2932896     /* 9999-12-31: nginx writes 4 digits at most */

/*
 * SEC as nginx's ngx_gmtime breaks it down: the number made a time_t as
 * LuaJIT's FFI makes it (what that cannot hold, NaN and +-inf included,
 * is the smallest time_t), a negative time as the epoch, and anything
 * past 9999 as its last second. The day is found by Gauss' formula from
 * March 1, 1 BC, as nginx finds it.
 */
static void
ngx_time_gmtime(lua_Number sec, struct ngx_time_tm *tm)
{
    long long t = 0, days, secs, year, yday, mon, leap;

    if (sec >= 0 && sec < 9223372036854775807.0)
        t = (long long)sec;
    days = t / 86400;
    secs = t % 86400;
    if (days > NGX_TIME_MAX_DAYS) {
        days = NGX_TIME_MAX_DAYS;
        secs = 86399;
    }
    tm->wday = (int)((4 + days) % 7);          /* January 1, 1970 was a Thursday */
    tm->hour = (int)(secs / 3600);
    tm->min = (int)(secs % 3600 / 60);
    tm->sec = (int)(secs % 60);
    days = days - (31 + 28) + 719527;           /* since March 1, 1 BC */
    year = (days + 2) * 400 / (365 * 400 + 100 - 4 + 1);
    yday = days - (365 * year + year / 4 - year / 100 + year / 400);
    if (yday < 0) {
        leap = (year % 4 == 0) && (year % 100 != 0 || year % 400 == 0);
        yday = 365 + leap + yday;
        year--;
    }
    mon = (yday + 31) * 10 / 306;
    tm->mday = (int)(yday - (367 * mon / 12 - 30) + 1);
    if (yday >= 306) {
        year++;
        mon -= 10;
    } else {
        mon += 2;
    }
    tm->year = (int)year;
    tm->mon = (int)mon - 1;
}

/* The number at 1 broken down as a UTC time, or OpenResty's error. [-0, +0, v] */
static void
ngx_time_arg(lua_State *L, struct ngx_time_tm *tm)
{
    if (lua_type(L, 1) != LUA_TNUMBER)
        ngx_error_at(L, 2, "number argument only");
    ngx_time_gmtime(lua_tonumber(L, 1), tm);
}

/* ngx.http_time(sec): "Thu, 18 Nov 2010 11:27:35 GMT". [-0, +1, e] */
static int
ngx_time_http_time(lua_State *L)
{
    struct ngx_time_tm tm;
    char buf[64];

    ngx_time_arg(L, &tm);
    lua_pushlstring(L, buf, (size_t)snprintf(buf, sizeof(buf), "%s, %02d %s %4d %02d:%02d:%02d GMT",
                    ngx_time_week[tm.wday], tm.mday, ngx_time_months[tm.mon],
                    tm.year, tm.hour, tm.min, tm.sec));
    return 1;
}

/* ngx.cookie_time(sec): "Thu, 18-Nov-10 11:27:35 GMT", four digits of
 * year after 2037, as nginx writes it. [-0, +1, e] */
static int
ngx_time_cookie_time(lua_State *L)
{
    struct ngx_time_tm tm;
    char buf[64];

    ngx_time_arg(L, &tm);
    lua_pushlstring(L, buf, (size_t)snprintf(buf, sizeof(buf),
                    tm.year > 2037 ? "%s, %02d-%s-%d %02d:%02d:%02d GMT" :
                                     "%s, %02d-%s-%02d %02d:%02d:%02d GMT",
                    ngx_time_week[tm.wday], tm.mday, ngx_time_months[tm.mon],
                    tm.year > 2037 ? tm.year : tm.year % 100, tm.hour, tm.min, tm.sec));
    return 1;
}

/* The text being parsed: its bytes, and '\0' past its end. */
struct ngx_time_text {
    const char *p;
    size_t      len;
};

static int
ngx_time_at(const struct ngx_time_text *t, size_t i)
{
    return i < t->len ? (unsigned char)t->p[i] : '\0';
}

/* The N digits at I as a number, or -1. */
static long long
ngx_time_digits(const struct ngx_time_text *t, size_t i, int n)
{
    long long v = 0;

    for (; n > 0; n--, i++) {
        int c = ngx_time_at(t, i);
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

/* The month whose name starts at I (nginx reads as few letters as tell
 * them apart), 0-11, or -1. */
static int
ngx_time_month(const struct ngx_time_text *t, size_t i)
{
    switch (ngx_time_at(t, i)) {
    case 'J': return ngx_time_at(t, i + 1) == 'a' ? 0 : ngx_time_at(t, i + 2) == 'n' ? 5 : 6;
    case 'F': return 1;
    case 'M': return ngx_time_at(t, i + 2) == 'r' ? 2 : 4;
    case 'A': return ngx_time_at(t, i + 1) == 'p' ? 3 : 7;
    case 'S': return 8;
    case 'O': return 9;
    case 'N': return 10;
    case 'D': return 11;
    default:  return -1;
    }
}

/* "hh:mm:ss" at I, into *SEC (seconds into the day); 0 or -1. */
static int
ngx_time_clock(const struct ngx_time_text *t, size_t i, long long *sec)
{
    long long h = ngx_time_digits(t, i, 2), m = ngx_time_digits(t, i + 3, 2),
              s = ngx_time_digits(t, i + 6, 2);

    if (h < 0 || ngx_time_at(t, i + 2) != ':' || m < 0 || ngx_time_at(t, i + 5) != ':' || s < 0)
        return -1;
    if (h > 23 || m > 59 || s > 59)
        return -1;
    *sec = h * 3600 + m * 60 + s;
    return 0;
}

/*
 * An HTTP date (RFC 1123 "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850
 * "Sunday, 06-Nov-94 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994")
 * as seconds since the epoch, or -1: nginx's ngx_parse_http_time, whose
 * rules scripts see through ngx.parse_http_time (what follows the time
 * is not looked at; a year before 1970 gives a negative time).
 */
static long long
ngx_time_parse(const struct ngx_time_text *t)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    enum { RFC822, RFC850, ISOC } fmt = RFC822;
    size_t i = 0;
    long long day = 0, year = 0, sec, month;
    unsigned long long y, days;

    while (i < t->len && t->p[i] != ',' && t->p[i] != ' ')
        i++;
    if (i < t->len && t->p[i] == ' ')
        fmt = ISOC;
    for (i++; i < t->len && t->p[i] == ' '; i++)
        continue;
    if (i > t->len || t->len - i < 18)
        return -1;
    if (fmt != ISOC) {
        if ((day = ngx_time_digits(t, i, 2)) < 0)
            return -1;
        i += 2;
        if (ngx_time_at(t, i) == ' ' && t->len - i >= 18)
            fmt = RFC822;
        else if (ngx_time_at(t, i) == '-')
            fmt = RFC850;
        else
            return -1;
        i++;
    }
    if ((month = ngx_time_month(t, i)) < 0)
        return -1;
    i += 3;
    if ((fmt == RFC822 && ngx_time_at(t, i) != ' ') || (fmt == RFC850 && ngx_time_at(t, i) != '-'))
        return -1;
    i++;
    if (fmt == RFC822) {
        if ((year = ngx_time_digits(t, i, 4)) < 0)
            return -1;
        i += 4;
    } else if (fmt == RFC850) {
        if ((year = ngx_time_digits(t, i, 2)) < 0)
            return -1;
        year += year < 70 ? 2000 : 1900;
        i += 2;
    } else {
        if (ngx_time_at(t, i) == ' ')
            i++;
        if ((day = ngx_time_digits(t, i++, 1)) < 0)
            return -1;
        if (ngx_time_at(t, i) != ' ') {
            if (ngx_time_digits(t, i, 1) < 0)
                return -1;
            day = day * 10 + ngx_time_digits(t, i++, 1);
        }
        if (i > t->len || t->len - i < 14)
            return -1;
    }
    if (ngx_time_at(t, i++) != ' ' || ngx_time_clock(t, i, &sec) < 0)
        return -1;
    if (fmt == ISOC) {
        i += 8;
        if (ngx_time_at(t, i++) != ' ' || (year = ngx_time_digits(t, i, 4)) < 0)
            return -1;
    }
    if (day == 29 && month == 1) {
        if ((year & 3) || (year % 100 == 0 && year % 400 != 0))
            return -1;
    } else if (day > mdays[month]) {
        return -1;
    }
    if (--month <= 0) {         /* the year from March 1, months from 1 */
        month += 12;
        year -= 1;
    }
    /* in nginx's unsigned arithmetic: year 0 comes round to 2^64 - 1 */
    y = (unsigned long long)year;
    days = 365 * y + y / 4 - y / 100 + y / 400 + (unsigned long long)(367 * month / 12 - 30)
           + (unsigned long long)day - 1 - 719527 + 31 + 28;
    return (long long)(days * 86400 + (unsigned long long)sec);
}

/* ngx.parse_http_time(str): seconds, or nil. [-0, +1, e] */
static int
ngx_time_parse_http_time(lua_State *L)
{
    struct ngx_time_text t;
    long long sec;

    if (lua_type(L, 1) != LUA_TSTRING)
        return ngx_error_at(L, 2, "string argument only");
    t.p = lua_tolstring(L, 1, &t.len);
    if ((sec = ngx_time_parse(&t)) == -1)
        lua_pushnil(L);
    else
        lua_pushnumber(L, (lua_Number)sec);
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
