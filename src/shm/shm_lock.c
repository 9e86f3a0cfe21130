/*
 * shm_lock.c: a dictionary's lock, which a dead holder cannot keep, nor a
 * stopped one for long.
 *
 * One mutex per dictionary, in its arena, shared by every thread of every
 * process that maps it (PTHREAD_PROCESS_SHARED): the workers of the
 * serving process, and during a USR2 upgrade the old serving process and
 * the new one. It is robust (PTHREAD_MUTEX_ROBUST): when its holder dies
 * (kill -9, a crash in a C module, SIGSTOP and then SIGKILL), the kernel
 * hands it to the next locker with EOWNERDEAD instead of leaving everyone
 * blocked. That locker undoes the dead one's unfinished step from the
 * undo log (shm_undo.c: a few hundred granules at most, whatever the
 * dictionary's size), logs it, and marks the mutex consistent: the next
 * serving process answers as soon as it starts, and nothing but the step
 * under way is lost. Only a log that overflowed, or damage an operation
 * found, leads to the whole check (shm_check.c).
 *
 * A holder that is alive but stopped cannot be told from a slow one at
 * first, so a locker waits LF_SHARED_LOCK_WAIT s at most (on the
 * monotonic clock where the C library can: a step of the wall clock
 * neither fires nor stretches the wait) and then fails the operation with
 * a clear reason rather than holding its worker forever. Then it looks at
 * the holder: only a process of this daemon can hold the lock (nothing
 * else maps the memory), and none holds it across a system call, so one
 * found stopped by SIGSTOP (state T) is what wedges the dictionary.
 * While it is, lockers wait LF_SHARED_LOCK_WEDGED_WAIT s only; once it
 * has been seen stopped for LF_SHARED_WEDGED s, the locker kills it:
 * its step is undone by the next holder, and its supervisor starts
 * another, as after any crash. A holder stopped by a debugger (state t)
 * is left alone: someone is looking at it. This needs the holder's
 * thread id, which glibc's mutex keeps; elsewhere the wait only fails.
 *
 * The lock is never held across a system call that blocks, nor across
 * Lua: an operation's critical section is a lookup and a few stores, and
 * a walk of the whole dictionary lets go every SHM_STEP entries. So a
 * locker that finds it taken, on a machine with more than one CPU, first
 * spins a few microseconds (trying again between growing pauses, as
 * nginx's shmtx does) before it sleeps in the kernel: the holder is
 * almost always done by then, and a sleep costs the waiter a futex wait
 * and the holder a futex wake, many times the critical section. From
 * four workers on one key that was a third of an operation's cost.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "monoclock.h"
#include "ratelog.h"
#include "shm_impl.h"

/* "The lock was not had in time" warnings, for every dictionary. */
static struct ratelog shm_slow_log;

/* A new arena's mutex: process-shared and robust. 0, or -1 (logged). */
int
shm_lock_init(struct shm_head *h)
{
    pthread_mutexattr_t a;
    int rc;

    if ((rc = pthread_mutexattr_init(&a)) != 0) {
        errno = rc;
        log_syserr("shared dictionary '%s': pthread_mutexattr_init", h->name);
        return -1;
    }
    if ((rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) != 0 ||
        (rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) != 0 ||
        (rc = pthread_mutex_init(&h->lock, &a)) != 0) {
        errno = rc;
        log_syserr("shared dictionary '%s': cannot make its process-shared, robust lock", h->name);
        pthread_mutexattr_destroy(&a);
        return -1;
    }
    pthread_mutexattr_destroy(&a);
    return 0;
}

/* Check and mend D, its lock held; WHY says what led here. */
static void
shm_repair(struct shm_dict *d, const char *why)
{
    struct shm_head *h = d->h;
    struct shm_check_result r;
    long long t0 = monoclock_ms();
    int rc = shm_check_locked(d, 1, &r);

    SHM_STAT_ADD(h, repairs, 1);
    shm_commit(h);
    if (rc < 0)
        log_err("shared dictionary '%s': %s, and its memory was not sound: emptied (%lu keys lost)",
                h->name, why, r.dropped);
    else if (rc > 0)
        log_warn("shared dictionary '%s': %s; checked and mended in %lld ms: %lu of %lu keys kept, %lu "
                 "dropped, %lu blocks reclaimed%s", h->name, why, monoclock_ms() - t0, r.kept, r.before,
                 r.dropped, r.freed, r.lru_rebuilt ? ", LRU order rebuilt" : "");
    else
        log_notice("shared dictionary '%s': %s; checked in %lld ms: sound, %lu keys", h->name, why,
                   monoclock_ms() - t0, r.kept);
}

