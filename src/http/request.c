/*
 * request.c: one FastCGI request's buffers and clocks, and its answer as
 * it goes out.
 *
 * A worker keeps one struct request for its whole life: the buffers grow
 * to what its requests need and are reused, and are cut back to their
 * starting sizes when the worker has been idle a while (request_idle),
 * since a big answer once should not hold memory for ever.
 *
 * The script's status, Content-Type and header lines wait in the request's
 * buffers until the first output is flushed or the handler returns; then
 * they go as one header block. In buffered mode (nothing flushed) the
 * block carries a Content-Length and the body follows whole; once
 * something is flushed, output streams as it is made. A client that goes
 * away marks the request, is logged once, and nothing more is written.
 *
 * Also the small HTML error page (request_error), for answers made
 * without a script. Header lines a script sets are checked here
 * (request_check_header) so that none can split the response. The CGI
 * variables and the handler's env are reqenv.c; the request's way through
 * the daemon, which decides what to answer, is serve.c.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "luafcgid.h"
#include "buf.h"
#include "conf.h"
#include "html.h"
#include "log.h"
#include "monoclock.h"
#include "request.h"
#include "wire.h"

int
request_init(struct request *r, int worker, struct pool *pool)
{
    struct conf *c = conf_acquire();
    size_t hs = c->headersize, bs = c->bodysize;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    conf_release(c);
    r->worker = worker;
    r->pool = pool;
    r->temp_fd = -1;
    if (buf_init(&r->status, 32) < 0 || buf_init(&r->ctype, 32) < 0 ||
        buf_init(&r->head, hs) < 0 || buf_init(&r->body, bs) < 0 ||
        buf_init(&r->post, 256) < 0 || buf_init(&r->out, hs + 128) < 0 ||
        buf_init(&r->temps, 256) < 0 || buf_init(&r->params, 1024) < 0)
        rc = -1;
    /* no listening socket: libfcgi only reads the connections we hand it */
    if (rc == 0 && FCGX_InitRequest(&r->fcgx, -1, 0) != 0) {
        log_err("worker %d: cannot initialise a FastCGI request", worker);
        rc = -1;
    }
    if (rc < 0)
        request_free(r);
    return rc;
}

void
request_free(struct request *r)
{
    buf_free(&r->status);
    buf_free(&r->ctype);
    buf_free(&r->head);
    buf_free(&r->body);
    buf_free(&r->post);
    buf_free(&r->out);
    buf_free(&r->temps);
    buf_free(&r->params);
    if (r->temp_fd >= 0)
        close(r->temp_fd);      /* only when the request did not end (upload_cleanup) */
    r->temp_fd = -1;
}

/* Its BEGIN_REQUEST is being read: the request's clocks start (the
 * thread's CPU time only when CPU is set: it costs a system call). */
void
request_began(struct request *r, int cpu)
{
    r->began_us = monoclock_us();
    clock_gettime(CLOCK_REALTIME, &r->began_at);
    r->cpu_taken = cpu;
    if (cpu)
        monoclock_thread_cpu(&r->cpu_user, &r->cpu_system);
}

/* Ready for the next request under its config (r->conf): status,
 * Content-Type and buffers as a script starts with them. */
void
request_reset(struct request *r)
{
    buf_set(&r->status, r->conf->httpstatus);
    buf_set(&r->ctype, r->conf->contenttype);
    buf_reset(&r->head);
    buf_reset(&r->body);
    buf_reset(&r->post);
    r->post_read = 0;
    r->body_left = 0;
    r->body_given = 0;
    r->body_taken = 0;
    r->body_want = BODY_UNKNOWN;
    r->headers_sent = 0;
    r->has_length = 0;
    r->client_gone = 0;
    r->no_keep = 0;
    r->ended = 0;
}

/*
 * The worker has been idle a while: buffers go back to their starting
 * sizes (the caller then hands what the busy spell freed back to the
 * system: housekeep_trim_soon).
 */
