/*
 * fdlimit.c: make room for the descriptors the config asks for.
 *
 * Every idle kept connection, every queued or running request, the log and
 * every file a script opens is a descriptor. Distributions start daemons
 * with a soft RLIMIT_NOFILE of 1024 and a much higher hard one, so the
 * soft limit is raised to the hard one at start (an unprivileged process
 * may do that); the hard limit is left to the administrator (ulimit -n,
 * systemd's LimitNOFILE). A worker holds two: its connection and its
 * working directory (workdir.c); up to `backlog` new connections may wait
 * for a worker in the dispatcher's queue (dispatch.c). When keepalive_max +
 * 2 x workers + backlog + LF_FD_MARGIN still does not fit, the log says so
 * at start, rather than the daemon
 * finding out under load (dispatch_accept.c copes then, but closes idle
 * connections to do it).
 */
#include <errno.h>
#include <sys/resource.h>

#include "luafcgid.h"
#include "fdlimit.h"
#include "log.h"

/* Raise the soft limit to the hard one; RL holds the limits after. */
static void
fdlimit_set_soft(struct rlimit *rl)
{
    struct rlimit want = *rl;

    if (rl->rlim_cur == rl->rlim_max)
        return;
    want.rlim_cur = rl->rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
        *rl = want;
        return;
    }
    /* an unlimited hard limit is not a valid soft one on Linux (nr_open) */
    if (errno == EPERM || errno == EINVAL)
        return;
    log_syswarn("cannot raise the descriptor limit from %llu",
                (unsigned long long)rl->rlim_cur);
}

/* 0 when the config fits in the limit, -1 when it may not (logged). */
int
fdlimit_raise(int keepalive_max, int workers, int backlog)
{
    unsigned long long need = (unsigned long long)keepalive_max + 2ULL * (unsigned long long)workers +
                              (unsigned long long)backlog + LF_FD_MARGIN;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        log_syswarn("cannot read the descriptor limit");
        return -1;
    }
    fdlimit_set_soft(&rl);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        log_warn("the descriptor limit is %llu (hard %llu), but keepalive_max %d + workers %d "
                 "(two each) + backlog %d + %d spare need %llu: lower keepalive_max or raise the "
                 "limit (ulimit -n, LimitNOFILE=)", (unsigned long long)rl.rlim_cur,
                 (unsigned long long)rl.rlim_max, keepalive_max, workers, backlog, LF_FD_MARGIN, need);
        return -1;
    }
    log_info("descriptor limit %llu", (unsigned long long)rl.rlim_cur);
    return 0;
}
