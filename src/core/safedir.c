/*
 * safedir.c: directories luafcgid writes into as root (the log's, the
 * pidfile's, the socket's).
 *
 * O_NOFOLLOW on a file only covers its last component: whoever can put a
 * symlink where its directory should be makes root create, write and chown
 * a file in any directory. So a file is opened relative to a descriptor of
 * its directory, opened with O_DIRECTORY|O_NOFOLLOW (a symlinked directory
 * is refused outright, it would hand the choice of place to the symlink's
 * owner), and the directory is checked on that descriptor: owned by root,
 * by us or by a user the caller names, and not writable by others, who
 * could otherwise swap the file between our checks.
 *
 * A file opened in such a directory is checked on its descriptor too
 * (safedir_check_file): a regular file with one link.
 *
 * A directory luafcgid makes itself (the run directory) stays root's:
 * the supervisor, which keeps root, removes the socket and the pidfile on
 * stop, and a script running as `user` cannot replace the socket in it.
 *
 * A path root uses without opening it here (the socket's, the binary USR2
 * runs) is checked up to "/": a stranger who may rename an ancestor can put
 * a directory of their own in its place (safedir_check_ancestors).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safedir.h"
#include "log.h"

/* Copy PATH's directory into DIR ("." when it has none); its last
 * component, or NULL when DIR is too small (logged). */
const char *
safedir_split(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (slash == NULL) {
        snprintf(dir, size, ".");
        return path;
    }
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= size) {
        log_err("path %s is too long", path);
        return NULL;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    return slash + 1;
}

/* Open DIR (not through a symlink) and check that nobody but root, us or
 * ALSO can change what is in it; the descriptor, or -1 (logged, naming
 * WHAT), with errno ENOENT when it is missing. */
int
safedir_open(const char *dir, uid_t also, const char *what)
{
    struct stat sb;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        int err = errno;
        struct stat lsb;
        /* Linux says ENOTDIR for a symlink under O_DIRECTORY|O_NOFOLLOW */
        if ((err == ELOOP || err == ENOTDIR) && lstat(dir, &lsb) == 0 && S_ISLNK(lsb.st_mode))
            log_err("%s %s is a symbolic link; refusing it", what, dir);
        else if (err != ENOENT)
            log_syserr("cannot open %s %s", what, dir);
        errno = err;
        return -1;
    }
    if (fstat(fd, &sb) < 0) {
        log_syserr("cannot check %s %s", what, dir);
        goto fail;
    }
    if (sb.st_uid != 0 && sb.st_uid != geteuid() && sb.st_uid != also) {
        log_err("%s %s belongs to uid %ld, not to root or the daemon's user; refusing it",
                what, dir, (long)sb.st_uid);
        goto fail;
    }
    if (sb.st_mode & S_IWOTH) {
        log_err("%s %s is world-writable; refusing it", what, dir);
        goto fail;
    }
    return fd;
fail:
    close(fd);
    errno = EPERM;
    return -1;
}

/* A file opened for writing must be a plain file with one name: a FIFO
 * would block its writer, a device or a hard link planted by whoever owns
 * the directory would make us write some other file. 0, or -1 (logged,
 * naming WHAT). */
int
safedir_check_file(int fd, const char *path, const char *what)
{
    struct stat sb;

    if (fstat(fd, &sb) < 0) {
        log_syserr("cannot check %s %s", what, path);
        return -1;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
        log_err("%s %s is not a regular file with a single link; refusing it", what, path);
        return -1;
    }
    return 0;
}

/* Make DIR (0755) when missing; 0, or -1 (logged). */
int
safedir_make(const char *dir, const char *what)
{
    if (mkdir(dir, 0755) < 0) {
        if (errno == EEXIST)
            return 0;
        log_syserr("cannot make the directory %s (the %s)", dir, what);
        return -1;
    }
    log_notice("made %s %s", what, dir);
    return 0;
}

/* May UID own a directory root relies on? root, us, `user` (USER). */
static int
safedir_trusted_owner(uid_t user, uid_t uid)
{
    return uid == 0 || uid == geteuid() || uid == user;
}

/* May the group GID write there? root's, or the daemon's own `group`
 * (GROUP, (gid_t)-1 when none). */
static int
safedir_trusted_group(gid_t group, gid_t gid)
{
    return gid == 0 || (group != (gid_t)-1 && gid == group);
}

/* 1 when a stranger could change the entry SB at PATH (add, remove or
 * rename entries of a directory; write a file): an untrusted owner, or
 * write for others or an untrusted group; STICKY_OK lets others write
 * where only an entry's owner may remove it (/tmp as an ancestor: nobody
 * can rename ours away). USER and GROUP are the daemon's `user` and
 * `group` ((uid_t)-1, (gid_t)-1 when unset), whom root trusts as itself.
 * Logged as WHAT, saying WHY it matters. */
int
safedir_open_to_strangers(uid_t user, gid_t group, const char *path, const struct stat *sb,
                          int sticky_ok, const char *what, const char *why)
{
    int sticky = sticky_ok && (sb->st_mode & S_ISVTX);

    if (!safedir_trusted_owner(user, sb->st_uid)) {
        log_err("%s: %s belongs to uid %ld, not to root or the daemon's user; %s", what, path,
                (long)sb->st_uid, why);
        return 1;
    }
    if (((sb->st_mode & S_IWOTH) ||
         ((sb->st_mode & S_IWGRP) && !safedir_trusted_group(group, sb->st_gid))) && !sticky) {
        log_err("%s: %s is writable by %s; %s", what, path,
                (sb->st_mode & S_IWOTH) ? "everyone" : "its group", why);
        return 1;
    }
    return 0;
}

/* Check every ancestor of PATH (not PATH itself), as
 * safedir_open_to_strangers() with sticky ones allowed; 0, or -1 (logged). */
int
safedir_check_ancestors(uid_t user, gid_t group, const char *path, const char *what,
                        const char *why)
{
    char prefix[PATH_MAX];
    const char *p;
    struct stat sb;

    if (path[0] != '/' || strlen(path) >= sizeof(prefix))
        return 0;   /* relative: its ancestors are the working directory's */
    for (p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
        memcpy(prefix, path, (size_t)(p - path));
        prefix[p - path] = '\0';
        if (stat(prefix, &sb) < 0) {
            if (errno == ENOENT)
                return 0;   /* what uses the path fails, and says so */
            log_syserr("%s: %s", what, prefix);
            return -1;
        }
        if (safedir_open_to_strangers(user, group, prefix, &sb, 1, what, why))
            return -1;
    }
    if (stat("/", &sb) < 0 || safedir_open_to_strangers(user, group, "/", &sb, 1, what, why))
        return -1;
    return 0;
}
