/*
 * handover.c: connections passed from a serving process that leaves to
 * the one that serves on, so that none is closed while the web server may
 * be writing a request on it.
 *
 * Why: a web server may start a request on a kept connection at any
 * moment, and nginx never retries a POST whose connection closed under it
 * (only idempotent requests). So a serving process that leaves while
 * another takes its place (USR2's upgrade, a replacement) does not close
 * its idle connections, nor the kept ones it finishes answering: it
 * passes them, as descriptors (SCM_RIGHTS), to whichever serving process
 * reads the channel, which watches them as its own. A request that
 * arrives meanwhile waits in the connection's socket, as one on a new
 * connection waits in the backlog.
 *
 * The channel is one SOCK_SEQPACKET socket pair, made by the first
 * supervisor before its first serving process and handed down like the
 * listening sockets: every serving process inherits both ends, and a new
 * binary receives them over exec (LUAFCGID_HANDOVER="IN,OUT"). Serving
 * processes read IN while they serve; one that leaves stops reading it
 * and writes to OUT. Nobody needs to know who reads: messages wait in the
 * pair until a serving process takes them, so a replacement may start
 * after the old one has left. A message carries up to HANDOVER_BATCH
 * descriptors and, for each, whether it is a kept connection and since
 * when it is idle (CLOCK_MONOTONIC is the machine's), so keepalive_timeout
 * runs on from where it was. Both ends are close-on-exec: scripts'
 * commands never hold them.
 *
 * A new binary that did not take the channel (an older build, or a
 * malformed environment) does not say it did when it reports that it
 * serves, and the old one closes its connections as before (upgrade.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "luafcgid.h"
#include "handover.h"
#include "log.h"
#include "monoclock.h"

#define HANDOVER_ENV   "LUAFCGID_HANDOVER"
#define HANDOVER_MAGIC 0x4c464831u     /* "LFH1": the message's layout */

#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0      /* then set one by one (handover_recv) */
#endif

/* What a message holds besides the descriptors; one layout in every
 * build on the machine, fixed-width and without padding. */
struct handover_wire {
    uint32_t    magic;
    uint32_t    count;
    struct {
        uint32_t kept;
        uint32_t reserved;
        int64_t  since;
    }           conn[HANDOVER_BATCH];
};

/* Room for the descriptors of one message. */
union handover_ctl {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * HANDOVER_BATCH)];
};

/* The channel's ends (-1: none); adopted: taken from the daemon this one
 * upgrades. Set once, before any thread, by the main thread. */
static struct {
    int in;
    int out;
    int adopted;
} ho = { -1, -1, 0 };

/* At a first start: make the channel. 0, or -1 (logged; the daemon runs
 * without, and a process that leaves closes its connections). */
