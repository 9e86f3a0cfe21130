/* test_shm.c: the shared dictionary engine: ngx_lua's answers, LRU
 * eviction inside SIZE, lists, expiry, a random workload against a model
 * (and the consistency check after it), atomic incr from threads and
 * processes, a holder killed with the lock held, and damage planted in
 * the memory (a stray store, a back link naming the wrong member). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "log.h"
#include "monoclock.h"
#include "shm.h"
#include "shm_impl.h"

static const char *err;
static char buf[1 << 20];

static struct shm_value
str_value(const char *s)
{
    struct shm_value v = { SHM_TSTRING, 0, s, strlen(s), 0 };

    return v;
}

static struct shm_value
num_value(double n)
{
    struct shm_value v = { SHM_TNUMBER, n, NULL, 0, 0 };

    return v;
}

static int
set(struct shm_dict *d, int op, const char *k, struct shm_value v, long long ttl, int *forcible)
{
    int f;

    return shm_dict_store(d, op, k, strlen(k), &v, ttl, forcible ? forcible : &f, &err);
}

/* get KEY as text: "nil", "s:VALUE", "n:NUM", "b:0/1", "err:MSG" (and ",FLAGS"). */
static const char *
get(struct shm_dict *d, const char *k, int stale)
{
    static char out[256];
    struct shm_value v;
    int is_stale = 0, rc = shm_dict_get(d, k, strlen(k), stale, &v, buf, sizeof(buf), &is_stale, &err);

    if (rc == SHM_NONE)
        return "nil";
    if (rc != SHM_OK) {
        snprintf(out, sizeof(out), "err:%s", err);
        return out;
    }
    if (v.type == SHM_TSTRING)
        snprintf(out, sizeof(out), "s:%.*s", (int)(v.len > 64 ? 64 : v.len), v.str);
    else
        snprintf(out, sizeof(out), "%c:%.14g", v.type == SHM_TNUMBER ? 'n' : 'b', v.num);
    if (v.flags)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), ",%d", v.flags);
    if (is_stale)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), ",stale");
    return out;
}

static int
sound(struct shm_dict *d)
{
    struct shm_check_result r;

    return shm_dict_check(d, 0, &r, &err) == SHM_OK;
}

static unsigned long
nkeys(struct shm_dict *d)
{
    struct shm_stats st;

    shm_dict_stats(d, &st);
    return st.entries;
}

static void
test_scalars(void)
{
    struct shm_dict *d = shm_dict_create("scalars", 1 << 20);
    struct shm_value v;
    double n;
    int f;

    ok(d != NULL, "a 1 MiB dictionary");
    is_int(shm_dict_capacity(d), 1 << 20, "capacity is SIZE");
    ok(sound(d), "a new dictionary is sound");
    is_str(get(d, "k", 0), "nil", "get of a missing key: nil");
    is_int(set(d, 0, "k", str_value("v1"), 0, NULL), SHM_OK, "set");
    is_str(get(d, "k", 0), "s:v1", "get");
    is_int(set(d, 0, "k", str_value("v2"), 0, NULL), SHM_OK, "set again, same length (in place)");
    is_str(get(d, "k", 0), "s:v2", "the new value");
    is_int(set(d, 0, "k", str_value("longer value"), 0, NULL), SHM_OK, "set a longer value");
    is_str(get(d, "k", 0), "s:longer value", "the longer value");
    v = num_value(3.5);
    v.flags = 7;
    is_int(shm_dict_store(d, 0, "n", 1, &v, 0, &f, &err), SHM_OK, "set a number with flags");
    is_str(get(d, "n", 0), "n:3.5,7", "number and flags");
    v.type = SHM_TBOOLEAN;
    v.num = 1;
    v.flags = 0;
    is_int(shm_dict_store(d, 0, "b", 1, &v, 0, &f, &err), SHM_OK, "set a boolean");
    is_str(get(d, "b", 0), "b:1", "a boolean");
    is_int(set(d, SHM_OP_ADD, "k", str_value("x"), 0, NULL), SHM_FAIL, "add of an existing key fails");
    is_str(err, "exists", "with 'exists'");
    is_int(set(d, SHM_OP_REPLACE, "none", str_value("x"), 0, NULL), SHM_FAIL, "replace of a missing key fails");
    is_str(err, "not found", "with 'not found'");
    v.type = SHM_TNIL;
    is_int(shm_dict_store(d, SHM_OP_ADD, "z", 1, &v, 0, &f, &err), SHM_FAIL, "add nil fails");
    is_str(err, "attempt to add or replace nil values", "with ngx_lua's words");
    is_int(shm_dict_store(d, 0, "k", 1, &v, 0, &f, &err), SHM_OK, "set nil deletes");
    is_str(get(d, "k", 0), "nil", "deleted");
    n = 1;
    is_int(shm_dict_incr(d, "c", 1, &n, 0, 0, 0, &f, &err), SHM_FAIL, "incr of a missing key without init");
    is_str(err, "not found", "fails 'not found'");
    n = 1;
    is_int(shm_dict_incr(d, "c", 1, &n, 1, 10, 0, &f, &err), SHM_OK, "incr with init");
    ok(n == 11, "starts at init + value");
    n = -2.5;
    shm_dict_incr(d, "c", 1, &n, 0, 0, 0, &f, &err);
    ok(n == 8.5, "incr adds");
    n = 1;
    is_int(shm_dict_incr(d, "b", 1, &n, 0, 0, 0, &f, &err), SHM_FAIL, "incr of a boolean");
    is_str(err, "not a number", "fails 'not a number'");
    ok(sound(d), "sound after scalars");
    shm_dict_destroy(d);
}

