/*
 * upgrade.c: a new binary takes over from the running one without a
 * refused or failed request (SIGUSR2 to the supervisor, as nginx does).
 *
 * The supervisor holds the listening sockets and the locked pidfile. On
 * USR2 it forks and execs the binary at the path it was started from
 * (now the new build; a symlink is followed anew, and a path others than
 * root, us or `user` could change is refused), with the same config file, handing it those
 * descriptors and a pipe; LUAFCGID_UPGRADE tells the new process which
 * they are, and the listen addresses they belong to (and LUAFCGID_SHARED
 * the shared dictionaries' memory, shm_zone.c). The new process takes
 * them instead of binding and locking (the flock() lock belongs to the
 * open file, so it is shared, not lost), starts its own serving process,
 * and once that serves, writes its pid to the pipe and then to the
 * pidfile. Until then both old and new accept from the one socket, which
 * is never closed: no client is refused. The old supervisor then stops its
 * serving process as TERM does (no new connections, every accepted
 * request finished) and exits without removing the socket or the pidfile,
 * which are the new one's now. The channel that passes kept connections
 * on (handover.c) is handed down the same way (LUAFCGID_HANDOVER); a new
 * binary that took it says so with its pid ("PID handover"), and the old
 * serving process is then stopped with USR2 rather than TERM: it passes
 * its kept connections on instead of closing them under the web server.
 *
 * If the new binary cannot start (exec fails, a bad config, a preload that
 * fails, `listen` changed, upgrade_timeout s pass), the pipe closes
 * without a pid: the old one logs why and keeps serving as before; the
 * new one has removed nothing. A new process whose pipe was closed under
 * it (the old one gave up, or was stopped meanwhile) stops itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "luafcgid.h"
#include "conf.h"
#include "daemon.h"
#include "handover.h"
#include "listen.h"
#include "log.h"
#include "monoclock.h"
#include "shm.h"
#include "upgrade.h"
#include "upgrade_exe.h"

#define UPGRADE_ENV "LUAFCGID_UPGRADE"

/* In the running daemon: how to start the next binary. In a new one: the
 * pipe to the daemon it takes over from (-1 once told). */
static struct {
    char    config[PATH_MAX];
    int     foreground;
    int     ready_fd;
    int     disowned;   /* a new one the running one gave up on */
    int     passes;     /* the new one took the channel for kept connections */
} up = { "", 0, -1, 0, 0 };

/* At start-up: the binary's path (what USR2 will run, whatever is there
 * then) and the config's, absolute, since the daemon runs from "/". */
int
upgrade_save(const char *argv0, const char *config, int foreground)
{
    up.foreground = foreground;
    upgrade_exe_save(argv0);
    if (realpath(config, up.config) == NULL) {
        log_syserr("cannot resolve the config path %s", config);
        return -1;
    }
    return 0;
}

static int
upgrade_parse_fd(const char *s, char **end)
{
    long v = strtol(s, end, 10);

    return *end == s || v < 0 || v > INT_MAX ? -1 : (int)v;
}

/* c->listen as one string, addresses separated by newlines (which no
 * address may hold); BUF, or NULL when it does not fit. */
static const char *
upgrade_listen_text(const struct conf *c, char *buf, size_t len)
{
    size_t used = 0, n;
    int i;

    for (i = 0; i < c->listen.count; i++) {
        n = strlen(c->listen.items[i]);
        if (used + n + 2 > len)
            return NULL;
        if (i > 0)
            buf[used++] = '\n';
        memcpy(buf + used, c->listen.items[i], n);
        used += n;
    }
    buf[used] = '\0';
    return buf;
}

/* A descriptor handed over: open, made close-on-exec again; 0 or -1. */
static int
upgrade_take_fd(int fd)
{
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* The listening sockets "FD,FD,...:" at *P into LS; 0, or -1. */
static int
upgrade_parse_listeners(char **p, struct listeners *ls)
{
    int on, fd;
    socklen_t len;

    for (ls->n = 0; ls->n < LF_MAX_LISTEN; ) {
        if ((fd = upgrade_parse_fd(*p, p)) < 0)
            return -1;
        on = 0;
        len = sizeof(on);
        /* listen_adopt makes it close-on-exec again, with the sockets it binds */
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on)
            return -1;
        ls->fd[ls->n++] = fd;
        if (*(*p)++ != ',')
            return (*p)[-1] == ':' ? 0 : -1;
    }
    return -1;
}

/* Is PATH the file open as FD? 0, or -1. */
static int
upgrade_same_file(int fd, const char *path)
{
    struct stat a, b;

    if (fstat(fd, &a) < 0 || stat(path, &b) < 0)
        return -1;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino ? 0 : -1;
}

