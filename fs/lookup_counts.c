/*
 * lookup_counts.c — lookup counts of inodes the kernel still references
 * but the inode cache has evicted.
 *
 * The kernel keeps a dentry and an inode for every name it has looked up
 * until memory pressure makes it forget them, and FUSE requires the
 * filesystem to remember, per inode, how many lookups the kernel has not
 * yet forgotten.  On a machine with plenty of memory that is every file
 * ever touched: a million files would pin a million full cache entries
 * (~260 bytes each).  Evicted entries keep only their count here, in an
 * open-addressing table of 16-byte slots (linear probing, at most 3/4
 * full, backward-shift deletion so no tombstones): ~21-32 bytes per inode.
 *
 * A slot with count 0 is empty; counts of 0 are never stored.  Not
 * thread-safe: each inode cache shard owns one table under its mutex.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

#define LC_MIN_CAP 64

static size_t lc_home(const struct lookup_counts *t, uint64_t ino)
{
    uint64_t x = ino * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    return (size_t)x & (t->cap - 1);
}

/* Moves every entry into a table of new_cap slots (a power of 2). */
static int lc_resize(struct lookup_counts *t, size_t new_cap)
{
    struct lookup_count *old = t->slots;
    size_t old_cap = t->cap;
    struct lookup_count *slots = calloc(new_cap, sizeof *slots);
    if (slots == NULL)
        return -ENOMEM;
    t->slots = slots;
    t->cap = new_cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].count == 0)
            continue;
        size_t k = lc_home(t, old[i].ino);
        while (slots[k].count != 0)
            k = (k + 1) & (new_cap - 1);
        slots[k] = old[i];
    }
    free(old);
    return 0;
}

/* Slot holding ino, or cap if absent. */
static size_t lc_find(const struct lookup_counts *t, uint64_t ino)
{
    if (t->cap == 0)
        return 0;
    for (size_t k = lc_home(t, ino);; k = (k + 1) & (t->cap - 1)) {
        if (t->slots[k].count == 0)
            return t->cap;
        if (t->slots[k].ino == ino)
            return k;
    }
}

int lookup_counts_add(struct lookup_counts *t, uint64_t ino, uint64_t n)
{
    if (n == 0)
        return 0;
    size_t k = lc_find(t, ino);
    if (k < t->cap) {
        t->slots[k].count += n;
        return 0;
    }
    if ((t->used + 1) * 4 > t->cap * 3) {
        int rc = lc_resize(t, t->cap ? t->cap * 2 : LC_MIN_CAP);
        if (rc < 0)
            return rc;
    }
    for (k = lc_home(t, ino); t->slots[k].count != 0; k = (k + 1) & (t->cap - 1))
        ;
    t->slots[k].ino = ino;
    t->slots[k].count = n;
    t->used++;
    return 0;
}

/* Empties slot k, shifting back the entries after it that probed past it
 * so every entry stays reachable from its home slot. */
static void lc_delete_slot(struct lookup_counts *t, size_t k)
{
    size_t mask = t->cap - 1;
    for (size_t j = (k + 1) & mask; t->slots[j].count != 0; j = (j + 1) & mask) {
        size_t home = lc_home(t, t->slots[j].ino);
        /* j's entry may move to k if k lies cyclically in [home, j). */
        if (((j - home) & mask) >= ((j - k) & mask)) {
            t->slots[k] = t->slots[j];
            k = j;
        }
    }
    t->slots[k].count = 0;
    t->used--;
}

uint64_t lookup_counts_take(struct lookup_counts *t, uint64_t ino)
{
    size_t k = lc_find(t, ino);
    if (k >= t->cap)
        return 0;
    uint64_t n = t->slots[k].count;
    lc_delete_slot(t, k);
    /* Give memory back after a mass forget; failing to is harmless. */
    if (t->cap > LC_MIN_CAP && t->used * 8 < t->cap)
        (void)lc_resize(t, t->cap / 2);
    return n;
}

void lookup_counts_free(struct lookup_counts *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->used = 0;
}
