/*
 * status.c: the status and ping pages.
 *
 * A request whose SCRIPT_NAME is status_path or ping_path is answered
 * here, before any file, docroot or extension check, and runs no Lua: the
 * page is read from the counters (counters.c), the pool and the
 * dispatcher, the shared dictionaries and the scripts' connection pool
 * (net_pool.c), each under its own short lock
 * or none. The fields are php-fpm's,
 * with its names and meanings, so its exporters and templates read ours;
 * ours follow them. Which worker answers does not matter: when every
 * worker is busy, the dispatcher's service thread reads the request and
 * answers it (dispatch_service.c), so a stuck pool still shows why.
 *
 * This file gathers the figures into a page (struct status_page); the
 * formats are status_format.c (text, JSON, XML, HTML) and
 * status_metrics.c (OpenMetrics).
 */
#include <stdio.h>
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
#include "net.h"
#include "procmem.h"
#include "shm.h"
#include "state.h"
#include "status.h"
#include "status_impl.h"

#define STATUS_MAX_FIELDS 64

/* Set once at start-up, before any worker runs. */
static struct pool *status_pool;
static struct dispatch *status_dispatch;
static struct status_lineage status_lineage;

void
status_init(struct pool *pool, struct dispatch *dispatch, const struct status_lineage *lineage)
{
    status_pool = pool;
    status_dispatch = dispatch;
    status_lineage = *lineage;
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
    int rc = DISPATCH_PEEK_NOT;

    if (c->status_path || c->ping_path) {
        switch (fcgi_peek_param(fd, "SCRIPT_NAME", name, sizeof(name))) {
        case FCGI_PEEK_FOUND:
            rc = status_match(c, name) != STATUS_NONE ? DISPATCH_PEEK_OURS : DISPATCH_PEEK_NOT;
            break;
        case FCGI_PEEK_FOUND_LATER:
            rc = status_match(c, name) != STATUS_NONE ? DISPATCH_PEEK_LATER : DISPATCH_PEEK_NOT;
            break;
        case FCGI_PEEK_LATER:
            rc = DISPATCH_PEEK_LATER;
            break;
        case FCGI_PEEK_GONE:
            rc = DISPATCH_PEEK_GONE;
            break;
        default:
            break;
        }
    }
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
    long long rss = procmem_rss();

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
    status_add(pg, "scripts loaded", STATUS_NUM, pc.scripts, NULL);
    status_add(pg, "kept connections", STATUS_NUM, dc.parked, NULL);
    status_add(pg, "restarts", STATUS_NUM, status_lineage.restarts, NULL);
    status_add(pg, "replacements written off", STATUS_NUM, status_lineage.replaced_written_off, NULL);
    status_add(pg, "replacements rss", STATUS_NUM, status_lineage.replaced_rss, NULL);
    status_add(pg, "workers written off", STATUS_NUM, (long long)t->written_off, NULL);
    status_add(pg, "workers stuck", STATUS_NUM, t->stuck, NULL);
    status_add(pg, "rss", STATUS_NUM, rss > 0 ? rss : 0, NULL);
    status_add(pg, "timers pending", STATUS_NUM, t->timers_pending, NULL);
    status_add(pg, "timers running", STATUS_NUM, t->timers_running, NULL);
    status_add(pg, "errors runtime", STATUS_NUM, (long long)t->errors[COUNTERS_RUNTIME], NULL);
    status_add(pg, "errors syntax", STATUS_NUM, (long long)t->errors[COUNTERS_SYNTAX], NULL);
    status_add(pg, "errors not found", STATUS_NUM, (long long)t->errors[COUNTERS_NOT_FOUND], NULL);
    status_add(pg, "errors timeout", STATUS_NUM, (long long)t->errors[COUNTERS_TIMEOUT], NULL);
    status_add(pg, "errors memory", STATUS_NUM, (long long)t->errors[COUNTERS_MEMORY], NULL);
    status_add(pg, "evictions changed", STATUS_NUM, (long long)t->evictions[COUNTERS_EVICT_CHANGED], NULL);
    status_add(pg, "evictions idle", STATUS_NUM, (long long)t->evictions[COUNTERS_EVICT_IDLE], NULL);
    status_add(pg, "evictions full", STATUS_NUM, (long long)t->evictions[COUNTERS_EVICT_FULL], NULL);
    status_add(pg, "evictions maxrequests", STATUS_NUM,
               (long long)t->evictions[COUNTERS_EVICT_MAXREQUESTS], NULL);
    status_add(pg, "evictions timeout", STATUS_NUM, (long long)t->evictions[COUNTERS_EVICT_TIMEOUT], NULL);
    status_add(pg, "evictions memory", STATUS_NUM, (long long)t->evictions[COUNTERS_EVICT_MEMORY], NULL);
    status_add(pg, "evictions flush", STATUS_NUM, (long long)t->evictions[COUNTERS_EVICT_FLUSH], NULL);
    status_add(pg, "evictions written off", STATUS_NUM,
               (long long)t->evictions[COUNTERS_EVICT_WRITTEN_OFF], NULL);
}

