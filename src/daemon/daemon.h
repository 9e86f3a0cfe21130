/* daemon.h: detaching, the pidfile, dropping privileges. */
#ifndef LF_DAEMON_H
#define LF_DAEMON_H

#include <sys/types.h>

struct conf;

int  daemon_pidfile_lock(const char *path, const struct conf *c);
int  daemon_pidfile_write(int fd);
void daemon_pidfile_remove(int fd, const char *path);
int  daemon_detach(int keep_group);
void daemon_ready(int ok, const char *why);
void daemon_ready_close(void);
int  daemon_drop_privileges(const struct conf *c);

#endif
