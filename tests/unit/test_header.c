/* Header validation for req:header. */
#include <string.h>

#include "request.h"
#include "tap.h"

static int
check(const char *name, const char *value)
{
    const char *why;

    return request_check_header(name, strlen(name), value, strlen(value), &why);
}

int
main(void)
{
    const char *why = NULL;

    ok(check("X-Test", "value") == 0, "a plain header is accepted");
    ok(check("Set-Cookie", "a=b; Path=/; HttpOnly") == 0, "a value with ; and = is accepted");
    ok(check("X-Empty", "") == 0, "an empty value is accepted");
    ok(check("", "v") < 0, "an empty name is refused");
    ok(check("X-Bad\r\nInjected", "v") < 0, "CR LF in a name is refused");
    ok(check("X-Test", "v\r\nSet-Cookie: evil=1") < 0, "CR LF in a value is refused");
    ok(check("X-Test", "v\nw") < 0, "a bare LF in a value is refused");
    ok(check("X-Test", "v\rw") < 0, "a bare CR in a value is refused");
    ok(request_check_header("X-Test", 6, "a\0b", 3, &why) < 0, "NUL in a value is refused");
    like(why, "NUL", "the reason names the bad byte");
    ok(request_check_header("X\0", 2, "v", 1, &why) < 0, "NUL in a name is refused");
    ok(check("X Test", "v") < 0, "a space in a name is refused");
    ok(check("X:Test", "v") < 0, "a colon in a name is refused");
    return done_testing();
}
