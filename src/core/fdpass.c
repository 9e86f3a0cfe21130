/*
 * fdpass.c: one descriptor passed between processes over a Unix socket
 * (SCM_RIGHTS), with one byte to carry it.
 *
 * What for: a process that keeps root's rights opens a file by name and
 * passes the descriptor to one that dropped them, which could not open it
 * (the supervisor reopening the daemon's log for the serving process, so
 * that the file stays root's and a script cannot write to it). Neither
 * side waits: the sender's message is queued in the pair when sendmsg
 * returns, so a signal sent after it finds it there. A received
 * descriptor is close-on-exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdpass.h"

#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0      /* then set after (fdpass_recv) */
#endif
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0          /* SIGPIPE is ignored anyway (main.c) */
#endif

union fdpass_ctl {
    struct cmsghdr  align;
    char            buf[CMSG_SPACE(sizeof(int))];
};

static void
fdpass_msg(struct msghdr *msg, struct iovec *iov, char *byte, union fdpass_ctl *ctl)
{
    memset(msg, 0, sizeof(*msg));
    memset(ctl, 0, sizeof(*ctl));
    iov->iov_base = byte;
    iov->iov_len = 1;
    msg->msg_iov = iov;
    msg->msg_iovlen = 1;
    msg->msg_control = ctl->buf;
    msg->msg_controllen = sizeof(ctl->buf);
}

/* Pass FD (which stays the caller's) on CHAN: 0, or -1 with errno (EAGAIN:
 * the other side has not read what came before). */
int
fdpass_send(int chan, int fd)
{
    union fdpass_ctl ctl;
    struct msghdr msg;
    struct cmsghdr *cm;
    struct iovec iov;
    char byte = 'F';

    fdpass_msg(&msg, &iov, &byte, &ctl);
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    for (;;) {
        if (sendmsg(chan, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* The next descriptor passed on CHAN, or -1 with errno: EAGAIN when none
 * waits, 0 when the other side closed it (or sent a byte without one). */
int
fdpass_recv(int chan)
{
    union fdpass_ctl ctl;
    struct msghdr msg;
    struct cmsghdr *cm;
    struct iovec iov;
    ssize_t got;
    char byte;
    int fd = -1;

    fdpass_msg(&msg, &iov, &byte, &ctl);
    while ((got = recvmsg(chan, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (got < 0)
        return -1;
    for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len >= CMSG_LEN(sizeof(int)) && fd < 0)
            memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    if (fd < 0) {
        errno = 0;
        return -1;
    }
    if (MSG_CMSG_CLOEXEC == 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}
