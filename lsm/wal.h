/*
 * wal.h — the log format used by the write-ahead log and the manifest.
 *
 * A log is a sequence of 32 KiB blocks.  A record is written as one or more
 * fragments, each with a 7-byte header:
 *
 *     checksum fixed32 | length fixed16 | type u8 | payload[length]
 *
 * checksum = lsm_checksum_typed(type, payload).  type is FULL (whole record),
 * or FIRST, MIDDLE..., LAST for a record split across blocks.  A fragment
 * never crosses a block boundary; fewer than 7 bytes left in a block are
 * zero-filled trailer.  Records of any size (up to 4 GiB) are supported.
 * Zeros past the last record (preallocated space, or zeros the writer
 * prefilled: lsm_wal_sync_ahead) are the end of the log, not damage.
 *
 * A SYNC mark is a fragment of its own (never part of a record, never
 * returned by the reader) with a 16-byte payload:
 *
 *     durable fixed64 | ahead fixed64
 *
 * durable: every byte of the log before this offset had been fsync'ed
 * when the mark was appended (so at most the mark's offset).  ahead (at
 * least the mark's end): the writer may write zeros past the last record
 * up to this offset once the sync after the mark completes, and then
 * append records over them.  Appends that extend a file reach
 * the disk in order as far as a power cut can tell (ext4 commits the new
 * size after the data); records written over zeros already on disk do
 * not: a power cut can keep a later page and lose an earlier one.  The
 * marks let the reader tell that apart from corruption (below).  Once a
 * log has announced zeros, the writer appends one just before each sync
 * (23 bytes); when fewer than 23 bytes are left in the block, it first
 * fills them: under 7 with the usual zero trailer, else with padding:
 * SYNC fragments whose payload is not 16 bytes long (ignored).  The
 * final mark of lsm_wal_sync_final starts a block, padded up to it.  Logs
 * written before marks existed have none and read as before.  Binaries
 * older than the marks refuse a log that has one ("unknown fragment type
 * 5"); their salvage would then drop the rest of every block holding a
 * mark, so a store is not to be opened by them (see the README).
 *
 * The reader verifies every fragment.  A damaged or torn region is skipped
 * and reported with its offset and size; whether that is a harmless torn
 * tail (nothing valid follows) or corruption in the middle of the log
 * (valid records follow) is known at the end and decided by the caller.
 * Damage followed by valid records is `unsynced` (as harmless as a torn
 * tail, for a log whose tail may be lost) when it starts below the
 * `ahead` of a mark read before it and no mark read after it, in
 * sequence, says it was durable (a `durable` above its start).  Marks
 * are taken only in sequence, never from the rest of a damaged block
 * (there a file's data could look like one).  What that cannot catch:
 * damage in bytes synced by the last sync before the crash, with no mark
 * read after them -- as a damaged final record cannot be told from a
 * torn one -- and everything after the damage is then dropped with it.
 * lsm_wal_sync_final closes that gap for a log that is done with.
 *
 * Recyclable fragments (the WAL; the manifest keeps the format above).
 * A WAL file whose memtable was flushed may be reused for a later WAL
 * (db.c: recycling): renamed, and its records written over the old
 * ones, so that its syncs change no metadata and it needs no zeros ahead
 * (the cost above: each byte written twice).  The old bytes left past
 * the new records must then read as the end of the log -- and they are
 * file data users wrote, which may imitate fragments of any kind, of
 * any log whose number they guess.  So every fragment of a WAL carries
 * its log's id, 64 random bits drawn when the log is made, in a header
 * of 15 bytes:
 *
 *     checksum fixed32 | length fixed16 | type u8 | id fixed64
 *
 * type is the type above plus LSM_WAL_RECYCLABLE (FULL 6 ... SYNC 10),
 * and checksum = lsm_checksum_log(type, id, payload).  A log's first
 * fragment, at offset 0, is its start: a SYNC fragment (padding to older
 * readers' rules) whose 8-byte payload is the log's number (fixed64).
 * Offset 0 is never user data (every WAL file, new or reused, starts with
 * the start fragment its writer wrote first), so the start binds the id
 * to the number: the reader, told the number (lsm_wal_reader_set_log),
 * learns the id there, and a start naming another number (a reused file
 * whose new start a power cut lost) makes the whole file old bytes.  A
 * start that does not verify (damaged after it was synced) is damage:
 * the id is then taken from the fragment right after it if that one
 * verifies with the id it carries (written and synced with the start:
 * wal_reader.c, adopt_id_after_start) and the damaged start differs in
 * at most 2 bytes from this log's start with that id (not another log's
 * start, nor a first-format record), so a salvage keeps the log.
 * After the start, a fragment with another id, one in the format above,
 * and bytes that do not verify whose header does not carry the id, are
 * held like zeros: the end of the log if nothing of its own follows,
 * damage if something does.  Fewer than 15 bytes left in a block are the
 * zero trailer.  A reused file announces all of its old bytes as `ahead`
 * in the mark its first sync writes, before anything but the start and
 * the FOLLOWS record (db.c) is written over them: records written over
 * old bytes reach the disk out of order as they do over zeros, and are
 * judged the same way.  Binaries older than this format would take such
 * a log for a torn tail ("unknown fragment type 6") and drop it: the
 * manifest records the format (version_edit.c, tag 13), which they
 * refuse.
 */
