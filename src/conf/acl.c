/*
 * acl.c: allowed_clients, the client addresses that may connect over TCP.
 *
 * An open FastCGI port runs any script a client names, so a TCP listener
 * can be limited to a list of addresses and CIDR prefixes, as php-fpm's
 * listen.allowed_clients does: "10.0.0.5", "10.0.0.0/8", "::1",
 * "fd00::/8". An empty list lets everyone in (the default; listen.c warns
 * when that is a non-loopback port). IPv4 clients of a dual-stack socket
 * arrive as IPv4-mapped IPv6 (::ffff:10.0.0.5), and a rule written that
 * way is read as IPv4 too, so one rule matches both. Only numeric forms
 * are taken: a host name would depend on a resolver at every start.
 *
 * The parsed list lives in the config snapshot (conf.c parses it while
 * checking the file, so a bad entry is a -t error naming the key, and
 * hands the running one to acl_admit) and changes with a reload: a kept
 * connection whose client a reload took off the list is closed when its
 * next request comes (acl_readmit). A
 * refused connection is closed at once by the dispatcher; the log says so at most once every LF_ACL_LOG_INTERVAL s,
 * with how many more were refused meanwhile, so a scan cannot fill it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luafcgid.h"
#include "acl.h"
#include "log.h"
#include "monoclock.h"
#include "ratelog.h"

struct acl_rule {
    int             family;     /* AF_INET or AF_INET6 */
    unsigned char   addr[16];   /* network order, 4 bytes used for IPv4 */
    int             prefix;     /* bits that must match */
};

struct acl {
    int             count;
    struct acl_rule rules[];
};

/* The refusals, logged at most once per LF_ACL_LOG_INTERVAL s (atomics:
 * no lock). */
static struct ratelog acl_refusals;

static const unsigned char acl_v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* ::ffff:a.b.c.d in R becomes a.b.c.d (its prefix less 96). */
static void
acl_unmap(struct acl_rule *r)
{
    if (r->family != AF_INET6 || memcmp(r->addr, acl_v4mapped, 12) != 0 || r->prefix < 96)
        return;
    memmove(r->addr, r->addr + 12, 4);
    r->family = AF_INET;
    r->prefix -= 96;
}

/* One entry, "ADDR" or "ADDR/BITS"; 0, or -1 with the reason in ERR. */
static int
acl_parse_rule(const char *s, struct acl_rule *r, char *err, size_t errlen)
{
    char text[INET6_ADDRSTRLEN + 8], *slash, *end;
    size_t n = strlen(s);
    long bits;
    int max;

    if (n == 0 || n >= sizeof(text)) {
        snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address or prefix", s);
        return -1;
    }
    memcpy(text, s, n + 1);
    if ((slash = strchr(text, '/')) != NULL)
        *slash = '\0';
    memset(r, 0, sizeof(*r));
    if (inet_pton(AF_INET, text, r->addr) == 1) {
        r->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, text, r->addr) == 1) {
        r->family = AF_INET6;
        max = 128;
    } else {
        snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address or prefix "
                 "(host names are not taken)", s);
        return -1;
    }
    r->prefix = max;
    if (slash) {
        bits = strtol(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || bits < 0 || bits > max) {
            snprintf(err, errlen, "'%s': the prefix length must be 0 to %d", s, max);
            return -1;
        }
        r->prefix = (int)bits;
    }
    acl_unmap(r);
    return 0;
}

/* The rules of the COUNT strings ITEMS (allowed_clients); NULL with the
 * reason in ERR. An empty list gives an empty acl, which allows everyone. */
struct acl *
acl_parse(char *const *items, int count, char *err, size_t errlen)
{
    struct acl *a;
    int i;

    a = malloc(sizeof(*a) + (size_t)count * sizeof(a->rules[0]));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->count = count;
    for (i = 0; i < count; i++)
        if (acl_parse_rule(items[i], &a->rules[i], err, errlen) < 0) {
            free(a);
            return NULL;
        }
    return a;
}

void
acl_free(struct acl *a)
{
    free(a);
}

/* The first BITS bits of A and B are equal. */
static int
acl_prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    unsigned char mask;

    if (memcmp(a, b, (size_t)whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* 1 when the client SA may connect: no rules, or one that matches. */
int
acl_allows(const struct acl *a, const struct sockaddr *sa)
{
    struct acl_rule peer;
    int i;

    if (a == NULL || a->count == 0)
        return 1;
    memset(&peer, 0, sizeof(peer));
    if (sa->sa_family == AF_INET) {
        peer.family = AF_INET;
        memcpy(peer.addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        peer.family = AF_INET6;
        memcpy(peer.addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        peer.prefix = 128;
        acl_unmap(&peer);
    } else {
        return 1;   /* a unix socket: its file mode is the access control */
    }
    for (i = 0; i < a->count; i++)
        if (a->rules[i].family == peer.family &&
            acl_prefix_equal(a->rules[i].addr, peer.addr, a->rules[i].prefix))
            return 1;
    return 0;
}

/* SA as text ("10.0.0.5", "::1"), for the log. */
const char *
acl_format(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *addr;

    if (sa->sa_family == AF_INET)
        addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    else
        return "a local client";
    if (inet_ntop(sa->sa_family, addr, buf, (socklen_t)len) == NULL)
        return "?";
    return buf;
}

/* A refusal of SA: logged, or counted for the next message. */
static void
acl_log_refused(const struct sockaddr *sa)
{
    char buf[INET6_ADDRSTRLEN];
    unsigned long more, n = ratelog_hit(&acl_refusals, monoclock_ms(), LF_ACL_LOG_INTERVAL * 1000LL);

    if (n == 0)
        return;     /* counted for the next message */
    more = n - 1;
    if (more > 0)
        log_warn("refused a connection from %s: not in allowed_clients "
                 "(and %lu more since the last such message)", acl_format(sa, buf, sizeof(buf)), more);
    else
        log_warn("refused a connection from %s: not in allowed_clients",
                 acl_format(sa, buf, sizeof(buf)));
}

/* May the client SA, just accepted, be served under the list A (NULL:
 * everyone)? 1, or 0 (logged, rate-limited): the caller closes it. */
int
acl_admit(const struct acl *a, const struct sockaddr *sa)
{
    int ok = acl_allows(a, sa);

    if (!ok)
        acl_log_refused(sa);
    return ok;
}

/* A connection admitted earlier (kept, or parked before its first
 * request) has a request to serve: is its client still allowed? A HUP
 * may have taken it off the list since. 1, or 0 (logged as acl_admit):
 * the caller closes it. Unix sockets and empty lists pass unlooked. */
int
acl_readmit(const struct acl *a, int fd)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    int everyone = a == NULL || a->count == 0;

    memset(&peer, 0, sizeof(peer));
    if (everyone || getpeername(fd, (struct sockaddr *)&peer, &len) < 0 ||
        (peer.ss_family != AF_INET && peer.ss_family != AF_INET6))
        return 1;   /* a connection gone meanwhile fails in the worker */
    return acl_admit(a, (struct sockaddr *)&peer);
}
