/*
 * backoff.c: the restart back-off: how long the supervisor waits before
 * it starts a serving process again.
 *
 * Deaths that repeat fast back off, as php-fpm's emergency restart does:
 * LF_RESTART_THRESHOLD deaths within LF_RESTART_INTERVAL s make the next
 * start wait, twice as long at each further death (up to
 * LF_RESTART_DELAY_MAX), so a script that crashes on every request costs a
 * fork per delay rather than a busy loop. The delay falls back to none
 * only once a serving process has run LF_RESTART_INTERVAL s without dying.
 * The supervisor is one thread: the state needs no lock.
 */
#include "luafcgid.h"
#include "backoff.h"
#include "monoclock.h"

static struct {
    long long   deaths[LF_RESTART_THRESHOLD];   /* ring of death times, ms */
    int         ndeaths;
    long long   delay_ms;               /* the wait before the next start */
    long long   started_ms;             /* when the last start began */
} rs;

/* A serving process is being started now. */
void
backoff_started(void)
{
    rs.started_ms = monoclock_ms();
}

/*
 * Count a death. Once backing off, every death doubles the wait; only a
 * serving process that ran LF_RESTART_INTERVAL s since its start ends the
 * back-off (and the count).
 */
void
backoff_death(void)
{
    long long now = monoclock_ms();
    long long oldest;

    if (rs.started_ms > 0 && now - rs.started_ms >= LF_RESTART_INTERVAL * 1000LL) {
        rs.ndeaths = 0;
        rs.delay_ms = 0;
    }
    rs.deaths[rs.ndeaths % LF_RESTART_THRESHOLD] = now;
    rs.ndeaths++;
    oldest = rs.deaths[rs.ndeaths % LF_RESTART_THRESHOLD];
    if (rs.delay_ms > 0) {
        if ((rs.delay_ms *= 2) > LF_RESTART_DELAY_MAX)
            rs.delay_ms = LF_RESTART_DELAY_MAX;
    } else if (rs.ndeaths >= LF_RESTART_THRESHOLD && now - oldest <= LF_RESTART_INTERVAL * 1000LL)
        rs.delay_ms = LF_RESTART_DELAY_MIN;
}

/* The wait before the next start, ms (0: none). */
long long
backoff_delay_ms(void)
{
    return rs.delay_ms;
}
