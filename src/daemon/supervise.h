/* supervise.h: the supervising process and its serving child. */
#ifndef LF_SUPERVISE_H
#define LF_SUPERVISE_H

struct conf;
struct listeners;
struct status_lineage;

/* What supervise_run() returns in the serving child. */
#define SUPERVISE_SERVE (-1)
/* What it returns after a stop (0) and after handing over to a new
 * binary (USR2): the socket file and the pidfile are the new one's. */
#define SUPERVISE_STOPPED      0
#define SUPERVISE_HANDED_OVER  2

/* What a serving process asks to be replaced for (supervise_ask_replace). */
#define SUPERVISE_ASK_WRITTEN_OFF 'W'   /* max_written_off workers are stuck */
#define SUPERVISE_ASK_RSS         'M'   /* its RSS passed max_rss */
/* What it says when a signal stops it: an exit 0 without it is a death. */
#define SUPERVISE_SAY_STOPPING    'S'

int  supervise_run(const struct conf *c, const char *path, int foreground, int pidfd,
                   struct listeners *ls);
void supervise_ready(void);
void supervise_lineage(struct status_lineage *out);
void supervise_watch_parent(void);
int  supervise_ask_replace(int why);
void supervise_stopping(void);
int  supervise_take_log(void);

#endif