static void
test_lists(void)
{
    struct shm_dict *d = shm_dict_create("lists", 1 << 20);
    struct shm_value v = str_value("a"), out;
    long len;
    int i;

    is_int(shm_dict_push(d, 1, "l", 1, &v, &len, &err), SHM_OK, "lpush");
    is_int(len, 1, "length 1");
    v = num_value(2);
    shm_dict_push(d, 0, "l", 1, &v, &len, &err);
    v = str_value("z");
    shm_dict_push(d, 1, "l", 1, &v, &len, &err);
    is_int(len, 3, "length 3");
    is_str(get(d, "l", 0), "err:value is a list", "get of a list");
    set(d, 0, "s", str_value("x"), 0, NULL);
    is_int(shm_dict_push(d, 1, "s", 1, &v, &len, &err), SHM_FAIL, "push onto a scalar");
    is_str(err, "value not a list", "fails 'value not a list'");
    is_int(shm_dict_llen(d, "l", 1, &len, &err), SHM_OK, "llen");
    is_int(len, 3, "is 3");
    is_int(shm_dict_pop(d, 1, "l", 1, &out, buf, sizeof(buf), &err), SHM_OK, "lpop");
    ok(out.type == SHM_TSTRING && out.len == 1 && out.str[0] == 'z', "the front");
    shm_dict_pop(d, 0, "l", 1, &out, buf, sizeof(buf), &err);
    ok(out.type == SHM_TNUMBER && out.num == 2, "rpop: the back, a number");
    shm_dict_pop(d, 0, "l", 1, &out, buf, sizeof(buf), &err);
    is_int(shm_dict_pop(d, 0, "l", 1, &out, buf, sizeof(buf), &err), SHM_NONE, "an emptied list is gone");
    is_int(nkeys(d), 1, "only the scalar left");
    for (i = 0; i < 1000; i++) {
        v = num_value(i);
        shm_dict_push(d, 0, "long", 4, &v, &len, &err);
    }
    v = str_value("big");
    v.len = 5000;
    v.str = buf;
    memset(buf, 'q', 5000);
    shm_dict_push(d, 1, "long", 4, &v, &len, &err);
    is_int(shm_dict_pop(d, 1, "long", 4, &out, buf, 100, &err), SHM_NEED, "pop into a short buffer: NEED");
    is_int(out.len, 5000, "with the size");
    shm_dict_llen(d, "long", 4, &len, &err);
    is_int(len, 1001, "and the list untouched");
    ok(sound(d), "sound after lists");
    shm_dict_destroy(d);
}

/* Wait (bounded) until KEY's ttl is below 0: it has expired. */
static int
expired(struct shm_dict *d, const char *k)
{
    long long until = monoclock_ms() + 2000, ms = 0;

    while (monoclock_ms() < until) {
        if (shm_dict_ttl(d, k, strlen(k), &ms, &err) != SHM_OK || ms < 0)
            return 1;
        usleep(5000);
    }
    return 0;
}

static void
test_expiry(void)
{
    struct shm_dict *d = shm_dict_create("ttl", 1 << 20);
    long long ms;
    char keys[4096];
    size_t used;
    int count, freed;

    set(d, 0, "t", str_value("v"), 50, NULL);
    set(d, 0, "forever", str_value("v"), 0, NULL);
    shm_dict_ttl(d, "t", 1, &ms, &err);
    ok(ms > 0 && ms <= 50, "ttl in ms");
    shm_dict_ttl(d, "forever", 7, &ms, &err);
    is_int(ms, 0, "no expiry: ttl 0");
    ok(expired(d, "t"), "expires");
    is_str(get(d, "t", 1), "s:v,stale", "get_stale: the value, stale");
    is_str(get(d, "t", 0), "nil", "get: nil");
    is_str(get(d, "t", 1), "s:v,stale", "a lookup moved it to the front, so it was not removed (ngx_lua 0.10.23)");
    is_int(shm_dict_keys(d, 0, keys, sizeof(keys), &used, &count, &err), SHM_OK, "get_keys");
    is_int(count, 1, "only the live key");
    is_int(shm_dict_expire(d, "forever", 7, 30, &err), SHM_OK, "expire sets an expiry");
    ok(expired(d, "forever"), "which passes");
    is_int(shm_dict_flush_expired(d, 0, &freed, &err), SHM_OK, "flush_expired");
    is_int(freed, 2, "frees both");
    is_int(nkeys(d), 0, "empty");
    set(d, 0, "a", str_value("1"), 0, NULL);
    set(d, 0, "b", str_value("2"), 0, NULL);
    set(d, 0, "c", str_value("3"), 0, NULL);
    set(d, 0, "d", str_value("4"), 0, NULL);
    shm_dict_flush_all(d, &err);
    is_int(nkeys(d), 1, "flush_all: three removed, one left expired (as ngx_lua)");
    is_str(get(d, "d", 0), "nil", "all gone");
    ok(sound(d), "sound after expiry");
    shm_dict_destroy(d);
}

static void
test_eviction(void)
{
    struct shm_dict *d = shm_dict_create("small", (size_t)64 * 1024);
    char k[32], v[200];
    int i, forcible = 0, rc, last = 0;
    struct shm_stats st;

    memset(v, 'x', sizeof(v) - 1);
    v[sizeof(v) - 1] = '\0';
    for (i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "key%d", i);
        rc = set(d, 0, k, str_value(v), 0, &forcible);
        if (rc != SHM_OK)
            break;
        if (forcible && !last)
            last = i;
    }
    is_int(i, 5000, "set never fails on a full dictionary: it evicts");
    ok(last > 100, "evicting once full (at %d)", last);
    is_str(get(d, "key0", 0), "nil", "the oldest went first");
    ok(strncmp(get(d, "key4999", 0), "s:x", 3) == 0, "the newest is there");
    shm_dict_stats(d, &st);
    ok(st.evictions > 4000, "evictions counted (%llu)", st.evictions);
    is_int(set(d, SHM_OP_SAFE, "safe", str_value(v), 0, &forcible), SHM_FAIL, "safe_set on a full dictionary");
    is_str(err, "no memory", "fails 'no memory'");
    memset(buf, 'y', 70000);
    buf[70000] = '\0';
    rc = set(d, 0, "huge", str_value(buf), 0, &forcible);
    ok(rc == SHM_FAIL && !forcible, "a value larger than the dictionary: no memory, nothing evicted");
    ok(strncmp(get(d, "key4999", 0), "s:x", 3) == 0, "the newest still there");
    buf[50000] = '\0';
    rc = set(d, 0, "big", str_value(buf), 0, &forcible);
    ok(rc == SHM_OK && forcible, "a value of most of the dictionary evicts as much as it takes");
    ok(sound(d), "sound after eviction");
    shm_dict_destroy(d);
}

