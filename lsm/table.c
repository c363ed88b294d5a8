/*
 * table.c — reads SSTables (file format at the top of table_builder.c).
 *
 * Open reads the footer and the four metadata blocks (properties, index,
 * filter, range-del), verifies their checksums and decodes all of the
 * index and range-del entries once, so later lookups can trust them.
 * They stay in memory until close, except the index and filter of a
 * table given to lsm_table_meta_to_cache: those then live in the block
 * cache at high priority (key: cache id and block offset, like data
 * blocks), are pinned by each lookup or iterator using them, and are
 * read again (checksum verified) when evicted.  Data blocks are read on demand,
 * through the block cache when there is one (key: the table's cache id
 * and the block offset, 8 bytes each; charge: the block's size).
 *
 * Every block read verifies the trailer checksum before looking at the
 * bytes; a compressed block must declare a decompressed size no larger
 * than MAX_RAW_BLOCK and decompress to exactly that size.  Failures name
 * the table, the block kind and its offset.
 *
 * Cost of lsm_table_get: one bloom probe sequence (one cache line in the
 * blocked layout; the filter is kept 64-byte aligned); on a pass, a binary
 * search of the in-memory index (with cached metadata, one cache lookup
 * each for the filter and the index first), a cache lookup (or one pread and, for
 * compressed blocks, one decompression) and a seek within the block.  It
 * allocates two iterators (one malloc each) and nothing per entry.
 * Decompression uses one ZSTD_DCtx per thread.
 *
 * A table is safe to use from many threads at once: only the statistics
 * counters are written after open.
 */
#include "table.h"
#include "range_del.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "block.h"
#include "bloom.h"
#include "error.h"
#include "ikey.h"

/* Format constants; see table_builder.c, which has the same definitions. */
#define BLOCK_TRAILER 5
#define BLOCK_RAW 0
#define BLOCK_ZSTD 1
#define FOOTER_SIZE 80
#define MAX_RAW_BLOCK ((size_t)160 << 20)

enum { H_FILTER, H_RANGE_DEL, H_INDEX, H_PROPERTIES, NUM_HANDLES };
static const char *const handle_kind[NUM_HANDLES] = {
    "filter", "range-del", "index", "properties",
};

typedef struct bhandle {
    uint64_t offset, size;
} bhandle;

struct lsm_table {
    lsm_file *f;
    uint64_t size;
    uint64_t data_end;          /* offset of the footer */
    char *name;
    lsm_cache *cache;
    uint64_t cache_id;
    bhandle meta[NUM_HANDLES];

    lsm_block *index;           /* NULL once in the block cache */
    char *filter;               /* NULL/0: no filter; NULL if in the cache */
    size_t filter_len;
    int meta_cached;            /* index and filter live in the block cache */
    lsm_block *rdel_block;
    lsm_range_dels *rdels;      /* index of the range-del block; NULL if empty */

    uint64_t entries, data_blocks;
    uint64_t deletions;         /* point deletions; UINT64_MAX: unknown */
    uint64_t max_seq;           /* UINT64_MAX: unknown */
    uint64_t nrdels;
};

/* ---- statistics -------------------------------------------------------- */

enum { ST_BLOOM_CHECKS, ST_BLOOM_NEGATIVES, ST_CACHE_HITS, ST_CACHE_MISSES,
       ST_CACHE_NOT_ADMITTED, ST_BLOCKS_READ, ST_COUNT };

/* Counters are striped over cache lines, one stripe per thread (round
 * robin), so concurrent readers do not fight over one line. */
#define STAT_STRIPES 16
struct stat_stripe {
    _Alignas(64) _Atomic uint64_t v[ST_COUNT];
};
static struct stat_stripe stats[STAT_STRIPES];
static _Atomic unsigned stat_next_stripe;
static _Thread_local int stat_stripe = -1;

static inline void stat_add(int which)
{
    if (stat_stripe < 0)
        stat_stripe = (int)(atomic_fetch_add_explicit(&stat_next_stripe, 1,
                                                      memory_order_relaxed) %
                            STAT_STRIPES);
    atomic_fetch_add_explicit(&stats[stat_stripe].v[which], 1,
                              memory_order_relaxed);
}

void lsm_table_stats_get(lsm_table_stats *out)
{
    uint64_t sum[ST_COUNT] = { 0 };
    for (int s = 0; s < STAT_STRIPES; s++)
        for (int i = 0; i < ST_COUNT; i++)
            sum[i] += atomic_load_explicit(&stats[s].v[i], memory_order_relaxed);
    out->bloom_checks = sum[ST_BLOOM_CHECKS];
    out->bloom_negatives = sum[ST_BLOOM_NEGATIVES];
    out->cache_hits = sum[ST_CACHE_HITS];
    out->cache_misses = sum[ST_CACHE_MISSES];
    out->cache_not_admitted = sum[ST_CACHE_NOT_ADMITTED];
    out->blocks_read = sum[ST_BLOCKS_READ];
}

/* ---- per-thread zstd decompression context ------------------------------ */

/* Per reading thread: a zstd context, the buffer compressed blocks are
 * read into on their way to the block cache (which keeps only the
 * decompressed bytes), and the one a point lookup decompresses a block
 * the cache does not take into; each kept while at most SCRATCH_KEEP
 * bytes.  A cache miss then allocates at most once, for what the cache
 * keeps. */
#define SCRATCH_KEEP ((size_t)256 << 10)

typedef struct read_scratch {
    ZSTD_DCtx *dctx;
    lsm_buf io;
    lsm_buf unz;
} read_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_destroy(void *p)
{
    read_scratch *rs = p;
    ZSTD_freeDCtx(rs->dctx);
    lsm_buf_free(&rs->io);
    lsm_buf_free(&rs->unz);
    free(rs);
}

