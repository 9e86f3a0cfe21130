/*
 * dispatch_mgmt.c: management records before a request, answered by the
 * dispatcher.
 *
 * HAProxy asks FCGI_GET_VALUES on a new connection, and may between
 * requests. Handed to a worker, such a connection raced its own request:
 * what of it came between the dispatcher's look and the worker's read was
 * read with the records, and the worker then waited in libfcgi for the
 * rest, until client_timeout; a client that did so on a few dozen
 * connections held every worker. So the dispatcher takes the whole
 * management records a connection begins with (fcgi_mgmt_lead) off the
 * socket itself, exactly their bytes, and answers them; what comes after
 * them is looked at as any request is (dispatch_whole.c). Records it will
 * not answer (more than a round's, malformed) go to a worker, which
 * refuses them, logged, and closes. The answers are a few dozen bytes a
 * record, written without waiting: a client that does not read them is
 * closed.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "luafcgid.h"
#include "dispatch_impl.h"
#include "fcgi_record.h"
#include "log.h"
#include "wire.h"

#define DISPATCH_MGMT_ROOM (WIRE_MGMT_RECORDS_MAX * (FCGI_HEADER_LEN + WIRE_MGMT_MAX + FCGI_ALIGN))

/* The N bytes peeked on FD (d->peekbuf) are whole management records:
 * take them off the socket and answer them. DISPATCH_MGMT_ANSWERED,
 * DISPATCH_MGMT_NOT_OURS (nothing read: a worker's to refuse) or
 * DISPATCH_MGMT_FAILED (the caller closes FD). Lock held. */
int
dispatch_mgmt(struct dispatch *d, int fd, size_t n)
{
    unsigned char out[DISPATCH_MGMT_ROOM];
    ssize_t len = wire_mgmt_answer(d->peekbuf, n, d->workers + d->keepalive_max, out, sizeof(out));
    ssize_t got, sent = -1;

    if (len < 0)
        return DISPATCH_MGMT_NOT_OURS;
    do
        got = recv(fd, d->peekbuf, n, MSG_DONTWAIT);
    while (got < 0 && errno == EINTR);
    if (got == (ssize_t)n) {
        do
            sent = send(fd, out, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (sent < 0 && errno == EINTR);
    }
    if (sent == len)
        return DISPATCH_MGMT_ANSWERED;
    log_debug("dispatcher: fd %d: management records not answered (%s); the connection is closed",
              fd, got != (ssize_t)n ? "not read" : sent < 0 ? strerror(errno) : "the client reads no more");
    return DISPATCH_MGMT_FAILED;
}
