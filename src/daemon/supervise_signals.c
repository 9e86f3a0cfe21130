/*
 * supervise_signals.c: the process plumbing under the supervisor's policy.
 *
 * The supervisor takes every signal with sigwait() (they are all blocked),
 * so waiting is a matter of bounded waits on a signal set, and of polling
 * the ready pipe in short slices while looking at signals between them.
 * The serving child's side is here too: the write end of the ready pipe it
 * says "serving" on, and the request for SIGTERM when the supervisor dies.
 * What to do on each signal and death is supervise.c's concern (reload
 * and upgrade in supervise_reload.c and supervise_upgrade.c).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#if defined(__linux__)
#include <sys/prctl.h>
#elif defined(__FreeBSD__)
#include <sys/procctl.h>
#endif
#include <time.h>
#include <unistd.h>

#include "luafcgid.h"
#include "fdpass.h"
#include "log.h"
#include "supervise.h"
#include "supervise_impl.h"

/* The serving child's side; in the supervisor ready_fd stays -1. */
static struct {
    int         ready_fd;               /* the pipe to the supervisor */
    pid_t       parent;                 /* the supervisor, as its child sees it */
} svc = { -1, 0 };

/* SIGCHLD must have a handler: a blocked signal whose action is to be
 * ignored may be discarded instead of waiting for sigwait(). */
void
supervise_on_child(int sig)
{
    (void)sig;
}

/* The next signal of SET, waiting at most MS (forever when < 0); 0 on timeout. */
int
supervise_wait(const sigset_t *set, long long ms)
{
    struct timespec ts;
    int sig;

    if (ms < 0) {
        while (sigwait(set, &sig) != 0)
            ;
        return sig;
    }
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000;
    while ((sig = sigtimedwait(set, NULL, &ts)) < 0)
        if (errno != EINTR)
            return 0;
    return sig;
}

/* Wait until FD can be read (data or end of file): 0; or take a signal of
 * SET first: that signal. Signals stay blocked, so they are looked at
 * between slices of LF_SUPERVISE_TICK ms. */
int
supervise_wait_fd(int fd, const sigset_t *set)
{
    static const struct timespec zero = { 0, 0 };
    struct pollfd p;
    int sig, n;

    for (;;) {
        if ((sig = sigtimedwait(set, NULL, &zero)) > 0)
            return sig;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        if ((n = poll(&p, 1, LF_SUPERVISE_TICK)) > 0)
            return 0;
        if (n < 0 && errno != EINTR) {
            log_syserr("poll on the ready pipe");
            return 0;       /* the read below blocks, as before */
        }
    }
}

/* In the serving child just forked by PARENT: READY_FD is its end of the
 * ready pipe. */
void
supervise_child_init(pid_t parent, int ready_fd)
{
    svc.parent = parent;
    svc.ready_fd = ready_fd;
}

/* The supervisor: pass its log file, just opened or reopened, to the
 * serving process on CHAN (its end of that one's ready pipe; -1: none),
 * before the signal that has it take it (supervise_take_log). Nothing
 * when the log is not a file. */
void
supervise_send_log(int chan)
{
    int fd;

    if (chan < 0)
        return;
    if ((fd = log_dup()) < 0) {
        if (errno != 0)
            log_syswarn("cannot pass the log file to the serving process");
        return;
    }
    if (fdpass_send(chan, fd) < 0)
        log_syswarn("cannot pass the log file to the serving process");
    close(fd);
}

/* The serving child: the log file the supervisor passed last (on USR1 or
 * HUP, which come after it), or -1 when none waits. */
int
supervise_take_log(void)
{
    int fd, last = -1;

    if (svc.ready_fd < 0)
        return -1;
    while ((fd = fdpass_recv(svc.ready_fd)) >= 0) {
        if (last >= 0)
            close(last);
        last = fd;
    }
    if (errno != 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        log_syswarn("cannot take the log file from the supervisor");
    return last;
}

/* The serving child: say it serves. The pipe stays open: it may ask to
 * be replaced on it (supervise_ask_replace). */
void
supervise_ready(void)
{
    char one = '1';

    if (svc.ready_fd < 0)
        return;
    if (write(svc.ready_fd, &one, 1) != 1) {
        log_syswarn("cannot tell the supervisor that this process serves");
        close(svc.ready_fd);
        svc.ready_fd = -1;
    }
}

/* The serving child: ask the supervisor to replace this process (WHY: a
 * SUPERVISE_ASK_* byte; see supervise_replace.c). 0, or -1 (logged). */
int
supervise_ask_replace(int why)
{
    char b = (char)why;

    if (svc.ready_fd < 0) {
        log_warn("cannot ask to be replaced: no supervisor listens");
        return -1;
    }
    if (write(svc.ready_fd, &b, 1) != 1) {
        log_syswarn("cannot ask the supervisor to replace this process");
        return -1;
    }
    return 0;
}

/* The serving child: a signal stops it (TERM, INT, USR2): its exit 0 to
 * come is no death (supervise_reaped). */
void
supervise_stopping(void)
{
    char b = SUPERVISE_SAY_STOPPING;

    /* EPIPE: a replaced process's supervisor no longer reads (its stop
     * was asked for) */
    if (svc.ready_fd >= 0 && write(svc.ready_fd, &b, 1) != 1 && errno != EPIPE)
        log_syswarn("cannot tell the supervisor that this process stops");
}

/*
 * The serving child, after the privilege drop (which clears the setting):
 * ask for SIGTERM when the supervisor dies, so that a supervisor killed
 * outright leaves no process serving on. TERM is blocked and taken by the
 * signal loop: the usual stop. The supervisor may be gone already.
 */
void
supervise_watch_parent(void)
{
    if (svc.parent <= 0)
        return;
#if defined(__linux__)
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
        log_syswarn("cannot ask for SIGTERM when the supervisor dies");
#elif defined(__FreeBSD__) && defined(PROC_PDEATHSIG_CTL)
    {
        int sig = SIGTERM;
        if (procctl(P_PID, 0, PROC_PDEATHSIG_CTL, &sig) < 0)
            log_syswarn("cannot ask for SIGTERM when the supervisor dies");
    }
#endif
    if (getppid() != svc.parent) {
        log_err("the supervisor is gone: stopping");
        kill(getpid(), SIGTERM);
    }
}
