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
 * Zeros.  The writer never leaves a header's size (7 bytes; 11 in a
 * recyclable log) or more of zeros inside a block, so a block whose
 * remainder is all zeros is either preallocated/unwritten space or zeros
 * the writer prefilled (wal.h: lsm_wal_sync_ahead) at the end of the log
 * (harmless), or a zeroed region in the middle.  It is held as a pending
 * region: if anything other than zeros follows, it is reported as damage;
 * if the file ends first, it is tail.  Fewer bytes than a header's left at
 * the end of a block are trailer and are not checked (at_trailer).
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
 *
 * Recyclable logs (wal.h).  Once the log's start has verified (its id
 * is known), a fragment with another id or in the older format (old
 * bytes of a reused file, whatever they imitate), or bytes that do not
 * verify and whose header does not carry the id, are held like zeros (a
 * pending tail, with any record they cut), unless a good fragment
 * follows in their block: the end of the log if nothing of its own
 * follows, damage if something does.  A header that carries the id but
 * does not verify is damage as in any log (a torn tail, reported as
 * such, if nothing follows).  A file whose offset 0 holds another log's
 * start (a reused file whose new start a power cut lost) is old bytes
 * throughout.
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

    /* A region that is the end of the log if nothing verifies after it:
     * zeros, or in a recyclable log bad or stale bytes. */
    int tail_pending;
    uint64_t tail_start;
    char tail_reason[96];

    int has_log;           /* lsm_wal_reader_set_log was called */
    uint64_t number;       /* its number */
    int recyclable;        /* the log's start verified: id is known */
    uint64_t id;
    int foreign;           /* offset 0 holds another log's start: all old */
    int start_damaged;     /* offset 0 holds a fragment that does not verify */

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