/* A random workload against a model of 64 keys (no expiry, no eviction). */
struct model {
    int     kind;           /* 0 none, 1 string, 2 number, 3 list */
    char    s[64];
    double  n;
    int     len;            /* a list's length; its values are 0..len-1 + base */
    int     base;
};

static void
test_model(void)
{
    struct shm_dict *d = shm_dict_create("model", 4 << 20);
    struct model m[64];
    struct shm_value v, out;
    char k[16], val[64];
    unsigned seed = 12345;
    int i, bad = 0, checks = 0, rc, f;
    long len;
    double n;

    memset(m, 0, sizeof(m));
    for (i = 0; i < 200000 && bad < 5; i++) {
        int key = (int)(rand_r(&seed) % 64), op = (int)(rand_r(&seed) % 8);
        struct model *x = &m[key];

        snprintf(k, sizeof(k), "k%d", key);
        switch (op) {
        case 0: case 1:     /* set a string of a random length */
            snprintf(val, sizeof(val), "%0*d", (int)(rand_r(&seed) % 40) + 1, i);
            set(d, 0, k, str_value(val), 0, NULL);
            x->kind = 1;
            x->len = 0;
            snprintf(x->s, sizeof(x->s), "%s", val);
            break;
        case 2:             /* incr with init */
            n = 1;
            rc = shm_dict_incr(d, k, strlen(k), &n, 1, 0, 0, &f, &err);
            if (x->kind == 0 || x->kind == 2) {
                x->n = (x->kind ? x->n : 0) + 1;
                x->kind = 2;
                if (rc != SHM_OK || n != x->n) { printf("# op %d incr %s rc %d n %g want %g\n", i, k, rc, n, x->n); bad++; }
            } else
                bad += rc != SHM_FAIL;
            break;
        case 3:             /* delete */
            v.type = SHM_TNIL;
            shm_dict_store(d, 0, k, strlen(k), &v, 0, &f, &err);
            x->kind = 0;
            x->len = 0;
            break;
        case 4: case 5:     /* rpush */
            if (x->kind == 0)
                x->base = i;
            v = num_value(x->base + x->len);
            rc = shm_dict_push(d, 0, k, strlen(k), &v, &len, &err);
            if (x->kind == 0 || x->kind == 3) {
                x->kind = 3;
                x->len++;
                if (rc != SHM_OK || len != x->len) { printf("# op %d push %s rc %d len %ld want %d err %s\n", i, k, rc, len, x->len, rc ? err : ""); bad++; }
            } else
                bad += rc != SHM_FAIL;
            break;
        case 6:             /* lpop */
            rc = shm_dict_pop(d, 1, k, strlen(k), &out, buf, sizeof(buf), &err);
            if (x->kind == 3) {
                if (rc != SHM_OK || out.num != x->base) { printf("# op %d pop %s rc %d num %g want %d\n", i, k, rc, out.num, x->base); bad++; }
                x->base++;
                if (--x->len == 0)
                    x->kind = 0;
            } else
                bad += x->kind == 0 ? rc != SHM_NONE : rc != SHM_FAIL;
            break;
        default: {          /* get */
            const char *g = get(d, k, 0);
            char want[128];
            if (x->kind == 0)
                snprintf(want, sizeof(want), "nil");
            else if (x->kind == 1)
                snprintf(want, sizeof(want), "s:%s", x->s);
            else if (x->kind == 2)
                snprintf(want, sizeof(want), "n:%.14g", x->n);
            else
                snprintf(want, sizeof(want), "err:value is a list");
            if (strcmp(g, want) != 0) {
                printf("# op %d key %s: got %s, want %s\n", i, k, g, want);
                bad++;
            }
        }
        }
        if (i % 5000 == 0) {
            checks++;
            if (!sound(d)) {
                printf("# op %d: not sound\n", i);
                bad++;
            }
        }
    }
    is_int(bad, 0, "200000 random operations answer as the model");
    ok(checks == 40 && sound(d), "and the dictionary is sound throughout");
    shm_dict_destroy(d);
}

/* A small dictionary under a random mix with eviction: always sound. */
static void
test_churn(void)
{
    struct shm_dict *d = shm_dict_create("churn", (size_t)32 * 1024);
    struct shm_value v, out;
    unsigned seed = 777;
    char k[16];
    int i, f, freed, unsound = 0;
    long len;
    double n;

    for (i = 0; i < 100000; i++) {
        int op = (int)(rand_r(&seed) % 6);
        snprintf(k, sizeof(k), "c%u", rand_r(&seed) % 500);
        v.type = SHM_TSTRING;
        v.str = buf;
        v.len = rand_r(&seed) % 3000;
        v.flags = 0;
        memset(buf, 'a' + op, v.len);
        switch (op) {
        case 0: shm_dict_store(d, 0, k, strlen(k), &v, rand_r(&seed) % 3, &f, &err); break;
        case 1: shm_dict_push(d, rand_r(&seed) % 2, k, strlen(k), &v, &len, &err); break;
        case 2: shm_dict_pop(d, rand_r(&seed) % 2, k, strlen(k), &out, buf, sizeof(buf), &err); break;
        case 3: n = 1; shm_dict_incr(d, k, strlen(k), &n, 1, 0, 1, &f, &err); break;
        case 4: shm_dict_flush_expired(d, 3, &freed, &err); break;
        default: v.type = SHM_TNIL; shm_dict_store(d, 0, k, strlen(k), &v, 0, &f, &err); break;
        }
        if (i % 1000 == 0 && !sound(d))
            unsound++;
    }
    is_int(unsound, 0, "100000 operations with eviction, expiry and lists: always sound");
    shm_dict_destroy(d);
}

