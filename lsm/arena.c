/*
 * arena.c — bump allocator in chunks, and the pool of free chunks (see
 * arena.h).
 */
#include "arena.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define FIRST_CHUNK_BYTES ((size_t)64 << 10)
#define MAX_CHUNK_BYTES ((size_t)1 << 20)

/* Header of every malloc'ed block; the payload of `bytes` follows it and
 * starts LSM_ARENA_ALIGN-aligned because the header is two words wide. */
struct lsm_arena_chunk {
    struct lsm_arena_chunk *next;
    size_t bytes;
};

_Static_assert(sizeof(struct lsm_arena_chunk) % LSM_ARENA_ALIGN == 0,
               "chunk header keeps payload aligned");

/* Maps the whole pages of [p, p + n) at once (MADV_POPULATE_WRITE,
 * Linux 5.14+; best effort: elsewhere, or refused, they fault in as the
 * memtable fills).  A fresh chunk is about to be written through anyway;
 * touched one page at a time it takes a page fault per 4 KiB, each a
 * trap (and on a virtual machine an exit), inside the write that reaches
 * it.  Populated in one call the kernel zeroes and maps the same pages
 * without the traps.  Measured on the 2-vCPU VM, the daemon under the
 * sqlite workload of scripts/bench-fs (each commit adds ~36 KB of page
 * writes to the memtable): its CPU 48-54 -> 42-46 ticks per 3000
 * commits, the run 2-11 % shorter.  Costs nothing more in memory: the
 * pages are the chunk's, which the memtable fills before the next. */
static void populate(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    long sz = sysconf(_SC_PAGESIZE);   /* from the aux vector: no call */
    uintptr_t page = sz > 0 ? (uintptr_t)sz : 4096;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#else
    (void)p, (void)n;
#endif
}

/* --- the pool ---------------------------------------------------------------- */

/*
 * Why a pool capped at M = memtable_bytes (db_open.c) keeps the README's
 * peak-RSS bound, whose memtable term is (1 + max_immutable_memtables) x M:
 * let L be the live memtable's arena bytes (at most M, up to the entry
 * that crossed its limit, as before), k the immutable memtables (each
 * counted as M) and P the pool's bytes (P <= M, the cap).  Invariant:
 *     L + P + k M <= (1 + max_immutable_memtables) M.
 * Memory only moves from a dead memtable to the pool and from the pool to
 * the live one; each event that changes a term keeps the invariant:
 *  - L grows: from the pool first (an arena takes a pooled chunk before
 *    it mallocs one, also for a request too big to share a chunk but not
 *    bigger than one), so L + P stays put; a block bigger than a chunk
 *    first frees pooled chunks of at least its size (pool_reserve); so it
 *    mallocs only with P = 0 or P lowered as much, and then
 *    L + P + k M <= M + max_imm M.
 *  - a switch: L becomes immutable number k + 1 and the new L is 0; it
 *    happens only with k < max_imm (writers wait otherwise), so
 *    P + (k + 1) M <= M + max_imm M.
 *  - a flush frees an immutable memtable: k drops by one and P rises to
 *    at most M, so L + M + (k - 1) M <= (1 + max_imm) M.
 *  - a memtable kept past its flush by an iterator dies: it was resident
 *    and outside the formula until then (as before the pool); up to M of
 *    it now waits in the pool, where the live memtable takes it before
 *    mallocing (RSS does not rise), and the next switch or flush brings
 *    the sum back under the bound (the two cases above).
 * Cost: a mutex per chunk taken (one per 1 MiB of memtable) and one per
 * arena freed; chunks freed for real (past the cap, big one-off blocks,
 * a drained or last-unref'ed pool) still go through give_back's trim.
 */
struct lsm_arena_pool {
    pthread_mutex_t mu;
    atomic_int refs;
    size_t cap;                     /* whole chunks, bytes */
    struct lsm_arena_chunk *free;   /* (mu) 1 MiB chunks */
    size_t held;                    /* (mu) bytes in free */
    uint64_t reused, kept, released;/* (mu) */
    /* Warming ahead (lsm_arena_pool_warm, below). */
    pthread_t warmer;
    int warming;                    /* the warmer thread runs */
    pthread_cond_t warm_cv;         /* (mu) wakes the warmer */
    size_t warm_ahead;              /* (mu) warm bytes to keep, 0: none */
    size_t live;                    /* (mu) bytes the live arena holds */
    int warm_wanted;                /* (mu) an arena grew since the drain */
    int stopping;                   /* (mu) the last reference is gone */
    uint64_t drains;                /* (mu) lsm_arena_pool_drain calls */
    uint64_t warmed;                /* (mu) chunks the warmer added */
};

