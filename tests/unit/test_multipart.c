/* test_multipart: the multipart parser gives the same parts however the body is split. */
#include <stdlib.h>
#include <string.h>

#include "multipart.h"
#include "tap.h"

/* What the callbacks saw, as text: [headers|data] per part. */
struct seen {
    char    text[8192];
    size_t  len;
    int     refuse_data;
};

static void
seen_add(struct seen *s, const char *p, size_t n)
{
    if (s->len + n < sizeof(s->text)) {
        memcpy(s->text + s->len, p, n);
        s->len += n;
        s->text[s->len] = '\0';
    }
}

static int
on_begin(void *ud)
{
    seen_add(ud, "[", 1);
    return 0;
}

static int
on_header(void *ud, const char *name, size_t nlen, const char *value, size_t vlen)
{
    seen_add(ud, name, nlen);
    seen_add(ud, "=", 1);
    seen_add(ud, value, vlen);
    seen_add(ud, ";", 1);
    return 0;
}

static int
on_done(void *ud)
{
    seen_add(ud, "|", 1);
    return 0;
}

static int
on_data(void *ud, const char *p, size_t n)
{
    struct seen *s = ud;

    if (s->refuse_data)
        return -1;
    seen_add(ud, p, n);
    return 0;
}

static int
on_end(void *ud)
{
    seen_add(ud, "]", 1);
    return 0;
}

static const struct multipart_calls calls = { on_begin, on_header, on_done, on_data, on_end };

/* Parse BODY cut at the offsets in CUTS (ascending); 0 or -1, and the error. */
static int
parse_split(const char *body, size_t len, const size_t *cuts, int ncuts, struct seen *s,
            const char **err)
{
    static struct multipart m;
    size_t at = 0;
    int i, rc = 0;

    memset(s, 0, sizeof(*s));
    multipart_init(&m, "XyZ", &calls, s);
    for (i = 0; i <= ncuts && rc == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        rc = multipart_feed(&m, body + at, to - at);
        at = to;
    }
    if (rc == 0)
        rc = multipart_finish(&m);
    *err = m.error;
    return rc;
}

/* Every cut into two and three pieces, and byte by byte, give WANT. */
static void
every_split(const char *name, const char *body, const char *want, const char *want_err)
{
    size_t len = strlen(body), cuts[3], a, b;
    struct seen s;
    const char *err;
    int bad = 0, rc;

    rc = parse_split(body, len, NULL, 0, &s, &err);
    if (want_err) {
        ok(rc < 0 && err && strstr(err, want_err), "%s: one piece fails: %s", name, want_err);
        if (err && !strstr(err, want_err))
            printf("#   got error \"%s\"\n", err);
    } else {
        ok(rc == 0, "%s: one piece parses", name);
        is_str(s.text, want, "the parts as seen");
    }
    for (a = 0; a <= len; a++)
        for (b = a; b <= len; b++) {
            cuts[0] = a;
            cuts[1] = b;
            rc = parse_split(body, len, cuts, 2, &s, &err);
            if (want_err ? rc == 0 || !strstr(err, want_err) : rc != 0 || strcmp(s.text, want) != 0) {
                if (bad++ == 0)
                    printf("# cut at %zu and %zu: rc %d, \"%s\", %s\n", a, b, rc, s.text, err ? err : "");
            }
        }
    {
        static struct multipart m;
        size_t i;
        rc = 0;
        memset(&s, 0, sizeof(s));
        multipart_init(&m, "XyZ", &calls, &s);
        for (i = 0; i < len && rc == 0; i++)
            rc = multipart_feed(&m, body + i, 1);
        if (rc == 0)
            rc = multipart_finish(&m);
        if (want_err ? rc == 0 : rc != 0 || strcmp(s.text, want) != 0)
            bad++;
    }
    ok(bad == 0, "%s: every split into 2 or 3 pieces and byte by byte gives the same", name);
}

