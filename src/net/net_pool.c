/*
 * net_pool.c: the daemon's one pool of kept connections.
 *
 * setkeepalive puts a connection here and connect takes it back, from any
 * worker, state or clone: a busy site holds as many connections to its
 * database as it uses at once, not one per state. Keys are ngx_lua's
 * ("host:port", the "unix:/path", or the `pool` name). Each key keeps at
 * most its size idle (the size given when the key first kept one, as
 * ngx_lua's pool_size), the daemon at most `socket_pool_max` in all; past
 * either the least recently kept connection is closed. A connection is
 * taken most recently kept first, and only after a look (a non-blocking
 * peek) shows the server neither closed it nor sent anything unasked:
 * else it is closed and the next one tried. The housekeeper closes the
 * ones idle past their keepalive time, and the oldest past
 * socket_pool_max once a HUP lowered it (net_pool_sweep). A HUP leaves the
 * pool alone otherwise; the process's exit closes every kept connection
 * (net_shutdown), and none survives an exec (close-on-exec).
 *
 * Per key it also counts what the status page shows: connections idle
 * and in use, new connections, reuses, timeouts. At most LF_NET_POOL_KEYS
 * keys are tracked; a key with nothing open is forgotten to make room.
 *
 * pool_lock guards every field below and each key's fields and lists; it
 * is never held across a close or any Lua; the sweep's peeks under it
 * never block (MSG_DONTWAIT).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "luafcgid.h"
#include "conf.h"
#include "log.h"
#include "monoclock.h"
#include "net_impl.h"

#define POOL_BUCKETS 256

struct pool_conn {
    int                 fd;
    void               *ssl;
    unsigned            reused;
    long long           since;      /* kept at, ms (monotonic) */
    long long           expires;    /* 0: never */
    struct pool_conn   *next;       /* most recently kept first */
};

