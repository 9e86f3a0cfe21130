/* backoff.h: the back-off between restarts of a serving process. */
#ifndef LF_BACKOFF_H
#define LF_BACKOFF_H

void      backoff_started(void);
void      backoff_death(void);
long long backoff_delay_ms(void);

#endif
