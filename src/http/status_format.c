/*
 * status_format.c: the status page as php-fpm writes it: plain text
 * (keys padded to one column), JSON (the same keys, times in epoch
 * seconds), XML (keys with dashes) and an HTML table. Tools written for
 * php-fpm's page parse these, so the layout follows fpm_status.c; our own
 * figures come after php-fpm's in the same shape.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "html.h"
#include "log_escape.h"
#include "status.h"
#include "status_impl.h"

#define STATUS_TEXT_PAD 22      /* php-fpm's column: "max active processes: " */

/* The character at S, a NUL-ended string: what the log's rules make of
 * it (log_escape.c), its length in *LEN. */
enum log_char
status_char(const unsigned char *s, size_t *len)
{
    return log_char(s, strnlen((const char *)s, 4), len);
}

/* The code point of the valid UTF-8 character S of LEN bytes (1 to 3:
 * the ones the log's rules escape). */
static unsigned
status_code_point(const unsigned char *s, size_t len)
{
    if (len == 1)
        return s[0];
    if (len == 2)
        return (unsigned)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    return (unsigned)(s[0] & 0x0f) << 12 | (unsigned)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
}

/* A character the log's rules escape (S, LEN bytes), as FMT writes it:
 * JSON's escape of the code point (\\ for the backslash), else the log's
 * own, each byte \xNN (or \n, \r, \t, \\): visible, and the same in
 * text, XML and HTML, and in OpenMetrics labels (status_metrics.c). */
static int
status_escape_char(struct buf *b, const unsigned char *s, size_t len, enum status_format fmt)
{
    char e[4];
    size_t i;
    int rc = 0;

    if (fmt == STATUS_FMT_JSON)
        return s[0] == '\\' ? buf_puts(b, "\\\\") : buf_printf(b, "\\u%04x", status_code_point(s, len));
    for (i = 0; i < len && rc == 0; i++)
        rc = buf_append(b, e, log_escape_byte(e, s[i]));
    return rc;
}

/* Append S with the characters FMT's syntax needs escaped: markup in XML
 * and HTML (html.c's entities), quotes in JSON, and in all of them the
 * characters the log's rules escape (controls, C1 controls, U+2028 and
 * U+2029, the backslash); bytes that are not UTF-8 become U+FFFD, as each
 * format is sent as UTF-8. */
static int
status_escape(struct buf *b, const char *s, enum status_format fmt)
{
    const unsigned char *p = (const unsigned char *)s;
    int rc = 0, markup = fmt == STATUS_FMT_XML || fmt == STATUS_FMT_HTML;
    const char *entity;
    size_t n;

    for (; *p && rc == 0; p += n) {
        switch (status_char(p, &n)) {
        case LOG_ESCAPE:
            rc = status_escape_char(b, p, n, fmt);
            break;
        case LOG_NOT_UTF8:
            rc = buf_puts(b, "\xef\xbf\xbd");  /* U+FFFD */
            break;
        default:
            if (fmt == STATUS_FMT_JSON && *p == '"')
                rc = buf_puts(b, "\\\"");
            else if (markup && n == 1 && (entity = html_entity(*p)) != NULL)
                rc = buf_puts(b, entity);
            else
                rc = buf_append(b, (const char *)p, n);
        }
    }
    return rc;
}

/* The value alone, as FMT shows it (text shows times as php-fpm's date,
 * and a time never set as -; the others as 0). */
static int
status_value(struct buf *b, const struct status_field *f, enum status_format fmt)
{
    char date[64];
    time_t when;
    struct tm tm;

    switch (f->kind) {
    case STATUS_TEXT:
        if (fmt == STATUS_FMT_JSON && buf_puts(b, "\"") < 0)
            return -1;
        if (status_escape(b, f->text, fmt) < 0)
            return -1;
        return fmt == STATUS_FMT_JSON ? buf_puts(b, "\"") : 0;
    case STATUS_TIME:
        if (fmt != STATUS_FMT_TEXT && fmt != STATUS_FMT_HTML)
            return buf_printf(b, "%lld", f->num);
        if (f->num == 0)
            return buf_puts(b, "-");    /* never: a script that never loaded */
        when = (time_t)f->num;
        if (localtime_r(&when, &tm) == NULL ||
            strftime(date, sizeof(date), "%d/%b/%Y:%H:%M:%S %z", &tm) == 0)
            return buf_printf(b, "%lld", f->num);
        return buf_puts(b, date);
    case STATUS_SECONDS:
        return buf_printf(b, "%.2f", (double)f->num / 1e6);
    default:
        return buf_printf(b, "%lld", f->num);
    }
}

/* KEY in lower case with SPACE for its spaces: XML's tag (dashes), or
 * JSON's and HTML's key, as php-fpm writes them. */
static void
status_tag(char *out, size_t len, const char *key, char space)
{
    size_t i;

    for (i = 0; key[i] && i + 1 < len; i++) {
        char ch = key[i];
        if (ch == ' ')
            ch = space;
        else if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        out[i] = ch;
    }
    out[i] = '\0';
}

