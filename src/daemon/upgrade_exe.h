/* upgrade_exe.h: the binary USR2 runs. */
#ifndef LF_UPGRADE_EXE_H
#define LF_UPGRADE_EXE_H

struct conf;

void        upgrade_exe_save(const char *argv0);
const char *upgrade_exe(void);
int         upgrade_exe_check(const struct conf *c);

#endif
