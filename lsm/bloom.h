/*
 * bloom.h — the bloom filter stored in every table (one per table, over
 * its user keys).
 *
 * Layout (bloom.c has the details): a bit array followed by one byte,
 * 0x80 | k for the blocked layout written now -- 512-bit blocks, each
 * key's k probes all in one block, so a lookup touches one cache line --
 * or k alone for the classic layout of stores written before December
 * 2026, still read.  Probes come from a 64-bit XXH3 hash of the key.
 * With 10 bits per key and k = 7 the false-positive rate is about 1%.
 */
#ifndef LSM_BLOOM_H
#define LSM_BLOOM_H

#include "coding.h"

/* The builder keeps the 64-bit hash of every distinct key added (the
 * filter's size depends on their count, known at finish) in chunks of
 * LSM_BLOOM_CHUNK_HASHES: 8 bytes a key plus at most one partly used
 * chunk, where a doubling array held up to 16 and, while it grew, 24. */
#define LSM_BLOOM_CHUNK_HASHES ((size_t)32768)      /* 256 KiB */

typedef struct lsm_bloom_builder {
    uint64_t **chunks;
    size_t nchunks, cap_chunks;
    size_t n;                   /* hashes held */
    int bits_per_key;
} lsm_bloom_builder;

void lsm_bloom_builder_init(lsm_bloom_builder *b, int bits_per_key);
int lsm_bloom_add(lsm_bloom_builder *b, lsm_slice key);
/* Appends the filter to out and empties the builder (its chunks are
 * freed). */
int lsm_bloom_finish(lsm_bloom_builder *b, lsm_buf *out);
void lsm_bloom_builder_free(lsm_bloom_builder *b);

/* 1 if key may be in the set, 0 if surely not.  A malformed filter
 * (too short, k = 0 or > 30, a blocked array not a whole number of
 * blocks) answers 1: it must never hide a key.  The blocked layout costs
 * one cache miss per lookup when the filter is 64-byte aligned. */
int lsm_bloom_may_contain(lsm_slice filter, lsm_slice key);

/* A live filter: the blocked layout's bit array alone, filled as keys
 * are added and read meanwhile (the memtable's, memtable.c).  Keys are
 * given by lsm_bloom_hash.  One writer at a time adds; readers on any
 * thread look up at once, and see a key once they see what the writer
 * published after adding it (a release store they acquire): its bits
 * are set with relaxed atomic stores before that.  Its size is fixed at
 * init (a whole number of 64-byte blocks, at least one), so its false-
 * positive rate grows with the keys added: 1% at 10 bits a key, about
 * 0.1% at 18 (k = 6). */
typedef struct lsm_bloom_live {
    unsigned char *bits;        /* 64-byte aligned, inside mem */
    uint64_t nblocks;
    void *mem;
} lsm_bloom_live;

uint64_t lsm_bloom_hash(lsm_slice key);
/* bytes rounded down to whole blocks (at least one); LSM_NO_MEMORY. */
int lsm_bloom_live_init(lsm_bloom_live *f, size_t bytes);
void lsm_bloom_live_add(lsm_bloom_live *f, uint64_t hash);
int lsm_bloom_live_may_contain(const lsm_bloom_live *f, uint64_t hash);
void lsm_bloom_live_free(lsm_bloom_live *f);

#endif
