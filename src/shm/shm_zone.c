/*
 * shm_zone.c: the daemon's dictionaries, made in memory that outlives the
 * serving process, and handed to the next binary on USR2.
 *
 * The supervising process makes each dictionary of `shared` before it
 * forks the serving process: a file in memory (memfd on Linux, an
 * anonymous shm object on FreeBSD), its size fixed (and sealed, on Linux)
 * and mapped MAP_SHARED. Every serving process it forks inherits the
 * mapping, so the contents outlive a crash of one (kill -9 included: the
 * lock it may have held is robust, shm_lock.c; the next serving process
 * checks them first, shm_check_all) and HUP, which never
 * changes the set of dictionaries (`shared` takes effect at an upgrade or
 * a restart; shm_reload_report says so in the log). The table below is
 * written before the first fork and only read afterwards: no lock.
 *
 * USR2: the descriptors go to the new binary as the listening sockets do
 * (shm_export, called as the new binary is started; LUAFCGID_SHARED
 * names them), and it maps the same memory: the old serving process and
 * the new one share the dictionaries while the old one drains. A
 * dictionary whose size the new config changes is resized in place
 * (shm_resize.c), so that what either process writes, before, during or
 * after, is in the one memory both use; one the config no longer names is
 * dropped; a layout the new binary does not know starts empty. TERM ends
 * them: the last process that maps them exits.
 *
 * Every arena is SIZE bytes of heap (the bucket array included) after a
 * fixed header (SHM_HEAD_GRANULES), rounded up to a page: a dictionary
 * never takes more, whatever the scripts store. Every process maps
 * `reserved` bytes of it, LF_SHARED_MAX and the header where the system
 * lets it (address space only: a shared mapping of a file commits
 * nothing, and pages are touched only as entries are written), so that a
 * size grown by an upgrade is seen by every process at once.
 *
 * After a serving process crashed (a signal of a fault, where a stray
 * store of a C module may have hit a dictionary; never after a kill, whose
 * victim leaves at most a step its lock's next holder undoes), the next
 * one checks every dictionary in the background, a bucket range a step
 * (shm_check_all), and serves meanwhile: its start does not wait in
 * proportion to the dictionaries' size.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bgthread.h"
#include "conf.h"
#include "log.h"
#include "monoclock.h"
#include "shm_impl.h"

#define SHM_ENV "LUAFCGID_SHARED"

/* Written by shm_setup before the first fork, read-only afterwards. */
static struct shm_dict *shm_dicts[LF_MAX_SHARED];
static int shm_ndicts;
/* In the supervisor: a serving process crashed, so the next one (forked
 * with this set) checks the dictionaries, in the background. */
static int shm_suspected;

/* The background check (bgthread.c: a stop wakes it from its pauses). */
static struct bgthread shm_check_thread;

/* Buckets a background check step looks at, and steps between pauses. */
#define SHM_CHECK_BUCKETS   1024
#define SHM_CHECK_BURST     16

/* A file in memory of LEN bytes that cannot be resized; -1 (logged). */
static int
shm_memfile(const char *name, size_t len)
{
    int fd;

#if defined(__linux__) && defined(MFD_CLOEXEC)
    fd = memfd_create("luafcgid-shared", MFD_CLOEXEC | MFD_ALLOW_SEALING);
#elif defined(SHM_ANON)
    fd = shm_open(SHM_ANON, O_RDWR | O_CLOEXEC, 0600);
#else
    char path[64];

    snprintf(path, sizeof(path), "/luafcgid.%ld.%lld", (long)getpid(), monoclock_us());
    if ((fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600)) >= 0) {
        shm_unlink(path);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
#endif
    if (fd < 0) {
        log_syserr("shared dictionary '%s': cannot make its memory", name);
        return -1;
    }
    if (ftruncate(fd, (off_t)len) < 0) {
        log_syserr("shared dictionary '%s': cannot size its memory to %zu bytes", name, len);
        close(fd);
        return -1;
    }
    /* not sealed: an upgrade may resize it in place (shm_resize.c); the
     * descriptor is close-on-exec, never a script's */
    return fd;
}

