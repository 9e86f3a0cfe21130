/* log.h: levelled logging to a file, syslog or stderr. */
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

int  log_level_parse(const char *name);
int  log_open(const char *target, int level);
int  log_reopen(void);
int  log_chown(uid_t uid, gid_t gid);
void log_close(void);
void log_set_mirror(int on);
void log_set_plain(int on);
void log_set_dir_owner(uid_t uid);
int  log_enabled(int level);

void log_msg(int level, const char *fmt, ...) LF_PRINTF(2, 3);
void log_vmsg(int level, int errnum, const char *fmt, va_list ap);
void log_data(int level, const char *data, size_t len, const char *fmt, ...) LF_PRINTF(4, 5);
void log_syserr(const char *fmt, ...) LF_PRINTF(1, 2);
void log_syswarn(const char *fmt, ...) LF_PRINTF(1, 2);
void fatal(const char *fmt, ...) LF_PRINTF(1, 2) LF_NORETURN;

#define log_err(...)    log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
