/* status.h: the status and ping pages, answered by the daemon itself. */
#ifndef LF_STATUS_H
#define LF_STATUS_H

struct buf;
struct conf;
struct dispatch;
struct pool;

enum status_which { STATUS_NONE = 0, STATUS_STATUS, STATUS_PING };

/* What the supervisor tells a serving process of those before it: how
 * many died (restarts) or were replaced, and why. */
struct status_lineage {
    int restarts;
    int replaced_written_off;   /* too many workers written off */
    int replaced_rss;           /* over max_rss */
};

void status_init(struct pool *pool, struct dispatch *dispatch, const struct status_lineage *lineage);
enum status_which status_match(const struct conf *c, const char *script_name);
int  status_peek(int fd);
int  status_render(const struct conf *c, const char *query, struct buf *body,
                   const char **ctype);

#endif
