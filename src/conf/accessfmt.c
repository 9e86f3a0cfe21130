/*
 * accessfmt.c: access_format, checked when the config is loaded.
 *
 * Besides the tokens themselves, the check works out what the line needs
 * besides the request's values (its text, numbers, times at most), and so
 * the cap on each value that keeps the rest of the line: a client's long
 * URI must not push %s and %d off it. A %{...}t is tried on the current
 * time: more than ACCESSLOG_TIME_MAX - 1 bytes (a width such as %9000Y
 * too), or a control character (%n, %t), is refused rather than printed as
 * nothing or as a broken line.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "luafcgid.h"
#include "accessfmt.h"

#define ACCESSFMT_VALUE_MIN 16      /* the least room a format leaves a value */
#define ACCESSFMT_TOKENS    "%CdeficlmMnopqQrRsStTu"

/* One token of the format at *P (just past a '%'): its letter, and its
 * {argument} in ARG; *P moves past it. 0 at a bad or cut token. */
int
accessfmt_token(const char **p, char *arg, size_t arglen)
{
    const char *s = *p, *end;
    size_t n;

    arg[0] = '\0';
    if (*s == '{') {
        if ((end = strchr(s, '}')) == NULL)
            return 0;
        n = (size_t)(end - s - 1);
        if (n >= arglen)
            return 0;
        memcpy(arg, s + 1, n);
        arg[n] = '\0';
        s = end + 1;
    }
    if (*s == '\0')
        return 0;
    *p = s + 1;
    return (unsigned char)*s;
}

static int
accessfmt_known(int tok, const char *arg)
{
    if (tok == '%')
        return 1;
    if (strchr("RutTmrQqsflnp", tok))
        return 1;
    if (tok == 'e')
        return arg[0] != '\0';
    if (tok == 'd')
        return !arg[0] || !strcasecmp(arg, "seconds") || !strcasecmp(arg, "mili") ||
               !strcasecmp(arg, "milli") || !strcasecmp(arg, "miliseconds") ||
               !strcasecmp(arg, "milliseconds") || !strcasecmp(arg, "micro") ||
               !strcasecmp(arg, "microseconds");
    if (tok == 'M')
        return !arg[0] || !strcasecmp(arg, "bytes") || !strcasecmp(arg, "kilo") ||
               !strcasecmp(arg, "kilobytes") || !strcasecmp(arg, "mega") ||
               !strcasecmp(arg, "megabytes");
    if (tok == 'C')
        return !arg[0] || !strcasecmp(arg, "user") || !strcasecmp(arg, "system") ||
               !strcasecmp(arg, "total");
    return 0;
}

/* 0 when the strftime() format ARG of a %{...}t prints at most
 * ACCESSLOG_TIME_MAX - 1 bytes and no control character (%n, %t), which
 * would break the line; else -1 and why. *MAX: what it may print at
 * another time (month names differ), for the line's budget. */
static int
accessfmt_check_time(const char *arg, size_t *max, char *why, size_t whylen)
{
    char fmt[ACCESSLOG_ARG_MAX + 2], tmp[ACCESSLOG_TIME_MAX + 1];
    time_t now = time(NULL);
    struct tm tm;
    size_t n, i;

    *max = ACCESSLOG_TIME_MAX - 1;
    if (localtime_r(&now, &tm) == NULL)
        return 0;
    /* strftime's 0 is both "printed nothing" and "did not fit" (a width
     * such as %9000Y fits no buffer): a byte before ARG tells them apart */
    snprintf(fmt, sizeof(fmt), "|%s", arg);
    if ((n = strftime(tmp, sizeof(tmp), fmt, &tm)) == 0) {
        snprintf(why, whylen, "%%{%.20s...}t prints more than %d bytes", arg, ACCESSLOG_TIME_MAX - 1);
        return -1;
    }
    n--;
    memmove(tmp, tmp + 1, n);
    for (i = 0; i < n; i++)
        if ((unsigned char)tmp[i] < 0x20 || tmp[i] == 0x7f) {
            snprintf(why, whylen, "%%{%.20s}t prints a control character (as %%n or %%t do)", arg);
            return -1;
        }
    if (2 * n + 16 < *max)
        *max = 2 * n + 16;
    return 0;
}

