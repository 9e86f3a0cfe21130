/*
 * logfile.c: the files logs are written to: the daemon's own log (log.c
 * writes it; here it is opened, reopened and handed to `user`) and the
 * access log's and the slow log's files (struct logfile).
 *
 * The daemon's log is opened as root, relative to its checked directory
 * (safedir.c, made 0750 when missing), without following symlinks, and
 * must be a regular file with one link. It stays root's: the supervisor,
 * which keeps root's rights, reopens it (USR1) or opens another (HUP) and
 * passes the descriptor to the serving process, which takes it
 * (logfile_main_reopened, logfile_main_adopt) rather than open the file
 * itself, so a script running as `user` cannot write lines into it. A
 * directory luafcgid made for it is handed to `user`, for the access and
 * slow logs beside it (which a script can then replace the file in: the
 * documentation says to keep the log in a directory root owns).
 *
 * The access and slow logs:
 * Each line (a slow log entry: each entry) is one write(2) on a descriptor
 * opened with O_APPEND, so the kernel keeps lines from different workers
 * whole, and no lock serialises the workers. Reopening (USR1, HUP) opens
 * the file again by name and dup2()s it over the old descriptor: a worker
 * writing at that moment writes to the old file or the new one, never to
 * a closed descriptor. The file is opened by the serving process, after
 * privileges are dropped, so it belongs to `user`.
 *
 * What is opened must be a regular file with one link (safedir_check_file),
 * as for the daemon's log: a script can rename the log and put a FIFO, a
 * symlink or a hard link in its place. The open is non-blocking, so a FIFO
 * fails at once instead of holding start-up or the signal thread; a
 * refused file at USR1/HUP leaves the old one in use.
 *
 * When the disk is full, lines are lost: they are counted, and the
 * daemon's log (often on the same disk) gets one warning per
 * LOGFILE_WARN_S with the count, and a notice once lines get through
 * again. A short write leaves part of a line: a newline ends it there, so
 * the next line starts on its own; when even that fails, the next writer
 * writes the newline first. The rest of the line is not written after it:
 * another worker's line may already follow the part, and ftruncate() would
 * cut lines other workers appended meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luafcgid.h"
#include "log.h"
#include "logfile.h"
#include "monoclock.h"
#include "ratelog.h"
#include "safedir.h"

#define LOGFILE_WARN_S  30

/* logfile_main_lock guards the daemon log's path, logfile_main_dir and
 * logfile_main_owner (start-up and the signal thread use them; log.c's
 * own lock guards the descriptor). */
static pthread_mutex_t logfile_main_lock = PTHREAD_MUTEX_INITIALIZER;
static char *logfile_main_path;     /* NULL unless the log is a file */
static char logfile_main_dir[LF_LOG_LINE_MAX];  /* a directory we made, or "" */
static uid_t logfile_main_owner = (uid_t)-1;    /* `user`: may own the directory */

/* The log's directory, checked (safedir.c); made (0750) when missing. */
static int
logfile_main_open_dir(const char *dir)
{
    uid_t owner;
    int dfd, made = 0;

    pthread_mutex_lock(&logfile_main_lock);
    owner = logfile_main_owner;
    pthread_mutex_unlock(&logfile_main_lock);
    dfd = safedir_open(dir, owner, "log directory");

    if (dfd >= 0 || errno != ENOENT)
        return dfd;
    if (mkdir(dir, 0750) == 0)
        made = 1;
    else if (errno != EEXIST) {
        log_syserr("cannot make log directory %s", dir);
        return -1;
    }
    if ((dfd = safedir_open(dir, owner, "log directory")) < 0) {
        if (errno == ENOENT)
            log_syserr("cannot open log directory %s", dir);
        return -1;
    }
    if (made) {
        pthread_mutex_lock(&logfile_main_lock);
        snprintf(logfile_main_dir, sizeof(logfile_main_dir), "%s", dir);
        pthread_mutex_unlock(&logfile_main_lock);
    }
    return dfd;
}

/* Open PATH for appending, relative to its checked directory and never
 * through a symlink. */