/* The bytes of the file for a heap of SIZE: the header, SIZE, a page. */
size_t
shm_mapped_size(size_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t mapped = (SHM_HEAD_GRANULES + size / SHM_GRANULE) * SHM_GRANULE;

    if (page <= 0)
        page = 4096;
    return (mapped + (size_t)page - 1) / (size_t)page * (size_t)page;
}

/* What every process maps: room for the largest size, where the address
 * space allows it. */
static size_t
shm_reserve(void)
{
    return sizeof(size_t) >= 8 ? shm_mapped_size((size_t)LF_SHARED_MAX) : 0;
}

/* D for the memory FD, mapped RESERVE bytes (the file's SIZE when the
 * system will not map that much: then it can never grow in place). */
static struct shm_dict *
shm_map(const char *name, int fd, size_t size, size_t reserve)
{
    struct shm_dict *d = calloc(1, sizeof(*d));
    void *p = MAP_FAILED;

    if (d == NULL) {
        log_syserr("shared dictionary '%s'", name);
        return NULL;
    }
    if (reserve > size)
        p = mmap(NULL, reserve, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        reserve = size;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (p == MAP_FAILED) {
        log_syserr("shared dictionary '%s': cannot map %zu bytes", name, size);
        free(d);
        return NULL;
    }
    d->h = p;
    d->mapped = reserve;
    d->fd = fd;
    return d;
}

static uint64_t
shm_seed(void)
{
    uint64_t s;

    if (getentropy(&s, sizeof(s)) == 0)
        return s;
    return (uint64_t)monoclock_us() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
}

/* Buckets for a heap of SIZE bytes: a power of two near one per 128. */
static uint32_t
shm_nbuckets(size_t size)
{
    uint32_t n = 16;

    while ((size_t)n * 2 <= size / 128 && n < (1u << 28))
        n *= 2;
    return n;
}

/* A new, empty dictionary NAME of SIZE bytes; NULL (logged). Its memory
 * is zeros, and stays untouched but for the header and a block at each
 * end: it costs what its entries take as they come. */
struct shm_dict *
shm_dict_create(const char *name, size_t size)
{
    size_t heap = size / SHM_GRANULE, mapped = shm_mapped_size(size);
    struct shm_dict *d;
    struct shm_head *h;
    int fd;

    if (heap < 64 || SHM_HEAD_GRANULES + heap > UINT32_MAX) {
        log_err("shared dictionary '%s': %zu bytes is not a size it can have", name, size);
        return NULL;
    }
    if ((fd = shm_memfile(name, mapped)) < 0)
        return NULL;
    if ((d = shm_map(name, fd, mapped, shm_reserve())) == NULL) {
        close(fd);
        return NULL;
    }
    h = d->h;
    memcpy(h->magic, SHM_MAGIC, sizeof(h->magic));
    h->layout = SHM_LAYOUT;
    h->mutex_size = sizeof(pthread_mutex_t);
    h->reserved = d->mapped;
    h->size = size;
    h->mapped = mapped;
    snprintf(h->name, sizeof(h->name), "%s", name);
    h->seed = shm_seed();
    h->heap = (uint32_t)SHM_HEAD_GRANULES;
    h->heap_end = (uint32_t)(SHM_HEAD_GRANULES + heap);
    h->nbuckets = shm_nbuckets(size);
    if (shm_lock_init(h) < 0) {
        shm_dict_destroy(d);
        return NULL;
    }
    shm_arena_format(h, 1);
    return d;
}

void
shm_dict_destroy(struct shm_dict *d)
{
    if (d == NULL)
        return;
    if (munmap(d->h, d->mapped) < 0)
        log_syswarn("cannot unmap a shared dictionary");
    if (d->fd >= 0)
        close(d->fd);
    free(d);
}

/* D, mapped as far as every process maps it (h->reserved); when this one
 * cannot map that much, the figure is lowered for all, so none ever
 * grows the dictionary past what another sees. */
static struct shm_dict *
shm_remap(struct shm_dict *d, const char *name)
{
    size_t size = d->mapped, reserve = (size_t)d->h->reserved;
    struct shm_dict *r;
    const char *err;

    if (reserve <= size)
        return d;
    if ((r = shm_map(name, d->fd, size, reserve)) == NULL)
        return d;
    d->fd = -1;
    shm_dict_destroy(d);
    if (r->mapped < reserve && shm_lock(r, &err) == 0) {
        r->h->reserved = r->mapped;
        shm_unlock(r);
        log_warn("upgrade: shared dictionary '%s': cannot map more than its %zu bytes: it can no longer "
                 "change size in place", name, r->mapped);
    }
    return r;
}

/* The dictionary NAME handed over as FD by the binary this one upgrades;
 * NULL when it is not one we can use (logged). */
static struct shm_dict *
shm_adopt_fd(const char *name, int fd)
{
    struct shm_dict *d;
    struct shm_head *h;
    struct stat sb;

    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
        (size_t)sb.st_size < sizeof(struct shm_head)) {
        log_err("upgrade: shared dictionary '%s': descriptor %d handed over is not its memory", name, fd);
        return NULL;
    }
    if ((d = shm_map(name, fd, (size_t)sb.st_size, 0)) == NULL)
        return NULL;
    h = d->h;
    if (memcmp(h->magic, SHM_MAGIC, sizeof(h->magic)) != 0 || h->layout != SHM_LAYOUT ||
        h->mutex_size != sizeof(pthread_mutex_t) || h->mapped != (uint64_t)sb.st_size ||
        h->reserved < h->mapped || strcmp(h->name, name) != 0) {
        log_warn("upgrade: shared dictionary '%s' was made by a binary with another layout: it "
                 "starts empty", name);
        d->fd = -1;     /* closed by the caller */
        shm_dict_destroy(d);
        return NULL;
    }
    return shm_remap(d, name);
}

