/*
 * table_builder.c — writes SSTables (read by table.c).
 *
 * TABLE FILE FORMAT, VERSIONS 1 AND 2
 *
 * All integers are little-endian; varints are LEB128 (coding.h).
 *
 *     data block 0        | trailer
 *     ...
 *     data block D-1      | trailer
 *     filter block        | trailer
 *     range-del block     | trailer
 *     index block         | trailer
 *     properties block    | trailer
 *     footer              (80 bytes, at file_size - 80)
 *
 * Every block is followed by a 5-byte trailer:
 *
 *     offset  size  field
 *          0     1  type: 0 = stored raw, 1 = one zstd frame that records
 *                   its decompressed size
 *          1     4  checksum = lsm_checksum_typed(type, stored bytes)
 *
 * A block handle (offset, size) locates a block's stored bytes; size does
 * not include the trailer, which starts at offset + size.  A block is
 * stored compressed only when compression is on, it has at least 64
 * bytes and zstd saves at least 1/8 of its size (after blocks that did
 * not compress, the next ones up to 1 MiB are stored raw untried: see
 * should_try_zstd); the filter and
 * properties blocks are always raw.  Readers reject compressed blocks
 * that claim more than MAX_RAW_BLOCK (160 MiB) uncompressed.
 *
 * Data blocks (block.h format) hold the point entries: key = internal key
 * (ikey.h), value = the value, in strictly increasing lsm_ikey_cmp order
 * across the whole file.  A compaction writes sequence number 0 for a
 * put no reader can tell apart from older (ikey.h): those trailers, 7
 * zero bytes, compress to almost nothing where real sequence numbers
 * cost ~4-5 bytes an entry after zstd.  A block is cut once its
 * uncompressed size reaches block_bytes, so a block holds at least one
 * entry and exceeds block_bytes only by its last entry.
 *
 * Filter block: a bloom filter (bloom.h) over the distinct user keys of
 * all point entries.  Empty (0 bytes) when filters are disabled.
 *
 * Range-del block (block.h format): one entry per range deletion,
 * key = internal key (begin, seq, LSM_KIND_RANGE_DEL), value = end (the
 * exclusive end user key), in lsm_ikey_cmp order.
 *
 * Index block (block.h format, restart interval 1): one entry per data
 * block, in file order.  key = an internal key >= every key of that
 * block and < every key of the next block: the block's last key, or a
 * shorter separator (user key s with last < s < next's user key, seq
 * LSM_MAX_SEQ, kind LSM_KIND_SEEK).  value = varint64 offset, varint64
 * size: the data block's handle.
 *
 * Properties block: varint64 fields, in order
 *     point entries, range deletions, data blocks,
 *     raw key bytes (internal keys of point entries), raw value bytes,
 *     point deletions (among the point entries), the highest sequence
 *     number of any entry or range deletion.
 * Readers ignore bytes after the fields they know; a field missing at
 * the end (a table written before it existed) is unknown.
 *
 * Footer:
 *
 *     offset  size  field
 *          0     8  filter block offset
 *          8     8  filter block size
 *         16     8  range-del block offset
 *         24     8  range-del block size
 *         32     8  index block offset
 *         40     8  index block size
 *         48     8  properties block offset
 *         56     8  properties block size
 *         64     4  format version: 2 (LSM_TABLE_VERSION_SEQ0) if a point
 *                   entry has sequence number 0, else 1 (LSM_TABLE_VERSION);
 *                   the layout is the same.  Readers before version 2
 *                   read a put at sequence 0 as deleted, so the 2 makes
 *                   them refuse the table (unknown format version: a
 *                   damaged table, never wrong data); they do not get
 *                   that far, as the manifest records such a table with
 *                   a tag they refuse the store for (version_edit.c, tag
 *                   12).  Tables written before version 2 hold no
 *                   sequence 0 and read as ever.
 *         68     4  lsm_checksum(bytes 0..67)
 *         72     8  magic LSM_TABLE_MAGIC ("LSMFTBL1" read as fixed64)
 *
 * Every handle (block plus trailer) lies before the footer.
 *
 * The builder buffers output in chunks of up to OUT_FLUSH_BYTES (large
 * blocks go to the file directly) and syncs the file in finish().
 */
#include "table.h"

#include <stdlib.h>
#include <zstd.h>

