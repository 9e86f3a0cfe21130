/*
 * supervise_upgrade.c: the supervisor's side of the USR2 hand-over.
 *
 * USR2 starts a new binary on the same socket (upgrade.c), or once a
 * serving process serves when none does yet (supervise_defer_upgrade: a
 * service script waits for it, so it is not lost). While the new binary
 * starts, HUP and USR1 are handled as usual, and a HUP that came meanwhile
 * is passed on to it once it serves, since it may have read the config
 * before. Once the new binary serves, this supervisor stops its serving
 * process as on TERM and exits, leaving the socket file and the pidfile to
 * the new one; with USR2 rather than TERM when the new one took the
 * channel for kept connections, so that they are passed on to it, not
 * closed (handover.c). A stop signal meanwhile gives the upgrade up and stops this
 * daemon; a new binary that fails leaves this one serving on.
 */
#include <signal.h>
#include <sys/types.h>

#include "conf.h"
#include "listen.h"
#include "log.h"
#include "supervise.h"
#include "supervise_impl.h"
#include "upgrade.h"

/* USR2 while the upgrade cannot start (WHY): it starts once a serving
 * process serves, rather than be lost (a service script waits for it). */
void
supervise_defer_upgrade(const char *why)
{
    if (!supervise_sv.upgrade_due)
        log_notice("upgrade: %s; upgrading once one serves", why);
    supervise_sv.upgrade_due = 1;
}

/* Signals while a new binary starts: reload and reopen as usual; a stop
 * gives the upgrade up (returned). */
static int
supervise_upgrade_signal(int sig)
{
    switch (sig) {
    case SIGHUP:
        supervise_reload(supervise_sv.child_fd);
        supervise_forward(sig);
        supervise_sv.upgrade_hup = 1;
        return 0;
    case SIGUSR1: supervise_reopen_log(supervise_sv.child_fd); supervise_forward(sig); return 0;
    case SIGUSR2: log_notice("upgrade: already under way"); return 0;
    default:      return sig;
    }
}

/* The new binary NEWPID may have read the config before a HUP that came
 * meanwhile: it reloads too, or it would serve the file as it was. */
static void
supervise_pass_hup(pid_t newpid)
{
    if (!supervise_sv.upgrade_hup)
        return;
    log_notice("upgrade: a HUP came while the new binary started; passing it on to pid %ld",
               (long)newpid);
    if (kill(newpid, SIGHUP) < 0)
        log_syswarn("upgrade: cannot pass the HUP on to pid %ld", (long)newpid);
}

/* How long the new binary may take to serve: upgrade_timeout of the
 * running config (a HUP may have changed it since start-up). */
static int
supervise_upgrade_seconds(void)
{
    struct conf *now = conf_acquire();
    int seconds = now->upgrade_timeout;

    conf_release(now);
    return seconds;
}

/*
 * USR2: start the new binary on our socket (upgrade.c). Once it serves,
 * this daemon stops as on TERM, leaving the socket file and the pidfile to
 * it: SUPERVISE_HANDED_OVER. A stop meanwhile stops this one as TERM does:
 * SUPERVISE_STOPPED. SUPERVISE_SERVE_ON when it failed and this one
 * serves on (a serving process that died meanwhile is restarted by the
 * caller).
 */
int
supervise_upgrade(const struct conf *c, int pidfd, const sigset_t *set, struct listeners *ls)
{
    pid_t newpid = 0;
    int sig;

    supervise_sv.upgrade_hup = 0;
    switch (upgrade_run(ls, pidfd, supervise_upgrade_seconds(), set, &sig, supervise_upgrade_signal,
                        supervise_reaped, &newpid)) {
    case UPGRADE_DONE:
        supervise_pass_hup(newpid);
        listen_close(ls, c, 0);    /* the new one holds them open */
        /* USR2 to the serving process: stop as on TERM, but pass the kept
         * connections on to the new one (handover.c) rather than close
         * them while nginx may be writing a request on one */
        supervise_stop(upgrade_passes_connections() ? SIGUSR2 : SIGTERM, c, ls, 0);
        return SUPERVISE_HANDED_OVER;
    case UPGRADE_STOP:
        supervise_stop(sig, c, ls, 0);
        return SUPERVISE_STOPPED;
    default:
        return SUPERVISE_SERVE_ON;
    }
}
