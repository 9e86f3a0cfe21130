/*
 * libFuzzer: the multipart parser never reads out of bounds, and gives the
 * same parts and the same verdict whether the body comes in one piece or
 * cut where the first two bytes say; any difference aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A running digest of the events, so two parses compare in constant space. */
struct digest {
    uint64_t    h;
    size_t      data;
};

static void
mix(struct digest *d, const void *p, size_t n)
{
    const unsigned char *s = p;

    while (n-- > 0)
        d->h = (d->h ^ *s++) * 1099511628211ULL;
}

static int
on_begin(void *ud)
{
    mix(ud, "[", 1);
    return 0;
}

static int
on_header(void *ud, const char *name, size_t nlen, const char *value, size_t vlen)
{
    mix(ud, name, nlen);
    mix(ud, ":", 1);
    mix(ud, value, vlen);
    mix(ud, "\n", 1);
    return 0;
}

static int
on_done(void *ud)
{
    mix(ud, "|", 1);
    return 0;
}

static int
on_data(void *ud, const char *p, size_t n)
{
    struct digest *d = ud;

    mix(ud, p, n);      /* bytes only: how they were cut does not show */
    d->data += n;
    return 0;
}

static int
on_end(void *ud)
{
    mix(ud, "]", 1);
    return 0;
}

static const struct multipart_calls calls = { on_begin, on_header, on_done, on_data, on_end };

static int
parse(const char *p, size_t n, size_t cut, struct digest *d, const char **err)
{
    static struct multipart m;
    int rc;

    memset(d, 0, sizeof(*d));
    d->h = 14695981039346656037ULL;
    if (multipart_init(&m, "b0undary", &calls, d) < 0)
        __builtin_trap();
    rc = multipart_feed(&m, p, cut);
    if (rc == 0)
        rc = multipart_feed(&m, p + cut, n - cut);
    if (rc == 0)
        rc = multipart_finish(&m);
    *err = m.error;
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest one, two;
    const char *e1, *e2, *body;
    size_t cut, n;
    int r1, r2;

    if (size < 2)
        return 0;
    cut = ((size_t)data[0] << 8 | data[1]);
    body = (const char *)data + 2;
    n = size - 2;
    cut = n ? cut % (n + 1) : 0;
    r1 = parse(body, n, n, &one, &e1);
    r2 = parse(body, n, cut, &two, &e2);
    if (r1 != r2 || (r1 < 0 && strcmp(e1, e2) != 0) || (r1 == 0 && one.h != two.h))
        __builtin_trap();
    if (one.data > n)
        __builtin_trap();
    return 0;
}
