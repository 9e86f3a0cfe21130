/* accessfmt.h: access_format, checked at load; its tokens. */
#ifndef LF_ACCESSFMT_H
#define LF_ACCESSFMT_H

#include <stddef.h>

#define ACCESSLOG_LINE_MAX  8192
#define ACCESSLOG_ARG_MAX   256
#define ACCESSLOG_VALUE_MAX 2048    /* a value from the request, escaped, "..." included */
#define ACCESSLOG_TIME_MAX  512     /* what a %{...}t prints, with its NUL */
#define ACCESSLOG_TIME_DEFAULT "[%d/%b/%Y:%H:%M:%S %z]"

int accessfmt_token(const char **p, char *arg, size_t arglen);
int accessfmt_check(const char *format, size_t *value_max, char *why, size_t whylen);
int accessfmt_uses_cpu(const char *format);

#endif
