/* conf.h: luafcgid.conf, loaded into an immutable, reference-counted snapshot. */
#ifndef LF_CONF_H
#define LF_CONF_H

#include <stddef.h>
#include <sys/types.h>

struct lua_State;
struct acl;
struct sockaddr;

struct strlist {
    char  **items;
    int     count;
};

/* `shared`: the dictionaries, sorted by name. */
struct conf_shared {
    char               *name;
    unsigned long long  size;       /* bytes */
};

struct conf_shared_list {
    struct conf_shared *items;
    int                 count;
};

struct conf {
    int             refs;           /* guarded by the conf module's lock */
    unsigned long   serial;         /* which load of this process made it */
    char           *path;

    struct strlist  listen;         /* at least one, at most LF_MAX_LISTEN */
    int             listen_mode;
    char           *listen_owner;
    char           *listen_group;
    int             backlog;
    int             keepalive_timeout;
    int             keepalive_max;
    char           *user;
    char           *group;
    int             daemonize;
    char           *pidfile;
    char           *logfile;
    int             loglevel;
    int             upgrade_timeout;    /* s: USR2's new binary must serve by then */
    int             workers;
    int             states;
    int             clones;
    int             states_given;   /* states and clones as the file set them; */
    int             clones_given;   /* unset: worked out from workers (conf_check) */
    int             sweep;
    int             maxidle;
    int             maxrequests;
    int             retries;
    int             jitter;
    int             client_timeout;
    size_t          maxparams;
    int             timeout;
    int             terminate_timeout;  /* s; 0: never (unset: timeout + LF_TERMINATE_MARGIN) */
    int             max_written_off;
    size_t          max_rss;        /* bytes; 0: never */
    size_t          memory;
    size_t          maxpost;
    int             showerrors;
    int             buffering;
    int             ffi;            /* LuaJIT's ffi loadable: trusted code only */
    size_t          headersize;
    size_t          bodysize;
    char           *headers;
    char           *handler;
    char           *httpstatus;
    char           *contenttype;
    char           *docroot;
    struct strlist  extensions;
    struct strlist  preload;
    struct strlist  allowed_clients;
    struct acl     *acl;            /* allowed_clients, parsed */
    char           *status_path;
    char           *ping_path;
    char           *ping_response;
    char           *slowlog;
    int             slowtime;
    char           *access_log;
    char           *access_format;
    int             access_cpu;     /* access_log is set and access_format has %C */
    size_t          access_value_max;   /* a request value's cap in the line */
    size_t          upload_memory;
    char           *upload_dir;
    int             maxfields;
    struct conf_shared_list shared;
    int             socket_timeout;             /* s: a socket's connect, send, read */
    int             socket_keepalive_timeout;   /* s: setkeepalive's default */
    int             socket_pool_size;           /* idle connections kept per key */
    int             socket_pool_max;            /* idle connections kept in all */
    char           *ssl_trusted_certificate;    /* CA file for sslhandshake's verify */
    int             ssl_verify_depth;
    int             timer_max_pending;  /* ngx.timer callbacks waiting, at most */
    int             timer_max_running;  /* and running at once: the timer threads */
};

struct conf *conf_load(const char *path, char *err, size_t errlen);
void         conf_free(struct conf *c);
int          conf_push_value(struct lua_State *L, const struct conf *c, const char *name);
const char  *conf_restart_keys(const struct conf *old, const struct conf *new_conf);
int          conf_keep_restart(struct conf *new_conf, const struct conf *old, char *err,
                               size_t errlen);
const char  *conf_log_target(const struct conf *c, int foreground);
int          conf_log_changed(const struct conf *old, const struct conf *c);
uid_t        conf_uid(const char *name);
gid_t        conf_gid(const char *name);

void         conf_publish(struct conf *c);
struct conf *conf_acquire(void);
void         conf_release(struct conf *c);
int          conf_admit(const struct sockaddr *sa);
int          conf_readmit(int fd);

#endif
