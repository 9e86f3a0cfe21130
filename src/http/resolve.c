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
 * A path built here stays under the base it walked: SCRIPT_NAME and
 * PATH_INFO are joined component by component, empty and "." ones
 * dropped (one file, one spelling, one pool entry) and a ".." refused,
 * since Caddy and H2O pass the client's "/../" through unchanged.
 *
 * The script's stat is left in OUT for the caller: a plain nginx request
 * costs one stat. Splitting happens only when the whole path fails with
 * ENOTDIR, which says a prefix is a file, and walks forward from the base
 * one stat per real directory it goes through: a run of '/' is one
 * component, and what the client wrote after the file costs nothing.
 *
 * The script's path, however it was made, is then tidied lexically: runs
 * of '/' become one and "." components go, so /www/./a.lua, /www//a.lua
 * and /www/a.lua are one script, one pool entry, one set of globals. A
 * ".." is left for the kernel: "dir/.." is "" only when dir is no
 * symlink, which the letters cannot tell, so dropping the two would serve
 * another file than the one named (and /www/missing/../a.lua, which the
 * kernel refuses, would run). The docroot check then sees the same path
 * the kernel does, ".." and all, and refuses it as before.
 *
 * Nothing here decides whether the script may run: the caller applies
 * `extensions` and `docroot` to the resolved path, so a split cannot serve
 * upload.txt as a script (/upload.txt/x.lua resolves to upload.txt) and
 * "..", symlinks and empty components in SCRIPT_FILENAME as sent meet the
 * same realpath check.
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

/* Append the components of SRC to DST (length *LEN, size N), one '/'
 * each, "" and "." dropped; a trailing '/' is kept, for the split.
 * -1 when too long, RESOLVE_DOTDOT on a ".." component. */
static int
resolve_append(char *dst, size_t *len, size_t n, const char *src)
{
    while (*src) {
        size_t clen;
        while (*src == '/')
            src++;
        clen = strcspn(src, "/");
        if (clen == 2 && src[0] == '.' && src[1] == '.')
            return RESOLVE_DOTDOT;
        if (!(clen == 1 && src[0] == '.')) {
            if (*len + 1 + clen >= n)
                return -1;
            if (*len == 0 || dst[*len - 1] != '/')
                dst[(*len)++] = '/';
            memcpy(dst + *len, src, clen);
            *len += clen;
        }
        src += clen;
    }
    dst[*len] = '\0';
    return 0;
}

/*
 * DST = BASE (without a trailing '/') + the components of A then B.
 * *BASELEN is where the walked part starts. 0, -1 when too long, or
 * RESOLVE_DOTDOT.
 */
static int
resolve_join(char *dst, size_t n, const char *base, const char *a, const char *b,
             size_t *baselen)
{
    size_t len = strlen(base);
    int rc;

    while (len > 0 && base[len - 1] == '/')
        len--;
    if (resolve_copy(dst, n, base, len) < 0)
        return -1;
    *baselen = len;
    if ((rc = resolve_append(dst, &len, n, a)) != 0)
        return rc;
    if ((rc = resolve_append(dst, &len, n, b)) != 0)
        return rc;
    if (strspn(dst + *baselen, "/") == len - *baselen)
        dst[0] = '\0';      /* nothing to walk to: no script */
    return 0;
}

/*
 * PATH failed with ENOTDIR: cut it at the regular file it runs through,
 * walking forward from FROM (a '/' or the end); the rest (from its '/')
 * goes to REST and the file's stat to SB. Left whole, with *ERR kept,
 * when the walk meets anything but a directory or a file.
 */
static int
resolve_split(char *path, size_t from, char *rest, size_t n, struct stat *sb, int *err)
{
    size_t i = from;

    while (path[i] == '/') {
        size_t end;
        int rc;
        while (path[i + 1] == '/')
            i++;
        end = i + 1 + strcspn(path + i + 1, "/");
        if (path[end] == '\0')
            return 0;
        path[end] = '\0';
        rc = stat(path, sb);
        path[end] = '/';
        if (rc < 0 || !(S_ISDIR(sb->st_mode) || S_ISREG(sb->st_mode)))
            return 0;
        if (S_ISREG(sb->st_mode)) {
            if (resolve_copy(rest, n, path + end, strlen(path + end)) < 0)
                return -1;
            path[end] = '\0';
            *err = 0;
            return 0;
        }
        i = end;
    }
    return 0;
}

/*
 * PATH in place with each run of '/' as one and the "." components
 * dropped; ".." kept (see the top of the file). A path that ended in '/'
 * or "." still ends in '/', and a relative one left with nothing is ".".
 * Never longer than it was.
 */
void
resolve_tidy(char *path)
{
    char *o = path;
    const char *p = path;
    size_t n;
    int trail = 0;

    if (*p == '/')
        *o++ = '/';
    while (*p != '\0') {
        while (*p == '/')
            p++;
        if ((n = strcspn(p, "/")) == 0) {
            trail = o > path;       /* ended in '/' */
            break;
        }
        trail = n == 1 && *p == '.';
        if (!trail) {
            if (o > path && o[-1] != '/')
                *o++ = '/';
            memmove(o, p, n);
            o += n;
        }
        p += n;
    }
    if (trail && o > path && o[-1] != '/')
        *o++ = '/';
    if (o == path)
        *o++ = '.';
    *o = '\0';
}

