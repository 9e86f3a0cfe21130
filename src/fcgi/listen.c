/*
 * listen.c: the listening sockets, unix or TCP.
 *
 * `listen` is one address or a list (a unix socket for the local nginx
 * and a TCP port for the others, say); each is bound in order, and a
 * failure of one closes the others: a daemon serves all of them or none.
 * TCP addresses may be IPv4 or IPv6 ("[::1]:9000"; an IPv6 socket is
 * IPv6 only, as nginx's, so "[::]:P" and "0.0.0.0:P" go together); SO_REUSEADDR lets a
 * restart bind while old connections linger in TIME_WAIT, and the
 * dispatcher sets TCP_NODELAY on each accepted connection.
 *
 * A unix socket path that is already there is probed first: if a live
 * server answers, starting is an error (two daemons on one socket would
 * split the traffic silently); only when it is a socket and the connection
 * is refused (nobody listens) is the file stale and replaced. Any other
 * answer refuses to start rather than remove a live server's socket.
 *
 * The probe does not block: a live server with a full backlog
 * would make a blocking connect wait for good.
 *
 * The socket's directory (by default /var/run/luafcgid) is made when
 * missing (it stays root's: the supervisor, still root, removes the
 * socket on stop, and no script can replace it there), and refused when a stranger could replace the socket in it: a symlink,
 * another owner than root or `user`, writable by others (sticky or not:
 * whoever binds the path first while luafcgid is down receives nginx's
 * requests) or by a group other than root's or `group`. Its ancestors are
 * checked the same way (sticky ones allowed), since whoever may rename one
 * can put a directory of their own in its place. The socket gets
 * listen_mode (set through the umask so there is no moment with wider
 * permissions) and listen_owner/listen_group. On stop the socket is
 * removed only if the path still holds the one we bound.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "safedir.h"
#include "listen.h"
#include "luafcgid.h"
#include "log.h"

/* Who may change the socket's directory, in messages. */
#define LISTEN_WHO "listen", "anyone could replace the socket"

/* The socket files we bound (by position in listen), to remove only
 * those on stop. */
static struct {
    int     bound;
    dev_t   dev;
    ino_t   ino;
} listen_files[LF_MAX_LISTEN];

int
listen_is_unix(const char *addr)
{
    const char *colon = strrchr(addr, ':');

    if (addr[0] == '/' || colon == NULL || colon[1] == '\0')
        return 1;
    return strspn(colon + 1, "0123456789") != strlen(colon + 1);
}

static void listen_remove(const struct conf *c, int i);

static int
listen_unix_addr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        log_err("listen: socket path %s is longer than %zu bytes", path,
                sizeof(sun->sun_path) - 1);
        return -1;
    }
    memcpy(sun->sun_path, path, strlen(path));
    return 0;
}

/* 0 when PATH is free to bind (a stale socket was removed), -1 otherwise. */
static int
listen_clear_stale(const char *path, const struct sockaddr_un *sun)
{
    struct stat sb;
    int fd, rc, err;

    if (lstat(path, &sb) < 0)
        return errno == ENOENT ? 0 : (log_syserr("listen: %s", path), -1);
    if (!S_ISSOCK(sb.st_mode)) {
        log_err("listen: %s exists and is not a socket", path);
        return -1;
    }
    /* non-blocking: a blocking connect to a live server whose backlog is
     * full waits for room, and start-up would hang for good */
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0) {
        log_syserr("listen: socket");
        return -1;
    }
    rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    err = errno;
    close(fd);
    if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
        log_err("listen: another server is already listening on %s%s", path,
                rc == 0 ? "" : " (its backlog is full)");
        return -1;
    }
    /* only "nobody listens" proves it stale: EACCES and the rest may hide
     * a live server */
    if (err != ECONNREFUSED) {
        errno = err;
        log_syserr("listen: cannot tell whether %s is in use; remove it if it is stale", path);
        return -1;
    }
    if (unlink(path) < 0) {
        log_syserr("listen: cannot remove the stale socket %s", path);
        return -1;
    }
    log_notice("listen: removed the stale socket %s", path);
    return 0;
}

static int
listen_chown(const struct conf *c, const char *path)
{
    uid_t uid = conf_uid(c->listen_owner);
    gid_t gid = conf_gid(c->listen_group);

    if (c->listen_owner && uid == (uid_t)-1) {
        log_err("listen_owner: no such user '%s'", c->listen_owner);
        return -1;
    }
    if (c->listen_group && gid == (gid_t)-1) {
        log_err("listen_group: no such group '%s'", c->listen_group);
        return -1;
    }
    if ((c->listen_owner || c->listen_group) && chown(path, uid, gid) < 0) {
        log_syserr("listen: cannot change the owner of %s", path);
        return -1;
    }
    return 0;
}

