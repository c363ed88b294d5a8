/*
 * blob.c — blob files: large values written once, outside the tree.
 *
 * File format (NNNNNN.blob, append only):
 *
 *   "LSMBLOB1"                                    8-byte magic
 *   record*
 *   record = fixed32 value length | fixed32 lsm_checksum(value) | value
 *
 * A reference (blob.h) names the record's offset, the value's length and
 * its checksum; a read checks that the record header repeats both and
 * that the bytes read hash to them, so a damaged, short or missing file
 * reads as LSM_CORRUPTION.
 *
 * Durability: lsm_blobs_add hands the record to the kernel (write(2))
 * before it returns, and the writer appends its WAL record (which names
 * the reference) only after, so whatever survives a process crash in the
 * WAL has its blob bytes.  A sync write fsyncs the blob file before its
 * WAL record (db.c); a file is fsync'ed before the next one is started,
 * so a synced file implies every older one is.  After power loss an
 * unsynced WAL record may name bytes the blob file lost or holds damaged:
 * recovery reads and verifies every blob value the WAL names and stops
 * replaying at the first record naming one that fails (db_open.c), as at
 * a torn tail, so only unsynced writes are lost and a prefix survives.
 * Only the newest blob file at open can have lost unsynced bytes (older
 * ones were fsync'ed at rotation or by the open after them): damage in an
 * older one is corruption, and the open fails unless salvage is set.
 * (The memtable is charged the blob values' bytes, memtable.h, so this
 * reads back at most what replaying a WAL without blobs would.)
 * A flush fsyncs the blob files before its table replaces the WAL.
 *
 * Full disk: an add reserves its record's space first (lsm_file_reserve,
 * as the WAL does), so LSM_NO_SPACE leaves nothing written, the file goes
 * on at the same offset and the store stays writable (the writer keeps
 * that value inline: db.c, split_op).  Where the reserve
 * guarantees nothing (no fallocate) a refused write may leave part of a
 * record after the last named one: that file is written no further
 * (abandon_tail) and the next add starts a new one.  No reference names
 * bytes past the last acknowledged record, so reads, recovery and a
 * newest file's torn tail never depend on them.
 *
 * Blob file numbers are their own counter (the highest *.blob in the
 * directory + 1 at open), apart from the table/WAL counter (the suffix
 * differs, so they never collide).  A number is never reused: only files
 * below the floor (at most wnumber) are deleted, so the highest file
 * always exists (made durable, with its directory entry, before anything
 * names it) and each session's new files are numbered above it; sealing
 * (below) starts the next file rather than leaving none open.  A blob file
 * is deleted only when nothing can name it any more (blob.h: garbage
 * collection); live values move only by relocation in compactions
 * (lsm_options.blob_gc_age_percent, blob_gc.c); until then the
 * blocks of its dead values are freed in place (holes, blob.h).
 *
 * Cost: an add is one write(2) of 8 + len bytes under a mutex (a batch's
 * values together: one writev(2) per 128 values, lsm_blobs_add_many); a
 * read is one pread of 8 + len bytes through a small cache of open
 * handles.  Pins and deletions (blob.h) take their own mutex, never held
 * across a write (a deletion holds it for one unlink), so a memtable
 * switch or the obsolete-file pass, under the DB mutex, never waits for a
 * blob write.  The file's bytes are left to the kernel's writeback until
 * a sync (a flush, a rotation, a sync write): starting it every 1 MiB, as
 * for the WAL, let a single writer go ~25 % faster but, measured with
 * fsbench mixed, raised the metadata loop's p99 beside 4 writers
 * (median 1.9 -> 2.5 ms): the writers waited less and took the CPU.
 */
#include "blob.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "filename.h"
#include "lsm.h"
#include "version.h"

#define BLOB_MAGIC "LSMBLOB1"
#define BLOB_MAGIC_LEN 8
#define BLOB_HEADER 8
#define READ_SLOTS 8

typedef struct read_slot {
    uint64_t number;        /* 0: empty */
    lsm_file *f;
    int users;
    int doomed;             /* its file was deleted: close when idle */
    uint64_t last_use;
} read_slot;

struct lsm_blobs {
    lsm_env *env;
    char *dir;
    uint64_t file_bytes;

