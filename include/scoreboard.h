/* scoreboard.h: what each worker is running, readable from another process. */
#ifndef LF_SCOREBOARD_H
#define LF_SCOREBOARD_H

#include <time.h>

#include "luafcgid.h"

struct scoreboard_entry {
    int     worker;                         /* 1-based */
    time_t  since;                          /* when the request started */
    int     torn;                           /* the worker was writing it */
    char    script[LF_SCOREBOARD_PATH];
};

int  scoreboard_create(int workers);
void scoreboard_destroy(void);
void scoreboard_clear(void);
void scoreboard_select(int board);
void scoreboard_enter(int worker, const char *script);
void scoreboard_leave(int worker);
int  scoreboard_read(int worker, struct scoreboard_entry *out);
int  scoreboard_slots(void);

#endif
