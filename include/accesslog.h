/* accesslog.h: one line per request, in php-fpm's access.format. */
#ifndef LF_ACCESSLOG_H
#define LF_ACCESSLOG_H

#include <stddef.h>

struct conf;
struct request;

int    accesslog_open(const struct conf *c);
void   accesslog_close(void);
void   accesslog_write(const struct request *r);
void   accesslog_write_off(const struct request *r, const char *status);
size_t accesslog_escape(char *out, size_t size, const char *s);

#endif