/* php-fpm's per-process entry, for worker I (1-based); its `pid` is the
 * worker's number. */
static void
status_process(struct status_field *p, int i, const struct counters_worker *w, time_t now)
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

static int
status_by_path(const void *a, const void *b)
{
    return strcmp(((const struct counters_script *)a)->path, ((const struct counters_script *)b)->path);
}

/* What the pool holds of each script, joined to its counters. */
struct status_join {
    struct counters_script *scripts;
    int                     n;
    long long              *states, *busy, *memory;
};

static size_t
status_state_memory(void *L)
{
    return state_memory(L);
}

static void
status_join_pool(void *arg, const char *path, int states, int busy, size_t memory)
{
    struct status_join *j = arg;
    struct counters_script key, *hit;
    size_t i;

    memset(&key, 0, sizeof(key));
    snprintf(key.path, sizeof(key.path), "%s", path);
    hit = bsearch(&key, j->scripts, (size_t)j->n, sizeof(key), status_by_path);
    if (hit == NULL)
        return;     /* loaded by preload, not requested yet */
    i = (size_t)(hit - j->scripts);
    j->states[i] += states;
    j->busy[i] += busy;
    j->memory[i] += (long long)memory;
}

static void
status_script(struct status_field *p, const struct counters_script *sc, long long states,
              long long busy, long long memory)
{
    static const char *const keys[STATUS_SCRIPT_FIELDS] = {
        "path", "states", "busy", "requests", "errors runtime", "errors syntax",
        "errors timeout", "errors memory", "mean duration", "max duration", "loads",
        "last load time", "lua memory", "total duration"
    };
    int k;

    for (k = 0; k < STATUS_SCRIPT_FIELDS; k++) {
        p[k].key = keys[k];
        p[k].kind = STATUS_NUM;
        p[k].text = NULL;
    }
    p[0].kind = STATUS_TEXT;
    p[0].text = sc->path;
    p[1].num = states;
    p[2].num = busy;
    p[3].num = (long long)sc->requests;
    p[4].num = (long long)sc->errors[COUNTERS_RUNTIME];
    p[5].num = (long long)sc->errors[COUNTERS_SYNTAX];
    p[6].num = (long long)sc->errors[COUNTERS_TIMEOUT];
    p[7].num = (long long)sc->errors[COUNTERS_MEMORY];
    p[8].num = sc->requests ? (long long)(sc->total_us / sc->requests) : 0;    /* µs */
    p[9].num = (long long)sc->max_us;
    p[10].num = (long long)sc->loads;
    p[11].kind = STATUS_TIME;
    p[11].num = (long long)sc->last_load;
    p[12].num = memory;
    p[13].num = (long long)sc->total_us;
}

