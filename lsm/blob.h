/*
 * blob.h — large values kept out of the tree (WiscKey / BlobDB style).
 *
 * With lsm_options.blob_min_bytes > 0, a put whose value is at least that
 * long is appended once to the store's current blob file (NNNNNN.blob,
 * format in blob.c) by its writer before its WAL record; the WAL,
 * memtable and tables hold an entry of kind LSM_KIND_BLOB whose value is
 * a reference:
 *
 *   varint64 blob file number | varint64 record offset | varint32 length |
 *   fixed32 checksum of the value (lsm_checksum)
 *
 * Reads resolve a reference (lsm_blobs_read), verifying the record's
 * header and the checksum: damage is LSM_CORRUPTION, never data.
 * Flushes and compactions copy references unchanged.
 *
 * Garbage collection (db.c, lsm_db_delete_obsolete): a blob file is
 * deleted when no table of any live version names it (each table's set of
 * blob files is learnt once, by a scan, and kept in its lsm_file_meta)
 * and it is below the floor: every memtable that may hold references
 * (including those pinned by iterators and checkpoints), every write
 * between its blob add and its memtable insert, and every checkpoint
 * copying blob files holds a pin (lsm_blob_pin) whose floor bounds the
 * files it may name; the file being written is never deleted.  A
 * compaction may relocate values out of old files (blob_gc.c), pinning
 * the files it writes until its tables are installed.
 *
 * Holes: a file is deleted only once every value in it is dead, so the
 * space of dead values inside a file still in use is freed in place.
 * Each flush, compaction and table drop lists the records it stops
 * naming (lsm_garbage_add_record) in its edit; once the edit is in the
 * manifest and every version older than it is released (no reader, get,
 * iterator or checkpoint can reach those records: version.h,
 * lsm_vset_take_holes), lsm_db_delete_obsolete punches holes over them
 * (lsm_blobs_punch).  A file with more than one link is shared with a
 * checkpoint, which may still name them: it is left alone.  So deleting
 * data gives its blob space back even on a full disk, where relocation
 * (which must write the live values elsewhere first) cannot run.
 */
#ifndef LSM_BLOB_H
#define LSM_BLOB_H

#include "coding.h"
#include "env.h"

typedef struct lsm_blob_extent lsm_blob_extent;   /* version.h */

typedef struct lsm_blob_ref {
    uint64_t file;
    uint64_t off;          /* of the record header in the file */
    uint32_t len;          /* of the value */
    uint32_t sum;          /* lsm_checksum of the value */
} lsm_blob_ref;

/* Returns 1 if s is a well-formed reference, else 0. */
int lsm_blob_ref_decode(lsm_slice s, lsm_blob_ref *r);
int lsm_blob_ref_encode(const lsm_blob_ref *r, lsm_buf *out);

typedef struct lsm_blobs lsm_blobs;

/* The store's blob files: writer state and a small cache of read handles.
 * Open scans dir for the highest blob file number; a new file is only
 * made at the first lsm_blobs_add (never the file of an earlier session,
 * whose tail may be damaged), and unless read_only the newest existing
 * file is fsync'ed.  file_bytes: rotate past this size. */
int lsm_blobs_open(lsm_env *env, const char *dir, uint64_t file_bytes,
                   int read_only, lsm_blobs **out);
void lsm_blobs_close(lsm_blobs *b);
/* Appends a record holding value (handed to the kernel before it
 * returns: it survives a crash of the process) and sets *ref. */
int lsm_blobs_add(lsm_blobs *b, lsm_slice value, lsm_blob_ref *ref);
/* lsm_blobs_add of n values at once, in order, into one file (rotating
 * only before the first), sets refs[0..n): one lock and write(2)s of the
 * append buffer's size instead of one per value.  On failure no ref is
 * set and none of the records may be named. */
int lsm_blobs_add_many(lsm_blobs *b, const lsm_slice *values, size_t n,
                       lsm_blob_ref *refs);
/* The number of the file being written (or to be continued: the
 * highest in use; 0: none yet). */
uint64_t lsm_blobs_current(lsm_blobs *b);
/* Starts the next file now (fsync'ing the current one) unless the
 * current one holds no value: the current one may then be deleted once
 * nothing names it (the idle pass seals a file mostly garbage, so an rm
 * of everything gives its space back). */
int lsm_blobs_seal(lsm_blobs *b);
/* The highest blob file number found at open (0: none). */
uint64_t lsm_blobs_newest(lsm_blobs *b);
/* Bytes of all blob files (those found at open plus those added), less
 * their holes. */