struct pool_key {
    char               *name;
    int                 size;       /* most idle kept; 0: none given yet */
    int                 idle;
    int                 busy;
    int                 pending;    /* admitted under backlog, not yet open */
    int                 waiting;    /* connects waiting under backlog */
    unsigned long long  connects, reuses, timeouts;
    struct pool_conn   *conns;
    struct pool_key    *next;       /* its bucket's chain */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool_key *pool_table[POOL_BUCKETS];
static int pool_nkeys;
static int pool_idle;

static unsigned
pool_hash(const char *s)
{
    unsigned h = 2166136261u;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % POOL_BUCKETS;
}

/* Forget one key with nothing open, to make room. Under pool_lock. */
static int
pool_forget_one(void)
{
    struct pool_key **p, *k;
    int b;

    for (b = 0; b < POOL_BUCKETS; b++)
        for (p = &pool_table[b]; (k = *p) != NULL; p = &k->next)
            if (k->idle == 0 && k->busy == 0 && k->pending == 0 && k->waiting == 0) {
                *p = k->next;
                free(k->name);
                free(k);
                pool_nkeys--;
                return 0;
            }
    return -1;
}

/* KEY's entry, made when CREATE (with SIZE); NULL when it cannot be.
 * Under pool_lock. */
static struct pool_key *
pool_find(const char *key, int create, int size)
{
    unsigned b = pool_hash(key);
    struct pool_key *k;

    for (k = pool_table[b]; k != NULL; k = k->next)
        if (strcmp(k->name, key) == 0)
            return k;
    if (!create || (pool_nkeys >= LF_NET_POOL_KEYS && pool_forget_one() < 0))
        return NULL;
    if ((k = calloc(1, sizeof(*k))) == NULL || (k->name = strdup(key)) == NULL) {
        free(k);
        return NULL;
    }
    k->size = size;
    k->next = pool_table[b];
    pool_table[b] = k;
    pool_nkeys++;
    return k;
}

static void
pool_conn_close(struct pool_conn *c)
{
    if (c->ssl != NULL)
        net_tls_free(c->ssl, 1);
    close(c->fd);
    free(c);
}

/* Does the server still hold FD open, with nothing unasked sent? */
static int
pool_alive(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Unlink K's most recently kept connection, counted in use from now on
 * (under pool_lock): never a moment in neither count, when a connect
 * under backlog would see room for one more. NULL when K has none. */
static struct pool_conn *
pool_pop(struct pool_key *k)
{
    struct pool_conn *c = k->conns;

    if (c != NULL) {
        k->conns = c->next;
        k->idle--;
        pool_idle--;
        k->busy++;
    }
    return c;
}

/* C, popped for KEY: into OUT when its server still holds it (1), else
 * closed and no longer counted in use (0). */
static int
pool_hand_out(const char *key, struct pool_conn *c, struct net_pooled *out)
{
    if (!pool_alive(c->fd)) {
        pool_conn_close(c);
        net_pool_busy(key, -1);
        return 0;
    }
    out->fd = c->fd;
    out->ssl = c->ssl;
    out->reused = c->reused;
    free(c);
    return 1;
}

/* A kept connection for KEY in OUT, counted in use: 1, or 0 when there is
 * none. */
int
net_pool_take(const char *key, struct net_pooled *out)
{
    struct pool_key *k;
    struct pool_conn *c;

    for (;;) {
        pthread_mutex_lock(&pool_lock);
        c = (k = pool_find(key, 0, 0)) != NULL ? pool_pop(k) : NULL;
        pthread_mutex_unlock(&pool_lock);
        if (c == NULL)
            return 0;
        if (pool_hand_out(key, c, out))
            return 1;
    }
}

/* Unlink the least recently kept connection of K (under pool_lock). */
static struct pool_conn *
pool_oldest_of(struct pool_key *k)
{
    struct pool_conn **p = &k->conns, *c;

    if (*p == NULL)
        return NULL;
    while ((*p)->next != NULL)
        p = &(*p)->next;
    c = *p;
    *p = NULL;
    k->idle--;
    pool_idle--;
    return c;
}

/* The key whose last connection was kept longest ago (under pool_lock). */
static struct pool_key *
pool_oldest_key(void)
{
    struct pool_key *k, *best = NULL;
    long long best_since = 0;
    struct pool_conn *c;
    int b;

    for (b = 0; b < POOL_BUCKETS; b++)
        for (k = pool_table[b]; k != NULL; k = k->next) {
            for (c = k->conns; c != NULL && c->next != NULL; c = c->next)
                ;
            if (c != NULL && (best == NULL || c->since < best_since)) {
                best = k;
                best_since = c->since;
            }
        }
    return best;
}

/*
 * Keep C under KEY for IDLE_MS (0: no limit), the key holding at most SIZE
 * (when it is new). 0, or -1 with why in ERR (the caller closes C).
 */
int
net_pool_put(const char *key, const struct net_pooled *c, long long idle_ms, int size,
             char *err, size_t errlen)
{
    struct pool_conn *pc, *evict[2] = { NULL, NULL };
    struct pool_key *k, *old;
    struct conf *conf = conf_acquire();
    int max = conf->socket_pool_max, i;

    conf_release(conf);
    if (max == 0) {
        snprintf(err, errlen, "socket_pool_max is 0");
        return -1;
    }
    if ((pc = calloc(1, sizeof(*pc))) == NULL) {
        snprintf(err, errlen, "no memory");
        return -1;
    }
    pc->fd = c->fd;
    pc->ssl = c->ssl;
    pc->reused = c->reused;
    pc->since = monoclock_ms();
    pc->expires = idle_ms > 0 ? pc->since + idle_ms : 0;
    pthread_mutex_lock(&pool_lock);
    if ((k = pool_find(key, 1, size)) == NULL) {
        pthread_mutex_unlock(&pool_lock);
        free(pc);
        snprintf(err, errlen, "too many pool keys");
        return -1;
    }
    if (k->size == 0)
        k->size = size;
    if (k->idle >= k->size)
        evict[0] = pool_oldest_of(k);
    if (pool_idle >= max && (old = pool_oldest_key()) != NULL)
        evict[1] = pool_oldest_of(old);
    pc->next = k->conns;
    k->conns = pc;
    k->idle++;
    pool_idle++;
    pthread_mutex_unlock(&pool_lock);
    for (i = 0; i < 2; i++)
        if (evict[i] != NULL)
            pool_conn_close(evict[i]);
    return 0;
}

/* KEY has DELTA more connections in use. */
void
net_pool_busy(const char *key, int delta)
{
    struct pool_key *k;

    pthread_mutex_lock(&pool_lock);
    if ((k = pool_find(key, delta > 0, 0)) != NULL) {
        k->busy += delta;
        if (k->busy < 0)
            k->busy = 0;
    }
    pthread_mutex_unlock(&pool_lock);
}

/* One more of WHAT (NET_COUNT_*) for KEY. */
void
net_pool_count(const char *key, int what)
{
    struct pool_key *k;

    if (key == NULL)
        return;
    pthread_mutex_lock(&pool_lock);
    if ((k = pool_find(key, 0, 0)) != NULL) {
        if (what == NET_COUNT_CONNECT)
            k->connects++;
        else if (what == NET_COUNT_REUSE)
            k->reuses++;
        else
            k->timeouts++;
    }
    pthread_mutex_unlock(&pool_lock);
}

/*
 * `backlog`: a connect under KEY may go on while fewer than SIZE of its
 * connections are open; else it waits its turn, up to BACKLOG of them.
 * This only answers, never waits: the caller waits as for any socket
 * (net_sched.c), within its deadlines and letting light threads run, and
 * asks again. 0 admitted (counted pending until net_pool_leave), 1 to
 * wait (counted waiting until admitted or net_pool_unqueue; *QUEUED
 * says so), -1 when BACKLOG are waiting already; 2 when admitted with a
 * kept connection of KEY in OUT, counted in use. The kept connection an admission counts
 * on is taken with it, under the same lock: else two admissions could
 * count on one, and the one left without would open a connection past
 * SIZE.
 */
int
net_pool_admit(const char *key, int size, int backlog, int *queued, struct net_pooled *out)
{
    struct pool_key *k;
    struct pool_conn *c = NULL;

    pthread_mutex_lock(&pool_lock);
    if ((k = pool_find(key, 1, size)) == NULL) {
        pthread_mutex_unlock(&pool_lock);
        return 0;
    }
    if (k->size == 0)
        k->size = size;
    size = k->size;
    if (k->busy + k->pending >= size && k->idle == 0) {
        if (!*queued) {
            if (k->waiting >= backlog) {
                pthread_mutex_unlock(&pool_lock);
                return -1;
            }
            k->waiting++;
            *queued = 1;
        }
        pthread_mutex_unlock(&pool_lock);
        return 1;
    }
    if (*queued && k->waiting > 0)
        k->waiting--;
    *queued = 0;
    k->pending++;
    c = pool_pop(k);
    pthread_mutex_unlock(&pool_lock);
    /* a dead one's place goes to a new connection */
    return c != NULL && pool_hand_out(key, c, out) ? 2 : 0;
}

/* KEY's pool holds SIZE, unless it was given one already (connect's
 * pool_size, as ngx_lua's, makes the pool). */
void
net_pool_size(const char *key, int size)
{
    struct pool_key *k;

    pthread_mutex_lock(&pool_lock);
    if ((k = pool_find(key, 1, size)) != NULL && k->size == 0)
        k->size = size;
    pthread_mutex_unlock(&pool_lock);
}

/* Has KEY's pool a size already (made by a connect or a setkeepalive)? */
int
net_pool_sized(const char *key)
{
    struct pool_key *k;
    int sized;

    pthread_mutex_lock(&pool_lock);
    sized = (k = pool_find(key, 0, 0)) != NULL && k->size > 0;
    pthread_mutex_unlock(&pool_lock);
    return sized;
}

/* A connect that waited under KEY gives up. */
void
net_pool_unqueue(const char *key)
{
    struct pool_key *k;

    pthread_mutex_lock(&pool_lock);
    if ((k = pool_find(key, 0, 0)) != NULL && k->waiting > 0)
        k->waiting--;
    pthread_mutex_unlock(&pool_lock);
}

void
net_pool_leave(const char *key)
{
    struct pool_key *k;

    pthread_mutex_lock(&pool_lock);
    if ((k = pool_find(key, 0, 0)) != NULL && k->pending > 0)
        k->pending--;
    pthread_mutex_unlock(&pool_lock);
}

/* Close the connections of the list DEAD (linked by next); how many. */
static int
pool_close_list(struct pool_conn *dead)
{
    struct pool_conn *c;
    int n = 0;

    while ((c = dead) != NULL) {
        dead = c->next;
        pool_conn_close(c);
        n++;
    }
    return n;
}

/* Close the kept connections past their time (all of them when ALL). */
static int
pool_expire(int all)
{
    struct pool_conn *dead = NULL, **p, *c;
    struct pool_key *k;
    long long now = monoclock_ms();
    int b;

    pthread_mutex_lock(&pool_lock);
    for (b = 0; b < POOL_BUCKETS; b++)
        for (k = pool_table[b]; k != NULL; k = k->next)
            for (p = &k->conns; (c = *p) != NULL;) {
                if (all || (c->expires && now >= c->expires) || !pool_alive(c->fd)) {
                    *p = c->next;
                    c->next = dead;
                    dead = c;
                    k->idle--;
                    pool_idle--;
                } else
                    p = &c->next;
            }
    pthread_mutex_unlock(&pool_lock);
    return pool_close_list(dead);
}

/* Close the least recently kept connections past MAX in all: a HUP that
 * lowered socket_pool_max, which a put enforces one connection at a time. */
static int
pool_trim(int max)
{
    struct pool_conn *dead = NULL, *c;
    struct pool_key *old;

    pthread_mutex_lock(&pool_lock);
    while (pool_idle > max && (old = pool_oldest_key()) != NULL && (c = pool_oldest_of(old)) != NULL) {
        c->next = dead;
        dead = c;
    }
    pthread_mutex_unlock(&pool_lock);
    return pool_close_list(dead);
}

int
net_pool_sweep(void)
{
    struct conf *conf = conf_acquire();
    int max = conf->socket_pool_max;

    conf_release(conf);
    return pool_expire(0) + pool_trim(max);
}

int
net_pool_stats(struct net_pool_stat **out, int *total_idle)
{
    struct net_pool_stat *st;
    struct pool_key *k;
    int b, n = 0;

    pthread_mutex_lock(&pool_lock);
    st = calloc((size_t)pool_nkeys + 1, sizeof(*st));
    if (st == NULL) {
        pthread_mutex_unlock(&pool_lock);
        return -1;
    }
    for (b = 0; b < POOL_BUCKETS; b++)
        for (k = pool_table[b]; k != NULL; k = k->next) {
            snprintf(st[n].key, sizeof(st[n].key), "%s", k->name);
            st[n].idle = k->idle;
            st[n].busy = k->busy;
            st[n].connects = k->connects;
            st[n].reuses = k->reuses;
            st[n].timeouts = k->timeouts;
            n++;
        }
    if (total_idle != NULL)
        *total_idle = pool_idle;
    pthread_mutex_unlock(&pool_lock);
    *out = st;
    return n;
}

int
net_init(void)
{
    if (net_tls_init() < 0 || net_resolve_init() < 0)
        return -1;
    return 0;
}

void
net_shutdown(void)
{
    int n = pool_expire(1);

    if (n > 0)
        log_info("sockets: closed %d kept connection%s", n, n == 1 ? "" : "s");
}