struct incr_arg {
    struct shm_dict *d;
    int              n;
};

static void *
incr_thread(void *p)
{
    struct incr_arg *a = p;
    const char *e;
    double n;
    int i, f;

    for (i = 0; i < a->n; i++) {
        n = 1;
        shm_dict_incr(a->d, "hits", 4, &n, 1, 0, 0, &f, &e);
    }
    return NULL;
}

static void
test_atomic(void)
{
    struct shm_dict *d = shm_dict_create("atomic", (size_t)64 * 1024);
    struct incr_arg a = { d, 25000 };
    pthread_t t[4];
    pid_t pid[2];
    int i, status;

    for (i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, incr_thread, &a);
    for (i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    is_str(get(d, "hits", 0), "n:100000", "4 threads x 25000 incr: 100000");
    for (i = 0; i < 2; i++)
        if ((pid[i] = fork()) == 0) {
            incr_thread(&a);
            _exit(0);
        }
    for (i = 0; i < 2; i++)
        waitpid(pid[i], &status, 0);
    is_str(get(d, "hits", 0), "n:150000", "and 2 processes x 25000 more: 150000");
    shm_dict_destroy(d);
}

/* A child takes D's lock, does HARM with it held, and is killed. */
static void
die_holding(struct shm_dict *d, void (*harm)(struct shm_dict *))
{
    pid_t pid;
    int status;
    const char *e;

    if ((pid = fork()) == 0) {
        shm_lock(d, &e);
        if (harm)
            harm(d);
        raise(SIGSTOP);
        _exit(0);
    }
    waitpid(pid, &status, WUNTRACED);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

/* Half of a removal, as the engine writes it (each store logged): out
 * of its bucket, not yet off the LRU list nor freed. */
static void
harm_half_removed(struct shm_dict *d)
{
    struct shm_head *h = d->h;
    uint32_t *bk = shm_buckets(h), i;
    struct shm_entry *e;

    for (i = 0; i < h->nbuckets; i++)
        if (bk[i]) {
            e = shm_entry_at(h, bk[i]);
            SHM_SET(h, bk[i], e->hnext);
            SHM_STAT_SUB(h, keys, 1);
            return;
        }
}

/* The first entry after the bucket array: where a stray store lands. */
static struct shm_block *
first_block(struct shm_dict *d)
{
    return SHM_BLOCK(d->h, d->h->heap + SHM_BLOCK(d->h, d->h->heap)->size);
}

static void
test_dead_holder(void)
{
    struct shm_dict *d = shm_dict_create("robust", (size_t)256 * 1024);
    struct shm_stats st;
    char k[16];
    int i;

    for (i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "r%d", i);
        set(d, 0, k, str_value("value"), 0, NULL);
    }
    die_holding(d, NULL);
    is_str(get(d, "r5", 0), "s:value", "a holder killed with the lock held: the next one answers");
    is_int(nkeys(d), 100, "nothing lost when it changed nothing");
    die_holding(d, harm_half_removed);
    is_int(set(d, 0, "after", str_value("x"), 0, NULL), SHM_OK, "killed mid-removal: the next write works");
    is_int(nkeys(d), 101, "its step undone: the entry it was removing is still there, with every other");
    ok(sound(d), "and the dictionary is sound, with no check of the heap");
    shm_dict_stats(d, &st);
    is_int(st.repairs, 2, "each step undone is counted as a repair");
    shm_dict_destroy(d);
}

/* A holder stopped (SIGSTOP) with the lock held, in the middle of a
 * step: operations fail, each within its bounded wait, until it has been
 * seen stopped LF_SHARED_WEDGED s; then it is killed, its step undone,
 * and the dictionary serves again with every key. */
static void
test_wedged_holder(void)
{
    struct shm_dict *d = shm_dict_create("wedged", (size_t)256 * 1024);
    long long t0, bound = (LF_SHARED_LOCK_WAIT + LF_SHARED_WEDGED + 30) * 1000LL;
    int i, status = 0, failed = 0, rc = SHM_LOCKED;
    char k[16];
    pid_t pid;
    const char *e;

    for (i = 0; i < 50; i++) {
        snprintf(k, sizeof(k), "w%d", i);
        set(d, 0, k, str_value("value"), 0, NULL);
    }
    if ((pid = fork()) == 0) {
        shm_lock(d, &e);
        harm_half_removed(d);
        raise(SIGSTOP);
        _exit(0);
    }
    waitpid(pid, &status, WUNTRACED);
    ok(WIFSTOPPED(status), "a holder stopped in the middle of a step");
    t0 = monoclock_ms();
    while ((rc = set(d, 0, "after", str_value("x"), 0, NULL)) != SHM_OK && monoclock_ms() - t0 < bound)
        failed++;
    ok(rc == SHM_OK, "the dictionary serves again (after %lld ms, %d operations failed meanwhile)",
       monoclock_ms() - t0, failed);
    ok(failed >= 1, "operations failed while it was stopped");
    if (rc != SHM_OK)
        kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the stopped holder was killed");
    is_int(nkeys(d), 51, "its step undone: no key lost");
    ok(sound(d), "and the dictionary is sound");
    shm_dict_destroy(d);
}

/* get_keys and flush_expired over a dictionary larger than a step walk
 * it in steps of about SHM_STEP entries, the lock free between them (what
 * lets the other workers and the status page in), writers between steps
 * harming nothing: each key is listed once, every key there from start to
 * end is listed, and every entry flush_all expired is removed. */
static void
test_walk_in_steps(void)
{
    struct shm_dict *d = shm_dict_create("walk", (size_t)8 << 20);
    static char keys[1 << 20];
    static unsigned char seen[6000];
    struct shm_cursor cur;
    size_t used, at;
    int i, n, count, steps = 0, biggest = 0, held = 0, twice = 0, missing = 0, freed, total = 0;
    uint16_t klen;
    char k[16];

    for (i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "w%d", i);
        set(d, 0, k, num_value(i), 0, NULL);
    }
    memset(&cur, 0, sizeof(cur));
    while (!cur.done && steps < 1000) {
        if (shm_dict_keys_step(d, &cur, 0, keys, sizeof(keys), &used, &count, &err) != SHM_OK)
            break;
        steps++;
        biggest = count > biggest ? count : biggest;
        if (pthread_mutex_trylock(&d->h->lock) == 0)
            pthread_mutex_unlock(&d->h->lock);
        else
            held++;
        for (at = 0; at < used; at += sizeof(klen) + klen) {
            memcpy(&klen, keys + at, sizeof(klen));
            if (klen < sizeof(k)) {
                memcpy(k, keys + at + sizeof(klen), klen);
                k[klen] = '\0';
                if (sscanf(k, "w%d", &n) == 1 && n >= 0 && n < 6000)
                    twice += seen[n]++ > 0;
            }
        }
        snprintf(k, sizeof(k), "w%d", 5000 + steps);    /* a writer between steps */
        set(d, 0, k, num_value(steps), 0, NULL);
    }
    for (i = 0; i < 5000; i++)
        missing += seen[i] == 0;
    ok(cur.done && steps >= 5000 / SHM_STEP, "get_keys(0) over 5000 keys: a walk of %d steps", steps);
    ok(biggest <= 2 * SHM_STEP, "each step lists about SHM_STEP keys at most (%d)", biggest);
    is_int(held, 0, "the lock is free between steps");
    is_int(twice, 0, "no key listed twice, writers between steps");
    is_int(missing, 0, "every key there throughout is listed");

    shm_dict_flush_all(d, &err);
    memset(&cur, 0, sizeof(cur));
    for (steps = 0; !cur.done && steps < 1000; steps++) {
        if (shm_dict_flush_expired_step(d, &cur, 0, &freed, &err) != SHM_OK)
            break;
        total += freed;
    }
    ok(cur.done && steps >= 5000 / SHM_STEP, "flush_expired after flush_all: a walk of %d steps", steps);
    is_int(nkeys(d), 0, "every flushed entry removed");
    ok(total > 5000, "and counted (%d)", total);
    ok(sound(d), "the dictionary is sound after both walks");
    shm_dict_destroy(d);
}

