/*
 * wal_writer.c — appends records in the log format of wal.h.
 *
 * Layout invariant: `offset` is the file size as the env reports it (the
 * bytes appended, not the zeros prefilled past them: lsm_wal_sync_ahead),
 * and offset % LSM_WAL_BLOCK is where the next fragment header goes.  A
 * fragment is placed only if its header (7 bytes; 11 for a recyclable
 * log, `hdr`) fits in the current block; otherwise the remaining bytes
 * of the block are written as zeros
 * and the fragment starts the next block.  A header that fits exactly at the end of a block gets
 * an empty FIRST fragment, so every block begins with a header — the
 * property the reader relies on to resynchronise after damage.
 *
 * Cost: one header append plus one payload append per fragment; the env
 * buffers small appends, so a small record costs two memcpy's, and then
 * one write(2) when the record is complete (lsm_file_flush), so that an
 * appended record survives a crash of the process.  With manual flush
 * (lsm_wal_set_manual_flush) that write is left to lsm_wal_flush, to
 * sync, or to the env when its buffer fills.
 *
 * SYNC marks (wal.h): once a log writes zeros ahead, every sync appends
 * one before it (23 bytes, in the same write; a nearly full block is
 * padded first), and zeros are written only up to an `ahead` that a
 * completed sync made durable.  lsm_wal_sync_final (a sealed WAL, close)
 * adds a mark at the start of a block and a second sync when the first
 * left synced bytes that no mark covers.  On a full disk (no space for a
 * mark) none is written.
 *
 * A reused file (lsm_wal_writer_new_log with `reused`) starts as if zeros
 * up to `reused` had been announced and written: every sync appends a
 * mark, the first one announcing them, and no zeros are written below.
 * Its old bytes past the last record are left as they are; the reader
 * tells them from records by the log's id every fragment carries.
 *
 * After a failed append the file may hold a partial record, and the
 * writer no longer knows its true size: every later append fails with
 * the same status.  (The reader drops the partial record; the caller
 * should switch to a new log.)
 *
 * After a failed sync every later sync fails with the same status: the
 * kernel may have dropped the dirty pages the failed fdatasync could not
 * write (and cleared the error), so a later fdatasync that succeeds
 * proves nothing of the records before it.  Nor may a newer log's sync
 * mark claim this one synced (db_open.c, lsm_close).
 */
#include "wal.h"

#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "error.h"

struct lsm_wal_writer {
    lsm_file *f;
    uint64_t offset;
    int failed;        /* status of the append that failed, or LSM_OK */
    int sync_failed;   /* status of the sync that failed, or LSM_OK */
    int manual_flush;  /* appends may stay in the env's buffer */
    uint64_t writeback_off;  /* start_writeback was asked up to here */
    uint64_t prefilled;      /* no prefill is asked below this offset */
    uint64_t last_ahead_sync;  /* offset at the last lsm_wal_sync_ahead */
    uint64_t durable;        /* bytes before it were synced */
    uint64_t announced;      /* a synced mark allows zeros up to here */
    uint64_t zeros_unsynced; /* zeros prefilled since the last sync */
    uint64_t mark_off;       /* where the last mark appended starts */
    uint64_t mark_durable;   /* its durable: bytes before it are proven */
    size_t hdr;              /* fragment header bytes: LSM_WAL_LOG_HEADER
                                in a recyclable log (wal.h) */
    uint64_t id;             /* recyclable: the log's id (wal.h) */
    uint64_t start_number;   /* its number, while its start is unwritten */
};

int lsm_wal_writer_new(lsm_file *f, uint64_t offset, lsm_wal_writer **out)
{
    *out = NULL;
    uint64_t size;
    int rc = lsm_file_size(f, &size);
    if (rc) {
        lsm_file_close(f);
        return rc;
    }
    if (size != offset) {
        lsm_file_close(f);
        return lsm_fail(LSM_INVALID, "WAL writer: file size %llu differs "
                        "from the given offset %llu",
                        (unsigned long long)size, (unsigned long long)offset);
    }
    lsm_wal_writer *w = calloc(1, sizeof *w);
    if (!w) {
        lsm_file_close(f);
        return lsm_fail(LSM_NO_MEMORY, "WAL writer: out of memory");
    }
    w->f = f;
    w->offset = offset;
    w->writeback_off = offset;
    w->last_ahead_sync = offset;
    w->hdr = LSM_WAL_HEADER;
    *out = w;
    return LSM_OK;
}

