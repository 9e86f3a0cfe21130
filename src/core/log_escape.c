/*
 * log_escape.c: what a log message may contain.
 *
 * Control characters, the backslash, bytes that are not UTF-8 and the
 * UTF-8 line breaks are escaped here, in the one place every message
 * passes, so request data quoted in a message can never forge a line.
 * It keeps no state: log.c calls it on the caller's stack before taking
 * the lock.
 */
#include <string.h>

#include "log_escape.h"

/* The length of the valid multi-byte UTF-8 sequence at S (N bytes left),
 * or 0: ASCII, a stray or overlong byte, a surrogate, past U+10FFFF, or
 * cut short. */
size_t
log_utf8_len(const unsigned char *s, size_t n)
{
    size_t len, i;
    unsigned char lo = 0x80, hi = 0xbf;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        lo = s[0] == 0xe0 ? 0xa0 : 0x80;    /* overlong */
        hi = s[0] == 0xed ? 0x9f : 0xbf;    /* surrogates */
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        lo = s[0] == 0xf0 ? 0x90 : 0x80;
        hi = s[0] == 0xf4 ? 0x8f : 0xbf;    /* past U+10FFFF */
    } else
        return 0;
    if (len > n || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* Does the UTF-8 sequence S of LEN bytes break a line for some reader?
 * The C1 controls (NEL among them) and U+2028/U+2029. */
static int
log_utf8_breaks(const unsigned char *s, size_t len)
{
    return (len == 2 && s[0] == 0xc2 && s[1] <= 0x9f) ||
           (len == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9));
}

/*
 * What the log's rules make of the character at S (N bytes left, N > 0),
 * its length in *LEN: LOG_KEEP, written as it is; LOG_ESCAPE, written
 * escaped, each of its bytes: a C0 control, DEL, the backslash (so data
 * cannot pass for an escape), a UTF-8 C1 control, U+2028 or U+2029;
 * LOG_NOT_UTF8, a byte that begins no valid UTF-8 character (*LEN 1).
 * The status page applies the same rules (status_format.c).
 */
enum log_char
log_char(const unsigned char *s, size_t n, size_t *len)
{
    *len = 1;
    if (s[0] < 0x80)
        return s[0] < 0x20 || s[0] == 0x7f || s[0] == '\\' ? LOG_ESCAPE : LOG_KEEP;
    if ((*len = log_utf8_len(s, n)) == 0) {
        *len = 1;
        return LOG_NOT_UTF8;
    }
    return log_utf8_breaks(s, *len) ? LOG_ESCAPE : LOG_KEEP;
}

/* Write the escape of byte C into E (\\ \n \r \t or \xNN, 4 bytes at
 * most); its length. */
size_t
log_escape_byte(char *e, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";

    e[0] = '\\';
    if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
        e[1] = (char)(c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\');
        return 2;
    }
    e[1] = 'x';
    e[2] = hex[c >> 4];
    e[3] = hex[c & 0xf];
    return 4;
}

/* Copy the LEN bytes of S into OUT (a string) with every byte that could
 * end or fake a line escaped: the backslash itself (so data cannot pass
 * for an escape), C0 controls with NUL, DEL, bytes that are not valid
 * UTF-8 (raw C1 controls among them), and the UTF-8 C1 controls, U+2028
 * and U+2029. No message, whatever request data it quotes, can start a
 * line of its own. Cut short rather than mid-escape. */
void
log_escape(char *out, size_t size, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;

    while (i < len) {
        char e[16];
        size_t n = 0, k, j;

        if (log_char(u + i, len - i, &k) == LOG_KEEP) {
            memcpy(e, u + i, k);
            n = k;
        } else {
            for (j = 0; j < k; j++)
                n += log_escape_byte(e + n, u[i + j]);
        }
        if (o + n >= size)
            break;
        memcpy(out + o, e, n);
        o += n;
        i += k;
    }
    out[o] = '\0';
}
