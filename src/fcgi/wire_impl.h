/*
 * wire_impl.h: the record layer's own, shared by its files only: wire.c
 * (a request's connection, its clock and its reads), wire_out.c (its
 * writes), wire_walk.c (the walk of the bytes read), wire_mgmt.c (the
 * records it answers itself), wire_rest.c (the rest of a body answered
 * early), wire_check.c (the start-up proof) and wire_writeoff.c (the end
 * of a written-off worker's connection). The protocol's numbers and
 * framing are in fcgi_record.h.
 */
#ifndef LF_WIRE_IMPL_H
#define LF_WIRE_IMPL_H

#include <stddef.h>
#include <sys/types.h>

#include "fcgi_record.h"
#include "wire.h"

/* Where the request is in its record sequence (wire_walk.c). */
enum { WIRE_AT_BEGIN, WIRE_AT_PARAMS, WIRE_AT_STDIN, WIRE_AT_END };

#define WIRE_IO_WRITE   1       /* wire_io: write, not read */
#define WIRE_IO_NOWAIT  2       /* wire_io: fail with EAGAIN instead of waiting */

/* wire.c */
struct wire *wire_current(int fd);
ssize_t wire_io(struct wire *w, int fd, char *buf, size_t len, int how);
int    wire_fail(struct wire *w, int err, const char *what, const char *key, size_t value);
int    wire_refuse(struct wire *w, const char *why);
void   wire_rearm(struct wire *w);

/* wire_out.c */
int    wire_send(struct wire *w, const unsigned char *p, size_t n);

/* wire_walk.c */
ssize_t wire_walk(struct wire *w, const unsigned char *p, size_t n, unsigned char *out);
int    wire_count(struct wire *w, size_t n);
size_t wire_next_part(const struct wire *w);

/* wire_rest.c */
int    wire_rest_keep(struct wire *w);
void   wire_rest_take(struct wire *w);
int    wire_rest_next(const struct wire *w, int id);
int    wire_aside_rest(struct wire *w);

/* wire_mgmt.c */
int    wire_aside_management(struct wire *w);
int    wire_aside_other(struct wire *w);
void   wire_aside_content(struct wire *w, const unsigned char *p, size_t n);
int    wire_aside_done(struct wire *w);
int    wire_mgmt_values(const unsigned char *in, size_t n, int maxconns, unsigned char *out,
                        size_t room);
size_t wire_mgmt_record(unsigned char *out, int type, int id, const unsigned char *content,
                        size_t n);
size_t wire_mgmt_unknown(unsigned char *out, int type);
size_t wire_mgmt_cant_mpx(unsigned char *out, int id);

#endif
