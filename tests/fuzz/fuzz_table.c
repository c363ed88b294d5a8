/*
 * fuzz_table.c — libFuzzer target: the SSTable reader (table.c) and the
 * block decoder under it (block.c), over arbitrary file contents.
 *
 * The input is a whole table file, served by an in-memory lsm_file.  It
 * is opened twice:
 *   1. as given, which exercises the footer and checksum checks;
 *   2. with its checksums made valid wherever the file's own pointers
 *      lead (footer; filter, range-del, index and properties blocks; every
 *      data block the index names), so mutated block contents, handles,
 *      index entries, bloom filters, range deletions and zstd frames reach
 *      the decoders behind the checksum test.
 * One of the two goes through a block cache, chosen by one bit of the
 * input's checksum, so both ways of fetching blocks are fuzzed.
 * After a successful open: a full forward and a full backward iteration,
 * seeks and lookups of keys seen (up to MAX_KEYS) and of a few fixed
 * probes, range-deletion queries, and a walk of the range-deletion
 * iterator.  Errors must surface as statuses; a table must never crash,
 * leak, or read outside its file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "block.h"
#include "cache.h"
#include "fuzz_mem.h"
#include "ikey.h"
#include "table.h"

#include "fuzz_check.h"

/* Format constants of table_builder.c. */
#define FOOTER_SIZE 80
#define BLOCK_TRAILER 5
#define BLOCK_RAW 0
#define BLOCK_ZSTD 1
#define H_INDEX 2
#define NUM_HANDLES 4

#define MAX_KEYS 16
#define MAX_FIXED_BLOCKS 4096
#define MAX_INDEX_RAW ((size_t)4 << 20)

static int ok_status(int rc)
{
    return rc == LSM_OK || rc == LSM_CORRUPTION || rc == LSM_NO_MEMORY;
}

/* ---- checksum repair --------------------------------------------------- */

/* Rewrites the trailer checksum of the block at (off, size) if it lies
 * inside [0, limit). Returns 1 if it did. */
static int fix_block(char *buf, uint64_t limit, uint64_t off, uint64_t size)
{
    if (off > limit || size > limit - off || BLOCK_TRAILER > limit - off - size)
        return 0;
    char *t = buf + off + size;
    lsm_encode_fixed32(t + 1, lsm_checksum_typed((uint8_t)t[0], buf + off,
                                                 (size_t)size));
    return 1;
}

/* Fixes the checksum of every data block the index block names. */
static void fix_data_blocks(char *buf, uint64_t limit, uint64_t off,
                            uint64_t size)
{
    char *contents = buf + off;
    size_t len = (size_t)size;
    char *raw = NULL;
    if ((uint8_t)buf[off + size] == BLOCK_ZSTD) {
        unsigned long long n = ZSTD_getFrameContentSize(contents, len);
        if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR ||
            n > MAX_INDEX_RAW || !(raw = malloc(n ? (size_t)n : 1)))
            return;
        size_t got = ZSTD_decompress(raw, (size_t)n, contents, len);
        if (ZSTD_isError(got) || got != n) {
            free(raw);
            return;
        }
        contents = raw;
        len = (size_t)n;
    }
    lsm_block *b;
    if (lsm_block_new(contents, len, 0, &b) == LSM_OK) {
        lsm_iiter *it = lsm_block_iter(b, lsm_ikey_cmp);
        int fixed = 0;
        for (lsm_iiter_first(it); lsm_iiter_valid(it) &&
             fixed < MAX_FIXED_BLOCKS; lsm_iiter_next(it)) {
            lsm_slice v = lsm_iiter_value(it);
            uint64_t boff, bsize;
            if (lsm_get_varint64(&v, &boff) && lsm_get_varint64(&v, &bsize))
                fixed += fix_block(buf, limit, boff, bsize);
        }
        lsm_iiter_free(it);
        lsm_block_free(b);
    }
    free(raw);
}

static void fix_table(char *buf, size_t n)
{
    if (n < FOOTER_SIZE)
        return;
    uint64_t limit = n - FOOTER_SIZE;
    char *f = buf + limit;
    lsm_encode_fixed32(f + 68, lsm_checksum(f, 68));
    for (int i = 0; i < NUM_HANDLES; i++)
        fix_block(buf, limit, lsm_decode_fixed64(f + 16 * i),
                  lsm_decode_fixed64(f + 16 * i + 8));
    uint64_t ioff = lsm_decode_fixed64(f + 16 * H_INDEX);
    uint64_t isize = lsm_decode_fixed64(f + 16 * H_INDEX + 8);
    if (ioff <= limit && isize <= limit - ioff &&
        BLOCK_TRAILER <= limit - ioff - isize)
        fix_data_blocks(buf, limit, ioff, isize);
    /* The data-block fixes may have rewritten bytes of the metadata
     * blocks when handles overlap; the table must cope either way. */
}

