/*
 * httpstatus.c: the one rule for a Status value: three digits, then
 * nothing or a space and a reason ("404 Not Found").
 *
 * A web server drops an answer whose status it cannot read (nginx answers
 * 502), so the value is checked where it is given: req:header("Status")
 * at run time, the config's httpstatus at load, where -t sees it. Both
 * use this function, so neither takes what the other refuses.
 */
#include <ctype.h>
#include <stddef.h>

#include "httpstatus.h"

/* 1 if S (N bytes) is a status a web server can read, else 0. */
int
httpstatus_valid(const char *s, size_t n)
{
    return n >= 3 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
           isdigit((unsigned char)s[2]) && (n == 3 || s[3] == ' ');
}
