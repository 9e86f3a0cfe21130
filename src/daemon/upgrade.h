/* upgrade.h: a new binary takes over the listening socket (USR2). */
#ifndef LF_UPGRADE_H
#define LF_UPGRADE_H

#include <signal.h>
#include <sys/types.h>

struct conf;
struct listeners;

/* What upgrade_run() ends with. */
enum upgrade_result { UPGRADE_DONE, UPGRADE_FAILED, UPGRADE_STOP };

int  upgrade_save(const char *argv0, const char *config, int foreground);
int  upgrade_adopt(const struct conf *c, struct listeners *ls, int *pidfd);
int  upgrade_pending(void);
int  upgrade_owns(void);
int  upgrade_notify(void);
int  upgrade_passes_connections(void);
int  upgrade_run(const struct listeners *ls, int pidfd, int seconds, const sigset_t *set, int *sig,
                 int (*on_signal)(int sig), int (*on_child)(pid_t pid, int status), pid_t *newpid);

#endif
