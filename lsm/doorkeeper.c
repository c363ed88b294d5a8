/*
 * doorkeeper.c — recently seen keys, for block cache admission (see
 * doorkeeper.h).  Memory: two generations of 16 to 32 bits per key of
 * the window (16, rounded up to a power of two); a note is one atomic add
 * and one atomic or, plus, once per window, clearing one generation
 * (2 to 4 bytes per key of the window, 4 MiB at most, on the thread that
 * opens it).
 */
#include "doorkeeper.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "error.h"

#define BITS_PER_KEY 16
#define MIN_WINDOW 1024
#define MAX_WINDOW ((size_t)1 << 20)

int lsm_doorkeeper_init(lsm_doorkeeper *d, size_t window)
{
    if (window < MIN_WINDOW)
        window = MIN_WINDOW;
    if (window > MAX_WINDOW)
        window = MAX_WINDOW;
    uint64_t words = 1;
    while (words * 64 < (uint64_t)window * BITS_PER_KEY)
        words *= 2;
    d->words = words;
    d->window = window;
    atomic_init(&d->notes, 0);
    d->bits[0] = calloc(words, sizeof *d->bits[0]);
    d->bits[1] = calloc(words, sizeof *d->bits[1]);
    if (!d->bits[0] || !d->bits[1]) {
        lsm_doorkeeper_free(d);
        return LSM_NO_MEMORY;
    }
    return LSM_OK;
}

void lsm_doorkeeper_free(lsm_doorkeeper *d)
{
    free(d->bits[0]);
    free(d->bits[1]);
    d->bits[0] = d->bits[1] = NULL;
}

static void clear_generation(_Atomic uint64_t *bits, uint64_t words)
{
    for (uint64_t i = 0; i < words; i++)
        atomic_store_explicit(&bits[i], 0, memory_order_relaxed);
}

int lsm_doorkeeper_seen(lsm_doorkeeper *d, uint64_t hash)
{
    uint64_t n = atomic_fetch_add_explicit(&d->notes, 1, memory_order_relaxed);
    int g = (int)((n / d->window) & 1);
    if (n > 0 && n % d->window == 0)   /* this note opens a generation */
        clear_generation(d->bits[g], d->words);
    uint64_t word = (hash >> 6) & (d->words - 1);
    uint64_t mask = UINT64_C(1) << (hash & 63);
    uint64_t was = atomic_fetch_or_explicit(&d->bits[g][word], mask,
                                            memory_order_relaxed);
    if (was & mask)
        return 1;
    return (atomic_load_explicit(&d->bits[g ^ 1][word],
                                 memory_order_relaxed) & mask) != 0;
}