uint64_t lsm_blobs_bytes(lsm_blobs *b);
/* Bytes of each blob file, by number. */
typedef struct lsm_blob_file_size {
    uint64_t number, bytes;
    uint64_t punched;       /* of them, freed by lsm_blobs_punch (at open:
                               the size less the blocks allocated) */
} lsm_blob_file_size;
/* The blob files now present, sorted by number (*out malloc'ed; the
 * caller frees it). */
int lsm_blobs_files(lsm_blobs *b, lsm_blob_file_size **out, size_t *n);
/* Bytes of a record holding a value of len bytes (header included): what
 * a reference's value takes in its blob file. */
uint64_t lsm_blob_record_bytes(uint32_t len);
/* Records that a value of file number could not be read (relocation
 * leaves such files alone); lsm_blobs_bad tells. */
void lsm_blobs_mark_bad(lsm_blobs *b, uint64_t number);
int lsm_blobs_bad(lsm_blobs *b, uint64_t number);
/* fsyncs the current blob file.  Files are fsync'ed when they are
 * rotated, so after this every blob byte written so far is durable. */
int lsm_blobs_sync(lsm_blobs *b);
/* 1 when lsm_blobs_sync has nothing to do (every blob byte written so
 * far is durable); 0 also while another thread holds the writer (an
 * append, a sync): it never waits for blob I/O. */
int lsm_blobs_synced(lsm_blobs *b);
/* Resolves a reference (the value of a LSM_KIND_BLOB entry) into out
 * (replacing its contents).  LSM_CORRUPTION on a malformed reference, a
 * missing or short file, or a checksum mismatch. */
int lsm_blobs_read(lsm_blobs *b, lsm_slice ref, lsm_buf *out);

/* Bytes a scan reads of a blob file at once (lsm_blobs_read_window). */
#define LSM_BLOB_WINDOW (512u << 10)

/* Part of one blob file read ahead by a scan: [off, off + buf.len). */
typedef struct lsm_blob_window {
    uint64_t file;      /* 0: empty */
    uint64_t off;
    lsm_buf buf;
} lsm_blob_window;

/* lsm_blobs_read for a scan, which mostly reads records in the order they
 * were written (backward: in reverse): a record inside w is taken from
 * it; otherwise w is refilled with LSM_BLOB_WINDOW bytes (or the record,
 * if larger) from the record's offset on (backward: ending with the
 * record).  *out points into w until the next call.  The same
 * checks as lsm_blobs_read.  Cost: one pread(2) per window instead of one
 * per value (16 KiB file blocks: 32x fewer; cold, each small read costs
 * ~16 us of system time here, a 1 MiB one less than 2 us per 16 KiB);
 * bytes past the last record a scan wants are read for nothing (at most
 * one window per scan, from the page cache the next scan reads too). */
int lsm_blobs_read_window(lsm_blobs *b, lsm_slice ref, int backward,
                          lsm_blob_window *w, lsm_slice *out);

/* Frees the space of dead records (holes: blob.h's header): the whole
 * file system blocks inside each of the n extents (any order; ext is
 * sorted in place), in files no checkpoint shares.  The caller
 * guarantees that nothing can read them any more (lsm_vset_take_holes).
 * Failures only leave the space in use (relocation can still reclaim
 * it).  Returns the bytes freed. */
uint64_t lsm_blobs_punch(lsm_blobs *b, lsm_blob_extent *ext, size_t n);

/* A pin: while registered, no blob file numbered >= floor is deleted. */
typedef struct lsm_blob_pin {
    uint64_t floor;
    struct lsm_blob_pin *prev, *next;
} lsm_blob_pin;

/* Registers p with the given floor (UINT64_MAX: pins nothing yet). */
void lsm_blobs_pin(lsm_blobs *b, lsm_blob_pin *p, uint64_t floor);
/* Registers p with the number of the file being written: every reference
 * an lsm_blobs_add after this returns is at or above it. */
void lsm_blobs_pin_writes(lsm_blobs *b, lsm_blob_pin *p);
/* Lowers p's floor to file if it is below (a memtable took a reference). */
void lsm_blobs_pin_lower(lsm_blobs *b, lsm_blob_pin *p, uint64_t file);
void lsm_blobs_unpin(lsm_blobs *b, lsm_blob_pin *p);
/* Lowest floor of the pins and the number of the file being written:
 * only files below it may be deleted.  0 until lsm_blobs_enable_gc,
 * while no blob file exists, and if b is NULL (not open). */
uint64_t lsm_blobs_floor(lsm_blobs *b);
/* Called once the open has replayed the WALs (every memtable pinned). */
void lsm_blobs_enable_gc(lsm_blobs *b);
/* Deletes blob file number if it is still below the floor (rechecked
 * under the pin lock, so a pin registered after the caller judged it
 * wins); closes its cached handle and drops its bytes from the total.
 * Returns 1 if it was deleted. */
int lsm_blobs_delete(lsm_blobs *b, uint64_t number);

#endif
