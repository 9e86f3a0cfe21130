/*
 * postmortem.c: how a serving process ended, for the log.
 *
 * The supervisor says how its serving process died (the signal by name,
 * a core dump) and which scripts its workers were running then, read from
 * the scoreboard: shared memory that survives the crash. That names the
 * script to look at when a C module brings the process down.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "postmortem.h"
#include "scoreboard.h"

const char *
postmortem_signal_name(int sig, char *buf, size_t len)
{
    static const struct { int sig; const char *name; } names[] = {
        { SIGSEGV, "SIGSEGV" }, { SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" },
        { SIGILL, "SIGILL" }, { SIGABRT, "SIGABRT" }, { SIGKILL, "SIGKILL" },
        { SIGTERM, "SIGTERM" }, { SIGINT, "SIGINT" }, { SIGHUP, "SIGHUP" },
        { SIGQUIT, "SIGQUIT" }, { SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" },
        { SIGUSR1, "SIGUSR1" }, { SIGUSR2, "SIGUSR2" }, { SIGTRAP, "SIGTRAP" },
        { SIGSYS, "SIGSYS" }, { SIGXCPU, "SIGXCPU" }, { SIGXFSZ, "SIGXFSZ" },
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].sig == sig)
            return names[i].name;
    snprintf(buf, len, "signal %d", sig);
    return buf;
}

/* How the serving process ended, and what its workers were running. */
void
postmortem_report(pid_t pid, int status)
{
    struct scoreboard_entry e;
    time_t now = time(NULL);
    const char *core = "";
    char buf[32];
    int w, running = 0;

#ifdef WCOREDUMP
    if (WIFSIGNALED(status) && WCOREDUMP(status))
        core = " (core dumped)";
#endif
    if (WIFSIGNALED(status))
        log_err("serving process %ld died of %s%s", (long)pid,
                postmortem_signal_name(WTERMSIG(status), buf, sizeof(buf)), core);
    else
        log_err("serving process %ld exited with status %d", (long)pid, WEXITSTATUS(status));
    for (w = 1; w <= scoreboard_slots(); w++) {
        if (!scoreboard_read(w, &e))
            continue;
        running++;
        if (e.torn)
            log_err("worker %d was starting or ending a request", w);
        else
            log_err("worker %d was running %s (for %ld s)", w, e.script, (long)(now - e.since));
    }
    if (running == 0)
        log_err("no worker was running a script");
}
