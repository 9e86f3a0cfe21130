/*
 * procmem.c: the resident set size of this process, for max_rss and the
 * status page.
 *
 * Read when asked (a sweep, a status request), never kept: Linux gives it
 * in /proc/self/statm (resident pages, the second field), FreeBSD in the
 * process's kinfo_proc (ki_rssize, pages) through sysctl. Elsewhere it is
 * unknown (-1), and max_rss is never reached.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__FreeBSD__)
#include <sys/types.h>
#include <sys/sysctl.h>
#include <sys/user.h>
#endif

#include "procmem.h"

static long long
procmem_page(void)
{
    long page = sysconf(_SC_PAGESIZE);

    return page > 0 ? page : 4096;
}

#if defined(__linux__)
long long
procmem_rss(void)
{
    char buf[128];
    long long pages;
    ssize_t n;
    int fd;

    if ((fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    if (sscanf(buf, "%*s %lld", &pages) != 1)
        return -1;
    return pages * procmem_page();
}
#elif defined(__FreeBSD__)
long long
procmem_rss(void)
{
    int mib[4] = { CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)getpid() };
    struct kinfo_proc kp;
    size_t len = sizeof(kp);

    if (sysctl(mib, 4, &kp, &len, NULL, 0) < 0 || len != sizeof(kp))
        return -1;
    return (long long)kp.ki_rssize * procmem_page();
}
#else
long long
procmem_rss(void)
{
    return -1;
}
#endif
