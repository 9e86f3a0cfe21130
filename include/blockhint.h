/* blockhint.h: a thread about to block tells whoever asked (blockhint.c). */
#ifndef LF_BLOCKHINT_H
#define LF_BLOCKHINT_H

typedef void (*blockhint_fn)(void *arg);

void blockhint_set(blockhint_fn fn, void *arg);
void blockhint(void);

#endif
