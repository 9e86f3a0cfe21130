/*
 * supervise_signals.h: signal waits and the ready pipe, for supervise.c only.
 */
#ifndef LF_SUPERVISE_SIGNALS_H
#define LF_SUPERVISE_SIGNALS_H

#include <signal.h>
#include <sys/types.h>

void supervise_on_child(int sig);
int  supervise_wait(const sigset_t *set, long long ms);
int  supervise_wait_fd(int fd, const sigset_t *set);
void supervise_child_init(pid_t parent, int ready_fd);

#endif