/* Whether TOK prints a value from the request (escaped, capped). */
static int
accessfmt_is_value(int tok)
{
    return strchr("Rumrqfle", tok) != NULL;
}

/* What a token other than a request value prints at most; TIME for %t, %T. */
static size_t
accessfmt_token_max(int tok, size_t time)
{
    switch (tok) {
    case '%': case 'Q': return 1;
    case 's': return 3;
    case 'n': return sizeof(LF_NAME) - 1;
    case 't': case 'T': return time;
    default: return 32;     /* a number: %d %C %M %p */
    }
}

/* The cap on each request value, so that the rest of the line (FIXED bytes
 * at most, NVALUES values) always fits; 0 when it cannot. */
static size_t
accessfmt_value_max(size_t fixed, size_t nvalues)
{
    size_t room = ACCESSLOG_LINE_MAX - 1, each;

    if (nvalues == 0)
        return fixed <= room ? ACCESSLOG_VALUE_MAX : 0;
    if (fixed + nvalues * ACCESSFMT_VALUE_MIN > room)
        return 0;
    each = (room - fixed) / nvalues;
    return each < ACCESSLOG_VALUE_MAX ? each : ACCESSLOG_VALUE_MAX;
}

/* 0 when FORMAT is one access_format can be, with *VALUE_MAX the cap on
 * each request value that keeps the rest of the line; else -1 and why. */
int
accessfmt_check(const char *format, size_t *value_max, char *why, size_t whylen)
{
    char arg[ACCESSLOG_ARG_MAX];
    const char *p = format, *text = format;
    size_t fixed = 0, nvalues = 0, tlen = 0;
    int tok;

    for (p = format; *p; p++)
        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
            snprintf(why, whylen, "a control character (0x%02x) would break the line",
                     (unsigned)(unsigned char)*p);
            return -1;
        }
    p = format;
    while ((p = strchr(p, '%')) != NULL) {
        const char *at = p++;
        fixed += (size_t)(at - text);
        if ((tok = accessfmt_token(&p, arg, sizeof(arg))) == 0) {
            snprintf(why, whylen, "a cut or too long token at \"%.20s\"", at);
            return -1;
        }
        if (!accessfmt_known(tok, arg)) {
            snprintf(why, whylen, tok == 'e' && !arg[0] ?
                     "%%e needs the parameter's name, as %%{REMOTE_PORT}e" :
                     "unknown token \"%.*s\" (php-fpm's tokens: %s)",
                     (int)(p - at), at, ACCESSFMT_TOKENS);
            return -1;
        }
        if ((tok == 't' || tok == 'T') &&
            accessfmt_check_time(arg[0] ? arg : ACCESSLOG_TIME_DEFAULT, &tlen, why, whylen) < 0)
            return -1;
        if (accessfmt_is_value(tok))
            nvalues++;
        else
            fixed += accessfmt_token_max(tok, tlen);
        text = p;
    }
    fixed += strlen(text);
    if ((*value_max = accessfmt_value_max(fixed, nvalues)) == 0) {
        snprintf(why, whylen, "too long: its text and fields (%zu bytes) leave less than %d bytes "
                 "for each of its %zu request values in a %d-byte line", fixed, ACCESSFMT_VALUE_MIN,
                 nvalues, ACCESSLOG_LINE_MAX);
        return -1;
    }
    return 0;
}

/* Whether FORMAT (checked) has %C: the CPU time is taken only then, it
 * costs two system calls a request. */
int
accessfmt_uses_cpu(const char *format)
{
    char arg[ACCESSLOG_ARG_MAX];
    const char *p = format;

    while ((p = strchr(p, '%')) != NULL) {
        p++;
        if (accessfmt_token(&p, arg, sizeof(arg)) == 'C')
            return 1;
    }
    return 0;
}
