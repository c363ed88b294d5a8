/*
 * bloom.c — bloom filters over user keys (layout in bloom.h).
 *
 * Two layouts, told apart by the last byte:
 *
 *   blocked (written since December 2026): last byte 0x80 | k
 *     bits[64 * b]  b >= 1 blocks of 512 bits, b = ceil(n * bits_per_key
 *                   / 512); bit j of a block at byte j/8, mask 1 << (j % 8)
 *     A key with 64-bit XXH3 hash h lives in block reduce(low 32 bits of
 *     h, b); its k probes are the top 9 bits of p, p * G, p * G^2, ...
 *     with p = high 32 bits of h and G = 0x9E3779B9 (32-bit wrapping:
 *     G is odd, so the sequence does not collapse), all in that block.
 *     One lookup touches one 64-byte cache line (the filter is kept
 *     64-byte aligned in memory, table.c), where the classic layout
 *     touches up to k lines scattered over the filter: with the filters
 *     of a large store far bigger than the CPU caches, each of those is a
 *     cache (and TLB) miss.  The price is a false-positive rate a little
 *     higher at the same size (about 1% instead of 0.8% at 10 bits/key).
 *
 *   classic (written before; still read): last byte k
 *     bits[m/8]     m = max(64, n * bits_per_key) rounded up to whole
 *                   bytes, bit i at byte i/8, mask 1 << (i % 8)
 *     Probe i of a key sets bit reduce(h1 + i * h2, m) with h1 = low 32
 *     bits of h, h2 = high 32 bits, 32-bit wrapping arithmetic.
 *
 * reduce(x, m) = (x * m) >> 32 maps a uniform 32-bit value onto [0, m)
 * without a division; m is therefore capped at 2^32 bits (512 MiB of
 * filter, ~400 M keys at 10 bits/key).  A filter whose last byte is
 * neither (or whose size does not fit its layout) answers "may contain".
 *
 * k = round(bits_per_key * ln 2) minimises the false-positive rate
 * (1 - e^(-k/bits_per_key))^k of the classic layout: k = 7 at 10 bits per
 * key.
 */
#include "bloom.h"

#include <stdint.h>
#include <stdlib.h>
#include <xxhash.h>

#include "error.h"

#define BLOOM_MIN_BITS 64                 /* classic layout */
#define BLOOM_MAX_BITS (UINT64_C(1) << 32)
#define BLOOM_MAX_K 30
#define BLOOM_BLOCKED 0x80                /* last byte: blocked layout */
#define BLOOM_BLOCK_BITS 512
#define BLOOM_PROBE_MUL UINT32_C(0x9E3779B9)

static int probes_for(int bits_per_key)
{
    /* round(bits_per_key * ln 2) in integer arithmetic: ln 2 ~ 0.693147 */
    long k = ((long)bits_per_key * 693147L + 500000L) / 1000000L;
    if (k < 1)
        k = 1;
    if (k > BLOOM_MAX_K)
        k = BLOOM_MAX_K;
    return (int)k;
}

static inline uint32_t reduce(uint32_t x, uint64_t m)
{
    return (uint32_t)(((uint64_t)x * m) >> 32);
}

void lsm_bloom_builder_init(lsm_bloom_builder *b, int bits_per_key)
{
    memset(b, 0, sizeof *b);
    b->bits_per_key = bits_per_key > 0 ? bits_per_key : 1;
}

static uint64_t *hash_at(const lsm_bloom_builder *b, size_t i)
{
    return &b->chunks[i / LSM_BLOOM_CHUNK_HASHES][i % LSM_BLOOM_CHUNK_HASHES];
}

