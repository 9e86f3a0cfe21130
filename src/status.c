/*
 * status.c: the status and ping pages.
 *
 * A request whose SCRIPT_NAME is status_path or ping_path is answered
 * here, before any file, docroot or extension check, and runs no Lua: the
 * page is read from the counters (counters.c), the pool and the
 * dispatcher, each under its own short lock or none. The fields are php-fpm's,
 * with its names and meanings, so its exporters and templates read ours;
 * ours follow them. Which worker answers does not matter: when every
 * worker is busy, the dispatcher's service thread reads the request and
 * answers it (dispatch.c), so a stuck pool still shows why.
 *
 * This file gathers the figures into a page (struct status_page); the
 * formats are status_format.c (text, JSON, XML, HTML) and
 * status_metrics.c (OpenMetrics).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "luafcgid.h"
#include "buf.h"
#include "conf.h"
#include "counters.h"
#include "dispatch.h"
#include "fcgi_peek.h"
#include "log.h"
#include "pool.h"
#include "status.h"

#define STATUS_MAX_FIELDS 48

/* Set once at start-up, before any worker runs. */
static struct pool *status_pool;
static struct dispatch *status_dispatch;
static int status_restarts;

void
status_init(struct pool *pool, struct dispatch *dispatch, int restarts)
{
    status_pool = pool;
    status_dispatch = dispatch;
    status_restarts = restarts;
}

enum status_which
status_match(const struct conf *c, const char *script_name)
{
    if (script_name == NULL)
        return STATUS_NONE;
    if (c->status_path && strcmp(script_name, c->status_path) == 0)
        return STATUS_STATUS;
    if (c->ping_path && strcmp(script_name, c->ping_path) == 0)
        return STATUS_PING;
    return STATUS_NONE;
}

/* For the dispatcher's service thread: is the request waiting on FD a
 * status or ping request? Read with MSG_PEEK, so it stays on the socket. */
int
status_peek(int fd)
{
    char name[1024];
    struct conf *c = conf_acquire();
    int rc = 0;

    if ((c->status_path || c->ping_path) &&
        fcgi_peek_param(fd, "SCRIPT_NAME", name, sizeof(name)) == 1)
        rc = status_match(c, name) != STATUS_NONE;
    conf_release(c);
    return rc;
}

