/*
 * main.c: the start-up order and the signal loop (the command line is
 * cli.c's).
 *
 * Start-up: config, log, pidfile lock, socket (each failure reported on
 * stderr before detaching), detach, pidfile; then the supervisor
 * (supervise.c) forks the serving process, which drops privileges and
 * starts the pool and the threads.
 * Every signal is blocked in every thread (the mask is set before the first
 * thread starts) and taken here with sigwait(), so handling a signal is
 * ordinary code: no async-signal-safety rules, no libfcgi handlers racing
 * ours.
 *
 * Stopping (TERM, INT): the dispatcher stops watching the listening socket,
 * which is then closed (and a unix socket removed) at once, so new clients
 * are refused rather than left in a backlog nobody reads. Every request
 * accepted before is served, within `timeout` + LF_STOP_MARGIN s (or
 * LF_STOP_BOUND s when timeout = 0); past that the daemon logs what it cut
 * short and exits without waiting for it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "luafcgid.h"
#include "accesslog.h"
#include "cli.h"
#include "conf.h"
#include "counters.h"
#include "daemon.h"
#include "safedir.h"
#include "shm.h"
#include "shm_lua.h"
#include "dispatch.h"
#include "fdlimit.h"
#include "forkguard.h"
#include "handover.h"
#include "housekeep.h"
#include "listen.h"
#include "log.h"
#include "ngx.h"
#include "logfile.h"
#include "net.h"
#include "pool.h"
#include "reqid.h"
#include "request.h"
#include "serve.h"
#include "slowlog.h"
#include "state.h"
#include "state_watchdog.h"
#include "status.h"
#include "supervise.h"
#include "uploaddir.h"
#include "upgrade.h"
#include "wire.h"
#include "worker.h"

static void
main_limits(const struct conf *c, struct pool_limits *l)
{
    l->states = c->states;
    l->clones = c->clones;
    l->maxrequests = c->maxrequests;
    l->maxidle = c->maxidle;
}

/* USR1, HUP: the access and slow logs, by the names the config gives. */
static int
main_reopen_logs(void)
{
    struct conf *c = conf_acquire();
    int rc = 0;

    if (accesslog_open(c) < 0)
        rc = -1;
    if (slowlog_open(c) < 0)
        rc = -1;
    conf_release(c);
    return rc;
}

/* HUP changed the daemon's log: a file is opened by the supervisor, which
 * keeps root's rights, and passed here; stderr and syslog need none. */
static void
main_log_changed(const struct conf *c, int foreground)
{
    const char *target = conf_log_target(c, foreground);
    int fd;

    if (strcmp(target, "stderr") == 0 || strcmp(target, "syslog") == 0)
        logfile_main_open(target, c->loglevel);
    else if ((fd = supervise_take_log()) >= 0)
        logfile_main_adopt(target, fd, c->loglevel);
    else
        log_warn("reload: log file %s did not come from the supervisor; "
                 "still writing to the one opened before", target);
}

/* SIGHUP: a new config, or the old one and a reason in the log. */
static void
main_reload(const char *path, int foreground, struct pool *pool, struct dispatch *dispatch)
{
    struct pool_limits limits;
    struct conf *old, *c;
    const char *key;
    char err[1024];

    if ((c = conf_load(path, err, sizeof(err))) == NULL) {
        log_err("reload failed, keeping the running config: %s", err);
        return;
    }
    old = conf_acquire();
    if ((key = conf_restart_keys(old, c)) != NULL)
        log_warn("reload: '%s' changed; it takes effect after a restart", key);
    if (conf_keep_restart(c, old, err, sizeof(err)) < 0) {    /* the snapshot says what runs */
        log_err("reload failed, keeping the running config: %s", err);
        conf_release(old);
        conf_free(c);
        return;
    }
    if (conf_log_changed(old, c))
        main_log_changed(c, foreground);
    if (c->keepalive_max > old->keepalive_max)
        fdlimit_raise(c->keepalive_max, old->workers, old->backlog);  /* warns when it may not fit */
    conf_release(old);
    main_limits(c, &limits);
    pool_configure(pool, &limits);
    dispatch_configure(dispatch, c->keepalive_timeout, c->keepalive_max, c->backlog, c->client_timeout);
    conf_publish(c);
    main_reopen_logs();     /* access_log or slowlog may name another file */
    ngx_timers_flush();     /* pending timers run now, premature, in their old states */
    pool_flush(pool);
    log_notice("reloaded %s; every state reloads on its next request", path);
}

