/* status.h: the status and ping pages, answered by the daemon itself. */
#ifndef LF_STATUS_H
#define LF_STATUS_H

#include <time.h>

struct buf;
struct conf;
struct dispatch;
struct pool;

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

/* Entries of one kind (a worker, a script), each NFIELDS fields, shown as
 * a JSON array NAME, XML <NAME><ITEM>...</ITEM></NAME>, or text entries
 * after a line SEP. */
struct status_list {
    const char          *name, *item, *sep;
    struct status_field *fields;        /* nitems * nfields */
    int                  nitems, nfields;
};

/* The page as the renderers see it: the pool's fields, then the workers
 * (with &full) and the scripts. */
struct status_page {
    struct status_field *fields;
    int                  nfields;
    struct status_list   procs, scripts;
};

enum status_format { STATUS_FMT_TEXT, STATUS_FMT_JSON, STATUS_FMT_XML, STATUS_FMT_HTML,
                     STATUS_FMT_OPENMETRICS };

enum status_which { STATUS_NONE = 0, STATUS_STATUS, STATUS_PING };

void status_init(struct pool *pool, struct dispatch *dispatch, int restarts);
enum status_which status_match(const struct conf *c, const char *script_name);
int  status_peek(int fd);
int  status_render(const struct conf *c, const char *query, struct buf *body,
                   const char **ctype);

/* status_format.c: one page in one format. */
int  status_format(struct buf *b, const struct status_page *page, enum status_format fmt);
size_t status_utf8_len(const unsigned char *s);
/* status_metrics.c: the page as OpenMetrics text. */
int  status_metrics(struct buf *b, const struct status_page *page);

#endif
