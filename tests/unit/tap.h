/* tap.h: just enough TAP for prove. */
#ifndef LF_TAP_H
#define LF_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, name) do { long long g_ = (got), w_ = (want); \
    if (!ok(g_ == w_, "%s", name)) printf("#   got %lld, want %lld\n", g_, w_); } while (0)
#define is_str(got, want, name) do { const char *g_ = (got), *w_ = (want); \
    if (!ok(g_ && w_ && strcmp(g_, w_) == 0, "%s", name)) \
        printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } while (0)
#define like(got, sub, name) do { const char *g_ = (got), *s_ = (sub); \
    if (!ok(g_ && strstr(g_, s_), "%s", name)) \
        printf("#   \"%s\" does not contain \"%s\"\n", g_ ? g_ : "(null)", s_); } while (0)

static int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    tap_n++;
    printf("%sok %d - ", pass ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!pass) {
        tap_failed++;
        printf("#   failed at %s line %d\n", file, line);
    }
    fflush(stdout);
    return pass;
}

/* A test this build cannot run: counted and shown as skipped, never as a
 * pass. Static inline, so a test that never skips has no unused function. */
static inline void tap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define skip(...) tap_skip(__VA_ARGS__)

static inline void
tap_skip(const char *fmt, ...)
{
    va_list ap;

    tap_n++;
    printf("ok %d # skip ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static int
done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