/* The lock had from a holder that died: its step undone (or, when that
 * cannot be, the whole check). */
static void
shm_recover(struct shm_dict *d)
{
    struct shm_head *h = d->h;
    long long t0 = monoclock_us();
    int n = shm_undo(h);

    if (n < 0 || h->damaged) {
        shm_repair(d, "a process died holding its lock, in a step the undo log could not hold");
        return;
    }
    SHM_STAT_ADD(h, repairs, 1);
    shm_commit(h);
    log_warn("shared dictionary '%s': a process died holding its lock; its unfinished step was undone "
             "(%d granules) in %lld us", h->name, n, monoclock_us() - t0);
}

/* ThreadSanitizer does not see a lock taken by pthread_mutex_clocklock
 * (GCC 12's runtime has no interceptor for it): its build waits on the
 * wall clock, which it does see, rather than report every operation
 * that follows a wait as a race. */
#if defined(__SANITIZE_THREAD__)
#define SHM_LOCK_WALL_CLOCK 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHM_LOCK_WALL_CLOCK 1
#endif
#endif

/* Wait for the lock, SECONDS at most. */
static int
shm_lock_wait(struct shm_head *h, int seconds)
{
    struct timespec ts;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30)) && \
    !defined(SHM_LOCK_WALL_CLOCK)
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return pthread_mutex_lock(&h->lock);
    ts.tv_sec += seconds;
    return pthread_mutex_clocklock(&h->lock, CLOCK_MONOTONIC, &ts);
#else
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return pthread_mutex_lock(&h->lock);
    ts.tv_sec += seconds;
    return pthread_mutex_timedlock(&h->lock, &ts);
#endif
}

/* The thread holding H's lock (its id in glibc's mutex), or 0. */
static int
shm_lock_holder(struct shm_head *h)
{
#ifdef __GLIBC__
    return __atomic_load_n(&h->lock.__data.__owner, __ATOMIC_RELAXED) & 0x3fffffff;
#else
    (void)h;
    return 0;
#endif
}

/* Thread TID's state letter (R, S, T, t...) and its process in *PID;
 * 0 when it cannot be read. */
static char
shm_thread_state(int tid, long *pid)
{
    char path[64], buf[512], *p, state = 0;
    ssize_t n;
    int fd;

    *pid = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", tid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if ((p = strstr(buf, "\nState:")) != NULL)
        sscanf(p + 7, " %c", &state);
    if ((p = strstr(buf, "\nTgid:")) != NULL)
        *pid = strtol(p + 6, NULL, 10);
    if (*pid <= 0)
        return 0;
    return state;
}

/* The lock was not had in time: is its holder stopped, and for how long?
 * Killed once stopped LF_SHARED_WEDGED s (see the top of this file). */