    pthread_mutex_t wmu;    /* the writer's state (wnumber: also pmu) */
    lsm_file *wf;           /* current file, NULL until the first add */
    uint64_t wnumber;       /* its number; the highest in use */
    uint64_t wsize;
    uint64_t wsynced;       /* bytes of it fsync'ed */
    _Atomic uint64_t total; /* bytes of every blob file, less holes */
    lsm_blob_file_size *files;  /* (pmu) present files, sorted; the bytes
                                   of the one being written: wbytes */
    size_t nfiles, cap_files;
    _Atomic uint64_t wbytes;    /* bytes of file wnumber */
    uint64_t *bad;              /* (pmu) lsm_blobs_mark_bad */
    size_t nbad;
    uint64_t newest;        /* highest number found at open */
    pthread_mutex_t pmu;    /* pins, gc, deletions; taken after wmu, before
                               rmu; never held across a write */
    lsm_blob_pin pins;      /* list head (pmu) */
    int gc;                 /* lsm_blobs_enable_gc was called (pmu) */

    pthread_mutex_t hmu;    /* holes: one punch at a time, so each
                               measures the blocks it alone freed */
    pthread_mutex_t rmu;    /* read handle cache */
    read_slot slots[READ_SLOTS];
    uint64_t clock;
};

int lsm_blob_ref_decode(lsm_slice s, lsm_blob_ref *r)
{
    return lsm_get_varint64(&s, &r->file) && lsm_get_varint64(&s, &r->off) &&
           lsm_get_varint32(&s, &r->len) && lsm_get_fixed32(&s, &r->sum) &&
           s.len == 0 && r->file > 0 && r->off >= BLOB_MAGIC_LEN;
}

int lsm_blob_ref_encode(const lsm_blob_ref *r, lsm_buf *out)
{
    if (lsm_buf_put_varint64(out, r->file) || lsm_buf_put_varint64(out, r->off) ||
        lsm_buf_put_varint32(out, r->len) || lsm_buf_put_fixed32(out, r->sum))
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    return LSM_OK;
}

static char *blob_path(const lsm_blobs *b, uint64_t number)
{
    return lsm_filename(b->dir, LSM_FILE_BLOB, number);
}

/* Size of blob file number (0 if it cannot be read) and, if punched is
 * not NULL, how much of it holds no blocks (holes). */
static uint64_t file_size(const lsm_blobs *b, uint64_t number, uint64_t *punched)
{
    char *path = blob_path(b, number);
    lsm_file *f;
    uint64_t size = 0, alloc = 0;
    if (path && b->env->open_read(b->env, path, &f) == LSM_OK) {
        if (f->ops->size(f, &size))
            size = 0;
        if (punched && (!f->ops->allocated || f->ops->allocated(f, &alloc)))
            alloc = size;
        f->ops->close(f);
    }
    free(path);
    if (punched)
        *punched = size > alloc ? size - alloc : 0;
    return size;
}

uint64_t lsm_blob_record_bytes(uint32_t len)
{
    return BLOB_HEADER + (uint64_t)len;
}

/* Appends file number (higher than any listed) to b->files (pmu held or
 * not yet shared). */
static int files_push(lsm_blobs *b, uint64_t number, uint64_t bytes,
                      uint64_t punched)
{
    if (b->nfiles == b->cap_files) {
        size_t cap = b->cap_files ? 2 * b->cap_files : 16;
        lsm_blob_file_size *p = realloc(b->files, cap * sizeof *p);
        if (!p)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        b->files = p;
        b->cap_files = cap;
    }
    size_t i = b->nfiles;
    while (i > 0 && b->files[i - 1].number > number) {   /* open: any order */
        b->files[i] = b->files[i - 1];
        i--;
    }
    b->files[i] = (lsm_blob_file_size){ number, bytes, punched };
    b->nfiles++;
    return LSM_OK;
}

int lsm_blobs_files(lsm_blobs *b, lsm_blob_file_size **out, size_t *n)
{
    pthread_mutex_lock(&b->pmu);
    lsm_blob_file_size *v = malloc((b->nfiles ? b->nfiles : 1) * sizeof *v);
    if (v) {
        for (size_t i = 0; i < b->nfiles; i++) {
            v[i] = b->files[i];
            if (v[i].number == b->wnumber)
                v[i].bytes = atomic_load_explicit(&b->wbytes, memory_order_relaxed);
        }
        *n = b->nfiles;
    }
    pthread_mutex_unlock(&b->pmu);
    *out = v;
    return v ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
}