/* A stray store (not the engine's: a C module's) into an entry in the
 * middle of a chain: the operation that meets it has the dictionary
 * checked, and only that entry is lost, not the keys behind it. */
static void
test_stray_store(void)
{
    struct shm_dict *d = shm_dict_create("stray", (size_t)16 * 1024);
    struct shm_head *h = d->h;
    struct shm_check_result r;
    struct shm_entry *e, *mid = NULL;
    uint32_t i, n, off, best = 0;
    char k[16];
    int lost = 0;

    for (i = 0; i < 120; i++) {
        snprintf(k, sizeof(k), "k%u", i);
        set(d, 0, k, num_value(i), 0, NULL);
    }
    for (i = 0; i < h->nbuckets; i++) {          /* the longest chain's second entry */
        for (n = 0, off = shm_buckets(h)[i]; off; off = shm_entry_at(h, off)->hnext)
            n++;
        if (n > best && n >= 3) {
            best = n;
            mid = shm_entry_at(h, shm_entry_at(h, shm_buckets(h)[i])->hnext);
        }
    }
    ok(mid != NULL, "a chain of %u entries", best);
    if (mid == NULL)
        return;
    mid->type = 0;                                /* not a type: the entry is bad */
    is_int(shm_dict_check(d, 1, &r, &err), SHM_FAIL, "the check finds the bad entry");
    ok(r.dropped == 1, "and drops it alone (%lu dropped)", r.dropped);
    for (i = 0; i < 120; i++) {
        snprintf(k, sizeof(k), "k%u", i);
        lost += strncmp(get(d, k, 0), "n:", 2) != 0;
    }
    is_int(lost, 1, "every key behind it in its chain is kept");
    ok(sound(d), "and the dictionary is sound");
    (void)e;
    first_block(d)->magic = 0;                    /* the heap itself broken */
    is_int(shm_dict_check(d, 1, &r, &err), SHM_FAIL, "a heap found broken");
    ok(r.emptied && nkeys(d) == 0, "is emptied");
    is_int(set(d, 0, "again", str_value("y"), 0, NULL), SHM_OK, "and usable again");
    ok(sound(d), "and sound");
    shm_dict_destroy(d);
}

/* ---- crash atomicity: a child killed at random instants inside writes -- */

/* The value of KEY's version VER: its length, then a letter of the pair
 * repeated, so a value made of two writes does not read back whole. */
static size_t
fuzz_value(char *out, int key, unsigned ver, size_t len)
{
    int n = snprintf(out, len, "%d:%u:%zu:", key, ver, len);
    char c = (char)('a' + (key * 7 + (int)ver) % 26);

    if ((size_t)n < len)
        memset(out + n, c, len - (size_t)n);
    return len;
}

/* Is V (N bytes) a whole value of KEY? */
static int
fuzz_whole(const char *v, size_t n, int key)
{
    int k;
    unsigned ver;
    size_t len, i;
    int at = 0;
    char c;

    if (sscanf(v, "%d:%u:%zu:%n", &k, &ver, &len, &at) != 3 || k != key || len != n)
        return 0;
    c = (char)('a' + (key * 7 + (int)ver) % 26);
    for (i = (size_t)at; i < n; i++)
        if (v[i] != c)
            return 0;
    return 1;
}

static void
fuzz_die(int sig)
{
    (void)sig;
    kill(getpid(), SIGKILL);
}

/* The child: writes over STABLE keys (never removed), and sets, removes,
 * counts and pushes others, until its timer kills it. */
