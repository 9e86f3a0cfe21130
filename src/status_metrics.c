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
    { "max children reached", "luafcgid_max_children_reached", "counter", "Requests that took the last idle worker.", NULL, 1 },
    { "slow requests", "luafcgid_slow_requests", "counter", "Requests that ran past slowtime.", NULL, 1 },
    { "state waits", "luafcgid_state_waits", "counter", "Requests that waited for a Lua state.", NULL, 1 },
    { "state wait ms", "luafcgid_state_wait_seconds", "counter", "Time requests waited for a Lua state.", NULL, 1e-3 },
    { "states", "luafcgid_states", "gauge", "Lua states loaded.", NULL, 1 },
    { "states limit", "luafcgid_states_limit", "gauge", "Most Lua states (states).", NULL, 1 },
    { "scripts", "luafcgid_scripts", "gauge", "Scripts with a loaded state.", NULL, 1 },
    { "kept connections", "luafcgid_kept_connections", "gauge", "Idle connections parked between requests.", NULL, 1 },
    { "restarts", "luafcgid_restarts", "counter", "Serving processes restarted by the supervisor.", NULL, 1 },
    { "errors runtime", "luafcgid_errors", "counter", "Failed requests by kind.", "kind=\"runtime\"", 1 },
    { "errors syntax", "luafcgid_errors", "counter", "Failed requests by kind.", "kind=\"syntax\"", 1 },
    { "errors not found", "luafcgid_errors", "counter", "Failed requests by kind.", "kind=\"not found\"", 1 },
    { "errors timeout", "luafcgid_errors", "counter", "Failed requests by kind.", "kind=\"timeout\"", 1 },
    { "errors memory", "luafcgid_errors", "counter", "Failed requests by kind.", "kind=\"memory\"", 1 },
};

static const struct status_field *
status_metrics_find(const struct status_page *pg, const char *key)
{
    int i;

    for (i = 0; i < pg->nfields; i++)
        if (strcmp(pg->fields[i].key, key) == 0)
            return &pg->fields[i];
    return NULL;
}

int
status_metrics(struct buf *b, const struct status_page *pg)
{
    const char *last = "";
    const struct status_field *f;
    size_t i;
    int rc;

    rc = buf_puts(b, "# TYPE luafcgid_build info\n# HELP luafcgid_build The running version.\n");
    if (rc == 0 && (f = status_metrics_find(pg, "luafcgid version")) != NULL)
        rc = buf_printf(b, "luafcgid_build_info{version=\"%s\"} 1\n", f->text);
    for (i = 0; i < sizeof(status_metrics_table) / sizeof(*status_metrics_table) && rc == 0; i++) {
        const struct status_metric *m = &status_metrics_table[i];
        int counter = strcmp(m->type, "counter") == 0;
        if ((f = status_metrics_find(pg, m->key)) == NULL)
            continue;
        if (strcmp(last, m->family) != 0)
            rc = buf_printf(b, "# TYPE %s %s\n# HELP %s %s\n", m->family, m->type, m->family, m->help);
        last = m->family;
        if (rc == 0)
            rc = buf_printf(b, "%s%s%s%s%s %.17g\n", m->family, counter ? "_total" : "",
                            m->label ? "{" : "", m->label ? m->label : "", m->label ? "}" : "",
                            (double)f->num * m->scale);
    }
    return rc == 0 ? buf_puts(b, "# EOF\n") : -1;
}