/* Drops scratch buffers a large block made large. */
static void scratch_trim(read_scratch *rs)
{
    if (rs && rs->io.cap > SCRATCH_KEEP)
        lsm_buf_free(&rs->io);
    if (rs && rs->unz.cap > SCRATCH_KEEP)
        lsm_buf_free(&rs->unz);
}

static void scratch_key_init(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_destroy) == 0;
}

/* This thread's scratch, or NULL (then callers use temporary ones). */
static read_scratch *thread_scratch(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    if (!scratch_key_ok)
        return NULL;
    read_scratch *rs = pthread_getspecific(scratch_key);
    if (rs)
        return rs;
    rs = calloc(1, sizeof *rs);
    if (rs && !(rs->dctx = ZSTD_createDCtx())) {
        free(rs);
        return NULL;
    }
    if (rs && pthread_setspecific(scratch_key, rs)) {
        scratch_destroy(rs);
        return NULL;
    }
    return rs;
}

/* ---- reading blocks ------------------------------------------------------ */

/* Prefixes the current message with the table, block kind and offset. */
static int block_fail(const lsm_table *t, int rc, const char *kind,
                      uint64_t off)
{
    char why[400];
    lsm_error_copy(why, sizeof why);
    return lsm_fail(rc, "%s: %s block at offset %llu: %s", t->name, kind,
                    (unsigned long long)off, why);
}

/* Grows b to hold n bytes, allocating exactly n when it must grow (blocks
 * kept in the cache should not carry slack).  Sets b->len = n. */
static int buf_exact(lsm_buf *b, size_t n)
{
    if (n == 0)
        n = 1;
    if (b->cap < n) {
        char *p = realloc(b->data, n);
        if (!p)
            return LSM_NO_MEMORY;
        b->data = p;
        b->cap = n;
    }
    b->len = n;
    return LSM_OK;
}

static int read_exact(const lsm_table *t, uint64_t off, void *buf, size_t n,
                      const char *kind)
{
    size_t got = 0;
    int rc = lsm_file_pread(t->f, off, buf, n, &got);
    if (rc)
        return block_fail(t, rc, kind, off);
    if (got < n)
        return lsm_fail(LSM_CORRUPTION, "%s: %s block at offset %llu: file "
                        "truncated (read %zu of %zu bytes)", t->name, kind,
                        (unsigned long long)off, got, n);
    return LSM_OK;
}

/* Reads and verifies the block at h.  *out = its contents, which live in
 * io (raw blocks) or unz (decompressed blocks). */
static int read_block(const lsm_table *t, bhandle h, const char *kind,
                      lsm_buf *io, lsm_buf *unz, lsm_slice *out)
{
    size_t n = (size_t)h.size;
    if (buf_exact(io, n + BLOCK_TRAILER))
        return lsm_fail(LSM_NO_MEMORY, "%s: %s block at offset %llu: out of "
                        "memory", t->name, kind, (unsigned long long)h.offset);
    int rc = read_exact(t, h.offset, io->data, n + BLOCK_TRAILER, kind);
    if (rc)
        return rc;
    stat_add(ST_BLOCKS_READ);

    uint8_t type = (uint8_t)io->data[n];
    uint32_t want = lsm_decode_fixed32(io->data + n + 1);
    if (lsm_checksum_typed(type, io->data, n) != want)
        return lsm_fail(LSM_CORRUPTION, "%s: %s block at offset %llu: "
                        "checksum mismatch", t->name, kind,
                        (unsigned long long)h.offset);
    if (type == BLOCK_RAW) {
        *out = lsm_slice_make(io->data, n);
        return LSM_OK;
    }
    if (type != BLOCK_ZSTD)
        return lsm_fail(LSM_CORRUPTION, "%s: %s block at offset %llu: unknown "
                        "block type %u", t->name, kind,
                        (unsigned long long)h.offset, type);

    unsigned long long raw = ZSTD_getFrameContentSize(io->data, n);
    if (raw == ZSTD_CONTENTSIZE_UNKNOWN || raw == ZSTD_CONTENTSIZE_ERROR ||
        raw > MAX_RAW_BLOCK)
        return lsm_fail(LSM_CORRUPTION, "%s: %s block at offset %llu: bad "
                        "compressed block header", t->name, kind,
                        (unsigned long long)h.offset);
    if (buf_exact(unz, (size_t)raw))
        return lsm_fail(LSM_NO_MEMORY, "%s: %s block at offset %llu: out of "
                        "memory", t->name, kind, (unsigned long long)h.offset);
    read_scratch *rs = thread_scratch();
    ZSTD_DCtx *d = rs ? rs->dctx : NULL;
    size_t got = d ? ZSTD_decompressDCtx(d, unz->data, (size_t)raw, io->data, n)
                   : ZSTD_decompress(unz->data, (size_t)raw, io->data, n);
    if (ZSTD_isError(got) || got != raw)
        return lsm_fail(LSM_CORRUPTION, "%s: %s block at offset %llu: "
                        "decompression failed: %s", t->name, kind,
                        (unsigned long long)h.offset,
                        ZSTD_isError(got) ? ZSTD_getErrorName(got)
                                          : "wrong size");
    *out = lsm_slice_make(unz->data, (size_t)raw);
    return LSM_OK;
}

/* Filters are kept 64-byte aligned: a lookup in the blocked layout then
 * touches one cache line (bloom.h). */
#define FILTER_ALIGN 64

/* A copy of s in memory of its own (free()able), aligned to `align` when
 * that is more than malloc's and memory allows (otherwise malloc's: for
 * a filter, slower and as good); NULL without memory. */