static void
fuzz_child(struct shm_dict *d, unsigned seed, int stable, size_t vmax)
{
    static char val[1 << 17];
    struct itimerval it;
    struct shm_value v;
    char k[32];
    unsigned ver = seed * 1000u;
    long len;
    int f;
    double n;

    signal(SIGALRM, fuzz_die);
    memset(&it, 0, sizeof(it));
    it.it_value.tv_usec = 200 + (long)(rand_r(&seed) % 4000);
    setitimer(ITIMER_REAL, &it, NULL);
    for (;;) {
        int key = (int)(rand_r(&seed) % (unsigned)stable), op = (int)(rand_r(&seed) % 8);
        size_t vl = 16 + rand_r(&seed) % vmax;

        switch (op) {
        case 0: case 1: case 2:
            snprintf(k, sizeof(k), "s%d", key);
            v = str_value("");
            v.str = val;
            v.len = fuzz_value(val, key, ++ver, vl);
            shm_dict_store(d, 0, k, strlen(k), &v, 0, &f, &err);
            break;
        case 3:
            snprintf(k, sizeof(k), "v%d", key % 16);
            v = str_value("");
            v.str = val;
            v.len = fuzz_value(val, key, ++ver, vl);
            shm_dict_store(d, 0, k, strlen(k), &v, 0, &f, &err);
            break;
        case 4:
            snprintf(k, sizeof(k), "v%d", key % 16);
            v.type = SHM_TNIL;
            shm_dict_store(d, 0, k, strlen(k), &v, 0, &f, &err);
            break;
        case 5:
            n = 1;
            shm_dict_incr(d, "count", 5, &n, 1, 0, 0, &f, &err);
            break;
        case 6:
            v = num_value(ver++);
            if (shm_dict_llen(d, "list", 4, &len, &err) == SHM_OK && len < 64)
                shm_dict_push(d, rand_r(&seed) % 2, "list", 4, &v, &len, &err);
            break;
        default:
            shm_dict_pop(d, rand_r(&seed) % 2, "list", 4, &v, buf, sizeof(buf), &err);
            break;
        }
    }
}

/* ROUNDS children killed in the middle of their writes: after each, the
 * dictionary is sound with no check of its own (the dead one's step
 * undone), every stable key is there, and every value is whole. */
static void
fuzz_crashes(const char *name, size_t size, int stable, size_t vmax, int rounds)
{
    struct shm_dict *d = shm_dict_create(name, size);
    struct shm_value v;
    struct shm_stats st;
    char k[32];
    int r, i, status, unsound = 0, missing = 0, torn = 0, is_stale, rc;
    unsigned long long undone;

    for (i = 0; i < stable; i++) {
        snprintf(k, sizeof(k), "s%d", i);
        v = str_value("");
        v.str = buf;
        v.len = fuzz_value(buf, i, 0, 64);
        shm_dict_store(d, 0, k, strlen(k), &v, 0, &status, &err);
    }
    for (r = 0; r < rounds; r++) {
        pid_t pid = fork();

        if (pid == 0) {
            fuzz_child(d, (unsigned)r + 1, stable, vmax);
            _exit(0);
        }
        waitpid(pid, &status, 0);
        unsound += !sound(d);
        for (i = 0; i < stable; i++) {
            snprintf(k, sizeof(k), "s%d", i);
            rc = shm_dict_get(d, k, strlen(k), 0, &v, buf, sizeof(buf), &is_stale, &err);
            if (rc != SHM_OK)
                missing++;
            else if (!fuzz_whole(v.str, v.len, i))
                torn++;
        }
        for (i = 0; i < 16; i++) {
            snprintf(k, sizeof(k), "v%d", i);
            rc = shm_dict_get(d, k, strlen(k), 0, &v, buf, sizeof(buf), &is_stale, &err);
            if (rc == SHM_OK && (sscanf(v.str, "%d", &status) != 1 || !fuzz_whole(v.str, v.len, status)))
                torn++;
        }
    }
    shm_dict_stats(d, &st);
    undone = st.repairs;
    is_int(unsound, 0, "a writer killed at random instants: the dictionary is sound after each");
    is_int(missing, 0, "no key it was not removing is lost");
    is_int(torn, 0, "no value is ever read torn (part old bytes, part new)");
    is_int(st.evictions, 0, "(none was evicted: the dictionary never filled)");
    ok(undone > (unsigned long long)rounds / 4, "%llu of %d writers died holding the lock, their step undone",
       undone, rounds);
    shm_dict_destroy(d);
}

static void
test_crash_atomicity(void)
{
    fuzz_crashes("crash-big", (size_t)4 << 20, 64, 16384, 300);
    fuzz_crashes("crash-small", (size_t)32 * 1024, 40, 200, 300);
}

/* A link to a block that says it is an entry but is too short to hold
 * an entry's header, placed at the heap's end (the mapping's end): it is
 * damage, never read past the mapping (SIGBUS before). */
static void
test_short_block_at_end(void)
{
    size_t head = (size_t)SHM_HEAD_GRANULES * SHM_GRANULE;
    struct shm_dict *d = shm_dict_create("short", (1 << 16) + (4096 - head % 4096) % 4096);
    struct shm_head *h;
    struct shm_block *b;
    uint32_t off;

    ok(d != NULL, "short block: dictionary made");
    if (d == NULL)
        return;
    h = d->h;
    off = h->heap_end - 3;
    b = SHM_BLOCK(h, off);
    b->magic = SHM_BLOCK_MAGIC;
    b->kind = SHM_KIND_ENTRY;
    b->size = 3;
    /* read back as an operation would, not folded from the stores above */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    ok(shm_entry_at(h, off) == NULL, "short block: an entry too short for its header is no entry");
    shm_dict_destroy(d);
}

/* ---- a back link that names the wrong member ---------------------------- */

