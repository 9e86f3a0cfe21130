/* forkguard.h: fork() from C modules refused in the serving process, and
 * a copy made past it ended before it serves. */
#ifndef LF_FORKGUARD_H
#define LF_FORKGUARD_H

#include <sys/types.h>

int   forkguard_arm(void);
pid_t forkguard_fork(void);
void  forkguard_check(void);

#endif
