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

/* Is S an id the web server may give (see above)? */
int
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

/* E's value into *V when E is "NAME=value": of a name sent twice the
 * last, or the first when FIRST (a header's), as everywhere (reqenv.c). */
static void
reqid_match(const char *e, const char *name, size_t len, const char **v, int first)
{
    if ((!first || *v == NULL) && strncmp(e, name, len) == 0 && e[len] == '=')
        *v = e + len + 1;
}

/* N hex digits of X into OUT. */
static char *
reqid_hex(char *out, unsigned long long x, int n)
{
    static const char digits[] = "0123456789abcdef";
    int i;

    for (i = n - 1; i >= 0; i--) {
        out[i] = digits[x & 0xf];
        x >>= 4;
    }
    return out + n;
}

/*
 * The request's id into OUT (REQID_SIZE bytes), from ENVP or made from
 * WORKER and its counter SEQ. Both names are looked for in one walk of
 * the environment, and the id is written without printf: every request
 * pays for this.
 */
void
reqid_take(char *out, char **envp, int worker, unsigned long long *seq)
{
    const char *rid = NULL, *xrid = NULL;
    char *p;

    for (; envp != NULL && *envp != NULL; envp++) {
        const char *e = *envp;
        if (e[0] == 'R')
            reqid_match(e, "REQUEST_ID", 10, &rid, 0);
        else if (e[0] == 'H' && strncmp(e, "HTTP_", 5) == 0 && e[5] == 'X')
            reqid_match(e, "HTTP_X_REQUEST_ID", 17, &xrid, 1);
    }
    if ((rid != NULL && reqid_acceptable(rid)) || ((rid = xrid) != NULL && reqid_acceptable(rid))) {
        memcpy(out, rid, strlen(rid) + 1);
        return;
    }
    (*seq)++;
    p = reqid_hex(out, reqid_prefix, 16);
    p = reqid_hex(p, (unsigned)worker & 0xffff, 4);
    p = reqid_hex(p, *seq & 0xffffffffffffULL, 12);
    *p = '\0';
}