static int
main_signals(const char *path, int foreground, struct pool *pool, struct dispatch *dispatch)
{
    static const int waited[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 };
    sigset_t set;
    size_t i;
    int sig;

    sigemptyset(&set);
    for (i = 0; i < sizeof(waited) / sizeof(waited[0]); i++)
        sigaddset(&set, waited[i]);
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        switch (sig) {
        case SIGHUP:
            main_reload(path, foreground, pool, dispatch);
            break;
        case SIGUSR1:
            /* the daemon's log as the supervisor reopened it: root's,
             * this process could not open it by name */
            if ((logfile_main_reopened(supervise_take_log()) | main_reopen_logs()) == 0)
                log_notice("log reopened");
            break;
        case SIGUSR2:
            log_notice("another serving process takes over: stopping after the requests in flight, "
                       "passing kept connections on to it");
            supervise_stopping();
            return sig;
        default:
            log_notice("signal %d: stopping after the requests in flight", sig);
            supervise_stopping();
            return sig;
        }
    }
}

static void
main_block_signals(void)
{
    static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
    sigset_t all;
    size_t i;

    /* set before any thread exists, so every thread inherits it; a fault
     * stays deliverable to the thread that caused it */
    sigfillset(&all);
    for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    /* a shell starts background jobs with INT ignored, and an ignored
     * signal never reaches sigwait() */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
}

/* ms a stop may take, from the running config's timeout. */
static long long
main_stop_bound(void)
{
    struct conf *c = conf_acquire();
    long long s = c->timeout > 0 ? (long long)c->timeout + LF_STOP_MARGIN : LF_STOP_BOUND;

    conf_release(c);
    return s * 1000;
}

/* After TERM: refuse new clients, finish what was accepted. 0 when every
 * worker ended; -1 when the bound was hit and some still run (logged).
 * The supervisor has closed its copy of the socket and removed its path.
 * After USR2 another serving process serves on the same sockets: kept
 * connections are passed on to it (HAND_OVER), not closed. */
static int
main_stop(struct listeners *ls, const struct conf *c, struct dispatch *dispatch, int hand_over)
{
    long long bound = main_stop_bound();
    struct dispatch_counts n;
    int busy;

    dispatch_stop(dispatch, hand_over);
    listen_close(ls, c, 0);
    /* timers: pending callbacks run now, premature, beside the requests
     * in flight; both within the stop's bound */
    if ((busy = worker_wait(bound)) == 0)
        return ngx_timers_stop(bound);
    dispatch_counts(dispatch, &n);
    log_err("stop: %d requests still running and %d still waiting after %lld s; exiting without them",
            busy, n.ready, bound / 1000);
    return -1;
}

/* ms the states' closes may take at a stop: terminate_timeout, as any
 * run of C code; LF_STOP_MARGIN s without one. */
static long long
main_close_bound(void)
{
    struct conf *c = conf_acquire();
    long long s = c->terminate_timeout > 0 ? c->terminate_timeout : LF_STOP_MARGIN;

    conf_release(c);
    return s * 1000;
}

static void
main_close_logs(void)
{
    slowlog_stop();
    accesslog_close();
}