/* ---- exercising an open table ------------------------------------------- */

typedef struct keyset {
    lsm_buf k[MAX_KEYS];
    int n;
} keyset;

static void keep_key(keyset *ks, lsm_slice k)
{
    if (ks->n < MAX_KEYS && lsm_buf_append(&ks->k[ks->n], k.data, k.len) == 0)
        ks->n++;
}

static void exercise(lsm_table *t, int fill_cache)
{
    keyset ks;
    memset(&ks, 0, sizeof ks);

    lsm_iiter *it = lsm_table_iter(t, fill_cache);
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it)) {
        lsm_slice k = lsm_iiter_key(it);
        lsm_slice v = lsm_iiter_value(it);
        CHECK(k.len == 0 || k.data != NULL);
        CHECK(v.len == 0 || v.data != NULL);
        keep_key(&ks, k);
    }
    CHECK(ok_status(lsm_iiter_status(it)));
    lsm_iiter_free(it);

    it = lsm_table_iter(t, !fill_cache);
    for (lsm_iiter_last(it); lsm_iiter_valid(it); lsm_iiter_prev(it))
        (void)lsm_iiter_key(it);
    CHECK(ok_status(lsm_iiter_status(it)));
    lsm_iiter_free(it);

    static const char *const probes[] = { "", "a", "key", "\xff\xff" };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        lsm_buf pk = { 0 };
        if (lsm_ikey_append(&pk, lsm_slice_make(probes[i], strlen(probes[i])),
                            LSM_MAX_SEQ, LSM_KIND_SEEK) == LSM_OK)
            keep_key(&ks, lsm_buf_slice(&pk));
        lsm_buf_free(&pk);
    }

    lsm_buf found = { 0 }, val = { 0 };
    it = lsm_table_iter(t, fill_cache);
    for (int i = 0; i < ks.n; i++) {
        lsm_slice k = lsm_buf_slice(&ks.k[i]);
        lsm_iiter_seek(it, k);
        if (lsm_iiter_valid(it)) {
            lsm_iiter_next(it);
            if (lsm_iiter_valid(it))
                lsm_iiter_prev(it);
        }
        if (k.len < LSM_IKEY_TRAILER)
            continue;
        int rc = lsm_table_get(t, k, &found, &val, i & 1);
        CHECK(rc == 0 || rc == 1 || ok_status(rc));
        if (rc == 1)
            CHECK(found.len >= LSM_IKEY_TRAILER);
        (void)lsm_table_range_del_max_seq(t, lsm_ikey_user(k), LSM_MAX_SEQ);
        (void)lsm_table_range_del_max_seq(t, lsm_ikey_user(k), 1);
    }
    CHECK(ok_status(lsm_iiter_status(it)));
    lsm_iiter_free(it);
    lsm_buf_free(&found);
    lsm_buf_free(&val);

    it = lsm_table_range_del_iter(t);
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it))
        (void)lsm_iiter_value(it);
    for (lsm_iiter_last(it); lsm_iiter_valid(it); lsm_iiter_prev(it))
        (void)lsm_iiter_key(it);
    CHECK(ok_status(lsm_iiter_status(it)));
    lsm_iiter_free(it);
    (void)lsm_table_entries(t);

    for (int i = 0; i < ks.n; i++)
        lsm_buf_free(&ks.k[i]);
}

static void open_and_use(const char *data, size_t n, int use_cache)
{
    lsm_file *f = memfile_borrow(data, n);
    if (!f)
        return;
    lsm_cache *cache = use_cache ? lsm_cache_new(1 << 20) : NULL;
    lsm_table *t;
    int rc = lsm_table_open(f, n, "fuzz.sst", cache, &t);
    CHECK(ok_status(rc));
    if (rc == LSM_OK) {
        exercise(t, 1);
        lsm_table_close(t);
    }
    lsm_cache_free(cache);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int cache_bit = (int)(lsm_checksum(data, size) & 1);
    open_and_use((const char *)data, size, cache_bit);
    char *fixed = malloc(size ? size : 1);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    fix_table(fixed, size);
    if (memcmp(fixed, data, size) != 0)
        open_and_use(fixed, size, !cache_bit);
    free(fixed);
    return 0;
}
