/* resolve.h: from the CGI variables a web server sends to a script's path. */
#ifndef LF_RESOLVE_H
#define LF_RESOLVE_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

/* What resolve_script changed, besides the script's path. */
#define RESOLVE_PATH_INFO   1   /* path_info replaces PATH_INFO */
#define RESOLVE_SCRIPT_NAME 2   /* script_name replaces SCRIPT_NAME */
#define RESOLVE_FILENAME    4   /* script differs from SCRIPT_FILENAME */

#define RESOLVE_DOTDOT      (-2)    /* a ".." in a path to be walked */

/* The variables as received; NULL when absent. */
struct resolve_in {
    const char *filename;           /* SCRIPT_FILENAME */
    const char *document_root;      /* DOCUMENT_ROOT */
    const char *script_name;        /* SCRIPT_NAME */
    const char *path_info;          /* PATH_INFO */
    const char *path_translated;    /* PATH_TRANSLATED */
    const char *docroot;            /* the docroot key, the last fallback */
};

struct resolve {
    char script[PATH_MAX];
    char path_info[PATH_MAX];
    char script_name[PATH_MAX];
    int  changed;                   /* RESOLVE_* bits */
    int  err;                       /* 0: sb is the script's stat; else its errno */
    struct stat sb;
};

void resolve_tidy(char *path);
int resolve_script(const struct resolve_in *in, struct resolve *out, char *why, size_t whylen);

#endif
