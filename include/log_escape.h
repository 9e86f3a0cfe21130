/*
 * log_escape.h: the escaper of log messages, for log.c, and the UTF-8
 * check it uses, for the status page too.
 */
#ifndef LF_LOG_ESCAPE_H
#define LF_LOG_ESCAPE_H

#include <stddef.h>

void   log_escape(char *out, size_t size, const char *s, size_t len);
size_t log_utf8_len(const unsigned char *s, size_t n);

#endif
