/* resolve: every form of the CGI variables the FastCGI servers in Debian
 * send gives the script's path, with PATH_INFO and SCRIPT_NAME as php-fpm
 * sets them, on real files in a temporary directory. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolve.h"
#include "tap.h"

static char root[PATH_MAX];

static void
make_file(const char *rel)
{
    char p[PATH_MAX];
    FILE *f;

    if (snprintf(p, sizeof(p), "%s/%s", root, rel) >= (int)sizeof(p) || (f = fopen(p, "w")) == NULL) {
        perror(p);
        exit(1);
    }
    fclose(f);
}

static void
make_dir(const char *rel)
{
    char p[PATH_MAX];

    if (snprintf(p, sizeof(p), "%s/%s", root, rel) >= (int)sizeof(p) || mkdir(p, 0755) < 0) {
        perror(p);
        exit(1);
    }
}

/* ROOT + REL, in a static buffer per slot. */
static const char *
at(int slot, const char *rel)
{
    static char buf[4][PATH_MAX];

    if (snprintf(buf[slot], sizeof(buf[slot]), "%s%s", root, rel) >= (int)sizeof(buf[slot]))
        abort();
    return buf[slot];
}

static struct resolve res;

static int
run(const char *filename, const char *dr, const char *sn, const char *pi, const char *pt)
{
    struct resolve_in in = { filename, dr, sn, pi, pt, NULL };
    char why[128];

    return resolve_script(&in, &res, why, sizeof(why));
}

static void
test_nginx(void)
{
    run(at(0, "/x.lua"), root, "/x.lua", "", NULL);
    is_str(res.script, at(1, "/x.lua"), "nginx: SCRIPT_FILENAME as sent");
    is_int(res.changed, 0, "nginx: nothing changed");
    run(at(0, "/missing.lua"), root, "/missing.lua", "", NULL);
    is_str(res.script, at(1, "/missing.lua"), "a missing script stays as sent, for a 404");
    run(at(0, "/sub"), root, "/sub", "", NULL);
    is_str(res.script, at(1, "/sub"), "a directory with no SCRIPT_NAME or PATH_INFO to add stays");
}

static void
test_apache(void)
{
    char f[PATH_MAX * 2];

    snprintf(f, sizeof(f), "proxy:fcgi://127.0.0.1:9000%s/x.lua", root);
    run(f, root, "/x.lua", NULL, NULL);
    is_str(res.script, at(0, "/x.lua"), "Apache: proxy:fcgi://host:port stripped");
    ok(res.changed & RESOLVE_FILENAME, "Apache: SCRIPT_FILENAME changed");
    snprintf(f, sizeof(f), "PROXY:FCGI://localhost%s/x.lua?a=1&b=/2", root);
    run(f, root, "/x.lua", NULL, NULL);
    is_str(res.script, at(0, "/x.lua"), "Apache: host without port, any case, and the query stripped");
    snprintf(f, sizeof(f), "proxy:balancer://pool%s/x.lua", root);
    run(f, root, "/x.lua", NULL, NULL);
    is_str(res.script, at(0, "/x.lua"), "Apache: a balancer prefix stripped");
    run("proxy:fcgi://localhost", root, "/x.lua", NULL, NULL);
    is_str(res.script, "", "Apache: a prefix with no path gives no script");
    run(at(0, "/x.lua?q=1"), root, "/x.lua", NULL, NULL);
    is_str(res.script, at(1, "/x.lua?q=1"), "a '?' without the proxy prefix is part of the name");

    snprintf(f, sizeof(f), "proxy:fcgi://127.0.0.1:9000%s/x.lua/extra/path", root);
    run(f, root, "/x.lua/extra/path", NULL, NULL);
    is_str(res.script, at(0, "/x.lua"), "ProxyPassMatch: split at the script");
    is_str(res.path_info, "/extra/path", "ProxyPassMatch: the rest is PATH_INFO");
    is_str(res.script_name, "/x.lua", "ProxyPassMatch: SCRIPT_NAME loses PATH_INFO");
    is_int(res.changed, RESOLVE_FILENAME | RESOLVE_PATH_INFO | RESOLVE_SCRIPT_NAME, "all three changed");

    run(at(0, "/x.lua/"), root, "/x.lua", NULL, NULL);
    is_str(res.script, at(1, "/x.lua"), "lighttpd broken-scriptfilename: the script");
    is_str(res.path_info, "", "lighttpd broken-scriptfilename: its '/' is no PATH_INFO");
    run(at(0, "/x.lua/"), root, "/x.lua/", NULL, NULL);
    is_str(res.path_info, "/", "a '/' the client sent is PATH_INFO");

    snprintf(f, sizeof(f), "proxy:fcgi://localhost%s/x.lua", root);
    run(f, root, "/x.lua", "/extra", NULL);
    is_str(res.script, at(0, "/x.lua"), "SetHandler: the script");
    ok(!(res.changed & (RESOLVE_PATH_INFO | RESOLVE_SCRIPT_NAME)), "SetHandler: PATH_INFO as sent");
}

