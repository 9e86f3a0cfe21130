/* fdpass.h: one descriptor at a time over a Unix socket (SCM_RIGHTS). */
#ifndef LF_FDPASS_H
#define LF_FDPASS_H

int fdpass_send(int chan, int fd);
int fdpass_recv(int chan);

#endif
