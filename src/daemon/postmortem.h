/* postmortem.h: how a serving process ended, for the log. */
#ifndef LF_POSTMORTEM_H
#define LF_POSTMORTEM_H

#include <stddef.h>
#include <sys/types.h>

const char *postmortem_signal_name(int sig, char *buf, size_t len);
void        postmortem_report(pid_t pid, int status);

#endif
