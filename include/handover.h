/* handover.h: connections passed from a serving process that leaves to
 * the one that serves on (USR2, or a replacement). */
#ifndef LF_HANDOVER_H
#define LF_HANDOVER_H

/* A connection passed over: whether it served a request (kept) or has
 * sent nothing yet (new), and since when it is idle (ms on
 * CLOCK_MONOTONIC, which every process on the machine shares). */
struct handover_conn {
    int         fd;
    int         kept;
    long long   since;
};

#define HANDOVER_BATCH 64   /* connections one message carries at most */

int  handover_open(void);
int  handover_adopt(void);
int  handover_adopted(void);
int  handover_export(void);
void handover_close(void);
int  handover_inbox(void);
int  handover_send(const struct handover_conn *conns, int n);
int  handover_recv(struct handover_conn *conns, int max);

#endif
