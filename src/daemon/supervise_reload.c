/*
 * supervise_reload.c: the supervisor's running config and its log.
 *
 * The supervisor holds the running config: it reads the file again on HUP,
 * with the rules the serving process applies (keys that need a restart keep
 * their running values; an unreadable file changes nothing), and a serving
 * process it forks runs that snapshot, not the file: a crash neither undoes
 * a reload nor applies an edit nobody HUPed. The supervisor logs to the
 * reloaded logfile and bounds a stop with the reloaded timeout.
 *
 * As root with a user, a log the supervisor opens or reopens (HUP, USR1)
 * is handed to that user, so that the serving process can reopen it too.
 * When to reload and reopen is supervise.c's concern.
 */
#include <pwd.h>
#include <grp.h>
#include <sys/types.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "shm.h"
#include "logfile.h"
#include "supervise_impl.h"

/* As root with a user: the ids a reopened log must belong to, so that the
 * serving process can reopen it too. */
void
supervise_log_owner(const struct conf *c)
{
    struct passwd *pw;
    struct group *gr;

    if (geteuid() != 0 || c->user == NULL || (pw = getpwnam(c->user)) == NULL)
        return;
    supervise_sv.uid = pw->pw_uid;
    supervise_sv.gid = pw->pw_gid;
    if (c->group && (gr = getgrnam(c->group)) != NULL)
        supervise_sv.gid = gr->gr_gid;
    supervise_sv.chown_log = 1;
}

/* USR1: reopen the log, and pass it to the serving process on CHAN (its
 * ready pipe; -1: none), before the signal is passed on: the file stays
 * root's, which that process could not open. */
void
supervise_reopen_log(int chan)
{
    if (logfile_main_reopen() < 0)
        return;
    if (supervise_sv.chown_log)
        logfile_main_give_dir(supervise_sv.uid, supervise_sv.gid);
    supervise_send_log(chan);
}

/* The serving process, which reads the file too, logs why; with none, the
 * supervisor does. */
static void
supervise_reload_failed(const char *err)
{
    if (supervise_sv.child > 0)
        log_info("supervisor: keeping the running config");
    else
        log_err("reload failed, keeping the running config: %s", err);
}

/*
 * SIGHUP: read the config again as the serving process does (main_reload):
 * keys that need a restart keep their running values, a file that cannot
 * be read changes nothing (the serving process logs why). The result is
 * the running config that the next serving process starts with.
 */
void
supervise_reload(int chan)
{
    struct conf *old, *c;
    char err[1024];

    if ((c = conf_load(supervise_sv.path, err, sizeof(err))) == NULL) {
        supervise_reload_failed(err);
        return;
    }
    old = conf_acquire();
    shm_reload_report(old, c);
    if (conf_keep_restart(c, old, err, sizeof(err)) < 0) {
        supervise_reload_failed(err);
        conf_release(old);
        conf_free(c);
        return;
    }
    if (conf_log_changed(old, c) &&
        logfile_main_open(conf_log_target(c, supervise_sv.foreground), c->loglevel) == 0) {
        if (supervise_sv.chown_log)
            logfile_main_give_dir(supervise_sv.uid, supervise_sv.gid);
        supervise_send_log(chan);   /* a file: the serving process takes it */
    }
    conf_release(old);
    conf_publish(c);
}