static char *owned_copy(lsm_slice s, size_t align)
{
    char *p = NULL;
    if (align > 16 && s.len > 0)
        p = aligned_alloc(align, (s.len + align - 1) / align * align);
    if (!p)
        p = malloc(s.len ? s.len : 1);
    if (p)
        memcpy(p, s.data, s.len);
    return p;
}

/* Reads a block into memory of its own, aligned to `align` (1: any):
 * *data (free()able), *len.  A compressed block is read into the
 * thread's scratch buffer and decompressed into what is kept; a raw one
 * is copied out of it. */
static int read_block_owned(const lsm_table *t, bhandle h, const char *kind,
                            size_t align, char **data, size_t *len)
{
    read_scratch *rs = thread_scratch();
    lsm_buf tmp = { 0 }, unz = { 0 };
    lsm_buf *io = rs ? &rs->io : &tmp;
    lsm_slice c;
    int rc = read_block(t, h, kind, io, &unz, &c);
    if (rc == LSM_OK && c.data == unz.data &&
        (uintptr_t)unz.data % align == 0) {
        *data = unz.data;
        unz = (lsm_buf){ 0 };
    } else if (rc == LSM_OK && !(*data = owned_copy(c, align))) {
        rc = lsm_fail(LSM_NO_MEMORY, "%s: %s block at offset %llu: out of "
                      "memory", t->name, kind, (unsigned long long)h.offset);
    }
    if (rc == LSM_OK)
        *len = c.len;
    lsm_buf_free(&tmp);
    lsm_buf_free(&unz);
    scratch_trim(rs);
    return rc;
}

static int decode_handle(const lsm_table *t, lsm_slice v, bhandle *h)
{
    if (!lsm_get_varint64(&v, &h->offset) || !lsm_get_varint64(&v, &h->size) ||
        v.len != 0)
        return lsm_fail(LSM_CORRUPTION, "%s: index block: malformed block "
                        "handle", t->name);
    if (h->offset > t->data_end || h->size > t->data_end - h->offset ||
        BLOCK_TRAILER > t->data_end - h->offset - h->size)
        return lsm_fail(LSM_CORRUPTION, "%s: index block: data block handle "
                        "(%llu, %llu) lies outside the file", t->name,
                        (unsigned long long)h->offset,
                        (unsigned long long)h->size);
    return LSM_OK;
}

static void block_deleter(lsm_slice key, void *value)
{
    (void)key;
    lsm_block_free(value);
}

/* Finds the data block at h in the cache or reads it.  On success *blk is
 * the block and *ch its cache handle; with *ch == NULL the block is the
 * caller's to free, and its bytes live in io/unz (scratch the caller
 * reuses) unless it owns them. */
static int fetch_data_block(lsm_table *t, bhandle h, int fill_cache,
                            lsm_buf *io, lsm_buf *unz, lsm_block **blk,
                            lsm_cache_handle **ch)
{
    char key[16];
    int rc;
    *ch = NULL;
    if (t->cache) {
        /* in-memory only, so native byte order will do */
        memcpy(key, &t->cache_id, 8);
        memcpy(key + 8, &h.offset, 8);
        *ch = lsm_cache_lookup(t->cache, lsm_slice_make(key, sizeof key));
        if (*ch) {
            stat_add(ST_CACHE_HITS);
            *blk = lsm_cache_value(*ch);
            return LSM_OK;
        }
        stat_add(ST_CACHE_MISSES);
    }
    /* A block read for the first time in a while is used and dropped:
     * under reads spread wider than the cache, caching it would only
     * evict another block unread (doorkeeper.h). */
    if (t->cache && fill_cache &&
        lsm_cache_admit(t->cache, lsm_slice_make(key, sizeof key))) {
        char *data;
        size_t len;
        if ((rc = read_block_owned(t, h, "data", 1, &data, &len)))
            return rc;
        if ((rc = lsm_block_new(data, len, 1, blk)))
            return block_fail(t, rc, "data", h.offset);
        *ch = lsm_cache_insert(t->cache, lsm_slice_make(key, sizeof key), *blk,
                               len, block_deleter);
        if (!*ch)
            return block_fail(t, LSM_NO_MEMORY, "data", h.offset);
        return LSM_OK;
    }
    if (t->cache && fill_cache)
        stat_add(ST_CACHE_NOT_ADMITTED);
    lsm_slice c;
    if ((rc = read_block(t, h, "data", io, unz, &c)))
        return rc;
    if ((rc = lsm_block_new((char *)c.data, c.len, 0, blk)))
        return block_fail(t, rc, "data", h.offset);
    return LSM_OK;
}

/* ---- index and filter, in the table or the block cache --------------------- */

/* A block cache entry holding an index (blk) or a filter (data, len). */
typedef struct meta_block {
    lsm_block *blk;
    char *data;
    size_t len;
} meta_block;

static void meta_deleter(lsm_slice key, void *value)
{
    meta_block *m = value;
    (void)key;
    lsm_block_free(m->blk);
    free(m->data);
    free(m);
}

static void meta_key(const lsm_table *t, int which, char key[16])
{
    memcpy(key, &t->cache_id, 8);
    memcpy(key + 8, &t->meta[which].offset, 8);
}

/* Caches (high priority) the index or filter m; takes it over.  *h pins it. */
static int meta_insert(lsm_table *t, int which, meta_block *m,
                       lsm_cache_handle **h)
{
    char key[16];
    meta_key(t, which, key);
    *h = lsm_cache_insert_pri(t->cache, lsm_slice_make(key, sizeof key), m,
                              m->len, meta_deleter, 1);
    return *h ? LSM_OK : block_fail(t, LSM_NO_MEMORY, handle_kind[which],
                                    t->meta[which].offset);
}

