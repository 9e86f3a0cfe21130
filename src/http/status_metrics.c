/*
 * status_metrics.c: the status page as OpenMetrics text (Prometheus).
 *
 * The same figures as the other formats, read from the same page, named
 * luafcgid_* with a # TYPE and # HELP each; counters end in _total, times
 * are in seconds, and the text ends with # EOF, as the OpenMetrics 1.0
 * format requires. A table maps each page key to its family, so a figure
 * added to the page is one row here.
 */
#include <string.h>

#include "buf.h"
#include "status.h"
#include "status_impl.h"

#define STATUS_METRIC_SAMPLES 10

/* A family: its name, type and help, said once; the unit of its fields
 * to its own; its samples, up to the first with no key: the page's field
 * and the sample's label ("name=\"value\"") or none. */
struct status_metric {
    const char *family;
    const char *type;       /* gauge, counter, summary */
    const char *help;
    double      scale;
    const char *samples[STATUS_METRIC_SAMPLES][2];
};

#define STATUS_KEY      0
#define STATUS_LABEL    1

/* The families of the page's own figures, in order. */
static const struct status_metric status_metrics_table[] = {
    { "luafcgid_start_time_seconds", "gauge", "When the serving process started.", 1, { { "start time" } } },
    { "luafcgid_accepted_connections", "counter", "Requests read.", 1, { { "accepted conn" } } },
    { "luafcgid_listen_queue", "gauge", "Requests waiting for a worker.", 1, { { "listen queue" } } },
    { "luafcgid_max_listen_queue", "gauge", "Most requests seen waiting for a worker.", 1, { { "max listen queue" } } },
    { "luafcgid_listen_queue_length", "gauge", "The listen backlog.", 1, { { "listen queue len" } } },
    { "luafcgid_processes", "gauge", "Workers by state.", 1,
      { { "idle processes", "state=\"idle\"" }, { "active processes", "state=\"active\"" } } },
    { "luafcgid_max_active_processes", "gauge", "Most workers busy at once.", 1, { { "max active processes" } } },
    { "luafcgid_max_children_reached", "counter", "Requests that waited because no worker was free.", 1, { { "max children reached" } } },
    { "luafcgid_slow_requests", "counter", "Requests that ran past slowtime.", 1, { { "slow requests" } } },
    { "luafcgid_state_waits", "counter", "Requests that waited for a Lua state.", 1, { { "state waits" } } },
    { "luafcgid_state_wait_seconds", "counter", "Time requests waited for a Lua state.", 1e-3, { { "state wait ms" } } },
    { "luafcgid_states_loaded", "gauge", "Lua states loaded.", 1, { { "states" } } },
    { "luafcgid_states_limit", "gauge", "Most Lua states (states).", 1, { { "states limit" } } },
    { "luafcgid_scripts_loaded", "gauge", "Scripts with a loaded state.", 1, { { "scripts loaded" } } },
    { "luafcgid_kept_connections", "gauge", "Idle connections parked between requests.", 1, { { "kept connections" } } },
    { "luafcgid_restarts", "counter", "Serving processes restarted by the supervisor.", 1, { { "restarts" } } },
    { "luafcgid_replacements", "counter", "Serving processes replaced while serving, by reason.", 1,
      { { "replacements written off", "reason=\"written off\"" }, { "replacements rss", "reason=\"rss\"" } } },
    { "luafcgid_workers_written_off", "counter", "Workers stuck in C past terminate_timeout, written off and replaced.", 1,
      { { "workers written off" } } },
    { "luafcgid_workers_stuck", "gauge", "Written-off workers whose threads are still stuck.", 1, { { "workers stuck" } } },
    { "luafcgid_resident_memory_bytes", "gauge", "The serving process's resident set size.", 1, { { "rss" } } },
    { "luafcgid_timers", "gauge", "ngx.timer callbacks by state.", 1,
      { { "timers pending", "state=\"pending\"" }, { "timers running", "state=\"running\"" } } },
    { "luafcgid_failed_requests", "counter", "Failed requests by kind.", 1,
      {
          { "errors runtime", "kind=\"runtime\"" },
          { "errors syntax", "kind=\"syntax\"" },
          { "errors not found", "kind=\"not found\"" },
          { "errors timeout", "kind=\"timeout\"" },
          { "errors memory", "kind=\"memory\"" },
      } },
    { "luafcgid_evictions", "counter", "States closed, by reason.", 1,
      {
          { "evictions changed", "reason=\"changed\"" },
          { "evictions idle", "reason=\"idle\"" },
          { "evictions full", "reason=\"full\"" },
          { "evictions maxrequests", "reason=\"maxrequests\"" },
          { "evictions timeout", "reason=\"timeout\"" },
          { "evictions memory", "reason=\"memory\"" },
          { "evictions flush", "reason=\"flush\"" },
          { "evictions written off", "reason=\"written off\"" },
      } },
};

