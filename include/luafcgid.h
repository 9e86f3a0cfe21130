/*
 * luafcgid.h: every compile-time default and limit in one place, and the
 * types that more than one module shares.
 *
 * The defaults here are the ones SPEC.md and luafcgid.conf(5) document;
 * change them together.
 */
#ifndef LUAFCGID_H
#define LUAFCGID_H

#define LF_VERSION              "1.0.0"
#define LF_NAME                 "luafcgid"

#ifndef LF_DEFAULT_CONFIG
#define LF_DEFAULT_CONFIG       "/usr/local/etc/luafcgid/luafcgid.conf"
#endif

#define LF_DEFAULT_LISTEN       "/var/run/luafcgid/luafcgid.sock"
#define LF_DEFAULT_LISTEN_MODE  0660
#define LF_DEFAULT_BACKLOG      511
/* Above nginx's upstream keepalive_timeout (60 s by default), so that the
 * web server closes an idle kept connection first: at the same value both
 * close at once, and nginx may write a request on the one luafcgid closes
 * (a POST it does not resend). */
#define LF_DEFAULT_KEEPALIVE_TIMEOUT 75
#define LF_DEFAULT_KEEPALIVE_MAX 1024
#define LF_DEFAULT_PIDFILE      "/var/run/luafcgid/luafcgid.pid"
#define LF_DEFAULT_LOGFILE      "/var/log/luafcgid/luafcgid.log"
#define LF_DEFAULT_LOGLEVEL     "notice"
#define LF_DEFAULT_WORKERS      4
#define LF_DEFAULT_SWEEP        1000            /* ms */
#define LF_DEFAULT_RETRIES      1
#define LF_DEFAULT_JITTER       0               /* µs; see luafcgid.conf(5) */
#define LF_DEFAULT_TIMEOUT      30              /* s */
#define LF_DEFAULT_MEMORY       (64 * 1024 * 1024)
#define LF_DEFAULT_MAXPOST      (1024 * 1024)
#define LF_DEFAULT_CLIENT_TIMEOUT 60            /* s */
#define LF_DEFAULT_MAXPARAMS    (1024 * 1024)
#define LF_DEFAULT_HEADERSIZE   64
#define LF_DEFAULT_BODYSIZE     1024
#define LF_DEFAULT_HEADERS      "X-Powered-By: luafcgid\r\n"
#define LF_DEFAULT_HANDLER      "main"
#define LF_DEFAULT_HTTPSTATUS   "200 OK"
#define LF_DEFAULT_CONTENTTYPE  "text/html"
#define LF_DEFAULT_EXTENSION    ".lua"
#define LF_DEFAULT_PING_RESPONSE "pong"
#define LF_DEFAULT_UPLOAD_MEMORY (64 * 1024)     /* a file part's bytes kept in memory */
#define LF_DEFAULT_MAXFIELDS    1000
#define LF_DEFAULT_READ         (64 * 1024)     /* req:read() with no size */
#define LF_DEFAULT_ACCESS_FORMAT "%R - %u %t \"%m %r\" %s"   /* php-fpm's */

/* Upper bounds that keep a typo in the config from taking the machine. */
#define LF_MAX_WORKERS          1024
#define LF_MAX_STATES           65536
#define LF_MAX_SWEEP            3600000
#define LF_MAX_JITTER           1000000
#define LF_MAX_BUFSIZE          (64 * 1024 * 1024)
#define LF_MAX_LISTEN           16      /* addresses in listen */
#define LF_MAX_LIST             256     /* entries in extensions, preload */
#define LF_MAX_FIELD_NAME       256     /* bytes of a form field's name */
/* The bytes luafcgid.conf's Lua may hold while it runs: -t and a HUP (run
 * by the supervisor) fail with a message rather than take the machine. */
#define LF_CONF_MEMORY_MAX      ((size_t)64 * 1024 * 1024)

/* A state's hit count is halved every this many sweeps (popularity ages). */
#define LF_HITS_DECAY_SWEEPS    10

/* A worker's buffers keep up to this much between requests; a larger one
 * shrinks when it was mostly unused for this many requests. */
#define LF_BUF_KEEP             ((size_t)1024 * 1024)
#define LF_BUF_SHRINK_ROUNDS    64

/* Nesting the pattern matcher allows (one level per ?, *, +, - or capture
 * being tried) before "pattern too complex", as in Lua 5.2; at a few
 * hundred bytes of C stack each, far inside any thread's stack. */
#define LF_PATTERN_DEPTH        200

/* Descriptors beyond keepalive_max + workers that the daemon needs: the
 * listening socket, the log, connections in flight or queued, scripts being
 * loaded, files scripts open. Start-up warns when these do not fit. */
#define LF_FD_MARGIN            64

/* Out of descriptors, the leader stops accepting for a while, from the
 * first interval doubling up to the last, and reports at most once per
 * LF_FD_REPORT_MS what it could not accept. */
#define LF_ACCEPT_BACKOFF_MIN_MS 10
#define LF_ACCEPT_BACKOFF_MAX_MS 1000
#define LF_FD_REPORT_MS         5000

