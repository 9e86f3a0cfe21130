/*
 * scriptfile.c: a script's file, opened once, checked and loaded through
 * that descriptor.
 *
 * Checking a path and then loading the path leaves a window: the file can
 * become a symlink out of docroot, or a FIFO whose open() blocks the
 * worker for good. So a script is opened once, without blocking and
 * without leaking into children; what the descriptor is (a regular file)
 * and where it is (under docroot, by the kernel's name for it in
 * /proc/self/fd) are read from the descriptor, and the chunk is read from
 * it too. Its identity keys the state it is loaded into.
 *
 * A file's identity (struct file_id: device, inode, size, mtime to the
 * nanosecond) tells one version of a script from the next: the pool keeps
 * the one each state was loaded from and drops a state whose file no
 * longer has it, and the chunk cache keys compiled chunks by it.
 *
 * This happens only when a state is loaded. A request served by a loaded
 * state checks docroot by path (scriptfile_in_docroot) and its identity by
 * the one stat resolving made: what differs from the loaded state's file
 * gets a fresh load, which goes through here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "scriptfile.h"

struct scriptfile_reader {
    int     fd;
    int     started;        /* the first piece was seen */
    int     err;            /* errno of a failed read */
    char    buf[4096];
};

int
scriptfile_same_file(const struct file_id *a, const struct file_id *b)
{
    return a->ino == b->ino && a->dev == b->dev && a->size == b->size &&
           a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
           a->ino != 0;
}

/* Fill ID from SB; -1 with errno EISDIR (ID all zero) when it is no regular file. */
int
scriptfile_stat_id(const struct stat *sb, struct file_id *id)
{
    memset(id, 0, sizeof(*id));
    if (!S_ISREG(sb->st_mode)) {
        errno = EISDIR;
        return -1;
    }
    id->dev = sb->st_dev;
    id->ino = sb->st_ino;
    id->size = sb->st_size;
    id->mtime_sec = (long)sb->st_mtime;
#if defined(__APPLE__)
    id->mtime_nsec = sb->st_mtimespec.tv_nsec;
#else
    id->mtime_nsec = sb->st_mtim.tv_nsec;
#endif
    return 0;
}

/* Fill ID for PATH; -1 with errno when it cannot be stat'ed. */
int
scriptfile_file_id(const char *path, struct file_id *id)
{
    struct stat sb;

    memset(id, 0, sizeof(*id));
    if (stat(path, &sb) < 0)
        return -1;
    return scriptfile_stat_id(&sb, id);
}

/* True when the real path REAL lies under the real path ROOT. */
static int
scriptfile_under(const char *real, const char *root)
{
    size_t n = strlen(root);

    if (n == 1)
        return 1;       /* docroot "/" */
    return strncmp(real, root, n) == 0 && real[n] == '/';
}

/* True when PATH, as written, names something under DIR without a "..". */
static int
scriptfile_lexically_under(const char *path, const char *dir)
{
    const char *p;

    if (!scriptfile_under(path, dir))
        return 0;
    for (p = path; (p = strstr(p, "..")) != NULL; p += 2)
        if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
            return 0;
    return 1;
}

/*
 * With docroot, is the script at PATH under it? 1 yes, 0 no, -1 when it
 * does not exist and its path lies under docroot as written: a missing
 * file outside docroot is as forbidden as one that exists, so that the
 * answer says nothing about the files there.
 */
int
scriptfile_in_docroot(const char *path, const char *docroot)
{
    char real[PATH_MAX], root[PATH_MAX];

    if (docroot == NULL)
        return 1;
    if (realpath(path, real) != NULL)
        return realpath(docroot, root) != NULL && scriptfile_under(real, root);
    if (errno != ENOENT && errno != ENOTDIR)
        return 0;
    if (scriptfile_lexically_under(path, docroot))
        return -1;
    return realpath(docroot, root) != NULL && scriptfile_lexically_under(path, root) ? -1 : 0;
}

/*
 * Is the file open on FD (at PATH, stat SB) under DOCROOT? The kernel's
 * name for it is already a real path; a file replaced since it was opened
 * is named "PATH (deleted)", and what was open is still what it was.
 */
