/*
 * status_impl.h: the status page as gathered once (status.c) and rendered
 * in each format (status_format.c, status_metrics.c); the status module's
 * own files only.
 */
#ifndef LF_STATUS_IMPL_H
#define LF_STATUS_IMPL_H

#include <stddef.h>

#include "log_escape.h"
#include "status.h"

struct buf;

/* One figure of the page: php-fpm's key, and a number, a time or text. */
enum status_kind { STATUS_NUM, STATUS_TIME, STATUS_TEXT, STATUS_SECONDS };

struct status_field {
    const char         *key;
    enum status_kind    kind;
    long long           num;        /* NUM, TIME (epoch), SECONDS (µs) */
    const char         *text;
};

#define STATUS_PROCESS_FIELDS 13
#define STATUS_SCRIPT_FIELDS  14
#define STATUS_SHARED_FIELDS  8
#define STATUS_POOL_FIELDS    6

/* Entries of one kind (a worker, a script), each NFIELDS fields, shown as
 * a JSON array NAME, XML <NAME><ITEM>...</ITEM></NAME>, or text entries
 * after a line SEP. */
struct status_list {
    const char          *name, *item, *sep;
    struct status_field *fields;        /* nitems * nfields */
    int                  nitems, nfields;
};

/* The page as the renderers see it: the pool's fields, then the workers
 * (with &full), the scripts, the shared dictionaries and the keys of the
 * scripts' connection pool. */
struct status_page {
    struct status_field *fields;
    int                  nfields;
    struct status_list   procs, scripts, shared, pools;
};

enum status_format { STATUS_FMT_TEXT, STATUS_FMT_JSON, STATUS_FMT_XML, STATUS_FMT_HTML,
                     STATUS_FMT_OPENMETRICS };

/* status_format.c: one page in one format. */
int  status_format(struct buf *b, const struct status_page *page, enum status_format fmt);
enum log_char status_char(const unsigned char *s, size_t *len);
/* status_metrics.c: the page as OpenMetrics text. */
int  status_metrics(struct buf *b, const struct status_page *page);


#endif