/* TERM/INT: the requests accepted before it may take `timeout` plus this
 * (s) to finish; with timeout = 0, LF_STOP_BOUND (s) in all. Past it the
 * daemon logs what it cut short and exits. */
#define LF_STOP_MARGIN          5
#define LF_STOP_BOUND           30
/* TERM/INT: kept connections stay watched this long (ms), so that a
 * request already on its way in one is served (and the connection closed
 * right after its answer) rather than lost with a close under the web
 * server; those still idle then are closed. */
#define LF_STOP_DRAIN_MS        1000

/* terminate_timeout, when the config leaves it unset: `timeout` plus this
 * (s); 0 (never) with timeout = 0. A run of a script (its load, or its
 * handler) still going that long after it began is stuck in C, where the
 * timeout hook cannot reach: its worker is written off and replaced. */
#define LF_TERMINATE_MARGIN     5
/* Written-off workers (still stuck) that make the serving process ask to
 * be replaced (max_written_off), and the most it lets stay stuck: past
 * `workers` of them a stuck worker is left to its request, not replaced. */
#define LF_DEFAULT_MAX_WRITTEN_OFF 1
/* State closers (a state's close runs its C finalizers, which may block)
 * written off and still stuck past which no new one is started: the
 * states wait to be closed until the serving process is replaced. */
#define LF_CLOSERS_OFF_MAX      4
/* The count hook keeps the traceback of a run that has lasted
 * LF_TRACE_FIRST_MS, taken again every LF_TRACE_EVERY_MS: what a written-off
 * worker's log line shows of where its script was. */
#define LF_TRACE_FIRST_MS       10
#define LF_TRACE_EVERY_MS       100
/* The deadline's watchdog (state_watchdog.c) sleeps at most
 * LF_WATCHDOG_IDLE_MS (`timeout` is whole seconds: a run armed after it
 * looked is never due sooner), and sets an overdue run's hook again
 * LF_WATCHDOG_REFIRE_MS later, the interval doubling up to
 * LF_WATCHDOG_IDLE_MS, while the run goes on. */
#define LF_WATCHDOG_IDLE_MS     1000
#define LF_WATCHDOG_REFIRE_MS   10
/* A serving process that asked to be replaced (too many written off, or
 * over max_rss) and still is asks again after this many seconds. */
#define LF_REPLACE_RETRY        30

/* The supervising process restarts a dead serving process at once, unless
 * it died LF_RESTART_THRESHOLD times within LF_RESTART_INTERVAL seconds:
 * then it waits, LF_RESTART_DELAY_MIN ms the first time, twice as long at
 * each further death, at most LF_RESTART_DELAY_MAX ms (as php-fpm's
 * emergency_restart_threshold and emergency_restart_interval). */
#define LF_RESTART_THRESHOLD    5
#define LF_RESTART_INTERVAL     10              /* s */
#define LF_RESTART_DELAY_MIN    1000            /* ms */
#define LF_RESTART_DELAY_MAX    30000           /* ms */
/* While a serving process starts, the supervisor looks for signals every
 * LF_SUPERVISE_TICK ms between waits on its ready pipe. */
#define LF_SUPERVISE_TICK       50              /* ms */

/* A client's connection closed for what it sent, or for being too slow,
 * is logged; past LF_WIRE_LOG_BURST of them in LF_WIRE_LOG_INTERVAL s
 * they are counted, and the count logged with the next. */
#define LF_WIRE_LOG_BURST       100
#define LF_WIRE_LOG_INTERVAL    10              /* s */

/* A connection refused by allowed_clients is logged at most once per
 * LF_ACL_LOG_INTERVAL s (with a count of the others). */
#define LF_ACL_LOG_INTERVAL     10              /* s */
/* USR2: the new binary must serve within this many seconds (the
 * upgrade_timeout key), or it is stopped and the running one keeps
 * serving. */
#define LF_DEFAULT_UPGRADE_TIMEOUT 60           /* s */

/* A serving process that leaves passes its kept connections on to the
 * one that serves on (handover.c); while nobody reads them yet and the
 * channel is full, it waits this long (ms) before closing them instead. */
#define LF_HANDOVER_WAIT_MS     2000

/* The scoreboard keeps this much of a running script's path. */
#define LF_SCOREBOARD_PATH      256

/* Files one Lua state may hold open at once (io.open, io.lines...);
 * descriptors are the whole process's, shared by every script. */
#define LF_STATE_FILES          64

/* Sockets (ngx.socket) one Lua state may hold open at once: a request
 * that opens and keeps them does not take every descriptor of the
 * process, which the web server's next connections need too. */
#define LF_STATE_SOCKETS        256

/* A state's garbage is collected in full at a safe point (the hook, a
 * charge of the answer, before a handler) once the state has grown past
 * twice what was live after its last full collection, LF_STATE_GC_FLOOR
 * at least, or past half the room left under `memory`, but by no less
 * than memory / LF_STATE_GC_NEAR: near the limit a script stops sooner
 * rather than be collected over and over (state_limit.c). */
