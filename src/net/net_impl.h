/*
 * net_impl.h: the insides of src/net/, shared by its files only; the rest
 * of the daemon sees net.h.
 *
 * A state has one struct net_state (a userdata anchored in its registry,
 * never collected before the state closes): the sockets its request has
 * open and the light threads it spawned. Every socket method is a C
 * closure whose upvalue 1 is that struct (a light userdata).
 *
 * A socket method never blocks by itself: it tries its operation without
 * blocking and, when it must wait, asks net_wait. Outside a light thread
 * (the handler itself, a coroutine of the script's own) or where it cannot
 * yield (inside a pcall) the wait happens there, and lets the light threads that
 * are ready run meanwhile; inside a light thread that can yield, the
 * method returns NET_AGAIN instead, the Lua loop around it (net_lua.c)
 * yields to whoever resumed the thread, and the method's continuation
 * picks the operation up from the socket when the thread is resumed. So
 * an operation's state (its deadline, what it reads or sends) lives in
 * the socket, not on the C stack.
 */
#ifndef LF_NET_IMPL_H
#define LF_NET_IMPL_H

#include <poll.h>
#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

#include "net.h"

/* What net_wait answers. */
#define NET_READY       0       /* the descriptor is ready */
#define NET_TIMEDOUT    1       /* the operation's own timeout passed */
#define NET_YIELD       2       /* return NET_AGAIN: the thread yields */

#define NET_TCP_CLASS   "luafcgid.net.tcp"      /* the object tables' metatables */
#define NET_UDP_CLASS   "luafcgid.net.udp"

/* Operations a socket may have in progress (and continue after a yield). */
enum net_op {
    NET_OP_NONE = 0,
    NET_OP_ADMIT,               /* connect waiting its turn under backlog */
    NET_OP_CONNECT,
    NET_OP_HANDSHAKE,
    NET_OP_SEND,
    NET_OP_RECV,
    NET_OP_UNTIL
};

/* receive's patterns. */
enum net_recv {
    NET_RECV_LINE,              /* "*l" */
    NET_RECV_ALL,               /* "*a" */
    NET_RECV_BYTES,             /* a count */
    NET_RECV_ANY                /* receiveany(max) */
};

/* Bytes read and not yet given out: data[start, start + len). Allocated
 * with the state's allocator, so they count toward `memory`. */
struct net_buf {
    char   *data;
    size_t  start;
    size_t  len;
    size_t  cap;
};

struct net_state;
struct net_thread;

struct net_sock {
    struct net_state *ns;
    int             fd;             /* -1: closed */
    int             udp;
    void           *ssl;            /* SSL *, once sslhandshake succeeded */
    char           *key;            /* its pool key (malloc'd), once connected */
    unsigned        reused;         /* times taken from the pool */
    int             connect_ms, send_ms, read_ms;   /* settimeout(s); 0: the config's */
    int             dflt_ms;        /* the config's socket_timeout, when it was made */
    unsigned long   serial;         /* the request it belongs to */
    unsigned char   read_closed;
    unsigned char   write_closed;
    unsigned char   failed;         /* a timeout or an error: never pooled */
    unsigned char   eof;            /* a read found the end of the stream */
    unsigned char   rdry;           /* the last look found nothing to read: poll
                                     * before reading again (plain TCP only) */
    unsigned char   counted;        /* counted busy under its pool key */
    int             queued;         /* counted waiting under key (backlog) */
    int             admitted;       /* counted pending under key (backlog) */
    char           *qhost;          /* NET_OP_ADMIT: the host (malloc'd) */
    int             qport, qsize, qbacklog;    /* its port, pool_size, backlog */
    int             op;             /* enum net_op in progress: connect, handshake, send */
    long long       deadline;       /* of that operation, ms (monotonic); 0: none */
    int             rop;            /* enum net_op in progress on the reading side */
    long long       rdeadline;      /* of that one */
    int             recv_kind;      /* NET_OP_RECV: enum net_recv */
    size_t          recv_want;      /* its byte count */
    size_t          sent;           /* NET_OP_SEND: bytes of out sent */
    unsigned long long in_taken;    /* bytes ever taken out of in */
    int             hs_verify;      /* NET_OP_HANDSHAKE: check the certificate */
    int             hs_session;     /* return a session (not reused_session == false) */
    char           *hs_name;        /* the server name to check (malloc'd) */
    struct net_buf  in;
    struct net_buf  out;
    struct net_sock *prev, *next;   /* the state's open sockets */
};