/* Does the query string hold WORD as a name (php-fpm: ?json&full)? */
static int
status_query_has(const char *query, const char *word)
{
    size_t n = strlen(word);
    const char *p = query;

    while (p && *p) {
        if (strncmp(p, word, n) == 0 && (p[n] == '\0' || p[n] == '&' || p[n] == '='))
            return 1;
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return 0;
}

static void
status_add(struct status_page *pg, const char *key, enum status_kind kind, long long num,
           const char *text)
{
    struct status_field *f;

    if (pg->nfields == STATUS_MAX_FIELDS)
        return;
    f = &pg->fields[pg->nfields++];
    f->key = key;
    f->kind = kind;
    f->num = num;
    f->text = text;
}

static void
status_pool_fields(struct status_page *pg, const struct conf *c, const struct counters_totals *t)
{
    struct dispatch_counts dc = { 0, 0, 0 };
    struct pool_counts pc = { 0, 0, 0, 0 };
    time_t now = time(NULL);
    int workers = counters_workers();

    if (status_dispatch)
        dispatch_counts(status_dispatch, &dc);
    if (status_pool)
        pool_counts(status_pool, &pc);
    counters_queue(dc.ready);
    status_add(pg, "pool", STATUS_TEXT, 0, LF_NAME);
    status_add(pg, "process manager", STATUS_TEXT, 0, "static");
    status_add(pg, "start time", STATUS_TIME, (long long)t->start_time, NULL);
    status_add(pg, "start since", STATUS_NUM, (long long)(now - t->start_time), NULL);
    status_add(pg, "accepted conn", STATUS_NUM, (long long)t->accepted, NULL);
    status_add(pg, "listen queue", STATUS_NUM, dc.ready, NULL);
    status_add(pg, "max listen queue", STATUS_NUM,
               t->max_queue > dc.ready ? t->max_queue : dc.ready, NULL);
    status_add(pg, "listen queue len", STATUS_NUM, c->backlog, NULL);
    status_add(pg, "idle processes", STATUS_NUM, workers - t->active, NULL);
    status_add(pg, "active processes", STATUS_NUM, t->active, NULL);
    status_add(pg, "total processes", STATUS_NUM, workers, NULL);
    status_add(pg, "max active processes", STATUS_NUM, t->max_active, NULL);
    status_add(pg, "max children reached", STATUS_NUM, (long long)t->max_children_reached, NULL);
    status_add(pg, "slow requests", STATUS_NUM, (long long)t->slow, NULL);
    /* ours */
    status_add(pg, "luafcgid version", STATUS_TEXT, 0, LF_VERSION);
    status_add(pg, "state waits", STATUS_NUM, (long long)t->waits, NULL);
    status_add(pg, "state wait ms", STATUS_NUM, (long long)t->wait_ms, NULL);
    status_add(pg, "states", STATUS_NUM, pc.states, NULL);
    status_add(pg, "states limit", STATUS_NUM, c->states, NULL);
    status_add(pg, "scripts", STATUS_NUM, pc.scripts, NULL);
    status_add(pg, "kept connections", STATUS_NUM, dc.parked, NULL);
    status_add(pg, "restarts", STATUS_NUM, status_restarts, NULL);
    status_add(pg, "errors runtime", STATUS_NUM, (long long)t->errors[COUNTERS_RUNTIME], NULL);
    status_add(pg, "errors syntax", STATUS_NUM, (long long)t->errors[COUNTERS_SYNTAX], NULL);
    status_add(pg, "errors not found", STATUS_NUM, (long long)t->errors[COUNTERS_NOT_FOUND], NULL);
    status_add(pg, "errors timeout", STATUS_NUM, (long long)t->errors[COUNTERS_TIMEOUT], NULL);
    status_add(pg, "errors memory", STATUS_NUM, (long long)t->errors[COUNTERS_MEMORY], NULL);
}

/* php-fpm's per-process entry, for worker I (1-based); its `pid` is the
 * worker's number. */
static void
status_process(struct status_field *p, int i, struct counters_worker *w, time_t now)
{
    static const char *const keys[STATUS_PROCESS_FIELDS] = {
        "pid", "state", "start time", "start since", "requests", "request duration",
        "request method", "request URI", "content length", "user", "script",
        "last request cpu", "last request memory"
    };
    int k;

    for (k = 0; k < STATUS_PROCESS_FIELDS; k++) {
        p[k].key = keys[k];
        p[k].kind = STATUS_NUM;
        p[k].num = 0;
        p[k].text = NULL;
    }
    p[0].num = i;
    p[1].kind = STATUS_TEXT;
    p[1].text = w->running ? "Running" : "Idle";
    p[2].kind = STATUS_TIME;
    p[2].num = (long long)w->started;
    p[3].num = (long long)(now - w->started);
    p[4].num = (long long)w->requests;
    p[5].num = w->duration_us;
    p[6].kind = p[7].kind = p[9].kind = p[10].kind = STATUS_TEXT;
    p[6].text = w->method[0] ? w->method : "-";
    p[7].text = w->uri[0] ? w->uri : "-";
    p[8].num = w->content_length;
    p[9].text = "-";
    p[10].text = w->script[0] ? w->script : "-";
    p[11].kind = STATUS_SECONDS;    /* not measured: 0.00 as php-fpm shows */
}

/* Render the status page for QUERY into BODY; its Content-Type in CTYPE. */
int
status_render(const struct conf *c, const char *query, struct buf *body, const char **ctype)
{
    struct status_field fields[STATUS_MAX_FIELDS];
    struct counters_totals t;
    struct status_page pg;
    struct counters_worker *ws = NULL;
    enum status_format fmt = STATUS_FMT_TEXT;
    time_t now = time(NULL);
    int i, rc, full = status_query_has(query, "full");

    memset(&pg, 0, sizeof(pg));
    pg.fields = fields;
    counters_totals(&t);
    status_pool_fields(&pg, c, &t);
    if (full && counters_workers() > 0) {
        pg.procs = calloc((size_t)counters_workers(), sizeof(*pg.procs));
        ws = calloc((size_t)counters_workers(), sizeof(*ws));
        if (pg.procs == NULL || ws == NULL) {
            log_syserr("status: cannot allocate the workers' entries");
            free(pg.procs);
            free(ws);
            return -1;
        }
        for (i = 0; i < counters_workers(); i++) {
            counters_worker(i + 1, &ws[i]);
            status_process(pg.procs[i], i + 1, &ws[i], now);
        }
        pg.nprocs = counters_workers();
    }
    if (status_query_has(query, "json")) {
        fmt = STATUS_FMT_JSON;
        *ctype = "application/json";
    } else if (status_query_has(query, "xml")) {
        fmt = STATUS_FMT_XML;
        *ctype = "text/xml";
    } else if (status_query_has(query, "html")) {
        fmt = STATUS_FMT_HTML;
        *ctype = "text/html";
    } else if (status_query_has(query, "openmetrics")) {
        fmt = STATUS_FMT_OPENMETRICS;
        *ctype = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    } else
        *ctype = "text/plain";
    rc = fmt == STATUS_FMT_OPENMETRICS ? status_metrics(body, &pg) : status_format(body, &pg, fmt);
    free(pg.procs);
    free(ws);
    return rc;
}
