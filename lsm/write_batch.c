/*
 * write_batch.c — atomic batches of puts, deletes and range deletes (format
 * in write_batch.h).
 */
#include "write_batch.h"

#include <stdlib.h>

#include "error.h"
#include "ikey.h"

lsm_batch *lsm_batch_new(void)
{
    lsm_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (lsm_buf_reserve(&b->rep, 256)) {
        free(b);
        return NULL;
    }
    lsm_batch_clear(b);
    return b;
}

void lsm_batch_free(lsm_batch *b)
{
    if (!b)
        return;
    lsm_buf_free(&b->rep);
    free(b->refs);
    free(b);
}

void lsm_batch_clear(lsm_batch *b)
{
    b->rep.len = LSM_BATCH_HEADER;
    memset(b->rep.data, 0, LSM_BATCH_HEADER);
    b->nrefs = 0;
    b->ref_bytes = 0;
}

uint32_t lsm_batch_count(const lsm_batch *b)
{
    return lsm_decode_fixed32(b->rep.data + 8);
}

size_t lsm_batch_bytes(const lsm_batch *b)
{
    return b->rep.len + b->ref_bytes;
}

uint64_t lsm_batch_seq(const lsm_batch *b)
{
    return lsm_decode_fixed64(b->rep.data);
}

void lsm_batch_set_seq(lsm_batch *b, uint64_t seq)
{
    lsm_encode_fixed64(b->rep.data, seq);
}

static void set_count(lsm_batch *b, uint32_t n)
{
    lsm_encode_fixed32(b->rep.data + 8, n);
}

/* Appends one operation (a REF op: its key, the value kept in refs by
 * the caller); on failure the batch is unchanged. */
static int add_op(lsm_batch *b, int kind, const void *k, size_t klen,
                  const void *v, size_t vlen, int has_value)
{
    if (klen > LSM_MAX_KEY)
        return lsm_fail(LSM_INVALID, "key of %zu bytes exceeds the %u-byte limit",
                        klen, LSM_MAX_KEY);
    size_t vmax = kind == LSM_KIND_RANGE_DEL ? LSM_MAX_KEY : LSM_MAX_VALUE;
    if (has_value && vlen > vmax)
        return lsm_fail(LSM_INVALID, "%s of %zu bytes exceeds the %zu-byte limit",
                        kind == LSM_KIND_RANGE_DEL ? "range end key" : "value",
                        vlen, vmax);
    if (lsm_batch_count(b) == UINT32_MAX)
        return lsm_fail(LSM_INVALID, "batch holds too many operations");
    size_t old = b->rep.len;
    unsigned char kb = (unsigned char)kind;
    int rc = lsm_buf_append(&b->rep, &kb, 1);
    if (!rc)
        rc = lsm_buf_put_lenprefixed(&b->rep, k, klen);
    if (!rc && has_value && kind != LSM_BATCH_KIND_REF)
        rc = lsm_buf_put_lenprefixed(&b->rep, v, vlen);
    if (rc) {
        b->rep.len = old;
        return lsm_fail(LSM_NO_MEMORY, "out of memory growing a batch");
    }
    set_count(b, lsm_batch_count(b) + 1);
    return LSM_OK;
}

int lsm_batch_reserve(lsm_batch *b, size_t bytes)
{
    return lsm_buf_reserve(&b->rep, bytes) ? LSM_NO_MEMORY : LSM_OK;
}

int lsm_batch_put(lsm_batch *b, const void *key, size_t klen, const void *val,
                  size_t vlen)
{
    return add_op(b, LSM_KIND_PUT, key, klen, val, vlen, 1);
}

int lsm_batch_put_ref(lsm_batch *b, const void *key, size_t klen,
                      const void *val, size_t vlen)
{
    if (lsm_array_grow((void **)&b->refs, &b->cap_refs, b->nrefs,
                       sizeof *b->refs) != LSM_OK)
        return lsm_fail(LSM_NO_MEMORY, "out of memory growing a batch");
    int rc = add_op(b, LSM_BATCH_KIND_REF, key, klen, val, vlen, 1);
    if (rc == LSM_OK) {
        b->refs[b->nrefs++] = lsm_slice_make(val, vlen);
        b->ref_bytes += (size_t)lsm_varint_length(vlen) + vlen;
    }
    return rc;
}

int lsm_batch_delete(lsm_batch *b, const void *key, size_t klen)
{
    return add_op(b, LSM_KIND_DELETE, key, klen, NULL, 0, 0);
}

int lsm_batch_delete_range(lsm_batch *b, const void *begin, size_t blen,
                           const void *end, size_t elen)
{
    if (lsm_slice_cmp(lsm_slice_make(begin, blen), lsm_slice_make(end, elen)) >= 0)
        return LSM_OK; /* empty range: nothing to delete */
    return add_op(b, LSM_KIND_RANGE_DEL, begin, blen, end, elen, 1);
}

