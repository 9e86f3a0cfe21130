/*
 * resolve.c: which file a request names, whatever server sent it.
 *
 * nginx sends SCRIPT_FILENAME as the script's path, but the other FastCGI
 * servers do not, and php-fpm copes with all of them; so does this, the
 * same way:
 * - Apache's mod_proxy_fcgi sends "proxy:fcgi://host:port/path", at times
 *   with the "?query" after it: the prefix and the query go.
 * - A path that runs past the script (Apache's ProxyPassMatch sends
 *   /www/x.lua/extra/path) is split where the longest leading part is a
 *   regular file: the rest becomes PATH_INFO (php-fpm's cgi.fix_pathinfo).
 * - No SCRIPT_FILENAME (H2O on a path mapping) or a directory (Caddy
 *   without "split"): the path is DOCUMENT_ROOT + SCRIPT_NAME + PATH_INFO,
 *   else PATH_TRANSLATED, else the docroot key + SCRIPT_NAME + PATH_INFO,
 *   split as above.
 * Splitting stats at most one prefix per component, and only when the
 * whole path fails with ENOTDIR, which says a prefix is a file: a missing
 * script costs one stat.
 *
 * Nothing here decides whether the script may run: the caller applies
 * `extensions` and `docroot` to the resolved path, so a split cannot serve
 * upload.txt as a script (/upload.txt/x.lua resolves to upload.txt) and
 * "..", symlinks and empty components meet the same realpath check.
 * SCRIPT_NAME and PATH_INFO are rewritten as php-fpm does, so that
 * SCRIPT_NAME + PATH_INFO is still the path the client asked for.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "resolve.h"

static const char *const RESOLVE_PROXY[] = { "proxy:fcgi://", "proxy:balancer://", NULL };

/* Copy SRC into DST (of size N); -1 when it does not fit. */
static int
resolve_copy(char *dst, size_t n, const char *src, size_t len)
{
    if (len >= n)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* SCRIPT_FILENAME without Apache's "proxy:fcgi://host:port" and "?query". */
static int
resolve_strip_proxy(const char *f, char *dst, size_t n)
{
    int i;

    for (i = 0; RESOLVE_PROXY[i]; i++) {
        size_t plen = strlen(RESOLVE_PROXY[i]);
        const char *path;
        if (strncasecmp(f, RESOLVE_PROXY[i], plen) != 0)
            continue;
        if ((path = strchr(f + plen, '/')) == NULL)
            return resolve_copy(dst, n, "", 0);
        return resolve_copy(dst, n, path, strcspn(path, "?"));
    }
    return resolve_copy(dst, n, f, strlen(f));
}

/* DST = BASE (without a trailing '/') + A + B; -1 when too long. */
static int
resolve_join(char *dst, size_t n, const char *base, const char *a, const char *b)
{
    size_t blen = strlen(base);
    int len;

    while (blen > 1 && base[blen - 1] == '/' && (*a == '/' || (*a == '\0' && *b == '/')))
        blen--;
    len = snprintf(dst, n, "%.*s%s%s", (int)blen, base, a, b);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

/*
 * Cut PATH at its longest leading part that is a regular file; the rest
 * (from its '/') goes to REST. Left whole when it is a file, is missing,
 * or no part of it is a file: the caller's checks then answer.
 */
static int
resolve_split(char *path, char *rest, size_t n)
{
    struct stat sb;
    size_t i = strlen(path);

    rest[0] = '\0';
    if (stat(path, &sb) == 0 || errno != ENOTDIR)
        return 0;
    while (i > 1) {
        int is_file;
        while (--i > 0 && path[i] != '/')
            ;
        if (i == 0)
            break;
        path[i] = '\0';
        is_file = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
        path[i] = '/';
        if (is_file) {
            if (resolve_copy(rest, n, path + i, strlen(path + i)) < 0)
                return -1;
            path[i] = '\0';
            return 0;
        }
    }
    return 0;
}

/* True when the SCRIPT_FILENAME given is a directory (Caddy without split). */
static int
resolve_is_dir(const char *path)
{
    struct stat sb;

    return path[0] != '\0' && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The path to split: from SCRIPT_FILENAME, or rebuilt (*REBUILT = 1). */
static int
resolve_candidate(const struct resolve_in *in, struct resolve *out, int *rebuilt)
{
    const char *sn = in->script_name ? in->script_name : "";
    const char *pi = in->path_info ? in->path_info : "";
    const char *base = in->document_root && *in->document_root ? in->document_root : NULL;

    *rebuilt = 0;
    if (in->filename && *in->filename) {
        char dir[PATH_MAX];
        if (resolve_strip_proxy(in->filename, out->script, sizeof(out->script)) < 0)
            return -1;
        if (!resolve_is_dir(out->script) || (*sn == '\0' && *pi == '\0'))
            return 0;
        memcpy(dir, out->script, sizeof(dir));
        *rebuilt = 1;
        return resolve_join(out->script, sizeof(out->script), base ? base : dir, sn, pi);
    }
    *rebuilt = 1;
    if (base != NULL)
        return resolve_join(out->script, sizeof(out->script), base, sn, pi);
    if (in->path_translated && *in->path_translated)
        return resolve_copy(out->script, sizeof(out->script), in->path_translated,
                            strlen(in->path_translated));
    if (in->docroot && *in->docroot)
        return resolve_join(out->script, sizeof(out->script), in->docroot, sn, pi);
    out->script[0] = '\0';
    return 0;
}

/* SCRIPT_NAME and PATH_INFO after a split or a rebuild, as php-fpm sets them. */
static int
resolve_names(const struct resolve_in *in, struct resolve *out, int rebuilt)
{
    const char *sn = in->script_name ? in->script_name : "";
    const char *pi = in->path_info ? in->path_info : "";
    size_t rlen = strlen(out->path_info), ulen;

    if (!rebuilt && rlen == 0)
        return 0;
    out->changed |= RESOLVE_PATH_INFO;
    if (resolve_join(out->script_name, sizeof(out->script_name), "", sn, rebuilt ? pi : "") < 0)
        return -1;
    ulen = strlen(out->script_name);
    if (rlen == 1 && *pi == '\0' && (ulen == 0 || out->script_name[ulen - 1] != '/')) {
        /* lighttpd's broken-scriptfilename ends the script with a '/' of its own */
        out->path_info[0] = '\0';
        rlen = 0;
    }
    if (ulen >= rlen && strcmp(out->script_name + ulen - rlen, out->path_info) == 0) {
        out->script_name[ulen - rlen] = '\0';
        out->changed |= RESOLVE_SCRIPT_NAME;
    }
    return 0;
}

/*
 * Fill OUT from IN: 0, or 404 with WHY when no path can be made of them.
 * An empty OUT->script is left to the caller to refuse.
 */
int
resolve_script(const struct resolve_in *in, struct resolve *out, char *why, size_t whylen)
{
    int rebuilt;

    out->changed = 0;
    out->path_info[0] = out->script_name[0] = '\0';
    if (resolve_candidate(in, out, &rebuilt) < 0
        || resolve_split(out->script, out->path_info, sizeof(out->path_info)) < 0
        || resolve_names(in, out, rebuilt) < 0) {
        snprintf(why, whylen, "the script's path is longer than %d bytes", PATH_MAX - 1);
        out->script[0] = '\0';
        return 404;
    }
    if (in->filename == NULL || strcmp(in->filename, out->script) != 0)
        out->changed |= RESOLVE_FILENAME;
    return 0;
}