#ifndef LSM_WAL_H
#define LSM_WAL_H

#include "coding.h"
#include "env.h"

#define LSM_WAL_BLOCK 32768
#define LSM_WAL_HEADER 7

enum lsm_wal_type {
    LSM_WAL_ZERO = 0, /* reserved: zero-filled space */
    LSM_WAL_FULL = 1,
    LSM_WAL_FIRST = 2,
    LSM_WAL_MIDDLE = 3,
    LSM_WAL_LAST = 4,
    LSM_WAL_SYNC_MARK = 5,
};
#define LSM_WAL_MARK_PAYLOAD 16
/* Recyclable fragments: the type above plus this, and a longer header;
 * the start fragment's payload (the log's number). */
#define LSM_WAL_RECYCLABLE 5
#define LSM_WAL_LOG_HEADER 15
#define LSM_WAL_START_PAYLOAD 8
/* The WAL format a manifest records (version_edit.c, tag 13). */
#define LSM_WAL_FORMAT_RECYCLABLE 1

/* The header of a fragment of `type` (LSM_WAL_FULL ... LSM_WAL_SYNC_MARK)
 * whose payload is p[0, n), into h: LSM_WAL_HEADER bytes, or, in a
 * recyclable log, LSM_WAL_LOG_HEADER bytes naming the log's id. */
void lsm_wal_encode_header(char *h, uint8_t type, int recyclable,
                           uint64_t id, const char *p, size_t n);

typedef struct lsm_wal_writer lsm_wal_writer;

/* Takes ownership of f; `offset` is f's current size (0 for a new log). */
int lsm_wal_writer_new(lsm_file *f, uint64_t offset, lsm_wal_writer **out);
/* A writer of recyclable fragments (above) for WAL `number` with id `id`
 * (random: lsm_wal_new_id), from offset 0 of f (its size, as the env
 * reports it, is 0); its first append is preceded by the start fragment.  `reused`: bytes of
 * an earlier log that f holds past offset 0 (the env's open_overwrite; 0
 * for a new file), announced as ahead by the first sync (lsm_wal_sync)
 * and written over without zeros first. */
int lsm_wal_writer_new_log(lsm_file *f, uint64_t number, uint64_t id,
                           uint64_t reused, lsm_wal_writer **out);
/* 64 bits from the kernel's random source, for a log's id. */
uint64_t lsm_wal_new_id(void);
/* Appends a record and, unless manual flush is on, hands it to the kernel
 * before returning (it then survives a crash of the process; power loss
 * takes lsm_wal_sync).  A failure with the log not broken
 * (lsm_wal_broken() == 0, e.g. the disk was full before anything was
 * written) may be retried later. */
int lsm_wal_append(lsm_wal_writer *w, lsm_slice record);
/* on: appended records may stay in the env's user-space buffer until
 * lsm_wal_flush, lsm_wal_sync or close (a crash of the process loses
 * them).  Off by default. */
void lsm_wal_set_manual_flush(lsm_wal_writer *w, int on);
/* Hands every appended record to the kernel. */
int lsm_wal_flush(lsm_wal_writer *w);
/* 1 after a failed append that may have left part of a record. */
int lsm_wal_broken(const lsm_wal_writer *w);
/* fdatasyncs what was appended (after a SYNC mark, on a log that has
 * announced zeros ahead). */
int lsm_wal_sync(lsm_wal_writer *w);
/* lsm_wal_sync for a log that takes no more records (sealed at a memtable
 * switch, or closed), on a log that has announced zeros ahead: a mark at
 * the start of a block and a second fdatasync prove every byte of it
 * synced, to a reader that met damage anywhere before. */
int lsm_wal_sync_final(lsm_wal_writer *w);
/* lsm_wal_sync for a log that goes on taking records synced one by one
 * (a sync write, lsm_sync).  Appending extends the file, so its fdatasync
 * must commit the file system's journal (the size changes); overwriting
 * written blocks does not, and costs about half as much here (env.h
 * prefill).  So after the sync, when fewer than half of
 * LSM_WAL_PREFILL_BYTES are left between the last record and the zeros
 * written past it, and the sync covered less than a quarter of it (a
 * sync after a large burst gains little from no journal commit, and the
 * burst would use up the zeros before the next sync), zeros are written
 * up to LSM_WAL_PREFILL_BYTES past the last record (the env's prefill, then start_writeback on them; best
 * effort: after a failure, not again for that many bytes).  The next sync
 * makes them durable, paying one journal commit as an append would; the
 * syncs after it until they are used up pay none.
 * Cost: each byte of a log synced this way is written twice (zeros, then
 * the record; yet the disk writes less than it did for the journal
 * commits), and one sync in LSM_WAL_PREFILL_BYTES / 2 writes up to
 * LSM_WAL_PREFILL_BYTES of zeros; db.c does without on a nearly full
 * disk.  The zeros read as the end of the log (zero-filled space past
 * the last record, above).  Before the sync it appends a SYNC mark (the
 * header comment) announcing the zeros; zeros are written only up to an
 * announcement that a completed sync made durable. */
