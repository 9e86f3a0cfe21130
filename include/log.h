/* log.h: levelled logging to a file descriptor, syslog or stderr. */
#ifndef LF_LOG_H
#define LF_LOG_H

#include <stdarg.h>
#include <sys/types.h>

enum log_level {
    LOG_LEVEL_ERR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_NOTICE,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG
};

#if defined(__GNUC__)
#define LF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define LF_NORETURN __attribute__((noreturn))
#else
#define LF_PRINTF(f, a)
#define LF_NORETURN
#endif

/* Where the lines go; a file is opened by logfile.c and handed over. */
enum log_target {
    LOG_TO_STDERR = 0,
    LOG_TO_SYSLOG,
    LOG_TO_FILE
};

int  log_level_parse(const char *name);
void log_use(enum log_target to, int fd, int level);
int  log_replace(int fd);
int  log_dup(void);
void log_close(void);
void log_set_mirror(int on);
void log_set_plain(int on);
int  log_enabled(int level);

void log_msg(int level, const char *fmt, ...) LF_PRINTF(2, 3);
void log_vmsg(int level, int errnum, const char *fmt, va_list ap);
void log_data(int level, const char *data, size_t len, const char *fmt, ...) LF_PRINTF(4, 5);
void log_sys(int level, const char *fmt, ...) LF_PRINTF(2, 3);
void fatal(const char *fmt, ...) LF_PRINTF(1, 2) LF_NORETURN;

#define log_err(...)    log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_syserr(...) log_sys(LOG_LEVEL_ERR, __VA_ARGS__)     /* with errno's text */
#define log_syswarn(...) log_sys(LOG_LEVEL_WARN, __VA_ARGS__)

#endif
