/* restart.h: the back-off between restarts of a serving process. */
#ifndef LF_RESTART_H
#define LF_RESTART_H

void      restart_started(void);
void      restart_death(void);
long long restart_delay_ms(void);

#endif
