/*
 * log_escape.h: the escaper of log messages, for log.c, and its rules
 * (which character is escaped, and how), for the status page too.
 */
#ifndef LF_LOG_ESCAPE_H
#define LF_LOG_ESCAPE_H

#include <stddef.h>

enum log_char { LOG_KEEP, LOG_ESCAPE, LOG_NOT_UTF8 };

void   log_escape(char *out, size_t size, const char *s, size_t len);
size_t log_utf8_len(const unsigned char *s, size_t n);
enum log_char log_char(const unsigned char *s, size_t n, size_t *len);
size_t log_escape_byte(char *e, unsigned char c);

#endif