#define LF_STATE_GC_FLOOR       ((size_t)1024 * 1024)
#define LF_STATE_GC_NEAR        32

/* Compiled scripts kept for their next states (chunkcache.c): most
 * entries, most bytes of bytecode in all, the largest one kept, and the
 * table's buckets. */
#define LF_CHUNK_CACHE_ENTRIES  4096
#define LF_CHUNK_CACHE_BYTES    ((size_t)32 * 1024 * 1024)
#define LF_CHUNK_CACHE_ONE      ((size_t)4 * 1024 * 1024)
#define LF_CHUNK_CACHE_BUCKETS  1021

/* Shared dictionaries (`shared`): how many, their names' longest, the
 * smallest and largest SIZE, the longest key (ngx_lua's), and how long an
 * operation waits for a dictionary's lock before it fails (a process
 * holding it is stopped), how long once its holder is known to be
 * stopped, and how long a holder may stay stopped (SIGSTOP) before it is
 * killed, so that its step is undone and the dictionary serves again:
 * an operation fails for at most LF_SHARED_LOCK_WAIT + LF_SHARED_WEDGED s
 * after its holder stops. A holder stopped by a debugger is left alone. */
#define LF_MAX_SHARED           64
#define LF_SHARED_NAME_MAX      63
#define LF_SHARED_MIN           (16ULL * 1024)
#define LF_SHARED_MAX           (16ULL * 1024 * 1024 * 1024)
#define LF_SHARED_KEY_MAX       65535
#define LF_SHARED_LOCK_WAIT     10              /* s */
#define LF_SHARED_LOCK_WEDGED_WAIT 1            /* s */
#define LF_SHARED_WEDGED        10              /* s */

/* luafcgid.session: a secret is at least this long, a secret file holds
 * at most this many and this many bytes; a session kept in its cookie
 * must fit a cookie (browsers keep 4096 bytes a cookie). */
#define LF_SESSION_SECRET_MIN   32
#define LF_SESSION_SECRETS      16
#define LF_SESSION_FILE_MAX     65536
#define LF_SESSION_COOKIE_MAX   4096

/* ngx.re: a match's steps (PCRE2's match limit) at most, PCRE's default and
 * so OpenResty's; fewer when the request's deadline is near, at the rate
 * below (steps per ms, more than any machine does: a match is cut at the
 * deadline, not before). Patterns kept per state with "o"
 * (lua_regex_cache_max_entries' default). */
#define LF_NGX_RE_MATCH_LIMIT   10000000
#define LF_NGX_RE_STEPS_PER_MS  100000
#define LF_NGX_RE_CACHE_MAX     1024

/* ngx.timer: callbacks waiting and running at most (lua_max_pending_timers
 * and lua_max_running_timers' defaults); each running one has a thread,
 * made when one is due and none is free, gone after LF_NGX_TIMER_IDLE_MS
 * without work. */
#define LF_DEFAULT_TIMER_MAX_PENDING 1024
#define LF_DEFAULT_TIMER_MAX_RUNNING 256
#define LF_MAX_TIMER_PENDING    1000000
#define LF_MAX_TIMER_RUNNING    1024
#define LF_NGX_TIMER_IDLE_MS    10000

/* ngx.config.ngx_lua_version: the version of OpenResty's API offered
 * (lua-nginx-module 0.10.23, Debian 12's, the reference of the tests). */
#define LF_NGX_LUA_VERSION      10023

/* ngx.config.nginx_version: the nginx that ngx_lua version runs in, and
 * whose behaviour the answers follow (Debian 12's nginx 1.22.1, encoded as
 * nginx encodes it: major * 1000000 + minor * 1000 + patch). */
#define LF_NGX_NGINX_VERSION    1022001

/* Sockets (src/net/): the defaults of the socket_* keys, as ngx_lua's
 * lua_socket_* directives (timeouts in s; the API takes ms), the most keys
 * the connection pool tracks, how many light
 * threads one request may spawn, and the read buffer's first size. */
#define LF_DEFAULT_SOCKET_TIMEOUT   60          /* s: connect, send and read */
#define LF_DEFAULT_SOCKET_KEEPALIVE 60          /* s: an idle pooled connection */
#define LF_DEFAULT_SOCKET_POOL_SIZE 30          /* idle connections per key */
#define LF_DEFAULT_SOCKET_POOL_MAX  512         /* idle connections in all */
#define LF_DEFAULT_SSL_VERIFY_DEPTH 1
#define LF_NET_POOL_KEYS        1024
#define LF_NET_THREADS          4096
#define LF_NET_NEST             8       /* light threads waiting in place (under a pcall), nested */
#define LF_NET_ADMIT_MS         10      /* a connect under backlog looks for its turn */
#define LF_NET_READ_CHUNK       4096
#define LF_NET_UDP_DATAGRAM     65536   /* udp receive's default and largest size (ngx_lua's) */

/* Longest line the logger formats; longer messages are cut. */
#define LF_LOG_LINE_MAX         4096

#endif
