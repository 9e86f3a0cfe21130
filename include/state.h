/* state.h: one script's Lua state: creation, limits, closing. */
#ifndef LF_STATE_H
#define LF_STATE_H

#include <stddef.h>
#include <lua.h>

struct chunkcache;
struct conf;
struct file_id;

enum state_over {
    STATE_OK = 0,
    STATE_OVER_TIME,
    STATE_OVER_MEMORY
};

/* Called by the count hook, on the state's own thread, while set with
 * state_watch (the slow log's look at a request running long). */
typedef void state_watch_fn(lua_State *L, void *arg);

/*
 * What the layer above adds to a new state (script.c's, for requests).
 * The state itself brings the standard libraries, the wrappers that keep
 * the limits (pcall, xpcall, coroutine.resume, os.exit) and the script's
 * directory on package.path.
 */
struct state_setup {
    /* The rest of the environment (libraries replaced or bounded, APIs,
     * modules), in protected mode. [-0, +0, m] */
    void          (*install)(lua_State *L, void *arg);
    /* Runs the script's top level, loaded and on top, with a message
     * handler at index 1, in protected mode under the limits: its
     * arguments, what is kept of its results, how its error is told. */
    void          (*run)(lua_State *L, const char *path, void *arg);    /* [-1, +0, e] */
    void           *arg;        /* for install and run */
    state_watch_fn *watch;      /* watches the load as state_watch; may be NULL */
    void           *watch_arg;
    /* The load failed and the state is about to close: let go of what
     * the APIs install added keep outside it (light threads' records).
     * Unprotected: must not raise. May be NULL. */
    void          (*failed)(lua_State *L);
    /* Where the script's compiled chunk is kept for its next states,
     * and the identity of the file open on the descriptor (chunkcache.c).
     * Either NULL: the script is compiled every time. */
    struct chunkcache    *chunks;
    const struct file_id *id;
};

/* Why state_open failed: the state could not be made, the script did not
 * compile, or its top level raised an error, or ran over timeout or
 * memory while it ran. */
enum state_fail { STATE_FAIL_SETUP, STATE_FAIL_SYNTAX, STATE_FAIL_RUNTIME, STATE_FAIL_TIME,
                  STATE_FAIL_MEMORY };

lua_State *state_open(const char *path, int fd, const struct conf *c,
                      const struct state_setup *setup, char *err, size_t errlen,
                      enum state_fail *fail);
void       state_close(void *L);
void       state_arm(lua_State *L, const struct conf *c);
void       state_disarm(lua_State *L);
void       state_watch(lua_State *L, state_watch_fn *fn, void *arg);
size_t     state_peak(lua_State *L);
int        state_over(lua_State *L);
int        state_is_exit(lua_State *L, int idx);
int        state_must_propagate(lua_State *L, int idx);
int        state_exit(lua_State *L);
/* The coroutine at IDX is run by a scheduler of ours (a light thread):
 * the script's coroutine.resume refuses it. [-0, +0, m] */
void       state_unresumable(lua_State *L, int idx);
size_t     state_memory(lua_State *L);
size_t     state_room(lua_State *L);
int        state_hold(lua_State *L, size_t bytes);
int        state_outside(lua_State *L, long long bytes);
int        state_traceback(lua_State *L);
long long  state_time_left(lua_State *L);
long long  state_deadline(lua_State *L);
/* lua_resume(CO, NARGS) from L, for C that runs coroutines: the watchdog
 * sets the hook of the one running at the deadline. */
int        state_resume(lua_State *L, lua_State *co, int nargs);
int        state_raise_timeout(lua_State *L);
void       state_cut(lua_State *L);

/* C work that no hook sees (the pattern matcher's steps, bytes copied),
 * UNITS of it, charged to the request: adds up across calls and raises
 * the request's timeout error once its deadline is past, else returns. */
void       state_charge(lua_State *L, size_t units);

/* Units that make state_charge look at the clock at once: for C work
 * whose cost it cannot count (string comparisons in a sort). */
#define STATE_CHARGE_NOW ((size_t)1 << 30)

#endif
