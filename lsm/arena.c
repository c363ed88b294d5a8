/*
 * arena.c — bump allocator in chunks (see arena.h).
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define FIRST_CHUNK_BYTES ((size_t)64 << 10)
#define MAX_CHUNK_BYTES ((size_t)1 << 20)

/* Header of every malloc'ed block; the payload follows it and starts
 * LSM_ARENA_ALIGN-aligned because the header is one pointer wide. */
struct lsm_arena_chunk {
    struct lsm_arena_chunk *next;
};

_Static_assert(sizeof(struct lsm_arena_chunk) % LSM_ARENA_ALIGN == 0,
               "chunk header keeps payload aligned");

void lsm_arena_init(lsm_arena *a)
{
    a->cur = NULL;
    a->left = 0;
    a->chunk_bytes = FIRST_CHUNK_BYTES;
    a->chunks = NULL;
    atomic_init(&a->usage, 0);
}

static void add_usage(lsm_arena *a, size_t n)
{
    /* Only the single allocating thread writes; readers just load. */
    size_t u = atomic_load_explicit(&a->usage, memory_order_relaxed);
    atomic_store_explicit(&a->usage, u + n, memory_order_relaxed);
}

/* mallocs a block with a payload of n bytes and links it in. */
static char *new_block(lsm_arena *a, size_t n)
{
    if (n > SIZE_MAX - sizeof(struct lsm_arena_chunk))
        return NULL;
    struct lsm_arena_chunk *c = malloc(sizeof *c + n);
    if (!c)
        return NULL;
    c->next = a->chunks;
    a->chunks = c;
    return (char *)(c + 1);
}

void *lsm_arena_alloc(lsm_arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - LSM_ARENA_ALIGN)
        return NULL;
    size_t padded = (n + LSM_ARENA_ALIGN - 1) & ~(size_t)(LSM_ARENA_ALIGN - 1);

    if (padded <= a->left) {
        char *p = a->cur;
        a->cur += padded;
        a->left -= padded;
        add_usage(a, padded);
        return p;
    }

    /* Big requests get their own block and leave the current chunk alone. */
    if (padded > a->chunk_bytes / 4) {
        char *p = new_block(a, padded);
        if (p)
            add_usage(a, padded);
        return p;
    }

    /* Retire the current chunk; its free tail is counted as used. */
    char *p = new_block(a, a->chunk_bytes);
    if (!p)
        return NULL;
    add_usage(a, a->left + padded);
    a->cur = p + padded;
    a->left = a->chunk_bytes - padded;
    if (a->chunk_bytes < MAX_CHUNK_BYTES)
        a->chunk_bytes *= 2;
    return p;
}

size_t lsm_arena_usage(const lsm_arena *a)
{
    return atomic_load_explicit(&a->usage, memory_order_relaxed);
}

/* Freeing this much (a flushed memtable) also hands the free pages of
 * every malloc arena back to the kernel: glibc keeps freed 1 MiB chunks
 * (past its dynamic mmap threshold they come from the arenas), and
 * measured at 10M keys that kept 60-139 MiB of free memory resident
 * beside 107 MiB in use.  Cost: one walk of the arenas per flush. */
#define TRIM_BYTES ((size_t)8 << 20)

void lsm_arena_free(lsm_arena *a)
{
    size_t freed = lsm_arena_usage(a);
    struct lsm_arena_chunk *c = a->chunks;
    while (c) {
        struct lsm_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    lsm_arena_init(a);
#ifdef __GLIBC__
    if (freed >= TRIM_BYTES)
        malloc_trim(0);
#endif
}
