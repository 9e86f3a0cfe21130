/*
 * supervise.c: the supervising process, which keeps the listening socket
 * open while the serving process that runs the scripts dies and restarts.
 *
 * A C module that a script loads can crash the process whatever the Lua
 * side promises. So the process that holds the socket and the pidfile (the
 * one whose pid service scripts signal) serves nothing: it forks the
 * serving process, which drops privileges and runs the workers, and waits.
 * When the serving process dies, the supervisor logs how, and which scripts
 * its workers were running (from the scoreboard, shared memory that
 * survives the crash), and forks a new one at once. The socket never
 * closes, so the web server sees no refused connection: what queued in the
 * backlog meanwhile is served by the new process. Only the requests in
 * flight in the dead process are lost.
 *
 * Deaths that repeat fast back off (backoff.c). A serving process that
 * exits 0 after a signal stopped it (TERM sent to it alone), which it
 * says on its ready pipe, is no death: it is replaced at once. An exit 0
 * it did not announce (a C module's exit()) is one. After the first start, one that cannot start (a
 * user removed, a preload calling os.exit) counts as a death too: the
 * socket stays, and the start is retried after the back-off.
 *
 * The supervisor holds the running config, read again on HUP, and a
 * serving process it forks runs that snapshot, not the file
 * (supervise_reload.c, with the log reopened on USR1).
 *
 * A serving process still starting (a slow preload) does not hold signals
 * up: the supervisor waits for its ready pipe with poll() in short slices,
 * taking signals between them. TERM during a start gives the child
 * LF_STOP_MARGIN s, then kills it. The serving process asks for SIGTERM
 * when the supervisor dies (PR_SET_PDEATHSIG on Linux, PROC_PDEATHSIG_CTL
 * on FreeBSD), so a supervisor killed with SIGKILL leaves nothing serving.
 *
 * The supervisor stays single-threaded and loads no script: every signal
 * is blocked (main.c does it before anything starts) and taken with
 * sigwait(), so it is ordinary code. TERM, INT, HUP and USR1 are passed on
 * to the serving process, which handles them as it always has; on TERM
 * the supervisor waits for it to finish its requests, then main.c removes
 * the pidfile and the socket. A first serving process that cannot start is
 * not restarted: its reason goes to the starting command (daemon_ready)
 * and the supervisor exits 1.
 *
 * USR2 starts a new binary on the same socket; once it serves, this
 * supervisor stops its serving process as on TERM and exits
 * (supervise_upgrade.c, upgrade.c). How a serving process died is told by
 * postmortem.c; the signal waits and the serving child's side of the ready
 * pipe are supervise_signals.c. The state these files share is in
 * supervise_impl.h; this file defines it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "luafcgid.h"
#include "backoff.h"
#include "conf.h"
#include "daemon.h"
#include "listen.h"
#include "log.h"
#include "monoclock.h"
#include "postmortem.h"
#include "scoreboard.h"
#include "shm.h"
#include "status.h"
#include "supervise.h"
#include "supervise_impl.h"
#include "uploaddir.h"
#include "upgrade.h"

/* The supervisor's state, shared with supervise_reload.c,
 * supervise_upgrade.c and supervise_replace.c only (supervise_impl.h). */
struct supervise_state supervise_sv = { .child_fd = -1 };

/* A serving process that is gone, however it ended: the upload files its
 * requests could not remove (it died in them) go with its directory. */
void
supervise_clear_uploads(pid_t pid)
{
    struct conf *c = conf_acquire();

    uploaddir_remove(c, pid, supervise_sv.chown_log ? supervise_sv.uid : geteuid());
    conf_release(c);
}

/* Reap what exited; the serving process's death is reported and counted,
 * a clean exit (TERM sent to it alone) is not a death. */
