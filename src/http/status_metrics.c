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

struct status_metric {
    const char *key;        /* the page's field */
    const char *family;
    const char *type;       /* gauge, counter */
    const char *help;
    const char *label;      /* "name=\"value\"" of this sample, or NULL */
    double      scale;      /* the field's unit to the metric's */
};

/* Families in order; rows of one family are adjacent. */
static const struct status_metric status_metrics_table[] = {
    { "start time", "luafcgid_start_time_seconds", "gauge", "When the serving process started.", NULL, 1 },
    { "accepted conn", "luafcgid_accepted_connections", "counter", "Requests read.", NULL, 1 },
    { "listen queue", "luafcgid_listen_queue", "gauge", "Requests waiting for a worker.", NULL, 1 },
    { "max listen queue", "luafcgid_max_listen_queue", "gauge", "Most requests seen waiting for a worker.", NULL, 1 },
    { "listen queue len", "luafcgid_listen_queue_length", "gauge", "The listen backlog.", NULL, 1 },
    { "idle processes", "luafcgid_processes", "gauge", "Workers by state.", "state=\"idle\"", 1 },
    { "active processes", "luafcgid_processes", "gauge", "Workers by state.", "state=\"active\"", 1 },
    { "max active processes", "luafcgid_max_active_processes", "gauge", "Most workers busy at once.", NULL, 1 },
    { "max children reached", "luafcgid_max_children_reached", "counter", "Requests that waited because no worker was free.", NULL, 1 },
    { "slow requests", "luafcgid_slow_requests", "counter", "Requests that ran past slowtime.", NULL, 1 },
    { "state waits", "luafcgid_state_waits", "counter", "Requests that waited for a Lua state.", NULL, 1 },
    { "state wait ms", "luafcgid_state_wait_seconds", "counter", "Time requests waited for a Lua state.", NULL, 1e-3 },
    { "states", "luafcgid_states_loaded", "gauge", "Lua states loaded.", NULL, 1 },
    { "states limit", "luafcgid_states_limit", "gauge", "Most Lua states (states).", NULL, 1 },
    { "scripts loaded", "luafcgid_scripts_loaded", "gauge", "Scripts with a loaded state.", NULL, 1 },
    { "kept connections", "luafcgid_kept_connections", "gauge", "Idle connections parked between requests.", NULL, 1 },
    { "restarts", "luafcgid_restarts", "counter", "Serving processes restarted by the supervisor.", NULL, 1 },
    { "errors runtime", "luafcgid_failed_requests", "counter", "Failed requests by kind.", "kind=\"runtime\"", 1 },
    { "errors syntax", "luafcgid_failed_requests", "counter", "Failed requests by kind.", "kind=\"syntax\"", 1 },
    { "errors not found", "luafcgid_failed_requests", "counter", "Failed requests by kind.", "kind=\"not found\"", 1 },
    { "errors timeout", "luafcgid_failed_requests", "counter", "Failed requests by kind.", "kind=\"timeout\"", 1 },
    { "errors memory", "luafcgid_failed_requests", "counter", "Failed requests by kind.", "kind=\"memory\"", 1 },
    { "evictions changed", "luafcgid_evictions", "counter", "States closed, by reason.", "reason=\"changed\"", 1 },
    { "evictions idle", "luafcgid_evictions", "counter", "States closed, by reason.", "reason=\"idle\"", 1 },
    { "evictions full", "luafcgid_evictions", "counter", "States closed, by reason.", "reason=\"full\"", 1 },
    { "evictions maxrequests", "luafcgid_evictions", "counter", "States closed, by reason.", "reason=\"maxrequests\"", 1 },
    { "evictions timeout", "luafcgid_evictions", "counter", "States closed, by reason.", "reason=\"timeout\"", 1 },
    { "evictions memory", "luafcgid_evictions", "counter", "States closed, by reason.", "reason=\"memory\"", 1 },
    { "evictions flush", "luafcgid_evictions", "counter", "States closed, by reason.", "reason=\"flush\"", 1 },
};

