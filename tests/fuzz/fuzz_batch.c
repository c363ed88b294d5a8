/*
 * fuzz_batch.c — libFuzzer target: the write-batch decoder
 * (lsm_batch_iterate, write_batch.h) and the recovery path behind it,
 * lsm_batch_insert into a memtable.
 *
 * The input is one encoded batch, as a WAL record holds it.  Checked
 * besides memory safety:
 *   - decoding yields only known kinds, slices inside the input, one
 *     operation per sequence number from the header's, and exactly the
 *     header's count when it succeeds;
 *   - re-encoding the decoded operations with the public batch API and
 *     decoding again gives the same operations (range deletions with
 *     begin >= end, which the API drops as empty, excepted);
 *   - a successful insert leaves the memtable holding every point
 *     operation, in strictly increasing internal-key order, each one
 *     found again by a lookup, and every range deletion.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ikey.h"
#include "memtable.h"
#include "write_batch.h"

#include "fuzz_check.h"

typedef struct op {
    uint64_t seq;
    int kind;
    lsm_slice key, value;
} op;

typedef struct ops {
    lsm_slice rep;           /* the bytes decoded */
    op *v;
    size_t n, cap;
    int failed;              /* out of memory collecting */
} ops;

static int inside(lsm_slice outer, lsm_slice s)
{
    return s.len == 0 || (s.data >= outer.data && s.len <= outer.len &&
                          (size_t)(s.data - outer.data) <= outer.len - s.len);
}

static int collect(void *ctx, uint64_t seq, int kind, lsm_slice key,
                   lsm_slice value)
{
    ops *o = ctx;
    CHECK(kind == LSM_KIND_PUT || kind == LSM_KIND_DELETE ||
          kind == LSM_KIND_RANGE_DEL || kind == LSM_KIND_BLOB);
    CHECK(inside(o->rep, key));
    CHECK(inside(o->rep, value));
    CHECK(seq == lsm_decode_fixed64(o->rep.data) + o->n);
    if (kind == LSM_KIND_DELETE)
        CHECK(value.len == 0);
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        op *v = realloc(o->v, cap * sizeof *v);
        if (!v) {
            o->failed = 1;
            return LSM_NO_MEMORY;
        }
        o->v = v;
        o->cap = cap;
    }
    op *p = &o->v[o->n++];
    p->seq = seq;
    p->kind = kind;
    p->key = key;
    p->value = value;
    return LSM_OK;
}

