/*
 * net_resolve.c: a host name to an address, within a deadline.
 *
 * getaddrinfo cannot be bounded (a dead DNS server held a worker for its
 * full retries), and glibc's getaddrinfo_a exists nowhere else; c-ares
 * (Debian's libc-ares, FreeBSD's dns/c-ares) reads the same resolv.conf
 * and hosts file and lets us poll its sockets with our own deadline. A
 * lookup gets a channel of its own (channels are not shared between
 * threads), made and destroyed around it; literal addresses never reach
 * it. The first address found is used, IPv4 before IPv6.
 *
 * Errors are worded as nginx's resolver words them, so scripts that look
 * at them see what they would under OpenResty:
 * "NAME could not be resolved (3: Host not found)".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <ares.h>

#include "blockhint.h"
#include "log.h"
#include "monoclock.h"
#include "net_impl.h"

struct net_lookup {
    int                     done;
    int                     status;
    struct sockaddr_storage *out;
    unsigned               *outlen;
    int                     port;
};

int
net_resolve_init(void)
{
    int rc = ares_library_init(ARES_LIB_INIT_ALL);

    if (rc != ARES_SUCCESS) {
        log_err("sockets: cannot start c-ares: %s", ares_strerror(rc));
        return -1;
    }
    return 0;
}

/* A literal IPv4 or IPv6 address: 1 with OUT set, else 0. */
static int
net_resolve_literal(const char *host, int port, struct sockaddr_storage *out, unsigned *outlen)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    char buf[64];
    size_t len = strlen(host);

    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((unsigned short)port);
        *outlen = sizeof(*in4);
        return 1;
    }
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(buf)) {
        memcpy(buf, host + 1, len - 2);
        buf[len - 2] = '\0';
        host = buf;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((unsigned short)port);
        *outlen = sizeof(*in6);
        return 1;
    }
    return 0;
}

static void
net_resolve_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct net_lookup *lk = arg;
    struct ares_addrinfo_node *n, *pick = NULL;

    (void)timeouts;
    lk->done = 1;
    lk->status = status;
    if (status == ARES_SUCCESS && res != NULL) {
        for (n = res->nodes; n != NULL; n = n->ai_next)
            if (pick == NULL || (n->ai_family == AF_INET && pick->ai_family != AF_INET))
                pick = n;
        if (pick != NULL && pick->ai_addrlen <= sizeof(*lk->out)) {
            memset(lk->out, 0, sizeof(*lk->out));
            memcpy(lk->out, pick->ai_addr, pick->ai_addrlen);
            *lk->outlen = pick->ai_addrlen;
            if (pick->ai_family == AF_INET)
                ((struct sockaddr_in *)lk->out)->sin_port = htons((unsigned short)lk->port);
            else
                ((struct sockaddr_in6 *)lk->out)->sin6_port = htons((unsigned short)lk->port);
        } else
            lk->status = ARES_ENOTFOUND;
    }
    if (res != NULL)
        ares_freeaddrinfo(res);
}

/* nginx's resolver wording for a c-ares status. */
static const char *
net_resolve_why(int status, int *code)
{
    switch (status) {
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
        *code = 3;
        return "Host not found";
    case ARES_EFORMERR:
    case ARES_EBADNAME:
        *code = 1;
        return "Format error";
    case ARES_EREFUSED:
        *code = 5;
        return "Operation refused";
    case ARES_ENOTIMP:
        *code = 4;
        return "Unimplemented";
    case ARES_ETIMEOUT:
        *code = 110;
        return "Operation timed out";
    default:
        *code = 2;
        return "Server failure";
    }
}

/* Poll the channel's sockets until the lookup is done or DEADLINE. */
static void
net_resolve_wait(ares_channel ch, struct net_lookup *lk, long long deadline)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    struct pollfd fds[ARES_GETSOCK_MAXNUM];
    struct timeval tv, *tvp;
    long long left;
    int bits, i, n, ms;

    while (!lk->done) {
        left = deadline - monoclock_ms();
        if (left <= 0) {
            lk->status = ARES_ETIMEOUT;
            return;
        }
        bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
        for (i = n = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            if (!ARES_GETSOCK_READABLE(bits, i) && !ARES_GETSOCK_WRITABLE(bits, i))
                continue;
            fds[n].fd = socks[i];
            fds[n].events = (short)((ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) |
                                    (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0));
            fds[n].revents = 0;
            n++;
        }
        tvp = ares_timeout(ch, NULL, &tv);
        ms = left > 0x7fffffff ? 0x7fffffff : (int)left;
        if (tvp != NULL && tvp->tv_sec * 1000 + tvp->tv_usec / 1000 < ms)
            ms = (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000);
        blockhint();
        if (poll(fds, (nfds_t)n, ms) < 0)
            continue;
        if (n == 0) {
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (i = 0; i < n; i++)
            ares_process_fd(ch, fds[i].revents & (POLLIN | POLLERR | POLLHUP) ? fds[i].fd : ARES_SOCKET_BAD,
                            fds[i].revents & POLLOUT ? fds[i].fd : ARES_SOCKET_BAD);
        if (n > 0 && !lk->done)
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);     /* its timeouts */
    }
}

/*
 * HOST's address with PORT in OUT, found by DEADLINE (ms, monotonic):
 * 0, or -1 with nginx's wording in ERR.
 */
int
net_resolve(const char *host, int port, long long deadline, struct sockaddr_storage *out,
            unsigned *outlen, char *err, size_t errlen)
{
    struct ares_addrinfo_hints hints;
    struct net_lookup lk;
    ares_channel ch;
    const char *why;
    int rc, code;

    if (net_resolve_literal(host, port, out, outlen))
        return 0;
    if ((rc = ares_init(&ch)) != ARES_SUCCESS) {
        snprintf(err, errlen, "failed to start the resolver: %s", ares_strerror(rc));
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    memset(&lk, 0, sizeof(lk));
    lk.out = out;
    lk.outlen = outlen;
    lk.port = port;
    ares_getaddrinfo(ch, host, NULL, &hints, net_resolve_done, &lk);
    net_resolve_wait(ch, &lk, deadline);
    if (!lk.done)
        lk.status = ARES_ETIMEOUT;
    rc = lk.status;
    ares_destroy(ch);       /* a lookup still going calls back, cancelled: lk is still ours */
    if (rc == ARES_SUCCESS)
        return 0;
    why = net_resolve_why(rc, &code);
    snprintf(err, errlen, "%s could not be resolved (%d: %s)", host, code, why);
    return -1;
}

/*
 * HOST as a literal address in ADDR (for LuaSocket, whose own lookups
 * cannot be bounded), found by DEADLINE; *FAMILY is AF_INET or AF_INET6.
 * 0, or -1 with nginx's wording in ERR.
 */
int
net_resolve_text(const char *host, long long deadline, char *addr, size_t addrlen, int *family,
                 char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned len;

    if (net_resolve(host, 0, deadline, &ss, &len, err, errlen) != 0)
        return -1;
    *family = ss.ss_family;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, (socklen_t)addrlen);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, (socklen_t)addrlen);
    return 0;
}