/* The index (H_INDEX) or filter (H_FILTER) of a table whose metadata is
 * cached: from the cache, or read again.  *h pins it. */
static int meta_fetch(lsm_table *t, int which, meta_block **out,
                      lsm_cache_handle **h)
{
    char key[16];
    meta_key(t, which, key);
    *h = lsm_cache_lookup(t->cache, lsm_slice_make(key, sizeof key));
    if (!*h) {
        meta_block *m = calloc(1, sizeof *m);
        if (!m)
            return block_fail(t, LSM_NO_MEMORY, handle_kind[which],
                              t->meta[which].offset);
        int rc = read_block_owned(t, t->meta[which], handle_kind[which],
                                  which == H_FILTER ? FILTER_ALIGN : 1,
                                  &m->data, &m->len);
        if (!rc && which == H_INDEX) {
            rc = lsm_block_new(m->data, m->len, 1, &m->blk);
            m->data = NULL;   /* the block owns it (or freed it) */
            if (!rc && !(rc = lsm_block_add_hints(m->blk)))
                m->len = lsm_block_size(m->blk);   /* the entry's charge */
            if (rc)
                rc = block_fail(t, rc, "index", t->meta[which].offset);
        }
        if (rc) {
            meta_deleter(lsm_slice_make("", 0), m);
            return rc;
        }
        if ((rc = meta_insert(t, which, m, h)))
            return rc;
    }
    *out = lsm_cache_value(*h);
    return LSM_OK;
}

/* t's index; *h (NULL if the table holds it) pins it until
 * meta_release. */
static int index_get(lsm_table *t, lsm_block **ix, lsm_cache_handle **h)
{
    *h = NULL;
    if (!t->meta_cached) {
        *ix = t->index;
        return LSM_OK;
    }
    meta_block *m;
    int rc = meta_fetch(t, H_INDEX, &m, h);
    if (!rc)
        *ix = m->blk;
    return rc;
}

/* t's filter (filter_len must be > 0), as index_get. */
static int filter_get(lsm_table *t, lsm_slice *f, lsm_cache_handle **h)
{
    *h = NULL;
    if (!t->meta_cached) {
        *f = lsm_slice_make(t->filter, t->filter_len);
        return LSM_OK;
    }
    meta_block *m;
    int rc = meta_fetch(t, H_FILTER, &m, h);
    if (!rc)
        *f = lsm_slice_make(m->data, m->len);
    return rc;
}

static void meta_release(lsm_table *t, lsm_cache_handle *h)
{
    if (h)
        lsm_cache_release(t->cache, h);
}

/* Gives the block cache one of the table's own blocks.  If that fails
 * (no memory) it is freed, to be read again when needed. */
static void meta_give(lsm_table *t, int which, lsm_block *blk, char *data,
                      size_t len)
{
    meta_block *m = calloc(1, sizeof *m);
    if (!m) {
        lsm_block_free(blk);
        free(data);
        return;
    }
    m->blk = blk;
    m->data = data;
    m->len = len;
    lsm_cache_handle *h;
    if (meta_insert(t, which, m, &h) == LSM_OK)
        meta_release(t, h);
}

void lsm_table_meta_to_cache(lsm_table *t)
{
    if (!t->cache || t->meta_cached)
        return;
    t->meta_cached = 1;
    meta_give(t, H_INDEX, t->index, NULL, lsm_block_size(t->index));
    if (t->filter_len)
        meta_give(t, H_FILTER, NULL, t->filter, t->filter_len);
    else
        free(t->filter);
    t->index = NULL;
    t->filter = NULL;
}

static void release_data_block(lsm_table *t, lsm_block *blk,
                               lsm_cache_handle *ch)
{
    if (ch)
        lsm_cache_release(t->cache, ch);
    else
        lsm_block_free(blk);
}

/* ---- open ---------------------------------------------------------------- */

static int read_footer(lsm_table *t)
{
    char f[FOOTER_SIZE];
    if (t->size < FOOTER_SIZE)
        return lsm_fail(LSM_CORRUPTION, "%s: not an lsm table (%llu bytes is "
                        "too short)", t->name, (unsigned long long)t->size);
    t->data_end = t->size - FOOTER_SIZE;
    int rc = read_exact(t, t->data_end, f, sizeof f, "footer");
    if (rc)
        return rc;
    if (lsm_decode_fixed64(f + 72) != LSM_TABLE_MAGIC)
        return lsm_fail(LSM_CORRUPTION, "%s: not an lsm table (bad magic "
                        "number)", t->name);
    if (lsm_checksum(f, 68) != lsm_decode_fixed32(f + 68))
        return lsm_fail(LSM_CORRUPTION, "%s: footer: checksum mismatch",
                        t->name);
    /* After the checksum: a damaged version byte is damage, not a newer
     * format. */
    uint32_t version = lsm_decode_fixed32(f + 64);
    if (version != LSM_TABLE_VERSION && version != LSM_TABLE_VERSION_SEQ0)
        return lsm_fail(LSM_CORRUPTION, "%s: unknown table format version %u",
                        t->name, version);
    for (int i = 0; i < NUM_HANDLES; i++) {
        bhandle *h = &t->meta[i];
        h->offset = lsm_decode_fixed64(f + 16 * i);
        h->size = lsm_decode_fixed64(f + 16 * i + 8);
        if (h->offset > t->data_end || h->size > t->data_end - h->offset ||
            BLOCK_TRAILER > t->data_end - h->offset - h->size)
            return lsm_fail(LSM_CORRUPTION, "%s: footer: %s block handle "
                            "(%llu, %llu) lies outside the file", t->name,
                            handle_kind[i], (unsigned long long)h->offset,
                            (unsigned long long)h->size);
    }
    return LSM_OK;
}

