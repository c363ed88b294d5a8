/*
 * version_edit.c — manifest records.
 *
 * The manifest is a log (wal.h framing: every record checksummed) whose
 * records are version edits.  Replaying them in order from an empty
 * version yields the current set of tables.  An edit is a sequence of
 * tagged fields, each a varint tag followed by its payload:
 *
 *   tag 1  comparator     lenprefixed name ("lsm.bytewise")
 *   tag 2  log_number     varint64: logs with a smaller number are flushed
 *   tag 3  next_file      varint64: next unused file number
 *   tag 4  last_seq       varint64: last sequence number in any table
 *   tag 5  deleted file   varint32 level, varint64 number
 *   tag 6  new file       varint32 level, varint64 number, varint64 size,
 *                         varint64 entries, lenprefixed smallest internal
 *                         key, lenprefixed largest internal key
 *   tag 7  new snapshot   varint32 id (>= 1), varint64 sequence number,
 *                         varint64 creation time (seconds since the
 *                         epoch), lenprefixed name (lsm_snapshot_name_ok)
 *   tag 8  dropped snap.  varint32 id
 *   tag 9  next snap. id  varint32: the next id to hand out (ids are
 *                         never reused; a new manifest's first edit
 *                         records it along with every live snapshot)
 *   tag 10 compaction style varint32: 1 leveled, 2 tiered (enum
 *                         lsm_compaction_style); every new manifest's
 *                         first edit records it.  Manifests written
 *                         before it existed are leveled.
 *   tag 11 blob garbage   varint64 blob file number, varint64 records,
 *                         varint64 bytes (headers included) of values in
 *                         that blob file no longer named: added to what
 *                         earlier edits recorded for it (blob_gc.c); a new
 *                         manifest's first edit holds the totals of the
 *                         blob files not yet deleted.  Records for a
 *                         deleted blob file are ignored (numbers are never
 *                         reused, blob.c).
 *   tag 12 new file with sequence-0 puts: tag 6's fields, then varint64
 *                         seq0_max (>= 1): the table (footer version 2,
 *                         table_builder.c) holds puts whose sequence
 *                         numbers compaction zeroed, the highest of which
 *                         was at most seq0_max (repair.c hides the
 *                         table's lost ranges at it).  Written instead of
 *                         tag 6 for such a table, in the edit adding it
 *                         and in every new manifest's first edit while it
 *                         lives.  Readers from before tag 12 reject it
 *                         (unknown tag: lsm_open fails with "malformed
 *                         version edit (field 12)" and writes nothing),
 *                         so a store holding such a table is never opened
 *                         by a binary that would read its puts as deleted
 *                         (or take the table for damage and drop it).
 *   tag 13 WAL format     varint32: 1, the WALs may hold recyclable
 *                         fragments (wal.h).  Recorded, in the edit that
 *                         commits the open, before the first WAL in that
 *                         format is made, and in every new manifest's
 *                         first edit.  Readers from before tag 13 reject
 *                         it as they reject tag 12, so they never take
 *                         such a WAL for a torn tail and drop it.
 *
 * A snapshot's record is appended (and the manifest fsync'ed) only after
 * the WAL holding every write up to its sequence number is fsync'ed, and
 * the edit's last_seq is at least that sequence number, so after any
 * crash the snapshot sees the same writes and no later write reuses its
 * numbers.  Manifests written before tags 7-9 existed hold none of them
 * and open with no named snapshots.
 *
 * Unknown tags, levels out of range, bad snapshot names or ids and
 * truncated fields are corruption.
 */
#include "version.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ikey.h"
#include "wal.h"

enum {
    TAG_COMPARATOR = 1,
    TAG_LOG_NUMBER = 2,
    TAG_NEXT_FILE = 3,
    TAG_LAST_SEQ = 4,
    TAG_DELETED_FILE = 5,
    TAG_NEW_FILE = 6,
    TAG_NEW_SNAPSHOT = 7,
    TAG_DROPPED_SNAPSHOT = 8,
    TAG_NEXT_SNAPSHOT_ID = 9,
    TAG_COMPACTION_STYLE = 10,
    TAG_BLOB_GARBAGE = 11,
    TAG_NEW_FILE_SEQ0 = 12,
    TAG_WAL_FORMAT = 13,
};

