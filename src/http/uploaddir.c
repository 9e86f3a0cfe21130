/*
 * uploaddir.c: the directory of a serving process's upload files.
 *
 * req:form()'s temp files (and ngx.req.read_body()'s) go into <upload_dir>/luafcgid-<pid>, one
 * directory per serving process, made 0700 when the first file is. A
 * request removes its own files when it ends (upload_cleanup); what a
 * request could not remove because its process died (SIGKILL, a crash in
 * a C module) goes with the directory, which the serving process removes
 * when it stops and the supervisor when it reaps it, however it ended.
 * Without this, each such death left its files in upload_dir for good.
 *
 * upload_dir may be a shared /tmp. A name made by someone else (not a
 * directory, a symlink, not ours, open to others) is refused, never used;
 * removal opens the directory without following a symlink, checks its
 * owner, and unlinks only our file names in it, through that descriptor.
 * A directory left by an earlier process of the same pid (a crash, then
 * a reboot with a kept /tmp) is ours and is taken over, files and all.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luafcgid.h"
#include "conf.h"
#include "log.h"
#include "uploaddir.h"

#define UPDIR_FILE_PREFIX   "luafcgid-upload-"
#define UPDIR_NAME_RANDOM   12      /* random bytes in a file's name */
#define UPDIR_TRIES         8       /* names tried before giving up */

static const char *
uploaddir_base(const struct conf *c)
{
    const char *d = c->upload_dir;

    if (d == NULL || *d == '\0')
        d = getenv("TMPDIR");
    return d != NULL && *d != '\0' ? d : "/tmp";
}

static int
uploaddir_path(const struct conf *c, pid_t pid, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/luafcgid-%ld", uploaddir_base(c), (long)pid);

    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Ours and closed to others: safe to put files in. */
static int
uploaddir_is_ours(const struct stat *st, uid_t owner)
{
    return S_ISDIR(st->st_mode) && st->st_uid == owner && (st->st_mode & 077) == 0;
}

/*
 * This process's directory in OUT, made now if it is not there yet (by
 * any of the workers: a race is harmless): 0, or -1 with errno (EEXIST
 * when the name is someone else's).
 */
int
uploaddir_make(const struct conf *c, char *out, size_t len)
{
    struct stat st;

    if (uploaddir_path(c, getpid(), out, len) < 0)
        return -1;
    if (mkdir(out, 0700) < 0 && errno != EEXIST)
        return -1;
    if (lstat(out, &st) < 0)
        return -1;
    if (!uploaddir_is_ours(&st, geteuid())) {
        errno = EEXIST;
        return -1;
    }
    return 0;
}

/*
 * A new temp file (write only, 0600) in this process's directory, its
 * name in PATH: the descriptor, or -1 with errno and the directory it
 * tried in PATH. For req:form()'s file
 * parts and ngx.req.read_body()'s bodies; the caller records it with the
 * request (upload_add_temp), which removes it when it ends.
 */
int
uploaddir_temp(const struct conf *c, char *path, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char dir[PATH_MAX] = "", name[UPDIR_NAME_RANDOM * 2 + 1];
    unsigned char rnd[UPDIR_NAME_RANDOM];
    size_t k;
    int i, fd;

    if (uploaddir_make(c, dir, sizeof(dir)) < 0)
        goto fail;
    for (i = 0; i < UPDIR_TRIES; i++) {
        if (getentropy(rnd, sizeof(rnd)) < 0)
            goto fail;
        for (k = 0; k < sizeof(rnd); k++) {
            name[2 * k] = hex[rnd[k] >> 4];
            name[2 * k + 1] = hex[rnd[k] & 15];
        }
        name[sizeof(name) - 1] = '\0';
        if (snprintf(path, len, "%s/" UPDIR_FILE_PREFIX "%s", dir, name) >= (int)len) {
            errno = ENAMETOOLONG;
            goto fail;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            goto fail;
    }
fail:
    i = errno;
    snprintf(path, len, "%s", dir);
    errno = i;
    return -1;
}

/* Unlink our files in the directory open on FD; it is closed. */
static void
uploaddir_empty(int fd, const char *path)
{
    DIR *d = fdopendir(fd);
    struct dirent *e;

    if (d == NULL) {
        log_syserr("reading upload directory %s", path);
        close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, UPDIR_FILE_PREFIX, sizeof(UPDIR_FILE_PREFIX) - 1) != 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
            log_syserr("removing upload %s/%s", path, e->d_name);
    }
    closedir(d);
}

/* Remove the directory of the serving process PID, which ran as OWNER,
 * with the files its requests left. Nothing made: nothing to do. */
void
uploaddir_remove(const struct conf *c, pid_t pid, uid_t owner)
{
    char path[PATH_MAX];
    struct stat st;
    int fd;

    if (uploaddir_path(c, pid, path, sizeof(path)) < 0)
        return;
    if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        if (errno != ENOENT)
            log_syserr("opening upload directory %s", path);
        return;
    }
    if (fstat(fd, &st) < 0) {
        log_syserr("upload directory %s", path);
        close(fd);
        return;
    }
    if (!uploaddir_is_ours(&st, owner)) {
        log_warn("upload directory %s is not the serving process's: left alone", path);
        close(fd);
        return;
    }
    uploaddir_empty(fd, path);
    if (rmdir(path) < 0 && errno != ENOENT)
        log_syserr("removing upload directory %s", path);
}