void lsm_blobs_mark_bad(lsm_blobs *b, uint64_t number)
{
    pthread_mutex_lock(&b->pmu);
    uint64_t *p = realloc(b->bad, (b->nbad + 1) * sizeof *p);
    if (p) {
        b->bad = p;
        b->bad[b->nbad++] = number;
    }
    pthread_mutex_unlock(&b->pmu);
}

int lsm_blobs_bad(lsm_blobs *b, uint64_t number)
{
    int bad = 0;
    pthread_mutex_lock(&b->pmu);
    for (size_t i = 0; !bad && i < b->nbad; i++)
        bad = b->bad[i] == number;
    pthread_mutex_unlock(&b->pmu);
    return bad;
}

uint64_t lsm_blobs_current(lsm_blobs *b)
{
    pthread_mutex_lock(&b->pmu);
    uint64_t n = b->wnumber;
    pthread_mutex_unlock(&b->pmu);
    return n;
}

uint64_t lsm_blobs_newest(lsm_blobs *b)
{
    return b->newest;
}

uint64_t lsm_blobs_bytes(lsm_blobs *b)
{
    return atomic_load_explicit(&b->total, memory_order_relaxed);
}

int lsm_blobs_open(lsm_env *env, const char *dir, uint64_t file_bytes,
                   int read_only, lsm_blobs **out)
{
    lsm_blobs *b = calloc(1, sizeof *b);
    if (!b || !(b->dir = strdup(dir))) {
        free(b);
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    }
    b->env = env;
    b->file_bytes = file_bytes;
    char **names;
    size_t n;
    int rc = env->list_dir(env, dir, &names, &n);
    if (rc) {
        free(b->dir);
        free(b);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t number;
        if (lsm_parse_filename(names[i], &number) != LSM_FILE_BLOB)
            continue;
        if (number > b->wnumber)
            b->wnumber = number;
        uint64_t punched;
        uint64_t size = file_size(b, number, &punched);
        b->total += size - punched;     /* file_size: punched <= size */
        if (rc == LSM_OK)
            rc = files_push(b, number, size, punched);
        if (number == b->wnumber)
            b->wbytes = size;
    }
    lsm_env_free_names(names, n);
    if (rc) {
        free(b->files);
        free(b->dir);
        free(b);
        return rc;
    }
    b->newest = b->wnumber;
    /* Only the newest file can hold unsynced bytes (files are fsync'ed
     * when rotated); recovery may flush references into it, and a flush
     * syncs the current file only, so it is made durable now. */
    char *path = b->wnumber && !read_only ? blob_path(b, b->wnumber) : NULL;
    lsm_file *f;
    if (path && (rc = env->open_append(env, path, &f)) == LSM_OK) {
        rc = f->ops->sync(f);
        f->ops->close(f);
    }
    free(path);
    if (rc) {
        free(b->files);
        free(b->dir);
        free(b);
        return rc;
    }
    pthread_mutex_init(&b->wmu, NULL);
    pthread_mutex_init(&b->pmu, NULL);
    pthread_mutex_init(&b->hmu, NULL);
    pthread_mutex_init(&b->rmu, NULL);
    b->pins.prev = b->pins.next = &b->pins;
    *out = b;
    return LSM_OK;
}

void lsm_blobs_close(lsm_blobs *b)
{
    if (!b)
        return;
    if (b->wf)
        b->wf->ops->close(b->wf);
    for (int i = 0; i < READ_SLOTS; i++)
        if (b->slots[i].f)
            b->slots[i].f->ops->close(b->slots[i].f);
    pthread_mutex_destroy(&b->wmu);
    pthread_mutex_destroy(&b->pmu);
    pthread_mutex_destroy(&b->hmu);
    pthread_mutex_destroy(&b->rmu);
    free(b->bad);
    free(b->files);
    free(b->dir);
    free(b);
}

/* Hands what the file buffers to the kernel (wmu held). */
static int flush_file(lsm_file *f)
{
    return f->ops->flush ? f->ops->flush(f) : LSM_OK;
}

