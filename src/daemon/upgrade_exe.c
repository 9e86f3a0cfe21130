/*
 * upgrade_exe.c: which binary USR2 runs, and whether it is safe to run.
 *
 * The path is kept as the daemon was started with it, made absolute
 * against the start directory but with its symlinks left in place: a
 * versioned install repoints luafcgid -> luafcgid-1.1 and USR2 must run
 * what the link names then (/proc/self/exe was resolved at start, and
 * would run the old build again). A bare name, found on PATH, is taken
 * as the system resolved it.
 *
 * USR2 runs it as the supervisor, root as a rule, so it is refused when
 * someone else than root, us or `user` could have put it there: the file
 * itself, a directory on its path, or on the path its symlinks lead to,
 * checked as the socket's directory is (safedir.c).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "safedir.h"
#include "log.h"
#include "upgrade_exe.h"

/* Set once at start-up, read by the supervisor only. */
static char upgrade_path[PATH_MAX];

/* The path USR2 runs; empty when unknown. */
const char *
upgrade_exe(void)
{
    return upgrade_path;
}

/* The binary's path as it was started, absolute but with its symlinks
 * kept (a versioned install repoints luafcgid -> luafcgid-1.1): ARGV0
 * from the start directory; a bare name (found on PATH) as the system
 * resolved it. Empty when unknown: USR2 says it cannot upgrade. */
void
upgrade_exe_save(const char *argv0)
{
    char cwd[PATH_MAX];
    ssize_t n;
    int w;

    upgrade_path[0] = '\0';
    if (argv0[0] == '/') {
        w = snprintf(upgrade_path, sizeof(upgrade_path), "%s", argv0);
    } else if (strchr(argv0, '/') != NULL) {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            log_syswarn("upgrade: cannot tell the start directory; USR2 will not work");
            return;
        }
        w = snprintf(upgrade_path, sizeof(upgrade_path), "%s/%s", cwd, argv0);
    } else {
        if ((n = readlink("/proc/self/exe", upgrade_path, sizeof(upgrade_path) - 1)) > 0)
            upgrade_path[n] = '\0';
        else
            upgrade_path[0] = '\0';
        return;
    }
    if (w < 0 || (size_t)w >= sizeof(upgrade_path))
        upgrade_path[0] = '\0';
}

/* The binary USR2 runs (as root, often): refused when someone else than
 * root, us or `user` could have put it there, through its path or where
 * its symlinks lead, as the socket's directory is. 0, or -1 (logged). */
int
upgrade_exe_check(const struct conf *c)
{
    static const char why[] = "anyone could replace the binary USR2 runs; not upgrading";
    char real[PATH_MAX];
    struct stat sb;
    uid_t user = conf_uid(c->user);
    gid_t group = conf_gid(c->group);

    if (stat(upgrade_path, &sb) < 0 || realpath(upgrade_path, real) == NULL) {
        log_syserr("upgrade: cannot run %s", upgrade_path);
        return -1;
    }
    if (safedir_open_to_strangers(user, group, upgrade_path, &sb, 0, "upgrade", why) ||
        safedir_check_ancestors(user, group, upgrade_path, "upgrade", why) < 0 ||
        (strcmp(real, upgrade_path) != 0 && safedir_check_ancestors(user, group, real, "upgrade", why) < 0))
        return -1;
    return 0;
}