static int
status_one(struct buf *b, const struct status_field *f, enum status_format fmt, int first)
{
    char tag[64];
    int rc = 0, w;

    /* php-fpm writes "request URI" in text, "request uri" in JSON and
     * HTML, "request-uri" in XML */
    status_tag(tag, sizeof(tag), f->key, fmt == STATUS_FMT_XML ? '-' : ' ');
    switch (fmt) {
    case STATUS_FMT_JSON:
        rc = buf_printf(b, "%s\"%s\":", first ? "" : ",", tag);
        break;
    case STATUS_FMT_XML:
        rc = buf_printf(b, "<%s>", tag);
        break;
    case STATUS_FMT_HTML:
        rc = buf_printf(b, "<tr><th>%s</th><td>", tag);
        break;
    default:
        /* "key:" then spaces up to php-fpm's column, at least one */
        w = (int)strlen(f->key) + 1;
        rc = buf_printf(b, "%s:%*s", f->key, w < STATUS_TEXT_PAD ? STATUS_TEXT_PAD - w : 1, "");
        break;
    }
    if (rc < 0 || status_value(b, f, fmt) < 0)
        return -1;
    switch (fmt) {
    case STATUS_FMT_JSON:
        return 0;
    case STATUS_FMT_XML:
        return buf_printf(b, "</%s>\n", tag);
    case STATUS_FMT_HTML:
        return buf_puts(b, "</td></tr>\n");
    default:
        return buf_puts(b, "\n");
    }
}

static int
status_list(struct buf *b, const struct status_field *f, int n, enum status_format fmt)
{
    int i;

    for (i = 0; i < n; i++)
        if (status_one(b, &f[i], fmt, i == 0) < 0)
            return -1;
    return 0;
}

/* What opens (END 0) or closes (END 1) a page in FMT. */
static int
status_frame(struct buf *b, enum status_format fmt, int end)
{
    static const char *const frames[][2] = {
        [STATUS_FMT_JSON] = { "{", "}\n" },
        [STATUS_FMT_XML]  = { "<?xml version=\"1.0\" ?>\n<status>\n", "</status>\n" },
        [STATUS_FMT_HTML] = { "<!DOCTYPE html>\n<html>\n<head><title>luafcgid status</title></head>\n"
                              "<body>\n<table>\n", "</body>\n</html>\n" },
    };

    if ((size_t)fmt >= sizeof(frames) / sizeof(frames[0]) || frames[fmt][end] == NULL)
        return 0;
    return buf_puts(b, frames[fmt][end]);
}

static int
status_items(struct buf *b, const struct status_list *l, enum status_format fmt)
{
    int i, rc = 0;

    if (l->nitems == 0)
        return 0;
    if (fmt == STATUS_FMT_JSON)
        rc = buf_printf(b, ",\"%s\":[", l->name);
    else if (fmt == STATUS_FMT_XML)
        rc = buf_printf(b, "<%s>\n", l->name);
    for (i = 0; i < l->nitems && rc == 0; i++) {
        if (fmt == STATUS_FMT_JSON)
            rc = buf_puts(b, i ? ",{" : "{");
        else if (fmt == STATUS_FMT_XML)
            rc = buf_printf(b, "<%s>\n", l->item);
        else if (fmt == STATUS_FMT_HTML)
            rc = buf_puts(b, "<table>\n");
        else
            rc = buf_printf(b, "\n%s\n", l->sep);
        if (rc == 0)
            rc = status_list(b, l->fields + (size_t)i * (size_t)l->nfields, l->nfields, fmt);
        if (rc == 0 && fmt == STATUS_FMT_JSON)
            rc = buf_puts(b, "}");
        else if (rc == 0 && fmt == STATUS_FMT_XML)
            rc = buf_printf(b, "</%s>\n", l->item);
        else if (rc == 0 && fmt == STATUS_FMT_HTML)
            rc = buf_puts(b, "</table>\n");
    }
    if (rc == 0 && fmt == STATUS_FMT_JSON)
        rc = buf_puts(b, "]");
    else if (rc == 0 && fmt == STATUS_FMT_XML)
        rc = buf_printf(b, "</%s>\n", l->name);
    return rc;
}

int
status_format(struct buf *b, const struct status_page *pg, enum status_format fmt)
{
    if (status_frame(b, fmt, 0) < 0 || status_list(b, pg->fields, pg->nfields, fmt) < 0 ||
        (fmt == STATUS_FMT_HTML && buf_puts(b, "</table>\n") < 0) ||
        status_items(b, &pg->procs, fmt) < 0 || status_items(b, &pg->scripts, fmt) < 0 ||
        status_items(b, &pg->shared, fmt) < 0 || status_items(b, &pg->pools, fmt) < 0 ||
        status_frame(b, fmt, 1) < 0)
        return -1;
    return 0;
}