static int read_properties(lsm_table *t, uint64_t *nrdels)
{
    char *data;
    size_t len;
    bhandle h = t->meta[H_PROPERTIES];
    int rc = read_block_owned(t, h, "properties", 1, &data, &len);
    if (rc)
        return rc;
    lsm_slice in = lsm_slice_make(data, len);
    uint64_t raw_keys, raw_values;
    int ok = lsm_get_varint64(&in, &t->entries) &&
             lsm_get_varint64(&in, nrdels) &&
             lsm_get_varint64(&in, &t->data_blocks) &&
             lsm_get_varint64(&in, &raw_keys) &&
             lsm_get_varint64(&in, &raw_values);
    if (!lsm_get_varint64(&in, &t->deletions))
        t->deletions = UINT64_MAX;   /* written before it was counted */
    if (!lsm_get_varint64(&in, &t->max_seq))
        t->max_seq = UINT64_MAX;
    t->nrdels = *nrdels;
    free(data);
    if (!ok)
        return lsm_fail(LSM_CORRUPTION, "%s: properties block at offset %llu: "
                        "truncated", t->name, (unsigned long long)h.offset);
    return LSM_OK;
}

static int read_meta_block(lsm_table *t, int which, lsm_block **out)
{
    char *data;
    size_t len;
    bhandle h = t->meta[which];
    int rc = read_block_owned(t, h, handle_kind[which], 1, &data, &len);
    if (!rc && (rc = lsm_block_new(data, len, 1, out)))
        return block_fail(t, rc, handle_kind[which], h.offset);
    if (!rc && which == H_INDEX && (rc = lsm_block_add_hints(*out))) {
        lsm_block_free(*out);
        *out = NULL;
        return block_fail(t, rc, handle_kind[which], h.offset);
    }
    return rc;
}

int lsm_table_for_each_block(lsm_table *t,
                             int (*fn)(void *ctx, lsm_slice ikey, uint64_t bytes),
                             void *ctx)
{
    lsm_block *ix;
    lsm_cache_handle *ih;
    int rc = index_get(t, &ix, &ih);
    if (rc)
        return rc;
    lsm_iiter *it = lsm_block_iter(ix, lsm_ikey_cmp);
    for (lsm_iiter_first(it); !rc && lsm_iiter_valid(it); lsm_iiter_next(it)) {
        bhandle h;
        if (!(rc = decode_handle(t, lsm_iiter_value(it), &h)))
            rc = fn(ctx, lsm_iiter_key(it), h.size + BLOCK_TRAILER);
    }
    if (!rc)
        rc = lsm_iiter_status(it);
    lsm_iiter_free(it);
    meta_release(t, ih);
    return rc;
}

/* Walks the whole index: keys well-formed and increasing, every handle
 * inside the file, one entry per data block. */
static int check_index(lsm_table *t)
{
    uint64_t off = t->meta[H_INDEX].offset, n = 0;
    lsm_buf prev = { 0 };
    int rc = LSM_OK;
    lsm_iiter *it = lsm_block_iter(t->index, lsm_ikey_cmp);
    for (lsm_iiter_first(it); !rc && lsm_iiter_valid(it); lsm_iiter_next(it)) {
        lsm_slice k = lsm_iiter_key(it);
        lsm_ikey ik;
        bhandle h;
        if (!lsm_ikey_parse(k, &ik) ||
            (n > 0 && lsm_ikey_cmp(lsm_buf_slice(&prev), k) >= 0))
            rc = lsm_fail(LSM_CORRUPTION, "%s: index block at offset %llu: "
                          "keys malformed or out of order", t->name,
                          (unsigned long long)off);
        else if (!(rc = decode_handle(t, lsm_iiter_value(it), &h))) {
            lsm_buf_clear(&prev);
            if (lsm_buf_append(&prev, k.data, k.len))
                rc = lsm_fail(LSM_NO_MEMORY, "%s: out of memory", t->name);
            n++;
        }
    }
    if (!rc && (rc = lsm_iiter_status(it)))
        rc = block_fail(t, rc, "index", off);
    if (!rc && n != t->data_blocks)
        rc = lsm_fail(LSM_CORRUPTION, "%s: index block at offset %llu: %llu "
                      "entries for %llu data blocks", t->name,
                      (unsigned long long)off, (unsigned long long)n,
                      (unsigned long long)t->data_blocks);
    lsm_iiter_free(it);
    lsm_buf_free(&prev);
    return rc;
}

/* Checks the range-del block (every key well formed, in order, as many
 * as the properties say) and indexes it into t->rdels. */
static int load_range_dels(lsm_table *t, uint64_t expected)
{
    uint64_t off = t->meta[H_RANGE_DEL].offset;
    lsm_buf prev = { 0 };
    size_t n = 0;
    int rc = LSM_OK;
    lsm_iiter *it = lsm_block_iter(t->rdel_block, lsm_ikey_cmp);
    for (lsm_iiter_first(it); !rc && lsm_iiter_valid(it); lsm_iiter_next(it)) {
        lsm_slice k = lsm_iiter_key(it);
        lsm_ikey ik;
        if (!lsm_ikey_parse(k, &ik) || ik.kind != LSM_KIND_RANGE_DEL ||
            (n > 0 && lsm_ikey_cmp(lsm_buf_slice(&prev), k) > 0)) {
            rc = lsm_fail(LSM_CORRUPTION, "%s: range-del block at offset "
                          "%llu: keys malformed or out of order", t->name,
                          (unsigned long long)off);
            break;
        }
        lsm_buf_clear(&prev);
        if (lsm_buf_append(&prev, k.data, k.len))
            rc = lsm_fail(LSM_NO_MEMORY, "%s: out of memory", t->name);
        n++;
    }
    if (!rc && (rc = lsm_iiter_status(it)))
        rc = block_fail(t, rc, "range-del", off);
    if (!rc && n != expected)
        rc = lsm_fail(LSM_CORRUPTION, "%s: range-del block at offset %llu: "
                      "%zu entries, properties say %llu", t->name,
                      (unsigned long long)off, n, (unsigned long long)expected);
    lsm_buf_free(&prev);
    if (rc || n == 0) {
        lsm_iiter_free(it);
        return rc;
    }
    t->rdels = lsm_range_dels_build(&it, 1, LSM_MAX_SEQ, &rc);
    return rc;
}

