/* Request ids: the web server's when it sends an acceptable one (the
 * last REQUEST_ID, a parameter, else the first HTTP_X_REQUEST_ID, a
 * header's first line), else 32 hex digits
 * of our own: prefix, worker, count. */
#include <stdio.h>
#include <string.h>

#include "reqid.h"
#include "tap.h"

static int
all_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[n] == '\0';
}

int
main(void)
{
    char *nginx[] = { "HTTP_HOST=x", "REQUEST_URI=/a", "HTTP_X_REQUEST_ID=abc-123",
                      "REQUEST_ID=0123456789abcdef", NULL };
    char *bad_first[] = { "REQUEST_ID=has space", "HTTP_X_REQUEST_ID=from.header", NULL };
    char *repeats[] = { "HTTP_X_REQUEST_ID=first", "HTTP_X_REQUEST_ID=second", NULL };
    char *twice[] = { "REQUEST_ID=first", "REQUEST_ID=second", NULL };
    char *near[] = { "H", "HTTP", "HTTP_", "HTTP_X", "R", "REQUEST_IDX=no", "REQUEST_ID",
                     "HTTP_X_REQUEST_IDS=no", "http_x_request_id=no", NULL };
    char *bad_both[] = { "REQUEST_ID=", "HTTP_X_REQUEST_ID=a/b", NULL };
    char out[REQID_SIZE], first[REQID_SIZE];
    unsigned long long seq = 0;

    ok(reqid_init() == 0, "the random prefix is drawn");
    reqid_take(out, nginx, 1, &seq);
    is_str(out, "0123456789abcdef", "REQUEST_ID comes before the header");
    reqid_take(out, bad_first, 1, &seq);
    is_str(out, "from.header", "an unacceptable REQUEST_ID gives way to HTTP_X_REQUEST_ID");
    reqid_take(out, repeats, 1, &seq);
    is_str(out, "first", "of a header sent twice the first line");
    reqid_take(out, twice, 1, &seq);
    is_str(out, "second", "of a parameter sent twice the last");
    ok(seq == 0, "no id made so far");

    reqid_take(first, near, 0x1abc, &seq);
    ok(all_hex(first, 32) && seq == 1, "names that only look alike: an id of ours, 32 hex digits (%s)",
       first);
    ok(memcmp(first + 16, "1abc000000000001", 16) == 0, "the worker, then the count");
    seq = 0xfffffffffffeULL;
    reqid_take(out, bad_both, 7, &seq);
    ok(all_hex(out, 32) && memcmp(out, first, 16) == 0, "the same prefix every time");
    ok(memcmp(out + 16, "0007ffffffffffff", 16) == 0, "the count in 12 digits (%s)", out + 16);
    seq = 0x123456789abcdefULL;
    reqid_take(out, NULL, 0x12345, &seq);
    ok(memcmp(out + 16, "2345456789abcdf0", 16) == 0, "wider worker and count are cut (%s)", out + 16);
    return done_testing();
}
