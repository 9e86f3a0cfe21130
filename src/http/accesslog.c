/*
 * accesslog.c: the access log, one line per request in php-fpm's
 * access.format, so that the tools that read php-fpm's log read ours.
 *
 * The tokens and what they print are php-fpm's (fpm_log.c): %R remote
 * address, %u remote user, %t the time the request began (strftime format
 * in %{...}t), %T the time of the line, %m method, %r the URI without its
 * query string, %Q "?" when there is a query string, %q the query string,
 * %s status, %f script, %l request body length, %d duration (%{mili}d,
 * %{micro}d), %M the Lua state's peak memory (%{kilo}M, %{mega}M), %C the
 * worker thread's CPU use in per cent ({user}, {system}, {total}), %n the
 * pool name (luafcgid), %p the worker (a worker is our process, as on the
 * status page), %{NAME}e a FastCGI parameter, with %{REQUEST_ID}e the
 * request id. Durations run from the request's BEGIN_REQUEST, not from
 * the connection's accept: on a kept connection that is much later.
 *
 * Unlike php-fpm, what comes from the request is escaped (", \, control
 * characters and bytes over 0x7e as \xNN, as nginx does): a client cannot
 * forge a line or a field, and each value is cut at the cap the format's
 * check worked out, so that it cannot push the fields after it off the
 * line. The format is checked when the config is loaded (accessfmt.c);
 * here it is walked for every request, without allocating, until the
 * line is full, and the line goes out in one write on an O_APPEND
 * descriptor (logfile.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <fcgiapp.h>

#include "luafcgid.h"
#include "accesslog.h"
#include "accessfmt.h"
#include "conf.h"
#include "log.h"
#include "logfile.h"
#include "monoclock.h"
#include "reqenv.h"
#include "request.h"

static struct logfile accesslog_file = LOGFILE_INIT("access log");

int
accesslog_open(const struct conf *c)
{
    return c->access_log ? logfile_open(&accesslog_file, c->access_log) : 0;
}

void
accesslog_close(void)
{
    logfile_close(&accesslog_file);
}

/* S into OUT (SIZE bytes, a string) with ", \, controls and bytes over
 * 0x7e as \xNN; cut before an escape that does not fit (*CUT set). Its
 * length. */
static size_t
accesslog_escape_cut(char *out, size_t size, const char *s, int *cut)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    *cut = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int plain = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\';
        if (o + (plain ? 1 : 4) >= size) {
            *cut = 1;
            break;
        }
        if (plain)
            out[o++] = (char)ch;
        else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 0xf];
        }
    }
    out[o] = '\0';
    return o;
}

size_t
accesslog_escape(char *out, size_t size, const char *s)
{
    int cut;

    return accesslog_escape_cut(out, size, s, &cut);
}

/* The line being made: never past its end. */
struct accesslog_line {
    char    data[ACCESSLOG_LINE_MAX];
    size_t  len;
    size_t  value_max;      /* a request value's cap, from the config */
};

static void
accesslog_put(struct accesslog_line *l, const char *s, size_t n)
{
    if (n > sizeof(l->data) - 1 - l->len)
        n = sizeof(l->data) - 1 - l->len;
    memcpy(l->data + l->len, s, n);
    l->len += n;
}

/* Request data, escaped; "-" when absent and DASH. A value is cut at
 * the cap the format's check gave (ACCESSLOG_VALUE_MAX at most) and ends
 * in "..." then: a client must not push the fields after it (%s, %d) off
 * the line. */
static void
accesslog_put_value(struct accesslog_line *l, const char *v, int dash)
{
    size_t room = sizeof(l->data) - 1 - l->len;
    int cut;

    if (v == NULL || v[0] == '\0') {
        if (dash)
            accesslog_put(l, "-", 1);
        return;
    }
    if (room > l->value_max - 3)
        room = l->value_max - 3;
    l->len += accesslog_escape_cut(l->data + l->len, room + 1, v, &cut);
    if (cut)
        accesslog_put(l, "...", 3);
}

static void
accesslog_printf(struct accesslog_line *l, const char *fmt, ...) LF_PRINTF(2, 3);

