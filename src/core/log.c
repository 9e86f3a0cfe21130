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
 * with its length, so a NUL in it is escaped, not an end.
 *
 * This file only writes: it is handed a descriptor, or told to use stderr
 * or syslog. Opening, reopening and handing over the log file is
 * logfile.c's (which checks it with safedir.c and logs through here), so
 * every module can log and the log stands on nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "luafcgid.h"
#include "log.h"
#include "log_escape.h"

static const char *const log_names[] = {
    "error", "warn", "notice", "info", "debug"
};

/* log_lock guards log_kind, log_fd, log_mirror, log_opened, log_plain
 * and the held lines. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_target log_kind = LOG_TO_STDERR;
static int log_fd = STDERR_FILENO;
static int log_mirror;
static int log_plain;      /* stderr lines without date and level */
static int log_opened;      /* log_use() was called once: nothing is held */

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

/* Write what was held to the new target; stderr saw it already. Called
 * with log_lock held. */
static void
log_flush_held(void)
{
    size_t start = 0, i;

    if (log_kind == LOG_TO_FILE)
        log_write_all(log_fd, log_held, log_held_len);
    else if (log_kind == LOG_TO_SYSLOG) {
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

/* Write to TO from now on: stderr, syslog, or FD (LOG_TO_FILE), which the
 * log then owns; the file used before is closed. What was held before the
 * first call is written to the new target. */
void
log_use(enum log_target to, int fd, int level)
{
    if (to == LOG_TO_SYSLOG)
        openlog(LF_NAME, LOG_PID | LOG_NDELAY, LOG_DAEMON);

    pthread_mutex_lock(&log_lock);
    if (log_kind == LOG_TO_FILE)
        close(log_fd);
    if (log_kind == LOG_TO_SYSLOG && to != LOG_TO_SYSLOG)
        closelog();
    log_kind = to;
    log_fd = to == LOG_TO_FILE ? fd : STDERR_FILENO;
    if (!log_opened)
        log_flush_held();
    log_opened = 1;
    pthread_mutex_unlock(&log_lock);

    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

/* The file reopened (FD, which stays the caller's) in place of the one in
 * use, under the same descriptor, so no writer ever sees it closed. 0, or
 * -1 with errno (the caller logs it, with the path); 0 and nothing done
 * when the log is not a file. */
int
log_replace(int fd)
{
    int rc = 0;

    pthread_mutex_lock(&log_lock);
    if (log_kind == LOG_TO_FILE && dup2(fd, log_fd) < 0)
        rc = -1;
    pthread_mutex_unlock(&log_lock);
    return rc;
}

/* A descriptor of the log file in use (close-on-exec, the caller's to
 * close), to pass to another process; -1 with errno 0 when the log is
 * not a file, -1 with dup's errno when it cannot be had. */
int
log_dup(void)
{
    int fd = -1;

    pthread_mutex_lock(&log_lock);
    errno = 0;
    if (log_kind == LOG_TO_FILE)
        fd = fcntl(log_fd, F_DUPFD_CLOEXEC, 0);
    pthread_mutex_unlock(&log_lock);
    return fd;
}

void
log_close(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_kind == LOG_TO_FILE)
        close(log_fd);
    else if (log_kind == LOG_TO_SYSLOG)
        closelog();
    log_kind = LOG_TO_STDERR;
    log_fd = STDERR_FILENO;
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
    if (log_kind == LOG_TO_SYSLOG)
        syslog(log_syslog_priority(level), "%s", msg);
    else if (log_plain && log_kind == LOG_TO_STDERR) {
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

/* FMT at LEVEL with errno's text (log_syserr, log_syswarn); errno is
 * left as it was. */
void
log_sys(int level, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, saved, fmt, ap);
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