/* A receiveuntil iterator: its pattern, and whether it ended a round. */
struct net_until {
    struct net_sock *sock;
    char           *pat;            /* allocated with the state's allocator */
    size_t          patlen;
    int             inclusive;
    int             size;           /* the pending call's size, 0: none */
    int             done;           /* the size-mode round saw its pattern */
    unsigned       *fail;           /* the pattern's KMP failure function */
    size_t          scanned;        /* bytes at the buffer's front searched */
    size_t          matched;        /* the pattern's bytes that end them */
    unsigned long long at;          /* the socket's in_taken they are for */
};

struct net_state {
    lua_State          *main;       /* the state's main thread */
    unsigned long       serial;     /* the request: changes when one ends */
    int                 built;      /* the tables exist (net_lua_build) */
    struct net_sock    *socks;      /* open sockets */
    struct net_thread  *threads;    /* light threads of this request */
    int                 nthreads;
    int                 nlive;      /* of them, not ended yet */
};

/* Light thread status. */
enum net_tstatus {
    NET_T_RUNNING = 0,          /* resumed (or its parent is, further down) */
    NET_T_WAIT,                 /* yielded: waits for fd, deadline or a child */
    NET_T_READY,                /* yielded with nothing to wait for */
    NET_T_DONE,                 /* returned or failed; its results not taken */
    NET_T_DEAD                  /* waited for or killed */
};

struct net_thread {
    lua_State          *co;
    lua_State          *parent;
    int                 ref;        /* registry reference that keeps co */
    int                 wait_ref;   /* the threads its ngx.thread.wait waits for */
    int                 status;     /* enum net_tstatus */
    int                 fd;         /* NET_T_WAIT: the descriptor, or -1 */
    short               events;
    short               revents;    /* the last poll's answer */
    int                 polled;     /* its fd is in the poll being made */
    long long           deadline;   /* NET_T_WAIT: when to resume anyway, 0: none */
    int                 children;   /* NET_T_WAIT: until a child is done */
    struct net_sock    *sock;       /* the socket its operation is on */
    int                 ok;         /* NET_T_DONE: returned without error */
    struct net_thread  *next;
};

/* net_lua.c */
extern const char net_again_key;
#define NET_AGAIN_PUSH(L) lua_pushlightuserdata((L), (void *)&net_again_key)
struct net_state *net_state_of(lua_State *L);
void  net_push_method(lua_State *L, struct net_state *ns, const char *field, lua_CFunction prim,
                      lua_CFunction cont);
void  net_push_bound(lua_State *L, struct net_state *ns, lua_CFunction prim, lua_CFunction cont);
void *net_alloc(lua_State *L, void *p, size_t osize, size_t nsize);
void  net_buf_free(lua_State *L, struct net_buf *b);
int   net_buf_reserve(lua_State *L, struct net_buf *b, size_t more);
int   net_nomem(lua_State *L);
int   net_error(lua_State *L, const char *fmt, ...) __attribute__((noreturn));
int   net_argerror(lua_State *L, int narg, const char *msg) __attribute__((noreturn));

/* net_sched.c: waits and the scheduler */
struct net_thread *net_thread_of(struct net_state *ns, lua_State *L);
struct net_thread *net_sched_yieldable(struct net_state *ns, lua_State *L);
int   net_wait(lua_State *L, struct net_state *ns, struct net_sock *s, int fd, short events,
               long long deadline);