/* The start fragment is appended before the first record or mark
 * (append_start): a new WAL on a full disk takes no byte until then. */
int lsm_wal_writer_new_log(lsm_file *f, uint64_t number, uint64_t id,
                           uint64_t reused, lsm_wal_writer **out)
{
    int rc = lsm_wal_writer_new(f, 0, out);
    if (rc)
        return rc;
    lsm_wal_writer *w = *out;
    w->hdr = LSM_WAL_LOG_HEADER;
    w->id = id;
    w->start_number = number;
    w->announced = reused;
    w->prefilled = reused;
    return LSM_OK;
}

/* Bytes the start fragment still takes (reserved with what follows). */
static size_t start_bytes(const lsm_wal_writer *w)
{
    return w->start_number ? w->hdr + LSM_WAL_START_PAYLOAD : 0;
}

uint64_t lsm_wal_new_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
        id = XXH3_64bits(&id, sizeof id) ^ (uint64_t)time(NULL) ^
             ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&id;
    return id;
}

void lsm_wal_encode_header(char *h, uint8_t type, int recyclable,
                           uint64_t id, const char *p, size_t n)
{
    type = (uint8_t)(type + (recyclable ? LSM_WAL_RECYCLABLE : 0));
    lsm_encode_fixed32(h, recyclable ? lsm_checksum_log(type, id, p, n)
                                     : lsm_checksum_typed(type, p, n));
    h[4] = (char)(n & 0xff);
    h[5] = (char)(n >> 8);
    h[6] = (char)type;
    if (recyclable)
        lsm_encode_fixed64(h + LSM_WAL_HEADER, id);
}

static int emit_fragment(lsm_wal_writer *w, uint8_t type, const char *p,
                         size_t n)
{
    char header[LSM_WAL_LOG_HEADER];
    lsm_wal_encode_header(header, type, w->hdr == LSM_WAL_LOG_HEADER, w->id, p, n);
    int rc = lsm_file_append(w->f, header, w->hdr);
    if (!rc && n)
        rc = lsm_file_append(w->f, p, n);
    if (rc)
        return rc;
    w->offset += w->hdr + n;
    return LSM_OK;
}

/* Appends the log's start (wal.h) if it is not written yet: before
 * anything else, and before the offsets of what follows are reckoned. */
static int append_start(lsm_wal_writer *w)
{
    if (!w->start_number)
        return LSM_OK;
    char start[LSM_WAL_START_PAYLOAD];
    lsm_encode_fixed64(start, w->start_number);
    w->start_number = 0;
    return emit_fragment(w, LSM_WAL_SYNC_MARK, start, sizeof start);
}

static int append_record(lsm_wal_writer *w, const char *p, size_t n)
{
    static const char zeros[LSM_WAL_LOG_HEADER];
    int first = 1;
    for (;;) {
        size_t left = LSM_WAL_BLOCK - (size_t)(w->offset % LSM_WAL_BLOCK);
        if (left < w->hdr) {
            int rc = lsm_file_append(w->f, zeros, left);
            if (rc)
                return rc;
            w->offset += left;
            left = LSM_WAL_BLOCK;
        }
        size_t room = left - w->hdr;
        size_t take = n < room ? n : room;
        int last = take == n;
        uint8_t type = first && last ? LSM_WAL_FULL
                     : first         ? LSM_WAL_FIRST
                     : last          ? LSM_WAL_LAST
                                     : LSM_WAL_MIDDLE;
        int rc = emit_fragment(w, type, p, take);
        if (rc)
            return rc;
        if (last)
            return LSM_OK;
        p += take;
        n -= take;
        first = 0;
    }
}

int lsm_wal_append(lsm_wal_writer *w, lsm_slice record)
{
    if (w->failed)
        return lsm_fail(w->failed, "WAL writer: an earlier append failed; "
                        "the log must not be extended");
    if (record.len > UINT32_MAX)
        return lsm_fail(LSM_INVALID, "WAL record of %zu bytes exceeds the "
                        "4 GiB limit", record.len);
    /* Worst case on disk: one header per started block plus a block
     * trailer; reserving it first means a full disk fails the append
     * before any byte of it is written, and the log stays usable. */
    uint64_t fragments = record.len / (LSM_WAL_BLOCK - w->hdr) + 2;
    int rc = lsm_file_reserve(w->f, record.len + fragments * w->hdr + w->hdr +
                                        start_bytes(w));
    if (rc)
        return rc;
    rc = append_start(w);
    if (rc == LSM_OK)
        rc = append_record(w, record.data, record.len);
    if (rc == LSM_OK && !w->manual_flush)
        rc = lsm_file_flush(w->f);
    if (rc)
        w->failed = rc;
    return rc;
}

