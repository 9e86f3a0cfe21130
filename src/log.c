/*
 * log.c: one place where every message is formatted and written.
 *
 * A line is formatted on the caller's stack and written with one write(2)
 * under a mutex, so lines from different threads never interleave. The
 * level is read without the lock (an atomic) so a disabled debug call costs
 * one load. Reopening a file (SIGUSR1) opens the new file first and then
 * dup2()s it over the old descriptor: no thread ever sees a closed fd, and
 * a failed reopen leaves the old file in use.
 *
 * While "mirror" is on (start-up, before detaching) warnings and errors also
 * go to stderr, so a service manager sees why a start failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "luafcgid.h"
#include "log.h"

enum log_kind { LOG_KIND_STDERR, LOG_KIND_FILE, LOG_KIND_SYSLOG };

static const char *const log_names[] = {
    "error", "warn", "notice", "info", "debug"
};

/* log_lock guards log_kind, log_fd, log_path, log_mirror. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_kind log_kind = LOG_KIND_STDERR;
static int log_fd = STDERR_FILENO;
static char *log_path;
static int log_mirror;
static char log_made_dir[LF_LOG_LINE_MAX];  /* a directory we created, or "" */
static int log_level = LOG_LEVEL_NOTICE;  /* atomic */

int
log_level_parse(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
        if (strcmp(name, log_names[i]) == 0)
            return (int)i;
    return -1;
}

int
log_enabled(int level)
{
    return level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

/* Open PATH for appending; a missing last directory is made (0750). */
static int
log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    char dir[LF_LOG_LINE_MAX];
    const char *slash = strrchr(path, '/');

    if (fd < 0 && errno == ENOENT && slash && slash != path &&
        (size_t)(slash - path) < sizeof(dir)) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        if (mkdir(dir, 0750) == 0) {
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
            memcpy(log_made_dir, dir, sizeof(dir));
        } else
            errno = ENOENT;
    }
    if (fd < 0)
        log_syserr("cannot open log file %s", path);
    return fd;
}

/* Switch to TARGET ("stderr", "syslog" or a path); the old target stays on failure. */
int
log_open(const char *target, int level)
{
    enum log_kind kind = LOG_KIND_FILE;
    char *path = NULL;
    int fd = STDERR_FILENO;

    if (strcmp(target, "stderr") == 0)
        kind = LOG_KIND_STDERR;
    else if (strcmp(target, "syslog") == 0)
        kind = LOG_KIND_SYSLOG;
    else {
        if ((path = strdup(target)) == NULL) {
            log_syserr("cannot open log file %s", target);
            return -1;
        }
        if ((fd = log_open_file(target)) < 0) {
            free(path);
            return -1;
        }
    }
    if (kind == LOG_KIND_SYSLOG)
        openlog(LF_NAME, LOG_PID | LOG_NDELAY, LOG_DAEMON);

    pthread_mutex_lock(&log_lock);
    if (log_kind == LOG_KIND_FILE)
        close(log_fd);
    if (log_kind == LOG_KIND_SYSLOG && kind != LOG_KIND_SYSLOG)
        closelog();
    free(log_path);
    log_kind = kind;
    log_fd = fd;
    log_path = path;
    pthread_mutex_unlock(&log_lock);

    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
    return 0;
}

/* SIGUSR1: reopen the log file by name, for rotation. */
int
log_reopen(void)
{
    int fd, rc = 0;

    pthread_mutex_lock(&log_lock);
    if (log_kind == LOG_KIND_FILE) {
        fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0 || dup2(fd, log_fd) < 0)
            rc = -1;
        if (fd >= 0)
            close(fd);
    }
    pthread_mutex_unlock(&log_lock);
    if (rc < 0)
        log_syserr("cannot reopen log file");
    return rc;
}

/* Before dropping privileges: hand the log file (and its directory, if we
 * made it) to the user, so that USR1 can still reopen it by name. */
int
log_chown(uid_t uid, gid_t gid)
{
    int rc = 0;

    pthread_mutex_lock(&log_lock);
    if (log_kind == LOG_KIND_FILE && fchown(log_fd, uid, gid) < 0)
        rc = -1;
    if (log_kind == LOG_KIND_FILE && log_made_dir[0] && chown(log_made_dir, uid, gid) < 0)
        rc = -1;
    pthread_mutex_unlock(&log_lock);
    if (rc < 0)
        log_syswarn("cannot hand the log file to uid %ld", (long)uid);
    return rc;
}

void
log_close(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_kind == LOG_KIND_FILE)
        close(log_fd);
    else if (log_kind == LOG_KIND_SYSLOG)
        closelog();
    free(log_path);
    log_path = NULL;
    log_kind = LOG_KIND_STDERR;
    log_fd = STDERR_FILENO;
    pthread_mutex_unlock(&log_lock);
}

void
log_set_mirror(int on)
{
    pthread_mutex_lock(&log_lock);
    log_mirror = on;
    pthread_mutex_unlock(&log_lock);
}

static int
log_syslog_priority(int level)
{
    static const int prio[] = {
        LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG
    };
    return prio[level];
}

static void
log_write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;     /* nowhere left to report it */
        p += w;
        n -= (size_t)w;
    }
}

void
log_vmsg(int level, int errnum, const char *fmt, va_list ap)
{
    char line[LF_LOG_LINE_MAX];
    char msg[LF_LOG_LINE_MAX - 64];
    struct tm tm;
    time_t now;
    int n;

    if (!log_enabled(level))
        return;
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        return;
    if (errnum != 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(errnum));

    now = time(NULL);
    localtime_r(&now, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d [%s] %s\n",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, log_names[level], msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }

    pthread_mutex_lock(&log_lock);
    if (log_kind == LOG_KIND_SYSLOG)
        syslog(log_syslog_priority(level), "%s", msg);
    else
        log_write_all(log_fd, line, (size_t)n);
    if (log_mirror && level <= LOG_LEVEL_WARN && log_fd != STDERR_FILENO) {
        char out[LF_LOG_LINE_MAX];
        int m = snprintf(out, sizeof(out), LF_NAME ": %s\n", msg);
        if (m > 0)
            log_write_all(STDERR_FILENO, out, (size_t)m < sizeof(out) ? (size_t)m : sizeof(out) - 1);
    }
    pthread_mutex_unlock(&log_lock);
}

void
log_msg(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, 0, fmt, ap);
    va_end(ap);
}

void
log_syserr(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_ERR, saved, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
log_syswarn(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_WARN, saved, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_ERR, 0, fmt, ap);
    va_end(ap);
    exit(1);
}
