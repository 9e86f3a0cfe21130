/*
 * scoreboard.c: one slot per worker saying which script it is running and
 * since when, in memory shared with the supervising process.
 *
 * The board is an anonymous MAP_SHARED mapping made before the serving
 * process is forked, so it outlives that process: after a crash the
 * supervisor reads which scripts were running (and later a status page
 * can read it live). Each slot has one writer at a time, its worker (or
 * the housekeeper, once, for a worker it wrote off and that writes no
 * more), so it needs no lock between writers. A reader is protected by a sequence
 * counter instead of a lock, which a crash could leave held: the writer
 * makes the counter odd, writes, makes it even again; a reader that sees
 * an odd counter, or a counter that moved while it copied, knows the copy
 * may be torn. After a crash the writer is dead, so a torn slot is
 * reported as such rather than retried. The cost to a request is two
 * stores and a short copy, with no system call.
 */
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "scoreboard.h"

struct scoreboard_slot {
    unsigned    seq;                        /* odd while being written */
    time_t      since;                      /* 0: idle */
    char        script[LF_SCOREBOARD_PATH];
};

/* Set before the fork, read-only afterwards; the slots are shared. There
 * are SCOREBOARD_BOARDS boards of a slot per worker: a serving process
 * that replaces another (supervise_replace.c) runs beside it a while, and
 * writes a board of its own. scoreboard_board is the selected one. */
#define SCOREBOARD_BOARDS 2
static struct scoreboard_slot *scoreboard_all;
static struct scoreboard_slot *scoreboard_board;
static int scoreboard_nslots;
static size_t scoreboard_size;      /* of one board */

int
scoreboard_create(int workers)
{
    void *p;

    scoreboard_size = (size_t)workers * sizeof(struct scoreboard_slot);
    p = mmap(NULL, scoreboard_size * SCOREBOARD_BOARDS, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANON, -1, 0);
    if (p == MAP_FAILED) {
        log_syserr("cannot map the scoreboard (%d slots)", workers);
        return -1;
    }
    scoreboard_all = scoreboard_board = p;
    scoreboard_nslots = workers;
    return 0;
}

void
scoreboard_destroy(void)
{
    if (scoreboard_all && munmap(scoreboard_all, scoreboard_size * SCOREBOARD_BOARDS) < 0)
        log_syswarn("cannot unmap the scoreboard");
    scoreboard_all = scoreboard_board = NULL;
    scoreboard_nslots = 0;
}

/* Work on board BOARD (0 or 1) from now on: the one a serving process
 * writes, or the one the supervisor reads after it died. */
void
scoreboard_select(int board)
{
    if (scoreboard_all != NULL && board >= 0 && board < SCOREBOARD_BOARDS)
        scoreboard_board = scoreboard_all + (size_t)board * (size_t)scoreboard_nslots;
}

int
scoreboard_slots(void)
{
    return scoreboard_nslots;
}

/* Forget what a dead serving process left on the selected board. */
void
scoreboard_clear(void)
{
    if (scoreboard_board)
        memset(scoreboard_board, 0, scoreboard_size);
}

static struct scoreboard_slot *
scoreboard_slot(int worker)
{
    if (scoreboard_board == NULL || worker < 1 || worker > scoreboard_nslots)
        return NULL;
    return &scoreboard_board[worker - 1];
}

static void
scoreboard_write(struct scoreboard_slot *s, time_t since, const char *script)
{
    unsigned seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

    /* an exchange, not a store: its acquire half keeps the writes below
     * from being done before the counter is odd */
    (void)__atomic_exchange_n(&s->seq, seq + 1, __ATOMIC_ACQ_REL);
    s->since = since;
    if (script) {
        strncpy(s->script, script, sizeof(s->script) - 1);
        s->script[sizeof(s->script) - 1] = '\0';
    }
    __atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

/* WORKER starts running SCRIPT (a long path is kept cut). */
void
scoreboard_enter(int worker, const char *script)
{
    struct scoreboard_slot *s = scoreboard_slot(worker);

    if (s)
        scoreboard_write(s, time(NULL), script ? script : "-");
}

void
scoreboard_leave(int worker)
{
    struct scoreboard_slot *s = scoreboard_slot(worker);

    if (s)
        scoreboard_write(s, 0, NULL);
}

/* 1 and OUT filled when WORKER was running a script, 0 when idle. */
int
scoreboard_read(int worker, struct scoreboard_entry *out)
{
    struct scoreboard_slot *s = scoreboard_slot(worker);
    unsigned before, after;
    int tries;

    if (s == NULL)
        return 0;
    for (tries = 0; tries < 3; tries++) {
        before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        out->since = s->since;
        memcpy(out->script, s->script, sizeof(out->script));
        /* an add of 0: its release half keeps the copy above from being
         * done after the counter is read again */
        after = __atomic_fetch_add(&s->seq, 0, __ATOMIC_ACQ_REL);
        if (before == after && !(before & 1))
            break;
    }
    out->script[sizeof(out->script) - 1] = '\0';
    out->worker = worker;
    out->torn = before != after || (before & 1);
    return out->torn || out->since != 0;
}
