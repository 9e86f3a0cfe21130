/*
 * wire_writeoff.c: the last words on a connection whose worker was written off.
 *
 * Part of the record layer (wire_impl.h), but it works on a descriptor,
 * not a struct wire: that is the stuck thread's.
 *
 * A request stuck in C past terminate_timeout (writeoff.c) gets its answer
 * from the housekeeper, not from its worker, which may never return: a
 * request that has sent nothing yet gets a whole FastCGI answer (STDOUT,
 * its end, END_REQUEST), and in every case the connection is shut down
 * both ways, so the web server reads the end at once and stops sending.
 * One send that does not wait: a web server that does not read gets the
 * shutdown alone, and reports a connection closed early (nginx: 502, or a
 * response cut short when some was sent).
 *
 * The descriptor is shut down, never closed: its number stays the stuck
 * thread's, which closes it if it ever returns, so a connection accepted
 * later can never be written to in its name.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "wire.h"
#include "wire_impl.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0      /* SIGPIPE is ignored anyway (main.c) */
#endif

/* Has the web server closed FD? Over TCP a send after its FIN still
 * succeeds (only the next one fails), so the socket is asked first. */
static int
wire_writeoff_gone(int fd)
{
#ifdef POLLRDHUP
    struct pollfd p;

    p.fd = fd;
    p.events = POLLRDHUP;
    p.revents = 0;
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
#else
    (void)fd;
    return 0;       /* the send's EPIPE tells, on a unix socket at least */
#endif
}

/*
 * End request ID on FD: ANSWER (N bytes, at most WIRE_WRITEOFF_ANSWER_MAX, a
 * CGI response) as its STDOUT when it is not NULL, then the shutdown. 1
 * when the answer went out whole, -1 when the web server had closed the
 * connection (it took none of it), 0 when only the shutdown went out.
 */
int
wire_writeoff(int fd, int id, const char *answer, size_t n)
{
    unsigned char out[WIRE_WRITEOFF_ANSWER_MAX + 4 * FCGI_HEADER_LEN + sizeof(FCGI_EndRequestBody)];
    FCGI_EndRequestBody end = { 0, 0, 0, 0, FCGI_REQUEST_COMPLETE, { 0 } };  /* app status 0 */
    size_t len = 0;
    ssize_t sent = -1;
    int gone = wire_writeoff_gone(fd);

    /* sent all the same: one that only shut its side down may still read */
    if (answer != NULL && n <= WIRE_WRITEOFF_ANSWER_MAX) {
        len += wire_mgmt_record(out + len, FCGI_STDOUT, id, (const unsigned char *)answer, n);
        len += wire_mgmt_record(out + len, FCGI_STDOUT, id, (const unsigned char *)&end, 0);
        len += wire_mgmt_record(out + len, FCGI_END_REQUEST, id, (const unsigned char *)&end,
                                sizeof(end));
        while ((sent = send(fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
            ;
        gone |= sent < 0 && (errno == EPIPE || errno == ECONNRESET);
    }
    if (shutdown(fd, SHUT_RDWR) < 0 && errno != ENOTCONN)
        log_syswarn("fd %d: cannot shut the connection of a written-off worker down", fd);
    return gone ? -1 : sent >= 0 && (size_t)sent == len;
}