#define LSM_WAL_PREFILL_BYTES (1u << 20)
int lsm_wal_sync_ahead(lsm_wal_writer *w);
uint64_t lsm_wal_offset(const lsm_wal_writer *w);
/* The log's file size as far as the writer made it: its records, the
 * zeros prefilled past them, and a reused file's old bytes (at least). */
uint64_t lsm_wal_file_bytes(const lsm_wal_writer *w);
/* Bytes the next lsm_wal_sync_ahead writes: the records appended since
 * the last sync, zeros prefilled since (written out by it too), and the
 * zeros it would write ahead after it (LSM_WAL_PREFILL_BYTES), the mark
 * aside. */
uint64_t lsm_wal_sync_cost(const lsm_wal_writer *w);
/* Starts writing the records appended since the last call to the disk,
 * without waiting, once they are LSM_WAL_WRITEBACK_BYTES or more (the
 * env's start_writeback; RocksDB's wal_bytes_per_sync).  The WAL is
 * fsync'ed whole after its memtable is switched (db.c, old_log), and a
 * sync path waits for that: started early, little is left for that
 * fsync.  Cost: one sync_file_range(2) per 1 MiB appended. */
#define LSM_WAL_WRITEBACK_BYTES (1u << 20)
void lsm_wal_start_writeback(lsm_wal_writer *w);
/* 1 if the env can fsync the log while another thread appends to it
 * (lsm_wal_presync). */
int lsm_wal_can_presync(const lsm_wal_writer *w);
/* fsyncs what the log has handed to the kernel, without touching the
 * writer's state: safe while the head writer appends.  Done before a
 * memtable switch, it leaves the old WAL's final lsm_wal_sync only the
 * records appended meanwhile. */
void lsm_wal_presync(lsm_wal_writer *w);
/* Closes the file (does not sync). */
int lsm_wal_writer_close(lsm_wal_writer *w);

typedef struct lsm_wal_reader lsm_wal_reader;

typedef struct lsm_wal_damage {
    uint64_t dropped_bytes;     /* total bytes skipped as damaged */
    uint64_t first_offset;      /* file offset of the first damage */
    int regions;                /* number of damaged regions */
    /* Set when a valid record was read after damage: the damage is not
     * merely a torn tail. */
    int before_tail;
    /* Set with before_tail when the damage lies in zeros written ahead
     * and no mark shows it was synced (the header comment): records
     * written over them that a power cut left out of order. */
    int unsynced;
    /* With lsm_wal_reader_stop_at_damage: records after the damage, not
     * returned, and their bytes. */
    uint64_t withheld_records, withheld_bytes;
    char first_reason[128];     /* e.g. "checksum mismatch" */
} lsm_wal_damage;

/* Takes ownership of f.  `name` is used in messages. */
int lsm_wal_reader_new(lsm_file *f, const char *name, lsm_wal_reader **out);
/* 1: *rec holds the next record (valid until the next call);
 * 0: end of log; < 0: an I/O error reading the file. */
int lsm_wal_read(lsm_wal_reader *r, lsm_slice *rec);
/* File offset just past the last record returned. */
uint64_t lsm_wal_reader_offset(const lsm_wal_reader *r);
const lsm_wal_damage *lsm_wal_reader_damage(const lsm_wal_reader *r);
/* From now on no record after damage is returned (by default they are,
 * for salvage): the reader reads on to the end only to judge the damage
 * (before_tail, unsynced).  For a replay that keeps a prefix of the log. */
void lsm_wal_reader_stop_at_damage(lsm_wal_reader *r);
/* The log read is WAL `number`: a recyclable log must start with its
 * start fragment (above).  Without it (the manifest) a recyclable
 * fragment is damage. */
void lsm_wal_reader_set_log(lsm_wal_reader *r, uint64_t number);
/* SYNC marks read in sequence so far that a completed sync of the log
 * preceded (durable > 0).  Not counted: a log's first mark when nothing
 * of it was synced before, as the one a reused WAL gets when it is made
 * (db.c: new_log, before the WAL it follows is synced). */
uint64_t lsm_wal_reader_marks(const lsm_wal_reader *r);
void lsm_wal_reader_free(lsm_wal_reader *r);

#endif