/* The scripts' entries into PG; what to free afterwards in *SCRIPTS. */
static int
status_scripts(struct status_page *pg, struct counters_script **scripts)
{
    struct status_join j;
    int i, n = counters_scripts(scripts);

    if (n <= 0)
        return n;
    j.scripts = *scripts;
    j.n = n;
    j.states = calloc((size_t)n * 3, sizeof(long long));
    pg->scripts.fields = calloc((size_t)n * STATUS_SCRIPT_FIELDS, sizeof(struct status_field));
    if (j.states == NULL || pg->scripts.fields == NULL) {
        log_syserr("status: cannot allocate the scripts' entries");
        free(j.states);
        return -1;
    }
    j.busy = j.states + n;
    j.memory = j.states + (size_t)2 * (size_t)n;
    if (status_pool)
        pool_each_script(status_pool, status_join_pool, &j, status_state_memory);
    for (i = 0; i < n; i++)
        status_script(pg->scripts.fields + (size_t)i * STATUS_SCRIPT_FIELDS, &(*scripts)[i],
                      j.states[i], j.busy[i], j.memory[i]);
    free(j.states);
    pg->scripts.nitems = n;
    return n;
}

/* The workers' entries (&full) into PG, reading their slots into WS. */
static int
status_workers(struct status_page *pg, struct counters_worker **ws)
{
    time_t now = time(NULL);
    int i, n = counters_workers(), stuck;

    /* the written-off workers still stuck follow, numbered after the
     * workers (their own numbers are their replacements' now) */
    pg->procs.fields = calloc((size_t)n * 2 * STATUS_PROCESS_FIELDS, sizeof(struct status_field));
    *ws = calloc((size_t)n * 2, sizeof(**ws));
    if (pg->procs.fields == NULL || *ws == NULL) {
        log_syserr("status: cannot allocate the workers' entries");
        return -1;
    }
    for (i = 0; i < n; i++) {
        counters_worker(i + 1, &(*ws)[i]);
        status_process(pg->procs.fields + (size_t)i * STATUS_PROCESS_FIELDS, i + 1, &(*ws)[i], now);
    }
    stuck = counters_stuck(*ws + n, n);
    for (i = n; i < n + stuck && i < 2 * n; i++) {
        struct status_field *p = pg->procs.fields + (size_t)i * STATUS_PROCESS_FIELDS;
        status_process(p, i + 1, &(*ws)[i], now);
        p[1].text = "Written off";
    }
    pg->procs.nitems = i;
    return 0;
}

/* One dictionary's entry: its figures, read without its lock (atomics:
 * a stopped holder or a long walk never holds the page up). */
static void
status_dict(struct status_field *p, struct shm_dict *d)
{
    static const char *const keys[STATUS_SHARED_FIELDS] = {
        "name", "capacity", "free space", "entries", "evictions", "expirations", "flushed", "repairs"
    };
    struct shm_stats st;
    int k;

    shm_dict_stats(d, &st);
    for (k = 0; k < STATUS_SHARED_FIELDS; k++) {
        p[k].key = keys[k];
        p[k].kind = STATUS_NUM;
        p[k].text = NULL;
    }
    p[0].kind = STATUS_TEXT;
    p[0].text = shm_dict_name(d);
    p[1].num = (long long)st.capacity;
    p[2].num = (long long)st.free_space;
    p[3].num = (long long)st.entries;
    p[4].num = (long long)st.evictions;
    p[5].num = (long long)st.expirations;
    p[6].num = (long long)st.flushed;
    p[7].num = (long long)st.repairs;
}

/* The shared dictionaries' entries into PG. */
static int
status_shared(struct status_page *pg)
{
    int i, n = shm_count();

    if (n == 0)
        return 0;
    if ((pg->shared.fields = calloc((size_t)n * STATUS_SHARED_FIELDS, sizeof(struct status_field))) == NULL) {
        log_syserr("status: cannot allocate the shared dictionaries' entries");
        return -1;
    }
    for (i = 0; i < n; i++)
        status_dict(pg->shared.fields + (size_t)i * STATUS_SHARED_FIELDS, shm_at(i));
    pg->shared.nitems = n;
    return 0;
}

/* The connection pool's keys into PG; STATS (the snapshot, freed by the
 * caller) holds their names. */
