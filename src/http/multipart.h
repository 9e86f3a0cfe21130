/* multipart.h: a streaming multipart/form-data parser, no Lua. */
#ifndef LF_MULTIPART_H
#define LF_MULTIPART_H

#include <stddef.h>

#define MULTIPART_BOUNDARY_MAX  70      /* RFC 2046 */
#define MULTIPART_HEADERS_MAX   8192    /* one part's header block */

/* Each callback returns 0, or -1 to stop the parse (it sets the error). */
struct multipart_calls {
    int (*part_begin)(void *ud);
    int (*header)(void *ud, const char *name, size_t nlen, const char *value, size_t vlen);
    int (*headers_done)(void *ud);
    int (*data)(void *ud, const char *p, size_t n);
    int (*part_end)(void *ud);
};

struct multipart {
    const struct multipart_calls *calls;
    void       *ud;
    char        delim[MULTIPART_BOUNDARY_MAX + 4];  /* "\r\n--" boundary */
    size_t      dlen;
    size_t      match;          /* bytes of delim matched so far */
    int         state;
    size_t      hlen;           /* bytes of this part's header block */
    size_t      llen;           /* bytes of the header line in line[] */
    char        line[MULTIPART_HEADERS_MAX];
    const char *error;          /* why the parse stopped */
};

int  multipart_boundary(const char *ctype, char *out, size_t outlen, const char **why);
int  multipart_init(struct multipart *m, const char *boundary,
                    const struct multipart_calls *calls, void *ud);
int  multipart_feed(struct multipart *m, const char *p, size_t n);
int  multipart_finish(struct multipart *m);
void multipart_fail(struct multipart *m, const char *why);
int  multipart_param(const char *value, size_t vlen, const char *param,
                     char *out, size_t outlen, size_t *got);

#endif