int
supervise_reaped(pid_t pid, int status)
{
    if (pid > 0 && pid == supervise_sv.retiring) {
        supervise_retired(pid, status);
        return 1;
    }
    if (pid != supervise_sv.child)
        return 0;
    supervise_replace_read();       /* did it say a signal stops it? */
    supervise_sv.child = 0;
    if (supervise_sv.child_fd >= 0)
        close(supervise_sv.child_fd);
    supervise_sv.child_fd = -1;
    supervise_clear_uploads(pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && supervise_sv.child_stopping) {
        log_notice("serving process %ld exited; starting a new one", (long)pid);
        return 1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        log_err("serving process %ld exited with status 0 though no signal stopped it: a C module "
                "ended it; a death", (long)pid);
    scoreboard_select(supervise_sv.board);
    postmortem_report(pid, status);
    backoff_death();
    shm_suspect(status);    /* after a crash, the next serving process checks the dictionaries */
    return 1;
}

void
supervise_reap(void)
{
    pid_t pid;
    int status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        supervise_reaped(pid, status);
}

/*
 * Before a start: wait out the back-off (handling signals meanwhile), and
 * look for a stop that is already pending (^C reaches the serving process
 * too, which may exit first). The stop signal, or 0 to go on.
 */
static int
supervise_pause(const sigset_t *set)
{
    long long delay = backoff_delay_ms(), until = monoclock_ms() + delay;
    long long left;
    int sig;

    if (delay > 0)
        log_warn("%d deaths within %d s: waiting %lld ms before starting a serving process",
                 LF_RESTART_THRESHOLD, LF_RESTART_INTERVAL, delay);
    for (;;) {
        left = until - monoclock_ms();
        if ((sig = supervise_wait(set, left > 0 ? left : 0)) == 0)
            return 0;
        switch (sig) {
        case SIGCHLD: supervise_reap(); break;
        case SIGUSR1: supervise_reopen_log(-1); break;
        case SIGHUP:  supervise_reload(-1); break;
        case SIGUSR2: supervise_defer_upgrade("no serving process runs now"); break;
        default:
            log_notice("signal %d while no serving process runs: stopping; "
                       "connections waiting in the backlog are reset", sig);
            return sig;
        }
    }
}

/* Fork; 0 in the child, its pid in the supervisor (RFD: its ready pipe,
 * a socket pair, so that the log file can be passed on it). */
static pid_t
supervise_spawn(int pidfd, int *rfd)
{
    int p[2], board;
    pid_t pid, parent;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0) {
        log_syserr("cannot start a serving process: socketpair");
        return -1;
    }
    if (fcntl(p[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(p[1], F_SETFD, FD_CLOEXEC) < 0)
        log_syswarn("cannot set close-on-exec on the ready pipe");
    /* a board of its own, not the one a serving process it replaces writes */
    board = supervise_sv.retiring > 0 ? !supervise_sv.retiring_board : 0;
    scoreboard_select(board);
    scoreboard_clear();
    parent = getpid();
    if ((pid = fork()) < 0) {
        log_syserr("cannot start a serving process: fork");
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        if (supervise_sv.child_fd >= 0)
            close(supervise_sv.child_fd);   /* the one it replaces asks there */
        close(pidfd);       /* the lock stays with the supervisor */
        signal(SIGCHLD, SIG_DFL);
        supervise_child_init(parent, p[1]);
        return 0;
    }
    close(p[1]);
    *rfd = p[0];
    supervise_sv.board = board;
    return pid;
}

/* What came before this serving process: the restarts (serving processes
 * that came up before, less those replaced) and the replacements, as the
 * serving child sees them (it is forked with the counts). */
void
supervise_lineage(struct status_lineage *out)
{
    out->replaced_written_off = supervise_sv.replaced_written_off;
    out->replaced_rss = supervise_sv.replaced_rss;
    out->restarts = supervise_sv.started - out->replaced_written_off - out->replaced_rss;
}

/* The start-up of a serving process ended in STATUS before it served. */
static enum supervise_start_result
supervise_start_failed(pid_t pid, int status)
{
    char buf[32], why[128];

    if (supervise_sv.started == 0) {
        if (WIFSIGNALED(status)) {
            snprintf(why, sizeof(why), "the serving process died of %s during start-up",
                     postmortem_signal_name(WTERMSIG(status), buf, sizeof(buf)));
        } else if (WEXITSTATUS(status) != 1) {
            /* not our own failure, which says why and exits 1: a C
             * module that called exit() in a preload */
            snprintf(why, sizeof(why), "the serving process exited with status %d during start-up",
                     WEXITSTATUS(status));
        } else {
            daemon_ready_close();   /* it told the starting command why */
            return START_FAILED;
        }
        if (!supervise_sv.foreground)
            log_set_mirror(0);      /* the starting command prints WHY */
        log_err("%s", why);
        daemon_ready(0, why);
        return START_FAILED;
    }
    /* the socket stays: a failed restart is a death, retried after the back-off */
    if (WIFSIGNALED(status))
        postmortem_report(pid, status);
    else
        log_err("a new serving process could not start (exit status %d); trying again",
                WEXITSTATUS(status));
    backoff_death();
    return START_DIED;
}

/* SIG to the serving process, and but for HUP (it is stopping: the
 * config it finishes with is its own) to one being replaced. */
void
supervise_forward(int sig)
{
    if (supervise_sv.child > 0 && kill(supervise_sv.child, sig) < 0)
        log_syswarn("cannot pass signal %d to the serving process", sig);
    if (supervise_sv.retiring > 0 && sig != SIGHUP && kill(supervise_sv.retiring, sig) < 0)
        log_syswarn("cannot pass signal %d to the serving process being replaced", sig);
}

/* While a serving process starts: take the signals that come meanwhile.
 * 0 once the ready pipe can be read, or the stop signal. */
static int
supervise_wait_ready(int rfd, const sigset_t *set)
{
    int sig;

    while ((sig = supervise_wait_fd(rfd, set)) != 0) {
        switch (sig) {
        case SIGCHLD: break;    /* its end of the pipe closes: read sees it */
        case SIGHUP:  supervise_reload(rfd); supervise_forward(sig); break;
        case SIGUSR1: supervise_reopen_log(rfd); supervise_forward(sig); break;
        case SIGUSR2: supervise_defer_upgrade("a serving process is starting"); break;
        default:
            log_notice("signal %d while a serving process starts: stopping", sig);
            return sig;
        }
    }
    return 0;
}

/* Start a serving process and wait until it serves (or dies trying); a
 * stop signal meanwhile is left in *STOP (START_STOP). */
int
supervise_start(int pidfd, const sigset_t *set, int *stop)
{
    pid_t pid;
    ssize_t n;
    int rfd, status;
    char b;

    if ((pid = supervise_spawn(pidfd, &rfd)) == 0)
        return SUPERVISE_SERVE;
    if (pid < 0) {
        if (supervise_sv.started == 0)
            return START_FAILED;
        backoff_death();
        return START_DIED;
    }
    supervise_sv.child = pid;
    supervise_sv.child_stopping = 0;
    backoff_started();
    if ((*stop = supervise_wait_ready(rfd, set)) != 0) {
        close(rfd);
        return START_STOP;
    }
    while ((n = read(rfd, &b, 1)) < 0 && errno == EINTR)
        ;
    if (n == 1) {
        supervise_sv.child_fd = rfd;    /* kept: it asks to be replaced there */
        supervise_replace_watch(rfd);
        if (supervise_sv.started++ == 0) {
            daemon_ready_close();
            log_set_mirror(0);
        }
        log_notice("serving process %ld started", (long)pid);
        supervise_reap();   /* its SIGCHLD may have been taken while it started */
        if (upgrade_pending()) {
            if (upgrade_notify() < 0) {
                *stop = SIGTERM;
                return START_STOP;
            }
            daemon_pidfile_write(pidfd);    /* logged when it fails */
        }
        return START_OK;
    }
    close(rfd);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            log_syserr("waitpid %ld", (long)pid);
            status = 0;
            break;
        }
    supervise_sv.child = 0;
    return supervise_start_failed(pid, status);
}

/* How long the serving process may take to stop, ms: its own bound (see
 * main_stop) from the running config, and a margin; past it, it is killed.
 * One still starting has accepted nothing: LF_STOP_MARGIN s. */
long long
supervise_stop_bound(int starting)
{
    struct conf *c;
    long long s;

    if (starting)
        return LF_STOP_MARGIN * 1000LL;
    c = conf_acquire();
    s = c->timeout > 0 ? (long long)c->timeout + LF_STOP_MARGIN : LF_STOP_BOUND;
    conf_release(c);
    return (s + LF_STOP_MARGIN) * 1000;
}

/* Wait for *PID (a serving process sent a stop) until UNTIL (ms), then
 * kill it; reaped, with what it ran when it did not end well. BOARD is its
 * scoreboard board. */
static void
supervise_wait_gone(pid_t *pid, int board, long long until)
{
    sigset_t chld;
    pid_t got;
    int status, killed = 0;

    if (*pid <= 0)
        return;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    while ((got = waitpid(*pid, &status, WNOHANG)) == 0) {
        long long left = until - monoclock_ms();
        if (left <= 0 && !killed) {
            log_err("the serving process %ld did not stop in time: killing it", (long)*pid);
            kill(*pid, SIGKILL);
            killed = 1;
        }
        supervise_wait(&chld, left > 0 ? left : 100);
    }
    if (got < 0) {
        log_syserr("waitpid %ld", (long)*pid);
    } else if (!killed && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        scoreboard_select(board);
        postmortem_report(*pid, status);
    }
    if (got > 0)
        supervise_clear_uploads(got);
    *pid = 0;
}

/*
 * Pass SIG on (TERM, INT) and wait for the serving process to finish, and
 * for one being replaced. The socket is closed here first (and a unix
 * socket's path removed), so new clients are refused at once while the
 * serving process finishes what it accepted. A serving process stuck past
 * its bound (a script blocked in a C call, a preload that does not
 * return) is killed: a stop always ends.
 */
void
supervise_stop(int sig, const struct conf *c, struct listeners *ls, int starting)
{
    long long until = monoclock_ms() + supervise_stop_bound(starting);

    supervise_forward(sig);
    listen_close(ls, c, upgrade_owns());   /* not another daemon's files */
    supervise_wait_gone(&supervise_sv.child, supervise_sv.board, until);
    supervise_wait_gone(&supervise_sv.retiring, supervise_sv.retiring_board,
                        supervise_sv.retire_kill_ms > until ? supervise_sv.retire_kill_ms : until);
    if (supervise_sv.child_fd >= 0)
        close(supervise_sv.child_fd);
    supervise_sv.child_fd = -1;
}

/*
 * Write the pidfile, then keep a serving process running until TERM or
 * INT. In the supervisor: 0 after a clean stop, 1 when no serving process
 * could start. In the serving child: SUPERVISE_SERVE.
 */
int
supervise_run(const struct conf *c, const char *path, int foreground, int pidfd, struct listeners *ls)
{
    struct sigaction sa;
    sigset_t set, loop;
    int sig, rc;

    supervise_sv.path = path;
    supervise_sv.foreground = foreground;
    /* a new binary writes its pid once it serves (supervise_start) */
    if ((!upgrade_pending() && daemon_pidfile_write(pidfd) < 0) || scoreboard_create(c->workers) < 0)
        return 1;
    supervise_log_owner(c);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = supervise_on_child;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) < 0)
        log_syswarn("sigaction SIGCHLD");
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);      /* nginx's and php-fpm's graceful stop: TERM here */
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGCHLD);
    /* and, between starts, a serving process asking to be replaced */
    loop = set;
    sigaddset(&loop, SIGIO);
    for (;;) {
        if (supervise_sv.child == 0) {
            if (supervise_sv.started > 0 && supervise_pause(&set) != 0)
                break;
            if ((rc = supervise_start(pidfd, &set, &sig)) == SUPERVISE_SERVE)
                return SUPERVISE_SERVE;
            if (rc == START_FAILED) {
                scoreboard_destroy();
                return 1;
            }
            if (rc == START_STOP) {
                if (supervise_sv.started == 0)
                    daemon_ready(0, "stopped by a signal during start-up");
                supervise_stop(sig, c, ls, 1);
                break;
            }
            continue;
        }
        sig = supervise_sv.upgrade_due ? SIGUSR2 : supervise_wait(&loop, supervise_retire_wait());
        supervise_sv.upgrade_due = 0;
        switch (sig) {
        case 0:       supervise_retire_overdue(); break;
        case SIGIO:
            if ((rc = supervise_replace_asked(pidfd, &set, &sig)) == SUPERVISE_SERVE)
                return SUPERVISE_SERVE;
            if (rc == START_STOP) {
                supervise_stop(sig, c, ls, 0);
                scoreboard_destroy();
                return 0;
            }
            break;
        case SIGCHLD: supervise_reap(); break;
        case SIGHUP:  supervise_reload(supervise_sv.child_fd); supervise_forward(sig); break;
        case SIGUSR1: supervise_reopen_log(supervise_sv.child_fd); supervise_forward(sig); break;
        case SIGUSR2:
            if ((rc = supervise_upgrade(c, pidfd, &set, ls)) == SUPERVISE_SERVE_ON)
                continue;
            scoreboard_destroy();
            return rc;
        default:
            supervise_stop(sig, c, ls, 0);
            scoreboard_destroy();
            return 0;
        }
    }
    scoreboard_destroy();
    return 0;
}