/* Makes room for hash number b->n: a new chunk when the last is full. */
static int reserve_hash(lsm_bloom_builder *b)
{
    if (b->n < b->nchunks * LSM_BLOOM_CHUNK_HASHES)
        return LSM_OK;
    if (b->nchunks == b->cap_chunks) {
        size_t cap = b->cap_chunks ? b->cap_chunks * 2 : 8;
        uint64_t **p = realloc(b->chunks, cap * sizeof *p);
        if (!p)
            return LSM_NO_MEMORY;
        b->chunks = p;
        b->cap_chunks = cap;
    }
    uint64_t *c = malloc(LSM_BLOOM_CHUNK_HASHES * sizeof *c);
    if (!c)
        return LSM_NO_MEMORY;
    b->chunks[b->nchunks++] = c;
    return LSM_OK;
}

int lsm_bloom_add(lsm_bloom_builder *b, lsm_slice key)
{
    uint64_t h = XXH3_64bits(key.data, key.len);
    if (b->n > 0 && *hash_at(b, b->n - 1) == h)
        return LSM_OK;  /* the same key again (consecutive versions) */
    if (reserve_hash(b))
        return lsm_fail(LSM_NO_MEMORY, "bloom filter: out of memory");
    *hash_at(b, b->n++) = h;
    return LSM_OK;
}

/* The 512-bit block holding the key of hash h: bits [0, 512) of the
 * returned pointer. */
static inline unsigned char *block_of(unsigned char *arr, uint64_t nblocks,
                                      uint64_t h)
{
    return arr + (size_t)reduce((uint32_t)h, nblocks) * (BLOOM_BLOCK_BITS / 8);
}

int lsm_bloom_finish(lsm_bloom_builder *b, lsm_buf *out)
{
    uint64_t bits = (uint64_t)b->n * (uint64_t)b->bits_per_key;
    uint64_t nblocks = (bits + BLOOM_BLOCK_BITS - 1) / BLOOM_BLOCK_BITS;
    if (nblocks < 1)
        nblocks = 1;
    if (nblocks > BLOOM_MAX_BITS / BLOOM_BLOCK_BITS)
        nblocks = BLOOM_MAX_BITS / BLOOM_BLOCK_BITS;
    size_t bytes = (size_t)nblocks * (BLOOM_BLOCK_BITS / 8);
    int k = probes_for(b->bits_per_key);

    int rc = lsm_buf_reserve(out, bytes + 1);
    if (rc)
        return lsm_fail(rc, "bloom filter: out of memory");
    unsigned char *arr = (unsigned char *)out->data + out->len;
    memset(arr, 0, bytes);
    for (size_t j = 0; j < b->n; j++) {
        uint64_t h = *hash_at(b, j);
        unsigned char *blk = block_of(arr, nblocks, h);
        uint32_t p = (uint32_t)(h >> 32);
        for (int i = 0; i < k; i++) {
            uint32_t bit = p >> 23;
            blk[bit >> 3] |= (unsigned char)(1u << (bit & 7));
            p *= BLOOM_PROBE_MUL;
        }
    }
    arr[bytes] = (unsigned char)(BLOOM_BLOCKED | k);
    out->len += bytes + 1;
    lsm_bloom_builder_free(b);
    return LSM_OK;
}

void lsm_bloom_builder_free(lsm_bloom_builder *b)
{
    for (size_t i = 0; i < b->nchunks; i++)
        free(b->chunks[i]);
    free(b->chunks);
    b->chunks = NULL;
    b->nchunks = b->cap_chunks = b->n = 0;
}

static int blocked_may_contain(const unsigned char *arr, size_t bytes,
                               int k, uint64_t h)
{
    if (bytes % (BLOOM_BLOCK_BITS / 8) != 0)
        return 1;
    const unsigned char *blk =
        block_of((unsigned char *)arr, bytes / (BLOOM_BLOCK_BITS / 8), h);
    uint32_t p = (uint32_t)(h >> 32);
    for (int i = 0; i < k; i++) {
        uint32_t bit = p >> 23;
        if (!(blk[bit >> 3] & (1u << (bit & 7))))
            return 0;
        p *= BLOOM_PROBE_MUL;
    }
    return 1;
}

