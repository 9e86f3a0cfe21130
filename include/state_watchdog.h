/* state_watchdog.h: the thread that makes a script's deadline an event. */
#ifndef LF_STATE_WATCHDOG_H
#define LF_STATE_WATCHDOG_H

#include <lua.h>

/* The thread, in the serving process before scripts run; 0, or -1
 * (logged): deadlines then hold only as far as the count hook sees them. */
int       state_watchdog_start(void);
void      state_watchdog_stop(void);

/* One look at every thread's run as the thread takes it at NOW_MS: the
 * overdue ones get their hook set to run at the next instruction. When
 * the next look is due (ms, on monoclock_ms's clock). */
long long state_watchdog_sweep(long long now_ms);

/* The calling thread runs a script in L (its main thread) until
 * DEADLINE_MS (monoclock_ms), its count hook HOOK: past it the watchdog
 * sets HOOK to run at once. Disarm ends the run: once it returns the
 * watchdog no longer touches L (nothing when L is not the thread's run). */
void      state_watchdog_arm(lua_State *L, long long deadline_ms, lua_Hook hook);
void      state_watchdog_disarm(lua_State *L);

/* The calling thread's run goes on in coroutine TO (a resume, or the
 * return from one): in Lua 5.1 each coroutine has its own hook, and the
 * watchdog sets the running one's. */
void      state_watchdog_switch(lua_State *to);

#endif
