/*
 * epoll-c.c: the FastCGI hop's physical limit, for the benchmarks.
 *
 * What a request through nginx costs when the responder itself costs
 * almost nothing: one thread, one epoll set, one read and one send a
 * request, and an answer built once at start ("hello\n", text/plain)
 * with only the request id patched in. No Lua, no libfcgi, no allocation
 * per request (one buffer a connection). Whatever req/s this reaches
 * behind nginx is the ceiling of the hop on the machine; luafcgid's hello
 * is measured against it in the same run (bench/run's `limit` and, with
 * nginx's kept connections, `limit+ka`).
 *
 * It reads the records it needs and skips the rest: BEGIN_REQUEST for the
 * request id and FCGI_KEEP_CONN, the empty STDIN that ends a request (the
 * answer goes then), ABORT_REQUEST (an END_REQUEST at once). PARAMS and
 * the body are skipped unread. A connection without FCGI_KEEP_CONN is
 * closed once it is answered, as the protocol asks. An answer the socket
 * does not take whole waits for EPOLLOUT; the connection reads nothing
 * more meanwhile (nginx sends one request at a time on a connection).
 *
 * Linux only (epoll); bench/run skips the limit backends elsewhere.
 *
 *   epoll-c SOCKET
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FCGI_HEADER             8
#define FCGI_BEGIN_REQUEST      1
#define FCGI_ABORT_REQUEST      2
#define FCGI_END_REQUEST        3
#define FCGI_STDIN              5
#define FCGI_STDOUT             6
#define FCGI_KEEP_CONN          1

/* the largest record: a header, 65535 bytes of content, 255 of padding */
#define CONN_BUFFER             (FCGI_HEADER + 65535 + 255)
#define EVENTS                  64
#define ANSWER_MAX              128

struct conn {
    int fd;
    int keep;                   /* FCGI_KEEP_CONN of the current request */
    size_t have;                /* bytes in in[] not consumed yet */
    const unsigned char *out;   /* the unsent rest of an answer, or NULL */
    size_t out_left;
    unsigned char rest[ANSWER_MAX];     /* where that rest waits: answer[] changes */
    unsigned char in[CONN_BUFFER];
};

static int epoll_fd;

/* STDOUT (headers and "hello\n"), an empty STDOUT, END_REQUEST: built
 * once, the request id at bytes 2-3 of each record patched per request */
static unsigned char answer[ANSWER_MAX];
static size_t answer_len;
static unsigned char ended[FCGI_HEADER + 8];     /* END_REQUEST alone (abort) */

static unsigned char *
record_header(unsigned char *p, int type, size_t len, size_t pad)
{
    p[0] = 1;
    p[1] = (unsigned char)type;
    p[2] = 0;
    p[3] = 1;
    p[4] = (unsigned char)(len >> 8);
    p[5] = (unsigned char)len;
    p[6] = (unsigned char)pad;
    p[7] = 0;
    return p + FCGI_HEADER;
}

static unsigned char *
end_request(unsigned char *p)
{
    p = record_header(p, FCGI_END_REQUEST, 8, 0);
    memset(p, 0, 8);            /* app status 0, FCGI_REQUEST_COMPLETE */
    return p + 8;
}

static void
answer_build(void)
{
    static const char body[] = "Status: 200 OK\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 6\r\n\r\nhello\n";
    size_t len = sizeof(body) - 1, pad = (8 - len % 8) % 8;
    unsigned char *p = answer;

    p = record_header(p, FCGI_STDOUT, len, pad);
    memcpy(p, body, len);
    memset(p + len, 0, pad);
    p = record_header(p + len + pad, FCGI_STDOUT, 0, 0);
    p = end_request(p);
    answer_len = (size_t)(p - answer);
    end_request(ended);
}

/* Writes the request id into every record of an answer. */
static void
answer_set_id(unsigned char *a, size_t len, unsigned char hi, unsigned char lo)
{
    size_t off = 0;

    while (off + FCGI_HEADER <= len) {
        a[off + 2] = hi;
        a[off + 3] = lo;
        off += FCGI_HEADER + ((size_t)a[off + 4] << 8 | a[off + 5]) + a[off + 6];
    }
}

/* close() takes the descriptor out of the epoll set (nothing else holds
 * it): no EPOLL_CTL_DEL, one system call less a plain request. */
static void
conn_close(struct conn *c)
{
    close(c->fd);
    free(c);
}

/* Sends what is left of an answer: 1 when all of it went, 0 when the
 * socket is full (the rest is copied aside, the shared answer being
 * patched for the next request, and EPOLLOUT wakes us), -1 when the peer
 * is gone. */
