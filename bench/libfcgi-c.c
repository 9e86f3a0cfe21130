/*
 * libfcgi-c.c: the FastCGI protocol ceiling for the benchmarks.
 *
 * A minimal threaded libfcgi responder, the way the libfcgi examples write
 * one: N threads, each in its own FCGX_Accept_r loop on the socket given
 * as fd 0 (spawn-fcgi style) or bound here. It answers the pages that need
 * no interpreter: hello, page64k (built once), post4k (the body's length).
 *
 *   libfcgi-c SOCKET THREADS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

static int listen_fd;
static char page64k[65536];

static void
serve(FCGX_Request *r)
{
    const char *uri = FCGX_GetParam("SCRIPT_NAME", r->envp);
    char buf[8192];
    long total = 0;
    int n;

    if (uri == NULL)
        uri = "";
    if (strstr(uri, "page64k")) {
        FCGX_PutS("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 65536\r\n\r\n", r->out);
        FCGX_PutStr(page64k, sizeof(page64k), r->out);
    } else if (strstr(uri, "post4k")) {
        while ((n = FCGX_GetStr(buf, sizeof(buf), r->in)) > 0)
            total += n;
        n = snprintf(buf, sizeof(buf), "%ld", total);
        FCGX_FPrintF(r->out, "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", n, buf);
    } else {
        FCGX_PutS("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n", r->out);
    }
}

static void *
loop(void *arg)
{
    FCGX_Request r;

    (void)arg;
    FCGX_InitRequest(&r, listen_fd, 0);
    while (FCGX_Accept_r(&r) >= 0)
        serve(&r);
    return NULL;
}

int
main(int argc, char **argv)
{
    pthread_t *t;
    int i, n;

    if (argc != 3) {
        fprintf(stderr, "usage: libfcgi-c SOCKET THREADS\n");
        return 1;
    }
    for (i = 0; i < (int)sizeof(page64k); i++)
        page64k[i] = (char)('a' + i % 26);
    if (FCGX_Init() != 0 || (listen_fd = FCGX_OpenSocket(argv[1], 128)) < 0) {
        fprintf(stderr, "libfcgi-c: cannot listen on %s\n", argv[1]);
        return 1;
    }
    n = atoi(argv[2]);
    if ((t = calloc((size_t)n, sizeof(*t))) == NULL)
        return 1;
    for (i = 1; i < n; i++)
        pthread_create(&t[i], NULL, loop, NULL);
    loop(NULL);
    return 0;
}
