/*
 * request_out.c: a request's answer, as it goes out.
 *
 * The script's status, Content-Type and header lines wait in the request's
 * buffers until the first output is flushed or the handler returns; then
 * they go as one header block. In buffered mode (nothing flushed) the
 * block carries a Content-Length and the body follows whole; once
 * something is flushed, output streams as it is made. A client that goes
 * away marks the request, is logged once, and nothing more is written.
 *
 * Also the answers made without a script: the small HTML error page
 * (request_error) and the status and ping pages. Header lines a script
 * sets are checked here (request_check_header) so that none can split
 * the response. The request's flow, which decides what to answer, is
 * request.c.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "luafcgid.h"
#include "conf.h"
#include "html.h"
#include "log.h"
#include "request.h"
#include "request_out.h"
#include "status.h"

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

int
request_write(struct request *r, const char *p, size_t n)
{
    if (r->client_gone || n == 0)
        return r->client_gone ? -1 : 0;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        if (FCGX_PutStr(p, chunk, r->fcgx.out) != chunk) {
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

/* Send the header block; with FINAL the body is complete and its length known. */
int
request_send_head(struct request *r, int final)
{
    char len[64];
    struct buf *o = &r->out;

    r->headers_sent = 1;
    buf_reset(o);
    if (buf_puts(o, "Status: ") < 0 || buf_append(o, r->status.data, r->status.len) < 0 ||
        buf_puts(o, "\r\nContent-Type: ") < 0 || buf_append(o, r->ctype.data, r->ctype.len) < 0 ||
        buf_puts(o, "\r\n") < 0 || buf_puts(o, r->conf->headers) < 0 ||
        buf_append(o, r->head.data, r->head.len) < 0)
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

static const char *
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
    request_set(&r->status, line);
    request_set(&r->ctype, "text/html; charset=utf-8");
    buf_reset(&r->head);
    buf_reset(&r->body);
    r->has_length = 0;
    buf_puts(&r->body, "<!DOCTYPE html>\n<html><head><title>");
    buf_puts(&r->body, line);
    buf_puts(&r->body, "</title></head>\n<body><h1>");
    buf_puts(&r->body, line);
    buf_puts(&r->body, "</h1>\n");
    if (r->conf->showerrors) {
        buf_puts(&r->body, "<pre>");
        html_escape(&r->body, reason);
        buf_puts(&r->body, "</pre>\n");
    }
    buf_puts(&r->body, "<hr><address>" LF_NAME "</address></body></html>\n");
}

/* The status or ping page: no script, no Lua, headers that forbid
 * caching, and no body for HEAD. */
void
request_status(struct request *r, enum status_which which)
{
    const char *method = r->vars.request_method;
    const char *ctype = "text/plain;charset=UTF-8";
    int rc = 0;

    buf_puts(&r->head, "Cache-Control: no-cache, no-store, must-revalidate, max-age=0\r\n"
             "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
    if (which == STATUS_PING)
        rc = buf_puts(&r->body, r->conf->ping_response);    /* as php-fpm: no newline */
    else
        rc = status_render(r->conf, FCGX_GetParam("QUERY_STRING", r->fcgx.envp), &r->body, &ctype);
    if (rc < 0) {
        request_error(r, 500, "out of memory for the status page");
        request_finish(r);
        return;
    }
    request_set(&r->ctype, ctype);
    if (method && strcmp(method, "HEAD") == 0) {
        char len[64];
        /* the length the body would have, as a GET would get it */
        snprintf(len, sizeof(len), "Content-Length: %zu\r\n", r->body.len);
        buf_puts(&r->head, len);
        r->has_length = 1;
        buf_reset(&r->body);
    }
    request_finish(r);
    buf_reset(&r->body);
}
