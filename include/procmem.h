/* procmem.h: this process's resident set size. */
#ifndef LF_PROCMEM_H
#define LF_PROCMEM_H

long long procmem_rss(void);

#endif
