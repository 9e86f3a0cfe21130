/*
 * state_impl.h: what a state's allocator user data holds, shared by
 * state.c (opening, closing) and state_limit.c (the limits) only.
 */
#ifndef LF_STATE_IMPL_H
#define LF_STATE_IMPL_H

#include <stddef.h>

#include <lua.h>

#include "slab.h"
#include "state.h"

struct state_info {
    struct slab slab;           /* the state's small blocks */
    size_t      used;           /* bytes Lua holds */
    size_t      big;            /* of those, in blocks over SLAB_MAX */
    size_t      held;           /* the answer the request buffers: counts too */
    size_t      outside;        /* memory a library holds for the state (JIT code) */
    size_t      limit;          /* 0 = none */
    size_t      peak;           /* most bytes used since state_arm */
    size_t      gc_live;        /* used after the last full collection */
    size_t      gc_due;         /* used + held past this: collect in full (state_gc_pace) */
    lua_State  *main;           /* the state's main thread, for the allocator's nudge */
    int         nudged;         /* the allocator set the hook to run at once */
    long long   deadline_ms;    /* 0 = none */
    long long   hook_us;        /* when the hook last ran */
    int         hook_count;     /* the hook's current period */
    int         timeout;
    int         over;           /* enum state_over */
    int         exiting;
    int         cut;            /* atomic: written off from another thread (state_cut) */
    state_watch_fn *watch;      /* called by the hook while set (the slow log's) */
    void       *watch_arg;
    size_t      charged;        /* C work (state_charge) since the clock was last read */
};

/* Inline: the hook and the pattern functions ask for it on every call. */
static inline struct state_info *
state_info(lua_State *L)
{
    void *ud;

    lua_getallocf(L, &ud);
    return ud;
}

void *state_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

#endif
