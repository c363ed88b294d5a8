/*
 * wal_reader.c — reads records back from the log format of wal.h.
 *
 * The file is read one 32 KiB block at a time; a record that fits in one
 * fragment is returned as a slice of the block buffer, a fragmented one is
 * assembled in `rec` and returned only once its LAST fragment verified.
 *
 * Damage handling.  A fragment is bad when its type is unknown, its length
 * runs past the end of the block (or of the file), or its checksum fails.
 * The length of a bad fragment cannot be trusted, and the bytes after it
 * may be the middle of some payload — which can itself contain bytes that
 * look like valid fragments (lsmfs stores arbitrary file contents, a copy
 * of a log included).  So after a bad fragment the reader resynchronises
 * at the next block boundary, the only position known to start a header.
 * It does, however, look through the rest of the damaged block for a
 * fragment that verifies: if one exists, the damage is not a torn tail
 * (a torn append is never followed by a good fragment), so before_tail is
 * set and the caller refuses the log unless salvaging.  Such a fragment
 * is only evidence, never delivered: it may be an image inside a payload
 * (so it can only make the reader refuse more, never less).
 * A fragment whose checksum verified but which is out of sequence (MIDDLE
 * or LAST without FIRST, FIRST or FULL while a record is open) has a
 * trustworthy length, so only it (plus any partial record it interrupts)
 * is dropped.  Any skip abandons the record being assembled: a record is
 * never built from fragments on both sides of a gap.
 *
 * Zeros.  The writer never leaves 7 or more zero bytes inside a block, so
 * a block whose remainder is all zeros is either preallocated/unwritten
 * space or zeros the writer prefilled (wal.h: lsm_wal_sync_ahead) at the
 * end of the log (harmless), or a zeroed region in the middle.
 * It is held as a pending region: if anything other than zeros follows,
 * it is reported as damage; if the file ends first, it is tail.  Fewer
 * than 7 bytes left at the end of a block are trailer and are not checked.
 *
 * Every skipped byte is accounted in lsm_wal_damage; adjacent skips merge
 * into one region.  before_tail is set when a record is returned (or,
 * stopping at damage, withheld) after damage was recorded.
 *
 * SYNC marks (wal.h) are checked like any fragment and then only noted:
 * before the first damage, the highest `ahead` (zeros may lie below it);
 * after it, whether a `durable` passes the damage's start.  Only marks
 * read in sequence count, never one found in the rest of a damaged block.
 * A mark whose offsets contradict its own position (durable past it,
 * ahead before its end) is dropped as damage: the writer cannot have
 * written it.  A SYNC fragment whose payload is not 16 bytes is padding.
 */
#include "wal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct lsm_wal_reader {
    lsm_file *f;
    char *name;
    char *block;           /* LSM_WAL_BLOCK bytes */
    uint64_t block_off;    /* file offset of block[0] */
    size_t block_len;      /* valid bytes; < LSM_WAL_BLOCK only at the end */
    size_t pos;            /* next unparsed byte of block */
    int loaded;            /* a block has been read */
    int done;              /* end of log reached */

    lsm_buf rec;           /* fragments of the open record */
    int in_record;
    uint64_t rec_start;    /* file offset of its FIRST fragment */
    uint64_t rec_end;      /* just past its last fragment so far */

    int zero_pending;      /* zero-filled blocks seen, nothing after yet */
    uint64_t zero_start;

    uint64_t end_offset;   /* just past the last record returned */
    uint64_t damage_end;   /* just past the last damaged region */
    lsm_wal_damage damage;

    int stop_at_damage;    /* withhold records after damage */
    uint64_t ahead;        /* highest `ahead` of a mark before any damage */
    int synced_damage;     /* a mark after the damage shows it synced */
    uint64_t marks;        /* SYNC marks read in sequence */
};

