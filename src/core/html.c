/*
 * html.c: text put into HTML or XML, escaped in one place.
 *
 * The five characters markup gives a meaning (& < > " ') become entities,
 * so that a value is safe in element content and in a quoted attribute
 * alike; &#39; rather than &apos;, which HTML 4 lacks. Whoever has more
 * to escape (the status page's control characters and bad UTF-8) asks
 * html_entity one character at a time; the error page escapes whole
 * strings with html_escape.
 */
#include <stddef.h>

#include "buf.h"
#include "html.h"

/* The entity that stands for CH in markup, or NULL if CH stands for itself. */
const char *
html_entity(unsigned char ch)
{
    switch (ch) {
    case '&':  return "&amp;";
    case '<':  return "&lt;";
    case '>':  return "&gt;";
    case '"':  return "&quot;";
    case '\'': return "&#39;";
    default:   return NULL;
    }
}

/* Append S to B with markup's characters as entities; 0, or -1 when B
 * cannot grow (buf logs it). */
int
html_escape(struct buf *b, const char *s)
{
    const char *run = s, *e;
    int rc = 0;

    for (; *s && rc == 0; s++) {
        if ((e = html_entity((unsigned char)*s)) == NULL)
            continue;
        if ((rc = buf_append(b, run, (size_t)(s - run))) == 0)
            rc = buf_puts(b, e);
        run = s + 1;
    }
    return rc == 0 ? buf_append(b, run, (size_t)(s - run)) : rc;
}