lsm_file_meta *lsm_file_meta_new(void)
{
    lsm_file_meta *f = calloc(1, sizeof *f);
    if (f)
        f->refs = 1;
    return f;
}

void lsm_file_meta_ref(lsm_file_meta *f)
{
    __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
}

void lsm_file_meta_unref(lsm_file_meta *f)
{
    if (f && __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        lsm_buf_free(&f->smallest);
        lsm_buf_free(&f->largest);
        free(f->blob_files);
        free(f);
    }
}

void lsm_edit_init(lsm_version_edit *e)
{
    memset(e, 0, sizeof *e);
}

void lsm_edit_free(lsm_version_edit *e)
{
    for (size_t i = 0; i < e->nadded; i++)
        lsm_file_meta_unref(e->added[i].meta);
    free(e->added);
    free(e->deleted);
    free(e->snaps);
    free(e->dropped_snaps);
    lsm_garbage_free(&e->garbage);
    lsm_edit_init(e);
}

int lsm_edit_delete_file(lsm_version_edit *e, int level, uint64_t number)
{
    int rc = lsm_array_grow((void **)&e->deleted, &e->cap_deleted, e->ndeleted,
                  sizeof *e->deleted);
    if (rc)
        return rc;
    e->deleted[e->ndeleted].level = level;
    e->deleted[e->ndeleted].number = number;
    e->ndeleted++;
    return LSM_OK;
}

/* Index of the first entry of l whose file is >= file. */
static size_t garbage_index(const lsm_garbage_list *l, uint64_t file)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->v[mid].file < file)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int lsm_garbage_add(lsm_garbage_list *l, uint64_t file, uint64_t count,
                    uint64_t bytes)
{
    size_t i = garbage_index(l, file);
    if (i == l->n || l->v[i].file != file) {
        int rc = lsm_array_grow((void **)&l->v, &l->cap, l->n, sizeof *l->v);
        if (rc)
            return rc;
        memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof *l->v);
        l->v[i] = (lsm_blob_garbage){ .file = file };
        l->n++;
    }
    l->v[i].count += count;
    l->v[i].bytes += bytes;
    return LSM_OK;
}

/* Appends an extent, merged into the last one when it follows it. */
static int extent_add(lsm_garbage_list *l, lsm_blob_extent x)
{
    lsm_blob_extent *last = l->next ? &l->ext[l->next - 1] : NULL;
    if (last && last->file == x.file && last->off + last->len == x.off) {
        last->len += x.len;
        return LSM_OK;
    }
    int rc = lsm_array_grow((void **)&l->ext, &l->cap_ext, l->next, sizeof *l->ext);
    if (rc == LSM_OK)
        l->ext[l->next++] = x;
    return rc;
}

int lsm_garbage_add_record(lsm_garbage_list *l, uint64_t file, uint64_t off,
                           uint64_t len)
{
    int rc = lsm_garbage_add(l, file, 1, len);
    if (rc == LSM_OK)
        rc = extent_add(l, (lsm_blob_extent){ .file = file, .off = off, .len = len });
    return rc;
}

int lsm_garbage_merge(lsm_garbage_list *dst, const lsm_garbage_list *src)
{
    int rc = LSM_OK;
    for (size_t i = 0; i < src->n && rc == LSM_OK; i++)
        rc = lsm_garbage_add(dst, src->v[i].file, src->v[i].count, src->v[i].bytes);
    for (size_t i = 0; i < src->next && rc == LSM_OK; i++)
        rc = extent_add(dst, src->ext[i]);
    return rc;
}

const lsm_blob_garbage *lsm_garbage_find(const lsm_garbage_list *l, uint64_t file)
{
    size_t i = garbage_index(l, file);
    return i < l->n && l->v[i].file == file ? &l->v[i] : NULL;
}

void lsm_garbage_remove(lsm_garbage_list *l, uint64_t file)
{
    size_t i = garbage_index(l, file);
    if (i < l->n && l->v[i].file == file) {
        memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof *l->v);
        l->n--;
    }
}

