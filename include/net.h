/*
 * net.h: network I/O that keeps a request's limits (OpenResty's cosocket
 * API), the daemon's one pool of kept connections, and the light threads
 * (ngx.thread) that take turns at socket waits.
 */
#ifndef LF_NET_H
#define LF_NET_H

#include <stddef.h>

#include <lua.h>

/* One pool key as the status page shows it. */
struct net_pool_stat {
    char                key[64];        /* cut to fit */
    int                 idle;           /* connections kept, waiting */
    int                 busy;           /* connections in use by requests */
    unsigned long long  connects;       /* new connections made */
    unsigned long long  reuses;         /* connections taken from the pool */
    unsigned long long  timeouts;       /* operations that ended in "timeout" */
};

/* Once at start-up, before the workers (OpenSSL, c-ares); 0 or -1. */
int  net_init(void);
/* At exit (TERM, an upgrade's drain): every kept connection closed. */
void net_shutdown(void);
/* The housekeeper's sweep: idle connections past their keepalive time,
 * or closed by their server, are closed. How many. */
int  net_pool_sweep(void);
/* A snapshot of every key, malloc'd (the caller frees *OUT); the count,
 * or -1. TOTAL_IDLE gets the idle connections in all. */
int  net_pool_stats(struct net_pool_stat **out, int *total_idle);

/* HOST as a literal address (text) in ADDR, looked up within DEADLINE
 * (ms, monotonic) through the same bounded resolver as the sockets;
 * *FAMILY is AF_INET or AF_INET6. 0, or -1 with the reason in ERR. */
int  net_resolve_text(const char *host, long long deadline, char *addr, size_t addrlen, int *family,
                      char *err, size_t errlen);

/* What a new state gets (script.c's setup): the per-state socket and
 * thread bookkeeping; the tables come when first asked for. In protected
 * mode. [-0, +0, m] */
void net_lua_install(lua_State *L);
/* The socket table (tcp, udp, connect, stream): one object per state,
 * require("luafcgid").socket and ngx.socket alike. [-0, +1, m] */
void net_lua_push_socket(lua_State *L);
/* The light threads' table (spawn, wait, kill), for ngx.thread. [-0, +1, m] */
void net_lua_push_thread(lua_State *L);
/* ngx.sleep(seconds) that takes turns with light threads, bounded by the
 * request's deadline: a lua_CFunction (may yield). */
int  net_lua_sleep(lua_State *L);
/* The handler returned: run the light threads still alive to their end,
 * in protected mode, under the request's limits. [-0, +0, e] */
int  net_lua_finish(lua_State *L);
/* The request (or timer callback) is over, however it ended: its light
 * threads are dropped and its sockets closed. Calls no Lua. */
void net_lua_end(lua_State *L);

#endif