/* Take the dictionary NAME (SIZE) from the one handed over (OLD, may be
 * NULL): as it is, or resized in place. */
static struct shm_dict *
shm_take_over(const char *name, size_t size, struct shm_dict *old)
{
    struct shm_stats st;
    unsigned long dropped = 0;
    size_t was;
    long long t0;
    int rc;

    if (old == NULL)
        return shm_dict_create(name, size);
    was = shm_dict_capacity(old);
    t0 = monoclock_ms();
    if (was != size && (rc = shm_dict_resize(old, size, &dropped)) == 0) {
        shm_dict_stats(old, &st);
        log_notice("upgrade: shared dictionary '%s' resized in place from %zu to %zu bytes in %lld ms: "
                   "%lu keys kept, %lu evicted to fit", name, was, size, monoclock_ms() - t0, st.entries,
                   dropped);
        return old;
    }
    if (was != size && rc < 0)
        log_warn("upgrade: shared dictionary '%s' keeps its %zu bytes until a restart", name, was);
    shm_dict_stats(old, &st);
    log_notice("upgrade: shared dictionary '%s' taken over with its %lu keys", name, st.entries);
    return old;
}

/* Parse LUAFCGID_SHARED ("NAME=FD,NAME=FD") into OLD and NAMES (by
 * index, NULL for those not usable). The count, or -1 when malformed. */