void lsm_wal_reader_set_log(lsm_wal_reader *r, uint64_t number)
{
    r->has_log = 1;
    r->number = number;
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

/* A pending tail region is followed by something: it was damage. */
static void tail_was_damage(lsm_wal_reader *r, uint64_t upto)
{
    if (r->tail_pending) {
        note_damage(r, r->tail_start, upto, r->tail_reason);
        r->tail_pending = 0;
    }
}

/* Holds [start, ...) as a pending tail (the header comment). */
static void hold_tail(lsm_wal_reader *r, uint64_t start, const char *reason)
{
    if (!r->tail_pending) {
        r->tail_pending = 1;
        r->tail_start = start;
        snprintf(r->tail_reason, sizeof r->tail_reason, "%s", reason);
    }
}

/* Drops [start, end) together with the open record, if any, and any
 * pending tail region before it (which is now known not to be tail). */
static void drop(lsm_wal_reader *r, uint64_t start, uint64_t end,
                 const char *reason)
{
    tail_was_damage(r, start);
    if (r->in_record) {
        start = r->rec_start;
        r->in_record = 0;
        lsm_buf_clear(&r->rec);
    }
    note_damage(r, start, end, reason);
}

/* A fragment header at r->block[pos], as check_fragment finds it. */
typedef struct fragment {
    uint8_t type;           /* LSM_WAL_FULL ... LSM_WAL_SYNC_MARK */
    int recyclable;
    int start;              /* the log's start: id is its id */
    uint64_t id;
    size_t hdr, len;
    const char *payload;
} fragment;

enum { FRAG_GOOD, FRAG_STALE, FRAG_BAD, FRAG_TORN };

/* Is the verified recyclable fragment fr at file offset off this log's
 * start (wal.h)? */
static int is_start(const lsm_wal_reader *r, const fragment *fr, uint64_t off)
{
    return off == 0 && fr->type == LSM_WAL_SYNC_MARK &&
           fr->len == LSM_WAL_START_PAYLOAD &&
           lsm_decode_fixed64(fr->payload) == r->number;
}

/* The checks of a recyclable fragment's id and checksum (wal.h): a log's
 * start (fr->start) sets the id the rest must carry. */
static int check_recyclable(const lsm_wal_reader *r, const char *h, size_t pos,
                            fragment *fr, char *reason, size_t cap)
{
    if (!r->has_log) {
        snprintf(reason, cap, "a WAL fragment outside a WAL");
        return FRAG_BAD;
    }
    fr->id = lsm_decode_fixed64(h + LSM_WAL_HEADER);
    if (r->recyclable && fr->id != r->id) {
        snprintf(reason, cap, "a fragment of another log");
        return FRAG_STALE;
    }
    if (lsm_checksum_log((uint8_t)h[6], fr->id, fr->payload, fr->len) !=
        lsm_decode_fixed32(h)) {
        snprintf(reason, cap, "checksum mismatch");
        return FRAG_BAD;
    }
    if (!r->recyclable) {
        fr->start = is_start(r, fr, r->block_off + pos);
        if (!fr->start) {
            snprintf(reason, cap, "old bytes: the log does not start here");
            return FRAG_STALE;
        }
    }
    return FRAG_GOOD;
}

/* Checks the fragment at r->block[pos] (at least LSM_WAL_HEADER bytes
 * left): FRAG_GOOD (verified, and of this log), FRAG_STALE (verified but
 * of another log, or old bytes in a recyclable log), FRAG_BAD, or
 * FRAG_TORN (cut by the end of the file); reason says why when not
 * good. */
static int check_fragment(const lsm_wal_reader *r, size_t pos, fragment *fr,
                          char *reason, size_t cap)
{
    const char *h = r->block + pos;
    size_t room = r->block_len - pos;
    unsigned type = (unsigned char)h[6];
    if (type < LSM_WAL_FULL || type > LSM_WAL_SYNC_MARK + LSM_WAL_RECYCLABLE) {
        snprintf(reason, cap, "unknown fragment type %u", type);
        return FRAG_BAD;
    }
    fr->recyclable = type > LSM_WAL_SYNC_MARK;
    fr->type = (uint8_t)(fr->recyclable ? type - LSM_WAL_RECYCLABLE : type);
    fr->hdr = fr->recyclable ? LSM_WAL_LOG_HEADER : LSM_WAL_HEADER;
    fr->len = (size_t)(unsigned char)h[4] | (size_t)(unsigned char)h[5] << 8;
    if (fr->hdr > room || fr->len > room - fr->hdr) {
        int torn = r->block_len < LSM_WAL_BLOCK &&
                   pos + fr->hdr + fr->len <= LSM_WAL_BLOCK;
        snprintf(reason, cap, torn ? "fragment of %zu bytes truncated by end of file"
                                   : "fragment length %zu past end of block", fr->len);
        return torn ? FRAG_TORN : FRAG_BAD;
    }
    fr->payload = h + fr->hdr;
    fr->start = 0;
    if (fr->recyclable)
        return check_recyclable(r, h, pos, fr, reason, cap);
    if (r->recyclable || r->foreign) {
        snprintf(reason, cap, "a fragment in the older format");
        return FRAG_STALE;
    }
    if (lsm_checksum_typed((uint8_t)type, fr->payload, fr->len) !=
        lsm_decode_fixed32(h)) {
        snprintf(reason, cap, "checksum mismatch");
        return FRAG_BAD;
    }
    return FRAG_GOOD;
}

/* Is there a fragment in the current block, starting after `from`, that
 * verifies (and is of this log)?  Only called on damage: cost up to
 * O(block^2) hashing in a pathological block, typically a few header
 * checks. */
static int good_fragment_follows(const lsm_wal_reader *r, size_t from)
{
    char reason[64];
    fragment fr;
    /* After a damaged start whose id was not adopted, a recyclable
     * fragment that verifies with the id it carries (STALE only for
     * that here) is evidence too: a WAL's start is written before
     * anything and synced before it takes its name (db.c, start_log),
     * so no power cut leaves a damaged start with fragments after it
     * (as for the blocks after: lsm_wal_read, FRAG_STALE). */
    int any_id = r->start_damaged && r->has_log && !r->recyclable && !r->foreign;
    for (size_t p = from; p + LSM_WAL_HEADER <= r->block_len; p++) {
        int rc = check_fragment(r, p, &fr, reason, sizeof reason);
        if (rc == FRAG_GOOD || (any_id && rc == FRAG_STALE && fr.recyclable))
            return 1;
    }
    return 0;
}

/* Does the header at r->block[pos] carry this log's id (a recyclable
 * type and the id)?  Then a fragment there that does not verify was
 * written by this log's writer: a torn write, not old bytes. */
static int names_this_log(const lsm_wal_reader *r, size_t pos)
{
    const char *h = r->block + pos;
    unsigned type = (unsigned char)h[6];
    return r->recyclable && type > LSM_WAL_SYNC_MARK &&
           pos + LSM_WAL_LOG_HEADER <= r->block_len &&
           lsm_decode_fixed64(h + LSM_WAL_HEADER) == r->id;
}

/* Old bytes of a reused or foreign file from `start` on: held as a tail
 * (with the record open there, which they end), not dropped as damage,
 * unless a fragment of this log follows (tail_was_damage). */
static void hold_old_bytes(lsm_wal_reader *r, uint64_t start, const char *reason)
{
    if (r->in_record) {
        start = r->rec_start;
        r->in_record = 0;
        lsm_buf_clear(&r->rec);
    }
    hold_tail(r, start, reason);
}

/* A bad or stale fragment at frag_off: the rest of its block is dropped,
 * noting whether a good fragment follows in that block (see the header
 * comment), or, in a recyclable log where none does and the fragment is
 * not this log's, held as a pending tail with any record it cuts. */
static void drop_rest_of_block(lsm_wal_reader *r, uint64_t frag_off,
                               const char *reason)
{
    int evidence = good_fragment_follows(r, r->pos + 1);
    if (evidence)
        r->damage.before_tail = 1;
    int old = r->recyclable || r->foreign;
    if (!evidence && old && !names_this_log(r, r->pos)) {
        hold_old_bytes(r, frag_off, reason);
    } else {
        drop(r, frag_off, r->block_off + r->block_len, reason);
    }
    r->pos = r->block_len;
}

/* Fewer than a header's bytes, not all zero, end the file at r->pos: a
 * header cut by the end of the file, or, in a recyclable or foreign log,
 * as likely old bytes (too few to carry an id): held as a tail then. */
static void end_cut_header(lsm_wal_reader *r)
{
    const char *reason = "fragment header truncated by end of file";
    uint64_t off = r->block_off + r->pos;
    if (r->recyclable || r->foreign)
        hold_old_bytes(r, off, reason);
    else
        drop(r, off, r->block_off + r->block_len, reason);
}

/* Bytes of a damaged start that may differ from the start this log
 * would have with the id adopted (adopt_id_after_start). */
#define ADOPT_MAX_DAMAGED_BYTES 2

/* Bytes of the block's first LSM_WAL_LOG_HEADER + LSM_WAL_START_PAYLOAD
 * that differ from the start this log has if its id is `id`. */
static int bytes_off_start(const lsm_wal_reader *r, uint64_t id)
{
    char want[LSM_WAL_LOG_HEADER + LSM_WAL_START_PAYLOAD];
    lsm_encode_fixed64(want + LSM_WAL_LOG_HEADER, r->number);
    lsm_wal_encode_header(want, LSM_WAL_SYNC_MARK, 1, id, want + LSM_WAL_LOG_HEADER,
                          LSM_WAL_START_PAYLOAD);
    int differ = 0;
    for (size_t i = 0; i < sizeof want; i++)
        differ += want[i] != r->block[i];
    return differ;
}

/* The log's start (offset 0) is damaged: its id is taken from the
 * fragment where the start ends, if one there verifies with the id it
 * carries and the damaged start is, but for at most
 * ADOPT_MAX_DAMAGED_BYTES bytes, the start of this log's number with
 * that id.  That fragment is then this log's first record (its FOLLOWS
 * mark, for a WAL made by a switch), written with the start -- and for
 * a reused file synced with it -- before the file took the log's name
 * (db.c, start_log).  The fragment alone does not name the log: another
 * log's start, damaged (a file that is old bytes throughout), is
 * followed by that log's first record, and in a log of the first format
 * offset 23 is inside a record's payload (a user's bytes); neither is
 * close to this log's start.  The start's bytes are damage; what
 * follows reads as the log's own (damage before the tail: a replay
 * keeps it only with salvage).  1 if the id was taken. */
static int adopt_id_after_start(lsm_wal_reader *r)
{
    const size_t at = LSM_WAL_LOG_HEADER + LSM_WAL_START_PAYLOAD;
    if (!r->has_log || r->recyclable || r->block_off != 0 ||
        at + LSM_WAL_LOG_HEADER > r->block_len)
        return 0;
    const char *h = r->block + at;
    uint64_t id = lsm_decode_fixed64(h + LSM_WAL_HEADER);
    if ((unsigned char)h[6] <= LSM_WAL_SYNC_MARK ||
        bytes_off_start(r, id) > ADOPT_MAX_DAMAGED_BYTES)
        return 0;
    char reason[64];
    fragment fr;
    r->recyclable = 1;
    r->id = id;
    if (check_fragment(r, at, &fr, reason, sizeof reason) != FRAG_GOOD) {
        r->recyclable = 0;
        r->id = 0;
        return 0;
    }
    r->start_damaged = 1;
    drop(r, 0, at, "damaged start of the log");
    r->pos = at;
    return 1;
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
    r->tail_pending = 0;
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
    if (durable > 0)
        r->marks++;                 /* lsm_wal_reader_marks */
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

/* Is the rest of the block, fewer bytes than a recyclable header, the
 * zero trailer of a recyclable log? */
static int at_trailer(const lsm_wal_reader *r)
{
    size_t left = r->block_len - r->pos;
    return r->recyclable && r->block_len == LSM_WAL_BLOCK &&
           left < LSM_WAL_LOG_HEADER && all_zero(r->block + r->pos, left);
}

/* Zeros from the fragment header at frag_off to the end of the block:
 * the end of the log, or damage if anything follows. */
static void zero_region(lsm_wal_reader *r, uint64_t frag_off)
{
    if (r->in_record)
        drop(r, r->rec_start, r->rec_end, "record cut off by zero-filled space");
    hold_tail(r, frag_off, "zero-filled region");
    r->pos = r->block_len;
}

/* Takes a verified fragment of this log at [off, end): 1 when *out is a
 * record to return, 0 to read on, < 0 on failure. */
static int take_fragment(lsm_wal_reader *r, const fragment *fr, uint64_t off,
                         uint64_t end, lsm_slice *out)
{
    int rc;
    switch (fr->type) {
    case LSM_WAL_SYNC_MARK:
        note_mark(r, fr->payload, fr->len, off, end);
        return 0;
    case LSM_WAL_FULL:
        if (r->in_record)
            drop(r, r->rec_start, r->rec_end, "record missing its LAST fragment");
        return deliver(r, fr->payload, fr->len, end, out);
    case LSM_WAL_FIRST:
        if (r->in_record)
            drop(r, r->rec_start, r->rec_end, "record missing its LAST fragment");
        r->in_record = 1;
        r->rec_start = off;
        lsm_buf_clear(&r->rec);
        return extend_record(r, fr->payload, fr->len, end);
    default:                            /* MIDDLE, LAST */
        if (!r->in_record) {
            drop(r, off, end, fr->type == LSM_WAL_MIDDLE
                 ? "MIDDLE fragment without FIRST" : "LAST fragment without FIRST");
            return 0;
        }
        rc = extend_record(r, fr->payload, fr->len, end);
        if (rc || fr->type != LSM_WAL_LAST || !r->in_record)
            return rc;
        r->in_record = 0;
        return deliver(r, r->rec.data, r->rec.len, end, out);
    }
}

int lsm_wal_read(lsm_wal_reader *r, lsm_slice *out)
{
    char reason[96];
    *out = lsm_slice_make(NULL, 0);
    while (!r->done) {
        if (!r->loaded || r->pos + LSM_WAL_HEADER > r->block_len) {
            if (r->loaded && r->block_len < LSM_WAL_BLOCK) {
                /* Last block: fewer than 7 bytes remain before EOF; in
                 * a reused file, old bytes as likely as a torn header. */
                if (!all_zero(r->block + r->pos, r->block_len - r->pos))
                    end_cut_header(r);
                return finish(r);
            }
            /* Skip the trailer (< 7 bytes, unchecked) of a full block. */
            int rc = load_next_block(r);
            if (rc)
                return rc;
            continue;
        }
        if (at_trailer(r)) {
            r->pos = r->block_len;
            continue;
        }

        const char *h = r->block + r->pos;
        uint64_t frag_off = r->block_off + r->pos;
        if (h[6] == LSM_WAL_ZERO && all_zero(h, r->block_len - r->pos)) {
            r->start_damaged |= frag_off == 0 && r->has_log;
            zero_region(r, frag_off);
            continue;
        }
        fragment fr;
        switch (check_fragment(r, r->pos, &fr, reason, sizeof reason)) {
        case FRAG_TORN:
            if (frag_off == 0 && adopt_id_after_start(r))
                continue;       /* a start's length can be damaged only */
            if (frag_off == 0 && r->has_log) {
                r->start_damaged = 1;
                r->damage.before_tail |= good_fragment_follows(r, r->pos + 1);
            }
            if (r->recyclable || r->foreign) {
                /* Old bytes imitating a header cut by the end of the
                 * file are old bytes; a header of this log's is torn. */
                drop_rest_of_block(r, frag_off, reason);
                continue;
            }
            drop(r, frag_off, r->block_off + r->block_len, reason);
            r->pos = r->block_len;
            continue;
        case FRAG_STALE:
            r->foreign |= frag_off == 0;
            /* After a damaged start, a fragment in the new format is
             * evidence of damage (a WAL's start is synced before it
             * takes its name: db.c, start_log). */
            r->damage.before_tail |= r->start_damaged && fr.recyclable;
            drop_rest_of_block(r, frag_off, reason);
            continue;
        case FRAG_BAD:
            if (frag_off == 0 && adopt_id_after_start(r))
                continue;
            r->start_damaged |= frag_off == 0 && r->has_log;
            drop_rest_of_block(r, frag_off, reason);
            continue;
        }

        /* A verified fragment: a pending tail before it was not tail. */
        uint64_t frag_end = frag_off + fr.hdr + fr.len;
        r->pos += fr.hdr + fr.len;
        tail_was_damage(r, frag_off);
        if (fr.start) {
            r->recyclable = 1;
            r->id = fr.id;
        }
        int rc = take_fragment(r, &fr, frag_off, frag_end, out);
        if (rc)
            return rc;
    }
    return 0;
}
