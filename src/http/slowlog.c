/*
 * slowlog.c: the slow log.
 *
 * A request still running `slowtime` seconds after it began gets one
 * entry while it runs: when, the worker, the request id, the script,
 * method and URI, how long so far, and the Lua traceback of where it is
 * at that moment. php-fpm ptrace()s its child for this, which containers
 * often forbid; here it is in-process, and no thread reads another's Lua
 * state:
 *
 *  - each worker has a slot, filled when a request begins (slowlog_begin)
 *    and emptied when it ends, under the slot's own lock (only the
 *    housekeeper ever contends for it, once a sweep);
 *  - the housekeeper (slowlog_sweep, every `sweep` ms) marks the slot of
 *    a request past slowtime as pending;
 *  - the count hook on the worker's own thread (state_limit.c, every 1000
 *    instructions) calls slowlog_watch, which sees the mark, takes it, and
 *    writes the entry with the traceback it reads from its own stack
 *    through the debug API's C functions (nothing a script can see or
 *    replace);
 *  - a request stuck in C (os.execute, a long library call, LuaJIT's
 *    compiled code) runs no hook: at the next sweep, at least
 *    SLOWLOG_GRACE_MS later, the housekeeper takes the mark itself and
 *    writes the entry without a traceback, saying why.
 *
 * Whoever takes the mark does it under the slot's lock, so each slow
 * request gets exactly one entry. Entries go out in one write each
 * (logfile.c), so they never interleave.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lua.h>

#include "luafcgid.h"
#include "accesslog.h"
#include "conf.h"
#include "counters.h"
#include "log.h"
#include "logfile.h"
#include "monoclock.h"
#include "reqid.h"
#include "request.h"
#include "slowlog.h"

#define SLOWLOG_GRACE_MS    100
#define SLOWLOG_ENTRY_MAX   8192
#define SLOWLOG_LEVELS      40      /* frames shown; deeper ones are cut */

enum slowlog_mark { SLOWLOG_NONE = 0, SLOWLOG_PENDING, SLOWLOG_TAKEN };

/* What an entry says about its request, copied so it outlives the slot's lock. */
struct slowlog_info {
    int         worker;
    long long   began_us;           /* monotonic */
    char        id[REQID_SIZE];
    char        script[LF_SCOREBOARD_PATH];
    char        method[32];
    char        uri[1024];
};

struct slowlog_slot {
    pthread_mutex_t     lock;       /* guards running, marked_us, info; mark's writes */
    int                 running;
    int                 mark;       /* atomic: enum slowlog_mark, read by the hook unlocked */
    long long           marked_us;
    struct slowlog_info info;
};

/* Made by slowlog_start() before the workers, freed after they end. */
static struct slowlog_slot *slowlog_slots;
static int slowlog_nslots;
static struct logfile slowlog_file = LOGFILE_INIT("slow log");

int
slowlog_start(int workers, const struct conf *c)
{
    int i;

    if ((slowlog_slots = calloc((size_t)workers, sizeof(*slowlog_slots))) == NULL) {
        log_syserr("cannot allocate the slow log's %d slots", workers);
        return -1;
    }
    for (i = 0; i < workers; i++)
        pthread_mutex_init(&slowlog_slots[i].lock, NULL);
    slowlog_nslots = workers;
    return slowlog_open(c);
}

void
slowlog_stop(void)
{
    int i;

    for (i = 0; i < slowlog_nslots; i++)
        pthread_mutex_destroy(&slowlog_slots[i].lock);
    free(slowlog_slots);
    slowlog_slots = NULL;
    slowlog_nslots = 0;
    logfile_close(&slowlog_file);
}

/* Start-up, USR1 and HUP: (re)open the file C names. */
int
slowlog_open(const struct conf *c)
{
    return c->slowlog ? logfile_open(&slowlog_file, c->slowlog) : 0;
}

static void
slowlog_copy(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s ? s : "-");
}

/* R begins on its worker: its slot, for the hook to watch. */
struct slowlog_slot *
slowlog_begin(const struct request *r)
{
    struct slowlog_slot *s;
    struct slowlog_info *in;
    const char *uri;

    if (r->worker < 1 || r->worker > slowlog_nslots)
        return NULL;
    s = &slowlog_slots[r->worker - 1];
    in = &s->info;
    pthread_mutex_lock(&s->lock);
    in->worker = r->worker;
    in->began_us = r->began_us;
    slowlog_copy(in->id, sizeof(in->id), r->id);
    slowlog_copy(in->script, sizeof(in->script), r->script);
    slowlog_copy(in->method, sizeof(in->method), r->vars.request_method);
    uri = r->vars.request_uri;
    slowlog_copy(in->uri, sizeof(in->uri), uri ? uri : r->vars.script_name);
    s->running = 1;
    __atomic_store_n(&s->mark, SLOWLOG_NONE, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&s->lock);
    return s;
}

