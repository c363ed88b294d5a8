/*
 * env.h — the one I/O interface of the engine.
 *
 * Every file-system operation the engine performs goes through an lsm_env,
 * so tests can substitute an implementation that injects faults or
 * simulates a crash (which files and bytes survive depends on what was
 * flushed, for a crash of the process, or synced, for power loss).
 * env_posix.c is the real one.
 *
 * All calls return LSM_OK or a negative lsm_status, with a message set via
 * lsm_fail*() naming the path and the OS error.
 */
#ifndef LSM_ENV_H
#define LSM_ENV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct lsm_env lsm_env;
typedef struct lsm_file lsm_file;

/* A file handle; implementations embed this as their first member. */
struct lsm_file {
    const struct lsm_file_ops *ops;
};

struct lsm_file_ops {
    int (*append)(lsm_file *f, const void *p, size_t n);
    /* Reads up to n bytes at off; *got < n only at end of file. */
    int (*pread)(lsm_file *f, uint64_t off, void *buf, size_t n, size_t *got);
    int (*sync)(lsm_file *f);          /* fdatasync the file's data */
    int (*size)(lsm_file *f, uint64_t *size);
    int (*close)(lsm_file *f);         /* frees f, even when it fails */
    /* Optional (may be NULL): makes sure the next `bytes` appended cannot
     * fail for lack of space, or fails with LSM_NO_SPACE having written
     * nothing.  The WAL uses it so a full disk never leaves half a record. */
    int (*reserve)(lsm_file *f, uint64_t bytes);
    /* Optional (NULL: appends are not buffered): hands every byte
     * appended so far that an implementation still holds in user space to
     * the kernel (write(2)).  After it returns they survive a crash of
     * this process, though not power loss (that takes sync).  Cost: one
     * write(2) when anything is buffered, nothing otherwise. */
    int (*flush)(lsm_file *f);
    /* Optional (NULL: nothing to do): starts writing bytes [off, off+len)
     * of the file to the disk without waiting for it (sync_file_range
     * with SYNC_FILE_RANGE_WRITE), so a later sync has little left to
     * write.  Changes no guarantee; a failure is ignored (sync reports
     * it). */
    void (*start_writeback)(lsm_file *f, uint64_t off, uint64_t len);
    /* Optional (NULL: nothing to do): fdatasync of what was handed to the
     * kernel so far, leaving what is buffered alone, so another thread
     * may append meanwhile.  A failure is ignored (sync reports it). */
    void (*sync_written)(lsm_file *f);
    /* Optional (NULL: never frees space): frees the space of the file
     * system blocks wholly inside bytes [off, off+len) of a file opened
     * for appending (fallocate PUNCH_HOLE, KEEP_SIZE): reads there return
     * zeros, the size stays.  A file with more than one link (a
     * checkpoint shares it) is left alone.  *freed: the bytes the file's
     * blocks shrank by (0: shared, no whole block, or the file system
     * cannot).  Returns LSM_OK or a negative status.  Cost: two fstats
     * and one fallocate. */
    int (*punch_hole)(lsm_file *f, uint64_t off, uint64_t len, uint64_t *freed);
    /* Optional (NULL: its size): bytes the file's blocks take on disk. */
    int (*allocated)(lsm_file *f, uint64_t *bytes);
    /* Optional (NULL: append each piece, then flush): appends the n
     * pieces in order and hands them, and whatever was buffered before,
     * to the kernel, straight from the caller's memory (writev(2)): no
     * copy into a buffer, and the page cache is written in large runs. */
    int (*appendv)(lsm_file *f, const struct iovec *iov, size_t n);
    /* Optional (NULL: nothing to do): writes zeros from the file's end on
     * disk (past every byte appended) up to offset `upto`, so appends up
     * to there overwrite blocks already written instead of extending the
     * file.  Once a sync has made the zeros durable, a sync of such
     * appends changes no metadata (size, extent map): on ext4 it needs no
     * journal commit (a 4 KiB fdatasync'ed write here: about 80 us over
     * written blocks, 160 us appending).  size() still reports the bytes
     * appended; reads see the zeros past them; the zeros stay when the
     * file is closed.  Fails with nothing appended changed (zeros may be
     * written in part).  Cost: upto - end bytes of zeros written. */
    int (*prefill)(lsm_file *f, uint64_t upto);
};