static int
scriptfile_fd_in_docroot(int fd, const char *path, const struct stat *sb, const char *docroot)
{
    static const char deleted[] = " (deleted)";
    char proc[64], real[PATH_MAX], root[PATH_MAX];
    struct stat rsb;
    ssize_t n;

    if (realpath(docroot, root) == NULL)
        return 0;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if ((n = readlink(proc, real, sizeof(real) - 1)) > 0 && real[0] == '/') {
        real[n] = '\0';
        if ((size_t)n > sizeof(deleted) - 1 && strcmp(real + n - (sizeof(deleted) - 1), deleted) == 0)
            real[n - (sizeof(deleted) - 1)] = '\0';
        return scriptfile_under(real, root);
    }
    /* no /proc: the real path must still name the file that is open */
    if (realpath(path, real) == NULL || stat(real, &rsb) < 0)
        return 0;
    return rsb.st_dev == sb->st_dev && rsb.st_ino == sb->st_ino && scriptfile_under(real, root);
}

/*
 * The HTTP status for a script that could not be opened or stat'ed with
 * ERR, as nginx answers for a static file: 404 for what is not there, 403
 * for what may not be read, and 500 for the rest (out of descriptors or
 * memory, an I/O error): the script is there, and a 404 would tell caches
 * and clients that it is gone.
 */
int
scriptfile_errno_status(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
    case EISDIR:            /* not a regular file (scriptfile_stat_id) */
        return 404;
    case EACCES:
    case ELOOP:
    case EMLINK:
        return 403;
    default:
        return 500;
    }
}

/*
 * Open the script at PATH to load it: its descriptor, its identity in ID;
 * or minus an HTTP status with WHY (404 not a regular file or missing, 403
 * outside DOCROOT or not readable, 500 when it cannot be opened now).
 */
int
scriptfile_open(const char *path, const char *docroot, struct file_id *id,
                char *why, size_t whylen)
{
    struct stat sb;
    int fd, status = 0;

    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -scriptfile_errno_status(errno);
    }
    if (fstat(fd, &sb) < 0) {
        snprintf(why, whylen, "cannot stat the open script: %s", strerror(errno));
        status = scriptfile_errno_status(errno);
    } else if (scriptfile_stat_id(&sb, id) < 0) {
        snprintf(why, whylen, "not a regular file");
        status = 404;
    } else if (docroot != NULL && !scriptfile_fd_in_docroot(fd, path, &sb, docroot)) {
        snprintf(why, whylen, "the script is outside docroot %s", docroot);
        status = 403;
    }
    if (status != 0) {
        close(fd);
        return -status;
    }
    return fd;
}

/* Skip a first line starting with '#', as luaL_loadfile does, its newline
 * kept so line numbers stay right. Returns where the chunk starts in B. */
static const char *
scriptfile_skip_comment(struct scriptfile_reader *rd, const char *b, size_t *size)
{
    const char *nl;

    if (rd->started == 2 || (rd->started == 0 && (*size == 0 || b[0] != '#'))) {
        rd->started = 2;
        return b;
    }
    rd->started = 1;
    if ((nl = memchr(b, '\n', *size)) == NULL) {
        *size = 0;      /* the whole piece is comment: read on */
        return b;
    }
    rd->started = 2;
    *size -= (size_t)(nl - b);
    return nl;
}

/* lua_load's reader over the descriptor. */
static const char *
scriptfile_read(lua_State *L, void *ud, size_t *size)
{
    struct scriptfile_reader *rd = ud;
    const char *p;
    ssize_t n;

    (void)L;
    do {
        do
            n = read(rd->fd, rd->buf, sizeof(rd->buf));
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            if (n < 0)
                rd->err = errno;
            *size = 0;
            return NULL;
        }
        *size = (size_t)n;
        p = scriptfile_skip_comment(rd, rd->buf, size);
    } while (*size == 0);
    return p;
}

/* Load the chunk open on FD, named "@PATH" as luaL_loadfile names it: 0
 * with the function pushed, or an error status with a message. [-0, +1, m] */
int
scriptfile_load(lua_State *L, int fd, const char *path)
{
    struct scriptfile_reader rd;
    int status;

    memset(&rd, 0, sizeof(rd));
    rd.fd = fd;
    lua_pushfstring(L, "@%s", path);
    status = lua_load(L, scriptfile_read, &rd, lua_tostring(L, -1));
    lua_remove(L, -2);
    if (status == 0 && rd.err != 0) {
        lua_pop(L, 1);
        lua_pushfstring(L, "cannot read %s: %s", path, strerror(rd.err));
        return LUA_ERRFILE;
    }
    return status;
}