int   net_sleep_until(lua_State *L, struct net_state *ns, long long deadline);
int   net_sched_run(lua_State *L, struct net_state *ns, int (*done)(void *), void *arg,
                    int fd, short events, long long deadline);
long long net_request_deadline(lua_State *L);
long long net_capped(lua_State *L, long long dl);
void  net_thread_resume(lua_State *L, struct net_state *ns, struct net_thread *t, int nargs);

/* net_thread.c */
void  net_thread_register(lua_State *L, struct net_state *ns);
void  net_thread_drop_all(struct net_state *ns);
int   net_thread_all_done(void *arg);

/* net_tcp.c */
void  net_tcp_register(lua_State *L, struct net_state *ns);

/* net_sock.c */
void  net_sock_register(lua_State *L);
struct net_sock *net_sock_check(lua_State *L, int idx, int udp);
struct net_sock *net_sock_new(lua_State *L, struct net_state *ns, int udp);
void  net_sock_close(struct net_sock *s, int pool_it);
void  net_sock_link(struct net_sock *s);
void  net_sock_settle(struct net_sock *s);
int   net_sock_push_error(lua_State *L, struct net_sock *s, const char *err);
int   net_push_fail(lua_State *L, const char *err);
int   net_sock_create(lua_State *L, int udp);
const char *net_sock_busy(const struct net_sock *s);
long long net_op_deadline(int ms);
int   net_timeout_default(int which);
#define NET_TIMEOUT_CONNECT 0
#define NET_TIMEOUT_SEND    1
#define NET_TIMEOUT_READ    2
int   net_errno_push(lua_State *L, int err);
int   net_sock_room(const struct net_state *ns);
int   net_yield_allowed(lua_State *L);

/* net_tcp_io.c: the non-blocking steps, plain or through TLS */
ssize_t net_io_read(struct net_sock *s, char *p, size_t n, short *want);
ssize_t net_io_write(struct net_sock *s, const char *p, size_t n, short *want);
int   net_io_fill(lua_State *L, struct net_sock *s, short *want);
void  net_send_flatten(lua_State *L, struct net_buf *b, int idx, int depth);
int   net_tcp_send(lua_State *L);
int   net_tcp_send_cont(lua_State *L);
int   net_tcp_connect(lua_State *L);
int   net_tcp_connect_cont(lua_State *L);

/* net_tcp_recv.c */
int   net_tcp_receive(lua_State *L);
int   net_tcp_receiveany(lua_State *L);
int   net_tcp_recv_cont(lua_State *L);
int   net_tcp_receiveuntil(lua_State *L);

/* net_tls.c */
int   net_tls_handshake(lua_State *L);
int   net_tls_handshake_cont(lua_State *L);
void  net_tls_free(void *ssl, int clean);
int   net_tls_init(void);
void  net_tls_register(lua_State *L);

/* net_resolve.c: a name to addresses, within DEADLINE (ms, monotonic) */
struct sockaddr_storage;
int   net_resolve(const char *host, int port, long long deadline, struct sockaddr_storage *out,
                  unsigned *outlen, char *err, size_t errlen);
int   net_resolve_init(void);

/* net_pool.c */
struct net_pooled {
    int         fd;
    void       *ssl;
    unsigned    reused;
};
int   net_pool_take(const char *key, struct net_pooled *out);
int   net_pool_put(const char *key, const struct net_pooled *c, long long idle_ms, int size,
                   char *err, size_t errlen);
void  net_pool_busy(const char *key, int delta);
void  net_pool_count(const char *key, int what);
int   net_pool_admit(const char *key, int size, int backlog, int *queued, struct net_pooled *out);
void  net_pool_leave(const char *key);
void  net_pool_unqueue(const char *key);
void  net_pool_size(const char *key, int size);
int   net_pool_sized(const char *key);
#define NET_COUNT_CONNECT   0
#define NET_COUNT_REUSE     1
#define NET_COUNT_TIMEOUT   2

/* net_udp.c */
void  net_udp_register(lua_State *L, struct net_state *ns);

#endif