#include "block.h"
#include "blob.h"
#include "bloom.h"
#include "error.h"
#include "ikey.h"
#include "version.h"

/* Format constants; table.c has the same definitions. */
#define BLOCK_TRAILER 5
#define BLOCK_RAW 0
#define BLOCK_ZSTD 1
#define FOOTER_SIZE 80
/* Largest uncompressed block the reader accepts; a block is cut at
 * block_bytes (capped at MAX_BLOCK_BYTES) plus one entry of at most
 * LSM_MAX_KEY + 8 + LSM_MAX_VALUE bytes and its header. */
#define MAX_BLOCK_BYTES ((size_t)64 << 20)
#define MAX_RAW_BLOCK ((size_t)160 << 20)

#define OUT_FLUSH_BYTES ((size_t)256 << 10)
#define OUT_DIRECT_BYTES ((size_t)64 << 10)
#define KEEP_BUF_BYTES ((size_t)4 << 20)

typedef struct handle {
    uint64_t offset, size;
} handle;

struct lsm_table_builder {
    lsm_file *f;
    uint64_t *blobs;            /* blob files its BLOB entries name, */
    size_t nblobs, cap_blobs;   /* in order of first use (blob_gc.c) */
    lsm_table_options o;
    int status;                 /* first I/O or memory error; sticky */
    int finished;
    uint64_t offset;            /* bytes written or buffered in out */
    lsm_buf out;                /* output not yet appended to f */
    uint64_t appended;          /* bytes appended to f (offset less out) */
    uint64_t writeback_off;     /* start_writeback asked up to here */

    lsm_block_builder data;
    lsm_block_builder index;
    lsm_buf last_key;           /* last internal key added */
    int pending_index;          /* the last cut block awaits its index entry */
    handle pending;
    lsm_buf index_key;          /* scratch: separator keys, handles */

    lsm_bloom_builder bloom;

    /* Range deletions as records: lenprefixed begin, lenprefixed end,
     * fixed64 seq; sorted at finish. */
    lsm_buf rdels;
    uint64_t nrdels;

    ZSTD_CCtx *cctx;            /* created on first compression */
    lsm_buf zbuf;
    uint64_t skip_left;         /* raw bytes to store without trying zstd */
    uint64_t skip_span;         /* the last skip granted; doubles per miss */

    uint64_t entries, data_blocks, raw_key_bytes, raw_value_bytes;
    uint64_t deletions;         /* point entries that are deletions */
    uint64_t max_seq;           /* of every entry and range deletion */
    int seq0;                   /* a point entry has sequence number 0 */
};

lsm_table_builder *lsm_table_builder_new(lsm_file *f, const lsm_table_options *o)
{
    lsm_table_builder *b = calloc(1, sizeof *b);
    if (!b) {
        lsm_fail(LSM_NO_MEMORY, "table builder: out of memory");
        return NULL;
    }
    b->f = f;
    b->o = *o;
    if (b->o.block_bytes == 0)
        b->o.block_bytes = 4096;
    if (b->o.block_bytes > MAX_BLOCK_BYTES)
        b->o.block_bytes = MAX_BLOCK_BYTES;
    if (b->o.restart_interval <= 0)
        b->o.restart_interval = 16;
    if (b->o.bloom_bits_per_key < 0)
        b->o.bloom_bits_per_key = 0;
    lsm_block_builder_init(&b->data, b->o.restart_interval);
    lsm_block_builder_init(&b->index, 1);
    lsm_bloom_builder_init(&b->bloom, b->o.bloom_bits_per_key);
    return b;
}

void lsm_table_builder_free(lsm_table_builder *b)
{
    if (!b)
        return;
    lsm_buf_free(&b->out);
    lsm_block_builder_free(&b->data);
    lsm_block_builder_free(&b->index);
    lsm_buf_free(&b->last_key);
    lsm_buf_free(&b->index_key);
    lsm_bloom_builder_free(&b->bloom);
    lsm_buf_free(&b->rdels);
    lsm_buf_free(&b->zbuf);
    free(b->blobs);
    ZSTD_freeCCtx(b->cctx);
    free(b);
}

uint64_t lsm_table_builder_entries(const lsm_table_builder *b)
{
    return b->entries + b->nrdels;
}

/* Bytes written so far plus the unfinished data block (uncompressed). */
uint64_t lsm_table_builder_file_size(const lsm_table_builder *b)
{
    uint64_t n = b->offset;
    if (!lsm_block_builder_empty(&b->data))
        n += lsm_block_builder_estimate(&b->data) + BLOCK_TRAILER;
    return n;
}