static void
accesslog_printf(struct accesslog_line *l, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        accesslog_put(l, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* glibc's localtime_r() takes a process-wide lock on every call: each
 * worker converts a given second once and keeps it. */
static __thread time_t accesslog_tm_when = (time_t)-1;
static __thread struct tm accesslog_tm;

static void
accesslog_put_time(struct accesslog_line *l, time_t when, const char *arg)
{
    char tmp[ACCESSLOG_TIME_MAX];      /* checked at load */
    struct tm tm;
    size_t n;

    if (when != accesslog_tm_when) {
        localtime_r(&when, &accesslog_tm);
        accesslog_tm_when = when;
    }
    tm = accesslog_tm;
    n = strftime(tmp, sizeof(tmp), arg[0] ? arg : ACCESSLOG_TIME_DEFAULT, &tm);
    accesslog_put(l, tmp, n);
}

static long long
accesslog_us(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000 + ts->tv_nsec / 1000;
}

/* What the request cost: its duration (µs), and the thread's CPU (µs). */
struct accesslog_cost {
    long long   duration_us;
    long long   user_us, system_us;
};

static void
accesslog_put_duration(struct accesslog_line *l, long long us, const char *arg)
{
    if (!strncasecmp(arg, "mil", 3))
        accesslog_printf(l, "%.3f", (double)us / 1000.0);
    else if (!strncasecmp(arg, "micro", 5))
        accesslog_printf(l, "%lld", us);
    else
        accesslog_printf(l, "%.3f", (double)us / 1000000.0);
}

static void
accesslog_put_cpu(struct accesslog_line *l, const struct accesslog_cost *cost, const char *arg)
{
    long long cpu = !strcasecmp(arg, "user") ? cost->user_us :
                    !strcasecmp(arg, "system") ? cost->system_us : cost->user_us + cost->system_us;
    if (cost->user_us < 0) {
        accesslog_put(l, "-", 1);   /* not taken at the start: nothing to compare */
        return;
    }
    accesslog_printf(l, "%.2f", cost->duration_us > 0 ? 100.0 * (double)cpu / (double)cost->duration_us : 0.0);
}

static void
accesslog_put_memory(struct accesslog_line *l, size_t bytes, const char *arg)
{
    if (!strncasecmp(arg, "kilo", 4))
        bytes /= 1024;
    else if (!strncasecmp(arg, "mega", 4))
        bytes /= (size_t)1024 * 1024;
    accesslog_printf(l, "%zu", bytes);
}

/* %r: the URI without its query string; the script's name without one. */
static void
accesslog_put_uri(struct accesslog_line *l, const struct request *r)
{
    const char *uri = r->vars.request_uri;
    char tmp[ACCESSLOG_LINE_MAX / 2];
    const char *q;
    size_t n;

    if (uri == NULL || uri[0] == '\0') {
        accesslog_put_value(l, r->vars.script_name, 1);
        return;
    }
    q = strchr(uri, '?');
    n = q ? (size_t)(q - uri) : strlen(uri);
    if (n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    memcpy(tmp, uri, n);
    tmp[n] = '\0';
    accesslog_put_value(l, tmp, 1);
}

static void
accesslog_put_env(struct accesslog_line *l, const struct request *r, const char *name)
{
    if (strcmp(name, "REQUEST_ID") == 0)
        accesslog_put_value(l, r->id, 1);
    else
        accesslog_put_value(l, reqenv_param(name, r->fcgx.envp), 1);
}

/* What the line says of a request: its status as the client got it (NULL:
 * the request's own), and what it cost. */
struct accesslog_view {
    const char *status;
    struct accesslog_cost cost;
};

/*
 * The status the client got: V's when set, else 499 (nginx's "client
 * closed request") for a request whose answer never began because its
 * connection failed first (the client went away, was too slow with its
 * body, sent a record out of sequence), else the answer's. headers_sent
 * is read first, as the housekeeper reads it (writeoff.c).
 */
static const char *
accesslog_status(const struct request *r, const struct accesslog_view *v)
{
    if (v->status != NULL)
        return v->status;
    if (!__atomic_load_n(&r->headers_sent, __ATOMIC_RELAXED) && r->client_gone)
        return "499";
    return r->status.len >= 3 ? r->status.data : "500";
}

static void
accesslog_put_token(struct accesslog_line *l, const struct request *r,
                    const struct accesslog_view *v, int tok, const char *arg)
{
    const struct accesslog_cost *cost = &v->cost;
    char **env = r->fcgx.envp;
    const char *q;

    switch (tok) {
    case '%': accesslog_put(l, "%", 1); break;
    case 'R': accesslog_put_value(l, reqenv_param("REMOTE_ADDR", env), 1); break;
    case 'u': accesslog_put_value(l, reqenv_param("REMOTE_USER", env), 1); break;
    case 't': accesslog_put_time(l, r->began_at.tv_sec, arg); break;
    case 'T': accesslog_put_time(l, time(NULL), arg); break;
    case 'm': accesslog_put_value(l, r->vars.request_method, 1); break;
    case 'r': accesslog_put_uri(l, r); break;
    case 'Q':
        q = reqenv_param("QUERY_STRING", env);
        if (q && q[0])
            accesslog_put(l, "?", 1);
        break;
    case 'q': accesslog_put_value(l, reqenv_param("QUERY_STRING", env), 0); break;
    case 's':
        accesslog_printf(l, "%.3s", accesslog_status(r, v));
        break;
    case 'f': accesslog_put_value(l, r->script, 1); break;
    case 'l': accesslog_put_value(l, r->vars.content_length, 1); break;
    case 'd': accesslog_put_duration(l, cost->duration_us, arg); break;
    case 'C': accesslog_put_cpu(l, cost, arg); break;
    case 'M': accesslog_put_memory(l, r->memory, arg); break;
    case 'n': accesslog_put(l, LF_NAME, strlen(LF_NAME)); break;
    case 'p': accesslog_printf(l, "%d", r->worker); break;
    case 'e': accesslog_put_env(l, r, arg); break;
    }
}

static void
accesslog_cost(const struct request *r, struct accesslog_cost *cost)
{
    struct timespec user, system;

    cost->duration_us = monoclock_us() - r->began_us;
    cost->user_us = cost->system_us = -1;
    if (!r->cpu_taken)
        return;
    monoclock_thread_cpu(&user, &system);
    cost->user_us = accesslog_us(&user) - accesslog_us(&r->cpu_user);
    cost->system_us = accesslog_us(&system) - accesslog_us(&r->cpu_system);
}

/* R's line as V says, in the format its config names, out in one write. */
static void
accesslog_emit(const struct request *r, const struct accesslog_view *v)
{
    struct accesslog_line l;
    char arg[ACCESSLOG_ARG_MAX];
    const char *p = r->conf->access_format, *pct;
    int tok;

    l.len = 0;
    l.value_max = r->conf->access_value_max;
    /* a full line stops the walk: a long format costs no more after it */
    while (l.len < sizeof(l.data) - 1) {
        if ((pct = strchr(p, '%')) == NULL) {
            accesslog_put(&l, p, strlen(p));
            break;
        }
        accesslog_put(&l, p, (size_t)(pct - p));
        p = pct + 1;
        if ((tok = accessfmt_token(&p, arg, sizeof(arg))) == 0)
            break;      /* checked at load: cannot happen */
        accesslog_put_token(&l, r, v, tok, arg);
    }
    l.data[l.len++] = '\n';
    logfile_write(&accesslog_file, l.data, l.len);
}

/* R's line, from its worker at its end. */
void
accesslog_write(const struct request *r)
{
    struct accesslog_view v = { NULL, { 0, -1, -1 } };

    if (r->conf->access_log == NULL)
        return;
    accesslog_cost(r, &v.cost);
    accesslog_emit(r, &v);
}

/*
 * R's line when its worker was written off (writeoff.c, on the housekeeper,
 * under the run's lock: the stuck worker frees nothing of R meanwhile):
 * STATUS is what its client got ("500", or NULL when the answer had
 * begun: R's own, settled with its headers). The thread's CPU is the
 * stuck worker's, which no other thread can read: "-".
 */
void
accesslog_write_off(const struct request *r, const char *status)
{
    struct accesslog_view v = { status, { 0, -1, -1 } };

    if (r->conf == NULL || r->conf->access_log == NULL)
        return;
    v.cost.duration_us = monoclock_us() - r->began_us;
    accesslog_emit(r, &v);
}