static void table_free(lsm_table *t)
{
    lsm_block_free(t->index);
    lsm_block_free(t->rdel_block);
    free(t->filter);
    lsm_range_dels_free(t->rdels);
    free(t->name);
    free(t);
}

int lsm_table_open(lsm_file *f, uint64_t size, const char *name,
                   lsm_cache *block_cache, lsm_table **out)
{
    *out = NULL;
    lsm_table *t = calloc(1, sizeof *t);
    char *nm = strdup(name ? name : "table");
    if (!t || !nm) {
        free(t);
        free(nm);
        lsm_file_close(f);
        return lsm_fail(LSM_NO_MEMORY, "%s: out of memory",
                        name ? name : "table");
    }
    t->f = f;
    t->size = size;
    t->name = nm;
    t->cache = block_cache;

    uint64_t nrdels = 0;
    int rc;
    if ((rc = read_footer(t)) ||
        (rc = read_properties(t, &nrdels)) ||
        (rc = read_meta_block(t, H_INDEX, &t->index)) ||
        (rc = check_index(t)) ||
        (rc = read_block_owned(t, t->meta[H_FILTER], "filter", FILTER_ALIGN,
                               &t->filter, &t->filter_len)) ||
        (rc = read_meta_block(t, H_RANGE_DEL, &t->rdel_block)) ||
        (rc = load_range_dels(t, nrdels))) {
        char why[512];
        lsm_error_copy(why, sizeof why);
        lsm_file_close(f);
        table_free(t);
        return lsm_fail(rc, "%s", why);
    }
    t->entries += nrdels;
    if (block_cache)
        t->cache_id = lsm_cache_new_id(block_cache);
    *out = t;
    return LSM_OK;
}

void lsm_table_close(lsm_table *t)
{
    if (!t)
        return;
    /* Its cached index and filter are of no use to anyone after it. */
    if (t->meta_cached) {
        char key[16];
        meta_key(t, H_INDEX, key);
        lsm_cache_erase(t->cache, lsm_slice_make(key, sizeof key));
        meta_key(t, H_FILTER, key);
        lsm_cache_erase(t->cache, lsm_slice_make(key, sizeof key));
    }
    lsm_file_close(t->f);
    table_free(t);
}

uint64_t lsm_table_entries(const lsm_table *t)
{
    return t->entries;
}

void lsm_table_props_get(const lsm_table *t, lsm_table_props *out)
{
    out->entries = t->entries;
    out->deletions = t->deletions;
    out->range_dels = t->nrdels;
    out->max_seq = t->max_seq;
}

/* ---- point lookups --------------------------------------------------------- */

int lsm_table_get(lsm_table *t, lsm_slice ikey, lsm_buf *found_key,
                  lsm_buf *val, int fill_cache)
{
    if (ikey.len < LSM_IKEY_TRAILER)
        return lsm_fail(LSM_INVALID, "%s: lookup key is not an internal key",
                        t->name);
    lsm_slice user = lsm_ikey_user(ikey);
    lsm_cache_handle *mh;
    int rc;
    if (t->filter_len) {
        lsm_slice filter;
        if ((rc = filter_get(t, &filter, &mh)))
            return rc;
        stat_add(ST_BLOOM_CHECKS);
        int may = lsm_bloom_may_contain(filter, user);
        meta_release(t, mh);
        if (!may) {
            stat_add(ST_BLOOM_NEGATIVES);
            return 0;
        }
    }

    bhandle h;
    lsm_block *index;
    if ((rc = index_get(t, &index, &mh)))
        return rc;
    lsm_slice hv;
    int in_range = lsm_block_find(index, lsm_ikey_cmp, ikey, NULL, &hv);
    rc = in_range == 1 ? decode_handle(t, hv, &h)
         : in_range < 0 ? block_fail(t, in_range, "index", t->meta[H_INDEX].offset)
                        : LSM_OK;
    meta_release(t, mh);
    if (rc)
        return rc;
    if (!in_range)
        return 0;  /* past the last key */

    /* A block the cache does not take is read into this thread's scratch
     * (nothing else uses it until the block is released below). */
    read_scratch *rs = thread_scratch();
    lsm_buf tmp_io = { 0 }, tmp_unz = { 0 };
    lsm_buf *io = rs ? &rs->io : &tmp_io, *unz = rs ? &rs->unz : &tmp_unz;
    lsm_block *blk;
    lsm_cache_handle *ch;
    if ((rc = fetch_data_block(t, h, fill_cache, io, unz, &blk, &ch))) {
        lsm_buf_free(&tmp_io);
        lsm_buf_free(&tmp_unz);
        scratch_trim(rs);
        return rc;
    }
    /* A seek that runs off this block means the key is absent: the
     * block's index key is >= ikey and is either the block's last key (so
     * the seek stops inside the block) or a separator s with
     * user(ikey) <= s < the next block's first user key.  found_key takes
     * the key found whatever it is (callers read it only on a hit). */
    lsm_slice v;
    int ret = lsm_block_find(blk, lsm_ikey_cmp, ikey, found_key, &v);
    if (ret < 0) {
        ret = block_fail(t, ret, "data", h.offset);
    } else if (ret == 1) {
        lsm_slice k = lsm_buf_slice(found_key);
        if (k.len < LSM_IKEY_TRAILER) {
            ret = lsm_fail(LSM_CORRUPTION, "%s: data block at offset %llu: "
                           "malformed internal key", t->name,
                           (unsigned long long)h.offset);
        } else if (lsm_slice_cmp(lsm_ikey_user(k), user) != 0) {
            ret = 0;
        } else {
            lsm_buf_clear(val);
            if (lsm_buf_append(val, v.data, v.len))
                ret = lsm_fail(LSM_NO_MEMORY, "%s: out of memory", t->name);
        }
    }
    release_data_block(t, blk, ch);
    lsm_buf_free(&tmp_io);
    lsm_buf_free(&tmp_unz);
    scratch_trim(rs);
    return ret;
}