int lsm_wal_reader_new(lsm_file *f, const char *name, lsm_wal_reader **out)
{
    *out = NULL;
    lsm_wal_reader *r = calloc(1, sizeof *r);
    char *copy = strdup(name ? name : "log");
    char *block = malloc(LSM_WAL_BLOCK);
    if (!r || !copy || !block) {
        free(r);
        free(copy);
        free(block);
        lsm_file_close(f);
        return lsm_fail(LSM_NO_MEMORY, "WAL reader for %s: out of memory",
                        name ? name : "log");
    }
    r->f = f;
    r->name = copy;
    r->block = block;
    *out = r;
    return LSM_OK;
}

void lsm_wal_reader_free(lsm_wal_reader *r)
{
    if (!r)
        return;
    lsm_file_close(r->f);
    lsm_buf_free(&r->rec);
    free(r->block);
    free(r->name);
    free(r);
}

uint64_t lsm_wal_reader_offset(const lsm_wal_reader *r)
{
    return r->end_offset;
}

const lsm_wal_damage *lsm_wal_reader_damage(const lsm_wal_reader *r)
{
    return &r->damage;
}

void lsm_wal_reader_stop_at_damage(lsm_wal_reader *r)
{
    r->stop_at_damage = 1;
}

uint64_t lsm_wal_reader_marks(const lsm_wal_reader *r)
{
    return r->marks;
}

/* Accounts [start, end) as damaged, merging with the previous region when
 * they touch or overlap. */
static void note_damage(lsm_wal_reader *r, uint64_t start, uint64_t end,
                        const char *reason)
{
    lsm_wal_damage *d = &r->damage;
    if (end <= start)
        return;
    if (d->regions && start <= r->damage_end) {
        if (end > r->damage_end) {
            d->dropped_bytes += end - r->damage_end;
            r->damage_end = end;
        }
        return;
    }
    if (!d->regions) {
        d->first_offset = start;
        snprintf(d->first_reason, sizeof d->first_reason, "%s", reason);
    }
    d->regions++;
    d->dropped_bytes += end - start;
    r->damage_end = end;
}

/* Drops [start, end) together with the open record, if any, and any
 * pending zero region before it (which is now known not to be tail). */
static void drop(lsm_wal_reader *r, uint64_t start, uint64_t end,
                 const char *reason)
{
    if (r->zero_pending) {
        note_damage(r, r->zero_start, start, "zero-filled region");
        r->zero_pending = 0;
    }
    if (r->in_record) {
        start = r->rec_start;
        r->in_record = 0;
        lsm_buf_clear(&r->rec);
    }
    note_damage(r, start, end, reason);
}

/* Is there a fragment in the current block, starting after `from`, that
 * verifies?  Only called on damage: cost up to O(block^2) hashing in a
 * pathological block, typically a few header checks. */
static int good_fragment_follows(const lsm_wal_reader *r, size_t from)
{
    for (size_t p = from; p + LSM_WAL_HEADER <= r->block_len; p++) {
        const char *h = r->block + p;
        unsigned type = (unsigned char)h[6];
        size_t len = (size_t)(unsigned char)h[4] | (size_t)(unsigned char)h[5] << 8;
        if (type < LSM_WAL_FULL || type > LSM_WAL_SYNC_MARK ||
            len > r->block_len - p - LSM_WAL_HEADER)
            continue;
        if (lsm_checksum_typed((uint8_t)type, h + LSM_WAL_HEADER, len) ==
            lsm_decode_fixed32(h))
            return 1;
    }
    return 0;
}

/* Drops from a bad fragment to the end of its block, noting whether a
 * good fragment follows in that block (see the header comment). */
static void drop_rest_of_block(lsm_wal_reader *r, uint64_t frag_off,
                               const char *reason)
{
    if (good_fragment_follows(r, r->pos + 1))
        r->damage.before_tail = 1;
    drop(r, frag_off, r->block_off + r->block_len, reason);
    r->pos = r->block_len;
}

