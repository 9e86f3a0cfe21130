/* httpstatus.h: what a CGI Status value must look like. */
#ifndef LF_HTTPSTATUS_H
#define LF_HTTPSTATUS_H

#include <stddef.h>

int httpstatus_valid(const char *s, size_t n);

#endif
