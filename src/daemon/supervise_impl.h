/*
 * supervise_impl.h: the supervisor's insides, shared by supervise.c
 * (start, stop, reap, the signal loop), supervise_reload.c (HUP, log
 * reopening), supervise_upgrade.c (the USR2 hand-over),
 * supervise_replace.c (a serving process replaced while it serves) and
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
    int         child_fd;               /* its ready pipe, kept: it asks to be replaced there,
                                         * and is passed the log file on it */
    int         child_stopping;         /* it said a signal stops it: its exit 0 is no death */
    int         board;                  /* the scoreboard board it writes */
    /* a serving process replaced (supervise_replace.c), finishing its requests */
    pid_t       retiring;               /* 0: none */
    int         retiring_board;
    long long   retire_kill_ms;         /* monotonic: killed if still there then */
    int         ask_later;              /* what the serving one asked while one retired */
    pid_t       ask_later_pid;          /* and which one asked */
    int         replaced_written_off;   /* replacements, by reason */
    int         replaced_rss;
};

extern struct supervise_state supervise_sv;

/* What supervise_upgrade() returns when the new binary failed: serve on. */
#define SUPERVISE_SERVE_ON (-2)

/* What supervise_start() ends with (SUPERVISE_SERVE in the child). */
enum supervise_start_result { START_OK, START_FAILED, START_DIED, START_STOP };

/* supervise.c */
void supervise_forward(int sig);
int  supervise_reaped(pid_t pid, int status);
void supervise_reap(void);
int  supervise_start(int pidfd, const sigset_t *set, int *stop);
long long supervise_stop_bound(int starting);
void supervise_stop(int sig, const struct conf *c, struct listeners *ls, int starting);
void supervise_clear_uploads(pid_t pid);

/* supervise_replace.c */
void supervise_replace_watch(int fd);
int  supervise_replace_read(void);
int  supervise_replace_asked(int pidfd, const sigset_t *set, int *stop);
long long supervise_retire_wait(void);
void supervise_retire_overdue(void);
void supervise_retired(pid_t pid, int status);

/* supervise_reload.c */
void supervise_log_owner(const struct conf *c);
void supervise_reopen_log(int chan);
void supervise_reload(int chan);

/* supervise_signals.c */
void supervise_on_child(int sig);
int  supervise_wait(const sigset_t *set, long long ms);
int  supervise_wait_fd(int fd, const sigset_t *set);
void supervise_child_init(pid_t parent, int ready_fd);
void supervise_send_log(int chan);

/* supervise_upgrade.c */
void supervise_defer_upgrade(const char *why);
int  supervise_upgrade(const struct conf *c, int pidfd, const sigset_t *set, struct listeners *ls);

#endif