/* The socket's directory is made if missing (0755, root's when started as
 * root: the supervisor removes the socket on stop) and must not let a
 * stranger replace the socket: not a symlink (its owner would choose
 * the place), owned by root or `user`, writable by nobody else, and so for
 * its ancestors, through the real path too. */
static int
listen_prepare_dir(const struct conf *c, const char *path)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char real[PATH_MAX];
    struct stat sb;
    uid_t user = conf_uid(c->user);
    gid_t group = conf_gid(c->group);

    if (strchr(path, '/') == NULL || safedir_split(path, dir, sizeof(dir)) == NULL)
        return 0;   /* listen_unix_addr() reports the length */
    if (safedir_check_ancestors(user, group, dir, LISTEN_WHO) < 0 || safedir_make(dir, "socket directory") < 0)
        return -1;
    if (lstat(dir, &sb) < 0) {
        log_syserr("listen: %s", dir);
        return -1;
    }
    if (S_ISLNK(sb.st_mode)) {
        log_err("listen: socket directory %s is a symbolic link; refusing it", dir);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        log_err("listen: %s is not a directory", dir);
        return -1;
    }
    if (safedir_open_to_strangers(user, group, dir, &sb, 0, LISTEN_WHO))
        return -1;
    /* an ancestor may be a symlink (/var/run -> /run): check where it leads */
    if (realpath(dir, real) == NULL) {
        log_syserr("listen: %s", dir);
        return -1;
    }
    if (strcmp(real, dir) != 0 && strlen(real) < sizeof(dir) &&
        safedir_check_ancestors(user, group, real, LISTEN_WHO) < 0)
        return -1;
    return 0;
}

static int
listen_open_unix(const struct conf *c, int i)
{
    const char *path = c->listen.items[i];
    struct sockaddr_un sun;
    struct stat sb;
    mode_t old;
    int fd, rc;

    if (listen_unix_addr(path, &sun) < 0 || listen_prepare_dir(c, path) < 0 ||
        listen_clear_stale(path, &sun) < 0)
        return -1;
    if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0) {
        log_syserr("listen: socket");
        return -1;
    }
    old = umask((mode_t)(~c->listen_mode & 0777));
    rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc < 0) {
        log_syserr("listen: cannot bind %s", path);
        close(fd);
        return -1;
    }
    if (chmod(path, (mode_t)c->listen_mode) < 0) {
        log_syserr("listen: cannot set the mode of %s", path);
        goto fail;
    }
    if (listen_chown(c, path) < 0)
        goto fail;
    if (lstat(path, &sb) < 0) {
        log_syserr("listen: %s", path);
        goto fail;
    }
    listen_files[i].dev = sb.st_dev;
    listen_files[i].ino = sb.st_ino;
    listen_files[i].bound = 1;
    return fd;
fail:
    close(fd);
    unlink(path);
    return -1;
}

/* 1 when SA is a loopback address (127/8, ::1, ::ffff:127/104). */
static int
listen_is_loopback(const struct sockaddr *sa)
{
    const struct in6_addr *a6;

    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family != AF_INET6)
        return 0;
    a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

/* An open FastCGI port runs whatever script a client names: say so when
 * one is reachable from other hosts and allowed_clients is empty. */
static void
listen_warn_open(const struct conf *c, const char *addr, const struct sockaddr *sa)
{
    if (c->allowed_clients.count == 0 && !listen_is_loopback(sa))
        log_warn("listen: %s is reachable from other hosts and allowed_clients is empty: "
                 "any client that can connect can run scripts; set allowed_clients to "
                 "the web servers' addresses", addr);
}

/* An IPv6 address ("[::]:P") takes IPv6 only (nginx's ipv6only=on), so
 * that { "0.0.0.0:P", "[::]:P" } binds both; ":P" stays what the system
 * gives. 0, or -1. */
static int
listen_v6only(int fd, int family)
{
    int on = 1;

    if (family != AF_INET6)
        return 0;
    return setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
}