static int slice_eq(lsm_slice a, lsm_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static int empty_range(const op *p)
{
    return p->kind == LSM_KIND_RANGE_DEL &&
           lsm_slice_cmp(p->key, p->value) >= 0;
}

/* Re-encodes the operations and checks they decode the same. */
static void check_roundtrip(const ops *o)
{
    lsm_batch *b = lsm_batch_new();
    if (!b)
        return;
    lsm_batch_set_seq(b, lsm_decode_fixed64(o->rep.data));
    size_t kept = 0;
    for (size_t i = 0; i < o->n; i++) {
        const op *p = &o->v[i];
        int rc = LSM_OK;
        if (p->kind == LSM_KIND_PUT)
            rc = lsm_batch_put(b, p->key.data, p->key.len, p->value.data,
                               p->value.len);
        else if (p->kind == LSM_KIND_DELETE)
            rc = lsm_batch_delete(b, p->key.data, p->key.len);
        else if (p->kind == LSM_KIND_BLOB)
            rc = lsm_batch_add(b, p->kind, p->key, p->value);
        else
            rc = lsm_batch_delete_range(b, p->key.data, p->key.len,
                                        p->value.data, p->value.len);
        if (rc != LSM_OK) {   /* a key or value over the API's limits */
            CHECK(rc == LSM_INVALID || rc == LSM_NO_MEMORY);
            lsm_batch_free(b);
            return;
        }
        kept += !empty_range(p);
    }
    CHECK(lsm_batch_count(b) == kept);
    ops again = { lsm_buf_slice(&b->rep), NULL, 0, 0, 0 };
    int rc = lsm_batch_iterate(again.rep, collect, &again);
    if (!again.failed) {
        CHECK(rc == LSM_OK);
        CHECK(again.n == kept);
        size_t j = 0;
        for (size_t i = 0; i < o->n; i++) {
            const op *p = &o->v[i];
            if (empty_range(p))
                continue;
            const op *q = &again.v[j];
            CHECK(q->seq == lsm_decode_fixed64(o->rep.data) + j);
            CHECK(q->kind == p->kind);
            CHECK(slice_eq(q->key, p->key));
            CHECK(slice_eq(q->value, p->value));
            j++;
        }
    }
    free(again.v);
    lsm_batch_free(b);
}

/* Inserts the batch into a memtable and checks what it holds. */
static void check_memtable(const ops *o)
{
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    if (!m)
        return;
    int rc = lsm_batch_insert(o->rep, m);
    /* Corruption is impossible here (iterate accepted the bytes); an
     * operation the memtable refuses (sequence past LSM_MAX_SEQ) is
     * LSM_INVALID. */
    CHECK(rc == LSM_OK || rc == LSM_INVALID || rc == LSM_NO_MEMORY);
    if (rc != LSM_OK) {
        lsm_memtable_unref(m);
        return;
    }
    size_t points = 0, ranges = 0;
    for (size_t i = 0; i < o->n; i++) {
        if (o->v[i].kind == LSM_KIND_RANGE_DEL)
            ranges++;
        else
            points++;
    }
    CHECK(lsm_memtable_entries(m) == o->n);

    lsm_iiter *it = lsm_memtable_iter(m);
    lsm_buf prev = { 0 };
    size_t seen = 0;
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it)) {
        lsm_slice k = lsm_iiter_key(it);
        lsm_ikey ik;
        CHECK(lsm_ikey_parse(k, &ik));
        CHECK(ik.kind == LSM_KIND_PUT || ik.kind == LSM_KIND_DELETE ||
              ik.kind == LSM_KIND_BLOB);
        if (seen)
            CHECK(lsm_ikey_cmp(lsm_buf_slice(&prev), k) < 0);
        lsm_buf_clear(&prev);
        if (lsm_buf_append(&prev, k.data, k.len))
            break;
        seen++;
    }
    CHECK(lsm_iiter_status(it) == LSM_OK);
    lsm_iiter_free(it);
    lsm_buf_free(&prev);
    CHECK(seen == points);

    it = lsm_memtable_range_del_iter(m);
    seen = 0;
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it))
        seen++;
    lsm_iiter_free(it);
    CHECK(seen == ranges);

    /* Looked up at its own sequence number, each operation is the newest
     * one visible for its key (sequence numbers in a batch are distinct);
     * a non-empty range deletion covers its own begin key. */
    lsm_buf val = { 0 };
    for (size_t i = 0; i < o->n; i++) {
        const op *p = &o->v[i];
        if (p->kind == LSM_KIND_RANGE_DEL) {
            uint64_t s = lsm_memtable_range_del_max_seq(m, p->key, p->seq);
            CHECK(s <= p->seq);
            if (!empty_range(p))
                CHECK(s == p->seq);
            continue;
        }
        uint64_t seq = 0;
        int kind = lsm_memtable_get(m, p->key, p->seq, &val, &seq);
        CHECK(kind == p->kind);
        CHECK(seq == p->seq);
        if (kind == LSM_KIND_PUT || kind == LSM_KIND_BLOB)
            CHECK(slice_eq(lsm_buf_slice(&val), p->value));
    }
    lsm_buf_free(&val);
    lsm_memtable_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ops o = { lsm_slice_make(data, size), NULL, 0, 0, 0 };
    int rc = lsm_batch_iterate(o.rep, collect, &o);
    if (o.failed) {
        free(o.v);
        return 0;
    }
    CHECK(rc == LSM_OK || rc == LSM_CORRUPTION);
    if (rc == LSM_OK) {
        CHECK(size >= LSM_BATCH_HEADER);
        CHECK(o.n == lsm_decode_fixed32(o.rep.data + 8));
        check_roundtrip(&o);
        check_memtable(&o);
    }
    free(o.v);
    return 0;
}