static int
status_pools(struct status_page *pg, struct net_pool_stat **stats)
{
    static const char *const keys[STATUS_POOL_FIELDS] = {
        "key", "idle", "in use", "connects", "reuses", "timeouts"
    };
    struct status_field *p;
    int i, k, n;

    if ((n = net_pool_stats(stats, NULL)) <= 0)
        return n;
    if ((pg->pools.fields = calloc((size_t)n * STATUS_POOL_FIELDS, sizeof(struct status_field))) == NULL) {
        log_syserr("status: cannot allocate the connection pool's entries");
        return -1;
    }
    for (i = 0; i < n; i++) {
        p = pg->pools.fields + (size_t)i * STATUS_POOL_FIELDS;
        for (k = 0; k < STATUS_POOL_FIELDS; k++) {
            p[k].key = keys[k];
            p[k].kind = STATUS_NUM;
        }
        p[0].kind = STATUS_TEXT;
        p[0].text = (*stats)[i].key;
        p[1].num = (*stats)[i].idle;
        p[2].num = (*stats)[i].busy;
        p[3].num = (long long)(*stats)[i].connects;
        p[4].num = (long long)(*stats)[i].reuses;
        p[5].num = (long long)(*stats)[i].timeouts;
    }
    pg->pools.nitems = n;
    return 0;
}

/* The format the query asks for, and its Content-Type in CTYPE. */
static enum status_format
status_format_of(const char *query, const char **ctype)
{
    static const struct {
        const char *word, *ctype;
        enum status_format fmt;
    } formats[] = {
        { "json", "application/json", STATUS_FMT_JSON },
        { "xml", "text/xml;charset=UTF-8", STATUS_FMT_XML },
        { "html", "text/html;charset=UTF-8", STATUS_FMT_HTML },
        { "openmetrics", "application/openmetrics-text; version=1.0.0; charset=utf-8",
          STATUS_FMT_OPENMETRICS },
    };
    size_t i;

    for (i = 0; i < sizeof(formats) / sizeof(*formats); i++)
        if (status_query_has(query, formats[i].word)) {
            *ctype = formats[i].ctype;
            return formats[i].fmt;
        }
    *ctype = "text/plain;charset=UTF-8";
    return STATUS_FMT_TEXT;
}

/* L is the list NAME of entries ITEM, each NFIELDS fields, shown after a
 * line SEP in the text format; it holds none yet. */
static void
status_list_name(struct status_list *l, const char *name, const char *item, const char *sep,
                 int nfields)
{
    l->name = name;
    l->item = item;
    l->sep = sep;
    l->nfields = nfields;
}

/* Render the status page for QUERY into BODY; its Content-Type in CTYPE. */
int
status_render(const struct conf *c, const char *query, struct buf *body, const char **ctype)
{
    struct status_field fields[STATUS_MAX_FIELDS];
    struct counters_totals t;
    struct status_page pg;
    struct counters_worker *ws = NULL;
    struct counters_script *scripts = NULL;
    struct net_pool_stat *pools = NULL;
    enum status_format fmt = status_format_of(query, ctype);
    int rc = 0;

    memset(&pg, 0, sizeof(pg));
    pg.fields = fields;
    status_list_name(&pg.procs, "processes", "process", "************************", STATUS_PROCESS_FIELDS);
    status_list_name(&pg.scripts, "scripts", "script", "------------------------", STATUS_SCRIPT_FIELDS);
    status_list_name(&pg.shared, "shared", "dictionary", "========================", STATUS_SHARED_FIELDS);
    status_list_name(&pg.pools, "pools", "pool", "~~~~~~~~~~~~~~~~~~~~~~~~", STATUS_POOL_FIELDS);
    counters_totals(&t);
    status_pool_fields(&pg, c, &t);
    if (status_query_has(query, "full") && counters_workers() > 0)
        rc = status_workers(&pg, &ws);
    if (rc == 0 && (status_scripts(&pg, &scripts) < 0 || status_shared(&pg) < 0 ||
                    status_pools(&pg, &pools) < 0))
        rc = -1;
    if (rc == 0)
        rc = fmt == STATUS_FMT_OPENMETRICS ? status_metrics(body, &pg) : status_format(body, &pg, fmt);
    free(pg.procs.fields);
    free(pg.scripts.fields);
    free(pg.shared.fields);
    free(pg.pools.fields);
    free(pools);
    free(ws);
    free(scripts);
    return rc;
}