static void
test_split(void)
{
    run(at(0, "/sub/y.lua/a/b.lua"), root, "/sub/y.lua/a/b.lua", "", NULL);
    is_str(res.script, at(1, "/sub/y.lua"), "a split in a subdirectory");
    is_str(res.path_info, "/a/b.lua", "its PATH_INFO");
    run(at(0, "/sub//y.lua//a"), root, "/sub//y.lua//a", "", NULL);
    is_str(res.script, at(1, "/sub/y.lua"), "empty components: the file, tidied, never with a '/' after it");
    is_str(res.path_info, "//a", "empty components: PATH_INFO as the client wrote it");
}

static void
test_caddy(void)
{
    run(root, root, "", "/x.lua/more", NULL);
    is_str(res.script, at(0, "/x.lua"), "Caddy without split: the root walked to the script");
    is_str(res.path_info, "/more", "Caddy without split: PATH_INFO the rest");
    is_str(res.script_name, "/x.lua", "Caddy without split: SCRIPT_NAME the script's URL");
    run(at(0, "/"), root, "", "/x.lua", NULL);
    is_str(res.script, at(1, "/x.lua"), "Caddy without split, root with a '/': no double slash");
    is_str(res.path_info, "", "no PATH_INFO left");
    is_str(res.script_name, "/x.lua", "SCRIPT_NAME is the whole path");
    run(root, root, "", "/", NULL);
    is_str(res.script, "", "Caddy without split on '/': nothing to walk to, for a 404");
    run(at(0, "/x.lua"), root, "/x.lua", "/more", NULL);
    is_str(res.script, at(1, "/x.lua"), "Caddy with split: as sent");
    is_int(res.changed, 0, "Caddy with split: nothing changed");
}

static void
test_h2o(void)
{
    struct resolve_in in = { NULL, NULL, "", "/x.lua/p", NULL, NULL };
    char why[128];

    run(NULL, root, "", "/x.lua/p", NULL);
    is_str(res.script, at(0, "/x.lua"), "H2O mapping with fastcgi.document_root: found");
    is_str(res.path_info, "/p", "its PATH_INFO");
    is_str(res.script_name, "/x.lua", "its SCRIPT_NAME");
    ok(res.changed & RESOLVE_FILENAME, "SCRIPT_FILENAME set where there was none");
    run(NULL, NULL, "", "/x.lua/p", at(0, "/x.lua/p"));
    is_str(res.script, at(1, "/x.lua"), "no DOCUMENT_ROOT: PATH_TRANSLATED");
    run(NULL, NULL, NULL, "/x.lua/p", at(0, "/x.lua/p"));
    is_str(res.script_name, "/x.lua", "PATH_TRANSLATED and no SCRIPT_NAME: SCRIPT_NAME made");
    ok(res.changed & RESOLVE_SCRIPT_NAME, "and set");
    in.docroot = root;
    resolve_script(&in, &res, why, sizeof(why));
    is_str(res.script, at(0, "/x.lua"), "no DOCUMENT_ROOT nor PATH_TRANSLATED: the docroot key");
    run(NULL, NULL, "", "/x.lua", NULL);
    is_str(res.script, "", "nothing to build a path from: empty, for a 404");
    run("", root, "/x.lua", "", NULL);
    is_str(res.script, at(0, "/x.lua"), "an empty SCRIPT_FILENAME is a missing one");
}