/* ---- output -------------------------------------------------------------- */

static int fail_nomem(lsm_table_builder *b)
{
    return b->status = lsm_fail(LSM_NO_MEMORY, "table builder: out of memory");
}

/* Every TABLE_WRITEBACK_BYTES appended, the disk is asked to start
 * writing them (the env's start_writeback, RocksDB's bytes_per_sync): the
 * final fsync finds little left, and a WAL fdatasync meanwhile waits
 * behind at most that much of the table instead of all of it at once. */
#define TABLE_WRITEBACK_BYTES ((uint64_t)1 << 20)

/* Appends p[0, n) to the file (a failure is the builder's status). */
static int append_file(lsm_table_builder *b, const void *p, size_t n)
{
    int rc = lsm_file_append(b->f, p, n);
    if (rc)
        return b->status = rc;
    b->appended += n;
    if (b->appended - b->writeback_off >= TABLE_WRITEBACK_BYTES &&
        b->f->ops->start_writeback) {
        b->f->ops->start_writeback(b->f, b->writeback_off,
                                   b->appended - b->writeback_off);
        b->writeback_off = b->appended;
    }
    return LSM_OK;
}

static int flush_out(lsm_table_builder *b)
{
    if (b->out.len == 0)
        return LSM_OK;
    int rc = append_file(b, b->out.data, b->out.len);
    if (rc)
        return rc;
    lsm_buf_clear(&b->out);
    return LSM_OK;
}

static int emit(lsm_table_builder *b, const void *p, size_t n)
{
    int rc;
    if (n >= OUT_DIRECT_BYTES) {
        if ((rc = flush_out(b)))
            return rc;
        if ((rc = append_file(b, p, n)))
            return rc;
    } else {
        if (lsm_buf_append(&b->out, p, n))
            return fail_nomem(b);
        if (b->out.len >= OUT_FLUSH_BYTES && (rc = flush_out(b)))
            return rc;
    }
    b->offset += n;
    return LSM_OK;
}

/* Writes a block's bytes and trailer; *h = its handle. */
static int write_stored(lsm_table_builder *b, lsm_slice stored, uint8_t type,
                        handle *h)
{
    char trailer[BLOCK_TRAILER];
    trailer[0] = (char)type;
    lsm_encode_fixed32(trailer + 1,
                       lsm_checksum_typed(type, stored.data, stored.len));
    h->offset = b->offset;
    h->size = stored.len;
    int rc = emit(b, stored.data, stored.len);
    return rc ? rc : emit(b, trailer, sizeof trailer);
}

/* Backing off from data that does not compress: each block zstd fails
 * to shrink by 1/8 makes the builder store the next span of raw bytes
 * without trying (a block larger than what is left is still tried); the
 * span doubles per miss from SKIP_MIN to SKIP_MAX and a block that
 * compresses ends the back-off.  Cost model: on incompressible data
 * (media, archives, encrypted files) zstd level 1 spends ~1 ms per MiB
 * to find nothing, a third of the daemon's CPU when such files are
 * written; backed off, it tries one block per MiB.  Compressible data
 * that follows is stored raw for at most SKIP_MAX bytes. */
#define SKIP_MIN (32u << 10)
#define SKIP_MAX (1u << 20)

static int should_try_zstd(lsm_table_builder *b, size_t len)
{
    if (len <= b->skip_left) {
        b->skip_left -= len;
        return 0;
    }
    return 1;
}

static void note_zstd_result(lsm_table_builder *b, int shrank)
{
    if (shrank) {
        b->skip_span = 0;
        b->skip_left = 0;
        return;
    }
    b->skip_span = b->skip_span ? b->skip_span * 2 : SKIP_MIN;
    if (b->skip_span > SKIP_MAX)
        b->skip_span = SKIP_MAX;
    b->skip_left = b->skip_span;
}

/* What write_block may do with a block: data blocks are subject to the
 * back-off, the index and range-deletion blocks are always tried. */
enum { STORE_RAW, COMPRESS_DATA, COMPRESS_META };