/* Freeing an arena of this much (a flushed memtable), or freeing this
 * much, also hands the free pages of every malloc arena back to the
 * kernel: glibc keeps freed 1 MiB chunks (past its dynamic mmap threshold
 * they come from the arenas), and measured at 10M keys that kept 60-139
 * MiB of free memory resident beside 107 MiB in use.  The trim stays per
 * flush though the pool now keeps the memtable's chunks: it returns what
 * flushes and compactions freed meanwhile, the retention the README's
 * constant C allows for between trims (fillrandom 3M peaked the same
 * within noise with and without it).  Cost: one walk of the arenas per
 * flush. */
#define TRIM_BYTES ((size_t)8 << 20)

/* Frees a list of blocks; trims when that was a lot, or when `trim`.
 * Returns the number of blocks. */
static uint64_t give_back(struct lsm_arena_chunk *c, int trim)
{
    size_t freed = 0;
    uint64_t n = 0;
    while (c) {
        struct lsm_arena_chunk *next = c->next;
        freed += c->bytes;
        n++;
        free(c);
        c = next;
    }
#ifdef __GLIBC__
    if (trim || freed >= TRIM_BYTES)
        malloc_trim(0);
#endif
    return n;
}

lsm_arena_pool *lsm_arena_pool_new(size_t cap_bytes)
{
    lsm_arena_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->warm_cv, NULL);
    atomic_init(&p->refs, 1);
    p->cap = cap_bytes / MAX_CHUNK_BYTES * MAX_CHUNK_BYTES;
    return p;
}