/* The split never chooses what the caller then refuses to check. */
static void
test_no_way_around(void)
{
    run(at(0, "/up.txt/x.lua"), root, "/up.txt/x.lua", "", NULL);
    is_str(res.script, at(1, "/up.txt"), "up.txt/x.lua resolves to up.txt, which extensions refuse");
    run(at(0, "/dir.lua/z"), root, "/dir.lua/z", "", NULL);
    is_str(res.script, at(1, "/dir.lua/z"), "a directory named dir.lua is never the script");
    run(at(0, "/sub/../x.lua/p"), root, "/sub/../x.lua/p", "", NULL);
    is_str(res.script, at(1, "/sub/../x.lua"), "'..' is kept for the docroot check to resolve");
    run(at(0, "/link.lua/p"), root, "/link.lua/p", "", NULL);
    is_str(res.script, at(1, "/link.lua"), "a symlink is kept for the docroot check to resolve");
}

/* A path built from a root stays under it, one spelling per file. */
static void
test_walk_stays_under(void)
{
    char why[128];
    struct resolve_in in = { root, root, "", "/../x.lua", NULL, NULL };

    is_int(resolve_script(&in, &res, why, sizeof(why)), 403, "PATH_INFO /../x.lua from the root: 403");
    like(why, "'..'", "the reason names the '..'");
    is_str(res.script, "", "and no script");
    in.path_info = "/sub/../../x.lua";
    is_int(resolve_script(&in, &res, why, sizeof(why)), 403, "a '..' after a directory: 403");
    in.filename = NULL;
    in.script_name = "/x.lua/..";
    in.path_info = NULL;
    is_int(resolve_script(&in, &res, why, sizeof(why)), 403, "a '..' at the end of SCRIPT_NAME: 403");
    in.document_root = NULL;
    in.script_name = NULL;
    in.path_translated = "/etc/../x.lua";
    is_int(resolve_script(&in, &res, why, sizeof(why)), 403, "a '..' in PATH_TRANSLATED: 403");
    in.path_translated = NULL;
    in.docroot = root;
    in.path_info = "/../x.lua";
    is_int(resolve_script(&in, &res, why, sizeof(why)), 403, "a '..' from the docroot key: 403");
    in.path_info = "/..x.lua";
    is_int(resolve_script(&in, &res, why, sizeof(why)), 0, "'..x.lua' is a name, not a '..'");

    run(root, root, "", "//sub/./y.lua", NULL);
    is_str(res.script, at(0, "/sub/y.lua"), "empty and '.' components dropped");
    is_int(res.err, 0, "the script's stat is kept");
    ok(S_ISREG(res.sb.st_mode), "and is the file's");
    run(root, root, "/sub/", "/y.lua/p", NULL);
    is_str(res.script, at(0, "/sub/y.lua"), "'/sub/' + '/y.lua' is one '/'");
    is_str(res.path_info, "/p", "its PATH_INFO");
    run(root, root, "", "/x.lua/", NULL);
    is_str(res.path_info, "/", "a trailing '/' the client sent stays PATH_INFO");
    run(NULL, root, "/", NULL, NULL);
    is_str(res.script, "", "SCRIPT_NAME '/' alone: nothing to walk to");
    run(NULL, NULL, NULL, NULL, NULL);
    is_str(res.script, "", "no variables: no script");
}

/* The split walks forward from the root: what follows the file is not stat'ed. */
static void
test_split_forward(void)
{
    static char f[PATH_MAX];
    size_t n;

    n = (size_t)snprintf(f, sizeof(f), "%s/x.lua", root);
    memset(f + n, '/', sizeof(f) - n - 1);
    f[sizeof(f) - 1] = '\0';
    run(f, NULL, NULL, NULL, NULL);
    is_str(res.script, at(0, "/x.lua"), "4000 '/' after the script: split at it");
    is_int(res.err, 0, "its stat kept");
    run(at(0, "/missing/x.lua"), NULL, NULL, NULL, NULL);
    is_int(res.err, ENOENT, "a missing directory: ENOENT, no split");
    run(at(0, "/x.lua/y.lua/z"), NULL, NULL, NULL, NULL);
    is_str(res.script, at(1, "/x.lua"), "the first file on the way is the script");
    is_str(res.path_info, "/y.lua/z", "the rest its PATH_INFO");
}