/* The listen addresses, "a, b", in BUF (cut short when long). */
static const char *
main_listen_text(const struct conf *c, char *buf, size_t len)
{
    size_t used = 0;
    int i, n;

    buf[0] = '\0';
    for (i = 0; i < c->listen.count && used < len; i++) {
        n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", c->listen.items[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

/* Every request has ended: the upload directory goes, with what a request
 * left (its script raised past its cleanup); the supervisor checks again. */
static void
main_clear_uploads(void)
{
    struct conf *cur = conf_acquire();

    uploaddir_remove(cur, getpid(), geteuid());
    conf_release(cur);
}

/* The heartbeat's part in the workers (housekeep.c stands below them). */
static const struct housekeep_workers main_hk_workers = { worker_sweep_stuck, worker_written_off };

/* Start everything after the socket; -1 when start-up failed (logged), 1
 * when a stop was cut short and workers still run. */
static int
main_run(struct conf *c, const struct cli_options *o, struct listeners *ls)
{
    char where[512];
    struct pool_limits limits;
    struct status_lineage lineage;
    struct dispatch *dispatch;
    struct pool *pool;
    int rc, sig;

    fdlimit_raise(c->keepalive_max, c->workers, c->backlog);     /* warns when it may not fit */
    if (daemon_drop_privileges(c) < 0)
        return -1;
    supervise_watch_parent();       /* after the drop, which clears it */
    if (forkguard_arm() < 0)        /* before any thread: fork is refused from now on */
        return -1;
    if ((rc = FCGX_Init()) != 0) {
        log_err("cannot initialise libfcgi (%d)", rc);
        return -1;
    }
    if (wire_check() < 0)
        return -1;
    housekeep_tune_malloc();
    shm_lua_use_charge(state_charge);   /* a long walk of a dictionary keeps the request's deadline */
    shm_check_all();    /* after a crash: the dictionaries checked in the background */
    /* the slow log's slots: the workers', then the timer threads' */
    if (reqid_init() < 0 || net_init() < 0 || slowlog_start(c->workers + c->timer_max_running, c) < 0 ||
        accesslog_open(c) < 0) {
        slowlog_stop();
        return -1;
    }
    main_limits(c, &limits);
    /* before any script runs, the preload's too */
    if (state_watchdog_start() < 0) {
        main_close_logs();
        return -1;
    }
    if ((pool = pool_new(&limits, state_close)) == NULL) {
        main_close_logs();
        return -1;
    }
    pool_closer_start(pool);    /* without it (logged), whoever drops a state closes it */
    if ((dispatch = dispatch_new(ls, c->workers)) == NULL) {
        pool_destroy(pool);
        main_close_logs();
        return -1;
    }
    dispatch_configure(dispatch, c->keepalive_timeout, c->keepalive_max, c->backlog, c->client_timeout);
    if (counters_init(c->workers) < 0) {
        dispatch_destroy(dispatch);
        pool_destroy(pool);
        return -1;
    }
    supervise_lineage(&lineage);
    status_init(pool, dispatch, &lineage);
    if (ngx_timers_start(pool, c->workers, c->timer_max_running) < 0) {
        counters_free();
        dispatch_destroy(dispatch);
        pool_destroy(pool);
        return -1;
    }
    serve_preload(pool, c, ngx_install);
    if (housekeep_start(pool, &main_hk_workers) < 0 || worker_start(c->workers, dispatch, pool) < 0) {
        dispatch_stop(dispatch, 0);
        worker_join();
        housekeep_stop();
        state_watchdog_stop();
        dispatch_destroy(dispatch);
        if (pool_closer_stop(pool, main_close_bound()) == 0)
            pool_destroy(pool);
        main_close_logs();
        return -1;
    }
    log_notice(LF_NAME " " LF_VERSION " started: %d workers, %d states, listening on %s",
               c->workers, c->states, main_listen_text(c, where, sizeof(where)));
    daemon_ready(1, NULL);
    supervise_ready();
    log_set_mirror(0);

    sig = main_signals(o->config, o->foreground || !c->daemonize, pool, dispatch);

    if (main_stop(ls, c, dispatch, sig == SIGUSR2) < 0) {
        worker_abandon();   /* workers still run: leave their memory alone */
        return 1;
    }
    worker_join();
    wire_log_flush(1);      /* a flood's connections not yet told */
    if ((rc = worker_written_off()) > 0) {
        /* their threads may still come back and use the pool: leave it */
        log_notice("stop: %d written-off workers are still stuck in C; exiting without them", rc);
        return 1;
    }
    main_clear_uploads();
    shm_check_stop();
    housekeep_stop();
    state_watchdog_stop();
    if (pool_closer_stop(pool, main_close_bound()) < 0)
        return 1;   /* a state's close is stuck in C: leave the pool to it */
    dispatch_destroy(dispatch);     /* closes the kept connections */
    pool_destroy(pool);
    net_shutdown();                 /* and the scripts' kept connections */
    main_close_logs();
    counters_free();
    return 0;
}

/*
 * The serving process: the socket file and the pidfile are the
 * supervisor's. It runs the supervisor's running config (published before
 * the fork), not the file: after a crash, exactly what HUP had loaded.
 */
static int
main_serve(struct conf *c, const struct cli_options *o, struct listeners *ls)
{
    int rc;

    conf_release(c);
    c = conf_acquire();
    rc = main_run(c, o, ls);

    if (rc < 0)
        daemon_ready(0, "start-up failed; see the messages above");
    if (rc > 0) {
        /* workers still run and use the config and the log: exit now */
        log_notice("serving process stopped, cutting short what still ran");
        _exit(0);
    }
    listen_close(ls, c, 0);
    conf_release(c);
    conf_publish(NULL);
    log_close();
    return rc == 1 ? 1 : 0;
}

/* The pidfile and the listening socket: locked and bound, or handed over
 * by the daemon this one upgrades (upgrade.c), with the channel that
 * passes kept connections on (handover.c; one of our own when there is
 * none to take). 0, or -1 (logged). */
static int
main_open(const struct conf *c, struct listeners *ls, int *pidfd)
{
    int rc;

    if ((rc = upgrade_adopt(c, ls, pidfd)) != 0) {
        if (rc < 0 || listen_adopt(c, ls) < 0)
            return -1;
    } else {
        if ((*pidfd = daemon_pidfile_lock(c->pidfile, c)) < 0)
            return -1;
        if (listen_open(c, ls) < 0) {
            daemon_pidfile_remove(*pidfd, c->pidfile);
            return -1;
        }
    }
    if (handover_adopt() != 1)
        handover_open();    /* without it (logged), kept connections close on USR2 */
    return 0;
}

/* Close the socket and the pidfile, removing their files when they are
 * ours: not those of a daemon this one failed to take over from. */
static void
main_close(const struct conf *c, struct listeners *ls, int pidfd)
{
    if (!upgrade_owns()) {
        listen_close(ls, c, 0);
        close(pidfd);
        return;
    }
    listen_close(ls, c, 1);
    daemon_pidfile_remove(pidfd, c->pidfile);
}

int
main(int argc, char **argv)
{
    struct cli_options o;
    struct conf *c;
    char err[1024];
    struct listeners ls = { 0, { 0 }, { 0 } };
    int pidfd, rc, foreground;

    cli_parse(argc, argv, &o);
    if (o.test)
        return cli_test(o.config);
    if ((c = conf_load(o.config, err, sizeof(err))) == NULL) {
        fprintf(stderr, LF_NAME ": %s\n", err);
        return 1;
    }
    conf_publish(c);
    c = conf_acquire();     /* the start-up values, kept to the end */
    foreground = o.foreground || !c->daemonize;
    logfile_main_set_owner(conf_uid(c->user));
    if (logfile_main_open(conf_log_target(c, foreground), c->loglevel) < 0)
        return 1;
    log_set_mirror(1);
    main_block_signals();

    if (upgrade_save(argv[0], o.config, foreground) < 0 ||
        main_open(c, &ls, &pidfd) < 0)
        return 1;
    if (shm_setup(c) < 0) {     /* the dictionaries outlive every serving process */
        main_close(c, &ls, pidfd);
        return 1;
    }
    if (!foreground && daemon_detach(upgrade_pending()) < 0) {
        main_close(c, &ls, pidfd);
        return 1;
    }
    if ((rc = supervise_run(c, o.config, foreground, pidfd, &ls)) == SUPERVISE_SERVE)
        return main_serve(c, &o, &ls);
    if (rc == 1)
        daemon_ready(0, "start-up failed; see the messages above");

    if (rc == SUPERVISE_HANDED_OVER) {
        close(pidfd);       /* the file and its lock are the new binary's */
        log_notice("stopped; the new binary serves on");
    } else {
        main_close(c, &ls, pidfd);
        log_notice(rc == 0 ? "stopped" : "start-up failed");
    }
    shm_teardown();
    conf_release(c);
    conf_publish(NULL);
    log_close();
    return rc == 1 ? 1 : 0;
}