int
handover_open(void)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) {
        log_syserr("cannot make the channel that passes connections on at an upgrade");
        return -1;
    }
    if (fcntl(sv[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(sv[1], F_SETFD, FD_CLOEXEC) < 0) {
        log_syserr("the channel that passes connections on: close-on-exec");
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    ho.out = sv[0];
    ho.in = sv[1];
    return 0;
}

/* Is FD an end of a channel: a SOCK_SEQPACKET socket? */
static int
handover_is_channel(long fd)
{
    int type = 0;
    socklen_t len = sizeof(type);

    return fd > STDERR_FILENO && fd <= INT_MAX &&
           getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_SEQPACKET;
}

/* In a new binary started by USR2: take the channel the running daemon
 * handed over. 1 when taken; 0 when there is none (an older daemon); -1
 * when the environment does not name one (logged). */
int
handover_adopt(void)
{
    const char *env = getenv(HANDOVER_ENV);
    char *end;
    long in, out;

    if (env == NULL)
        return 0;
    in = strtol(env, &end, 10);
    if (*end != ',' || !handover_is_channel(in) ||
        (out = strtol(end + 1, &end, 10), *end != '\0') || !handover_is_channel(out) || in == out) {
        log_warn("upgrade: %s does not name the channel that passes connections on ('%s'); "
                 "the running daemon closes its kept connections", HANDOVER_ENV, env);
        unsetenv(HANDOVER_ENV);
        return -1;
    }
    if (fcntl((int)in, F_SETFD, FD_CLOEXEC) < 0 || fcntl((int)out, F_SETFD, FD_CLOEXEC) < 0)
        log_syswarn("upgrade: the channel that passes connections on: close-on-exec");
    ho.in = (int)in;
    ho.out = (int)out;
    ho.adopted = 1;
    unsetenv(HANDOVER_ENV);     /* scripts and their children need not see it */
    return 1;
}

/* Did this binary take the running daemon's channel (so that the running
 * one may pass its connections on)? */
int
handover_adopted(void)
{
    return ho.adopted;
}

/* In the child about to exec a new binary (USR2): hand it the channel.
 * 0, or -1 when it cannot be (the new binary then makes its own). */
int
handover_export(void)
{
    char env[32];

    if (ho.in < 0 || ho.out < 0)
        return unsetenv(HANDOVER_ENV);
    snprintf(env, sizeof(env), "%d,%d", ho.in, ho.out);
    if (fcntl(ho.in, F_SETFD, 0) < 0 || fcntl(ho.out, F_SETFD, 0) < 0 || setenv(HANDOVER_ENV, env, 1) < 0)
        return -1;
    return 0;
}

void
handover_close(void)
{
    if (ho.in >= 0)
        close(ho.in);
    if (ho.out >= 0)
        close(ho.out);
    ho.in = ho.out = -1;
}

/* The end a serving process watches for connections passed to it; -1. */
int
handover_inbox(void)
{
    return ho.in;
}

/* MSG over the bytes DATA (LEN) and the control buffer CTL (CTLLEN). */
static void
handover_msg(struct msghdr *msg, struct iovec *iov, void *data, size_t len, union handover_ctl *ctl,
             size_t ctllen)
{
    memset(msg, 0, sizeof(*msg));
    memset(ctl, 0, sizeof(*ctl));
    iov->iov_base = data;
    iov->iov_len = len;
    msg->msg_iov = iov;
    msg->msg_iovlen = 1;
    msg->msg_control = ctl->buf;
    msg->msg_controllen = ctllen;
}

/* Send one message of N (<= HANDOVER_BATCH) connections; a full channel
 * (nobody reads it yet) is waited on, LF_HANDOVER_WAIT_MS at most. 0, or
 * -1 (logged). */
static int
handover_send_batch(const struct handover_conn *conns, int n)
{
    struct handover_wire wire;
    union handover_ctl ctl;
    struct msghdr msg;
    struct cmsghdr *cm;
    struct iovec iov;
    struct pollfd p;
    long long until = monoclock_ms() + LF_HANDOVER_WAIT_MS, left;
    int i;

    memset(&wire, 0, sizeof(wire));
    wire.magic = HANDOVER_MAGIC;
    wire.count = (uint32_t)n;
    handover_msg(&msg, &iov, &wire, offsetof(struct handover_wire, conn) + (size_t)n * sizeof(wire.conn[0]),
                 &ctl, CMSG_SPACE(sizeof(int) * (size_t)n));
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
    for (i = 0; i < n; i++) {
        memcpy(CMSG_DATA(cm) + (size_t)i * sizeof(int), &conns[i].fd, sizeof(int));
        wire.conn[i].kept = conns[i].kept != 0;
        wire.conn[i].since = conns[i].since;
    }
    for (;;) {
        if (sendmsg(ho.out, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return 0;
        if (errno == EINTR)
            continue;
        if ((errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) &&
            (left = until - monoclock_ms()) > 0) {
            p.fd = ho.out;
            p.events = POLLOUT;
            p.revents = 0;
            poll(&p, 1, (int)left);
            continue;
        }
        log_syserr("hand-over: cannot pass %d connections on", n);
        return -1;
    }
}

/*
 * Pass N connections on to the serving process that takes over; they are
 * closed here once sent. How many were: the rest (a failure, logged) are
 * the caller's to close.
 */
int
handover_send(const struct handover_conn *conns, int n)
{
    int sent = 0, k, i;

    if (ho.out < 0)
        return 0;
    while (sent < n) {
        k = n - sent < HANDOVER_BATCH ? n - sent : HANDOVER_BATCH;
        if (handover_send_batch(conns + sent, k) < 0)
            break;
        for (i = 0; i < k; i++)
            close(conns[sent + i].fd);  /* the message holds them now */
        sent += k;
    }
    return sent;
}

/* Close what a bad message brought, from its control data. */
static void
handover_drop(struct msghdr *msg)
{
    struct cmsghdr *cm;
    int i, n, fd;

    for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (i = 0; i < n; i++) {
            memcpy(&fd, CMSG_DATA(cm) + (size_t)i * sizeof(int), sizeof(int));
            close(fd);
        }
    }
}

/*
 * Take one message of connections passed on, into CONNS (room for MAX,
 * at least HANDOVER_BATCH): how many; 0 when none waits; -1 when the
 * channel failed (logged). Each is close-on-exec; O_NONBLOCK came with
 * it (it is the open file's).
 */
int
handover_recv(struct handover_conn *conns, int max)
{
    struct handover_wire wire;
    union handover_ctl ctl;
    struct msghdr msg;
    struct cmsghdr *cm;
    struct iovec iov;
    ssize_t got;
    int n = 0, fd;
    size_t head = offsetof(struct handover_wire, conn);

    if (ho.in < 0 || max < HANDOVER_BATCH)
        return 0;
    handover_msg(&msg, &iov, &wire, sizeof(wire), &ctl, sizeof(ctl.buf));
    while ((got = recvmsg(ho.in, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        log_syserr("hand-over: cannot take the connections passed on");
        return -1;
    }
    if (msg.msg_flags & MSG_CTRUNC)
        log_err("hand-over: connections passed on were lost: no descriptor left to take them");
    if ((size_t)got < head || wire.magic != HANDOVER_MAGIC || wire.count > HANDOVER_BATCH ||
        (size_t)got != head + wire.count * sizeof(wire.conn[0])) {
        log_err("hand-over: a message of %zd bytes that is not connections passed on; dropped", got);
        handover_drop(&msg);
        return 0;
    }
    for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
        int k, nfd;
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        nfd = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (k = 0; k < nfd; k++) {
            memcpy(&fd, CMSG_DATA(cm) + (size_t)k * sizeof(int), sizeof(int));
            if (n >= (int)wire.count) {
                close(fd);
                continue;
            }
            if (MSG_CMSG_CLOEXEC == 0)
                fcntl(fd, F_SETFD, FD_CLOEXEC);
            conns[n].fd = fd;
            conns[n].kept = wire.conn[n].kept != 0;
            conns[n].since = wire.conn[n].since;
            n++;
        }
    }
    return n;      /* fewer than wire.count: MSG_CTRUNC said so */
}
