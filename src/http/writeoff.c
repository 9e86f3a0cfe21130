/*
 * writeoff.c: a run of a script stuck in C past terminate_timeout is written off.
 *
 * `timeout` is a count hook: it stops Lua code, never a C function that
 * does not come back (a regular expression library matching for
 * minutes, a socket read with no timeout, a sleep). php-fpm's answer is
 * request_terminate_timeout: it kills the process. A thread cannot be
 * killed safely, so its worker is written off instead:
 *
 *  - while a script runs for a request (its load, or its handler: each
 *    has its own `timeout`), the worker's struct writeoff says so under its
 *    lock, with when that run began and the state it runs in;
 *  - the housekeeper (writeoff_check, every sweep) finds a run that began
 *    terminate_timeout ago and, under the same lock, writes it off: the
 *    state leaves the pool for good (pool_orphan), the client gets a 500
 *    page if nothing of the answer was sent yet, and the connection is
 *    shut down (wire_writeoff; not closed: the descriptor stays the stuck
 *    thread's). A connection req:finish() gave back to the dispatcher
 *    (writeoff_let_go, under the lock) is left alone: its client had its
 *    answer, and the connection serves others. The worker's slots in
 *    the counters, the scoreboard and the slow log are ended on its
 *    behalf, the access log has the line of what its client got, and the
 *    caller (worker.c) starts another worker in its place;
 *  - the time a run's own reads and writes wait on the client (a slow
 *    reader of a streamed answer) does not count: that is client_timeout's
 *    to bound, and the run is not stuck in C (wire_io_spent);
 *  - if the stuck thread ever returns, it learns it was written off when
 *    it takes the lock to end its run (writeoff_end), and from then on
 *    touches nothing shared: it closes its state and its connection, and
 *    its thread ends. Nothing more of its script runs: the state's hook
 *    is set to raise at the C call's return (state_cut).
 *
 * No thread reads another's Lua state, so the traceback in the log is the
 * last one the stuck worker's own hook took (writeoff_watch): one when a run
 * has lasted LF_TRACE_FIRST_MS, then every LF_TRACE_EVERY_MS, so it shows
 * where the script was shortly before the call that never returned; a
 * run stuck earlier than that has none, and the log says so.
 */
#include <stdio.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "luafcgid.h"
#include "accesslog.h"
#include "buf.h"
#include "conf.h"
#include "counters.h"
#include "log.h"
#include "monoclock.h"
#include "pool.h"
#include "request.h"
#include "scoreboard.h"
#include "slowlog.h"
#include "wire.h"
#include "writeoff.h"

int
writeoff_init(struct writeoff *s)
{
    int rc;

    memset(s, 0, sizeof(*s));
    if ((rc = pthread_mutex_init(&s->lock, NULL)) != 0) {
        log_err("cannot make a worker's lock: %s", strerror(rc));
        return -1;
    }
    s->ready = 1;
    return 0;
}

void
writeoff_free(struct writeoff *s)
{
    if (s->ready)
        pthread_mutex_destroy(&s->lock);
    s->ready = 0;
}

/* R's script starts a run (its load, or its handler) in ST: its clock
 * starts, and the hook watches it (writeoff_watch). */
void
writeoff_begin(struct request *r, struct pool_state *st)
{
    struct writeoff *s = r->writeoff;
    long long now = monoclock_us();

    if (s == NULL)
        return;
    s->slow = r->slow;
    s->trace_due_us = now + LF_TRACE_FIRST_MS * 1000LL;
    pthread_mutex_lock(&s->lock);
    s->running = 1;
    s->began_ms = now / 1000;
    s->st = st;
    s->L = st != NULL ? st->L : NULL;   /* NULL while it loads */
    s->io_base = r->wire != NULL ? wire_io_spent(r->wire, s->began_ms) : 0;
    s->fd = r->ended ? -1 : r->fcgx.ipcFd;
    s->trace_len = 0;
    pthread_mutex_unlock(&s->lock);
}