static int
logfile_main_open_file(const char *path)
{
    int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    char dir[LF_LOG_LINE_MAX];
    const char *base = safedir_split(path, dir, sizeof(dir));
    int dfd, fd = -1, tries;

    if (base == NULL || (dfd = logfile_main_open_dir(dir)) < 0)
        return -1;
    for (tries = 0; tries < 3; tries++) {
        if ((fd = openat(dfd, base, flags | O_CREAT | O_EXCL, 0640)) >= 0)
            break;
        if (errno != EEXIST || (fd = openat(dfd, base, flags)) >= 0 || errno != ENOENT)
            break;
        /* removed between the two opens: create it */
    }
    close(dfd);
    if (fd < 0) {
        if (errno == ELOOP)
            log_err("log file %s is a symbolic link; refusing it", path);
        else
            log_syserr("cannot open log file %s", path);
        return -1;
    }
    if (safedir_check_file(fd, path, "log file") < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The daemon's log goes TO (FD when a file) at LEVEL from now on, its
 * path PATH (owned from now on; NULL: not a file). 0. */
static int
logfile_main_use(int to, int fd, int level, char *path)
{
    log_use(to, fd, level);
    pthread_mutex_lock(&logfile_main_lock);
    free(logfile_main_path);
    logfile_main_path = path;
    pthread_mutex_unlock(&logfile_main_lock);
    return 0;
}

/* The daemon's log goes to TARGET ("stderr", "syslog" or a path) at
 * LEVEL from now on; on failure (logged) the old target stays. */
int
logfile_main_open(const char *target, int level)
{
    enum log_target to = LOG_TO_FILE;
    char *path = NULL;
    int fd = -1;

    if (strcmp(target, "stderr") == 0)
        to = LOG_TO_STDERR;
    else if (strcmp(target, "syslog") == 0)
        to = LOG_TO_SYSLOG;
    else {
        if ((path = strdup(target)) == NULL) {
            log_syserr("cannot open log file %s", target);
            return -1;
        }
        if ((fd = logfile_main_open_file(target)) < 0) {
            free(path);
            return -1;
        }
    }
    return logfile_main_use(to, fd, level, path);
}

/* The serving process, on HUP: the daemon's log is now TARGET, a path the
 * supervisor opened as FD (which the log owns from now on), at LEVEL. */
int
logfile_main_adopt(const char *target, int fd, int level)
{
    char *path = strdup(target);

    if (path == NULL) {
        log_syserr("cannot use log file %s", target);
        close(fd);
        return -1;
    }
    return logfile_main_use(LOG_TO_FILE, fd, level, path);
}

/* The serving process, on USR1: the daemon's log file as the supervisor
 * reopened it (FD, closed here; -1 when none came) in place of the one in
 * use. 0; -1 when the log is a file and none came (the supervisor logged
 * why: the old file stays in use) or it cannot be put in place. */
int
logfile_main_reopened(int fd)
{
    int is_file, rc;

    pthread_mutex_lock(&logfile_main_lock);
    is_file = logfile_main_path != NULL;
    pthread_mutex_unlock(&logfile_main_lock);
    if (fd < 0)
        return is_file ? -1 : 0;
    if ((rc = log_replace(fd)) < 0)
        log_syserr("cannot use the reopened log file");
    close(fd);
    return rc;
}

/* SIGUSR1, in the supervisor: reopen the daemon's log file by name, for
 * rotation. The path is only changed by logfile_main_open(), on the same
 * (signal) thread. */
int
logfile_main_reopen(void)
{
    int fd, rc;
    char *path = NULL;
    int is_file;

    pthread_mutex_lock(&logfile_main_lock);
    is_file = logfile_main_path != NULL;
    if (is_file)
        path = strdup(logfile_main_path);
    pthread_mutex_unlock(&logfile_main_lock);
    if (!is_file)
        return 0;
    if (path == NULL) {
        log_syserr("cannot reopen log file");
        return -1;
    }
    if ((fd = logfile_main_open_file(path)) < 0) {
        free(path);
        return -1;
    }
    rc = log_replace(fd);
    close(fd);
    if (rc < 0)
        log_syserr("cannot reopen log file %s", path);
    free(path);
    return rc;
}

/* Hand the log directory we made to UID, through a descriptor so that a
 * symlink put in its place is not followed. */
static int
logfile_main_chown_dir(const char *dir, uid_t uid, gid_t gid)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fchown(fd, uid, gid);
    close(fd);
    return rc;
}

/* Before dropping privileges: hand the log's directory to the user when
 * we made it ourselves (never one someone else put there), so that the
 * serving process may make the access and slow logs in it. The daemon's
 * log file itself stays root's. */
int
logfile_main_give_dir(uid_t uid, gid_t gid)
{
    int rc = 0;

    pthread_mutex_lock(&logfile_main_lock);
    if (logfile_main_path != NULL && logfile_main_dir[0] &&
        logfile_main_chown_dir(logfile_main_dir, uid, gid) < 0)
        rc = -1;
    pthread_mutex_unlock(&logfile_main_lock);
    if (rc < 0)
        log_syswarn("cannot hand the log directory to uid %ld", (long)uid);
    return rc;
}

/* UID (`user`) may own the log directory too: the directory luafcgid made
 * is handed to it, and the supervisor, still root, reopens the log there. */
void
logfile_main_set_owner(uid_t uid)
{
    pthread_mutex_lock(&logfile_main_lock);
    logfile_main_owner = uid;
    pthread_mutex_unlock(&logfile_main_lock);
}

static int
logfile_open_fd(const struct logfile *lf, const char *path)
{
    /* O_NONBLOCK: a FIFO with no reader fails (ENXIO) rather than waits;
     * on the regular file we keep, it changes nothing */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0640);

    if (fd < 0) {
        if (errno == ELOOP)
            log_err("%s %s is a symbolic link; refusing it", lf->what, path);
        else if (errno == ENXIO)
            log_err("%s %s is a FIFO or a device, not a regular file; refusing it", lf->what, path);
        else
            log_syserr("cannot open %s %s", lf->what, path);
        return -1;
    }
    if (safedir_check_file(fd, path, lf->what) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* -t: what start-up will refuse about PATH without opening it (the
 * daemon's user may differ from the caller's): a missing directory (but
 * the daemon's log file MAINLOG, when a path, has its directory made
 * first), and a file there that is not a regular file with one link. 0,
 * or -1 (logged). */
int
logfile_check(const char *path, const char *what, const char *mainlog)
{
    char dir[4096], made[4096];
    const char *base = safedir_split(path, dir, sizeof(dir));
    struct stat sb;

    if (base == NULL)
        return -1;
    if (mainlog != NULL && mainlog[0] == '/' && safedir_split(mainlog, made, sizeof(made)) != NULL &&
        strcmp(made, dir) == 0 && stat(dir, &sb) < 0)
        return 0;       /* made at start-up, with the file in it */
    if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        log_err("%s %s: its directory %s does not exist", what, path, dir);
        return -1;
    }
    if (lstat(path, &sb) < 0)
        return 0;       /* start-up creates it */
    if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
        log_err("%s %s is not a regular file with a single link; start-up would refuse it",
                what, path);
        return -1;
    }
    return 0;
}

