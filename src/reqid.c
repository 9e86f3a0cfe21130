/*
 * reqid.c: request ids.
 *
 * The web server's id is used when it sends one (REQUEST_ID, or the
 * X-Request-Id header as HTTP_X_REQUEST_ID; nginx's $request_id), so a
 * request can be followed from nginx's log into ours. It is taken only
 * when it is 1 to REQID_MAX bytes of letters, digits and ". _ : -": an id
 * goes into log lines unescaped, and a client must not be able to shape
 * them. Else we make one like nginx's, 32 hex digits: a random prefix
 * drawn once per serving process, the worker and its own count, so ids
 * are distinct with no lock and no system call per request.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <fcgiapp.h>

#include "log.h"
#include "reqid.h"

/* Drawn by reqid_init() before any worker starts, read-only afterwards. */
static unsigned long long reqid_prefix;

int
reqid_init(void)
{
    ssize_t n;

    do
        n = getrandom(&reqid_prefix, sizeof(reqid_prefix), 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(reqid_prefix)) {
        log_syserr("cannot draw the random prefix of request ids");
        return -1;
    }
    return 0;
}

static int
reqid_acceptable(const char *s)
{
    size_t i;

    for (i = 0; s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= REQID_MAX ||
            !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || strchr("._:-", ch)))
            return 0;
    }
    return i > 0;
}

/* The request's id into OUT (REQID_SIZE bytes), from ENVP or made from
 * WORKER and its counter SEQ. */
void
reqid_take(char *out, char **envp, int worker, unsigned long long *seq)
{
    static const char *const names[] = { "REQUEST_ID", "HTTP_X_REQUEST_ID" };
    const char *v;
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        v = FCGX_GetParam(names[i], envp);
        if (v != NULL && reqid_acceptable(v)) {
            memcpy(out, v, strlen(v) + 1);
            return;
        }
    }
    (*seq)++;
    snprintf(out, REQID_SIZE, "%016llx%04x%012llx", reqid_prefix,
             (unsigned)worker & 0xffff, *seq & 0xffffffffffffULL);
}
