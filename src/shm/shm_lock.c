/*
 * shm_lock.c: a dictionary's lock, which a dead holder cannot keep.
 *
 * One mutex per dictionary, in its arena, shared by every thread of every
 * process that maps it (PTHREAD_PROCESS_SHARED): the workers of the
 * serving process, and during a USR2 upgrade the old serving process and
 * the new one. It is robust (PTHREAD_MUTEX_ROBUST): when its holder dies
 * (kill -9, a crash in a C module, SIGSTOP and then SIGKILL), the kernel
 * hands it to the next locker with EOWNERDEAD instead of leaving everyone
 * blocked. That locker checks and repairs the dictionary (shm_check.c),
 * logs what it found, and marks the mutex consistent: the next serving
 * process answers as soon as it starts, and at most the entry being
 * written is lost.
 *
 * A holder that is alive but stopped (SIGSTOP, a debugger) cannot be told
 * from a slow one, so a locker waits LF_SHARED_LOCK_WAIT s at most and
 * then fails the operation with a clear reason rather than holding its
 * worker forever. The lock is never held across a system call that
 * blocks, nor across Lua: an operation's critical section is a lookup
 * and a few stores.
 *
 * An operation that finds a bad link marks the dictionary damaged; it is
 * repaired here before the lock is let go, so the next operation never
 * sees the damage.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

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

    h->repairs++;
    if (rc < 0)
        log_err("shared dictionary '%s': %s, and its memory was not sound: emptied (%lu keys lost)",
                h->name, why, r.dropped);
    else if (rc > 0)
        log_warn("shared dictionary '%s': %s; checked and mended in %lld ms: %lu keys kept, %lu "
                 "dropped, %lu blocks reclaimed%s", h->name, why, monoclock_ms() - t0, r.kept,
                 r.dropped, r.freed, r.lru_rebuilt ? ", LRU order rebuilt" : "");
    else
        log_notice("shared dictionary '%s': %s; checked in %lld ms: sound, %lu keys", h->name, why,
                   monoclock_ms() - t0, r.kept);
}

/* Wait for the lock, at most LF_SHARED_LOCK_WAIT s. */
static int
shm_lock_wait(struct shm_head *h)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return pthread_mutex_lock(&h->lock);
    ts.tv_sec += LF_SHARED_LOCK_WAIT;
    return pthread_mutex_timedlock(&h->lock, &ts);
}

/* Take D's lock: 0; or -1 with the reason in *ERR (logged, rate-limited). */
int
shm_lock(struct shm_dict *d, const char **err)
{
    struct shm_head *h = d->h;
    unsigned long n;
    int rc = pthread_mutex_trylock(&h->lock);

    if (rc == EBUSY)
        rc = shm_lock_wait(h);
    if (rc == 0)
        return 0;
    if (rc == EOWNERDEAD) {
        shm_repair(d, "a process died holding its lock");
        if ((rc = pthread_mutex_consistent(&h->lock)) != 0) {
            errno = rc;
            log_syserr("shared dictionary '%s': pthread_mutex_consistent", h->name);
        }
        return 0;
    }
    if (rc == ETIMEDOUT) {
        *err = "the dictionary's lock was not had in time (a process holding it is stopped?)";
        if ((n = ratelog_hit(&shm_slow_log, monoclock_ms(), 5000)) > 0)
            log_err("shared dictionary '%s': its lock was not had within %d s, %lu times: a process "
                    "holding it is stopped or stuck", h->name, LF_SHARED_LOCK_WAIT, n);
        return -1;
    }
    *err = "the dictionary's lock cannot be taken";
    errno = rc;
    log_syserr("shared dictionary '%s': cannot take its lock", h->name);
    return -1;
}

void
shm_unlock(struct shm_dict *d)
{
    struct shm_head *h = d->h;

    if (h->damaged)
        shm_repair(d, "an operation found a broken link");
    pthread_mutex_unlock(&h->lock);
}