static void
test_bodies(void)
{
    every_split("two fields",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\ntwo\r\n--XyZ--\r\n",
        "[Content-Disposition=form-data; name=\"a\";|one][Content-Disposition=form-data; name=\"b\";|two]",
        NULL);
    every_split("a file whose data looks like a delimiter",
        "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n"
        "Content-Type: text/plain\r\n\r\n\r\n--Xy\r\r\n--XyQ\r\n-\r\n--XyZ--epilogue",
        "[Content-Disposition=form-data; name=\"f\"; filename=\"x\";Content-Type=text/plain;|"
        "\r\n--Xy\r\r\n--XyQ\r\n-]",
        NULL);
    every_split("an empty part, padding after a boundary",
        "--XyZ \t\r\nA: 1\r\n\r\n\r\n--XyZ--",
        "[A=1;|]", NULL);
    every_split("bare LF line ends",
        "--XyZ\nA:  b c \n\nv\r\n--XyZ--\n", "[A=b c;|v]", NULL);
    every_split("no boundary line", "just text\r\n", NULL, "no boundary line");
    every_split("a boundary never closed",
        "--XyZ\r\nA: 1\r\n\r\ndata", NULL, "before its closing boundary");
    every_split("a part without headers",
        "--XyZ\r\n\r\ndata\r\n--XyZ--", NULL, "without headers");
    every_split("a header without a colon",
        "--XyZ\r\nnocolon\r\n\r\n\r\n--XyZ--", NULL, "without a name and a colon");
    every_split("garbage after a boundary",
        "--XyZ!\r\nA: 1\r\n\r\n\r\n--XyZ--", NULL, "garbage after");
    every_split("folded header",
        "--XyZ\r\nA: 1\r\n b\r\n\r\n\r\n--XyZ--", NULL, "folded");
}

static void
test_limits(void)
{
    static struct multipart m;
    struct seen s;
    char *big;
    size_t n = MULTIPART_HEADERS_MAX + 100;

    big = malloc(n);
    ok(big != NULL, "memory for a long header");
    if (big == NULL)
        return;
    memset(big, 'a', n);
    memcpy(big, "--XyZ\r\nA: ", 10);
    memset(&s, 0, sizeof(s));
    multipart_init(&m, "XyZ", &calls, &s);
    ok(multipart_feed(&m, big, n) < 0 && strstr(m.error, "too long"),
       "a header block over %d bytes is refused", MULTIPART_HEADERS_MAX);
    free(big);

    memset(&s, 0, sizeof(s));
    s.refuse_data = 1;
    multipart_init(&m, "XyZ", &calls, &s);
    ok(multipart_feed(&m, "--XyZ\r\nA: 1\r\n\r\nx", 16) < 0, "a callback's refusal stops the parse");
    ok(multipart_feed(&m, "more", 4) < 0, "and the parser stays stopped");
    ok(multipart_init(&m, "a\rb", &calls, &s) < 0, "a boundary with CR is refused");
}

static void
test_boundary(void)
{
    char b[MULTIPART_BOUNDARY_MAX + 2];
    char long_ct[200];
    const char *why = NULL;

    ok(multipart_boundary("multipart/form-data; boundary=----abc", b, sizeof(b), &why) == 0,
       "a token boundary");
    is_str(b, "----abc", "its value");
    ok(multipart_boundary("multipart/form-data; charset=x; BOUNDARY=\"a b:c\"", b, sizeof(b), &why) == 0,
       "a quoted boundary, any case");
    is_str(b, "a b:c", "its value");
    ok(multipart_boundary("multipart/form-data", b, sizeof(b), &why) < 0 && strstr(why, "no boundary"),
       "no boundary");
    ok(multipart_boundary("multipart/form-data; boundary=", b, sizeof(b), &why) < 0, "an empty boundary");
    snprintf(long_ct, sizeof(long_ct), "multipart/form-data; boundary=%071d", 0);
    ok(multipart_boundary(long_ct, b, sizeof(b), &why) < 0 && strstr(why, "70"),
       "a boundary over 70 characters");
    ok(multipart_boundary("multipart/form-data; boundary=\"a\r\"", b, sizeof(b), &why) < 0,
       "a boundary with CR");
}

static void
test_param(void)
{
    const char *win = "form-data; filename=\"C:\\d\\x.txt\"";
    const char *cd = "form-data; filename=\"../a\\\"b.txt\"; name=\"up\"";
    char out[64];
    size_t n;

    ok(multipart_param(cd, strlen(cd), "name", out, sizeof(out), &n) == 1, "name found");
    is_str(out, "up", "not taken from filename");
    ok(multipart_param(cd, strlen(cd), "filename", out, sizeof(out), &n) == 1, "filename found");
    is_str(out, "../a\"b.txt", "with its escaped quote");
    ok(multipart_param(cd, strlen(cd), "size", out, sizeof(out), &n) == 0, "an absent parameter");
    ok(multipart_param(win, strlen(win), "filename", out, sizeof(out), &n) == 1,
       "a Windows path");
    is_str(out, "C:\\d\\x.txt", "keeps its backslashes");
    ok(multipart_param(cd, strlen(cd), "name", out, 2, &n) == -1, "a value too long for its room");
    ok(multipart_param("form-data; name=\"x", 18, "name", out, sizeof(out), &n) == -1,
       "an unterminated quote");
}

int
main(void)
{
    test_bodies();
    test_limits();
    test_boundary();
    test_param();
    return done_testing();
}
