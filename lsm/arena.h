/*
 * arena.h — a bump allocator for memtable nodes, and a pool that hands
 * the chunks of freed arenas to the next ones.
 *
 * Allocations are carved from chunks that start at 64 KiB and double up
 * to 1 MiB; a request larger than a quarter of the current chunk size gets
 * a malloc of its own so a big value wastes nothing.  Nothing is freed
 * individually: lsm_arena_free releases every chunk in one pass.
 *
 * Pool: an arena made with lsm_arena_init_pooled takes a chunk from its
 * pool, when the pool holds one, before it mallocs any chunk, and gives
 * its 1 MiB blocks back to the pool when freed, up to the pool's cap; the
 * rest is freed.  Pages of a pooled chunk stay resident, so a memtable
 * built from them takes no page faults (a fresh 1 MiB chunk costs 256
 * faults: 16384 for a 64 MiB memtable; under a sqlite WAL workload page
 * faults were 6.5% of lsmfs's CPU samples before the pool, 2% after).
 * Why the cap keeps the peak-RSS bound: arena.c, above the pool.
 * Warming ahead (lsm_arena_pool_warm): the pool's own thread keeps a few
 * chunks written ahead of the live arena, within the same bound, since
 * on a virtual machine a page's first write from user space costs far
 * more than its fault (arena.c).
 *
 * Concurrency: one thread allocates at a time (the memtable's writer);
 * lsm_arena_usage may be read from any thread.  A pool is shared by any
 * number of arenas on any threads (its own mutex, a leaf lock: nothing
 * else is taken while it is held).
 */
#ifndef LSM_ARENA_H
#define LSM_ARENA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Every pointer lsm_arena_alloc returns is aligned to this. */
#define LSM_ARENA_ALIGN 8

struct lsm_arena_chunk;
typedef struct lsm_arena_pool lsm_arena_pool;

typedef struct lsm_arena {
    char *cur;                      /* next free byte of the current chunk */
    size_t left;                    /* bytes free after cur */
    size_t chunk_bytes;             /* size of the next chunk to allocate */
    struct lsm_arena_chunk *chunks; /* every block, newest first */
    size_t bytes;                   /* their payloads' sum */
    lsm_arena_pool *pool;           /* referenced; NULL: none */
    /* Bytes handed out, plus alignment padding and the abandoned tails of
     * retired chunks: total malloc'ed minus the free tail of the current
     * chunk.  So usage tracks what entries really cost, even when a
     * memtable limit is smaller than a chunk. */
    _Atomic size_t usage;
} lsm_arena;

void lsm_arena_init(lsm_arena *a);
/* Takes a reference to pool (NULL: same as lsm_arena_init). */
void lsm_arena_init_pooled(lsm_arena *a, lsm_arena_pool *pool);
/* n bytes aligned to LSM_ARENA_ALIGN, or NULL when out of memory (or n
 * so large the size computation would overflow). */
void *lsm_arena_alloc(lsm_arena *a, size_t n);
size_t lsm_arena_usage(const lsm_arena *a);
/* Frees every allocation (1 MiB chunks into the pool, up to its cap) and
 * drops the pool reference; the arena is empty, unpooled and reusable
 * afterwards. */
void lsm_arena_free(lsm_arena *a);

/* A pool holding at most cap_bytes of free chunks (rounded down to whole
 * 1 MiB chunks; under 1 MiB it keeps none).  refs = 1; NULL on ENOMEM. */
lsm_arena_pool *lsm_arena_pool_new(size_t cap_bytes);
/* Drops a reference; the last frees the chunks held. */
void lsm_arena_pool_unref(lsm_arena_pool *p);
/* Frees every chunk held now (e.g. on an idle store: its pages go back
 * to the kernel) and stops warming until an arena grows again.  NULL:
 * nothing. */
void lsm_arena_pool_drain(lsm_arena_pool *p);
/* Warming ahead (arena.c): a thread of the pool's own keeps up to
 * ahead_bytes (rounded down to whole chunks) of chunks mapped and written
 * in the pool while an arena of it grows, within the cap together with
 * what that arena holds.  The bound assumes one arena grows at a time
 * (the live memtable; the others only wait to be freed).  Call once,
 * before any arena uses the pool; the last unref stops the thread.  0,
 * or -1 if the thread cannot start (the pool works unwarmed). */
int lsm_arena_pool_warm(lsm_arena_pool *p, size_t ahead_bytes);

typedef struct lsm_arena_pool_stats {
    size_t held_bytes;      /* free chunks in the pool now */
    size_t cap_bytes;       /* most it ever holds */
    uint64_t reused;        /* chunks taken out by arenas */
    uint64_t kept;          /* chunks given back and kept */
    uint64_t released;      /* chunks given back past the cap, or drained */
    uint64_t warmed;        /* chunks the warmer added */
} lsm_arena_pool_stats;
void lsm_arena_pool_stats_get(lsm_arena_pool *p, lsm_arena_pool_stats *out);

#endif