int lsm_table_has_range_dels(const lsm_table *t)
{
    return t->rdels != NULL && !lsm_range_dels_empty(t->rdels);
}

uint64_t lsm_table_range_del_max_seq(lsm_table *t, lsm_slice user_key,
                                     uint64_t snap_seq)
{
    return t->rdels ? lsm_range_dels_max_seq(t->rdels, user_key, snap_seq) : 0;
}

lsm_iiter *lsm_table_range_del_iter(lsm_table *t)
{
    return lsm_block_iter(t->rdel_block, lsm_ikey_cmp);
}

/* ---- iterator ------------------------------------------------------------ */

typedef struct table_iter {
    lsm_iiter base;
    lsm_table *t;
    int fill_cache;
    int status;                 /* first error; the iterator is then invalid */
    lsm_iiter *index;           /* over the table's index */
    lsm_cache_handle *index_h;  /* pins it if cached */
    /* The data block the index iterator points at, when loaded: */
    lsm_iiter *data;
    lsm_block *blk;
    lsm_cache_handle *ch;       /* NULL: blk is ours, bytes in io/unz */
    uint64_t blk_offset;
    lsm_buf io, unz;            /* reused for blocks read past the cache */
    /* Salvage mode (lsm_table_salvage_iter): unreadable data blocks are
     * reported to `lost` and skipped.  prev_upper is the index key of the
     * last block the forward walk passed ("" before the first). */
    lsm_table_loss_fn lost;
    void *lost_ctx;
    lsm_buf prev_upper;
} table_iter;

/* Salvage mode: remembers the index key of the block just passed. */
static int set_prev_upper(table_iter *ti)
{
    lsm_slice k = lsm_iiter_valid(ti->index) ? lsm_iiter_key(ti->index)
                                             : lsm_slice_make("", 0);
    lsm_buf_clear(&ti->prev_upper);
    return lsm_buf_append(&ti->prev_upper, k.data, k.len);
}

static void drop_block(table_iter *ti)
{
    if (!ti->data)
        return;
    lsm_iiter_free(ti->data);
    release_data_block(ti->t, ti->blk, ti->ch);
    ti->data = NULL;
    ti->blk = NULL;
    ti->ch = NULL;
}

static void ti_fail(table_iter *ti, int rc)
{
    ti->status = rc;
    drop_block(ti);
}

/* Salvage mode: the block the index points at is unreadable (rc, message
 * in lsm_last_error).  Reports it, drops it and remembers its index key;
 * the caller moves on to the next block.  Returns 0 if the damage was
 * reported, else rc (not corruption, or not salvaging: the iterator
 * fails). */
static int lose_block(table_iter *ti, int rc, uint64_t offset)
{
    if (!ti->lost || rc != LSM_CORRUPTION)
        return rc;
    char why[512];
    lsm_error_copy(why, sizeof why);
    drop_block(ti);
    ti->lost(ti->lost_ctx, offset, lsm_buf_slice(&ti->prev_upper),
             lsm_iiter_key(ti->index), why);
    return set_prev_upper(ti) ? lsm_fail(LSM_NO_MEMORY, "out of memory") : LSM_OK;
}

/* Makes ti->data iterate over the block the index points at (unpositioned,
 * unless it was loaded already).  Returns 0 when the index is exhausted or
 * on error (then ti->status is set).  Salvage mode skips forward past
 * unreadable blocks. */
static int load_block(table_iter *ti)
{
    lsm_table *t = ti->t;
    int rc;
  again:
    if (!lsm_iiter_valid(ti->index)) {
        drop_block(ti);
        if ((rc = lsm_iiter_status(ti->index)))
            ti_fail(ti, block_fail(t, rc, "index", t->meta[H_INDEX].offset));
        return 0;
    }
    bhandle h;
    if ((rc = decode_handle(t, lsm_iiter_value(ti->index), &h))) {
        ti_fail(ti, rc);
        return 0;
    }
    if (ti->data && ti->blk_offset == h.offset)
        return 1;
    drop_block(ti);
    if ((rc = fetch_data_block(t, h, ti->fill_cache, &ti->io, &ti->unz,
                               &ti->blk, &ti->ch))) {
        if ((rc = lose_block(ti, rc, h.offset))) {
            ti_fail(ti, rc);
            return 0;
        }
        lsm_iiter_next(ti->index);
        goto again;
    }
    ti->data = lsm_block_iter(ti->blk, lsm_ikey_cmp);
    ti->blk_offset = h.offset;
    if ((rc = lsm_iiter_status(ti->data))) {
        rc = block_fail(t, rc, "data", h.offset);
        if ((rc = lose_block(ti, rc, h.offset))) {
            ti_fail(ti, rc);
            return 0;
        }
        lsm_iiter_next(ti->index);
        goto again;
    }
    return 1;
}

