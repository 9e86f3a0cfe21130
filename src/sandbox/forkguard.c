/*
 * forkguard.c: fork() from a C module is refused in the serving process.
 *
 * A C module that forks (luaposix's posix.unistd.fork) copies the serving
 * process with one thread in it. The child holds the listening sockets,
 * the logs and every client's connection, and each lock that another
 * thread held at that moment stays locked in it for good. It went back
 * into the script, then into the worker's code, and waited on the first
 * such lock forever: one more stuck process a call, holding the socket
 * open. In a threaded process a forked child may only exec or _exit at
 * once, and nothing a Lua script runs between the two can promise that.
 *
 * So the serving process refuses fork. This file defines fork() itself and
 * the binary exports the symbol (configure), so that a module's call binds
 * here before the C library's. Once armed (the serving process, before its
 * threads start), fork fails with EPERM and a warning (luaposix returns
 * nil, "Operation not permitted"); before that, and in the supervisor, it
 * is the C library's. Commands still run: os.execute spawns them
 * (osexec.c), and so do posix_spawn, system() and popen() in the C library,
 * whose child execs at once.
 *
 * A fork that reaches the C library by another road (a module that looked
 * fork up with dlsym, the C library's own callers such as daemon()) runs
 * the pthread_atfork handlers: the child one ends such a child with
 * _exit(127) before it returns anywhere, so it holds nothing for longer
 * than that. Our own fork, osexec.c's where posix_spawn cannot close
 * descriptors, goes through forkguard_fork() and is let through, marked
 * by a flag of the calling thread that its child inherits. Not covered:
 * the fork or clone system call made directly (syscall(2)), which no
 * library function sees.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "forkguard.h"
#include "log.h"
#include "monoclock.h"
#include "ratelog.h"

#define FORKGUARD_LOG_MS 10000      /* a refused fork is reported at most this often */

typedef pid_t (*forkguard_fn)(void);

/* Set once (pthread_once); armed by the serving process before its threads. */
static pthread_once_t forkguard_once = PTHREAD_ONCE_INIT;
static forkguard_fn forkguard_real;
static int forkguard_armed;             /* atomic */
static struct ratelog forkguard_refusals;
/* This thread is forking for the daemon itself: inherited by the child. */
static __thread int forkguard_own;

static void
forkguard_find(void)
{
    forkguard_real = (forkguard_fn)(uintptr_t)dlsym(RTLD_NEXT, "fork");
}

/* The child of a fork the guard did not let through: it ends here, before
 * it returns to whatever called fork. Only async-signal-safe calls. */
static void
forkguard_child(void)
{
    if (__atomic_load_n(&forkguard_armed, __ATOMIC_RELAXED) && !forkguard_own)
        _exit(127);
}

/* The serving process: from now on fork() from anywhere but
 * forkguard_fork() is refused. 0, or -1 (logged). */
int
forkguard_arm(void)
{
    int rc;

    pthread_once(&forkguard_once, forkguard_find);
    if ((rc = pthread_atfork(NULL, NULL, forkguard_child)) != 0) {
        log_err("cannot guard against fork from C modules: pthread_atfork: %d", rc);
        return -1;
    }
    __atomic_store_n(&forkguard_armed, 1, __ATOMIC_RELAXED);
    return 0;
}

static pid_t
forkguard_call_real(void)
{
    pthread_once(&forkguard_once, forkguard_find);
    if (forkguard_real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return forkguard_real();
}

/* The daemon's own fork, let through when armed. */
pid_t
forkguard_fork(void)
{
    pid_t pid;
    int saved;

    forkguard_own = 1;
    pid = forkguard_call_real();
    saved = errno;
    if (pid != 0)
        forkguard_own = 0;      /* the child keeps it: it execs or exits */
    errno = saved;
    return pid;
}

/* fork() for everything else in the process, C modules included. */
pid_t
fork(void)
{
    unsigned long refused;

    if (!__atomic_load_n(&forkguard_armed, __ATOMIC_RELAXED))
        return forkguard_call_real();
    if ((refused = ratelog_hit(&forkguard_refusals, monoclock_ms(), FORKGUARD_LOG_MS)) > 0)
        log_warn("fork() refused in the serving process (%lu since the last report): a C "
                 "module tried to copy it; run commands with os.execute", refused);
    errno = EPERM;
    return -1;
}