void lsm_garbage_free(lsm_garbage_list *l)
{
    free(l->v);
    free(l->ext);
    *l = (lsm_garbage_list){ 0 };
}

int lsm_edit_add_snapshot(lsm_version_edit *e, const lsm_snap_record *r)
{
    int rc = lsm_array_grow((void **)&e->snaps, &e->cap_snaps, e->nsnaps, sizeof *e->snaps);
    if (rc == LSM_OK)
        e->snaps[e->nsnaps++] = *r;
    return rc;
}

int lsm_edit_drop_snapshot(lsm_version_edit *e, uint32_t id)
{
    int rc = lsm_array_grow((void **)&e->dropped_snaps, &e->cap_dropped_snaps,
                  e->ndropped_snaps, sizeof *e->dropped_snaps);
    if (rc == LSM_OK)
        e->dropped_snaps[e->ndropped_snaps++] = id;
    return rc;
}

int lsm_snapshot_name_ok(const char *name)
{
    size_t len = name ? strnlen(name, LSM_SNAPSHOT_NAME_MAX + 1) : 0;
    return len > 0 && len <= LSM_SNAPSHOT_NAME_MAX && !strchr(name, '/') &&
           strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int lsm_edit_add_file(lsm_version_edit *e, int level, uint64_t number,
                      uint64_t size, uint64_t entries, lsm_slice smallest,
                      lsm_slice largest)
{
    int rc = lsm_array_grow((void **)&e->added, &e->cap_added, e->nadded,
                  sizeof *e->added);
    if (rc)
        return rc;
    lsm_file_meta *f = lsm_file_meta_new();
    if (!f || lsm_buf_append(&f->smallest, smallest.data, smallest.len) ||
        lsm_buf_append(&f->largest, largest.data, largest.len)) {
        lsm_file_meta_unref(f);
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    }
    f->number = number;
    f->size = size;
    f->entries = entries;
    e->added[e->nadded].level = level;
    e->added[e->nadded].meta = f;
    e->nadded++;
    return LSM_OK;
}

int lsm_edit_add_meta(lsm_version_edit *e, int level, const lsm_file_meta *f)
{
    int rc = lsm_edit_add_file(e, level, f->number, f->size, f->entries,
                               lsm_buf_slice(&f->smallest),
                               lsm_buf_slice(&f->largest));
    if (rc == LSM_OK) {
        e->added[e->nadded - 1].meta->seq0_max = f->seq0_max;
        e->added[e->nadded - 1].meta->range_dels =
            __atomic_load_n(&f->range_dels, __ATOMIC_RELAXED);
    }
    return rc;
}

int lsm_edit_encode(const lsm_version_edit *e, lsm_buf *out)
{
    int rc = 0;
    if (e->has_comparator) {
        rc |= lsm_buf_put_varint32(out, TAG_COMPARATOR);
        rc |= lsm_buf_put_lenprefixed(out, e->comparator, strlen(e->comparator));
    }
    if (e->has_log_number) {
        rc |= lsm_buf_put_varint32(out, TAG_LOG_NUMBER);
        rc |= lsm_buf_put_varint64(out, e->log_number);
    }
    if (e->has_next_file) {
        rc |= lsm_buf_put_varint32(out, TAG_NEXT_FILE);
        rc |= lsm_buf_put_varint64(out, e->next_file);
    }
    if (e->has_last_seq) {
        rc |= lsm_buf_put_varint32(out, TAG_LAST_SEQ);
        rc |= lsm_buf_put_varint64(out, e->last_seq);
    }
    for (size_t i = 0; i < e->ndeleted; i++) {
        rc |= lsm_buf_put_varint32(out, TAG_DELETED_FILE);
        rc |= lsm_buf_put_varint32(out, (uint32_t)e->deleted[i].level);
        rc |= lsm_buf_put_varint64(out, e->deleted[i].number);
    }
    for (size_t i = 0; i < e->nadded; i++) {
        const lsm_file_meta *f = e->added[i].meta;
        rc |= lsm_buf_put_varint32(out, f->seq0_max ? TAG_NEW_FILE_SEQ0
                                                    : TAG_NEW_FILE);
        rc |= lsm_buf_put_varint32(out, (uint32_t)e->added[i].level);
        rc |= lsm_buf_put_varint64(out, f->number);
        rc |= lsm_buf_put_varint64(out, f->size);
        rc |= lsm_buf_put_varint64(out, f->entries);
        rc |= lsm_buf_put_lenprefixed(out, f->smallest.data, f->smallest.len);
        rc |= lsm_buf_put_lenprefixed(out, f->largest.data, f->largest.len);
        if (f->seq0_max)
            rc |= lsm_buf_put_varint64(out, f->seq0_max);
    }
    for (size_t i = 0; i < e->nsnaps; i++) {
        const lsm_snap_record *r = &e->snaps[i];
        rc |= lsm_buf_put_varint32(out, TAG_NEW_SNAPSHOT);
        rc |= lsm_buf_put_varint32(out, r->id);
        rc |= lsm_buf_put_varint64(out, r->seq);
        rc |= lsm_buf_put_varint64(out, r->ctime);
        rc |= lsm_buf_put_lenprefixed(out, r->name, strlen(r->name));
    }
    for (size_t i = 0; i < e->ndropped_snaps; i++) {
        rc |= lsm_buf_put_varint32(out, TAG_DROPPED_SNAPSHOT);
        rc |= lsm_buf_put_varint32(out, e->dropped_snaps[i]);
    }
    if (e->has_next_snap_id) {
        rc |= lsm_buf_put_varint32(out, TAG_NEXT_SNAPSHOT_ID);
        rc |= lsm_buf_put_varint32(out, e->next_snap_id);
    }
    if (e->style) {
        rc |= lsm_buf_put_varint32(out, TAG_COMPACTION_STYLE);
        rc |= lsm_buf_put_varint32(out, (uint32_t)e->style);
    }
    if (e->wal_format) {
        rc |= lsm_buf_put_varint32(out, TAG_WAL_FORMAT);
        rc |= lsm_buf_put_varint32(out, (uint32_t)e->wal_format);
    }
    for (size_t i = 0; i < e->garbage.n; i++) {
        const lsm_blob_garbage *g = &e->garbage.v[i];
        rc |= lsm_buf_put_varint32(out, TAG_BLOB_GARBAGE);
        rc |= lsm_buf_put_varint64(out, g->file);
        rc |= lsm_buf_put_varint64(out, g->count);
        rc |= lsm_buf_put_varint64(out, g->bytes);
    }
    return rc ? lsm_fail(LSM_NO_MEMORY, "out of memory encoding an edit")
              : LSM_OK;
}

static int get_level(lsm_slice *in, int *level)
{
    uint32_t v;
    if (!lsm_get_varint32(in, &v) || v >= LSM_NUM_LEVELS)
        return 0;
    *level = (int)v;
    return 1;
}

/* Tag 6, or tag 12 (seq0: with seq0_max). */
static int decode_new_file(lsm_version_edit *e, lsm_slice *in, int seq0)
{
    int level;
    uint64_t number, size, entries, seq0_max = 0;
    lsm_slice smallest, largest;
    lsm_ikey k;
    if (!get_level(in, &level) || !lsm_get_varint64(in, &number) ||
        !lsm_get_varint64(in, &size) || !lsm_get_varint64(in, &entries) ||
        !lsm_get_lenprefixed(in, &smallest) ||
        !lsm_get_lenprefixed(in, &largest) || !lsm_ikey_parse(smallest, &k) ||
        !lsm_ikey_parse(largest, &k) || lsm_ikey_cmp(smallest, largest) > 0 ||
        (seq0 && (!lsm_get_varint64(in, &seq0_max) || seq0_max == 0 ||
                  seq0_max > LSM_MAX_SEQ)))
        return LSM_CORRUPTION;
    int rc = lsm_edit_add_file(e, level, number, size, entries, smallest,
                               largest);
    if (rc == LSM_OK)
        e->added[e->nadded - 1].meta->seq0_max = seq0_max;
    return rc;
}

static int decode_new_snapshot(lsm_version_edit *e, lsm_slice *in)
{
    lsm_snap_record r = { 0 };
    lsm_slice name;
    if (!lsm_get_varint32(in, &r.id) || r.id == 0 ||
        !lsm_get_varint64(in, &r.seq) || r.seq > LSM_MAX_SEQ ||
        !lsm_get_varint64(in, &r.ctime) || !lsm_get_lenprefixed(in, &name) ||
        name.len >= sizeof r.name || memchr(name.data, 0, name.len))
        return LSM_CORRUPTION;
    memcpy(r.name, name.data, name.len);
    r.name[name.len] = 0;
    if (!lsm_snapshot_name_ok(r.name))
        return LSM_CORRUPTION;
    return lsm_edit_add_snapshot(e, &r);
}

static int decode_field(lsm_version_edit *e, uint32_t tag, lsm_slice *in)
{
    uint32_t id;
    lsm_slice name;
    int level;
    uint64_t number;
    switch (tag) {
    case TAG_COMPARATOR:
        if (!lsm_get_lenprefixed(in, &name) || name.len >= sizeof e->comparator)
            return LSM_CORRUPTION;
        memcpy(e->comparator, name.data, name.len);
        e->comparator[name.len] = 0;
        e->has_comparator = 1;
        return LSM_OK;
    case TAG_LOG_NUMBER:
        e->has_log_number = 1;
        return lsm_get_varint64(in, &e->log_number) ? LSM_OK : LSM_CORRUPTION;
    case TAG_NEXT_FILE:
        e->has_next_file = 1;
        return lsm_get_varint64(in, &e->next_file) && e->next_file < UINT64_MAX / 2
                   ? LSM_OK : LSM_CORRUPTION;
    case TAG_LAST_SEQ:
        e->has_last_seq = 1;
        return lsm_get_varint64(in, &e->last_seq) && e->last_seq <= LSM_MAX_SEQ
                   ? LSM_OK : LSM_CORRUPTION;
    case TAG_DELETED_FILE:
        if (!get_level(in, &level) || !lsm_get_varint64(in, &number))
            return LSM_CORRUPTION;
        return lsm_edit_delete_file(e, level, number);
    case TAG_NEW_FILE:
    case TAG_NEW_FILE_SEQ0:
        return decode_new_file(e, in, tag == TAG_NEW_FILE_SEQ0);
    case TAG_NEW_SNAPSHOT:
        return decode_new_snapshot(e, in);
    case TAG_DROPPED_SNAPSHOT:
        if (!lsm_get_varint32(in, &id) || id == 0)
            return LSM_CORRUPTION;
        return lsm_edit_drop_snapshot(e, id);
    case TAG_NEXT_SNAPSHOT_ID:
        e->has_next_snap_id = 1;
        return lsm_get_varint32(in, &e->next_snap_id) && e->next_snap_id > 0
                   ? LSM_OK : LSM_CORRUPTION;
    case TAG_COMPACTION_STYLE:
        if (!lsm_get_varint32(in, &id) || id < LSM_COMPACTION_LEVELED ||
            id > LSM_COMPACTION_TIERED)
            return LSM_CORRUPTION;
        e->style = (int)id;
        return LSM_OK;
    case TAG_WAL_FORMAT:
        if (!lsm_get_varint32(in, &id) || id != LSM_WAL_FORMAT_RECYCLABLE)
            return LSM_CORRUPTION;
        e->wal_format = (int)id;
        return LSM_OK;
    case TAG_BLOB_GARBAGE: {
        uint64_t count, bytes;
        if (!lsm_get_varint64(in, &number) || number == 0 ||
            !lsm_get_varint64(in, &count) || !lsm_get_varint64(in, &bytes))
            return LSM_CORRUPTION;
        return lsm_garbage_add(&e->garbage, number, count, bytes);
    }
    default:
        return LSM_CORRUPTION;
    }
}

int lsm_edit_decode(lsm_version_edit *e, lsm_slice in)
{
    lsm_edit_init(e);
    while (in.len > 0) {
        uint32_t tag = 0;
        int rc = lsm_get_varint32(&in, &tag) ? decode_field(e, tag, &in)
                                             : LSM_CORRUPTION;
        if (rc) {
            lsm_edit_free(e);
            return rc == LSM_CORRUPTION
                       ? lsm_fail(rc, "malformed version edit (field %u)", tag)
                       : rc;
        }
    }
    return LSM_OK;
}