/* In a new binary started by USR2: take the listening sockets and the
 * pidfile from LUAFCGID_UPGRADE ("PIDFD:READYFD:FD,FD:ADDRESSES"). 0 when
 * there is none (an ordinary start), 1 when taken, -1 when it cannot take
 * over (logged). */
int
upgrade_adopt(const struct conf *c, struct listeners *ls, int *pidfd)
{
    const char *env = getenv(UPGRADE_ENV), *ours;
    char *p, text[LF_MAX_LISTEN * 128];
    int pfd, rfd;
    struct stat sb;

    if (env == NULL)
        return 0;
    if ((pfd = upgrade_parse_fd(env, &p)) < 0 || *p++ != ':' ||
        (rfd = upgrade_parse_fd(p, &p)) < 0 || *p++ != ':') {
        log_err("upgrade: %s is malformed: '%s'", UPGRADE_ENV, env);
        return -1;
    }
    up.ready_fd = rfd;
    if (upgrade_take_fd(rfd) < 0 || upgrade_take_fd(pfd) < 0 || fstat(pfd, &sb) < 0 ||
        !S_ISREG(sb.st_mode) || upgrade_parse_listeners(&p, ls) < 0) {
        log_err("upgrade: the descriptors handed over are not a pidfile and listening sockets");
        return -1;
    }
    if ((ours = upgrade_listen_text(c, text, sizeof(text))) == NULL || strcmp(p, ours) != 0 ||
        ls->n != c->listen.count) {
        log_err("upgrade: listen changed; the running daemon's sockets are handed over as they "
                "are: restart to listen elsewhere");
        return -1;
    }
    if (upgrade_same_file(pfd, c->pidfile) < 0) {
        log_err("upgrade: pidfile changed (%s is not the running daemon's pidfile, which is handed "
                "over as it is): restart to move it", c->pidfile);
        return -1;
    }
    *pidfd = pfd;
    unsetenv(UPGRADE_ENV);     /* scripts and their children need not see it */
    return 1;
}

/* A new binary that has not yet told the running one it serves. */
int
upgrade_pending(void)
{
    return up.ready_fd >= 0;
}

/* Are the socket file and the pidfile ours to remove on stop? Not while
 * a new binary takes over, nor in one that the running one gave up on. */
int
upgrade_owns(void)
{
    return up.ready_fd < 0 && !up.disowned;
}

/* The new binary serves: tell the running one (our pid, and "handover"
 * when we took the channel its kept connections come by, so it passes
 * them on rather than closing them). -1 when it is no longer listening
 * (it gave up on us: the caller stops). */
int
upgrade_notify(void)
{
    char msg[48];
    int n = snprintf(msg, sizeof(msg), "%ld%s\n", (long)getpid(), handover_adopted() ? " handover" : "");
    ssize_t w = write(up.ready_fd, msg, (size_t)n);

    close(up.ready_fd);
    up.ready_fd = -1;
    if (w != n) {
        up.disowned = 1;
        log_syserr("upgrade: the running daemon no longer waits for this one");
        return -1;
    }
    return 0;
}

/* The child: exec the binary with the descriptors handed over. */
static void
upgrade_exec(const struct listeners *ls, int pidfd, int wfd, int efd, const char *listen)
{
    char env[LF_MAX_LISTEN * 160];
    char *argv[4];
    int i = 0, k, n, ok;
    sigset_t none;

    n = snprintf(env, sizeof(env), "%d:%d:", pidfd, wfd);
    ok = fcntl(pidfd, F_SETFD, 0) == 0 && fcntl(wfd, F_SETFD, 0) == 0;
    for (k = 0; k < ls->n; k++) {
        n += snprintf(env + n, sizeof(env) - (size_t)n, "%d%c", ls->fd[k], k + 1 < ls->n ? ',' : ':');
        ok = ok && fcntl(ls->fd[k], F_SETFD, 0) == 0;
    }
    snprintf(env + n, sizeof(env) - (size_t)n, "%s", listen);
    if (!ok || setenv(UPGRADE_ENV, env, 1) < 0 || shm_export() < 0) {
        log_syserr("upgrade: cannot hand over the descriptors");
        _exit(127);
    }
    if (handover_export() < 0)      /* it makes its own; ours close */
        log_syswarn("upgrade: cannot hand over the channel for kept connections");
    if (efd >= 0 && dup2(efd, STDERR_FILENO) < 0)
        log_syswarn("upgrade: cannot pass the new binary's messages on");
    signal(SIGCHLD, SIG_DFL);
    if (setpgid(0, 0) < 0)      /* its own group: given up on, all of it is stopped */
        log_syswarn("upgrade: setpgid");
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    argv[i++] = (char *)upgrade_exe();
    if (up.foreground)
        argv[i++] = "-F";
    argv[i++] = up.config;
    argv[i] = NULL;
    execv(upgrade_exe(), argv);
    log_syserr("upgrade: cannot run %s", upgrade_exe());
    _exit(127);
}