/* Per script, each sample labelled script="path" too. */
static const struct status_metric status_metrics_scripts[] = {
    { "luafcgid_requests", "counter", "Requests to the script.", 1, { { "requests" } } },
    { "luafcgid_errors", "counter", "Failed requests by script and kind.", 1,
      {
          { "errors runtime", "kind=\"runtime\"" },
          { "errors syntax", "kind=\"syntax\"" },
          { "errors timeout", "kind=\"timeout\"" },
          { "errors memory", "kind=\"memory\"" },
      } },
    { "luafcgid_request_duration_seconds", "summary", "Time requests to the script took.", 1, { { "requests" } } },
    { "luafcgid_request_duration_max_seconds", "gauge", "The longest request to the script.", 1e-6, { { "max duration" } } },
    { "luafcgid_states", "gauge", "Lua states of the script.", 1, { { "states" } } },
    { "luafcgid_busy_states", "gauge", "States of the script running a request.", 1, { { "busy" } } },
    { "luafcgid_loads", "counter", "Times the script was loaded into a new state.", 1, { { "loads" } } },
    { "luafcgid_last_load_time_seconds", "gauge", "When the script was last loaded.", 1, { { "last load time" } } },
    { "luafcgid_lua_memory_bytes", "gauge", "Bytes the script's idle states hold.", 1, { { "lua memory" } } },
};

/* Per shared dictionary, each sample labelled dict="name" too. */
static const struct status_metric status_metrics_shared[] = {
    { "luafcgid_shared_capacity_bytes", "gauge", "The dictionary's size (shared).", 1, { { "capacity" } } },
    { "luafcgid_shared_free_bytes", "gauge", "Bytes free in the dictionary.", 1, { { "free space" } } },
    { "luafcgid_shared_entries", "gauge",
      "Entries the dictionary holds: live keys, and expired or flushed ones not yet removed.", 1, { { "entries" } } },
    { "luafcgid_shared_evictions", "counter", "Live keys removed to make room.", 1, { { "evictions" } } },
    { "luafcgid_shared_expirations", "counter", "Keys removed once past their time (ttl).", 1, { { "expirations" } } },
    { "luafcgid_shared_flushed", "counter", "Keys removed after flush_all made them expire.", 1, { { "flushed" } } },
    { "luafcgid_shared_repairs", "counter",
      "Steps undone after a process died holding the dictionary's lock, and checks after damage was found.", 1,
      { { "repairs" } } },
};

/* Per key of the scripts' connection pool, labelled pool="key". */
static const struct status_metric status_metrics_pools[] = {
    { "luafcgid_socket_pool_idle", "gauge", "Kept connections waiting in the pool.", 1, { { "idle" } } },
    { "luafcgid_socket_pool_in_use", "gauge", "Connections of the key in use by requests.", 1, { { "in use" } } },
    { "luafcgid_socket_pool_connects", "counter", "New connections made.", 1, { { "connects" } } },
    { "luafcgid_socket_pool_reuses", "counter", "Connections taken from the pool.", 1, { { "reuses" } } },
    { "luafcgid_socket_pool_timeouts", "counter", "Socket operations that timed out.", 1, { { "timeouts" } } },
};

static const struct status_field *
status_metrics_field(const struct status_field *f, int n, const char *key)
{
    int i;

    for (i = 0; i < n; i++)
        if (strcmp(f[i].key, key) == 0)
            return &f[i];
    return NULL;
}

/* M's TYPE and HELP, said before its first sample. */
static int
status_metrics_family(struct buf *b, const struct status_metric *m)
{
    return buf_printf(b, "# TYPE %s %s\n# HELP %s %s\n", m->family, m->type, m->family, m->help);
}

/* A label value: the characters the log's rules escape written as the
 * text page shows them (\r, \x7f, \xc2\x85), then OpenMetrics' own
 * escapes over all of it (\\, \"), so that a parser reads the value
 * the text page shows and no control character is ever raw; bytes that
 * are not UTF-8 become U+FFFD, as the exposition is UTF-8. */
static int
status_metrics_label(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    char e[16];
    size_t n, len, i;
    int rc = 0;

    for (; *p && rc == 0; p += n) {
        enum log_char kind = status_char(p, &n);
        if (kind == LOG_NOT_UTF8)
            memcpy(e, "\xef\xbf\xbd", len = 3);     /* U+FFFD */
        else if (kind == LOG_ESCAPE)
            for (len = 0, i = 0; i < n; i++)
                len += log_escape_byte(e + len, p[i]);
        else
            memcpy(e, p, len = n);
        for (i = 0; i < len && rc == 0; i++)
            rc = e[i] == '\\' || e[i] == '"' ? buf_printf(b, "\\%c", e[i]) : buf_append(b, e + i, 1);
    }
    return rc;
}

