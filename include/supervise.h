/* supervise.h: the supervising process and its serving child. */
#ifndef LF_SUPERVISE_H
#define LF_SUPERVISE_H

struct conf;

/* What supervise_run() returns in the serving child. */
#define SUPERVISE_SERVE (-1)

int  supervise_run(const struct conf *c, const char *path, int foreground, int pidfd,
                   int *listen_fd);
void supervise_ready(void);
int  supervise_restarts(void);
void supervise_watch_parent(void);

#endif
