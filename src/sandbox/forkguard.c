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
 * is the C library's. The other library calls that copy the process are
 * refused the same way: _Fork() (POSIX.1-2024, glibc 2.34: a fork that runs
 * no pthread_atfork handler) and daemon(), whose parent would exit(0)
 * under the requests in flight. Commands still run: os.execute spawns them
 * (osexec.c), and so do posix_spawn, system() and popen() in the C
 * library, whose child execs at once.
 *
 * A fork that reaches the C library by another road (a module that looked
 * fork up with dlsym) runs the pthread_atfork handlers: the child one ends
 * such a child with _exit(127) before it returns anywhere, so it holds
 * nothing for longer than that. Our own fork, osexec.c's where posix_spawn
 * cannot close descriptors, goes through forkguard_fork() and is let
 * through, marked by a flag of the calling thread that its child inherits.
 *
 * What no library function sees, the fork or clone system call made
 * directly (syscall(2)), makes a copy that goes back into the script.
 * Whatever it then touches that is shared with the serving process (the
 * client's connection, the listening sockets through the dispatcher) is
 * reached through code that asks forkguard_check() first: the copy finds
 * its mark wiped and ends there with _exit(127). The mark is a page the
 * kernel gives every copy zeroed (MADV_WIPEONFORK on Linux, INHERIT_ZERO
 * on FreeBSD), so the check, made some four times a request, is a load
 * and not a system call; getpid() against the pid cached when armed is
 * the fallback where neither exists. A clone that shares the memory
 * (CLONE_VM without CLONE_THREAD) keeps the mark: the fallback would catch
 * it, the mark does not; such a copy shares every lock and byte of the
 * serving process anyway. Until then it holds the descriptors it inherited; a
 * copy that never comes back from the module (or waits for good on a lock
 * another thread held) holds them until it is killed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
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
static forkguard_fn forkguard_real_Fork;
static int (*forkguard_real_daemon)(int, int);
static int forkguard_armed;             /* atomic */
static pid_t forkguard_pid;             /* the serving process: set when armed */
/* Nonzero in the serving process, zero in any copy the kernel made of it;
 * NULL where the kernel cannot wipe a page in a copy. Set when armed. */
static volatile unsigned char *forkguard_mark;
static struct ratelog forkguard_refusals;
/* This thread is forking for the daemon itself: inherited by the child. */
static __thread int forkguard_own;

static void
forkguard_find(void)
{
    forkguard_real = (forkguard_fn)(uintptr_t)dlsym(RTLD_NEXT, "fork");
    forkguard_real_Fork = (forkguard_fn)(uintptr_t)dlsym(RTLD_NEXT, "_Fork");
    forkguard_real_daemon = (int (*)(int, int))(uintptr_t)dlsym(RTLD_NEXT, "daemon");
}

/* The child of a fork the guard did not let through: it ends here, before
 * it returns to whatever called fork. Only async-signal-safe calls. */
static void
forkguard_child(void)
{
    if (__atomic_load_n(&forkguard_armed, __ATOMIC_RELAXED) && !forkguard_own)
        _exit(127);
}

/* A page marked nonzero that every copy of the process gets zeroed, or
 * NULL (then forkguard_check asks getpid). */
static volatile unsigned char *
forkguard_mark_page(void)
{
#if defined(MADV_WIPEONFORK) || defined(INHERIT_ZERO)
    long size = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return NULL;
#if defined(MADV_WIPEONFORK)
    if (madvise(p, (size_t)size, MADV_WIPEONFORK) != 0) {
#else
    if (minherit(p, (size_t)size, INHERIT_ZERO) != 0) {
#endif
        munmap(p, (size_t)size);
        return NULL;
    }
    *(volatile unsigned char *)p = 1;
    return p;
#else
    return NULL;
#endif
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
    forkguard_pid = getpid();
    forkguard_mark = forkguard_mark_page();
    __atomic_store_n(&forkguard_armed, 1, __ATOMIC_RELEASE);
    return 0;
}

/*
 * Before touching what the serving process shares with its clients (a
 * connection, the listening sockets): a copy of it made by a fork that no
 * library call saw (a raw system call) ends here, before it answers or
 * accepts anything in the serving process's name. Only async-signal-safe
 * calls: the copy may hold any lock.
 */
void
forkguard_check(void)
{
    if (!__atomic_load_n(&forkguard_armed, __ATOMIC_ACQUIRE))
        return;
    if (forkguard_mark != NULL ? *forkguard_mark == 0 : getpid() != forkguard_pid)
        _exit(127);
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

/* Armed: WHAT (a call that copies the process) is refused, with a
 * rate-limited warning; -1 and EPERM. */
static int
forkguard_refuse(const char *what)
{
    unsigned long refused;

    if ((refused = ratelog_hit(&forkguard_refusals, monoclock_ms(), FORKGUARD_LOG_MS)) > 0)
        log_warn("%s refused in the serving process (%lu refused since the last report): a C "
                 "module tried to copy it; run commands with os.execute", what, refused);
    errno = EPERM;
    return -1;
}

/* fork() for everything else in the process, C modules included. */
pid_t
fork(void)
{
    if (!__atomic_load_n(&forkguard_armed, __ATOMIC_RELAXED))
        return forkguard_call_real();
    return forkguard_refuse("fork()");
}

/* _Fork() (no atfork handlers, so the child one would not end its copy):
 * refused as fork() is. */
pid_t
_Fork(void)
{
    if (__atomic_load_n(&forkguard_armed, __ATOMIC_RELAXED))
        return forkguard_refuse("_Fork()");
    pthread_once(&forkguard_once, forkguard_find);
    if (forkguard_real_Fork == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return forkguard_real_Fork();
}

/* daemon(): its parent exits, and it would be the serving process, under
 * the requests in flight; refused as fork() is. */
int
daemon(int nochdir, int noclose)
{
    if (__atomic_load_n(&forkguard_armed, __ATOMIC_RELAXED))
        return forkguard_refuse("daemon()");
    pthread_once(&forkguard_once, forkguard_find);
    if (forkguard_real_daemon == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return forkguard_real_daemon(nochdir, noclose);
}
