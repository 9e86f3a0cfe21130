/*
 * log_escape.h: the escaper of log messages, for log.c only.
 */
#ifndef LF_LOG_ESCAPE_H
#define LF_LOG_ESCAPE_H

#include <stddef.h>

void log_escape(char *out, size_t size, const char *s, size_t len);

#endif