static int
listen_open_tcp(const struct conf *c, const char *addr)
{
    struct addrinfo hints, *res, *ai;
    char host[256];
    const char *colon = strrchr(addr, ':'), *h = host;
    size_t hlen = (size_t)(colon - addr);
    int fd = -1, on = 1, rc;

    if (hlen >= sizeof(host)) {
        log_err("listen: host name too long in %s", addr);
        return -1;
    }
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && hlen > 1 && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        h = host + 1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res)) != 0) {
        log_err("listen: cannot resolve %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if ((fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)) < 0)
            continue;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
            (h == host || listen_v6only(fd, ai->ai_family) == 0) && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        log_syserr("listen: cannot bind %s", addr);
    else
        listen_warn_open(c, addr, ai->ai_addr);
    freeaddrinfo(res);
    return fd;
}

/* A listening socket, bound here or handed over, must not reach what the
 * daemon runs: the one place it is made close-on-exec. 0, or -1 (logged). */
static int
listen_cloexec(int fd, const char *addr)
{
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) == 0)
        return 0;
    log_syserr("listen: cannot set close-on-exec on %s", addr);
    return -1;
}

/* Bind and listen on address I of c->listen; the fd, or -1 (logged). */
static int
listen_open_one(const struct conf *c, int i)
{
    const char *addr = c->listen.items[i];
    int fd = listen_is_unix(addr) ? listen_open_unix(c, i) : listen_open_tcp(c, addr);

    if (fd < 0)
        return -1;
    if (listen_cloexec(fd, addr) == 0) {
        if (listen(fd, c->backlog) == 0)
            return fd;
        log_syserr("listen: cannot listen on %s", addr);
    }
    close(fd);
    listen_remove(c, i);
    return -1;
}

/* allowed_clients applies to TCP only: say so when nothing else is there. */
static void
listen_warn_unused_acl(const struct conf *c, const struct listeners *ls)
{
    int i;

    for (i = 0; i < ls->n; i++)
        if (ls->tcp[i])
            return;
    if (c->allowed_clients.count > 0)
        log_warn("listen: allowed_clients is set but every listen address is a unix socket, "
                 "which it does not apply to (its file mode does)");
}

/* Every address of c->listen, into LS; 0, or -1 (logged) with none left
 * open. */
int
listen_open(const struct conf *c, struct listeners *ls)
{
    int i;

    ls->n = 0;
    for (i = 0; i < c->listen.count; i++) {
        ls->tcp[i] = !listen_is_unix(c->listen.items[i]);
        if ((ls->fd[i] = listen_open_one(c, i)) < 0) {
            listen_close(ls, c, 1);
            return -1;
        }
        ls->n = i + 1;
    }
    listen_warn_unused_acl(c, ls);
    return 0;
}

/* Sockets handed over by the daemon this one upgrades (LS->fd, in the
 * order of c->listen): close-on-exec again (they came through an exec),
 * and their files remembered, as listen_open_unix() does, to remove them
 * on stop. 0, or -1 (logged). */
int
listen_adopt(const struct conf *c, struct listeners *ls)
{
    struct stat sb;
    int i;

    for (i = 0; i < ls->n; i++) {
        const char *addr = c->listen.items[i];
        if (listen_cloexec(ls->fd[i], addr) < 0)
            return -1;
        ls->tcp[i] = !listen_is_unix(addr);
        if (ls->tcp[i])
            continue;
        if (lstat(addr, &sb) < 0 || !S_ISSOCK(sb.st_mode)) {
            log_err("upgrade: the socket %s handed over is gone from its path", addr);
            return -1;
        }
        listen_files[i].dev = sb.st_dev;
        listen_files[i].ino = sb.st_ino;
        listen_files[i].bound = 1;
    }
    return 0;
}

/* Remove the socket file of address I, but only if it is still the one we
 * bound: a daemon started since (after ours was declared stale) may own
 * the path now. */
static void
listen_remove(const struct conf *c, int i)
{
    const char *path = c->listen.items[i];
    struct stat sb;

    if (!listen_files[i].bound)
        return;
    listen_files[i].bound = 0;
    if (lstat(path, &sb) < 0) {
        if (errno != ENOENT)
            log_syswarn("listen: %s", path);
        return;
    }
    if (sb.st_dev != listen_files[i].dev || sb.st_ino != listen_files[i].ino) {
        log_notice("listen: %s is no longer our socket; leaving it", path);
        return;
    }
    if (unlink(path) < 0)
        log_syswarn("listen: cannot remove %s", path);
}

/* Close every socket of LS; with REMOVE, remove the socket files we bound
 * too (not after handing them over to a new binary). */
void
listen_close(struct listeners *ls, const struct conf *c, int remove)
{
    int i;

    for (i = 0; i < ls->n; i++) {
        if (ls->fd[i] >= 0)
            close(ls->fd[i]);
        ls->fd[i] = -1;
        if (remove && i < c->listen.count)
            listen_remove(c, i);
    }
    ls->n = 0;
}