static void
shm_lock_wedged(struct shm_dict *d)
{
    struct shm_head *h = d->h;
    int tid = shm_lock_holder(h), seen;
    long long now = monoclock_ms();
    long pid;
    char state;

    if (tid == 0 || (state = shm_thread_state(tid, &pid)) == 0 || pid == (long)getpid())
        return;
    if (state != 'T') {
        if (state == 't')
            log_warn("shared dictionary '%s': its lock is held by process %ld, stopped by a debugger: "
                     "operations fail until it goes on", h->name, pid);
        __atomic_store_n(&h->wedged_tid, 0, __ATOMIC_RELAXED);
        return;
    }
    seen = __atomic_load_n(&h->wedged_tid, __ATOMIC_RELAXED);
    if (seen != tid) {
        __atomic_store_n(&h->wedged_ms, now, __ATOMIC_RELAXED);
        __atomic_store_n(&h->wedged_tid, tid, __ATOMIC_RELAXED);
        log_err("shared dictionary '%s': its lock is held by process %ld, which is stopped (SIGSTOP); it is "
                "killed if it is still stopped in %d s", h->name, pid, LF_SHARED_WEDGED);
        return;
    }
    if (now - __atomic_load_n(&h->wedged_ms, __ATOMIC_RELAXED) < LF_SHARED_WEDGED * 1000LL)
        return;
    if (!__atomic_compare_exchange_n(&h->wedged_tid, &seen, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;     /* another locker does it */
    log_err("shared dictionary '%s': process %ld has held its lock stopped for %d s or more: killed "
            "(SIGKILL), so that its step is undone and the dictionary serves again", h->name, pid,
            LF_SHARED_WEDGED);
    if (kill((pid_t)pid, SIGKILL) < 0)
        log_syserr("shared dictionary '%s': cannot kill process %ld", h->name, pid);
}

/* Pauses a spinning locker makes, in all, before it sleeps: a few
 * microseconds, a critical section's length many times over. */
#define SHM_SPIN_PAUSES     512

/* Whether spinning can help: more than one CPU this process may run on
 * (0: not known yet). Read and set with relaxed atomics; every thread
 * finds the same. */
static int shm_spin_cpus;

/* The CPUs this process may run on: its affinity where the system says
 * it (taskset, systemd's CPUAffinity, a cpuset), else those online. */
static long
shm_cpus_usable(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        return CPU_COUNT(&set);
#endif
    return sysconf(_SC_NPROCESSORS_ONLN);
}

static int
shm_spin_worth(void)
{
    int n = __atomic_load_n(&shm_spin_cpus, __ATOMIC_RELAXED);
    long cpus;

    if (n == 0) {
        cpus = shm_cpus_usable();
        n = cpus > 1 ? (cpus > INT_MAX ? INT_MAX : (int)cpus) : 1;
        __atomic_store_n(&shm_spin_cpus, n, __ATOMIC_RELAXED);
    }
    return n > 1;
}

static inline void
shm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/* The lock found taken: try again between pauses that double, up to
 * SHM_SPIN_PAUSES in all. What the last try said (EBUSY: still taken). */
static int
shm_lock_spin(struct shm_head *h)
{
    int rc = EBUSY, i, n;

    if (!shm_spin_worth())
        return rc;
    for (n = 1; n < SHM_SPIN_PAUSES && rc == EBUSY; n <<= 1) {
        for (i = 0; i < n; i++)
            shm_cpu_relax();
        rc = pthread_mutex_trylock(&h->lock);
    }
    return rc;
}

/* Take D's lock: 0; or -1 with the reason in *ERR (logged, rate-limited). */
int
shm_lock(struct shm_dict *d, const char **err)
{
    struct shm_head *h = d->h;
    unsigned long n;
    int rc = pthread_mutex_trylock(&h->lock), wedged;

    if (rc == EBUSY)
        rc = shm_lock_spin(h);
    if (rc == EBUSY) {
        wedged = __atomic_load_n(&h->wedged_tid, __ATOMIC_RELAXED) != 0;
        rc = shm_lock_wait(h, wedged ? LF_SHARED_LOCK_WEDGED_WAIT : LF_SHARED_LOCK_WAIT);
    }
    if (rc == 0 || rc == EOWNERDEAD) {
        if (__atomic_load_n(&h->wedged_tid, __ATOMIC_RELAXED) != 0)
            __atomic_store_n(&h->wedged_tid, 0, __ATOMIC_RELAXED);
    }
    if (rc == 0)
        return 0;
    if (rc == EOWNERDEAD) {
        shm_recover(d);
        if ((rc = pthread_mutex_consistent(&h->lock)) != 0) {
            errno = rc;
            log_syserr("shared dictionary '%s': pthread_mutex_consistent", h->name);
        }
        return 0;
    }
    if (rc == ETIMEDOUT) {
        *err = "the dictionary's lock was not had in time (a process holding it is stopped?)";
        if ((n = ratelog_hit(&shm_slow_log, monoclock_ms(), 5000)) > 0)
            log_err("shared dictionary '%s': its lock was not had in time, %lu times: a process "
                    "holding it is stopped or stuck", h->name, n);
        shm_lock_wedged(d);
        return -1;
    }
    *err = "the dictionary's lock cannot be taken";
    errno = rc;
    log_syserr("shared dictionary '%s': cannot take its lock", h->name);
    return -1;
}

/* Let D's lock go: the step under way is done, and a bounded part of the
 * garbage chain is freed on the way out; 0. Or, when the operation found
 * damage, its step is undone and the dictionary mended: -1, so that the
 * operation answers a failure rather than what it meant to do. */
int
shm_unlock(struct shm_dict *d)
{
    struct shm_head *h = d->h;
    int rc = 0;

    if (h->damaged) {
        shm_undo(h);
        shm_repair(d, "an operation found a broken link");
        rc = -1;
    } else
        shm_commit(h);
    if (h->garbage && !h->damaged)
        shm_dict_collect(h, SHM_STEP);
    pthread_mutex_unlock(&h->lock);
    return rc;
}
