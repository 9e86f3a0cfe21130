/* acl.h: allowed_clients, the addresses that may connect over TCP. */
#ifndef LF_ACL_H
#define LF_ACL_H

#include <stddef.h>
#include <sys/socket.h>

struct acl;

struct acl *acl_parse(char *const *items, int count, char *err, size_t errlen);
void        acl_free(struct acl *a);
int         acl_allows(const struct acl *a, const struct sockaddr *sa);
int         acl_admit(const struct acl *a, const struct sockaddr *sa);
int         acl_readmit(const struct acl *a, int fd);
const char *acl_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