/* After a failed append the file may end in part of a record, and its
 * handle may still hold bytes that write(2) refused, which every later
 * flush, sync or close would retry: the handle is dropped (its close may
 * hand those bytes over or fail again; nothing names them either way) and
 * the next add rotates (wmu held).  The file keeps its place as wnumber,
 * so it is fsync'ed through a fresh handle (writer_handle) before any
 * newer file starts or a sync write's WAL record is synced (Linux reports
 * a writeback error not yet seen to a descriptor opened after it). */
static void abandon_tail(lsm_blobs *b)
{
    b->wf->ops->close(b->wf);
    b->wf = NULL;
    b->wsize = UINT64_MAX;
    b->wsynced = 0;
}

/* Reopens an abandoned file for its fsync (wmu held; wf NULL and wsize
 * UINT64_MAX only after abandon_tail: the first add finds wsize 0). */
static int writer_handle(lsm_blobs *b)
{
    if (b->wf || b->wsize != UINT64_MAX)
        return LSM_OK;
    char *path = blob_path(b, b->wnumber);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int rc = b->env->open_append(b->env, path, &b->wf);
    if (rc)
        b->wf = NULL;
    free(path);
    return rc;
}

/* Starts the next blob file, fsync'ing the current one first (wmu held). */
static int rotate(lsm_blobs *b)
{
    int hrc = writer_handle(b);
    if (hrc)
        return hrc;
    if (b->wf) {
        int rc = flush_file(b->wf);
        if (!rc)
            rc = b->wf->ops->sync(b->wf);
        if (rc == LSM_NO_SPACE)     /* writeback failed: not a full disk a
                                       caller may work around (db.c) */
            rc = lsm_fail(LSM_IO_ERROR, "blob file %06" PRIu64 ": %s",
                          b->wnumber, lsm_last_error());
        if (rc)
            return rc;
        b->wf->ops->close(b->wf);
        b->wf = NULL;
    }
    char *path = blob_path(b, b->wnumber + 1);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_file *f;
    int rc = b->env->open_write(b->env, path, &f);
    if (rc == LSM_OK) {
        rc = f->ops->append(f, BLOB_MAGIC, BLOB_MAGIC_LEN);
        if (!rc)
            rc = flush_file(f);
        if (!rc)
            rc = b->env->sync_dir(b->env, b->dir);   /* its name survives */
        if (rc) {
            f->ops->close(f);
            b->env->unlink(b->env, path);
        }
    }
    free(path);
    if (rc)
        return rc;
    pthread_mutex_lock(&b->pmu);
    rc = files_push(b, b->wnumber + 1, BLOB_MAGIC_LEN, 0);
    if (rc == LSM_OK) {
        /* The file written so far keeps its final size in the list. */
        for (size_t i = 0; i < b->nfiles; i++)
            if (b->files[i].number == b->wnumber)
                b->files[i].bytes = atomic_load_explicit(&b->wbytes,
                                                         memory_order_relaxed);
        b->wnumber++;
        atomic_store_explicit(&b->wbytes, BLOB_MAGIC_LEN, memory_order_relaxed);
    }
    pthread_mutex_unlock(&b->pmu);
    if (rc) {
        f->ops->close(f);
        return rc;
    }
    b->wf = f;
    b->wsize = BLOB_MAGIC_LEN;
    b->wsynced = 0;
    atomic_fetch_add_explicit(&b->total, BLOB_MAGIC_LEN, memory_order_relaxed);
    return LSM_OK;
}

/* Appends the n records (headers from refs[i].len/.sum) and hands them
 * to the kernel (wmu held, the file open and reserved), RECORDS_PER_CALL
 * at a time in one writev(2) from the callers' memory (lsm_file_appendv):
 * a batch of 4 KiB values costs a few calls instead of one per value,
 * no copy into a buffer, and the page cache is filled in large runs
 * instead of zeroing and filling each page in two parts. */
