/*
 * logfile.c: the access log's and the slow log's file.
 *
 * Each line (a slow log entry: each entry) is one write(2) on a descriptor
 * opened with O_APPEND, so the kernel keeps lines from different workers
 * whole, and no lock serialises the workers. Reopening (USR1, HUP) opens
 * the file again by name and dup2()s it over the old descriptor: a worker
 * writing at that moment writes to the old file or the new one, never to
 * a closed descriptor. The file is opened by the serving process, after
 * privileges are dropped, so it belongs to `user`; a symlink is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "logfile.h"

static int
logfile_open_fd(const struct logfile *lf, const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);

    if (fd < 0) {
        if (errno == ELOOP)
            log_err("%s %s is a symbolic link; refusing it", lf->what, path);
        else
            log_syserr("cannot open %s %s", lf->what, path);
    }
    return fd;
}

/*
 * Open PATH (or, NULL, the path opened last) in place of what LF had.
 * Called from one thread only: start-up, then the signal loop. On failure
 * the old file stays in use.
 */
int
logfile_open(struct logfile *lf, const char *path)
{
    int fd, old = __atomic_load_n(&lf->fd, __ATOMIC_ACQUIRE);
    char *copy;

    if (path == NULL)
        path = lf->path;
    if (path == NULL)
        return 0;
    if ((copy = strdup(path)) == NULL) {
        log_syserr("cannot open %s %s", lf->what, path);
        return -1;
    }
    if ((fd = logfile_open_fd(lf, copy)) < 0) {
        free(copy);
        return -1;
    }
    if (old < 0)
        __atomic_store_n(&lf->fd, fd, __ATOMIC_RELEASE);
    else {
        if (dup2(fd, old) < 0) {
            log_syserr("cannot reopen %s %s", lf->what, copy);
            close(fd);
            free(copy);
            return -1;
        }
        close(fd);
    }
    free(lf->path);
    lf->path = copy;
    return 0;
}

/* One write of the whole line; when it fails the line is lost, and the
 * daemon's log says so. */
void
logfile_write(struct logfile *lf, const char *p, size_t n)
{
    int fd = __atomic_load_n(&lf->fd, __ATOMIC_ACQUIRE);
    ssize_t w;

    if (fd < 0)
        return;
    do
        w = write(fd, p, n);
    while (w < 0 && errno == EINTR);
    if (w < 0 || (size_t)w != n)
        log_syswarn("cannot write to the %s; a line is lost", lf->what);
}

void
logfile_close(struct logfile *lf)
{
    int fd = __atomic_exchange_n(&lf->fd, -1, __ATOMIC_ACQ_REL);

    if (fd >= 0)
        close(fd);
    free(lf->path);
    lf->path = NULL;
}
