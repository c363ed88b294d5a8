/*
 * arena.h — a bump allocator for memtable nodes.
 *
 * Allocations are carved from chunks that start at 64 KiB and double up
 * to 1 MiB; a request larger than a quarter of the current chunk size gets
 * a malloc of its own so a big value wastes nothing.  Nothing is freed
 * individually: lsm_arena_free releases every chunk in one pass.
 *
 * Concurrency: one thread allocates at a time (the memtable's writer);
 * lsm_arena_usage may be read from any thread.
 */
#ifndef LSM_ARENA_H
#define LSM_ARENA_H

#include <stdatomic.h>
#include <stddef.h>

/* Every pointer lsm_arena_alloc returns is aligned to this. */
#define LSM_ARENA_ALIGN 8

struct lsm_arena_chunk;

typedef struct lsm_arena {
    char *cur;                      /* next free byte of the current chunk */
    size_t left;                    /* bytes free after cur */
    size_t chunk_bytes;             /* size of the next chunk to allocate */
    struct lsm_arena_chunk *chunks; /* every malloc'ed block, newest first */
    /* Bytes handed out, plus alignment padding and the abandoned tails of
     * retired chunks: total malloc'ed minus the free tail of the current
     * chunk.  So usage tracks what entries really cost, even when a
     * memtable limit is smaller than a chunk. */
    _Atomic size_t usage;
} lsm_arena;

void lsm_arena_init(lsm_arena *a);
/* n bytes aligned to LSM_ARENA_ALIGN, or NULL when out of memory (or n
 * so large the size computation would overflow). */
void *lsm_arena_alloc(lsm_arena *a, size_t n);
size_t lsm_arena_usage(const lsm_arena *a);
/* Frees every allocation; the arena is empty and reusable afterwards. */
void lsm_arena_free(lsm_arena *a);

#endif