static int
shm_env_list(char *env, char **names, struct shm_dict **old)
{
    char *item, *eq, *end, *save = NULL;
    long fd;
    int n = 0;

    for (item = strtok_r(env, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (n == LF_MAX_SHARED || (eq = strchr(item, '=')) == NULL)
            return -1;
        *eq = '\0';
        fd = strtol(eq + 1, &end, 10);
        if (end == eq + 1 || *end || fd < 0 || fd > 65535)
            return -1;
        names[n] = item;
        old[n] = shm_adopt_fd(item, (int)fd);
        if (old[n] == NULL)
            close((int)fd);
        n++;
    }
    return n;
}

/*
 * The dictionaries of C, made anew, or taken over from the binary this
 * one upgrades (LUAFCGID_SHARED). In the supervisor, before it forks. 0,
 * or -1 (logged).
 */
int
shm_setup(const struct conf *c)
{
    struct shm_dict *old[LF_MAX_SHARED] = { NULL };
    char *names[LF_MAX_SHARED], *env = getenv(SHM_ENV), *copy = NULL;
    int nold = 0, i, k, rc = 0;

    if (env && ((copy = strdup(env)) == NULL || (nold = shm_env_list(copy, names, old)) < 0)) {
        log_err("upgrade: %s is malformed: '%s'", SHM_ENV, env);
        for (k = 0; k < LF_MAX_SHARED; k++)
            shm_dict_destroy(old[k]);
        free(copy);
        return -1;
    }
    unsetenv(SHM_ENV);     /* scripts and their children need not see it */
    for (i = 0; i < c->shared.count && rc == 0; i++) {
        struct shm_dict *from = NULL;

        for (k = 0; k < nold; k++)
            if (old[k] && from == NULL && strcmp(names[k], c->shared.items[i].name) == 0) {
                from = old[k];
                old[k] = NULL;
            }
        shm_dicts[i] = shm_take_over(c->shared.items[i].name, (size_t)c->shared.items[i].size, from);
        if (shm_dicts[i] == NULL)
            rc = -1;
        else
            shm_ndicts = i + 1;
    }
    for (k = 0; k < nold; k++)
        if (old[k]) {
            log_notice("upgrade: shared dictionary '%s' is no longer configured: dropped", names[k]);
            shm_dict_destroy(old[k]);
        }
    free(copy);
    if (rc < 0)
        shm_teardown();
    return rc;
}

void
shm_teardown(void)
{
    int i;

    for (i = 0; i < shm_ndicts; i++) {
        shm_dict_destroy(shm_dicts[i]);
        shm_dicts[i] = NULL;
    }
    shm_ndicts = 0;
}

/*
 * As the new binary of a USR2 upgrade is started (in the child, before
 * exec): the descriptors stay open across exec, and LUAFCGID_SHARED names
 * them. 0, or -1 (logged).
 */
int
shm_export(void)
{
    char env[LF_MAX_SHARED * (LF_SHARED_NAME_MAX + 16)];
    size_t used = 0;
    int i, n;

    env[0] = '\0';
    for (i = 0; i < shm_ndicts; i++) {
        if (fcntl(shm_dicts[i]->fd, F_SETFD, 0) < 0) {
            log_syserr("upgrade: cannot hand over shared dictionary '%s'", shm_dict_name(shm_dicts[i]));
            return -1;
        }
        n = snprintf(env + used, sizeof(env) - used, "%s%s=%d", i ? "," : "",
                     shm_dict_name(shm_dicts[i]), shm_dicts[i]->fd);
        used += (size_t)n;
    }
    if (shm_ndicts > 0 && setenv(SHM_ENV, env, 1) < 0) {
        log_syserr("upgrade: cannot hand over the shared dictionaries");
        return -1;
    }
    return 0;
}

/* The supervisor saw a serving process die abnormally, with STATUS
 * (waitpid's). A fault (a crash in a C module may have written anywhere
 * in its memory) has the next one check the dictionaries, in the
 * background; a kill or an exit cannot have left more than the step its
 * lock's next holder undoes. */
void
shm_suspect(int status)
{
    if (!WIFSIGNALED(status))
        return;
    switch (WTERMSIG(status)) {
    case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGABRT: case SIGSYS: case SIGTRAP:
        shm_suspected = 1;
        break;
    default:
        break;
    }
}

/* One dictionary, checked a bucket range a step. 0, or -1 when told to
 * stop. */
static int
shm_check_one(struct shm_dict *d)
{
    unsigned long seen = 0, dropped = 0;
    uint32_t b, nbuckets = d->h->nbuckets;
    long long t0 = monoclock_ms();
    const char *err;
    int steps = 0;

    for (b = 0; b < nbuckets; b += SHM_CHECK_BUCKETS) {
        if (shm_lock(d, &err) < 0)
            return 0;       /* logged; the next crash's check will look again */
        seen += (unsigned long)shm_check_buckets(d, b, b + SHM_CHECK_BUCKETS, &dropped);
        shm_unlock(d);      /* mends what was found (shm_lock.c) */
        /* a pause of 1 ms, or less when told to stop */
        if (++steps % SHM_CHECK_BURST == 0 &&
            bgthread_wait_until(&shm_check_thread, monoclock_ms() + 1))
            return -1;
    }
    if (dropped)
        log_warn("shared dictionary '%s': checked after a crash: damage found and mended (see above)",
                 shm_dict_name(d));
    else
        log_info("shared dictionary '%s': checked after a crash, in the background, in %lld ms: %lu "
                 "keys, sound", shm_dict_name(d), monoclock_ms() - t0, seen);
    return 0;
}

static void *
shm_check_main(void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < shm_ndicts; i++)
        if (shm_check_one(shm_dicts[i]) < 0)
            break;
    return NULL;
}

