/*
 * wire_check.c: the start-up proof that libfcgi reads through the record
 * layer.
 *
 * wire.c interposes libfcgi's OS_Read and OS_Write by defining them in
 * the executable, which works only while libfcgi calls them through the
 * PLT (a shared libfcgi built without -Bsymbolic). Nothing at build time
 * can tell, so the daemon checks at start-up: libfcgi reads one request
 * from a socket pair, and the layer must have walked it to its end. It
 * refuses to start otherwise: its connections could not be kept safely.
 */
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "log.h"
#include "wire.h"
#include "wire_impl.h"

/*
 * At start-up: read one request with libfcgi from a socket pair and check
 * that its bytes passed through OS_Read above. 0 when they did.
 */
int
wire_check(void)
{
    static const unsigned char request[] = {
        1, 1, 0, 1, 0, 8, 0, 0,  0, 1, 1, 0, 0, 0, 0, 0,   /* BEGIN_REQUEST, keep */
        1, 4, 0, 1, 0, 0, 0, 0,                             /* empty PARAMS */
        1, 5, 0, 1, 0, 0, 0, 0,                             /* empty STDIN */
    };
    FCGX_Request f;
    struct wire w;
    int sv[2], rc;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        log_syserr("record layer check: socketpair");
        return -1;
    }
    if (write(sv[1], request, sizeof(request)) != (ssize_t)sizeof(request)) {
        log_syserr("record layer check: write");
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    FCGX_InitRequest(&f, -1, 0);
    wire_begin(&w, sv[0], 0, 5, 1024, 1024);
    f.ipcFd = sv[0];
    f.keepConnection = 1;
    f.detached = 1;
    rc = FCGX_Accept_r(&f);
    if (rc == 0)
        FCGX_Finish_r(&f);
    rc = rc == 0 && w.request_id == 1 && w.ended ? 0 : -1;
    wire_end(&w);
    close(sv[0]);
    close(sv[1]);
    if (rc < 0)
        log_err("libfcgi does not read through luafcgid's record layer (a static or "
                "-Bsymbolic libfcgi?): connections could not be kept safely");
    return rc;
}
