/* wire.h: the FastCGI record layer under libfcgi (see src/wire.c). */
#ifndef LF_WIRE_H
#define LF_WIRE_H

#include <stddef.h>

/* One connection's request as it passes through; owned by one worker. */
struct wire {
    int             fd;
    int             worker;         /* for log lines */
    const char     *script;         /* for log lines; NULL until known */
    const char     *reqid;          /* the request id, for log lines; NULL until known */
    long long       deadline;       /* ms (pool_now_ms) the request's I/O must end by; 0: none */
    long long       paused_left;    /* while the handler runs: ms left on the clock */
    int             paused;
    int             client_timeout; /* s; 0: no limit */
    size_t          maxparams;
    size_t          maxread;        /* bytes one request may send: maxparams + maxpost + framing */
    size_t          total;          /* bytes read for it so far */
    /* record framing of the bytes read so far */
    unsigned char   head[8];
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
};

#define WIRE_DRAINED   0
#define WIRE_TOO_BIG   (-1)
#define WIRE_BROKEN    (-2)

void wire_begin(struct wire *w, int fd, int worker, int client_timeout, size_t maxparams,
                size_t maxpost);
void wire_end(struct wire *w);
void wire_pause(struct wire *w);
void wire_resume(struct wire *w);
int  wire_can_keep(const struct wire *w);
int  wire_drain(struct wire *w, size_t max);
int  wire_feed(struct wire *w, const unsigned char *p, size_t n);
int  wire_check(void);

#endif
