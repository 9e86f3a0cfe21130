/*
 * blockhint.c: a thread about to block tells whoever asked.
 *
 * A worker that takes the last request ready leaves the dispatcher's lead
 * vacant rather than wake a follower to lead: most requests end before
 * anything else arrives, and the same thread then leads again with no
 * hand-off between threads (dispatch.c). Should its request wait instead
 * (on a socket, the client, a name lookup), the lead must not stay vacant
 * meanwhile. So the code below the dispatcher calls blockhint() before it
 * sleeps, and the hook the dispatcher left on the thread hands the lead on.
 * One hook per thread, fired at most once; the lowest layer holds it, so
 * no layer calls up into the dispatcher.
 */
#include <stddef.h>

#include "blockhint.h"

static __thread blockhint_fn blockhint_hook;
static __thread void *blockhint_arg;

/* What blockhint() runs next on this thread; FN NULL: nothing. */
void
blockhint_set(blockhint_fn fn, void *arg)
{
    blockhint_hook = fn;
    blockhint_arg = arg;
}

/* This thread is about to sleep: run the hook left on it, once. */
void
blockhint(void)
{
    blockhint_fn fn = blockhint_hook;

    if (fn != NULL) {
        blockhint_hook = NULL;
        fn(blockhint_arg);
    }
}