/* req:finish(), on the worker's thread: its connection goes back to the
 * dispatcher while the script runs on, so a write-off must not touch it
 * from now on. 1 when it was written off already: the connection is then
 * the housekeeper's to end, and the caller leaves it. */
int
writeoff_let_go(struct request *r)
{
    struct writeoff *s = r->writeoff;
    int written_off;

    if (s == NULL)
        return 0;
    pthread_mutex_lock(&s->lock);
    written_off = s->written_off;
    s->fd = -1;
    pthread_mutex_unlock(&s->lock);
    return written_off;
}

/* What watches a run of R's script from its count hook (state_watch), and
 * its argument in *ARG: terminate_timeout's look, which calls the slow
 * log's first; or the slow log's alone; or nothing (NULL). */
state_watch_fn *
writeoff_watch_for(struct request *r, void **arg)
{
    if (r->conf != NULL && r->conf->terminate_timeout > 0 && r->writeoff != NULL) {
        *arg = r->writeoff;
        return writeoff_watch;
    }
    *arg = r->slow;
    return r->slow != NULL ? slowlog_watch : NULL;
}

/* The run ended: 1 when it had been written off meanwhile (and
 * r->written_off is set: nothing shared may be touched any more), else 0. */
int
writeoff_end(struct request *r)
{
    struct writeoff *s = r->writeoff;
    int written_off;

    if (s == NULL)
        return 0;
    pthread_mutex_lock(&s->lock);
    s->running = 0;
    s->st = NULL;
    s->L = NULL;
    written_off = s->written_off;
    pthread_mutex_unlock(&s->lock);
    if (written_off)
        r->written_off = 1;
    return written_off;
}

/* The state's watch (state_watch), from the count hook on the worker's
 * own thread: the slow log's look first, then the traceback kept for a
 * write-off, when one is due. A written-off worker back in Lua raises at
 * once: nothing of its request is its own any more. */
void
writeoff_watch(lua_State *L, void *arg)
{
    struct writeoff *s = arg;
    char trace[SLOWLOG_TRACE_MAX];
    long long now;
    size_t n;

    if (__atomic_load_n(&s->cut, __ATOMIC_ACQUIRE)) {
        state_cut(L);       /* and again at every step, whatever catches this */
        luaL_error(L, "terminated: the request ran over terminate_timeout and was written off");
    }
    if (s->slow != NULL)
        slowlog_watch(L, s->slow);
    if ((now = monoclock_us()) < s->trace_due_us)
        return;
    s->trace_due_us = now + LF_TRACE_EVERY_MS * 1000LL;
    n = slowlog_traceback(L, trace, sizeof(trace));
    pthread_mutex_lock(&s->lock);
    memcpy(s->trace, trace, n);
    s->trace_len = n;
    s->trace_ms = now / 1000;
    pthread_mutex_unlock(&s->lock);
}

static void
writeoff_copy(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s ? s : "-");
}

/* The 500 answer of a written-off request, a CGI response in B. */
static int
writeoff_answer(struct buf *b, int limit)
{
    char why[160], len[64];
    struct buf page;
    const char *status = "500 Internal Server Error";
    struct conf *c = conf_acquire();
    int rc;

    snprintf(why, sizeof(why), "terminated: the request ran over terminate_timeout (%d s), stuck "
             "in a C function; its worker was replaced", limit);
    if (buf_init(&page, 512) < 0) {
        conf_release(c);
        return -1;
    }
    rc = request_page(&page, status, why, c->showerrors);
    snprintf(len, sizeof(len), "Content-Length: %zu\r\n\r\n", page.len);
    if (rc == 0 && (buf_puts(b, "Status: ") < 0 || buf_puts(b, status) < 0 ||
                    buf_puts(b, "\r\nContent-Type: text/html; charset=utf-8\r\n") < 0 ||
                    buf_puts(b, c->headers) < 0 || buf_puts(b, len) < 0 ||
                    buf_append(b, page.data, page.len) < 0))
        rc = -1;
    buf_free(&page);
    conf_release(c);
    return rc;
}