#define RECORDS_PER_CALL 128
static int append_records(lsm_blobs *b, const lsm_slice *values, size_t n,
                          const lsm_blob_ref *refs)
{
    char hdr[RECORDS_PER_CALL][BLOB_HEADER];
    struct iovec iov[2 * RECORDS_PER_CALL];
    int rc = LSM_OK;
    for (size_t at = 0; at < n && !rc; at += RECORDS_PER_CALL) {
        size_t k = n - at < RECORDS_PER_CALL ? n - at : RECORDS_PER_CALL;
        for (size_t i = 0; i < k; i++) {
            lsm_encode_fixed32(hdr[i], refs[at + i].len);
            lsm_encode_fixed32(hdr[i] + 4, refs[at + i].sum);
            iov[2 * i] = (struct iovec){ hdr[i], BLOB_HEADER };
            iov[2 * i + 1] = (struct iovec){ (void *)values[at + i].data,
                                             values[at + i].len };
        }
        rc = lsm_file_appendv(b->wf, iov, 2 * k);
    }
    return rc;
}

int lsm_blobs_add_many(lsm_blobs *b, const lsm_slice *values, size_t n,
                       lsm_blob_ref *refs)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (values[i].len > UINT32_MAX)
            return lsm_fail(LSM_INVALID, "blob value too long");
        refs[i].len = (uint32_t)values[i].len;
        refs[i].sum = lsm_checksum(values[i].data, values[i].len);
        bytes += BLOB_HEADER + values[i].len;
    }
    pthread_mutex_lock(&b->wmu);
    int rc = LSM_OK;
    if (!b->wf || b->wsize >= b->file_bytes)
        rc = rotate(b);
    /* Space for every record first, as the WAL does: a full disk fails
     * the add with LSM_NO_SPACE before any byte of it is written, and the
     * file goes on at the same offset. */
    if (!rc)
        rc = lsm_file_reserve(b->wf, bytes);
    if (!rc) {
        rc = append_records(b, values, n, refs);
        if (rc == LSM_NO_SPACE) {
            abandon_tail(b);
        } else if (rc) {
            /* An I/O error: the handle keeps the refused bytes, so the
             * next sync (or the rotation's) fails too and the store turns
             * read-only (db.c), as a failed WAL write does. */
            b->wsize = UINT64_MAX;
        } else {
            for (size_t i = 0; i < n; i++) {
                refs[i].file = b->wnumber;
                refs[i].off = b->wsize;
                b->wsize += BLOB_HEADER + values[i].len;
            }
            atomic_fetch_add_explicit(&b->total, bytes, memory_order_relaxed);
            atomic_fetch_add_explicit(&b->wbytes, bytes, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&b->wmu);
    return rc;
}

int lsm_blobs_add(lsm_blobs *b, lsm_slice value, lsm_blob_ref *ref)
{
    return lsm_blobs_add_many(b, &value, 1, ref);
}

int lsm_blobs_seal(lsm_blobs *b)
{
    pthread_mutex_lock(&b->wmu);
    /* Open (abandon_tail: wsize UINT64_MAX) and holding a value; or not
     * yet written this session (wf NULL, wsize 0): the newest file of an
     * earlier one, if it holds a value. */
    int full = b->wf || b->wsize == UINT64_MAX
                   ? b->wsize > BLOB_MAGIC_LEN
                   : b->wnumber > 0 &&
                         atomic_load_explicit(&b->wbytes, memory_order_relaxed) >
                             BLOB_MAGIC_LEN;
    int rc = full ? rotate(b) : LSM_OK;
    pthread_mutex_unlock(&b->wmu);
    return rc;
}

int lsm_blobs_sync(lsm_blobs *b)
{
    pthread_mutex_lock(&b->wmu);
    int rc = writer_handle(b);
    if (!rc && b->wf && b->wsynced < b->wsize) {
        rc = b->wf->ops->sync(b->wf);
        if (rc == LSM_OK)
            b->wsynced = b->wsize;
    }
    pthread_mutex_unlock(&b->wmu);
    return rc;
}

int lsm_blobs_synced(lsm_blobs *b)
{
    if (pthread_mutex_trylock(&b->wmu) != 0)
        return 0;                    /* held across an append or a sync */
    /* No file: none yet (wsize 0), or an abandoned one to reopen and
     * sync (wsize UINT64_MAX, writer_handle). */
    int synced = b->wf ? b->wsynced >= b->wsize : b->wsize != UINT64_MAX;
    pthread_mutex_unlock(&b->wmu);
    return synced;
}

/* A read handle for file number, from the cache or opened (and cached,
 * replacing the least recently used idle slot).  *slot is -1 when the
 * handle is not cached and the caller closes it. */
static int get_handle(lsm_blobs *b, uint64_t number, lsm_file **f, int *slot)
{
    pthread_mutex_lock(&b->rmu);
    for (int i = 0; i < READ_SLOTS; i++)
        if (b->slots[i].number == number && !b->slots[i].doomed) {
            b->slots[i].users++;
            b->slots[i].last_use = ++b->clock;
            *f = b->slots[i].f;
            *slot = i;
            pthread_mutex_unlock(&b->rmu);
            return LSM_OK;
        }
    pthread_mutex_unlock(&b->rmu);
    char *path = blob_path(b, number);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int rc = b->env->open_read(b->env, path, f);
    if (rc && !b->env->exists(b->env, path))
        rc = lsm_fail(LSM_CORRUPTION, "%s: blob file missing", path);
    free(path);
    if (rc)
        return rc;
    *slot = -1;
    pthread_mutex_lock(&b->rmu);
    int victim = -1;
    for (int i = 0; i < READ_SLOTS; i++) {
        if (b->slots[i].number == number) {   /* another reader cached it */
            victim = -1;
            break;
        }
        if (b->slots[i].users == 0 &&
            (victim < 0 || b->slots[i].last_use < b->slots[victim].last_use))
            victim = i;
    }
    lsm_file *old = NULL;
    if (victim >= 0) {
        old = b->slots[victim].f;
        b->slots[victim] = (read_slot){ .number = number, .f = *f, .users = 1,
                                        .last_use = ++b->clock };
        *slot = victim;
    }
    pthread_mutex_unlock(&b->rmu);
    if (old)
        old->ops->close(old);
    return LSM_OK;
}

static void put_handle(lsm_blobs *b, lsm_file *f, int slot)
{
    if (slot < 0) {
        f->ops->close(f);
        return;
    }
    lsm_file *doomed = NULL;
    pthread_mutex_lock(&b->rmu);
    if (--b->slots[slot].users == 0 && b->slots[slot].doomed) {
        doomed = b->slots[slot].f;
        b->slots[slot] = (read_slot){ 0 };
    }
    pthread_mutex_unlock(&b->rmu);
    if (doomed)
        doomed->ops->close(doomed);
}

/* Reads up to `want` bytes of blob file `file` at `off` into buf (*got:
 * how many; fewer at the end of the file). */
static int read_at(lsm_blobs *b, uint64_t file, uint64_t off, char *buf,
                   size_t want, size_t *got)
{
    lsm_file *f;
    int slot = -1;
    int rc = get_handle(b, file, &f, &slot);
    if (rc)
        return rc;
    rc = f->ops->pread(f, off, buf, want, got);
    put_handle(b, f, slot);
    return rc;
}

/* p: the `have` bytes read at r's record.  The value, once the record's
 * header repeats r's length and checksum and the value hashes to it. */
static int check_record(const lsm_blob_ref *r, const char *p, size_t have,
                        lsm_slice *value)
{
    if (have < BLOB_HEADER + (size_t)r->len)
        return lsm_fail(LSM_CORRUPTION, "blob file %06" PRIu64 " short at %" PRIu64,
                        r->file, r->off);
    if (lsm_decode_fixed32(p) != r->len || lsm_decode_fixed32(p + 4) != r->sum ||
        lsm_checksum(p + BLOB_HEADER, r->len) != r->sum)
        return lsm_fail(LSM_CORRUPTION,
                        "blob file %06" PRIu64 ": checksum mismatch at %" PRIu64,
                        r->file, r->off);
    *value = lsm_slice_make(p + BLOB_HEADER, r->len);
    return LSM_OK;
}

int lsm_blobs_read(lsm_blobs *b, lsm_slice refs, lsm_buf *out)
{
    lsm_blob_ref r;
    if (!lsm_blob_ref_decode(refs, &r))
        return lsm_fail(LSM_CORRUPTION, "malformed blob reference");
    lsm_buf_clear(out);
    size_t want = BLOB_HEADER + (size_t)r.len, got = 0;
    if (lsm_buf_reserve(out, want))
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_slice v;
    int rc = read_at(b, r.file, r.off, out->data, want, &got);
    if (rc == LSM_OK)
        rc = check_record(&r, out->data, got, &v);
    if (rc)
        return rc;
    memmove(out->data, v.data, v.len);
    out->len = v.len;
    return LSM_OK;
}

int lsm_blobs_read_window(lsm_blobs *b, lsm_slice refs, int backward,
                          lsm_blob_window *w, lsm_slice *out)
{
    lsm_blob_ref r;
    if (!lsm_blob_ref_decode(refs, &r))
        return lsm_fail(LSM_CORRUPTION, "malformed blob reference");
    size_t need = BLOB_HEADER + (size_t)r.len;
    int inside = w->file == r.file && r.off >= w->off &&
                 r.off - w->off <= w->buf.len && need <= w->buf.len - (r.off - w->off);
    if (!inside) {
        size_t want = need > LSM_BLOB_WINDOW ? need : LSM_BLOB_WINDOW, got = 0;
        uint64_t from = r.off;
        if (backward)        /* the window ends with the record */
            from = r.off + need > want ? r.off + need - want : 0;
        w->file = 0;
        lsm_buf_clear(&w->buf);
        if (lsm_buf_reserve(&w->buf, want))
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        int rc = read_at(b, r.file, from, w->buf.data, want, &got);
        if (rc)
            return rc;
        w->file = r.file;
        w->off = from;
        w->buf.len = got;
    }
    size_t at = (size_t)(r.off - w->off);
    return check_record(&r, w->buf.data + at, w->buf.len - at, out);
}

/* --- holes (blob.h) --------------------------------------------------------- */

static int cmp_extent(const void *x, const void *y)
{
    const lsm_blob_extent *a = x, *b = y;
    if (a->file != b->file)
        return a->file < b->file ? -1 : 1;
    return (a->off > b->off) - (a->off < b->off);
}

/* Punches the n sorted extents of file number, adjacent ones as one;
 * returns the bytes freed. */
static uint64_t punch_file(lsm_blobs *b, uint64_t number,
                           const lsm_blob_extent *ext, size_t n)
{
    char *path = blob_path(b, number);
    lsm_file *f;
    if (!path || b->env->open_append(b->env, path, &f) != LSM_OK) {
        free(path);             /* deleted meanwhile: nothing to free */
        return 0;
    }
    free(path);
    uint64_t total = 0;
    for (size_t i = 0; i < n && f->ops->punch_hole;) {
        uint64_t off = ext[i].off, end = off + ext[i].len, freed;
        for (i++; i < n && ext[i].off <= end; i++)
            if (ext[i].off + ext[i].len > end)
                end = ext[i].off + ext[i].len;
        if (f->ops->punch_hole(f, off, end - off, &freed) != LSM_OK)
            break;
        total += freed;
    }
    f->ops->close(f);
    return total;
}

uint64_t lsm_blobs_punch(lsm_blobs *b, lsm_blob_extent *ext, size_t n)
{
    qsort(ext, n, sizeof *ext, cmp_extent);
    uint64_t total = 0;
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && ext[j].file == ext[i].file; j++)
            ;
        /* posix_punch_hole measures what it freed by the file's blocks
         * before and after: another punch of the file between would be
         * counted twice. */
        pthread_mutex_lock(&b->hmu);
        uint64_t freed = punch_file(b, ext[i].file, ext + i, j - i);
        pthread_mutex_unlock(&b->hmu);
        if (freed == 0)
            continue;
        pthread_mutex_lock(&b->pmu);    /* unless deleted meanwhile */
        for (size_t k = 0; k < b->nfiles; k++) {
            lsm_blob_file_size *fs = &b->files[k];
            if (fs->number != ext[i].file)
                continue;
            uint64_t bytes = fs->number == b->wnumber
                                 ? atomic_load_explicit(&b->wbytes, memory_order_relaxed)
                                 : fs->bytes;
            uint64_t room = bytes > fs->punched ? bytes - fs->punched : 0;
            if (freed > room)               /* holes never exceed the file */
                freed = room;
            fs->punched += freed;
            total += freed;
            atomic_fetch_sub_explicit(&b->total, freed, memory_order_relaxed);
        }
        pthread_mutex_unlock(&b->pmu);
    }
    return total;
}