/* Stat OUT->script into OUT->sb, OUT->err: 0 or the errno. */
static void
resolve_stat(struct resolve *out)
{
    out->err = 0;
    if (out->script[0] == '\0')
        out->err = ENOENT;
    else if (stat(out->script, &out->sb) < 0)
        out->err = errno;
}

/*
 * The path to split: from SCRIPT_FILENAME, or rebuilt (*REBUILT = 1), its
 * stat in OUT; *FROM is where the part walked starts. 0, -1 when too
 * long, or RESOLVE_DOTDOT.
 */
static int
resolve_candidate(const struct resolve_in *in, struct resolve *out, int *rebuilt, size_t *from)
{
    const char *sn = in->script_name ? in->script_name : "";
    const char *pi = in->path_info ? in->path_info : "";
    const char *base = in->document_root && *in->document_root ? in->document_root : NULL;
    int rc = 0;

    *rebuilt = 0;
    *from = 0;
    if (in->filename && *in->filename) {
        char dir[PATH_MAX];
        if (resolve_strip_proxy(in->filename, out->script, sizeof(out->script)) < 0)
            return -1;
        resolve_stat(out);
        if (out->err != 0 || !S_ISDIR(out->sb.st_mode) || (*sn == '\0' && *pi == '\0'))
            return 0;
        memcpy(dir, out->script, sizeof(dir));
        *rebuilt = 1;
        rc = resolve_join(out->script, sizeof(out->script), base ? base : dir, sn, pi, from);
    } else {
        *rebuilt = 1;
        if (base != NULL)
            rc = resolve_join(out->script, sizeof(out->script), base, sn, pi, from);
        else if (in->path_translated && *in->path_translated)
            rc = resolve_join(out->script, sizeof(out->script), "", in->path_translated, "", from);
        else if (in->docroot && *in->docroot)
            rc = resolve_join(out->script, sizeof(out->script), in->docroot, sn, pi, from);
        else
            out->script[0] = '\0';
    }
    if (rc == 0)
        resolve_stat(out);
    return rc;
}

/*
 * SCRIPT_NAME and PATH_INFO after a split or a rebuild, as php-fpm sets
 * them. A SCRIPT_NAME too long to rebuild stays as received: the script
 * is found all the same.
 */
static void
resolve_names(const struct resolve_in *in, struct resolve *out, int rebuilt)
{
    const char *sn = in->script_name ? in->script_name : "";
    const char *pi = in->path_info ? in->path_info : "";
    size_t rlen = strlen(out->path_info), ulen;
    int len;

    if (!rebuilt && rlen == 0)
        return;
    len = snprintf(out->script_name, sizeof(out->script_name), "%s%s", sn, rebuilt ? pi : "");
    if (len < 0 || (size_t)len >= sizeof(out->script_name))
        out->script_name[0] = '\0';
    ulen = strlen(out->script_name);
    if (rlen == 1 && *pi == '\0' && (ulen == 0 || out->script_name[ulen - 1] != '/')) {
        /* lighttpd's broken-scriptfilename ends the script with a '/' of its own */
        out->path_info[0] = '\0';
        rlen = 0;
    }
    /* only what differs from what was received: no ORIG_* copies of the same */
    if (in->path_info ? strcmp(in->path_info, out->path_info) != 0 : rlen > 0)
        out->changed |= RESOLVE_PATH_INFO;
    if (ulen > 0 && ulen >= rlen && strcmp(out->script_name + ulen - rlen, out->path_info) == 0) {
        out->script_name[ulen - rlen] = '\0';
        if (in->script_name == NULL || strcmp(in->script_name, out->script_name) != 0)
            out->changed |= RESOLVE_SCRIPT_NAME;
    }
}

/*
 * Fill OUT from IN: 0, or 404 with WHY when no path can be made of them,
 * or 403 when the path to walk would leave its root.
 * An empty OUT->script is left to the caller to refuse; OUT->err is 0
 * when OUT->sb is the script's stat, else the errno.
 */
int
resolve_script(const struct resolve_in *in, struct resolve *out, char *why, size_t whylen)
{
    size_t from;
    int rebuilt, rc;

    out->changed = 0;
    out->path_info[0] = out->script_name[0] = '\0';
    rc = resolve_candidate(in, out, &rebuilt, &from);
    if (rc == 0 && out->err == ENOTDIR)
        rc = resolve_split(out->script, from, out->path_info, sizeof(out->path_info),
                           &out->sb, &out->err);
    if (rc != 0) {
        out->script[0] = '\0';
        if (rc == RESOLVE_DOTDOT) {
            snprintf(why, whylen, "a '..' in the path to walk from its root");
            return 403;
        }
        snprintf(why, whylen, "the script's path is longer than %d bytes", PATH_MAX - 1);
        return 404;
    }
    if (out->script[0] != '\0')
        resolve_tidy(out->script);
    resolve_names(in, out, rebuilt);
    if (in->filename == NULL || strcmp(in->filename, out->script) != 0)
        out->changed |= RESOLVE_FILENAME;
    return 0;
}