/* Per script, labelled script="path"; rows of one family are adjacent. */
static const struct status_metric status_metrics_scripts[] = {
    { "requests", "luafcgid_requests", "counter", "Requests to the script.", NULL, 1 },
    { "errors runtime", "luafcgid_errors", "counter", "Failed requests by script and kind.", "kind=\"runtime\"", 1 },
    { "errors syntax", "luafcgid_errors", "counter", "Failed requests by script and kind.", "kind=\"syntax\"", 1 },
    { "errors timeout", "luafcgid_errors", "counter", "Failed requests by script and kind.", "kind=\"timeout\"", 1 },
    { "errors memory", "luafcgid_errors", "counter", "Failed requests by script and kind.", "kind=\"memory\"", 1 },
    { "requests", "luafcgid_request_duration_seconds", "summary", "Time requests to the script took.", NULL, 1 },
    { "max duration", "luafcgid_request_duration_max_seconds", "gauge", "The longest request to the script.", NULL, 1e-6 },
    { "states", "luafcgid_states", "gauge", "Lua states of the script.", NULL, 1 },
    { "busy", "luafcgid_busy_states", "gauge", "States of the script running a request.", NULL, 1 },
    { "loads", "luafcgid_loads", "counter", "Times the script was loaded into a new state.", NULL, 1 },
    { "last load time", "luafcgid_last_load_time_seconds", "gauge", "When the script was last loaded.", NULL, 1 },
    { "lua memory", "luafcgid_lua_memory_bytes", "gauge", "Bytes the script's idle states hold.", NULL, 1 },
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

/* A family's TYPE and HELP, once before its first sample (rows of one
 * family are adjacent in the tables); *LAST is the family before. */
static int
status_metrics_family(struct buf *b, const struct status_metric *m, const char **last)
{
    int rc = 0;

    if (strcmp(*last, m->family) != 0)
        rc = buf_printf(b, "# TYPE %s %s\n# HELP %s %s\n", m->family, m->type, m->family, m->help);
    *last = m->family;
    return rc;
}

/* A label value with OpenMetrics' escapes; bytes that are not UTF-8
 * become U+FFFD, as the exposition is UTF-8. */
static int
status_metrics_label(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int rc = 0;
    size_t n;

    for (; *p && rc == 0; p += n) {
        n = 1;
        if (*p == '\\' || *p == '"')
            rc = buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            rc = buf_puts(b, "\\n");
        else if ((n = status_utf8_len(p)) == 0) {
            rc = buf_puts(b, "\xef\xbf\xbd");
            n = 1;
        } else
            rc = buf_append(b, (const char *)p, n);
    }
    return rc;
}

/* One sample of script entry F: FAMILY SUFFIX{script="...",LABEL} VALUE. */
static int
status_metrics_sample(struct buf *b, const char *family, const char *suffix,
                      const struct status_field *f, const char *label, double value)
{
    if (buf_printf(b, "%s%s{script=\"", family, suffix) < 0 ||
        status_metrics_label(b, f[0].text) < 0 ||
        buf_printf(b, "\"%s%s} %.17g\n", label ? "," : "", label ? label : "", value) < 0)
        return -1;
    return 0;
}

static int
status_metrics_per_script(struct buf *b, const struct status_page *pg)
{
    const struct status_list *l = &pg->scripts;
    const char *last = "";
    size_t m;
    int i, rc = 0;

    for (m = 0; m < sizeof(status_metrics_scripts) / sizeof(*status_metrics_scripts) && rc == 0; m++) {
        const struct status_metric *sm = &status_metrics_scripts[m];
        rc = status_metrics_family(b, sm, &last);
        for (i = 0; i < l->nitems && rc == 0; i++) {
            const struct status_field *f = l->fields + (size_t)i * (size_t)l->nfields;
            const struct status_field *v = status_metrics_field(f, l->nfields, sm->key);
            if (v == NULL)
                continue;
            if (strcmp(sm->type, "summary") == 0) {
                const struct status_field *sum = status_metrics_field(f, l->nfields, "total duration");
                rc = status_metrics_sample(b, sm->family, "_count", f, NULL, (double)v->num);
                if (rc == 0 && sum)
                    rc = status_metrics_sample(b, sm->family, "_sum", f, NULL, (double)sum->num / 1e6);
            } else
                rc = status_metrics_sample(b, sm->family, strcmp(sm->type, "counter") ? "" : "_total",
                                           f, sm->label, (double)v->num * sm->scale);
        }
    }
    return rc;
}

int
status_metrics(struct buf *b, const struct status_page *pg)
{
    const char *last = "";
    const struct status_field *f;
    size_t i;
    int rc;

    rc = buf_puts(b, "# TYPE luafcgid_build info\n# HELP luafcgid_build The running version.\n");
    if (rc == 0 && (f = status_metrics_field(pg->fields, pg->nfields, "luafcgid version")) != NULL)
        rc = buf_printf(b, "luafcgid_build_info{version=\"%s\"} 1\n", f->text);
    for (i = 0; i < sizeof(status_metrics_table) / sizeof(*status_metrics_table) && rc == 0; i++) {
        const struct status_metric *m = &status_metrics_table[i];
        int counter = strcmp(m->type, "counter") == 0;
        if ((f = status_metrics_field(pg->fields, pg->nfields, m->key)) == NULL)
            continue;
        rc = status_metrics_family(b, m, &last);
        if (rc == 0)
            rc = buf_printf(b, "%s%s%s%s%s %.17g\n", m->family, counter ? "_total" : "",
                            m->label ? "{" : "", m->label ? m->label : "", m->label ? "}" : "",
                            (double)f->num * m->scale);
    }
    if (rc == 0)
        rc = status_metrics_per_script(b, pg);
    return rc == 0 ? buf_puts(b, "# EOF\n") : -1;
}