/* Fork and exec the new binary; its pid, with the read end of its pipe in
 * *RFD; -1 (logged). */
static pid_t
upgrade_spawn(const struct listeners *ls, int pidfd, int *rfd, int *efd)
{
    char text[LF_MAX_LISTEN * 128];
    struct conf *c;
    int p[2], e[2] = { -1, -1 };
    pid_t pid;

    if (upgrade_exe()[0] == '\0') {
        log_err("upgrade: the binary's path is unknown (started without a path?); restart instead");
        return -1;
    }
    c = conf_acquire();
    if (upgrade_exe_check(c) < 0) {
        conf_release(c);
        return -1;
    }
    if (upgrade_listen_text(c, text, sizeof(text)) == NULL)
        text[0] = '\0';        /* the new one refuses it */
    conf_release(c);
    if (pipe(p) < 0) {
        log_syserr("upgrade: pipe");
        return -1;
    }
    /* detached, our stderr is /dev/null: what the new binary says before
     * its log is open (a config error) comes back here to be logged */
    if (!up.foreground && pipe(e) < 0)
        log_syswarn("upgrade: pipe");
    if (fcntl(p[0], F_SETFD, FD_CLOEXEC) < 0 || (e[0] >= 0 && fcntl(e[0], F_SETFD, FD_CLOEXEC) < 0))
        log_syswarn("upgrade: cannot set close-on-exec");
    if ((pid = fork()) == 0) {
        close(p[0]);
        upgrade_exec(ls, pidfd, p[1], e[1], text);
    }
    close(p[1]);
    if (e[1] >= 0)
        close(e[1]);
    if (pid > 0)
        setpgid(pid, pid);      /* as the child does: whichever runs first; EACCES after exec */
    if (pid < 0) {
        log_syserr("upgrade: fork");
        close(p[0]);
        if (e[0] >= 0)
            close(e[0]);
        return -1;
    }
    *rfd = p[0];
    *efd = e[0];
    return pid;
}

/* Log what the new binary wrote to its stderr (EFD); -1 once it closed. */
static int
upgrade_pass_messages(int efd)
{
    char buf[1024], *line, *nl;
    ssize_t n;

    if ((n = read(efd, buf, sizeof(buf) - 1)) <= 0)
        return n < 0 && errno == EINTR ? efd : (close(efd), -1);
    buf[n] = '\0';
    for (line = buf; *line; line = nl + 1) {
        if ((nl = strchr(line, '\n')) == NULL)
            nl = line + strlen(line) - 1;
        else
            *nl = '\0';
        if (*line)
            log_warn("upgrade: the new binary says: %s", line);   /* why it failed follows */
    }
    return efd;
}

/* Read the new supervisor's pid from RFD (readable); 0 when it closed.
 * up.passes: it says it takes our kept connections. */
static long
upgrade_read_pid(int rfd)
{
    char buf[48], *end;
    ssize_t n;
    long pid;

    while ((n = read(rfd, buf, sizeof(buf) - 1)) < 0 && errno == EINTR)
        ;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    pid = strtol(buf, &end, 10);
    up.passes = strncmp(end, " handover\n", 10) == 0;
    return pid;
}

/* After UPGRADE_DONE: does the new binary take the kept connections
 * (handover.c)? Then the serving process passes them on as it stops
 * (USR2); else it closes them (TERM), as an older build expects. */
int
upgrade_passes_connections(void)
{
    return up.passes;
}

/* Is NEWPID, read from the pipe, the new binary started as GROUP? It runs
 * in that process group (upgrade_exec), also after it detached. */
static int
upgrade_is_ours(long newpid, pid_t group)
{
    return newpid > 1 && newpid <= INT_MAX && newpid != (long)getpid() &&
           getpgid((pid_t)newpid) == group;
}

/*
 * A new binary that was given up on (too slow, a stop, a wrong pid) or
 * that failed: stop what is left of it (its process group, which holds
 * our listening sockets and pidfile), TERM, then KILL after
 * LF_STOP_MARGIN s; reap the process started (*PID becomes 0, its status
 * in *STATUS). Bounded: a group that outlives KILL is logged and left.
 */