int lsm_batch_add(lsm_batch *b, int kind, lsm_slice key, lsm_slice value)
{
    return add_op(b, kind, key.data, key.len, value.data, value.len,
                  kind != LSM_KIND_DELETE);
}

int lsm_batch_append(lsm_batch *dst, const lsm_batch *src)
{
    size_t n = src->rep.len - LSM_BATCH_HEADER;
    for (size_t i = 0; i < src->nrefs; i++)
        if (lsm_array_grow((void **)&dst->refs, &dst->cap_refs, dst->nrefs + i,
                           sizeof *dst->refs) != LSM_OK)
            return lsm_fail(LSM_NO_MEMORY, "out of memory joining batches");
    if (lsm_buf_append(&dst->rep, src->rep.data + LSM_BATCH_HEADER, n))
        return lsm_fail(LSM_NO_MEMORY, "out of memory joining batches");
    if (src->nrefs)
        memcpy(dst->refs + dst->nrefs, src->refs, src->nrefs * sizeof *src->refs);
    dst->nrefs += src->nrefs;
    dst->ref_bytes += src->ref_bytes;
    set_count(dst, lsm_batch_count(dst) + lsm_batch_count(src));
    return LSM_OK;
}

/* lsm_batch_iterate; in memory (mem) the sequence is not checked (a
 * batch gets its own when queued) and REF ops take their values from
 * refs[0, nrefs). */
static int iterate(lsm_slice rep, int mem, const lsm_slice *refs, size_t nrefs,
                   lsm_batch_fn fn, void *ctx)
{
    if (rep.len < LSM_BATCH_HEADER)
        return lsm_fail(LSM_CORRUPTION, "batch shorter than its header");
    uint64_t seq = lsm_decode_fixed64(rep.data);
    uint32_t count = lsm_decode_fixed32(rep.data + 8);
    if (!mem &&
        (count > 0 ? seq == 0 || seq > LSM_MAX_SEQ - (count - 1) : seq > LSM_MAX_SEQ))
        return lsm_fail(LSM_CORRUPTION, "batch sequence %llu + %u out of range",
                        (unsigned long long)seq, count);
    lsm_slice in = lsm_slice_make(rep.data + LSM_BATCH_HEADER,
                                  rep.len - LSM_BATCH_HEADER);
    uint32_t seen = 0;
    size_t nref = 0;
    while (in.len > 0) {
        int kind = (unsigned char)in.data[0];
        lsm_slice key, value = lsm_slice_make("", 0);
        in.data++;
        in.len--;
        int ref = kind == LSM_BATCH_KIND_REF && nref < nrefs;
        int ok = (kind <= LSM_KIND_BLOB || ref) && lsm_get_lenprefixed(&in, &key);
        if (ok && ref) {
            kind = LSM_KIND_PUT;
            value = refs[nref++];
        } else if (ok && kind != LSM_KIND_DELETE) {
            ok = lsm_get_lenprefixed(&in, &value);
        }
        if (!ok || seen == count)
            return lsm_fail(LSM_CORRUPTION, "malformed batch operation %u", seen);
        int rc = fn(ctx, seq + seen, kind, key, value);
        if (rc)
            return rc;
        seen++;
    }
    if (seen != count)
        return lsm_fail(LSM_CORRUPTION, "batch count %u but %u operations",
                        count, seen);
    return LSM_OK;
}

int lsm_batch_iterate(lsm_slice rep, lsm_batch_fn fn, void *ctx)
{
    return iterate(rep, 0, NULL, 0, fn, ctx);
}

int lsm_batch_each(const lsm_batch *b, lsm_batch_fn fn, void *ctx)
{
    return iterate(lsm_buf_slice(&b->rep), 1, b->refs, b->nrefs, fn, ctx);
}

static int add_inline(void *ctx, uint64_t seq, int kind, lsm_slice key,
                      lsm_slice value)
{
    (void)seq;
    return lsm_batch_add(ctx, kind, key, value);
}

int lsm_batch_inline(lsm_batch *b)
{
    if (b->nrefs == 0)
        return LSM_OK;
    lsm_batch t = { 0 };
    if (lsm_buf_reserve(&t.rep, lsm_batch_bytes(b)))
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_batch_clear(&t);
    lsm_batch_set_seq(&t, lsm_batch_seq(b));
    int rc = lsm_batch_each(b, add_inline, &t);
    if (rc != LSM_OK) {
        lsm_buf_free(&t.rep);
        return rc;
    }
    lsm_buf_free(&b->rep);
    b->rep = t.rep;
    b->nrefs = 0;
    b->ref_bytes = 0;
    return LSM_OK;
}

static int insert_op(void *ctx, uint64_t seq, int kind, lsm_slice key,
                     lsm_slice value)
{
    return lsm_memtable_add(ctx, seq, kind, key, value);
}

int lsm_batch_insert(lsm_slice rep, lsm_memtable *m)
{
    return lsm_batch_iterate(rep, insert_op, m);
}