/*
 * In a serving process that starts after one crashed: check every
 * dictionary in the background, while it serves (see the top of this
 * file). Not after a kill: a process that died holding a lock left at
 * most a step, which the next holder undoes, and one that did not hold it
 * left the dictionary as it was.
 */
void
shm_check_all(void)
{
    if (shm_suspected && shm_ndicts > 0)
        (void)bgthread_start(&shm_check_thread, "shared dictionaries' check after a crash",
                             shm_check_main, NULL);
}

/* Stop the background check, if it runs (the serving process stops). */
void
shm_check_stop(void)
{
    bgthread_stop(&shm_check_thread);
}

int
shm_count(void)
{
    return shm_ndicts;
}

struct shm_dict *
shm_at(int i)
{
    return i >= 0 && i < shm_ndicts ? shm_dicts[i] : NULL;
}

struct shm_dict *
shm_find(const char *name, size_t len)
{
    int i;

    for (i = 0; i < shm_ndicts; i++)
        if (strlen(shm_dict_name(shm_dicts[i])) == len && memcmp(shm_dict_name(shm_dicts[i]), name, len) == 0)
            return shm_dicts[i];
    return NULL;
}

static const struct conf_shared *
shm_conf_find(const struct conf *c, const char *name)
{
    int i;

    for (i = 0; i < c->shared.count; i++)
        if (strcmp(c->shared.items[i].name, name) == 0)
            return &c->shared.items[i];
    return NULL;
}

/* HUP: `shared` changes nothing until an upgrade or a restart; say what
 * the new config would do, dictionary by dictionary. */
void
shm_reload_report(const struct conf *old, const struct conf *c)
{
    const struct conf_shared *o, *n;
    int i;

    for (i = 0; i < c->shared.count; i++) {
        n = &c->shared.items[i];
        if ((o = shm_conf_find(old, n->name)) == NULL)
            log_warn("reload: shared dictionary '%s' (%llu bytes) is new: it is made at the next "
                     "upgrade (USR2) or restart", n->name, n->size);
        else if (o->size != n->size)
            log_warn("reload: shared dictionary '%s' keeps its %llu bytes and its contents until the "
                     "next upgrade (USR2), which resizes it in place to %llu bytes, or restart, which "
                     "starts it empty", n->name, o->size, n->size);
    }
    for (i = 0; i < old->shared.count; i++)
        if (shm_conf_find(c, old->shared.items[i].name) == NULL)
            log_warn("reload: shared dictionary '%s' is no longer configured: it stays, with its "
                     "contents, until the next upgrade (USR2) or restart", old->shared.items[i].name);
}