void
request_idle(struct request *r)
{
    struct conf *c = conf_acquire();
    size_t bs = c->bodysize;

    conf_release(c);
    buf_trim(&r->body, bs);
    buf_trim(&r->post, REQUEST_READ_CHUNK);
    buf_trim(&r->out, 256);
    buf_trim(&r->params, 1024);
}

/* A header name is an HTTP token; neither part may carry CR, LF or NUL. */
int
request_check_header(const char *name, size_t nlen, const char *value, size_t vlen,
                     const char **why)
{
    size_t i;

    if (nlen == 0) {
        *why = "empty header name";
        return -1;
    }
    for (i = 0; i < nlen; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch <= 32 || ch >= 127 || strchr("()<>@,;:\\\"/[]?={}", ch)) {
            *why = ch == '\r' || ch == '\n' || ch == '\0' ?
                   "CR, LF or NUL in a header name" : "invalid character in a header name";
            return -1;
        }
    }
    for (i = 0; i < vlen; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') {
            *why = "CR, LF or NUL in a header value";
            return -1;
        }
    return 0;
}

/* N bytes at P into the answer; with HOLD, libfcgi's writes of them are
 * held, to leave with the request's end (wire_hold). */
static int
request_put(struct request *r, const char *p, size_t n, int hold)
{
    if (r->client_gone || r->ended || n == 0)
        return r->client_gone || r->ended ? -1 : 0;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n, put;
        if (hold && r->wire != NULL)
            wire_hold(r->wire, 1);
        put = FCGX_PutStr(p, chunk, r->fcgx.out);
        if (hold && r->wire != NULL)
            wire_hold(r->wire, 0);
        if (put != chunk) {
            r->client_gone = 1;
            log_info("worker %d request %s: %s: the client went away mid-response", r->worker,
                     r->id, r->script ? r->script : "-");
            return -1;
        }
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

/* Out as written: what the script streams (buffering = false, a flush)
 * leaves as it comes, libfcgi's buffer aside. */
int
request_write(struct request *r, const char *p, size_t n)
{
    return request_put(r, p, n, 0);
}

/*
 * The script's header lines into O, but a Status line: the answer's
 * status is r->status, sent first. A second one (ngx.header.Status, which
 * ngx_lua sends as a plain header) is read by a web server as the status,
 * the first or the last, or refused when it is no status; so it is kept
 * for reading back and never sent. Lines end in "\r\n": no value holds a
 * line break (reqapi.c and ngx_header.c escape them). 0, or -1.
 */
static int
request_put_head(struct buf *o, const struct buf *head)
{
    const char *p = head->data, *end = head->data + head->len, *nl;
    size_t n;

    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        n = nl != NULL ? (size_t)(nl + 1 - p) : (size_t)(end - p);
        if (!(n >= 7 && strncasecmp(p, "Status:", 7) == 0) && buf_append(o, p, n) < 0)
            return -1;
        p += n;
    }
    return 0;
}

/* Send the header block; with FINAL the body is complete and its length known. */
static int
request_send_head(struct request *r, int final)
{
    char len[64];
    struct buf *o = &r->out;

    /* atomic: the housekeeper reads it for a worker it writes off */
    __atomic_store_n(&r->headers_sent, 1, __ATOMIC_RELAXED);
    buf_reset(o);
    if (buf_puts(o, "Status: ") < 0 || buf_append(o, r->status.data, r->status.len) < 0 ||
        buf_puts(o, "\r\n") < 0)
        return -1;
    /* none for an answer nginx sends without one (ngx.exit(204)...) */
    if (r->ctype.len > 0 && (buf_puts(o, "Content-Type: ") < 0 ||
        buf_append(o, r->ctype.data, r->ctype.len) < 0 || buf_puts(o, "\r\n") < 0))
        return -1;
    if (buf_puts(o, r->conf->headers) < 0 || request_put_head(o, &r->head) < 0)
        return -1;
    if (final && !r->has_length) {
        snprintf(len, sizeof(len), "Content-Length: %zu\r\n", r->body.len);
        if (buf_puts(o, len) < 0)
            return -1;
    }
    if (buf_puts(o, "\r\n") < 0)
        return -1;
    return request_write(r, o->data, o->len);
}