/* Reads the block after the current one (the first block if none). */
static int load_next_block(lsm_wal_reader *r)
{
    uint64_t off = r->loaded ? r->block_off + LSM_WAL_BLOCK : 0;
    size_t got = 0;
    int rc = lsm_file_pread(r->f, off, r->block, LSM_WAL_BLOCK, &got);
    if (rc)
        return rc;
    r->loaded = 1;
    r->block_off = off;
    r->block_len = got;
    r->pos = 0;
    return LSM_OK;
}

static int all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* End of file: an open record was torn; pending zeros are tail. */
static int finish(lsm_wal_reader *r)
{
    if (r->in_record) {
        note_damage(r, r->rec_start, r->rec_end,
                    "record truncated by end of file");
        r->in_record = 0;
        lsm_buf_clear(&r->rec);
    }
    r->zero_pending = 0;
    r->done = 1;
    lsm_wal_damage *d = &r->damage;
    d->unsynced = d->before_tail && d->first_offset < r->ahead &&
                  !r->synced_damage;
    return 0;
}

/* 1: *out is the record; 0: withheld (after damage, stop_at_damage). */
static int deliver(lsm_wal_reader *r, const char *p, size_t n, uint64_t end,
                   lsm_slice *out)
{
    if (r->damage.regions) {
        r->damage.before_tail = 1;
        if (r->stop_at_damage) {
            r->damage.withheld_records++;
            r->damage.withheld_bytes += n;
            return 0;
        }
    }
    r->end_offset = end;
    *out = lsm_slice_make(p, n);
    return 1;
}

/* A verified SYNC fragment at [off, end): a mark, or padding (a payload
 * of any other length, ignored).  Either ends an open record. */
static void note_mark(lsm_wal_reader *r, const char *p, size_t n,
                      uint64_t off, uint64_t end)
{
    uint64_t durable = 0, ahead = 0;
    if (n == LSM_WAL_MARK_PAYLOAD) {
        durable = lsm_decode_fixed64(p);
        ahead = lsm_decode_fixed64(p + 8);
        if (durable > off || ahead < end) {
            drop(r, off, end, "malformed sync mark");
            return;
        }
    }
    if (r->in_record)
        drop(r, r->rec_start, r->rec_end, "record missing its LAST fragment");
    if (n != LSM_WAL_MARK_PAYLOAD)
        return;                                 /* padding */
    r->marks++;
    r->damage.before_tail |= r->damage.regions > 0;
    if (!r->damage.regions) {
        if (ahead > r->ahead)
            r->ahead = ahead;
    } else if (durable > r->damage.first_offset) {
        r->synced_damage = 1;
    }
}

/* Appends a verified fragment to the open record. */
static int extend_record(lsm_wal_reader *r, const char *p, size_t n,
                         uint64_t frag_end)
{
    if (r->rec.len + n > UINT32_MAX) {
        drop(r, r->rec_start, frag_end, "record larger than 4 GiB");
        return LSM_OK;
    }
    if (lsm_buf_append(&r->rec, p, n))
        return lsm_fail(LSM_NO_MEMORY, "%s: out of memory assembling a "
                        "record of %zu bytes at offset %llu", r->name,
                        r->rec.len + n, (unsigned long long)r->rec_start);
    r->rec_end = frag_end;
    return LSM_OK;
}

