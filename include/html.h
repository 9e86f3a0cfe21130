/* html.h: the one escape of text put into HTML or XML. */
#ifndef LF_HTML_H
#define LF_HTML_H

struct buf;

const char *html_entity(unsigned char ch);
int         html_escape(struct buf *b, const char *s);

#endif
