/* Output buffers: growth, reset, shrink. */
#include <stdlib.h>
#include <string.h>

#include "luafcgid.h"
#include "buf.h"
#include "tap.h"

int
main(void)
{
    struct buf b;
    char big[5000];
    size_t cap;
    int i;

    ok(buf_init(&b, 8) == 0, "a buffer starts with the capacity asked for");
    is_int(b.cap, 8, "capacity 8");
    ok(buf_puts(&b, "hello") == 0 && b.len == 5, "appending within capacity");
    ok(buf_puts(&b, ", world") == 0 && b.len == 12 && b.cap >= 12, "appending past capacity grows it");
    ok(memcmp(b.data, "hello, world", 12) == 0, "the bytes are kept in order across growth");
    ok(buf_append(&b, "", 0) == 0 && b.len == 12, "an empty append changes nothing");

    memset(big, 'x', sizeof(big));
    for (i = 0; i < 100; i++)
        buf_append(&b, big, sizeof(big));
    is_int(b.len, 12 + 100 * sizeof(big), "100 large appends are all kept");
    cap = b.cap;
    buf_reset(&b);
    ok(b.len == 0 && b.cap == cap, "reset empties the buffer but keeps its memory");
    for (i = 0; i < 2 * LF_BUF_SHRINK_ROUNDS; i++)
        buf_shrink(&b, 1024);
    is_int(b.cap, cap, "a buffer under LF_BUF_KEEP keeps its memory between requests");
    for (i = 0; i < 300; i++)
        buf_append(&b, big, sizeof(big));
    cap = b.cap;
    for (i = 0; i < 3 * LF_BUF_SHRINK_ROUNDS; i++) {
        int j;
        buf_reset(&b);
        for (j = 0; j < 300; j++)               /* a big page every request */
            buf_append(&b, big, sizeof(big));
        buf_reset(&b);
        buf_shrink(&b, 1024);
    }
    is_int(b.cap, cap, "a large buffer that keeps being used is not shrunk (no realloc churn)");
    buf_reset(&b);
    for (i = 0; i < 2 * LF_BUF_SHRINK_ROUNDS; i++)
        buf_shrink(&b, 1024);
    is_int(b.cap, 1024, "once it has gone unused for a while it shrinks back");
    buf_shrink(&b, 1024);
    is_int(b.cap, 1024, "a buffer at its starting size is left alone");
    ok(buf_reserve(&b, (size_t)-1) < 0, "a size overflow is refused, not wrapped");
    buf_free(&b);
    ok(b.data == NULL && b.cap == 0, "free leaves an empty buffer");
    return done_testing();
}