/* --- pins and deletion (blob.h: garbage collection) ---------------------- */

static void pin_locked(lsm_blobs *b, lsm_blob_pin *p, uint64_t floor)
{
    p->floor = floor;
    p->next = b->pins.next;
    p->prev = &b->pins;
    b->pins.next->prev = p;
    b->pins.next = p;
}

void lsm_blobs_pin(lsm_blobs *b, lsm_blob_pin *p, uint64_t floor)
{
    pthread_mutex_lock(&b->pmu);
    pin_locked(b, p, floor);
    pthread_mutex_unlock(&b->pmu);
}

void lsm_blobs_pin_writes(lsm_blobs *b, lsm_blob_pin *p)
{
    /* An add uses file wnumber or rotates to a higher one. */
    pthread_mutex_lock(&b->pmu);
    pin_locked(b, p, b->wnumber);
    pthread_mutex_unlock(&b->pmu);
}

void lsm_blobs_pin_lower(lsm_blobs *b, lsm_blob_pin *p, uint64_t file)
{
    pthread_mutex_lock(&b->pmu);
    if (file < p->floor)
        p->floor = file;
    pthread_mutex_unlock(&b->pmu);
}

void lsm_blobs_unpin(lsm_blobs *b, lsm_blob_pin *p)
{
    pthread_mutex_lock(&b->pmu);
    p->prev->next = p->next;
    p->next->prev = p->prev;
    p->prev = p->next = p;
    pthread_mutex_unlock(&b->pmu);
}

