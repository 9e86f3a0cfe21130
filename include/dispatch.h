/* dispatch.h: hands connections with a request waiting to free workers. */
#ifndef LF_DISPATCH_H
#define LF_DISPATCH_H

struct dispatch;
struct listeners;

/* Is the request waiting on fd the service thread's to serve? */
#define DISPATCH_PEEK_NOT   0   /* no: a worker's */
#define DISPATCH_PEEK_OURS  1   /* yes, and all of it is there */
#define DISPATCH_PEEK_LATER 2   /* not known, or not all there yet: look again */
#define DISPATCH_PEEK_GONE  3   /* the client hung up with nothing sent: close it */
typedef int (*dispatch_peek_fn)(int fd);

struct dispatch_counts {
    int parked;     /* kept connections waiting for their next request */
    int ready;      /* connections with a request, waiting for a worker */
    int leader;     /* 1 while a worker polls */
};

struct dispatch *dispatch_new(const struct listeners *ls, int workers);
#define DISPATCH_STOP (-1)
#define DISPATCH_IDLE (-2)

int   dispatch_next(struct dispatch *d, int idle_ms);
int   dispatch_service_next(struct dispatch *d, dispatch_peek_fn peek);
void  dispatch_park(struct dispatch *d, int fd);
int   dispatch_keep_begin(struct dispatch *d);
void  dispatch_keep_end(struct dispatch *d, int fd);
void  dispatch_configure(struct dispatch *d, int keepalive_timeout, int keepalive_max, int new_max,
                         int client_timeout);
void  dispatch_stop(struct dispatch *d, int hand_over);
void  dispatch_destroy(struct dispatch *d);
void  dispatch_counts(struct dispatch *d, struct dispatch_counts *out);

#endif
