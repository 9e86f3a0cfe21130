/* request.h: one FastCGI request, from parameters to the last byte out. */
#ifndef LF_REQUEST_H
#define LF_REQUEST_H

#include <fcgiapp.h>

#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "reqid.h"
#include "resolve.h"

struct conf;
struct lua_State;
struct pool;
struct slowlog_slot;
struct writeoff;
struct wire;

#define REQUEST_SERVICE 0           /* the service thread's number (worker.c) */
#define REQUEST_READ_CHUNK  ((size_t)64 * 1024)     /* the body is read in pieces of */
#define BODY_UNKNOWN        SIZE_MAX    /* body_want: no CONTENT_LENGTH to go by */

/* The CGI variables the request reads itself (NULL when not sent), taken
 * from libfcgi's environment in one pass: FCGX_GetParam walks all of it
 * for each name. */
struct request_vars {
    const char *script_filename;
    const char *document_root;
    const char *script_name;
    const char *path_info;
    const char *path_translated;
    const char *content_length;
    const char *request_method;
    const char *request_uri;
};

struct request {
    FCGX_Request    fcgx;
    int             worker;         /* for log lines; REQUEST_SERVICE: the service thread */
    struct pool    *pool;
    struct wire    *wire;           /* its connection's record layer; may be NULL */
    struct conf    *conf;           /* referenced for this request */
    struct request_vars vars;       /* as received, in libfcgi's environment */
    const char     *script;         /* the resolved SCRIPT_FILENAME, in res */
    struct resolve  res;            /* the script found from the CGI variables */
    struct buf      status;         /* "200 OK" */
    struct buf      ctype;          /* Content-Type value */
    struct buf      head;           /* the script's other header lines */
    struct buf      body;           /* buffered output */
    struct buf      post;           /* the request body */
    size_t          post_read;      /* of it, what req:read() has given */
    int             body_left;      /* some of the body is still on the connection */
    int             body_given;     /* some was given out without being kept */
    size_t          body_taken;     /* bytes the handler took from the connection */
    size_t          body_want;      /* CONTENT_LENGTH: no more is given (body.h) */
    struct buf      temps;          /* upload files to remove, NUL-ended names */
    int             temp_fd;        /* the file ngx.req.append_body writes, kept
                                     * open till the request ends; -1: none */
    struct buf      out;            /* the header block being sent */
    struct buf      params;         /* the parameters as one string, for env (reqenv.c) */
    int             headers_sent;
    int             has_length;     /* the script set Content-Length */
    int             client_gone;
    int             no_keep;        /* close the connection after this request */
    int             jitter;         /* the pause after this request, µs */
    /* for the access and slow logs */
    char            id[REQID_SIZE]; /* the request id, taken by the worker with the params */
    unsigned long long id_seq;      /* ids this worker made */
    long long       began_us;       /* monotonic, when its BEGIN_REQUEST was read */
    struct timespec began_at;       /* the same moment, wall clock */
    struct timespec cpu_user, cpu_system;   /* the thread's CPU time then */
    int             cpu_taken;      /* cpu_user and cpu_system were taken */
    size_t          memory;         /* the Lua state's peak bytes during it */
    struct slowlog_slot *slow;      /* its worker's slot while the slow log is on */
    int             error_kind;     /* enum counters_error of this request */
    /* req:finish(): the worker ends the FastCGI request while the handler
     * runs on (worker.c sets the hook once) */
    int             ended;          /* it did: nothing more goes out */
    void          (*end_early)(struct request *r);
    void           *end_arg;
    struct pool_state *state;       /* the state it runs in, while it has one */
    /* what a layer above adds to each new state (ngx_install); the worker's */
    void          (*state_install)(struct lua_State *L);
    /* its worker's watch for a script stuck in C past terminate_timeout
     * (writeoff.c, set by worker.c; NULL: none) */
    struct writeoff *writeoff;
    int             written_off;    /* this worker was, and touches nothing shared */
};

int  request_init(struct request *r, int worker, struct pool *pool);
void request_free(struct request *r);
void request_began(struct request *r, int cpu);
void request_reset(struct request *r);
void request_idle(struct request *r);
int  request_send_headers(struct request *r);
int  request_write(struct request *r, const char *p, size_t n);
int  request_flush(struct request *r);
void request_finish(struct request *r);
void request_error(struct request *r, int code, const char *reason);
void request_end_early(struct request *r);
int  request_page(struct buf *b, const char *status, const char *reason, int showerrors);
const char *request_status_text(int code);
int  request_check_header(const char *name, size_t nlen, const char *value, size_t vlen,
                          const char **why);

#endif
