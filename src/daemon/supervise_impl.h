/*
 * supervise_impl.h: the supervisor's insides, shared by supervise.c
 * (start, stop, reap, the signal loop), supervise_reload.c (HUP, log
 * reopening), supervise_upgrade.c (the USR2 hand-over) and
 * supervise_signals.c (signal waits, the ready pipe) only.
 */
#ifndef LF_SUPERVISE_IMPL_H
#define LF_SUPERVISE_IMPL_H

#include <signal.h>
#include <sys/types.h>

struct conf;
struct listeners;

/* The supervisor's state (one process, one thread), defined in
 * supervise.c. The serving child's own is in supervise_signals.c. */
struct supervise_state {
    pid_t       child;                  /* 0: none running */
    int         started;                /* serving processes that came up */
    const char *path;                   /* the config file, read again on HUP */
    int         foreground;
    int         chown_log;              /* hand a reopened log to uid/gid */
    uid_t       uid;
    gid_t       gid;
    int         upgrade_hup;            /* a HUP came while a new binary started */
    int         upgrade_due;            /* USR2 came while no serving process ran */
};

extern struct supervise_state supervise_sv;

/* What supervise_upgrade() returns when the new binary failed: serve on. */
#define SUPERVISE_SERVE_ON (-2)

/* supervise.c */
void supervise_forward(int sig);
int  supervise_reaped(pid_t pid, int status);
void supervise_stop(int sig, const struct conf *c, struct listeners *ls, int starting);

/* supervise_reload.c */
void supervise_log_owner(const struct conf *c);
void supervise_reopen_log(void);
void supervise_reload(void);

/* supervise_signals.c */
void supervise_on_child(int sig);
int  supervise_wait(const sigset_t *set, long long ms);
int  supervise_wait_fd(int fd, const sigset_t *set);
void supervise_child_init(pid_t parent, int ready_fd);

/* supervise_upgrade.c */
void supervise_defer_upgrade(const char *why);
int  supervise_upgrade(const struct conf *c, int pidfd, const sigset_t *set, struct listeners *ls);

#endif
