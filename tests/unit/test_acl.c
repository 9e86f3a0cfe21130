/* test_acl: allowed_clients, parsed and matched. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "tap.h"
#include "acl.h"

static struct acl *
parse(const char **items, int n, char *err, size_t len)
{
    err[0] = '\0';
    return acl_parse((char *const *)items, n, err, len);
}

/* Does ACL let the client ADDR (IPv4 or IPv6 text) in? */
static int
allows(const struct acl *a, const char *addr)
{
    struct sockaddr_in in;
    struct sockaddr_in6 in6;

    memset(&in, 0, sizeof(in));
    memset(&in6, 0, sizeof(in6));
    if (inet_pton(AF_INET, addr, &in.sin_addr) == 1) {
        in.sin_family = AF_INET;
        return acl_allows(a, (struct sockaddr *)&in);
    }
    inet_pton(AF_INET6, addr, &in6.sin6_addr);
    in6.sin6_family = AF_INET6;
    return acl_allows(a, (struct sockaddr *)&in6);
}

static void
test_empty_allows_all(void)
{
    char err[256];
    struct acl *a = parse(NULL, 0, err, sizeof(err));

    ok(a != NULL, "an empty allowed_clients parses");
    ok(allows(a, "192.0.2.1") && allows(a, "2001:db8::1"), "and lets everyone in");
    acl_free(a);
}

static void
test_ipv4(void)
{
    const char *rules[] = { "127.0.0.1", "10.0.0.0/8", "192.168.1.128/25" };
    char err[256];
    struct acl *a = parse(rules, 3, err, sizeof(err));

    ok(a != NULL, "IPv4 addresses and prefixes parse");
    ok(allows(a, "127.0.0.1"), "an exact address matches");
    ok(!allows(a, "127.0.0.9"), "another address of the same /8 does not");
    ok(allows(a, "10.255.3.4"), "a /8 matches its whole network");
    ok(!allows(a, "11.0.0.1"), "and nothing outside");
    ok(allows(a, "192.168.1.200") && !allows(a, "192.168.1.100"), "a /25 splits its /24");
    ok(allows(a, "::ffff:10.1.2.3"), "an IPv4-mapped IPv6 client is seen as IPv4");
    ok(!allows(a, "::1"), "IPv6 clients match no IPv4 rule");
    acl_free(a);
}

static void
test_ipv6(void)
{
    const char *rules[] = { "::1", "fd00::/8", "::ffff:172.16.0.0/108" };
    char err[256];
    struct acl *a = parse(rules, 3, err, sizeof(err));

    ok(a != NULL, "IPv6 addresses, prefixes and an IPv4-mapped prefix parse");
    ok(allows(a, "::1") && !allows(a, "::2"), "::1 matches itself only");
    ok(allows(a, "fd12:3456::1") && !allows(a, "fe80::1"), "fd00::/8 matches its network");
    ok(allows(a, "172.16.5.5") && !allows(a, "172.32.0.1"),
       "a rule written IPv4-mapped matches IPv4 clients (/108 is a /12)");
    acl_free(a);
}

static void
test_zero_prefix(void)
{
    const char *rules[] = { "0.0.0.0/0" };
    char err[256];
    struct acl *a = parse(rules, 1, err, sizeof(err));

    ok(a && allows(a, "203.0.113.7") && !allows(a, "2001:db8::7"), "0.0.0.0/0 is every IPv4 client");
    acl_free(a);
}

static void
test_bad_forms(void)
{
    static const char *bad[] = { "", "localhost", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x",
                                 "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0", "[::1]", "1.2.3.4 " };
    char err[256];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct acl *a = parse(&bad[i], 1, err, sizeof(err));
        ok(a == NULL && strstr(err, bad[i]) != NULL, "'%s' is refused, and the message names it", bad[i]);
        acl_free(a);
    }
    {
        const char *one[] = { "10.0.0.0/40" };
        acl_free(parse(one, 1, err, sizeof(err)));
        like(err, "0 to 32", "a long prefix says the range");
    }
}

int
main(void)
{
    test_empty_allows_all();
    test_ipv4();
    test_ipv6();
    test_zero_prefix();
    test_bad_forms();
    return done_testing();
}