/* One sample of entry F (a script, a dictionary), whose first field is
 * labelled NAME: FAMILY SUFFIX{NAME="...",LABEL} VALUE. */
static int
status_metrics_sample(struct buf *b, const char *family, const char *suffix, const char *name,
                      const struct status_field *f, const char *label, double value)
{
    if (buf_printf(b, "%s%s{%s=\"", family, suffix, name) < 0 ||
        status_metrics_label(b, f[0].text) < 0 ||
        buf_printf(b, "\"%s%s} %.17g\n", label ? "," : "", label ? label : "", value) < 0)
        return -1;
    return 0;
}

/* Sample SM of family M for every entry of L, labelled NAME. */
static int
status_metrics_items_of(struct buf *b, const struct status_list *l, const char *name,
                        const struct status_metric *m, const char *const *sm)
{
    int i, rc = 0;

    for (i = 0; i < l->nitems && rc == 0; i++) {
        const struct status_field *f = l->fields + (size_t)i * (size_t)l->nfields;
        const struct status_field *v = status_metrics_field(f, l->nfields, sm[STATUS_KEY]);
        if (v == NULL)
            continue;
        if (strcmp(m->type, "summary") == 0) {
            const struct status_field *sum = status_metrics_field(f, l->nfields, "total duration");
            rc = status_metrics_sample(b, m->family, "_count", name, f, NULL, (double)v->num);
            if (rc == 0 && sum)
                rc = status_metrics_sample(b, m->family, "_sum", name, f, NULL, (double)sum->num / 1e6);
        } else
            rc = status_metrics_sample(b, m->family, strcmp(m->type, "counter") ? "" : "_total",
                                       name, f, sm[STATUS_LABEL], (double)v->num * m->scale);
    }
    return rc;
}

/* The N families of TABLE for every entry of L, labelled NAME. */
static int
status_metrics_per_item(struct buf *b, const struct status_list *l, const char *name,
                        const struct status_metric *table, size_t n)
{
    const struct status_metric *m;
    int k, rc = 0;

    for (m = table; m < table + n && rc == 0; m++) {
        rc = status_metrics_family(b, m);
        for (k = 0; k < STATUS_METRIC_SAMPLES && m->samples[k][STATUS_KEY] && rc == 0; k++)
            rc = status_metrics_items_of(b, l, name, m, m->samples[k]);
    }
    return rc;
}

/* The samples of M that the page has, after its TYPE and HELP if any. */
static int
status_metrics_figures(struct buf *b, const struct status_page *pg, const struct status_metric *m)
{
    const char *counter = strcmp(m->type, "counter") == 0 ? "_total" : "";
    const struct status_field *f;
    int k, said = 0, rc = 0;

    for (k = 0; k < STATUS_METRIC_SAMPLES && m->samples[k][STATUS_KEY] && rc == 0; k++) {
        const char *label = m->samples[k][STATUS_LABEL];
        if ((f = status_metrics_field(pg->fields, pg->nfields, m->samples[k][STATUS_KEY])) == NULL)
            continue;
        if (!said++)
            rc = status_metrics_family(b, m);
        if (rc == 0)
            rc = buf_printf(b, "%s%s%s%s%s %.17g\n", m->family, counter, label ? "{" : "",
                            label ? label : "", label ? "}" : "", (double)f->num * m->scale);
    }
    return rc;
}

int
status_metrics(struct buf *b, const struct status_page *pg)
{
    const struct status_field *f;
    size_t i;
    int rc;

    rc = buf_puts(b, "# TYPE luafcgid_build info\n# HELP luafcgid_build The running version.\n");
    if (rc == 0 && (f = status_metrics_field(pg->fields, pg->nfields, "luafcgid version")) != NULL)
        rc = buf_printf(b, "luafcgid_build_info{version=\"%s\"} 1\n", f->text);
    for (i = 0; i < sizeof(status_metrics_table) / sizeof(*status_metrics_table) && rc == 0; i++)
        rc = status_metrics_figures(b, pg, &status_metrics_table[i]);
    if (rc == 0)
        rc = status_metrics_per_item(b, &pg->scripts, "script", status_metrics_scripts,
                                     sizeof(status_metrics_scripts) / sizeof(*status_metrics_scripts));
    if (rc == 0 && pg->shared.nitems > 0)
        rc = status_metrics_per_item(b, &pg->shared, "dict", status_metrics_shared,
                                     sizeof(status_metrics_shared) / sizeof(*status_metrics_shared));
    if (rc == 0 && pg->pools.nitems > 0)
        rc = status_metrics_per_item(b, &pg->pools, "pool", status_metrics_pools,
                                     sizeof(status_metrics_pools) / sizeof(*status_metrics_pools));
    return rc == 0 ? buf_puts(b, "# EOF\n") : -1;
}