struct lsm_env {
    /* Creates (truncating) a file for appending. */
    int (*open_write)(lsm_env *e, const char *path, lsm_file **out);
    /* Opens an existing file for appending at its end. */
    int (*open_append)(lsm_env *e, const char *path, lsm_file **out);
    /* Optional (NULL: files are not reused): opens an existing file for
     * writing from offset 0 over its bytes, which stay until written
     * over, as zeros prefilled past the end do (prefill below): reads
     * see them, size() reports the bytes written, appends change no
     * metadata until they pass them.  *old_size: the bytes it held. */
    int (*open_overwrite)(lsm_env *e, const char *path, uint64_t *old_size,
                          lsm_file **out);
    int (*open_read)(lsm_env *e, const char *path, lsm_file **out);
    int (*rename)(lsm_env *e, const char *from, const char *to);
    int (*unlink)(lsm_env *e, const char *path);
    int (*mkdir)(lsm_env *e, const char *path);       /* EEXIST is OK */
    /* fsync a directory, making creates/renames/unlinks in it durable. */
    int (*sync_dir)(lsm_env *e, const char *path);
    /* Names in dir (no "." or ".."); *names is a malloc'ed array of
     * malloc'ed strings, freed with lsm_env_free_names(). */
    int (*list_dir)(lsm_env *e, const char *dir, char ***names, size_t *n);
    int (*exists)(lsm_env *e, const char *path);      /* 1, 0 */
    /* Takes an exclusive lock on path (created if missing), held until
     * unlock, and records "PID\nNOTE\n" in it (note may be NULL: no
     * second line).  Fails with LSM_BUSY, naming the holder's pid and
     * note, if held by anyone else — another process or another open in
     * this one. */
    int (*lock)(lsm_env *e, const char *path, const char *note,
                lsm_file **lock);
    int (*unlock)(lsm_env *e, lsm_file *lock);
    /* Free bytes on the file system holding path. */
    int (*free_space)(lsm_env *e, const char *path, uint64_t *bytes);
};

lsm_env *lsm_env_posix(void);

static inline int lsm_file_append(lsm_file *f, const void *p, size_t n)
{ return f->ops->append(f, p, n); }
static inline int lsm_file_pread(lsm_file *f, uint64_t off, void *buf,
                                 size_t n, size_t *got)
{ return f->ops->pread(f, off, buf, n, got); }
static inline int lsm_file_sync(lsm_file *f) { return f->ops->sync(f); }
static inline int lsm_file_size(lsm_file *f, uint64_t *s)
{ return f->ops->size(f, s); }
static inline int lsm_file_close(lsm_file *f) { return f->ops->close(f); }
static inline int lsm_file_reserve(lsm_file *f, uint64_t bytes)
{ return f->ops->reserve ? f->ops->reserve(f, bytes) : 0; }
static inline int lsm_file_flush(lsm_file *f)
{ return f->ops->flush ? f->ops->flush(f) : 0; }
int lsm_file_appendv(lsm_file *f, const struct iovec *iov, size_t n);

/* Reads exactly n bytes at off or fails with LSM_CORRUPTION (short file). */
int lsm_file_read_exact(lsm_file *f, uint64_t off, void *buf, size_t n,
                        const char *what);
/* Reads a whole (small) file into a malloc'ed buffer. */
int lsm_env_read_file(lsm_env *e, const char *path, char **data, size_t *n);
/* Writes data to path via a temp file: write, fsync, rename, fsync dir. */
int lsm_env_write_file_atomic(lsm_env *e, const char *dir, const char *name,
                              const void *data, size_t n);
void lsm_env_free_names(char **names, size_t n);

#endif
