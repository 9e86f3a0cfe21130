/*
 * state_watchdog.c: a script's deadline is an event, not a guess.
 *
 * The count hook (state_limit.c) reads the clock every so many
 * instructions, but one instruction can be a C call of any length
 * (s:upper() on megabytes, table.concat, a comparison of long strings):
 * after fast code the hook looks only every 1000 instructions, so a
 * timeout came 1000 slow calls late, seconds on an idle machine and tens
 * of them on a loaded one. So a thread watches the deadlines: it sleeps
 * until the nearest one and then sets the overdue state's hook to run at
 * the next instruction, where it finds the deadline past and raises as
 * ever. A timeout is then late by this thread's wake-up plus the C call
 * running at the deadline (the string functions and os.execute still
 * look at the deadline inside their own long calls).
 *
 * lua_sethook may be called from outside the running thread: both Lua
 * 5.1's and LuaJIT's interpreters call it from a signal handler (lua.c,
 * luajit.c), and LuaJIT's profiler sets its hook from a timer thread. It
 * stores the hook's counter, and the interpreter's own decrement racing
 * with that store can undo it: the watchdog sets it again after
 * LF_WATCHDOG_REFIRE_MS, doubling, for as long as the run stays overdue.
 * LuaJIT sees hooks in its interpreter only, never in compiled code: a
 * state with a timeout runs with the compiler off (state.c).
 *
 * Each thread that runs scripts (workers, timer threads, the preload) has
 * a slot, made at its first run and passed on to another thread when it
 * ends. The slot says which state runs until which deadline and which of
 * its coroutines runs now: in Lua 5.1 each coroutine has a hook of its
 * own and the running one's must be set (state.c and the light threads
 * say when it changes); in LuaJIT the hook is the VM's, one for all.
 *
 * The common path takes no lock and makes no system call: arming is plain
 * stores published by a release store of the deadline; ending a run, or
 * switching coroutines, is one sequentially consistent store and a load.
 * The watchdog fires with the slot's lock held and `busy` set, then reads
 * the slot. A thread that ends its run (or leaves a coroutine) stores
 * first, then loads `busy`, and the watchdog the other way round, so one
 * of them sees the other: the watchdog finds the run over, or the thread
 * waits on the lock until it has fired. A state or a coroutine is never
 * freed under the watchdog's lua_sethook; the thread that leaves a
 * coroutine after a fire sets the hook of the one it returns to itself.
 *
 * The watchdog sleeps until the nearest deadline, at most
 * LF_WATCHDOG_IDLE_MS: a timeout is whole seconds, so no run armed after
 * it looked is due before it looks again, and arming never has to wake it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>

#include "luafcgid.h"
#include "bgthread.h"
#include "log.h"
#include "monoclock.h"
#include "state_watchdog.h"

struct wd_slot {
    struct wd_slot *next;       /* wd_slots: under wd_lock, never unlinked */
    int             taken;      /* a thread has it: under wd_lock */
    pthread_mutex_t lock;       /* held by the watchdog while it fires here */
    int             busy;       /* atomic: the watchdog is firing here */
    long long       deadline_ms;/* atomic: the run's deadline; 0 = no run */
    int             fired;      /* atomic: the watchdog fired at this run */
    lua_State      *running;    /* atomic: the coroutine running now */
    lua_State      *main;       /* the run's state, published by deadline_ms */
    lua_Hook        hook;       /* its count hook, likewise */
    long long       refire_ms;  /* the watchdog's own: when to fire again */
    int             refire_step;/* how often the interval doubled */
};

/* wd_lock guards wd_slots (the list, and each slot's `taken`). */
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wd_slot *wd_slots;
static struct bgthread wd_thread;

static pthread_once_t wd_once = PTHREAD_ONCE_INIT;
static pthread_key_t wd_key;        /* gives a slot back when its thread ends */
static int wd_key_ok;
static __thread struct wd_slot *wd_self;

/* The thread's run is over: from the return on, the watchdog leaves its
 * state alone. */
static void
wd_end_run(struct wd_slot *s)
{
    __atomic_store_n(&s->deadline_ms, 0, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&s->busy, __ATOMIC_SEQ_CST)) {
        /* firing at it now: wait until done */
        pthread_mutex_lock(&s->lock);
        pthread_mutex_unlock(&s->lock);
    }
    s->main = NULL;
}

/* A thread with a slot ends: the slot is free for the next one. */
static void
wd_release(void *arg)
{
    struct wd_slot *s = arg;

    if (s->main != NULL)
        wd_end_run(s);
    pthread_mutex_lock(&wd_lock);
    s->taken = 0;
    pthread_mutex_unlock(&wd_lock);
}

static void
wd_key_init(void)
{
    int rc = pthread_key_create(&wd_key, wd_release);

    wd_key_ok = rc == 0;
    if (!wd_key_ok)
        log_err("watchdog: cannot make its thread key: %s; slots of ended threads are not reused",
                strerror(rc));
}

/* The calling thread's slot, made or taken over at its first run; NULL
 * (logged) when none could be made: its runs go unwatched. */