int lsm_wal_read(lsm_wal_reader *r, lsm_slice *out)
{
    char reason[96];
    *out = lsm_slice_make(NULL, 0);
    while (!r->done) {
        if (!r->loaded || r->pos + LSM_WAL_HEADER > r->block_len) {
            if (r->loaded && r->block_len < LSM_WAL_BLOCK) {
                /* Last block: fewer than 7 bytes remain before EOF. */
                if (!all_zero(r->block + r->pos, r->block_len - r->pos))
                    drop(r, r->block_off + r->pos,
                         r->block_off + r->block_len,
                         "fragment header truncated by end of file");
                return finish(r);
            }
            /* Skip the trailer (< 7 bytes, unchecked) of a full block. */
            int rc = load_next_block(r);
            if (rc)
                return rc;
            continue;
        }

        const char *h = r->block + r->pos;
        uint64_t frag_off = r->block_off + r->pos;
        uint64_t block_end = r->block_off + r->block_len;
        size_t avail = r->block_len - r->pos - LSM_WAL_HEADER;
        uint32_t crc = lsm_decode_fixed32(h);
        size_t len = (size_t)(unsigned char)h[4] |
                     (size_t)(unsigned char)h[5] << 8;
        unsigned type = (unsigned char)h[6];

        if (type == LSM_WAL_ZERO &&
            all_zero(h, r->block_len - r->pos)) {
            if (r->in_record)
                drop(r, r->rec_start, r->rec_end,
                     "record cut off by zero-filled space");
            if (!r->zero_pending) {
                r->zero_pending = 1;
                r->zero_start = frag_off;
            }
            r->pos = r->block_len;
            continue;
        }
        if (type < LSM_WAL_FULL || type > LSM_WAL_SYNC_MARK) {
            snprintf(reason, sizeof reason, "unknown fragment type %u", type);
            drop_rest_of_block(r, frag_off, reason);
            continue;
        }
        if (len > avail) {
            int torn = r->block_len < LSM_WAL_BLOCK &&
                       r->pos + LSM_WAL_HEADER + len <= LSM_WAL_BLOCK;
            snprintf(reason, sizeof reason, torn
                     ? "fragment of %zu bytes truncated by end of file"
                     : "fragment length %zu past end of block", len);
            if (torn) {
                drop(r, frag_off, block_end, reason);
                r->pos = r->block_len;
            } else {
                drop_rest_of_block(r, frag_off, reason);
            }
            continue;
        }
        const char *payload = h + LSM_WAL_HEADER;
        if (lsm_checksum_typed((uint8_t)type, payload, len) != crc) {
            drop_rest_of_block(r, frag_off, "checksum mismatch");
            continue;
        }

        /* A verified fragment: zeros before it were not tail. */
        uint64_t frag_end = frag_off + LSM_WAL_HEADER + len;
        r->pos += LSM_WAL_HEADER + len;
        if (r->zero_pending) {
            note_damage(r, r->zero_start, frag_off, "zero-filled region");
            r->zero_pending = 0;
        }
        int rc;
        switch (type) {
        case LSM_WAL_SYNC_MARK:
            note_mark(r, payload, len, frag_off, frag_end);
            break;
        case LSM_WAL_FULL:
            if (r->in_record)
                drop(r, r->rec_start, r->rec_end,
                     "record missing its LAST fragment");
            if (deliver(r, payload, len, frag_end, out))
                return 1;
            break;
        case LSM_WAL_FIRST:
            if (r->in_record)
                drop(r, r->rec_start, r->rec_end,
                     "record missing its LAST fragment");
            r->in_record = 1;
            r->rec_start = frag_off;
            lsm_buf_clear(&r->rec);
            rc = extend_record(r, payload, len, frag_end);
            if (rc)
                return rc;
            break;
        case LSM_WAL_MIDDLE:
        case LSM_WAL_LAST:
            if (!r->in_record) {
                drop(r, frag_off, frag_end, type == LSM_WAL_MIDDLE
                     ? "MIDDLE fragment without FIRST"
                     : "LAST fragment without FIRST");
                break;
            }
            rc = extend_record(r, payload, len, frag_end);
            if (rc)
                return rc;
            if (type == LSM_WAL_LAST && r->in_record) {
                r->in_record = 0;
                if (deliver(r, r->rec.data, r->rec.len, frag_end, out))
                    return 1;
            }
            break;
        }
    }
    return 0;
}