static int
conn_flush(struct conn *c)
{
    while (c->out_left > 0) {
        ssize_t n = send(c->fd, c->out, c->out_left, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };

            if (c->out != c->rest) {
                memmove(c->rest, c->out, c->out_left);
                c->out = c->rest;
            }
            if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
                perror("epoll-c: epoll_ctl MOD");
                return -1;
            }
            return 0;
        }
        if (n <= 0)
            return -1;
        c->out += n;
        c->out_left -= (size_t)n;
    }
    c->out = NULL;
    return 1;
}

/* Sends a prepared answer; -1 closes the connection, 0 waits for
 * EPOLLOUT, 1 goes on reading. */
static int
conn_answer(struct conn *c, const unsigned char *a, size_t len)
{
    c->out = a;
    c->out_left = len;
    return conn_flush(c);
}

/* Consumes the complete records in the buffer, answering each request at
 * its empty STDIN. Returns as conn_answer; after 0 the records not yet
 * consumed stay until the answer is out. */
static int
conn_records(struct conn *c)
{
    size_t off = 0;
    int rc = 1;

    while (rc == 1 && c->have - off >= FCGI_HEADER) {
        const unsigned char *h = c->in + off;
        size_t len = (size_t)h[4] << 8 | h[5], whole = FCGI_HEADER + len + h[6];

        if (c->have - off < whole)
            break;
        if (h[1] == FCGI_BEGIN_REQUEST && len >= 3) {
            c->keep = h[FCGI_HEADER + 2] & FCGI_KEEP_CONN;
        } else if (h[1] == FCGI_STDIN && len == 0) {
            answer_set_id(answer, answer_len, h[2], h[3]);
            rc = conn_answer(c, answer, answer_len);
            if (rc == 1 && !c->keep)
                rc = -1;
        } else if (h[1] == FCGI_ABORT_REQUEST) {
            answer_set_id(ended, sizeof(ended), h[2], h[3]);
            rc = conn_answer(c, ended, sizeof(ended));
            if (rc == 1 && !c->keep)
                rc = -1;
        }
        off += whole;
    }
    memmove(c->in, c->in + off, c->have - off);
    c->have -= off;
    return rc;
}

/* A readable or writable connection; -1 to close it. */
static int
conn_event(struct conn *c, unsigned events)
{
    ssize_t n;

    if (c->out != NULL) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        int rc;

        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0)
            return 0;
        if ((rc = conn_flush(c)) != 1)
            return rc;
        if (!c->keep)
            return -1;
        if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
            perror("epoll-c: epoll_ctl MOD");
            return -1;
        }
        if (c->have > 0 && conn_records(c) < 0)
            return -1;
        return 0;
    }
    n = read(c->fd, c->in + c->have, sizeof(c->in) - c->have);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0)
        return -1;
    c->have += (size_t)n;
    return conn_records(c) < 0 ? -1 : 0;
}

/* One connection a wakeup: the listening socket is level-triggered, so
 * another waiting connection wakes epoll_wait again, and the common case
 * (one waiting) costs no accept4 that fails with EAGAIN. */
static void
accept_one(int listen_fd)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN };
    struct conn *c;

    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            perror("epoll-c: accept4");
        return;
    }
    if ((c = malloc(sizeof(*c))) == NULL) {
        perror("epoll-c: malloc");
        close(fd);
        return;
    }
    c->fd = fd;
    c->keep = 0;
    c->have = 0;
    c->out = NULL;
    c->out_left = 0;
    ev.data.ptr = c;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("epoll-c: epoll_ctl ADD");
        close(fd);
        free(c);
    }
}

static int
listen_on(const char *path)
{
    struct sockaddr_un a;
    int fd;

    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a.sun_path)) {
        fprintf(stderr, "epoll-c: socket path too long: %s\n", path);
        return -1;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (unlink(path) < 0 && errno != ENOENT) {
        fprintf(stderr, "epoll-c: cannot remove %s: %s\n", path, strerror(errno));
        return -1;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0
        || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0) {
        fprintf(stderr, "epoll-c: cannot listen on %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int
main(int argc, char **argv)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL }, events[EVENTS];
    int listen_fd, i, n;

    if (argc != 2) {
        fprintf(stderr, "usage: epoll-c SOCKET\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    answer_build();
    if ((listen_fd = listen_on(argv[1])) < 0)
        return 1;
    if ((epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
        perror("epoll-c: epoll");
        return 1;
    }
    for (;;) {
        if ((n = epoll_wait(epoll_fd, events, EVENTS, -1)) < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll-c: epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;

            if (c == NULL)
                accept_one(listen_fd);
            else if (conn_event(c, events[i].events) < 0)
                conn_close(c);
        }
    }
}