/* Writes a block, zstd-compressed if enabled and worth it. */
static int write_block(lsm_table_builder *b, lsm_slice raw, int how,
                       handle *h)
{
    if (how != STORE_RAW && b->o.compression == LSM_COMPRESS_ZSTD &&
        raw.len >= 64 && raw.len <= MAX_RAW_BLOCK &&
        (how == COMPRESS_META || should_try_zstd(b, raw.len))) {
        if (!b->cctx && !(b->cctx = ZSTD_createCCtx()))
            return fail_nomem(b);
        size_t bound = ZSTD_compressBound(raw.len);
        lsm_buf_clear(&b->zbuf);
        if (lsm_buf_reserve(&b->zbuf, bound))
            return fail_nomem(b);
        size_t n = ZSTD_compressCCtx(b->cctx, b->zbuf.data, bound, raw.data,
                                     raw.len, b->o.zstd_level);
        int shrank = !ZSTD_isError(n) && n <= raw.len - raw.len / 8;
        if (how == COMPRESS_DATA)
            note_zstd_result(b, shrank);
        if (shrank) {
            int rc = write_stored(b, lsm_slice_make(b->zbuf.data, n),
                                  BLOCK_ZSTD, h);
            if (b->zbuf.cap > KEEP_BUF_BYTES)
                lsm_buf_free(&b->zbuf);  /* do not hoard a huge buffer */
            return rc;
        }
    }
    return write_stored(b, raw, BLOCK_RAW, h);
}

/* ---- data and index blocks ----------------------------------------------- */

static int put_handle(lsm_buf *dst, handle h)
{
    int rc = lsm_buf_put_varint64(dst, h.offset);
    return rc ? rc : lsm_buf_put_varint64(dst, h.size);
}

/* The index key for a block whose last key is `last`, followed by a block
 * starting at `next` (next.data == NULL: the last block). */
static int make_index_key(lsm_buf *dst, lsm_slice last, lsm_slice next)
{
    lsm_buf_clear(dst);
    if (next.data) {
        lsm_slice a = lsm_ikey_user(last), z = lsm_ikey_user(next);
        size_t n = a.len < z.len ? a.len : z.len, i = 0;
        while (i < n && a.data[i] == z.data[i])
            i++;
        if (i < n) {
            unsigned char c = (unsigned char)a.data[i];
            /* s = a[0..i] + (c+1): a < s < z, and shorter than a. */
            if (c < 0xff && c + 1 < (unsigned char)z.data[i] && i + 1 < a.len) {
                char bump = (char)(c + 1);
                if (lsm_buf_append(dst, a.data, i) ||
                    lsm_buf_append(dst, &bump, 1) ||
                    lsm_buf_put_fixed64(dst, lsm_ikey_pack(LSM_MAX_SEQ,
                                                           LSM_KIND_SEEK)))
                    return LSM_NO_MEMORY;
                return LSM_OK;
            }
        }
    }
    return lsm_buf_append(dst, last.data, last.len);
}

static int add_index_entry(lsm_table_builder *b, lsm_slice next)
{
    if (make_index_key(&b->index_key, lsm_buf_slice(&b->last_key), next))
        return fail_nomem(b);
    size_t klen = b->index_key.len;
    if (put_handle(&b->index_key, b->pending))
        return fail_nomem(b);
    lsm_slice key = lsm_slice_make(b->index_key.data, klen);
    lsm_slice val = lsm_slice_make(b->index_key.data + klen,
                                   b->index_key.len - klen);
    int rc = lsm_block_builder_add(&b->index, key, val);
    if (rc)
        return b->status = rc;
    b->pending_index = 0;
    return LSM_OK;
}

static int flush_data_block(lsm_table_builder *b)
{
    if (lsm_block_builder_empty(&b->data))
        return LSM_OK;
    lsm_slice raw;
    int rc = lsm_block_builder_finish(&b->data, &raw);
    if (rc)
        return b->status = rc;
    if ((rc = write_block(b, raw, COMPRESS_DATA, &b->pending)))
        return rc;
    lsm_block_builder_reset(&b->data);
    b->pending_index = 1;
    b->data_blocks++;
    return LSM_OK;
}

/* Notes the blob file a reference names (consecutive ones mostly share
 * it; a malformed one names none). */