/* The entry of KEY, found through its bucket as an operation finds it. */
static struct shm_entry *
entry_of(struct shm_dict *d, const char *k)
{
    struct shm_head *h = d->h;
    size_t klen = strlen(k);
    uint32_t off = shm_buckets(h)[shm_hash(h, k, klen) & (h->nbuckets - 1)];
    struct shm_entry *e;

    for (; off && (e = shm_entry_at(h, off)) != NULL; off = e->hnext)
        if (e->klen == klen && memcmp(SHM_ENTRY_KEY(e), k, klen) == 0)
            return e;
    return NULL;
}

static uint32_t
off_of(struct shm_dict *d, const char *k)
{
    return shm_off_of(d->h, entry_of(d, k));
}

enum forged_link {
    FORGE_TOUCH_PREV,       /* get k2: k2's lprev names k4, whose lnext is k3 */
    FORGE_TOUCH_NEXT,       /* get k2: k1's lprev names k4, not k2 */
    FORGE_TOUCH_HEAD,       /* get k2: the newest (k5) says k0 is before it */
    FORGE_DELETE_PREV,      /* delete k2: k2's lprev names k4 */
    FORGE_REPLACE_PREV,     /* a longer value for k2: k2's lprev names k4 */
    FORGE_POP_PREV,         /* rpop: the last node's prev names the first */
    FORGE_PUSH_HEAD,        /* lpush: the first node's prev names the last */
    FORGE_TOUCH_SELF,       /* get k2: k2's lprev and lnext both name k2 */
    FORGE_DELETE_SELF,      /* delete k2: k2's lprev and lnext both name k2 */
    FORGE_POP_SELF,         /* rpop: the last node's prev names itself */
    FORGE_CASES
};

static const char *const forge_name[FORGE_CASES] = {
    "get, the entry's lprev names another entry",
    "get, the entry after it does not link back to it",
    "get, the newest entry has one before it",
    "delete, the entry's lprev names another entry",
    "replace, the entry's lprev names another entry",
    "rpop, the last node's prev names another node",
    "lpush, the first node has one before it",
    "get, the entry links to itself both ways",
    "delete, the entry links to itself both ways",
    "rpop, the last node's prev names itself",
};

/* The operation of case C, which relinks through the forged link: what
 * it answers. */
static int
forge_operation(struct shm_dict *d, int c)
{
    struct shm_value v;
    long len;
    int f, is_stale;

    switch (c) {
    case FORGE_DELETE_PREV:
    case FORGE_DELETE_SELF:
        v.type = SHM_TNIL;
        return shm_dict_store(d, 0, "k2", 2, &v, 0, &f, &err);
    case FORGE_REPLACE_PREV:
        return set(d, 0, "k2", str_value("a value longer than the one it replaces"), 0, NULL);
    case FORGE_POP_PREV:
    case FORGE_POP_SELF:
        return shm_dict_pop(d, 0, "list", 4, &v, buf, sizeof(buf), &err);
    case FORGE_PUSH_HEAD:
        v = str_value("z");
        return shm_dict_push(d, 1, "list", 4, &v, &len, &err);
    default:
        return shm_dict_get(d, "k2", 2, 0, &v, buf, sizeof(buf), &is_stale, &err);
    }
}

/* Keys k0..k5 set in turn (k5 the newest) and a list of three; one back
 * link forged, as a stray store would leave it; then the operation that
 * relinks through it. */