/* What does not fit is left as received, the script found all the same. */
static void
test_names_as_received(void)
{
    static char sn[PATH_MAX + 16];

    memset(sn, 'a', sizeof(sn) - 1);
    sn[0] = '/';
    run(at(0, "/x.lua/extra"), NULL, sn, NULL, NULL);
    is_str(res.script, at(1, "/x.lua"), "a SCRIPT_NAME past PATH_MAX: the script still found");
    ok(!(res.changed & RESOLVE_SCRIPT_NAME), "and SCRIPT_NAME left as received");
    is_str(res.path_info, "/extra", "PATH_INFO still set");
    run(root, root, "/x.lua", NULL, NULL);
    ok(!(res.changed & (RESOLVE_PATH_INFO | RESOLVE_SCRIPT_NAME)),
       "a rebuild with nothing to split: no PATH_INFO added, SCRIPT_NAME unchanged");
}

static void
test_too_long(void)
{
    static char big[PATH_MAX + 16];
    char why[128];
    struct resolve_in in = { big, NULL, NULL, NULL, NULL, NULL };

    memset(big, 'a', sizeof(big) - 1);
    big[0] = '/';
    is_int(resolve_script(&in, &res, why, sizeof(why)), 404, "a path past PATH_MAX: 404");
    like(why, "longer than", "with the reason");
    in.filename = root;
    in.document_root = root;
    in.path_info = big;
    is_int(resolve_script(&in, &res, why, sizeof(why)), 404, "a rebuilt path past PATH_MAX: 404");
}

/* One script, one spelling: '/' runs and "." go, ".." stays for the kernel. */
static void
test_tidy(void)
{
    static const char *const cases[][2] = {
        { "/www/a.lua", "/www/a.lua" }, { "/www/./a.lua", "/www/a.lua" },
        { "/www//a.lua", "/www/a.lua" }, { "//www/.//./a.lua", "/www/a.lua" },
        { "/www/../a.lua", "/www/../a.lua" }, { "/www/./../a.lua", "/www/../a.lua" },
        { "/www/sub/", "/www/sub/" }, { "/www/sub/.", "/www/sub/" }, { "/www/sub//", "/www/sub/" },
        { "/", "/" }, { "//", "/" }, { "/.", "/" }, { "a//b", "a/b" }, { "./a.lua", "a.lua" },
        { ".", "." }, { "./", "." }, { "..", ".." }, { "../a", "../a" },
    };
    char buf[64], name[96];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s", cases[i][0]);
        resolve_tidy(buf);
        snprintf(name, sizeof(name), "tidy %s", cases[i][0]);
        is_str(buf, cases[i][1], name);
    }
    run(at(0, "/./x.lua"), root, "/x.lua", "", NULL);
    is_str(res.script, at(1, "/x.lua"), "SCRIPT_FILENAME with a '.': tidied");
    ok(res.changed & RESOLVE_FILENAME, "and SCRIPT_FILENAME changed");
    run(at(0, "//sub//y.lua//a"), root, "/sub/y.lua/a", "", NULL);
    is_str(res.script, at(1, "/sub/y.lua"), "split, then the script's part tidied");
    is_str(res.path_info, "//a", "the rest kept as sent");
    run(at(0, "/sub/../x.lua"), root, "/x.lua", "", NULL);
    is_str(res.script, at(1, "/sub/../x.lua"), "a '..' is left to the kernel");
}

int
main(void)
{
    char tmpl[] = "/tmp/lf-resolve-XXXXXX";
    char cmd[PATH_MAX + 16];

    if (mkdtemp(tmpl) == NULL || realpath(tmpl, root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    make_file("x.lua");
    make_file("up.txt");
    make_dir("sub");
    make_file("sub/y.lua");
    make_dir("dir.lua");
    if (symlink("/etc/hostname", at(0, "/link.lua")) < 0)
        perror("symlink");

    test_nginx();
    test_apache();
    test_split();
    test_caddy();
    test_h2o();
    test_no_way_around();
    test_too_long();
    test_walk_stays_under();
    test_split_forward();
    test_names_as_received();
    test_tidy();

    if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root) >= (int)sizeof(cmd) || system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return done_testing();
}
