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
 * go to stderr, so a service manager sees why a start failed. What is
 * logged before the log is first opened (the config's warnings) is also
 * held and written to the log once it is, so it is never lost.
 *
 * Every message goes through the one escaper (log_escape.c), so request
 * data quoted in a message can never forge a line; req:log's text is passed
 * with its length, so a NUL in it is escaped, not an end. The log file is
 * opened relative to its checked directory (safedir.c), without following
 * symlinks, and must be a regular file with one link; it is handed to
 * `user` only when luafcgid created it.
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

#include "safedir.h"
#include "luafcgid.h"
#include "log.h"
#include "log_escape.h"

enum log_kind { LOG_KIND_STDERR, LOG_KIND_FILE, LOG_KIND_SYSLOG };

static const char *const log_names[] = {
    "error", "warn", "notice", "info", "debug"
};

/* log_lock guards log_kind, log_fd, log_path, log_mirror, log_created,
 * log_opened, log_plain, log_dir_owner and the held lines. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_kind log_kind = LOG_KIND_STDERR;
static int log_fd = STDERR_FILENO;
static char *log_path;
static int log_mirror;
static int log_plain;      /* stderr lines without date and level */
static uid_t log_dir_owner = (uid_t)-1;   /* `user`: may own the log directory */
static char log_made_dir[LF_LOG_LINE_MAX];  /* a directory we created, or "" */
static int log_created;     /* the current log file was made by us */
static int log_opened;      /* log_open() succeeded once: nothing is held */

/* Lines logged before the log is open (the config's warnings), written to
 * it once it is; bounded, the first ones kept. */
static char log_held[LF_LOG_LINE_MAX * 4];
static size_t log_held_len;

static int log_level = LOG_LEVEL_NOTICE;  /* atomic */

static void log_write_all(int fd, const char *p, size_t n);
static void log_emit(int level, const char *raw, size_t len);

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

/* The log's directory, checked (safedir.c); made (0750) when missing. */
static int
log_open_dir(const char *dir)
{
    uid_t owner;
    int dfd, made = 0;

    pthread_mutex_lock(&log_lock);
    owner = log_dir_owner;
    pthread_mutex_unlock(&log_lock);
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
    if (made)
        snprintf(log_made_dir, sizeof(log_made_dir), "%s", dir);
    return dfd;
}

/* Open PATH for appending, relative to its checked directory and never
 * through a symlink; *CREATED tells whether this call made the file. */
static int
log_open_file(const char *path, int *created)
{
    int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    char dir[LF_LOG_LINE_MAX];
    const char *base = safedir_split(path, dir, sizeof(dir));
    int dfd, fd = -1, tries;

    *created = 0;
    if (base == NULL || (dfd = log_open_dir(dir)) < 0)
        return -1;
    for (tries = 0; tries < 3; tries++) {
        if ((fd = openat(dfd, base, flags | O_CREAT | O_EXCL, 0640)) >= 0) {
            *created = 1;
            break;
        }
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

/* Write what was held to the new target; stderr saw it already. Called
 * with log_lock held. */
static void
log_flush_held(void)
{
    size_t start = 0, i;

    if (log_kind == LOG_KIND_FILE)
        log_write_all(log_fd, log_held, log_held_len);
    else if (log_kind == LOG_KIND_SYSLOG) {
        for (i = 0; i < log_held_len; i++) {
            if (log_held[i] != '\n')
                continue;
            /* syslog adds its own date: skip ours */
            const char *p = memchr(log_held + start, ']', i - start);
            size_t from = p && p + 2 <= log_held + i ? (size_t)(p + 2 - log_held) : start;
            syslog(LOG_NOTICE, "%.*s", (int)(i - from), log_held + from);
            start = i + 1;
        }
    }
    log_held_len = 0;
}

/* Switch to TARGET ("stderr", "syslog" or a path); the old target stays on failure. */
int
log_open(const char *target, int level)
{
    enum log_kind kind = LOG_KIND_FILE;
    char *path = NULL;
    int fd = STDERR_FILENO, created = 0;

    if (strcmp(target, "stderr") == 0)
        kind = LOG_KIND_STDERR;
    else if (strcmp(target, "syslog") == 0)
        kind = LOG_KIND_SYSLOG;
    else {
        if ((path = strdup(target)) == NULL) {
            log_syserr("cannot open log file %s", target);
            return -1;
        }
        if ((fd = log_open_file(target, &created)) < 0) {
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
    log_created = created;
    if (!log_opened)
        log_flush_held();
    log_opened = 1;
    pthread_mutex_unlock(&log_lock);

    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
    return 0;
}

/* SIGUSR1: reopen the log file by name, for rotation. The path is only
 * changed by log_open(), on the same (signal) thread. */
int
log_reopen(void)
{
    int fd, created, is_file, rc = 0;
    char *path = NULL;

    pthread_mutex_lock(&log_lock);
    is_file = log_kind == LOG_KIND_FILE;
    if (is_file)
        path = strdup(log_path);
    pthread_mutex_unlock(&log_lock);
    if (!is_file)
        return 0;
    if (path == NULL) {
        log_syserr("cannot reopen log file");
        return -1;
    }
    if ((fd = log_open_file(path, &created)) < 0) {
        free(path);
        return -1;
    }
    pthread_mutex_lock(&log_lock);
    if (dup2(fd, log_fd) < 0)
        rc = -1;
    else
        log_created = created;
    pthread_mutex_unlock(&log_lock);
    close(fd);
    if (rc < 0)
        log_syserr("cannot reopen log file %s", path);
    free(path);
    return rc;
}

/* Hand the log directory we made to UID, through a descriptor so that a
 * symlink put in its place is not followed (with log_lock held). */
static int
log_chown_dir(uid_t uid, gid_t gid)
{
    int fd = open(log_made_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fchown(fd, uid, gid);
    close(fd);
    return rc;
}

/* Before dropping privileges: hand the log file and its directory to the
 * user, so that USR1 can still reopen it by name; only what we made
 * ourselves, never a file or directory someone else put there. */
int
log_chown(uid_t uid, gid_t gid)
{
    int rc = 0;

    pthread_mutex_lock(&log_lock);
    if (log_kind == LOG_KIND_FILE && log_created && fchown(log_fd, uid, gid) < 0)
        rc = -1;
    if (log_kind == LOG_KIND_FILE && log_made_dir[0] && log_chown_dir(uid, gid) < 0)
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

/* UID (`user`) may own the log directory too: the directory luafcgid made
 * is handed to it, and the supervisor, still root, reopens the log there. */
void
log_set_dir_owner(uid_t uid)
{
    pthread_mutex_lock(&log_lock);
    log_dir_owner = uid;
    pthread_mutex_unlock(&log_lock);
}

/* Messages to stderr as "luafcgid: message", as a command's are (-t),
 * rather than dated log lines. */
void
log_set_plain(int on)
{
    pthread_mutex_lock(&log_lock);
    log_plain = on;
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

/* Keep LINE for the log that is not open yet (with log_lock held). */
static void
log_hold(const char *line, size_t n)
{
    if (log_opened || n > sizeof(log_held) - log_held_len)
        return;
    memcpy(log_held + log_held_len, line, n);
    log_held_len += n;
}

/* Format FMT into RAW (SIZE bytes); the length written, or -1. */
static int
log_format(char *raw, size_t size, int errnum, const char *fmt, va_list ap)
{
    int n = vsnprintf(raw, size, fmt, ap);

    if (n < 0)
        return -1;
    if ((size_t)n >= size)
        return (int)size - 1;
    if (errnum != 0)
        n += snprintf(raw + n, size - (size_t)n, ": %s", strerror(errnum));
    return (size_t)n >= size ? (int)size - 1 : n;
}

void
log_vmsg(int level, int errnum, const char *fmt, va_list ap)
{
    char raw[LF_LOG_LINE_MAX - 64];
    int n;

    if (!log_enabled(level) || (n = log_format(raw, sizeof(raw), errnum, fmt, ap)) < 0)
        return;
    log_emit(level, raw, (size_t)n);
}

/* Log FMT, ": " and the LEN bytes of DATA, which may hold NULs (what a
 * script gave req:log): they are escaped like the rest, not a cut. */
void
log_data(int level, const char *data, size_t len, const char *fmt, ...)
{
    char raw[LF_LOG_LINE_MAX - 64];
    va_list ap;
    int n;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    n = log_format(raw, sizeof(raw), 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 2 >= sizeof(raw))
        return;
    raw[n++] = ':';
    raw[n++] = ' ';
    if (len > sizeof(raw) - (size_t)n)
        len = sizeof(raw) - (size_t)n;
    memcpy(raw + n, data, len);
    log_emit(level, raw, (size_t)n + len);
}

/* Escape RAW (LEN bytes), date it and write it where the log goes. */
static void
log_emit(int level, const char *raw, size_t len)
{
    char line[LF_LOG_LINE_MAX];
    char msg[LF_LOG_LINE_MAX - 64];
    struct tm tm;
    time_t now;
    int n;

    log_escape(msg, sizeof(msg), raw, len);

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
    else if (log_plain && log_kind == LOG_KIND_STDERR) {
        char out[LF_LOG_LINE_MAX];
        int m = snprintf(out, sizeof(out), LF_NAME ": %s\n", msg);
        if (m > 0)
            log_write_all(STDERR_FILENO, out, (size_t)m < sizeof(out) ? (size_t)m : sizeof(out) - 1);
    } else
        log_write_all(log_fd, line, (size_t)n);
    log_hold(line, (size_t)n);
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