/* If the data iterator stopped on an error, records it; returns 1 then. */
static int data_failed(table_iter *ti)
{
    int rc = lsm_iiter_status(ti->data);
    if (!rc)
        return 0;
    ti_fail(ti, block_fail(ti->t, rc, "data", ti->blk_offset));
    return 1;
}

static void skip_forward(table_iter *ti)
{
    while (!ti->status && ti->data && !lsm_iiter_valid(ti->data)) {
        if (ti->lost) {
            /* A block that goes bad midway is reported whole; what it
             * returned before the failure was verified. */
            int rc = lsm_iiter_status(ti->data);
            if (rc)
                rc = lose_block(ti, block_fail(ti->t, rc, "data", ti->blk_offset),
                                ti->blk_offset);
            else if (set_prev_upper(ti))
                rc = lsm_fail(LSM_NO_MEMORY, "out of memory");
            if (rc) {
                ti_fail(ti, rc);
                return;
            }
        } else if (data_failed(ti)) {
            return;
        }
        lsm_iiter_next(ti->index);
        if (load_block(ti))
            lsm_iiter_first(ti->data);
    }
}

static void skip_backward(table_iter *ti)
{
    while (!ti->status && ti->data && !lsm_iiter_valid(ti->data)) {
        if (data_failed(ti))
            return;
        lsm_iiter_prev(ti->index);
        if (load_block(ti))
            lsm_iiter_last(ti->data);
    }
}

static int ti_valid(lsm_iiter *base)
{
    table_iter *ti = (table_iter *)base;
    return !ti->status && ti->data && lsm_iiter_valid(ti->data);
}

static void ti_first(lsm_iiter *base)
{
    table_iter *ti = (table_iter *)base;
    if (ti->status)
        return;
    lsm_buf_clear(&ti->prev_upper);
    lsm_iiter_first(ti->index);
    if (load_block(ti))
        lsm_iiter_first(ti->data);
    skip_forward(ti);
}

static void ti_last(lsm_iiter *base)
{
    table_iter *ti = (table_iter *)base;
    if (ti->status)
        return;
    lsm_iiter_last(ti->index);
    if (load_block(ti))
        lsm_iiter_last(ti->data);
    skip_backward(ti);
}

static void ti_seek(lsm_iiter *base, lsm_slice target)
{
    table_iter *ti = (table_iter *)base;
    if (ti->status)
        return;
    lsm_iiter_seek(ti->index, target);
    if (load_block(ti))
        lsm_iiter_seek(ti->data, target);
    skip_forward(ti);
}

static void ti_next(lsm_iiter *base)
{
    table_iter *ti = (table_iter *)base;
    if (!ti_valid(base))
        return;
    lsm_iiter_next(ti->data);
    skip_forward(ti);
}

static void ti_prev(lsm_iiter *base)
{
    table_iter *ti = (table_iter *)base;
    if (!ti_valid(base))
        return;
    lsm_iiter_prev(ti->data);
    skip_backward(ti);
}

static lsm_slice ti_key(lsm_iiter *base)
{
    table_iter *ti = (table_iter *)base;
    return ti_valid(base) ? lsm_iiter_key(ti->data) : lsm_slice_make("", 0);
}

static lsm_slice ti_value(lsm_iiter *base)
{
    table_iter *ti = (table_iter *)base;
    return ti_valid(base) ? lsm_iiter_value(ti->data) : lsm_slice_make("", 0);
}

static int ti_status(lsm_iiter *base)
{
    return ((table_iter *)base)->status;
}

static void ti_destroy(lsm_iiter *base)
{
    table_iter *ti = (table_iter *)base;
    drop_block(ti);
    lsm_iiter_free(ti->index);
    meta_release(ti->t, ti->index_h);
    lsm_buf_free(&ti->io);
    lsm_buf_free(&ti->unz);
    lsm_buf_free(&ti->prev_upper);
    free(ti);
}

static const struct lsm_iiter_ops table_iter_ops = {
    ti_valid, ti_first, ti_last, ti_seek, ti_next, ti_prev,
    ti_key, ti_value, ti_status, ti_destroy,
};

lsm_iiter *lsm_table_iter(lsm_table *t, int fill_cache)
{
    table_iter *ti = calloc(1, sizeof *ti);
    if (!ti) {
        lsm_fail(LSM_NO_MEMORY, "%s: out of memory", t->name);
        return lsm_iiter_error(LSM_NO_MEMORY);
    }
    ti->base.ops = &table_iter_ops;
    ti->t = t;
    ti->fill_cache = fill_cache;
    lsm_block *index;
    int rc = index_get(t, &index, &ti->index_h);
    if (rc) {
        free(ti);
        return lsm_iiter_error(rc);
    }
    ti->index = lsm_block_iter(index, lsm_ikey_cmp);
    ti->status = lsm_iiter_status(ti->index);
    return &ti->base;
}

lsm_iiter *lsm_table_salvage_iter(lsm_table *t, lsm_table_loss_fn lost,
                                  void *ctx)
{
    lsm_iiter *it = lsm_table_iter(t, 0);
    if (it->ops == &table_iter_ops) {
        table_iter *ti = (table_iter *)it;
        ti->lost = lost;
        ti->lost_ctx = ctx;
    }
    return it;
}

void lsm_table_describe(const lsm_table *t, lsm_table_desc *d)
{
    d->file_bytes = t->size;
    d->data_blocks = t->data_blocks;
    d->entries = t->entries;
    d->filter_bytes = t->filter_len;
    d->index_bytes = t->meta[H_INDEX].size;
    d->index_mem_bytes = t->index ? lsm_block_size(t->index) : 0;
}
