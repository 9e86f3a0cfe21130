/* supervise.h: the supervising process and its serving child. */
#ifndef LF_SUPERVISE_H
#define LF_SUPERVISE_H

struct conf;
struct listeners;

/* What supervise_run() returns in the serving child. */
#define SUPERVISE_SERVE (-1)
/* What it returns after a stop (0) and after handing over to a new
 * binary (USR2): the socket file and the pidfile are the new one's. */
#define SUPERVISE_STOPPED      0
#define SUPERVISE_HANDED_OVER  2

int  supervise_run(const struct conf *c, const char *path, int foreground, int pidfd,
                   struct listeners *ls);
void supervise_ready(void);
int  supervise_restarts(void);
void supervise_watch_parent(void);

#endif