static struct wd_slot *
wd_slot_of_thread(void)
{
    struct wd_slot *s;
    int rc;

    if (wd_self != NULL)
        return wd_self;
    pthread_once(&wd_once, wd_key_init);
    pthread_mutex_lock(&wd_lock);
    for (s = wd_slots; s != NULL && s->taken; s = s->next)
        ;
    if (s == NULL) {
        if ((s = calloc(1, sizeof(*s))) == NULL) {
            pthread_mutex_unlock(&wd_lock);
            log_err("watchdog: cannot allocate a thread's slot: %s; its deadlines are the hook's",
                    strerror(errno));
            return NULL;
        }
        if ((rc = pthread_mutex_init(&s->lock, NULL)) != 0) {
            pthread_mutex_unlock(&wd_lock);
            free(s);
            log_err("watchdog: cannot make a thread's lock: %s; its deadlines are the hook's",
                    strerror(rc));
            return NULL;
        }
        s->next = wd_slots;
        wd_slots = s;
    }
    s->taken = 1;
    pthread_mutex_unlock(&wd_lock);
    if (wd_key_ok && (rc = pthread_setspecific(wd_key, s)) != 0)
        log_err("watchdog: cannot register a thread's slot: %s; it stays taken", strerror(rc));
    wd_self = s;
    return s;
}

void
state_watchdog_arm(lua_State *L, long long deadline_ms, lua_Hook hook)
{
    struct wd_slot *s = wd_slot_of_thread();

    if (s == NULL)
        return;
    if (s->main != NULL)
        wd_end_run(s);      /* armed again without an end */
    s->main = L;
    s->hook = hook;
    __atomic_store_n(&s->running, L, __ATOMIC_RELAXED);
    __atomic_store_n(&s->fired, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->deadline_ms, deadline_ms, __ATOMIC_RELEASE);
}

void
state_watchdog_disarm(lua_State *L)
{
    struct wd_slot *s = wd_self;

    if (s != NULL && s->main == L)
        wd_end_run(s);
}

void
state_watchdog_switch(lua_State *to)
{
    struct wd_slot *s = wd_self;

    if (s == NULL || s->main == NULL)
        return;
    __atomic_store_n(&s->running, to, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&s->busy, __ATOMIC_SEQ_CST)) {
        /* the one left may be freed once this returns: not under a fire */
        pthread_mutex_lock(&s->lock);
        pthread_mutex_unlock(&s->lock);
    }
    /* fired at the one left, or at another: this one stops too */
    if (__atomic_load_n(&s->fired, __ATOMIC_SEQ_CST))
        lua_sethook(to, s->hook, LUA_MASKCOUNT, 1);
}

/* S's lock held, busy set: fire at its run if overdue at NOW_MS; when
 * to look at it again (0: not before its deadline, or no run). */
static long long
wd_fire(struct wd_slot *s, long long now_ms)
{
    long long d = __atomic_load_n(&s->deadline_ms, __ATOMIC_SEQ_CST), interval;
    lua_State *running;

    if (d == 0 || now_ms <= d)
        return 0;
    if (!__atomic_load_n(&s->fired, __ATOMIC_SEQ_CST)) {
        __atomic_store_n(&s->fired, 1, __ATOMIC_SEQ_CST);
        s->refire_step = 0;
    } else if (now_ms < s->refire_ms)
        return s->refire_ms;
    running = __atomic_load_n(&s->running, __ATOMIC_SEQ_CST);
    lua_sethook(running, s->hook, LUA_MASKCOUNT, 1);
    if (running != s->main)
        lua_sethook(s->main, s->hook, LUA_MASKCOUNT, 1);
    interval = (long long)LF_WATCHDOG_REFIRE_MS << s->refire_step;
    if (interval < LF_WATCHDOG_IDLE_MS)
        s->refire_step++;
    else
        interval = LF_WATCHDOG_IDLE_MS;
    s->refire_ms = now_ms + interval;
    return s->refire_ms;
}

/* wd_lock held. */
static long long
wd_sweep(long long now_ms)
{
    long long next = now_ms + LF_WATCHDOG_IDLE_MS, d, again;
    struct wd_slot *s;

    for (s = wd_slots; s != NULL; s = s->next) {
        if ((d = __atomic_load_n(&s->deadline_ms, __ATOMIC_ACQUIRE)) == 0)
            continue;
        if (now_ms <= d) {
            if (d + 1 < next)
                next = d + 1;
            continue;
        }
        pthread_mutex_lock(&s->lock);
        __atomic_store_n(&s->busy, 1, __ATOMIC_SEQ_CST);
        again = wd_fire(s, now_ms);
        __atomic_store_n(&s->busy, 0, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&s->lock);
        if (again != 0 && again < next)
            next = again;
    }
    return next;
}

long long
state_watchdog_sweep(long long now_ms)
{
    long long next;

    pthread_mutex_lock(&wd_lock);
    next = wd_sweep(now_ms);
    pthread_mutex_unlock(&wd_lock);
    return next;
}

/* Sweep, then sleep until the next look is due (arming never has to
 * wake it: see the top of this file). */
static void *
wd_main(void *arg)
{
    (void)arg;
    while (!bgthread_wait_until(&wd_thread, state_watchdog_sweep(monoclock_ms())))
        ;
    return NULL;
}

int
state_watchdog_start(void)
{
    return bgthread_start(&wd_thread, "watchdog", wd_main, NULL);
}

void
state_watchdog_stop(void)
{
    bgthread_stop(&wd_thread);
}