void
slowlog_end(int worker)
{
    struct slowlog_slot *s;

    if (worker < 1 || worker > slowlog_nslots)
        return;
    s = &slowlog_slots[worker - 1];
    pthread_mutex_lock(&s->lock);
    s->running = 0;
    __atomic_store_n(&s->mark, SLOWLOG_NONE, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&s->lock);
}

/* Take S's pending mark (with its lock held): 1 and its info copied. */
static int
slowlog_take(struct slowlog_slot *s, struct slowlog_info *out)
{
    if (!s->running || __atomic_load_n(&s->mark, __ATOMIC_ACQUIRE) != SLOWLOG_PENDING)
        return 0;
    __atomic_store_n(&s->mark, SLOWLOG_TAKEN, __ATOMIC_RELEASE);
    *out = s->info;
    return 1;
}

/* Text being written: an entry (SLOWLOG_ENTRY_MAX), or a traceback for
 * another's buffer (slowlog_traceback); always NUL-ended. */
struct slowlog_text {
    char   *data;
    size_t  size;
    size_t  len;
};

static void
slowlog_printf(struct slowlog_text *e, const char *fmt, ...) LF_PRINTF(2, 3);

static void
slowlog_printf(struct slowlog_text *e, const char *fmt, ...)
{
    size_t room = e->size - e->len;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(e->data + e->len, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        e->len += (size_t)n < room ? (size_t)n : room - 1;
}

/* The entry's head: when, who, what, how long so far. */
static void
slowlog_head(struct slowlog_text *e, const struct slowlog_info *in)
{
    char script[sizeof(in->script) * 4], method[sizeof(in->method) * 4], uri[sizeof(in->uri) * 4];
    long long elapsed = monoclock_us() - in->began_us;
    char when[64];
    struct tm tm;
    time_t now = time(NULL);

    localtime_r(&now, &tm);
    strftime(when, sizeof(when), "%d-%b-%Y %H:%M:%S", &tm);
    accesslog_escape(script, sizeof(script), in->script);
    accesslog_escape(method, sizeof(method), in->method);
    accesslog_escape(uri, sizeof(uri), in->uri);
    e->len = 0;
    slowlog_printf(e, "[%s]  [pool %s] worker %d, request %s, running for %.3f s\n"
                   "script_filename = %s\nrequest = %s %s\n",
                   when, LF_NAME, in->worker, in->id, (double)elapsed / 1e6, script, method, uri);
}

static void
slowlog_write(struct slowlog_text *e)
{
    if (e->len >= e->size - 2)
        e->len = e->size - 2;
    e->data[e->len++] = '\n';       /* a blank line between entries */
    logfile_write(&slowlog_file, e->data, e->len);
}

/* A slow request's entry: counted as one. */
static void
slowlog_emit(struct slowlog_text *e)
{
    slowlog_write(e);
    counters_slow();
}

/* One frame, as luaL_traceback writes it. */
static void
slowlog_frame(struct slowlog_text *e, lua_Debug *ar)
{
    char src[LUA_IDSIZE * 4], name[256];

    accesslog_escape(src, sizeof(src), ar->short_src);
    slowlog_printf(e, "\t%s:", src);
    if (ar->currentline > 0)
        slowlog_printf(e, "%d:", ar->currentline);
    if (ar->namewhat && *ar->namewhat) {
        accesslog_escape(name, sizeof(name), ar->name ? ar->name : "?");
        slowlog_printf(e, " in function '%s'\n", name);
    } else if (*ar->what == 'm')
        slowlog_printf(e, " in main chunk\n");
    else if (*ar->what == 'C' || *ar->what == 't')
        slowlog_printf(e, " ?\n");
    else
        slowlog_printf(e, " in function <%s:%d>\n", src, ar->linedefined);
}

/* L's stack from here, a line a frame, into E. */
static void
slowlog_frames(struct slowlog_text *e, lua_State *L)
{
    lua_Debug ar;
    int level;

    for (level = 0; lua_getstack(L, level, &ar); level++) {
        if (level == SLOWLOG_LEVELS) {
            slowlog_printf(e, "\t...\n");
            break;
        }
        if (lua_getinfo(L, "Snl", &ar) == 0)
            break;
        slowlog_frame(e, &ar);
    }
}

/* L's stack from here as an entry shows it, into BUF (SIZE > 0, cut
 * there): its length, less than SIZE. On L's own thread only. */
size_t
slowlog_traceback(lua_State *L, char *buf, size_t size)
{
    struct slowlog_text e = { buf, size, 0 };

    buf[0] = '\0';
    slowlog_frames(&e, L);
    return e.len;
}

/* True when the housekeeper marked S: the hook should call slowlog_trace. */
static int
slowlog_pending(struct slowlog_slot *s)
{
    return __atomic_load_n(&s->mark, __ATOMIC_ACQUIRE) == SLOWLOG_PENDING;
}

/* The entry with L's traceback, on the worker's thread. */
static void
slowlog_trace(struct slowlog_slot *s, lua_State *L)
{
    char data[SLOWLOG_ENTRY_MAX];
    struct slowlog_text e = { data, sizeof(data), 0 };
    struct slowlog_info in;
    int taken;

    pthread_mutex_lock(&s->lock);
    taken = slowlog_take(s, &in);
    pthread_mutex_unlock(&s->lock);
    if (!taken)
        return;
    slowlog_head(&e, &in);
    slowlog_printf(&e, "stack traceback:\n");
    slowlog_frames(&e, L);
    slowlog_emit(&e);
}

/* The state's watch (state_watch), from the count hook: when the
 * housekeeper marked the request of SLOT (a struct slowlog_slot), its
 * entry, with L's traceback from here. */
void
slowlog_watch(lua_State *L, void *slot)
{
    struct slowlog_slot *s = slot;

    if (slowlog_pending(s))
        slowlog_trace(s, L);
}

/* The housekeeper writes the entry of a request that ran no hook. */
static void
slowlog_untraced(const struct slowlog_info *in)
{
    char data[SLOWLOG_ENTRY_MAX];
    struct slowlog_text e = { data, sizeof(data), 0 };

    slowlog_head(&e, in);
    slowlog_printf(&e, "no Lua traceback: the request is not running Lua code now (it is in a "
                   "C function such as os.execute, in I/O, or in code LuaJIT compiled)\n");
    slowlog_emit(&e);
}

/* How the client of a written-off request was answered, in words. */
const char *
slowlog_answered(int answered)
{
    return answered == SLOWLOG_ANSWERED_BEFORE ? "req:finish() had answered its client" :
           answered == SLOWLOG_ANSWERED_GONE ? "its client had gone" :
           answered ? "its client got a 500 page" : "its connection was closed";
}

/* A worker written off (writeoff.c), from the housekeeper: its entry, with
 * the last traceback its own hook took. */
void
slowlog_written_off(const struct slowlog_stuck *rep)
{
    char data[SLOWLOG_ENTRY_MAX];
    struct slowlog_text e = { data, sizeof(data), 0 };
    struct slowlog_info in;

    memset(&in, 0, sizeof(in));
    in.worker = rep->worker;
    in.began_us = rep->began_us;
    slowlog_copy(in.id, sizeof(in.id), rep->id);
    slowlog_copy(in.script, sizeof(in.script), rep->script);
    slowlog_copy(in.method, sizeof(in.method), rep->method);
    slowlog_copy(in.uri, sizeof(in.uri), rep->uri);
    slowlog_head(&e, &in);
    slowlog_printf(&e, "written off: its script ran %.3f s, past terminate_timeout (%d s), stuck in "
                   "a C function; %s; another worker took its place\n", (double)rep->ran_ms / 1e3,
                   rep->limit, slowlog_answered(rep->answered));
    if (rep->trace_age_ms >= 0)
        slowlog_printf(&e, "stack traceback, as its hook last saw it %.3f s before:\n%s",
                       (double)rep->trace_age_ms / 1e3, rep->trace);
    else
        slowlog_printf(&e, "no Lua traceback: the run was stuck in C within %d ms of its start\n",
                       LF_TRACE_FIRST_MS);
    slowlog_write(&e);
}

/* A line of the serving process's own (a replacement asked for), as the
 * head of an entry says when. */
void
slowlog_note(const char *what)
{
    char data[SLOWLOG_ENTRY_MAX], when[64];
    struct slowlog_text e = { data, sizeof(data), 0 };
    struct tm tm;
    time_t now = time(NULL);

    localtime_r(&now, &tm);
    strftime(when, sizeof(when), "%d-%b-%Y %H:%M:%S", &tm);
    slowlog_printf(&e, "[%s]  [pool %s] %s\n", when, LF_NAME, what);
    slowlog_write(&e);
}

/* Look at one slot: mark it when over SLOWTIME_US, or write its entry
 * when the mark went untaken. */
static void
slowlog_check(struct slowlog_slot *s, long long now, long long slowtime_us)
{
    struct slowlog_info in;
    int mark, untraced = 0;

    pthread_mutex_lock(&s->lock);
    mark = __atomic_load_n(&s->mark, __ATOMIC_ACQUIRE);
    if (s->running && mark == SLOWLOG_NONE && now - s->info.began_us >= slowtime_us) {
        s->marked_us = now;
        __atomic_store_n(&s->mark, SLOWLOG_PENDING, __ATOMIC_RELEASE);
    } else if (mark == SLOWLOG_PENDING && now - s->marked_us >= SLOWLOG_GRACE_MS * 1000LL)
        untraced = slowlog_take(s, &in);
    pthread_mutex_unlock(&s->lock);
    if (untraced)
        slowlog_untraced(&in);
}

/* The housekeeper, every sweep. */
void
slowlog_sweep(void)
{
    struct conf *c = conf_acquire();
    long long slowtime_us = (long long)c->slowtime * 1000000;
    int on = c->slowtime > 0 && c->slowlog != NULL, i;
    long long now = monoclock_us();

    conf_release(c);
    if (!on)
        return;
    for (i = 0; i < slowlog_nslots; i++)
        slowlog_check(&slowlog_slots[i], now, slowtime_us);
}
