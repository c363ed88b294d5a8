/*
 * doorkeeper.h — remembers which keys were seen recently, to admit a
 * block into the block cache only on its second read (TinyLFU's
 * "doorkeeper").
 *
 * Why: when reads are spread over far more blocks than the cache holds,
 * nearly every block read is read once, inserted, and evicted unread --
 * each read paying an allocation, an insert, an eviction and the free of
 * a cold block (measured: about an eighth of a point read at 50M keys
 * with a 64 MiB cache).  Blocks read again within about a cache's worth
 * of misses are the ones a cache can keep, and those are admitted at
 * their second read.
 *
 * How: two bitmaps (generations) of 16 bits per remembered key, one bit
 * per key chosen by its hash.  A key is noted in the current bitmap and
 * counts as seen if its bit is set in either; after `window` notes the
 * older bitmap is cleared and becomes current, so a key is remembered for
 * between one and two windows.  A false "seen" (another key's bit, about
 * 6% per bitmap) only admits a block early.
 *
 * Thread-safe without locks (atomic bit operations).  A note racing with
 * a generation change may be lost or cleared: it costs an admission,
 * never a wrong answer of the cache.
 */
#ifndef LSM_DOORKEEPER_H
#define LSM_DOORKEEPER_H

#include <stddef.h>
#include <stdint.h>

typedef struct lsm_doorkeeper {
    _Atomic uint64_t *bits[2];  /* the two generations */
    uint64_t words;             /* 64-bit words per generation (power of 2) */
    uint64_t window;            /* notes per generation */
    /* Written by every note: 64 bytes apart from the fields above, so
     * that notes do not keep invalidating them in other readers' caches
     * (padding, not alignment: the struct lives in malloc'ed memory). */
    char apart[64];
    _Atomic uint64_t notes;
} lsm_doorkeeper;

/* Remembers about `window` keys, clamped to [1024, 2^20] (the note that
 * opens a generation clears it: at most 4 MiB).  LSM_OK or
 * LSM_NO_MEMORY. */
int lsm_doorkeeper_init(lsm_doorkeeper *d, size_t window);
void lsm_doorkeeper_free(lsm_doorkeeper *d);
/* Notes the key of this hash; 1 if it was noted within the last one to
 * two windows, else 0. */
int lsm_doorkeeper_seen(lsm_doorkeeper *d, uint64_t hash);

#endif