static int classic_may_contain(const unsigned char *arr, size_t bytes, int k,
                               uint64_t h)
{
    if (bytes < BLOOM_MIN_BITS / 8)
        return 1;
    uint64_t bits = (uint64_t)bytes * 8;
    uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32);
    for (int i = 0; i < k; i++) {
        uint32_t bit = reduce(h1, bits);
        if (!(arr[bit >> 3] & (1u << (bit & 7))))
            return 0;
        h1 += h2;
    }
    return 1;
}

int lsm_bloom_may_contain(lsm_slice filter, lsm_slice key)
{
    if (filter.len < 2 || (uint64_t)(filter.len - 1) * 8 > BLOOM_MAX_BITS)
        return 1;
    const unsigned char *arr = (const unsigned char *)filter.data;
    size_t bytes = filter.len - 1;
    int last = arr[bytes];
    int k = last & ~BLOOM_BLOCKED;
    if (k < 1 || k > BLOOM_MAX_K)
        return 1;
    uint64_t h = XXH3_64bits(key.data, key.len);
    return (last & BLOOM_BLOCKED) ? blocked_may_contain(arr, bytes, k, h)
                                  : classic_may_contain(arr, bytes, k, h);
}

/* --- live filters (bloom.h) ------------------------------------------------ */

#define LIVE_K 6
#define BLOCK_BYTES (BLOOM_BLOCK_BITS / 8)

uint64_t lsm_bloom_hash(lsm_slice key)
{
    return XXH3_64bits(key.data, key.len);
}

/* calloc, not aligned_alloc + memset: a large filter then comes from
 * fresh zero pages, committed as keys land in them, not all at init
 * (which a memtable switch does holding the DB mutex). */
int lsm_bloom_live_init(lsm_bloom_live *f, size_t bytes)
{
    f->nblocks = bytes / BLOCK_BYTES ? bytes / BLOCK_BYTES : 1;
    f->mem = calloc(1, (size_t)f->nblocks * BLOCK_BYTES + BLOCK_BYTES - 1);
    if (!f->mem)
        return LSM_NO_MEMORY;
    uintptr_t p = ((uintptr_t)f->mem + BLOCK_BYTES - 1) &
                  ~(uintptr_t)(BLOCK_BYTES - 1);
    f->bits = (unsigned char *)p;
    return LSM_OK;
}

/* Single writer: a relaxed load and store per probe, no locked
 * read-modify-write. */
void lsm_bloom_live_add(lsm_bloom_live *f, uint64_t hash)
{
    unsigned char *blk = block_of(f->bits, f->nblocks, hash);
    uint32_t p = (uint32_t)(hash >> 32);
    for (int i = 0; i < LIVE_K; i++) {
        uint32_t bit = p >> 23;
        unsigned char *b = &blk[bit >> 3];
        unsigned char v = __atomic_load_n(b, __ATOMIC_RELAXED);
        __atomic_store_n(b, (unsigned char)(v | (1u << (bit & 7))),
                         __ATOMIC_RELAXED);
        p *= BLOOM_PROBE_MUL;
    }
}

int lsm_bloom_live_may_contain(const lsm_bloom_live *f, uint64_t hash)
{
    const unsigned char *blk = block_of(f->bits, f->nblocks, hash);
    uint32_t p = (uint32_t)(hash >> 32);
    for (int i = 0; i < LIVE_K; i++) {
        uint32_t bit = p >> 23;
        if (!(__atomic_load_n(&blk[bit >> 3], __ATOMIC_RELAXED) &
              (1u << (bit & 7))))
            return 0;
        p *= BLOOM_PROBE_MUL;
    }
    return 1;
}

void lsm_bloom_live_free(lsm_bloom_live *f)
{
    free(f->mem);
    f->mem = NULL;
    f->bits = NULL;
}