/* Lock held: what the logs will say of R's run, written off at NOW. */
static void
writeoff_describe(struct request *r, long long now, int limit, struct writeoff_report *out)
{
    struct writeoff *s = r->writeoff;
    const char *uri = r->vars.request_uri ? r->vars.request_uri : r->vars.script_name;

    out->what.worker = r->worker;
    out->what.ran_ms = now - s->began_ms;
    out->what.began_us = r->began_us;
    out->what.limit = limit;
    writeoff_copy(out->what.id, sizeof(out->what.id), r->id);
    writeoff_copy(out->what.script, sizeof(out->what.script), r->script);
    writeoff_copy(out->what.method, sizeof(out->what.method), r->vars.request_method);
    writeoff_copy(out->what.uri, sizeof(out->what.uri), uri);
    memcpy(out->what.trace, s->trace, s->trace_len);    /* shorter than both buffers */
    out->what.trace[s->trace_len] = '\0';
    out->what.trace_age_ms = s->trace_len > 0 ? now - s->trace_ms : -1;
}

/* Lock held: the ms R's run has taken by NOW_MS, less the time its own
 * reads and writes waited on the client: a slow client is client_timeout's
 * to end, not C code stuck. */
static long long
writeoff_ran(struct request *r, long long now_ms)
{
    struct writeoff *s = r->writeoff;
    long long io = r->wire != NULL ? wire_io_spent(r->wire, now_ms) - s->io_base : 0;

    return now_ms - s->began_ms - (io > 0 ? io : 0);
}

/*
 * The housekeeper, for the worker serving R: when its run has taken LIMIT
 * s (terminate_timeout) by NOW_MS, its waits on the client aside, write it
 * off (see the top of the file) and fill OUT: 1, and the caller replaces
 * the worker. Else 0.
 */
int
writeoff_check(struct request *r, long long now_ms, int limit, struct writeoff_report *out)
{
    struct writeoff *s = r->writeoff;
    struct buf answer;
    int sent_any, have_answer;

    if (limit <= 0 || s == NULL)
        return 0;
    pthread_mutex_lock(&s->lock);
    if (!s->running || s->written_off || writeoff_ran(r, now_ms) < limit * 1000LL) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    s->written_off = 1;
    __atomic_store_n(&s->cut, 1, __ATOMIC_RELEASE);
    pool_orphan(r->pool, s->st);
    if (s->L != NULL)
        state_cut(s->L);    /* nothing more of its script runs when the call returns */
    writeoff_describe(r, now_ms, limit, out);
    sent_any = __atomic_load_n(&r->headers_sent, __ATOMIC_RELAXED);
    have_answer = s->fd >= 0 && !sent_any && buf_init(&answer, 1024) == 0;
    if (have_answer && writeoff_answer(&answer, limit) < 0) {
        buf_free(&answer);
        have_answer = 0;
    }
    if (s->fd < 0)      /* req:finish() answered and gave the connection back */
        out->what.answered = SLOWLOG_ANSWERED_BEFORE;
    else
        out->what.answered = wire_writeoff(s->fd, r->fcgx.requestId,
                                           have_answer ? answer.data : NULL,
                                           have_answer ? answer.len : 0);
    if (have_answer)
        buf_free(&answer);
    /* its line now, while the lock keeps what it names: its thread may
     * never come back, and one that does logs nothing more; a client
     * gone before it got no 500 (nginx's 499) */
    accesslog_write_off(r, sent_any || s->fd < 0 ? NULL :
                           out->what.answered == SLOWLOG_ANSWERED_GONE ? "499" : "500");
    /* the slots are the worker number's, and its replacement's next */
    if (r->slow != NULL)
        slowlog_end(r->worker);
    pthread_mutex_unlock(&s->lock);
    scoreboard_leave(r->worker);
    out->handle = counters_written_off(r->worker);
    counters_end(r->worker, COUNTERS_TIMEOUT);
    return 1;
}
