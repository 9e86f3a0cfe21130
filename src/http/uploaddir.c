/*
 * uploaddir.c: the directory of a serving process's upload files.
 *
 * req:form()'s temp files (and ngx.req.read_body()'s) go into
 * <upload_dir>/luafcgid-<pid>-<random>, one directory per serving process,
 * made 0700 when the first file is. A request removes its own files when
 * it ends (upload_cleanup); what a request could not remove because its
 * process died (SIGKILL, a crash in a C module) goes with the directory,
 * which the serving process removes when it stops and the supervisor when
 * it reaps it, however it ended. Without this, each such death left its
 * files in upload_dir for good.
 *
 * upload_dir may be a shared /tmp, where anyone may make a name first. So
 * the directory's name ends in 24 random hex digits, drawn when the
 * process makes it: a local user cannot make it before us, as one could
 * luafcgid-<pid> and so fail every upload of that process. A name made by
 * someone else all the same (not a directory, a symlink, not ours, open
 * to others) is never used: another is drawn. Removal reads upload_dir
 * for the names of that pid (the supervisor does not know the random
 * part), opens each without following a symlink, checks its owner, and
 * unlinks only our file names in it, through that descriptor; it also
 * takes what an earlier process of the same pid left (a crash, then a
 * reboot with a kept /tmp).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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
#define UPDIR_PREFIX        "luafcgid-"
#define UPDIR_NAME_RANDOM   ((size_t)12)    /* random bytes in a file's or directory's name */
#define UPDIR_TRIES         8       /* names tried before giving up */

/* This process's directory once made (its path, empty before), and the
 * upload_dir it is in (a reload may change it); guarded by dir_lock, as
 * every worker may make it. Held across mkdir and lstat only. */
static pthread_mutex_t dir_lock = PTHREAD_MUTEX_INITIALIZER;
static char dir_made[PATH_MAX];
static char dir_base[PATH_MAX];

static const char *
uploaddir_base(const struct conf *c)
{
    const char *d = c->upload_dir;

    if (d == NULL || *d == '\0')
        d = getenv("TMPDIR");
    return d != NULL && *d != '\0' ? d : "/tmp";
}

/* LEN random bytes as hex digits into OUT (2 * LEN + 1 bytes); -1 when
 * no randomness is to be had. */
static int
uploaddir_random(char *out, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[UPDIR_NAME_RANDOM];
    size_t k;

    if (len > sizeof(rnd) || getentropy(rnd, len) < 0)
        return -1;
    for (k = 0; k < len; k++) {
        out[2 * k] = hex[rnd[k] >> 4];
        out[2 * k + 1] = hex[rnd[k] & 15];
    }
    out[2 * len] = '\0';
    return 0;
}

/* Ours and closed to others: safe to put files in. */
static int
uploaddir_is_ours(const struct stat *st, uid_t owner)
{
    return S_ISDIR(st->st_mode) && st->st_uid == owner && (st->st_mode & 077) == 0;
}

/* Is DIR_MADE still there, and ours? With dir_lock held. */
static int
uploaddir_still_ours(void)
{
    struct stat st;

    return dir_made[0] != '\0' && lstat(dir_made, &st) == 0 && uploaddir_is_ours(&st, geteuid());
}

/*
 * This process's directory in OUT, made now if it is not there yet (by
 * any of the workers, one at a time): 0, or -1 with errno, and the name
 * last tried in OUT. A name someone else made first is passed over.
 */
int
uploaddir_make(const struct conf *c, char *out, size_t len)
{
    const char *base = uploaddir_base(c);
    char rnd[UPDIR_NAME_RANDOM * 2 + 1];
    struct stat st;
    int i, n, rc = -1, err = EEXIST;

    pthread_mutex_lock(&dir_lock);
    if (strcmp(dir_base, base) == 0 && uploaddir_still_ours()) {
        rc = 0;
        goto done;
    }
    for (i = 0; i < UPDIR_TRIES; i++) {
        if (uploaddir_random(rnd, UPDIR_NAME_RANDOM) < 0) {
            err = errno;
            break;
        }
        n = snprintf(dir_made, sizeof(dir_made), "%s/" UPDIR_PREFIX "%ld-%s", base, (long)getpid(), rnd);
        if (n < 0 || (size_t)n >= sizeof(dir_made)) {
            err = ENAMETOOLONG;
            break;
        }
        if (mkdir(dir_made, 0700) < 0) {
            if ((err = errno) != EEXIST)
                break;
            continue;           /* made by someone else first: another name */
        }
        if (lstat(dir_made, &st) == 0 && uploaddir_is_ours(&st, geteuid())) {
            snprintf(dir_base, sizeof(dir_base), "%s", base);
            rc = 0;
            break;
        }
        err = EEXIST;
    }
done:
    if ((size_t)snprintf(out, len, "%s", dir_made) >= len && rc == 0) {
        rc = -1;
        err = ENAMETOOLONG;
    }
    if (rc < 0)
        dir_made[0] = '\0';
    pthread_mutex_unlock(&dir_lock);
    if (rc < 0)
        errno = err;
    return rc;
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
    char dir[PATH_MAX] = "", name[UPDIR_NAME_RANDOM * 2 + 1];
    int i, fd;

    if (uploaddir_make(c, dir, sizeof(dir)) < 0)
        goto fail;
    for (i = 0; i < UPDIR_TRIES; i++) {
        if (uploaddir_random(name, UPDIR_NAME_RANDOM) < 0)
            goto fail;
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

/* Remove the directory NAME in the upload_dir open on BASE (at PATH), if
 * it is OWNER's, with our files in it. */
static void
uploaddir_remove_one(int base, const char *path, const char *name, uid_t owner)
{
    char full[PATH_MAX];
    struct stat st;
    int fd;

    snprintf(full, sizeof(full), "%s/%s", path, name);
    if ((fd = openat(base, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
            log_syserr("opening upload directory %s", full);
        return;
    }
    if (fstat(fd, &st) < 0) {
        log_syserr("upload directory %s", full);
        close(fd);
        return;
    }
    if (!uploaddir_is_ours(&st, owner)) {
        log_warn("upload directory %s is not the serving process's: left alone", full);
        close(fd);
        return;
    }
    uploaddir_empty(fd, full);
    if (unlinkat(base, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        log_syserr("removing upload directory %s", full);
}

/* Remove the directories of the serving process PID, which ran as OWNER,
 * with the files its requests left: every luafcgid-PID-<random> in
 * upload_dir. Nothing made: nothing to do. */
void
uploaddir_remove(const struct conf *c, pid_t pid, uid_t owner)
{
    const char *path = uploaddir_base(c);
    char prefix[64];
    struct dirent *e;
    size_t plen;
    DIR *d;

    snprintf(prefix, sizeof(prefix), UPDIR_PREFIX "%ld-", (long)pid);
    plen = strlen(prefix);
    if ((d = opendir(path)) == NULL) {
        if (errno != ENOENT)
            log_syserr("reading upload_dir %s", path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        /* exactly our names: the prefix, then the random hex digits */
        if (strncmp(e->d_name, prefix, plen) != 0 ||
            strlen(e->d_name + plen) != UPDIR_NAME_RANDOM * 2 ||
            strspn(e->d_name + plen, "0123456789abcdef") != UPDIR_NAME_RANDOM * 2)
            continue;
        uploaddir_remove_one(dirfd(d), path, e->d_name, owner);
    }
    closedir(d);
    if (pid == getpid()) {
        pthread_mutex_lock(&dir_lock);
        dir_made[0] = '\0';
        pthread_mutex_unlock(&dir_lock);
    }
}
