/* reqid.h: the id that ties every log line about one request together. */
#ifndef LF_REQID_H
#define LF_REQID_H

#include <stddef.h>

/* Longest id taken from the web server, and the room an id needs. */
#define REQID_MAX   64
#define REQID_SIZE  (REQID_MAX + 1)

int  reqid_init(void);
int  reqid_acceptable(const char *s);
void reqid_take(char *out, char **envp, int worker, unsigned long long *seq);

#endif
