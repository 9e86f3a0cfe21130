/* wire.h: the FastCGI record layer under libfcgi (see wire.c). */
#ifndef LF_WIRE_H
#define LF_WIRE_H

#include <stddef.h>

#include <sys/types.h>

#include <fastcgi.h>

#define WIRE_MGMT_MAX       512     /* bytes of FCGI_GET_VALUES content taken */
#define WIRE_REJECTED_MAX   8       /* other request ids refused on one connection */
#define WIRE_MGMT_RECORDS_MAX 16    /* management records answered for one request */
#define WIRE_FIRST_MAX      8192    /* a request's first read: libfcgi's reader buffer */
#define WIRE_AFTER_MAX      WIRE_FIRST_MAX  /* bytes read past a request's end, kept: a
                                             * read of libfcgi's, whole */
#define WIRE_WRITEOFF_ANSWER_MAX 4096 /* wire_writeoff()'s answer for a written-off worker */
#define WIRE_OUT_MAX        131072  /* an answer's bytes held to go out in one write */

/* One connection's request as it passes through; owned by one worker. */
struct wire {
    int             fd;
    int             worker;         /* for log lines */
    const char     *script;         /* for log lines; NULL until known */
    const char     *reqid;          /* the request id, for log lines; NULL until known */
    long long       deadline;       /* ms (monoclock_ms) the request's I/O must end by; 0: none */
    long long       paused_left;    /* while the handler runs: ms left on the clock */
    int             paused;
    /* while the handler runs, the time its own reads and writes wait on
     * the client (client_timeout's, not terminate_timeout's: writeoff.c
     * reads them from the housekeeper); atomic */
    int             in_handler;     /* between wire_pause and wire_resume */
    long long       io_ms;          /* spent, ms */
    long long       io_since;       /* one under way began (monotonic ms); 0: none */
    int             client_timeout; /* s; 0: no limit */
    size_t          maxparams;
    size_t          maxread;        /* bytes one request may send: maxparams + maxpost + framing */
    size_t          total;          /* bytes read for it so far */
    /* record framing of the bytes read so far */
    unsigned char   head[FCGI_HEADER_LEN];
    int             headlen;
    int             type;
    int             id;
    size_t          content_left;
    size_t          padding_left;
    int             stage;          /* where in its record sequence (wire.c) */
    int             request_id;     /* of the BEGIN_REQUEST; 0 until seen */
    unsigned char   role[2];        /* the BEGIN_REQUEST's role, as read */
    int             begin_got;      /* bytes of it read */
    int             last_record;    /* this record is the request's empty STDIN */
    /* FCGI_PARAMS of the request: record bytes and the declared pair lengths */
    size_t          params;
    size_t          declared;
    unsigned char   nv_len[4];
    int             nv_got;         /* bytes of the length being read */
    int             nv_lens;        /* lengths of the pair read (0..2) */
    size_t          nv_pair;        /* their sum */
    size_t          nv_skip;        /* name and value bytes still to pass */
    int             ended;          /* the request's records were read to their end */
    int             past_end;       /* and bytes after them were read too */
    int             failed;         /* over a limit, or too slow: must close */
    /* records the layer answers itself (wire_mgmt.c), never shown to libfcgi */
    int             maxconns;       /* answered as FCGI_MAX_CONNS and FCGI_MAX_REQS */
    int             aside;          /* the current record is one of them */
    int             held;           /* header bytes read but not yet given to libfcgi */
    unsigned char   mgmt[WIRE_MGMT_MAX];    /* an FCGI_GET_VALUES's content */
    size_t          mgmt_len;
    int             nmgmt;          /* management records answered for this request */
    int             rejected[WIRE_REJECTED_MAX];  /* other request ids, refused */
    int             nrejected;
    size_t          after_len;      /* bytes read past the request's end, in after */
    size_t          carried;        /* of after, the last request's: this one's first (wire_carried) */
    int             rest_id;        /* whose STDIN may come before the BEGIN_REQUEST (wire_rest.c) */
    size_t          rest_left;      /* and how many bytes of records */
    int             nrest;          /* such records dropped in this read */
    long long       rest_clock;     /* while the rest's clock runs: the request's own deadline */
    size_t          first_len;      /* bytes of the first read for libfcgi (wire_read_first) */
    size_t          first_at;       /* of them, given to it */
    int             holding;        /* libfcgi's writes are held in out (wire_hold) */
    size_t          out_len;        /* bytes held there */
    /* last: wire_begin() clears the struct up to here */
    unsigned char   first[WIRE_FIRST_MAX];
    unsigned char   after[WIRE_AFTER_MAX];  /* read past the request's end */
    unsigned char  *out;            /* WIRE_OUT_MAX bytes, made at the first hold */
};

#define WIRE_MGMT_IDLE 1    /* wire_read_first: only management records came */

#define WIRE_DRAINED   0
#define WIRE_TOO_BIG   (-1)
#define WIRE_BROKEN    (-2)
#define WIRE_PAUSED    1    /* wire_drain: the rest may come later; park (wire_rest.c) */

void wire_begin(struct wire *w, int fd, int worker, int client_timeout, size_t maxparams,
                size_t maxpost);
void wire_end(struct wire *w);
void wire_hold(struct wire *w, int on);
void wire_free(struct wire *w);
void wire_log_flush(int all);
void wire_pause(struct wire *w);
void wire_resume(struct wire *w);
long long wire_time_left(const struct wire *w);
long long wire_io_spent(const struct wire *w, long long now);
int  wire_can_keep(const struct wire *w);
int  wire_drain(struct wire *w, size_t max, int park);
int  wire_feed(struct wire *w, const unsigned char *p, size_t n);
int  wire_check(void);
int  wire_read_first(struct wire *w);
int  wire_mgmt_after(struct wire *w);
ssize_t wire_mgmt_answer(const unsigned char *in, size_t n, int maxconns, unsigned char *out,
                         size_t room);
int  wire_pipelined(const struct wire *w);
size_t wire_carry(const struct wire *w);
void wire_carried(struct wire *w, size_t n);
void wire_unserved(struct wire *w, const char *why);
size_t wire_framed(size_t n);
int  wire_writeoff(int fd, int id, const char *answer, size_t n);

#endif
