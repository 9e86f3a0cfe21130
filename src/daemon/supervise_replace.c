/*
 * supervise_replace.c: a serving process is replaced while it serves,
 * when it asks: too many of its workers were written off (stuck in C past
 * terminate_timeout: their threads can only end with the process), or
 * its resident memory passed max_rss (C code allocating past `memory`).
 * php-fpm recycles its children for the same reasons (pm.max_requests).
 *
 * It asks on its ready pipe, which stays open once it serves: one byte
 * that says why (SUPERVISE_ASK_*). The supervisor's end has O_ASYNC, so
 * a byte there raises SIGIO, sent by the kernel: a serving process that
 * dropped privileges can wake a supervisor running as root, which it may
 * not signal. SIGIO is taken with the other signals by sigwait, between
 * starts (the main loop of supervise.c).
 *
 * The replacement is the upgrade's hand-over within one binary (no exec:
 * the same code runs on): a new serving process is forked with the
 * running config, and both accept on the listening sockets, which never
 * close. Once the new one serves, the old one is sent USR2 and stops as
 * on TERM, but passes its kept connections on to the new one rather than
 * close them (handover.c; TERM when there is no such channel): it
 * accepts no more, finishes every request it had accepted, and exits;
 * its stuck threads end with it. While it does, it is the retiring
 * one: killed past the stop bound, reaped apart from the serving one, and
 * no other replacement starts: one the serving process asks for meanwhile
 * starts as soon as the retiring one is gone. A new serving process that
 * cannot start leaves the old one serving; it asks again later
 * (LF_REPLACE_RETRY).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handover.h"
#include "log.h"
#include "monoclock.h"
#include "postmortem.h"
#include "scoreboard.h"
#include "shm.h"
#include "supervise.h"
#include "supervise_impl.h"

/* The supervisor's end of a serving process's ready pipe, once it serves:
 * read without waiting, and a byte raises SIGIO here. */
void
supervise_replace_watch(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETOWN, getpid()) < 0 ||
        fcntl(fd, F_SETFL, fl | O_NONBLOCK | O_ASYNC) < 0)
        log_syswarn("the serving process cannot ask to be replaced: its pipe");
}

/* What the serving process asked since the last look: a SUPERVISE_ASK_*
 * byte, or 0 (nothing; or its pipe closed: it is ending). That a signal
 * stops it (SUPERVISE_SAY_STOPPING) is noted on the way. */