static void pool_ref(lsm_arena_pool *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void lsm_arena_pool_drain(lsm_arena_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    struct lsm_arena_chunk *c = p->free;
    p->free = NULL;
    p->held = 0;
    p->drains++;
    p->warm_wanted = 0;             /* no refill until writes resume */
    pthread_mutex_unlock(&p->mu);
    uint64_t n = give_back(c, c != NULL);   /* an idle store's pages back */
    pthread_mutex_lock(&p->mu);
    p->released += n;
    pthread_mutex_unlock(&p->mu);
}

void lsm_arena_pool_unref(lsm_arena_pool *p)
{
    /* acq_rel: the last owner sees every other owner's puts done. */
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (p->warming) {
        pthread_mutex_lock(&p->mu);
        p->stopping = 1;
        pthread_cond_signal(&p->warm_cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->warmer, NULL);
    }
    give_back(p->free, 0);
    pthread_cond_destroy(&p->warm_cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void lsm_arena_pool_stats_get(lsm_arena_pool *p, lsm_arena_pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    out->held_bytes = p->held;
    out->cap_bytes = p->cap;
    out->reused = p->reused;
    out->kept = p->kept;
    out->released = p->released;
    out->warmed = p->warmed;
    pthread_mutex_unlock(&p->mu);
}

/* Is a chunk to be warmed now (mu held)?  See "warming ahead" below. */
static int warm_due(const lsm_arena_pool *p)
{
    return p->warm_wanted && !p->stopping && p->held < p->warm_ahead &&
           p->live + p->held + MAX_CHUNK_BYTES <= p->cap;
}

/* The growing arena holds `live` bytes (mu held): the warmer may top the
 * pool up. */
static void set_live(lsm_arena_pool *p, size_t live)
{
    p->live = live;
    p->warm_wanted = 1;
    if (p->warming && warm_due(p))
        pthread_cond_signal(&p->warm_cv);
}

/* A free chunk of MAX_CHUNK_BYTES, unlinked, or NULL.  The arena taking
 * it held `live` bytes: the chunk's count as live in the same locked step
 * that takes them out of held (the warmer reads the two together). */
static struct lsm_arena_chunk *pool_take(lsm_arena_pool *p, size_t live)
{
    if (!p)
        return NULL;
    pthread_mutex_lock(&p->mu);
    struct lsm_arena_chunk *c = p->free;
    if (c) {
        p->free = c->next;
        p->held -= c->bytes;
        p->reused++;
        set_live(p, live + c->bytes);
    }
    pthread_mutex_unlock(&p->mu);
    return c;
}

/* An arena is about to malloc a block that takes it to `live` bytes:
 * counts them as live before they exist, having first freed pooled
 * chunks of at least `shrink` bytes in all (every one, if it holds
 * fewer), so a block malloc'ed beside the pool does not raise L + P
 * (above) and the warmer does not refill what was freed.  p may be
 * NULL. */
static void pool_reserve(lsm_arena_pool *p, size_t live, size_t shrink)
{
    if (!p)
        return;
    struct lsm_arena_chunk *out = NULL;
    size_t freed = 0;
    pthread_mutex_lock(&p->mu);
    while (p->free && freed < shrink) {
        struct lsm_arena_chunk *c = p->free;
        p->free = c->next;
        p->held -= c->bytes;
        p->released++;
        freed += c->bytes;
        c->next = out;
        out = c;
    }
    set_live(p, live);
    pthread_mutex_unlock(&p->mu);
    give_back(out, 0);
}

/* Keeps the 1 MiB blocks of list c while the cap allows (p may be
 * NULL: none); returns the rest, to be freed. */
static struct lsm_arena_chunk *pool_put(lsm_arena_pool *p,
                                        struct lsm_arena_chunk *c)
{
    struct lsm_arena_chunk *rest = NULL;
    if (p)
        pthread_mutex_lock(&p->mu);
    while (c) {
        struct lsm_arena_chunk *next = c->next;
        int chunk = p && c->bytes == MAX_CHUNK_BYTES;
        if (chunk && p->held + c->bytes <= p->cap) {
            c->next = p->free;
            p->free = c;
            p->held += c->bytes;
            p->kept++;
        } else {
            c->next = rest;
            rest = c;
            if (chunk)
                p->released++;
        }
        c = next;
    }
    if (p)
        pthread_mutex_unlock(&p->mu);
    return rest;
}

/* --- warming ahead ----------------------------------------------------------- */

/*
 * The first write to a page of a chunk fresh from malloc takes a page
 * fault, inside the memtable insert that reaches it; on a virtual machine
 * much more than the fault: measured on the 2-vCPU VM, copying 15 KB into
 * memory never written from user space took 18-38 us
 * (MADV_POPULATE_WRITE'd or not), into memory written before 0.7 us.  A
 * fresh mount's memtable, or the first after an idle pass drained the
 * pool, is all such chunks.  So a pool with warming on
 * (lsm_arena_pool_warm) keeps up to warm_ahead bytes of chunks already
 * mapped and written, which a thread of its own makes (populate, then a
 * write per page: 1.5 ms per MiB there) while the live arena fills the
 * chunk before; the inserts then write memory that is mapped.  Measured
 * with the sqlite WAL workload of scripts/bench-fs (~36 KB of page
 * writes per commit): see README, "Peak RSS".
 * Bound: the warmer adds a chunk only while live + held + a chunk <= cap,
 * live being what the growing arena holds (one arena grows at a time: the
 * live memtable; the last to grow is the one counted).  Its bytes are
 * counted under mu before they exist or in the step that moves them:
 * taking a pooled chunk moves its bytes from held to live (pool_take), a
 * malloc is reserved first (pool_reserve, with the shrink for a big
 * block).  So L + P <= M holds as before and the peak-RSS argument above
 * is unchanged, but for the chunk being warmed: resident and in neither
 * for ~1.5 ms, at most one chunk over when the arena mallocs meanwhile.
 * Warming starts when an arena grows and stops at a drain (an idle store
 * keeps nothing warm); a chunk warmed across a drain is freed, not
 * pooled.
 */
#define WARM_STRIDE 4096      /* a write per page; smaller pages: still mapped */

/* A malloc'ed 1 MiB chunk whose pages are mapped and written, or NULL. */
static struct lsm_arena_chunk *warm_chunk(void)
{
    struct lsm_arena_chunk *c = malloc(sizeof *c + MAX_CHUNK_BYTES);
    if (!c)
        return NULL;
    c->bytes = MAX_CHUNK_BYTES;
    volatile char *p = (volatile char *)(c + 1);
    populate(c + 1, MAX_CHUNK_BYTES);
    for (size_t off = 0; off < MAX_CHUNK_BYTES; off += WARM_STRIDE)
        p[off] = 0;
    return c;
}

/* Warms one chunk (mu held, dropped meanwhile) and pools it if it is
 * still due and no drain came in between. */
static void warm_one(lsm_arena_pool *p)
{
    uint64_t drains = p->drains;
    pthread_mutex_unlock(&p->mu);
    struct lsm_arena_chunk *c = warm_chunk();
    pthread_mutex_lock(&p->mu);
    if (!c) {
        p->warm_wanted = 0;          /* out of memory: until an arena grows */
    } else if (drains == p->drains && warm_due(p)) {
        c->next = p->free;
        p->free = c;
        p->held += c->bytes;
        p->warmed++;
    } else {                         /* not wanted now: freed unlocked */
        pthread_mutex_unlock(&p->mu);
        c->next = NULL;
        give_back(c, 0);
        pthread_mutex_lock(&p->mu);
    }
}

static void *warm_main(void *arg)
{
    lsm_arena_pool *p = arg;
    pthread_setname_np(pthread_self(), "lsm-warm");
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        if (warm_due(p))
            warm_one(p);
        else
            pthread_cond_wait(&p->warm_cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int lsm_arena_pool_warm(lsm_arena_pool *p, size_t ahead_bytes)
{
    if (!p || p->warming || ahead_bytes < MAX_CHUNK_BYTES)
        return 0;
    p->warm_ahead = ahead_bytes / MAX_CHUNK_BYTES * MAX_CHUNK_BYTES;
    if (pthread_create(&p->warmer, NULL, warm_main, p) != 0) {
        p->warm_ahead = 0;
        return -1;
    }
    p->warming = 1;
    return 0;
}

/* --- the arena --------------------------------------------------------------- */

void lsm_arena_init(lsm_arena *a)
{
    a->cur = NULL;
    a->left = 0;
    a->chunk_bytes = FIRST_CHUNK_BYTES;
    a->chunks = NULL;
    a->bytes = 0;
    a->pool = NULL;
    atomic_init(&a->usage, 0);
}

void lsm_arena_init_pooled(lsm_arena *a, lsm_arena_pool *pool)
{
    lsm_arena_init(a);
    if (pool)
        pool_ref(pool);
    a->pool = pool;
}

static void add_usage(lsm_arena *a, size_t n)
{
    /* Only the single allocating thread writes; readers just load. */
    size_t u = atomic_load_explicit(&a->usage, memory_order_relaxed);
    atomic_store_explicit(&a->usage, u + n, memory_order_relaxed);
}

static void link_block(lsm_arena *a, struct lsm_arena_chunk *c)
{
    c->next = a->chunks;
    a->chunks = c;
    a->bytes += c->bytes;
}

/* mallocs a block with a payload of n bytes (populated) and links it in,
 * first freeing pooled chunks of `shrink` bytes (pool_reserve). */
static char *new_block(lsm_arena *a, size_t n, size_t shrink)
{
    if (n > SIZE_MAX - sizeof(struct lsm_arena_chunk) - a->bytes)
        return NULL;
    pool_reserve(a->pool, a->bytes + n, shrink);
    struct lsm_arena_chunk *c = malloc(sizeof *c + n);
    if (!c) {
        pool_reserve(a->pool, a->bytes, 0);   /* nothing came */
        return NULL;
    }
    c->bytes = n;
    link_block(a, c);
    populate(c + 1, n);
    return (char *)(c + 1);
}

/* Makes the linked block c the current chunk, retiring the old one (its
 * free tail counted as used), with its first `padded` bytes handed out. */
static char *start_chunk(lsm_arena *a, struct lsm_arena_chunk *c,
                         size_t padded)
{
    char *p = (char *)(c + 1);
    add_usage(a, a->left + padded);
    a->cur = p + padded;
    a->left = c->bytes - padded;
    a->chunk_bytes = c->bytes < MAX_CHUNK_BYTES ? c->bytes * 2 : MAX_CHUNK_BYTES;
    return p;
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

    /* A pooled chunk (MAX_CHUNK_BYTES, whatever chunk_bytes says) first. */
    struct lsm_arena_chunk *c =
        padded <= MAX_CHUNK_BYTES ? pool_take(a->pool, a->bytes) : NULL;
    if (c) {
        link_block(a, c);
        return start_chunk(a, c, padded);
    }

    /* Big requests get their own block and leave the current chunk alone. */
    if (padded > a->chunk_bytes / 4) {
        char *p = new_block(a, padded, padded);
        if (p)
            add_usage(a, padded);
        return p;
    }

    /* Retire the current chunk for a new one. */
    char *p = new_block(a, a->chunk_bytes, 0);
    if (!p)
        return NULL;
    return start_chunk(a, (struct lsm_arena_chunk *)p - 1, padded);
}

size_t lsm_arena_usage(const lsm_arena *a)
{
    return atomic_load_explicit(&a->usage, memory_order_relaxed);
}

void lsm_arena_free(lsm_arena *a)
{
    int trim = lsm_arena_usage(a) >= TRIM_BYTES;
    struct lsm_arena_chunk *rest = pool_put(a->pool, a->chunks);
    lsm_arena_pool_unref(a->pool);
    lsm_arena_init(a);
    give_back(rest, trim);
}