void lsm_wal_set_manual_flush(lsm_wal_writer *w, int on)
{
    w->manual_flush = on;
}

/* A failed flush may have written part of a record: the log is broken. */
int lsm_wal_flush(lsm_wal_writer *w)
{
    if (w->failed)
        return lsm_fail(w->failed, "WAL writer: an earlier append failed");
    int rc = lsm_file_flush(w->f);
    if (rc)
        w->failed = rc;
    return rc;
}

int lsm_wal_broken(const lsm_wal_writer *w)
{
    return w->failed != 0;
}

/* A mark's size, header included. */
static size_t mark_bytes(const lsm_wal_writer *w)
{
    return w->hdr + LSM_WAL_MARK_PAYLOAD;
}

/* When fewer than `need` bytes are left in the current block, fills the
 * rest: under a header's size with the zero trailer append_record
 * leaves, else with padding SYNC fragments (wal.h: any payload but 16
 * bytes; a mark's size left takes two).  Space was reserved by the
 * caller. */
static int pad_block(lsm_wal_writer *w, size_t need)
{
    static const char zeros[LSM_WAL_BLOCK];
    size_t left = LSM_WAL_BLOCK - (size_t)(w->offset % LSM_WAL_BLOCK);
    if (left >= need)
        return LSM_OK;
    if (left < w->hdr) {
        int rc = lsm_file_append(w->f, zeros, left);
        if (rc == LSM_OK)
            w->offset += left;
        return rc;
    }
    size_t n = left - w->hdr;
    int rc = LSM_OK;
    if (n == LSM_WAL_MARK_PAYLOAD) {    /* would read as a mark */
        rc = emit_fragment(w, LSM_WAL_SYNC_MARK, zeros, n - w->hdr);
        n = 0;
    }
    return rc == LSM_OK ? emit_fragment(w, LSM_WAL_SYNC_MARK, zeros, n) : rc;
}

/* Appends a SYNC mark (wal.h) announcing zeros up to `ahead` (at least
 * the mark's end), first padding the block if fewer than `room` bytes are
 * left in it (mark_bytes: the mark fits; LSM_WAL_BLOCK: it starts a
 * block).  *marked says whether it was appended: not when the log is
 * broken or its space cannot be had (a full disk; then nothing is
 * written).  A mark that fails part way breaks the log like any append,
 * and its status is returned. */
static int append_mark(lsm_wal_writer *w, uint64_t ahead, size_t room,
                       int *marked)
{
    *marked = 0;
    if (w->failed ||
        lsm_file_reserve(w->f, room + mark_bytes(w) + start_bytes(w)) != LSM_OK)
        return LSM_OK;
    int rc = append_start(w);
    if (rc == LSM_OK)
        rc = pad_block(w, room);
    char p[LSM_WAL_MARK_PAYLOAD];
    if (ahead < w->offset + mark_bytes(w))
        ahead = w->offset + mark_bytes(w);
    lsm_encode_fixed64(p, w->durable);
    lsm_encode_fixed64(p + 8, ahead);
    if (rc == LSM_OK)
        rc = emit_fragment(w, LSM_WAL_SYNC_MARK, p, sizeof p);
    if (rc)
        return w->failed = rc;
    w->mark_off = w->offset - mark_bytes(w);
    w->mark_durable = w->durable;
    *marked = 1;
    return LSM_OK;
}

/* Syncs; on success every byte appended so far is durable. */
static int sync_file(lsm_wal_writer *w)
{
    if (w->sync_failed)
        return lsm_fail(w->sync_failed, "WAL writer: an earlier sync failed");
    uint64_t end = w->offset;
    int rc = lsm_file_sync(w->f);
    if (rc == LSM_OK) {
        w->durable = end;
        w->zeros_unsynced = 0;
    } else {
        w->sync_failed = rc;
    }
    return rc;
}

