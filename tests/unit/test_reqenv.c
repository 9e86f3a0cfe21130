/* The CGI variables the request reads itself, found in one pass: the
 * same answers as a walk for each name, where the last of a name wins
 * (php-fpm's rule; libfcgi's FCGX_GetParam gives the first). */
#include <stdio.h>
#include <string.h>

#include "reqenv.h"
#include "request.h"
#include "tap.h"

static const char *names[] = {
    "SCRIPT_FILENAME", "DOCUMENT_ROOT", "SCRIPT_NAME", "PATH_INFO", "PATH_TRANSLATED",
    "CONTENT_LENGTH", "REQUEST_METHOD", "REQUEST_URI",
};

/* NAME's value in ENV, by a walk from the end: the last wins. */
static const char *
last_of(const char *name, char **env)
{
    size_t n = 0, len = strlen(name);

    while (env != NULL && env[n] != NULL)
        n++;
    while (n-- > 0)
        if (strncmp(env[n], name, len) == 0 && env[n][len] == '=')
            return env[n] + len + 1;
    return NULL;
}

/* Every variable as last_of and reqenv_param find it in ENV: 1 when all
 * agree. */
static int
same_as_last(char **env)
{
    struct request_vars v;
    const char *got[8];
    size_t i;
    int same = 1;

    reqenv_find_vars(env, &v);
    got[0] = v.script_filename;
    got[1] = v.document_root;
    got[2] = v.script_name;
    got[3] = v.path_info;
    got[4] = v.path_translated;
    got[5] = v.content_length;
    got[6] = v.request_method;
    got[7] = v.request_uri;
    for (i = 0; i < 8; i++) {
        const char *want = last_of(names[i], env);
        if (got[i] != want || reqenv_param(names[i], env) != want) {
            printf("#   %s: got %s, want %s\n", names[i], got[i] ? got[i] : "(null)",
                   want ? want : "(null)");
            same = 0;
        }
    }
    return same;
}

int
main(void)
{
    char *nginx[] = {
        "QUERY_STRING=a=1", "REQUEST_METHOD=GET", "CONTENT_TYPE=", "CONTENT_LENGTH=",
        "SCRIPT_NAME=/hello.lua", "REQUEST_URI=/hello.lua?a=1", "DOCUMENT_URI=/hello.lua",
        "DOCUMENT_ROOT=/srv/www", "SERVER_PROTOCOL=HTTP/1.1", "GATEWAY_INTERFACE=CGI/1.1",
        "SERVER_SOFTWARE=nginx", "REMOTE_ADDR=127.0.0.1", "SERVER_NAME=localhost",
        "SCRIPT_FILENAME=/srv/www/hello.lua", "HTTP_HOST=localhost", NULL,
    };
    char *tricky[] = {
        "SCRIPT_FILENAMES=/no", "SCRIPT_FILENAME", "SCRIPT_NAME_X=/no", "PATH_INFOX=no",
        "script_filename=/no", "S", "", "DOCUMENT_ROOT=/first", "DOCUMENT_ROOT=/second",
        "PATH_INFO=", "SCRIPT_FILENAME=/yes", "PATH_TRANSLATED=/t=x", "CONTENT_LENGTH=12",
        "CONTENT_LENGTH=99", "REQUEST_URIS=/no", "REQUEST_URI=/yes", "REQUEST_METHOD=POST", NULL,
    };
    char *none[] = { "HTTP_HOST=x", NULL };
    char *headers[] = { "HTTP_X_FOO=one", "QUERY_STRING=a", "HTTP_X_FOO=two", "QUERY_STRING=b", NULL };
    char *empty[] = { NULL };
    struct request_vars v;

    ok(same_as_last(nginx), "what nginx sends: as a walk finds it");
    reqenv_find_vars(nginx, &v);
    ok(v.script_filename && strcmp(v.script_filename, "/srv/www/hello.lua") == 0 &&
       v.content_length && *v.content_length == '\0' && v.path_info == NULL,
       "the values, an empty one, and one not sent");
    ok(same_as_last(tricky), "longer names, a name without '=', lower case, repeats: the same");
    reqenv_find_vars(tricky, &v);
    ok(v.document_root && strcmp(v.document_root, "/second") == 0 &&
       strcmp(v.content_length, "99") == 0 && strcmp(v.path_translated, "/t=x") == 0 &&
       strcmp(v.script_filename, "/yes") == 0 && *v.path_info == '\0',
       "the last of a name wins, as php-fpm has it, and a value keeps its '='");
    ok(same_as_last(none) && same_as_last(empty), "none of them sent: all NULL");
    reqenv_find_vars(NULL, &v);
    ok(v.script_filename == NULL && v.content_length == NULL, "no environment at all: all NULL");
    ok(strcmp(reqenv_param("HTTP_X_FOO", headers), "one") == 0 && strcmp(reqenv_param("QUERY_STRING", headers), "b") == 0,
       "a header sent twice: its first line, as nginx's $http_ reads it; a parameter: the last");
    ok(reqenv_param("HTTP_", headers) == NULL && reqenv_param("HTTP_X", headers) == NULL, "no prefix matches");
    return done_testing();
}