int
supervise_replace_read(void)
{
    char buf[64];
    ssize_t n, i;
    int why = 0;

    if (supervise_sv.child_fd < 0)
        return 0;
    while ((n = read(supervise_sv.child_fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        for (i = 0; i < n; i++) {
            if (buf[i] == SUPERVISE_ASK_WRITTEN_OFF || buf[i] == SUPERVISE_ASK_RSS)
                why = (unsigned char)buf[i];
            else if (buf[i] == SUPERVISE_SAY_STOPPING)
                supervise_sv.child_stopping = 1;
        }
    return why;
}

/* The new serving process serves: the old one, OLD, stops as on TERM. */
static void
supervise_retire(pid_t old, int board)
{
    supervise_sv.retiring = old;
    supervise_sv.retiring_board = board;
    supervise_sv.retire_kill_ms = monoclock_ms() + supervise_stop_bound(0);
    log_notice("serving process %ld replaces %ld, which finishes its requests and exits",
               (long)supervise_sv.child, (long)old);
    /* USR2: it passes its kept connections on to the new one (handover.c) */
    if (kill(old, handover_inbox() >= 0 ? SIGUSR2 : SIGTERM) < 0)
        log_syswarn("cannot stop the replaced serving process %ld", (long)old);
}

/*
 * SIGIO: the serving process may have asked to be replaced. Start the new
 * one (SET: the signals taken while it starts); SUPERVISE_SERVE in it.
 * START_STOP when a stop signal came meanwhile (in *STOP: the caller
 * stops both); else START_OK, replaced or not.
 */
int
supervise_replace_asked(int pidfd, const sigset_t *set, int *stop)
{
    pid_t old = supervise_sv.child;
    int why = supervise_replace_read(), old_fd = supervise_sv.child_fd, old_board = supervise_sv.board;
    int rc;

    if (why == 0 && supervise_sv.retiring <= 0 && supervise_sv.ask_later_pid == old)
        why = supervise_sv.ask_later;   /* asked while the last one retired */
    if (why == 0 || old <= 0)
        return START_OK;
    if (supervise_sv.retiring > 0) {
        log_info("serving process %ld asks to be replaced; one replaced before is still finishing: "
                 "once it has", (long)old);
        supervise_sv.ask_later = why;
        supervise_sv.ask_later_pid = old;
        return START_OK;
    }
    supervise_sv.ask_later = 0;
    supervise_sv.ask_later_pid = 0;
    log_notice("serving process %ld asks to be replaced (%s): starting another", (long)old,
               why == SUPERVISE_ASK_RSS ? "over max_rss" : "workers written off");
    /* counted before the fork: the new one is told it replaces */
    if (why == SUPERVISE_ASK_RSS)
        supervise_sv.replaced_rss++;
    else
        supervise_sv.replaced_written_off++;
    /* while the new one starts, the old one serves on, as the retiring one
     * (signals reach it, its death is told apart) */
    supervise_sv.retiring = old;
    supervise_sv.retiring_board = old_board;
    supervise_sv.retire_kill_ms = 0;
    supervise_sv.child = 0;
    supervise_sv.child_fd = old_fd;     /* closed in the new one (supervise_spawn) */
    rc = supervise_start(pidfd, set, stop);
    if (rc == SUPERVISE_SERVE)
        return SUPERVISE_SERVE;
    if (rc == START_OK || rc == START_STOP) {
        close(old_fd);      /* what it asks from now on is moot */
        if (supervise_sv.child_fd == old_fd)
            supervise_sv.child_fd = -1;
    }
    if (rc == START_STOP) {
        if (supervise_sv.retiring > 0)  /* stopped with the other */
            supervise_sv.retire_kill_ms = monoclock_ms() + supervise_stop_bound(0);
        return START_STOP;
    }
    if (rc == START_OK) {
        if (supervise_sv.retiring == old)
            supervise_retire(old, old_board);
        else        /* it ended while the new one started (reaped, told) */
            log_notice("serving process %ld replaces %ld, which had ended",
                       (long)supervise_sv.child, (long)old);
        return START_OK;
    }
    /* the new one did not come up: the old one goes on, if it still runs */
    if (why == SUPERVISE_ASK_RSS)
        supervise_sv.replaced_rss--;
    else
        supervise_sv.replaced_written_off--;
    log_err("the serving process that was to replace %ld did not start: %ld serves on",
            (long)old, (long)old);
    if (supervise_sv.retiring == old) {
        supervise_sv.retiring = 0;
        supervise_sv.child = old;
        supervise_sv.board = old_board;
        supervise_sv.child_fd = old_fd;
    } else
        close(old_fd);
    supervise_reap();       /* it may have died meanwhile */
    return START_OK;
}

/* How long the main loop may wait for a signal: until the retiring one is
 * to be killed (ms), or -1 (no bound). */
long long
supervise_retire_wait(void)
{
    long long left;

    if (supervise_sv.retiring <= 0 || supervise_sv.retire_kill_ms == 0)
        return -1;
    left = supervise_sv.retire_kill_ms - monoclock_ms();
    return left > 0 ? left : 0;
}

/* The wait ran out: a retiring serving process past its bound is killed
 * (reaped with SIGCHLD as any). */
void
supervise_retire_overdue(void)
{
    if (supervise_sv.retiring <= 0 || supervise_retire_wait() != 0)
        return;
    log_err("the replaced serving process %ld did not stop in time: killing it",
            (long)supervise_sv.retiring);
    kill(supervise_sv.retiring, SIGKILL);
    supervise_sv.retire_kill_ms = 0;
}

/* The retiring serving process PID ended, with STATUS. */
void
supervise_retired(pid_t pid, int status)
{
    supervise_sv.retiring = 0;
    supervise_sv.retire_kill_ms = 0;
    supervise_clear_uploads(pid);
    /* the serving one asked meanwhile: its replacement starts now, not at
     * its next ask (LF_REPLACE_RETRY later), taken as any ask in the loop */
    if (supervise_sv.ask_later != 0 && supervise_sv.ask_later_pid == supervise_sv.child &&
        raise(SIGIO) != 0)
        log_syswarn("cannot start the replacement asked for meanwhile");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        log_notice("the replaced serving process %ld exited", (long)pid);
        return;
    }
    scoreboard_select(supervise_sv.retiring_board);
    postmortem_report(pid, status);
    shm_suspect(status);    /* a crash: the next serving process checks the dictionaries */
}
