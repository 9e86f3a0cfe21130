/*
 * worker_impl.h: the workers' insides, shared by worker.c (start, the
 * request loop, stop), worker_conn.c (a connection's requests) and
 * worker_replace.c (a written-off worker replaced, and ended if it comes
 * back) only.
 */
#ifndef LF_WORKER_IMPL_H
#define LF_WORKER_IMPL_H

#include <pthread.h>

#include "request.h"
#include "wire.h"
#include "workdir.h"
#include "writeoff.h"

#define WORKER_SCRIPT_LOG  1024   /* bytes of a script's name kept for log lines */

struct dispatch;
struct pool;

struct worker {
    pthread_t        thread;
    int              started;
    unsigned         seed;
    struct dispatch *dispatch;
    struct request   req;
    struct wire      wire;      /* the connection being served */
    struct workdir   workdir;   /* its own working directory */
    char             script[WORKER_SCRIPT_LOG];  /* its script, for the drain's log lines */
    int              keep;      /* the request being served asked to keep its connection */
    size_t           maxpost;   /* and its maxpost, for the drain */
    size_t           carried;   /* bytes of a request pipelined, its next one's first (wire_carry) */
    int              next_fd;   /* after req:finish(): the connection to serve next; -1 */
    struct writeoff  writeoff;   /* its runs of scripts, watched (req.writeoff) */
    /* written off (worker_replace.c) */
    struct worker   *next_off;
    int              stuck_handle;  /* its entry on the status page */
    long long        off_ms;        /* when, monotonic */
};

/*
 * The workers, defined in worker.c. lock guards, once they run, the
 * pointers in slots (the housekeeper puts a new worker where one was
 * written off), the written-off list and joining; the workers behind
 * the pointers are their threads' own. dispatch and pool are set at
 * start-up and read-only after.
 */
struct worker_set {
    pthread_mutex_t  lock;
    struct worker  **slots;     /* workers 1..n at 0..n-1, the service thread last */
    int              nslots;
    struct worker   *off;       /* written off, their threads still stuck */
    int              noff;
    struct worker   *spare;     /* made ahead, for the next replacement */
    int              joining;   /* stopping: no more replacements */
    int              capped;    /* `workers` stuck: none more written off (said once) */
    int              stopping;  /* a stop waits for the workers: no cap */
    struct dispatch *dispatch;
    struct pool     *pool;
};

extern struct worker_set worker_set;

/* worker.c */
struct worker *worker_new(int number);
void worker_free(struct worker *w);
int  worker_launch(struct worker *w);
void worker_running(int delta);

/* worker_conn.c: serve FD's requests; 1 when W was written off (it is
 * gone: its thread must end at once) */
int  worker_serve(struct worker *w, int fd);
void worker_end_early(struct request *r);   /* its request's end_early */

/* worker_replace.c */
void worker_retire(struct worker *w, int fd);

#endif