static uint64_t floor_locked(lsm_blobs *b)
{
    if (!b->gc)
        return 0;
    uint64_t floor = b->wnumber;
    for (lsm_blob_pin *p = b->pins.next; p != &b->pins; p = p->next)
        if (p->floor < floor)
            floor = p->floor;
    return floor;
}

uint64_t lsm_blobs_floor(lsm_blobs *b)
{
    if (!b)                 /* not open yet (or failed to): delete nothing */
        return 0;
    pthread_mutex_lock(&b->pmu);
    uint64_t floor = floor_locked(b);
    pthread_mutex_unlock(&b->pmu);
    return floor;
}

void lsm_blobs_enable_gc(lsm_blobs *b)
{
    pthread_mutex_lock(&b->pmu);
    b->gc = 1;
    pthread_mutex_unlock(&b->pmu);
}

/* Forgets the cached read handle of number: closed now if idle, else by
 * its last user (put_handle), so the file's space is freed once unlinked. */
static void forget_handle(lsm_blobs *b, uint64_t number)
{
    lsm_file *idle = NULL;
    pthread_mutex_lock(&b->rmu);
    for (int i = 0; i < READ_SLOTS; i++)
        if (b->slots[i].number == number) {
            if (b->slots[i].users == 0) {
                idle = b->slots[i].f;
                b->slots[i] = (read_slot){ 0 };
            } else {
                b->slots[i].doomed = 1;
            }
        }
    pthread_mutex_unlock(&b->rmu);
    if (idle)
        idle->ops->close(idle);
}

int lsm_blobs_delete(lsm_blobs *b, uint64_t number)
{
    char *path = blob_path(b, number);
    if (!path)
        return 0;
    int deleted = 0;
    pthread_mutex_lock(&b->pmu);
    if (number < floor_locked(b)) {
        /* What the total counted for it, not its size now: a failed
         * append (abandon_tail) may have left bytes past what it counts. */
        uint64_t size = 0;
        forget_handle(b, number);
        if (b->env->unlink(b->env, path) == LSM_OK) {
            deleted = 1;
            for (size_t i = 0; i < b->nfiles; i++)
                if (b->files[i].number == number) {
                    size = b->files[i].bytes > b->files[i].punched
                               ? b->files[i].bytes - b->files[i].punched
                               : 0;
                    memmove(&b->files[i], &b->files[i + 1],
                            (b->nfiles - i - 1) * sizeof *b->files);
                    b->nfiles--;
                    break;
                }
            atomic_fetch_sub_explicit(&b->total, size, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&b->pmu);
    free(path);
    return deleted;
}