static void
forge_case(int c)
{
    struct shm_dict *d = shm_dict_create("forged", (size_t)64 * 1024);
    struct shm_head *h = d->h;
    struct shm_entry *e;
    struct shm_node *first, *last;
    struct shm_stats st;
    struct shm_value v;
    char k[16], want[24];
    uint32_t off;
    long len;
    int i, rc, in_list, kept = 0;

    for (i = 0; i < 6; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        set(d, 0, k, str_value(k), 0, NULL);
    }
    v = str_value("a");
    shm_dict_push(d, 0, "list", 4, &v, &len, &err);
    v = str_value("b");
    shm_dict_push(d, 0, "list", 4, &v, &len, &err);
    v = str_value("c");
    shm_dict_push(d, 0, "list", 4, &v, &len, &err);
    get(d, "k0", 0);        /* the list's entry made newer than k0 .. k5 */
    get(d, "k1", 0);
    get(d, "k2", 0);
    get(d, "k3", 0);
    get(d, "k4", 0);
    get(d, "k5", 0);
    ok(sound(d), "%s: sound before", forge_name[c]);
    e = entry_of(d, "list");
    first = shm_node_at(h, e->first);
    last = shm_node_at(h, e->last);
    switch (c) {
    case FORGE_TOUCH_PREV:
    case FORGE_DELETE_PREV:
    case FORGE_REPLACE_PREV:
        entry_of(d, "k2")->lprev = off_of(d, "k4");
        break;
    case FORGE_TOUCH_NEXT:
        entry_of(d, "k1")->lprev = off_of(d, "k4");
        break;
    case FORGE_TOUCH_HEAD:
        entry_of(d, "k5")->lprev = off_of(d, "k0");
        break;
    case FORGE_POP_PREV:
        last->prev = e->first;
        break;
    case FORGE_PUSH_HEAD:
        first->prev = e->last;
        break;
    case FORGE_TOUCH_SELF:
    case FORGE_DELETE_SELF:
        entry_of(d, "k2")->lprev = off_of(d, "k2");
        entry_of(d, "k2")->lnext = off_of(d, "k2");
        break;
    case FORGE_POP_SELF:
        last->prev = e->last;
        break;
    default:
        break;
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    ok(!sound(d), "%s: the forged link is damage", forge_name[c]);
    rc = forge_operation(d, c);
    ok(rc == SHM_FAIL && err != NULL && strcmp(err, SHM_ERR_DAMAGED) == 0,
       "%s: the operation fails, \"%s\" (%d, %s)", forge_name[c], SHM_ERR_DAMAGED, rc, rc == SHM_FAIL ? err : "-");
    shm_dict_stats(d, &st);
    ok(st.repairs == 1, "%s: the operation finds it, and the dictionary is mended (%llu repairs)", forge_name[c],
       (unsigned long long)st.repairs);
    ok(sound(d), "%s: sound after", forge_name[c]);
    for (i = 0; i < 6; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        snprintf(want, sizeof(want), "s:%s", k);
        kept += strcmp(get(d, k, 0), want) == 0;
    }
    ok(kept == 6, "%s: every key kept with its value, the one it failed on too (%d of 6)", forge_name[c], kept);
    /* a list whose own nodes were forged is dropped by the repair */
    in_list = c == FORGE_POP_PREV || c == FORGE_POP_SELF || c == FORGE_PUSH_HEAD;
    len = -1;
    rc = shm_dict_llen(d, "list", 4, &len, &err);
    ok(rc == SHM_OK && len == (in_list ? 0 : 3), "%s: the list %s (%d, %ld long)", forge_name[c],
       in_list ? "dropped" : "as it was", rc, len);
    rc = forge_operation(d, c);
    ok(rc == (c == FORGE_POP_PREV || c == FORGE_POP_SELF ? SHM_NONE : SHM_OK), "%s: the operation, again, answers as on a sound "
       "dictionary (%d)", forge_name[c], rc);
    for (i = 0, off = h->lru_head; off && i <= 8 && (e = shm_entry_at(h, off)) != NULL; off = e->lnext)
        i++;
    ok(off == 0 && (unsigned long)i == nkeys(d), "%s: the LRU list holds every one of them (%d of %lu)",
       forge_name[c], i, nkeys(d));
    shm_dict_destroy(d);
}

enum cut_op { CUT_GET, CUT_TTL, CUT_EXPIRE, CUT_REPLACE, CUT_INCR, CUT_LLEN, CUT_LPOP, CUT_SET, CUT_OPS };

static const char *const cut_name[CUT_OPS] = {
    "get", "ttl", "expire", "replace", "incr", "llen", "lpop", "set",
};

/* What each answers on a sound dictionary without the key. */
static const int cut_missing[CUT_OPS] = {
    SHM_NONE, SHM_NONE, SHM_NONE, SHM_FAIL, SHM_FAIL, SHM_OK, SHM_NONE, SHM_OK,
};

/* Operation OP on KEY: what it answers. */
static int
cut_operation(struct shm_dict *d, int op, const char *key)
{
    size_t klen = strlen(key);
    struct shm_value v;
    long long ms;
    double n = 1;
    long len;
    int f;

    switch (op) {
    case CUT_GET:
        return shm_dict_get(d, key, klen, 0, &v, buf, sizeof(buf), &f, &err);
    case CUT_TTL:
        return shm_dict_ttl(d, key, klen, &ms, &err);
    case CUT_EXPIRE:
        return shm_dict_expire(d, key, klen, 10000, &err);
    case CUT_REPLACE:
        return set(d, SHM_OP_REPLACE, key, str_value("new"), 0, NULL);
    case CUT_INCR:
        return shm_dict_incr(d, key, klen, &n, 0, 0, 0, &f, &err);
    case CUT_LLEN:
        return shm_dict_llen(d, key, klen, &len, &err);
    case CUT_LPOP:
        return shm_dict_pop(d, 1, key, klen, &v, buf, sizeof(buf), &err);
    default:
        return set(d, 0, key, str_value("new"), 0, NULL);
    }
}

/* A key's hash chain cut short (its bucket names no block of the heap,
 * as a stray store would leave it): an operation on that key cannot tell
 * whether it is there, so it fails, "damaged", rather than answer "not
 * found", nil or 0 as for a missing key (or make a second entry for it);
 * the dictionary is mended, and the same operation then answers. */
static void
test_cut_chain(void)
{
    struct shm_dict *d;
    struct shm_stats st;
    uint32_t mask, b;
    char key[8];
    int op, rc, i;

    for (op = 0; op < CUT_OPS; op++) {
        d = shm_dict_create("cut", (size_t)64 * 1024);
        set(d, 0, "other", str_value("v"), 0, NULL);
        mask = d->h->nbuckets - 1;
        for (i = 0; i < 100; i++) {             /* a key whose chain is not "other"'s */
            snprintf(key, sizeof(key), "x%d", i);
            if ((b = shm_hash(d->h, key, strlen(key)) & mask) != (shm_hash(d->h, "other", 5) & mask))
                break;
        }
        shm_buckets(d->h)[b] = d->h->heap_end + 8;
        rc = cut_operation(d, op, key);
        ok(rc == SHM_FAIL && strcmp(err, SHM_ERR_DAMAGED) == 0, "%s of a key whose chain is cut: fails, \"%s\" "
           "(%d, %s)", cut_name[op], SHM_ERR_DAMAGED, rc, rc == SHM_FAIL ? err : "-");
        shm_dict_stats(d, &st);
        ok(st.repairs == 1 && sound(d), "%s: the dictionary is mended (%llu repairs)", cut_name[op],
           (unsigned long long)st.repairs);
        rc = cut_operation(d, op, key);
        ok(rc == cut_missing[op] && (rc != SHM_FAIL || strcmp(err, "not found") == 0),
           "%s: and then answers as for a missing key (%d)", cut_name[op], rc);
        is_str(get(d, "other", 0), "s:v", "another key is kept");
        shm_dict_destroy(d);
    }
}

static void
test_forged_back_links(void)
{
    int c;

    for (c = 0; c < FORGE_CASES; c++)
        forge_case(c);
}

int
main(void)
{
    log_use(LOG_TO_STDERR, -1, LOG_LEVEL_ERR);
    test_scalars();
    test_lists();
    test_expiry();
    test_eviction();
    test_model();
    test_churn();
    test_atomic();
    test_dead_holder();
    test_wedged_holder();
    test_walk_in_steps();
    test_stray_store();
    test_crash_atomicity();
    test_short_block_at_end();
    test_forged_back_links();
    test_cut_chain();
    return done_testing();
}
