/*
 * shm_undo.c: every step of a dictionary's operations is all or nothing,
 * whenever its process dies.
 *
 * A process can die between any two of its instructions while it holds a
 * dictionary's lock: kill -9, the OOM killer, a crash in a C module. The
 * robust lock hands the dictionary to the next holder (shm_lock.c), which
 * must find it as it was before the dead one's unfinished step, or as it
 * would have been after it, never in between: a value half written, a
 * chain cut, a block on no list. Checking the whole heap for that takes
 * time in proportion to the dictionary (seconds for a few GiB), and
 * cannot tell a value half copied from a whole one.
 *
 * So each store to a granule that was in use when the step began is
 * preceded by a record of that granule's old bytes (shm_log, inline in
 * shm_impl.h); the step ends with shm_commit, which forgets the records.
 * What a step writes into a block it took from the free space (a new
 * entry's key and value) needs no record: undone, that block is free
 * again. The next holder of an abandoned lock writes the records back,
 * newest first (shm_undo): at most SHM_UNDO_MAX granules, however large
 * the dictionary, so it answers at once.
 *
 * A step is what leaves the dictionary consistent: one store with its
 * removals, one eviction, one entry of flush_expired, one relocation of
 * a shrink. The log is in the arena's header, so it is the dead
 * process's own, whatever binary it was; its records name granules by
 * offset, never by address.
 */
#include "shm_impl.h"

/* The step under way is done: its records are forgotten (the count
 * first: a process killed between the two stores then leaves a log that
 * is empty and marked lost, which costs a check, never a wrong undo). */
void
shm_commit(struct shm_head *h)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    h->undo_count = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    h->undo_lost = 0;
}

/*
 * Undo the step a dead holder left (its lock held). The count of
 * granules written back, or -1 when the log had overflowed or names a
 * granule outside the heap: then the dictionary must be checked.
 */
int
shm_undo(struct shm_head *h)
{
    uint32_t n = h->undo_count, i, end = h->heap_end;
    int bad = h->undo_lost != 0 || n > SHM_UNDO_MAX;

    if (n > SHM_UNDO_MAX)
        n = 0;
    /* the heap's end may be one of the records (a resize): the larger of
     * the two bounds the offsets, each checked again against the file */
    for (i = 0; i < n; i++)
        if (h->undo[i].off == (uint32_t)(offsetof(struct shm_head, heap_end) / SHM_GRANULE)) {
            uint32_t old;

            memcpy(&old, (char *)&h->undo[i].old + offsetof(struct shm_head, heap_end) % SHM_GRANULE,
                   sizeof(old));
            end = old > end ? old : end;
        }
    for (i = n; i-- > 0;) {
        if (h->undo[i].off >= end || (uint64_t)h->undo[i].off * SHM_GRANULE >= h->reserved) {
            bad = 1;
            continue;
        }
        __atomic_store_n((uint64_t *)SHM_AT(h, h->undo[i].off), h->undo[i].old, __ATOMIC_RELAXED);
    }
    shm_commit(h);
    return bad ? -1 : (int)n;
}
