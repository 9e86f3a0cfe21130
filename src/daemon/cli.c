/*
 * cli.c: the command line: the options, usage and version, and -t.
 *
 * Apart from main.c's start-up because none of it starts anything: -V
 * and -h answer and exit, and -t loads the config and checks what
 * start-up would refuse (the access and slow logs' files) without
 * opening a log, a socket or a pidfile, so "syntax is ok" means the
 * daemon starts. The config's path is made absolute here, once, for every
 * later reading of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#ifdef LF_LUAJIT
#include <luajit.h>
#endif

#include "luafcgid.h"
#include "cli.h"
#include "conf.h"
#include "log.h"
#include "logfile.h"

static void
cli_usage(FILE *out)
{
    fprintf(out, "usage: " LF_NAME " [-F] [-t] [-V] [-h] [CONFIG]\n"
            "  -F  stay in the foreground (log to stderr unless logfile is set)\n"
            "  -t  check the config and exit\n"
            "  -V  print the version and exit\n"
            "  -h  print this help and exit\n"
            "CONFIG defaults to " LF_DEFAULT_CONFIG "\n");
}

static void
cli_version(void)
{
#ifdef LF_LUAJIT
    printf(LF_NAME " " LF_VERSION " (" LUAJIT_VERSION ", " LUA_RELEASE " API)\n");
#else
    printf(LF_NAME " " LF_VERSION " (" LUA_RELEASE ")\n");
#endif
}

/* The config's path made absolute: it is read again on HUP, after daemon
 * mode's chdir("/") (or a lone worker's lfs.chdir, workdir.c). As given when
 * the directory cannot be told. */
static const char *
cli_absolute(const char *path, char *buf, size_t size)
{
    char cwd[PATH_MAX];
    int n;

    if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return path;
    n = snprintf(buf, size, "%s/%s", cwd, path);
    return n > 0 && (size_t)n < size ? buf : path;
}

/* The options of ARGV into O; -V and -h answer and exit, a bad option
 * prints the usage and exits 1. */
void
cli_parse(int argc, char **argv, struct cli_options *o)
{
    int ch;

    memset(o, 0, sizeof(*o));
    while ((ch = getopt(argc, argv, "FtVh")) != -1) {
        switch (ch) {
        case 'F': o->foreground = 1; break;
        case 't': o->test = 1; break;
        case 'V': cli_version(); exit(0);
        case 'h': cli_usage(stdout); exit(0);
        default:  cli_usage(stderr); exit(1);
        }
    }
    if (argc - optind > 1) {
        cli_usage(stderr);
        exit(1);
    }
    o->config = cli_absolute(optind < argc ? argv[optind] : LF_DEFAULT_CONFIG, o->config_abs,
                             sizeof(o->config_abs));
}

/* -t: the config at PATH checked as start-up checks it; the exit status. */
int
cli_test(const char *path)
{
    char err[1024];
    const char *mainlog;
    int bad;
    struct conf *c;

    log_set_plain(1);
    if ((c = conf_load(path, err, sizeof(err))) == NULL) {
        fprintf(stderr, LF_NAME ": %s\n", err);
        return 1;
    }
    /* what start-up will refuse, so that "ok" means it starts */
    mainlog = conf_log_target(c, !c->daemonize);
    /* both checked, so one run names every bad log */
    bad = c->access_log && logfile_check(c->access_log, "access log", mainlog) < 0;
    bad |= c->slowlog && logfile_check(c->slowlog, "slow log", mainlog) < 0;
    if (bad) {
        conf_free(c);
        return 1;
    }
    conf_free(c);
    fprintf(stderr, LF_NAME ": %s: syntax is ok\n", path);
    return 0;
}