static int note_blob(lsm_table_builder *b, lsm_slice value)
{
    lsm_blob_ref r;
    if (!lsm_blob_ref_decode(value, &r) ||
        (b->nblobs && b->blobs[b->nblobs - 1] == r.file))
        return LSM_OK;
    if (b->nblobs == b->cap_blobs) {
        size_t cap = b->cap_blobs ? 2 * b->cap_blobs : 8;
        uint64_t *p = realloc(b->blobs, cap * sizeof *p);
        if (!p)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        b->blobs = p;
        b->cap_blobs = cap;
    }
    b->blobs[b->nblobs++] = r.file;
    return LSM_OK;
}

void lsm_table_builder_blob_files(lsm_table_builder *b, struct lsm_file_meta *meta)
{
    lsm_file_meta_set_blobs(meta, b->blobs, b->nblobs);
    b->blobs = NULL;
    b->nblobs = b->cap_blobs = 0;
}

int lsm_table_builder_add(lsm_table_builder *b, lsm_slice ikey, lsm_slice value)
{
    if (b->status)
        return b->status;
    if (b->finished)
        return lsm_fail(LSM_INVALID, "table builder: add after finish");
    lsm_ikey pk;
    if (!lsm_ikey_parse(ikey, &pk) || pk.kind == LSM_KIND_RANGE_DEL)
        return lsm_fail(LSM_INVALID, "table builder: malformed internal key");
    if (pk.user.len > LSM_MAX_KEY || value.len > LSM_MAX_VALUE)
        return lsm_fail(LSM_INVALID, "table builder: key of %zu or value of "
                        "%zu bytes too large", pk.user.len, value.len);
    if (b->entries > 0 && lsm_ikey_cmp(ikey, lsm_buf_slice(&b->last_key)) <= 0)
        return lsm_fail(LSM_INVALID, "table builder: keys out of order");

    int rc;
    if (b->pending_index && (rc = add_index_entry(b, ikey)))
        return rc;
    if (b->o.bloom_bits_per_key > 0 && (rc = lsm_bloom_add(&b->bloom, pk.user)))
        return b->status = rc;
    if ((rc = lsm_block_builder_add(&b->data, ikey, value)))
        return b->status = rc;
    if (pk.kind == LSM_KIND_BLOB && (rc = note_blob(b, value)))
        return b->status = rc;
    lsm_buf_clear(&b->last_key);
    if (lsm_buf_append(&b->last_key, ikey.data, ikey.len))
        return fail_nomem(b);
    b->entries++;
    b->deletions += pk.kind == LSM_KIND_DELETE;
    if (pk.seq > b->max_seq)
        b->max_seq = pk.seq;
    b->seq0 |= pk.seq == 0;
    b->raw_key_bytes += ikey.len;
    b->raw_value_bytes += value.len;
    if (lsm_block_builder_estimate(&b->data) >= b->o.block_bytes)
        return flush_data_block(b);
    return LSM_OK;
}

int lsm_table_builder_add_range_del(lsm_table_builder *b, lsm_slice begin,
                                    lsm_slice end, uint64_t seq)
{
    if (b->status)
        return b->status;
    if (b->finished)
        return lsm_fail(LSM_INVALID, "table builder: add after finish");
    if (begin.len > LSM_MAX_KEY || end.len > LSM_MAX_KEY || seq > LSM_MAX_SEQ)
        return lsm_fail(LSM_INVALID, "table builder: bad range deletion");
    if (lsm_buf_put_lenprefixed(&b->rdels, begin.data, begin.len) ||
        lsm_buf_put_lenprefixed(&b->rdels, end.data, end.len) ||
        lsm_buf_put_fixed64(&b->rdels, seq))
        return fail_nomem(b);
    b->nrdels++;
    if (seq > b->max_seq)
        b->max_seq = seq;
    return LSM_OK;
}

/* ---- finish ---------------------------------------------------------------- */

typedef struct rdel {
    lsm_slice begin, end;
    uint64_t seq;
} rdel;

static int rdel_cmp(const void *pa, const void *pb)
{
    const rdel *a = pa, *b = pb;
    int r = lsm_slice_cmp(a->begin, b->begin);
    if (r)
        return r;
    return (a->seq < b->seq) - (a->seq > b->seq);  /* newer first */
}