static void
upgrade_stop_group(pid_t group, pid_t *pid, int *status)
{
    long long now = monoclock_ms(), kill_at = now + LF_STOP_MARGIN * 1000LL, end = kill_at + 2000;
    int killed = 0;

    if (kill(-group, SIGTERM) < 0 && errno != ESRCH)
        log_syswarn("upgrade: cannot stop the new binary (process group %ld)", (long)group);
    for (;;) {
        if (*pid > 0 && waitpid(*pid, status, WNOHANG) != 0)
            *pid = 0;
        if (*pid == 0 && kill(-group, 0) < 0 && errno == ESRCH)
            return;
        if ((now = monoclock_ms()) >= end) {
            log_err("upgrade: the new binary (process group %ld) is still there after SIGKILL",
                    (long)group);
            return;
        }
        if (!killed && now >= kill_at) {
            log_err("upgrade: the new binary (process group %ld) did not stop within %d s: killing it",
                    (long)group, LF_STOP_MARGIN);
            kill(-group, SIGKILL);
            killed = 1;
        }
        poll(NULL, 0, LF_SUPERVISE_TICK);
    }
}

/* Why the new binary ended before serving (it was reaped: PID 0). */
static void
upgrade_log_failure(pid_t pid, int status)
{
    if (pid == 0 && WIFEXITED(status))
        log_err("upgrade: the new binary exited with status %d before serving; still "
                "serving with this one", WEXITSTATUS(status));
    else if (pid == 0 && WIFSIGNALED(status))
        log_err("upgrade: the new binary died of signal %d before serving; still serving with "
                "this one", WTERMSIG(status));
    else
        log_err("upgrade: the new binary did not start; still serving with this one");
}

/*
 * USR2 in the supervisor: start the new binary on the sockets LS and PIDFD and
 * wait until it serves, SECONDS at most (upgrade_timeout). Meanwhile signals of
 * SET go to ON_SIGNAL (it returns non-zero for a stop, left in *SIG) and
 * SIGCHLD's pids to ON_CHILD (the supervisor's own children; 0 when not
 * one of them). UPGRADE_DONE: the new one serves as *NEWPID, the caller
 * hands over. Otherwise what is left of the new one has been stopped.
 */
int
upgrade_run(const struct listeners *ls, int pidfd, int seconds, const sigset_t *set, int *sig,
            int (*on_signal)(int sig), int (*on_child)(pid_t pid, int status), pid_t *newpid)
{
    static const struct timespec zero = { 0, 0 };
    long long until = monoclock_ms() + seconds * 1000LL;
    struct pollfd pfd[2];
    pid_t pid, group, w;
    long got;
    int rfd, efd, s, status = -1, foreign = 0;

    up.passes = 0;
    log_notice("upgrade: starting %s", upgrade_exe());
    if ((pid = upgrade_spawn(ls, pidfd, &rfd, &efd)) < 0)
        return UPGRADE_FAILED;
    group = pid;
    *sig = 0;
    pfd[1].fd = efd;
    pfd[1].events = POLLIN;
    for (;;) {
        if ((s = sigtimedwait(set, NULL, &zero)) > 0) {
            if (s == SIGCHLD) {
                while ((w = waitpid(-1, &status, WNOHANG)) > 0)
                    if (w != pid)
                        on_child(w, status);
                    else
                        pid = 0;        /* keep STATUS for the message */
            } else if ((*sig = on_signal(s)) != 0) {
                log_notice("upgrade: stopped while the new binary was starting; giving it up");
                break;
            }
            continue;
        }
        pfd[0].fd = rfd;
        pfd[1].fd = efd;
        pfd[0].events = pfd[1].events = POLLIN;
        pfd[0].revents = pfd[1].revents = 0;
        if (poll(pfd, 2, LF_SUPERVISE_TICK) > 0) {
            if (pfd[1].revents)
                efd = upgrade_pass_messages(efd);
            if (pfd[0].revents)
                break;
        }
        if (monoclock_ms() >= until) {
            log_err("upgrade: the new binary did not serve within %d s (upgrade_timeout); giving it up",
                    seconds);
            break;
        }
    }
    got = *sig == 0 && monoclock_ms() < until ? upgrade_read_pid(rfd) : 0;
    if (got > 0 && !upgrade_is_ours(got, group)) {
        log_err("upgrade: the new binary reported pid %ld, which is not the process it started "
                "(process group %ld); giving it up", got, (long)group);
        got = 0;
        foreign = 1;
    }
    close(rfd);     /* a new one still starting finds nobody waiting and stops */
    while (efd >= 0 && got <= 0 && poll(&pfd[1], 1, 0) > 0)
        efd = upgrade_pass_messages(efd);       /* its last words */
    if (efd >= 0)
        close(efd);
    if (got > 0) {
        log_notice("upgrade: the new binary serves as pid %ld; this one finishes its requests and exits",
                   got);
        *newpid = (pid_t)got;
        return UPGRADE_DONE;
    }
    upgrade_stop_group(group, &pid, &status);
    daemon_pidfile_write(pidfd);    /* ours again, whatever it wrote, before the log says so */
    if (*sig == 0 && !foreign)
        upgrade_log_failure(pid, status);
    return *sig ? UPGRADE_STOP : UPGRADE_FAILED;
}