int
request_send_headers(struct request *r)
{
    return request_send_head(r, 0);
}

/* req:flush(): headers, then what is buffered, out now. */
int
request_flush(struct request *r)
{
    if (!r->headers_sent && request_send_head(r, 0) < 0)
        return -1;
    if (request_write(r, r->body.data, r->body.len) < 0)
        return -1;
    buf_reset(&r->body);
    if (!r->client_gone && FCGX_FFlush(r->fcgx.out) < 0) {
        r->client_gone = 1;
        return -1;
    }
    return 0;
}

/* req:finish(): the whole answer out now, and the FastCGI request ended
 * by the worker (its hook), while the handler goes on. */
void
request_end_early(struct request *r)
{
    if (r->ended)
        return;
    request_finish(r);
    buf_reset(&r->body);
    r->ended = 1;
    if (r->end_early != NULL)
        r->end_early(r);
}

const char *
request_status_text(int code)
{
    switch (code) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 413: return "Request Entity Too Large";
    case 503: return "Service Unavailable";
    default:  return "Internal Server Error";
    }
}

/* The small HTML page of the answer STATUS ("500 Internal Server Error")
 * into B, with REASON (escaped) when SHOWERRORS. 0, or -1 when out of
 * memory. */
int
request_page(struct buf *b, const char *status, const char *reason, int showerrors)
{
    int rc = 0;

    rc |= buf_puts(b, "<!DOCTYPE html>\n<html><head><title>");
    rc |= buf_puts(b, status);
    rc |= buf_puts(b, "</title></head>\n<body><h1>");
    rc |= buf_puts(b, status);
    rc |= buf_puts(b, "</h1>\n");
    if (showerrors) {
        rc |= buf_puts(b, "<pre>");
        rc |= html_escape(b, reason);
        rc |= buf_puts(b, "</pre>\n");
    }
    rc |= buf_puts(b, "<hr><address>" LF_NAME "</address></body></html>\n");
    return rc < 0 ? -1 : 0;
}

/* Answer CODE with a small page; REASON goes to the log (and the page
 * with showerrors). */
void
request_error(struct request *r, int code, const char *reason)
{
    char line[128];
    const char *text = request_status_text(code);

    if (r->worker == REQUEST_SERVICE)
        log_msg(LOG_LEVEL_WARN, "service thread request %s: %d %s: %s", r->id, code, text, reason);
    else
        log_msg(code >= 500 ? LOG_LEVEL_ERR : LOG_LEVEL_WARN, "worker %d request %s: %s: %d %s: %s",
                r->worker, r->id, r->script ? r->script : "-", code, text, reason);
    if (r->headers_sent) {
        log_err("worker %d request %s: %s: headers were already sent; the response is cut short",
                r->worker, r->id, r->script ? r->script : "-");
        return;
    }
    snprintf(line, sizeof(line), "%d %s", code, text);
    buf_set(&r->status, line);
    buf_set(&r->ctype, "text/html; charset=utf-8");
    buf_reset(&r->head);
    buf_reset(&r->body);
    r->has_length = 0;
    request_page(&r->body, line, reason, r->conf->showerrors);
}

/* The answer's last bytes: the header block first if it is still due. */
void
request_finish(struct request *r)
{
    if (!r->headers_sent)
        request_send_head(r, 1);
    /* the end follows at once (FCGX_Finish_r, FCGX_FClose): the whole
     * answer leaves in as few writes as it fits */
    request_put(r, r->body.data, r->body.len, 1);
}