/* A mark (on a log that announced zeros ahead: durable offsets keep
 * flowing to the reader), then the sync. */
int lsm_wal_sync(lsm_wal_writer *w)
{
    int marked;
    int rc = w->announced ? append_mark(w, w->announced, mark_bytes(w), &marked)
                          : LSM_OK;
    return rc == LSM_OK ? sync_file(w) : rc;
}

/* The final mark starts a block: damage anywhere before it makes the
 * reader resynchronise at a block boundary no later than the mark, so it
 * is read in sequence (wal_reader.c).  Left out when the last mark is
 * such a mark already, with nothing after it.  Cost: a second fdatasync
 * and up to a block of padding, once per sealed or closed log. */
int lsm_wal_sync_final(lsm_wal_writer *w)
{
    int rc = sync_file(w);
    int proven = w->mark_off % LSM_WAL_BLOCK == 0 &&
                 w->mark_durable == w->mark_off &&
                 w->durable == w->mark_off + mark_bytes(w);
    int marked = 0;
    if (rc == LSM_OK && w->announced && !proven)
        rc = append_mark(w, w->announced, LSM_WAL_BLOCK, &marked);
    if (rc == LSM_OK && marked)
        rc = sync_file(w);
    return rc;
}

/* Writes zeros up to the last durable announcement (best effort: after a
 * failure, not again until half of it is used). */
static void prefill(lsm_wal_writer *w)
{
    uint64_t from = w->prefilled > w->offset ? w->prefilled : w->offset;
    uint64_t upto = w->announced;
    if (upto <= from)
        return;
    if (w->f->ops->prefill(w->f, upto) == LSM_OK && w->f->ops->start_writeback)
        w->f->ops->start_writeback(w->f, from, upto - from);
    w->zeros_unsynced += upto - from;
    w->prefilled = upto;
}

/* Does the next lsm_wal_sync_ahead write zeros ahead? */
static int wants_prefill(const lsm_wal_writer *w)
{
    int small = w->offset - w->last_ahead_sync < LSM_WAL_PREFILL_BYTES / 4;
    return small && w->f->ops->prefill &&
           w->prefilled < w->offset + LSM_WAL_PREFILL_BYTES / 2;
}

int lsm_wal_sync_ahead(lsm_wal_writer *w)
{
    int want = wants_prefill(w);
    /* The zeros start past the mark and its padding (< a mark's size). */
    uint64_t ahead = want ? w->offset + 2 * mark_bytes(w) + LSM_WAL_PREFILL_BYTES
                          : w->announced;
    int marked = 0;
    int rc = want || w->announced ? append_mark(w, ahead, mark_bytes(w), &marked)
                                  : LSM_OK;
    if (rc == LSM_OK)
        rc = sync_file(w);
    w->last_ahead_sync = w->offset;
    if (rc == LSM_OK && marked && ahead > w->announced)
        w->announced = ahead;
    if (rc == LSM_OK && want && !w->failed)
        prefill(w);
    return rc;
}

void lsm_wal_start_writeback(lsm_wal_writer *w)
{
    if (!w->f->ops->start_writeback ||
        w->offset - w->writeback_off < LSM_WAL_WRITEBACK_BYTES)
        return;
    w->f->ops->start_writeback(w->f, w->writeback_off, w->offset - w->writeback_off);
    w->writeback_off = w->offset;
}

int lsm_wal_can_presync(const lsm_wal_writer *w)
{
    return w->f->ops->sync_written != NULL;
}

void lsm_wal_presync(lsm_wal_writer *w)
{
    if (w->f->ops->sync_written)
        w->f->ops->sync_written(w->f);
}

uint64_t lsm_wal_offset(const lsm_wal_writer *w)
{
    return w->offset;
}

uint64_t lsm_wal_file_bytes(const lsm_wal_writer *w)
{
    return w->prefilled > w->offset ? w->prefilled : w->offset;
}

uint64_t lsm_wal_sync_cost(const lsm_wal_writer *w)
{
    return w->offset - w->durable + w->zeros_unsynced +
           (wants_prefill(w) ? LSM_WAL_PREFILL_BYTES : 0);
}

int lsm_wal_writer_close(lsm_wal_writer *w)
{
    if (!w)
        return LSM_OK;
    int rc = lsm_file_close(w->f);
    free(w);
    return rc;
}