/*
 * Open PATH (or, NULL, the path opened last) in place of what LF had.
 * Called from one thread only: start-up, then the signal loop. On failure
 * the old file stays in use.
 */
int
logfile_open(struct logfile *lf, const char *path)
{
    int fd, old = __atomic_load_n(&lf->fd, __ATOMIC_ACQUIRE);
    char *copy;

    if (path == NULL)
        path = lf->path;
    if (path == NULL)
        return 0;
    if ((copy = strdup(path)) == NULL) {
        log_syserr("cannot open %s %s", lf->what, path);
        return -1;
    }
    if ((fd = logfile_open_fd(lf, copy)) < 0) {
        if (old >= 0)
            log_warn("still writing the %s to the file opened before", lf->what);
        free(copy);
        return -1;
    }
    if (old < 0)
        __atomic_store_n(&lf->fd, fd, __ATOMIC_RELEASE);
    else {
        if (dup2(fd, old) < 0) {
            log_syserr("cannot reopen %s %s", lf->what, copy);
            close(fd);
            free(copy);
            return -1;
        }
        close(fd);
    }
    __atomic_store_n(&lf->torn, 0, __ATOMIC_RELEASE);  /* a cut line stays in the old file */
    free(lf->path);
    lf->path = copy;
    return 0;
}

static ssize_t
logfile_write_fd(int fd, const char *p, size_t n)
{
    ssize_t w;

    do
        w = write(fd, p, n);
    while (w < 0 && errno == EINTR);
    return w;
}

/* A line is lost (ERR says why): counted, and reported at most once per
 * LOGFILE_WARN_S by whichever writer comes first. */
static void
logfile_lost(struct logfile *lf, int err)
{
    unsigned long n = ratelog_hit(&lf->lost, monoclock_ms(), LOGFILE_WARN_S * 1000LL);

    if (n == 0)
        return;     /* counted; another writer reports, or the next one */
    errno = err;
    log_syswarn("cannot write to the %s; %lu line%s lost (reported again in %d s while it lasts)",
                lf->what, n, n == 1 ? "" : "s", LOGFILE_WARN_S);
}

/* Lines get through again: say how many were lost since the last report. */
static void
logfile_recovered(struct logfile *lf)
{
    unsigned long n;

    if (!ratelog_end(&lf->lost, &n))
        return;     /* another writer said it */
    if (n > 0)
        log_notice("the %s is written again; %lu more line%s lost before", lf->what, n,
                   n == 1 ? " was" : "s were");
    else
        log_notice("the %s is written again", lf->what);
}

/* One write of the whole line; see the top of the file for what happens
 * when it fails. */
void
logfile_write(struct logfile *lf, const char *p, size_t n)
{
    int fd = __atomic_load_n(&lf->fd, __ATOMIC_ACQUIRE);
    ssize_t w;

    if (fd < 0)
        return;
    if (__atomic_exchange_n(&lf->torn, 0, __ATOMIC_ACQ_REL) && logfile_write_fd(fd, "\n", 1) != 1) {
        __atomic_store_n(&lf->torn, 1, __ATOMIC_RELEASE);
        logfile_lost(lf, errno);
        return;
    }
    w = logfile_write_fd(fd, p, n);
    if (w >= 0 && (size_t)w == n) {
        if (ratelog_reported(&lf->lost))
            logfile_recovered(lf);
        return;
    }
    if (w > 0) {
        if (p[w - 1] != '\n' && logfile_write_fd(fd, "\n", 1) != 1)
            __atomic_store_n(&lf->torn, 1, __ATOMIC_RELEASE);
        errno = ENOSPC;     /* what a short write on a file means */
    }
    logfile_lost(lf, errno);
}

void
logfile_close(struct logfile *lf)
{
    int fd = __atomic_exchange_n(&lf->fd, -1, __ATOMIC_ACQ_REL);

    if (fd >= 0)
        close(fd);
    free(lf->path);
    lf->path = NULL;
}