static int write_range_dels(lsm_table_builder *b, handle *h)
{
    rdel *v = NULL;
    if (b->nrdels) {
        v = malloc((size_t)b->nrdels * sizeof *v);
        if (!v)
            return fail_nomem(b);
    }
    lsm_slice in = lsm_buf_slice(&b->rdels);
    for (uint64_t i = 0; i < b->nrdels; i++) {
        /* Our own records: they always parse. */
        lsm_get_lenprefixed(&in, &v[i].begin);
        lsm_get_lenprefixed(&in, &v[i].end);
        lsm_get_fixed64(&in, &v[i].seq);
    }
    if (b->nrdels > 1)
        qsort(v, (size_t)b->nrdels, sizeof *v, rdel_cmp);

    lsm_block_builder blk;
    lsm_block_builder_init(&blk, b->o.restart_interval);
    int rc = LSM_OK;
    for (uint64_t i = 0; i < b->nrdels && !rc; i++) {
        lsm_buf_clear(&b->index_key);
        if (lsm_ikey_append(&b->index_key, v[i].begin, v[i].seq,
                            LSM_KIND_RANGE_DEL))
            rc = fail_nomem(b);
        else if ((rc = lsm_block_builder_add(&blk, lsm_buf_slice(&b->index_key),
                                             v[i].end)))
            b->status = rc;
    }
    lsm_slice raw;
    if (!rc && (rc = lsm_block_builder_finish(&blk, &raw)))
        b->status = rc;
    if (!rc)
        rc = write_block(b, raw, COMPRESS_META, h);
    lsm_block_builder_free(&blk);
    free(v);
    return rc;
}

static int write_filter(lsm_table_builder *b, handle *h)
{
    lsm_buf f = { 0 };
    int rc = LSM_OK;
    if (b->o.bloom_bits_per_key > 0 && (rc = lsm_bloom_finish(&b->bloom, &f)))
        b->status = rc;
    if (!rc)
        rc = write_stored(b, lsm_buf_slice(&f), BLOCK_RAW, h);
    lsm_buf_free(&f);
    return rc;
}

static int write_properties(lsm_table_builder *b, handle *h)
{
    lsm_buf p = { 0 };
    int rc = LSM_OK;
    if (lsm_buf_put_varint64(&p, b->entries) ||
        lsm_buf_put_varint64(&p, b->nrdels) ||
        lsm_buf_put_varint64(&p, b->data_blocks) ||
        lsm_buf_put_varint64(&p, b->raw_key_bytes) ||
        lsm_buf_put_varint64(&p, b->raw_value_bytes) ||
        lsm_buf_put_varint64(&p, b->deletions) ||
        lsm_buf_put_varint64(&p, b->max_seq))
        rc = fail_nomem(b);
    if (!rc)
        rc = write_stored(b, lsm_buf_slice(&p), BLOCK_RAW, h);
    lsm_buf_free(&p);
    return rc;
}

static int write_footer(lsm_table_builder *b, const handle h[4])
{
    char f[FOOTER_SIZE];
    for (int i = 0; i < 4; i++) {
        lsm_encode_fixed64(f + 16 * i, h[i].offset);
        lsm_encode_fixed64(f + 16 * i + 8, h[i].size);
    }
    lsm_encode_fixed32(f + 64, b->seq0 ? LSM_TABLE_VERSION_SEQ0 : LSM_TABLE_VERSION);
    lsm_encode_fixed32(f + 68, lsm_checksum(f, 68));
    lsm_encode_fixed64(f + 72, LSM_TABLE_MAGIC);
    return emit(b, f, sizeof f);
}

int lsm_table_builder_finish(lsm_table_builder *b, uint64_t *size)
{
    if (b->status)
        return b->status;
    if (b->finished)
        return lsm_fail(LSM_INVALID, "table builder: finished twice");
    b->finished = 1;

    handle h[4];  /* filter, range-del, index, properties: footer order */
    int rc;
    if ((rc = flush_data_block(b)) ||
        (rc = write_filter(b, &h[0])) ||
        (rc = write_range_dels(b, &h[1])))
        return rc;
    if (b->pending_index &&
        (rc = add_index_entry(b, lsm_slice_make(NULL, 0))))
        return rc;
    lsm_slice raw;
    if ((rc = lsm_block_builder_finish(&b->index, &raw)))
        return b->status = rc;
    if ((rc = write_block(b, raw, COMPRESS_META, &h[2])) ||
        (rc = write_properties(b, &h[3])) ||
        (rc = write_footer(b, h)) ||
        (rc = flush_out(b)))
        return rc;
    if ((rc = lsm_file_sync(b->f)))
        return b->status = rc;
    *size = b->offset;
    return LSM_OK;
}
