/*
 * daemon.c: detaching, the pidfile and the privilege drop.
 *
 * Everything that can fail for a reason the user must see (config, log,
 * pidfile lock, socket) happens before the fork, and what can still fail
 * after it (threads, privileges) is reported back through a pipe: the
 * parent exits only when the daemon is serving, 0, or with its reason on
 * stderr, 1. A service manager therefore sees every start-up failure.
 *
 * The pidfile is locked with flock(), whose lock belongs to the open file
 * and so survives the fork; a second instance finds it locked and names
 * the pid that holds it. The descriptor stays open for the daemon's life,
 * so after dropping privileges the file can still be emptied on stop when
 * its directory no longer lets us remove it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "safedir.h"
#include "log.h"
#include "logfile.h"

static int daemon_ready_fd = -1;

/* Open PATH relative to its checked directory (made when missing, as the
 * run directory), never through a symlink; the fd, or -1 (logged). */
static int
daemon_pidfile_open(const char *path, const struct conf *c)
{
    char dir[4096];
    const char *base = safedir_split(path, dir, sizeof(dir));
    int dfd, fd;

    if (base == NULL)
        return -1;
    if ((dfd = safedir_open(dir, conf_uid(c->user), "pidfile directory")) < 0 && errno == ENOENT) {
        if (safedir_make(dir, "pidfile directory") < 0)
            return -1;
        dfd = safedir_open(dir, conf_uid(c->user), "pidfile directory");
    }
    if (dfd < 0) {
        if (errno == ENOENT)
            log_syserr("cannot open pidfile directory %s", dir);
        return -1;
    }
    fd = openat(dfd, base, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) {
        if (errno == ELOOP)
            log_err("pidfile %s is a symbolic link; refusing it", path);
        else
            log_syserr("cannot open pidfile %s", path);
    }
    close(dfd);
    return fd;
}

/* Open and lock PATH; the fd, or -1 (logged) when held by another or not
 * a plain file. */
int
daemon_pidfile_lock(const char *path, const struct conf *c)
{
    char pid[32];
    ssize_t n;
    struct stat sb;
    int fd = daemon_pidfile_open(path, c);

    if (fd < 0)
        return -1;
    /* a hard link or a device planted at the path would have root truncate
     * and overwrite some other file */
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
        log_err("pidfile %s is not a regular file with a single link; refusing it", path);
        close(fd);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            n = pread(fd, pid, sizeof(pid) - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            log_err("already running as pid %s (pidfile %s is locked)",
                    pid[0] ? pid : "?", path);
        } else
            log_syserr("cannot lock pidfile %s", path);
        close(fd);
        return -1;
    }
    return fd;
}

int
daemon_pidfile_write(int fd)
{
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        log_syserr("cannot write the pidfile");
        return -1;
    }
    return 0;
}

void
daemon_pidfile_remove(int fd, const char *path)
{
    if (fd < 0)
        return;
    if (unlink(path) < 0 && ftruncate(fd, 0) < 0)
        log_syswarn("cannot remove pidfile %s", path);
    close(fd);
}

/* Fork into the background (in a session of its own unless KEEP_GROUP);
 * returns 0 in the daemon, never in the parent. */
int
daemon_detach(int keep_group)
{
    char msg[1024];
    int pfd[2], devnull;
    ssize_t n;
    pid_t pid;

    if (pipe(pfd) < 0) {
        log_syserr("cannot detach: pipe");
        return -1;
    }
    if ((pid = fork()) < 0) {
        log_syserr("cannot detach: fork");
        return -1;
    }
    if (pid > 0) {
        close(pfd[1]);
        n = read(pfd[0], msg, sizeof(msg) - 1);
        if (n > 0 && msg[0] == '1')
            _exit(0);
        msg[n > 1 ? n : 1] = '\0';
        fprintf(stderr, "luafcgid: %s\n", n > 1 ? msg + 1 : "the daemon exited during start-up");
        _exit(1);
    }
    close(pfd[0]);
    daemon_ready_fd = pfd[1];
    /* a new binary (USR2) stays in the process group the running daemon
     * started it in, which stops all of it if it gives it up */
    if (!keep_group && setsid() < 0)
        log_syswarn("setsid");
    umask(027);
    if (chdir("/") < 0)
        log_syswarn("chdir /");
    if ((devnull = open("/dev/null", O_RDWR)) < 0) {
        log_syserr("cannot open /dev/null");
        return -1;
    }
    if (dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0)
        log_syswarn("cannot redirect stdio");
    if (devnull > STDERR_FILENO)
        close(devnull);
    return 0;
}

/* Tell the waiting parent how start-up ended (no-op in the foreground). */
void
daemon_ready(int ok, const char *why)
{
    char msg[1024];
    int n;

    if (daemon_ready_fd < 0)
        return;
    n = snprintf(msg, sizeof(msg), "%c%s", ok ? '1' : '0', why ? why : "");
    if (write(daemon_ready_fd, msg, (size_t)n) < 0)
        log_syswarn("cannot report start-up to the parent");
    if (ok) {
        daemon_ready_close();       /* and stderr to /dev/null */
        return;
    }
    close(daemon_ready_fd);
    daemon_ready_fd = -1;
}

/* Start-up was reported by another process (the serving child): let go of
 * the pipe without writing, and of the parent's terminal. */
void
daemon_ready_close(void)
{
    int devnull;

    if (daemon_ready_fd < 0)
        return;
    close(daemon_ready_fd);
    daemon_ready_fd = -1;
    /* stderr went to the parent's terminal until now */
    if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
        dup2(devnull, STDERR_FILENO);
        close(devnull);
    }
}

/* As root: become `user` (and `group`), with the user's other groups. */
int
daemon_drop_privileges(const struct conf *c)
{
    struct passwd *pw;
    struct group *gr;
    gid_t gid;

    if (geteuid() != 0) {
        if (c->user || c->group)
            log_notice("not started as root: user and group are ignored");
        return 0;
    }
    if (c->user == NULL) {
        log_warn("running as root: scripts will run as root; set user in %s", c->path);
        return 0;
    }
    if ((pw = getpwnam(c->user)) == NULL) {
        log_err("user: no such user '%s'", c->user);
        return -1;
    }
    gid = pw->pw_gid;
    if (c->group) {
        if ((gr = getgrnam(c->group)) == NULL) {
            log_err("group: no such group '%s'", c->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    logfile_main_give_dir(pw->pw_uid, gid);
    if (initgroups(pw->pw_name, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
        log_syserr("cannot switch to user %s", c->user);
        return -1;
    }
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        log_err("could switch back to root after dropping privileges");
        return -1;
    }
    log_info("running as user %s (uid %ld, gid %ld)", c->user, (long)pw->pw_uid, (long)gid);
    return 0;
}
