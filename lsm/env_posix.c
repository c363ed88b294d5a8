/*
 * env_posix.c — the lsm_env on POSIX system calls (see env.h).
 *
 * Append buffering.  Files opened for writing hold appends in a user-space
 * buffer of APPEND_BUFFER (64 KiB) bytes: the WAL makes many small appends
 * (a 7-byte fragment header, then its payload) and a write(2) for each
 * would dominate the cost of a small put.  The buffer is written out when
 * an append would overflow it, on sync, on close, and before a pread that
 * reaches the buffered range, so reads and size() always see every byte
 * appended.  An append at least as large as the buffer goes straight to
 * write(2) after the buffer is drained.  Consequence for durability:
 * buffered bytes are not even in the page cache until written out, so a
 * crash of the process loses them; a caller that acknowledges something
 * once appended (the WAL, per record) calls flush() first, and only
 * sync() makes an append survive power loss.
 *
 * Every system call that can be interrupted is retried on EINTR; writes
 * loop over short counts; reads loop until the count or end of file.
 */
#include "env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "error.h"
#include "filename.h"
#include "lsm.h"

#define APPEND_BUFFER (64 * 1024)

typedef struct posix_file {
    lsm_file base;
    int fd;
    int writable;
    uint64_t written;   /* writable files: bytes in the file, excluding buf */
    uint64_t reserved;  /* space allocated up to this offset (reserve) */
    uint64_t filled;    /* zeros written up to this offset (prefill) */
    int positioned;     /* O_APPEND cleared: writes go at the file offset */
    int no_fallocate;   /* the file system cannot preallocate */
    char *buf;          /* pending appends; NULL until the first append */
    size_t buf_len;
    char path[];        /* for messages */
} posix_file;

static int open_retry(const char *path, int flags, mode_t mode)
{
    int fd;
    do {
        fd = open(path, flags, mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

/* Writes all n bytes; *done is how many were written, also on failure.
 * Returns 0 or an errno value. */
static int write_all(int fd, const char *p, size_t n, size_t *done)
{
    *done = 0;
    while (*done < n) {
        ssize_t w = write(fd, p + *done, n - *done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO; /* write(2) made no progress on a non-empty request */
        *done += (size_t)w;
    }
    return 0;
}

/* Writes out the append buffer.  On failure the bytes that did reach the
 * file are dropped from the buffer so `written` stays exact. */
static int flush_buffer(posix_file *pf)
{
    if (pf->buf_len == 0)
        return LSM_OK;
    size_t done;
    int err = write_all(pf->fd, pf->buf, pf->buf_len, &done);
    pf->written += done;
    if (done) {
        memmove(pf->buf, pf->buf + done, pf->buf_len - done);
        pf->buf_len -= done;
    }
    if (err)
        return lsm_fail_errno(err, "write %s at offset %llu", pf->path,
                              (unsigned long long)pf->written);
    return LSM_OK;
}

static int posix_append(lsm_file *f, const void *p, size_t n)
{
    posix_file *pf = (posix_file *)f;
    if (!pf->writable)
        return lsm_fail(LSM_INVALID, "append to %s: file is open read-only",
                        pf->path);
    if (n == 0)
        return LSM_OK;
    if (pf->buf_len + n > APPEND_BUFFER) {
        int rc = flush_buffer(pf);
        if (rc)
            return rc;
    }
    if (n >= APPEND_BUFFER) {
        size_t done;
        int err = write_all(pf->fd, p, n, &done);
        pf->written += done;
        if (err)
            return lsm_fail_errno(err, "write %s at offset %llu", pf->path,
                                  (unsigned long long)pf->written);
        return LSM_OK;
    }
    if (!pf->buf) {
        pf->buf = malloc(APPEND_BUFFER);
        if (!pf->buf)
            return lsm_fail(LSM_NO_MEMORY, "append to %s: no memory for the "
                            "write buffer", pf->path);
    }
    memcpy(pf->buf + pf->buf_len, p, n);
    pf->buf_len += n;
    return LSM_OK;
}

/* Drains the buffer, then writev(2)s the pieces, IOV_MAX at a time; a
 * short count finishes its piece with write(2).  `written` stays exact
 * on failure, as in flush_buffer. */
static int posix_appendv(lsm_file *f, const struct iovec *iov, size_t n)
{
    posix_file *pf = (posix_file *)f;
    if (!pf->writable)
        return lsm_fail(LSM_INVALID, "append to %s: file is open read-only",
                        pf->path);
    int rc = flush_buffer(pf);
    while (rc == LSM_OK && n > 0) {
        ssize_t w = writev(pf->fd, iov, n > IOV_MAX ? IOV_MAX : (int)n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return lsm_fail_errno(w < 0 ? errno : EIO, "write %s at offset %llu",
                                  pf->path, (unsigned long long)pf->written);
        pf->written += (uint64_t)w;
        size_t left = (size_t)w;
        for (; n > 0 && left >= iov->iov_len; iov++, n--)
            left -= iov->iov_len;
        if (left > 0) {                /* a piece written in part */
            size_t done;
            int err = write_all(pf->fd, (const char *)iov->iov_base + left,
                                iov->iov_len - left, &done);
            pf->written += done;
            if (err)
                return lsm_fail_errno(err, "write %s at offset %llu", pf->path,
                                      (unsigned long long)pf->written);
            iov++, n--;
        }
    }
    return rc;
}

static int posix_pread(lsm_file *f, uint64_t off, void *buf, size_t n,
                       size_t *got)
{
    posix_file *pf = (posix_file *)f;
    *got = 0;
    if (pf->buf_len && off + n > pf->written) {
        int rc = flush_buffer(pf);
        if (rc)
            return rc;
    }
    while (*got < n) {
        ssize_t r = pread(pf->fd, (char *)buf + *got, n - *got,
                          (off_t)(off + *got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return lsm_fail_errno(errno, "read %s at offset %llu", pf->path,
                                  (unsigned long long)(off + *got));
        }
        if (r == 0)
            break; /* end of file */
        *got += (size_t)r;
    }
    return LSM_OK;
}

static int posix_sync(lsm_file *f)
{
    posix_file *pf = (posix_file *)f;
    int rc = flush_buffer(pf);
    if (rc)
        return rc;
    while (fdatasync(pf->fd) != 0) {
        if (errno != EINTR)
            return lsm_fail_errno(errno, "fdatasync %s", pf->path);
    }
    return LSM_OK;
}

static int posix_flush(lsm_file *f)
{
    return flush_buffer((posix_file *)f);
}

static int posix_size(lsm_file *f, uint64_t *size)
{
    posix_file *pf = (posix_file *)f;
    if (pf->writable) {
        *size = pf->written + pf->buf_len;
        return LSM_OK;
    }
    struct stat st;
    if (fstat(pf->fd, &st) != 0)
        return lsm_fail_errno(errno, "stat %s", pf->path);
    *size = (uint64_t)st.st_size;
    return LSM_OK;
}

/* The file's end on disk: its appended bytes, or the zeros prefilled
 * past them. */
static uint64_t disk_end(const posix_file *pf)
{
    return pf->filled > pf->written ? pf->filled : pf->written;
}

/* Frees the blocks reserved past the end, not needed once the file is
 * closed (so a closed file takes what it holds: blob.c counts holes from
 * it).  Truncating to the size frees them on ext4 and xfs, a hole past it
 * on tmpfs; never when the file grew through another handle.  Prefilled
 * zeros stay: they are written, not reserved. */
static void free_reserve(posix_file *pf)
{
    struct stat st;
    uint64_t end = disk_end(pf);
    if (fstat(pf->fd, &st) != 0 || (uint64_t)st.st_size != end)
        return;
    (void)ftruncate(pf->fd, st.st_size);
    (void)fallocate(pf->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    (off_t)end, (off_t)(pf->reserved - end));
}

static int posix_close(lsm_file *f)
{
    posix_file *pf = (posix_file *)f;
    int rc = pf->writable ? flush_buffer(pf) : LSM_OK;
    if (rc == LSM_OK && pf->reserved > disk_end(pf))
        free_reserve(pf);
    /* Linux releases the descriptor even when close(2) fails or is
     * interrupted, so it is never retried. */
    if (close(pf->fd) != 0 && rc == LSM_OK && errno != EINTR)
        rc = lsm_fail_errno(errno, "close %s", pf->path);
    free(pf->buf);
    free(pf);
    return rc;
}

/* Preallocates (FALLOC_FL_KEEP_SIZE: the size stays, so readers see no
 * zeros) in 1 MiB steps, falling back to exactly what is needed when the
 * disk is nearly full.  Where fallocate is unsupported there is no
 * guarantee and the call succeeds. */
#define RESERVE_STEP (1u << 20)
static int posix_reserve(lsm_file *f, uint64_t bytes)
{
    posix_file *pf = (posix_file *)f;
    uint64_t need = pf->written + pf->buf_len + bytes;
    if (!pf->writable || pf->no_fallocate || need <= pf->reserved)
        return LSM_OK;
    uint64_t from = pf->reserved > pf->written ? pf->reserved : pf->written;
    uint64_t step = need - from > RESERVE_STEP ? need - from : RESERVE_STEP;
    int err = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t len = attempt == 0 ? step : need - from;
        if (fallocate(pf->fd, FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)len) == 0) {
            pf->reserved = from + len;
            return LSM_OK;
        }
        err = errno;
        if (err == EOPNOTSUPP || err == ENOSYS) {
            pf->no_fallocate = 1;
            return LSM_OK;
        }
        if (err != ENOSPC)
            break;
    }
    return lsm_fail_errno(err, "reserve %llu bytes in %s",
                          (unsigned long long)bytes, pf->path);
}

/* Appends go through write(2) at the descriptor's offset, which O_APPEND
 * keeps at the end; zeros past the end need it cleared, the offset then
 * set where the appends are (`written`: no other handle writes). */
static int stop_appending(posix_file *pf)
{
    int fl = fcntl(pf->fd, F_GETFL);
    if (fl < 0 || fcntl(pf->fd, F_SETFL, fl & ~O_APPEND) < 0 ||
        lseek(pf->fd, (off_t)pf->written, SEEK_SET) < 0)
        return lsm_fail_errno(errno, "prefill %s: reposition", pf->path);
    pf->positioned = 1;
    return LSM_OK;
}

static int posix_prefill(lsm_file *f, uint64_t upto)
{
    static const char zeros[64 * 1024];
    posix_file *pf = (posix_file *)f;
    if (!pf->writable || upto <= disk_end(pf) || upto <= pf->written + pf->buf_len)
        return LSM_OK;
    int rc = flush_buffer(pf);
    if (rc == LSM_OK && !pf->positioned)
        rc = stop_appending(pf);
    uint64_t from = disk_end(pf);
    while (rc == LSM_OK && from < upto) {
        size_t n = upto - from < sizeof zeros ? (size_t)(upto - from) : sizeof zeros;
        ssize_t w = pwrite(pf->fd, zeros, n, (off_t)from);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = lsm_fail_errno(w < 0 ? errno : EIO, "prefill %s at offset %llu",
                                pf->path, (unsigned long long)from);
        else
            pf->filled = from += (uint64_t)w;
    }
    if (pf->reserved < pf->filled)
        pf->reserved = pf->filled;
    return rc;
}

static void posix_start_writeback(lsm_file *f, uint64_t off, uint64_t len)
{
    posix_file *pf = (posix_file *)f;
    (void)sync_file_range(pf->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

static void posix_sync_written(lsm_file *f)
{
    posix_file *pf = (posix_file *)f;
    (void)fdatasync(pf->fd);
}

/* Blocks are freed whole: the range is narrowed to the file system's
 * block size, and what was freed is measured (st_blocks before and
 * after), not assumed. */
static int posix_punch_hole(lsm_file *f, uint64_t off, uint64_t len,
                            uint64_t *freed)
{
    posix_file *pf = (posix_file *)f;
    struct stat st, after;
    *freed = 0;
    if (!pf->writable)
        return LSM_OK;
    if (fstat(pf->fd, &st) != 0)
        return lsm_fail_errno(errno, "stat %s", pf->path);
    uint64_t bs = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
    uint64_t from = (off + bs - 1) / bs * bs, to = (off + len) / bs * bs;
    if (st.st_nlink != 1 || to <= from)
        return LSM_OK;
    if (fallocate(pf->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)from, (off_t)(to - from)) != 0) {
        if (errno == EOPNOTSUPP || errno == ENOSYS)
            return LSM_OK;
        return lsm_fail_errno(errno, "free bytes %llu-%llu of %s",
                              (unsigned long long)from, (unsigned long long)to,
                              pf->path);
    }
    if (fstat(pf->fd, &after) == 0 && after.st_blocks < st.st_blocks)
        *freed = (uint64_t)(st.st_blocks - after.st_blocks) * 512;
    return LSM_OK;
}

static int posix_allocated(lsm_file *f, uint64_t *bytes)
{
    posix_file *pf = (posix_file *)f;
    struct stat st;
    if (fstat(pf->fd, &st) != 0)
        return lsm_fail_errno(errno, "stat %s", pf->path);
    *bytes = (uint64_t)st.st_blocks * 512;
    return LSM_OK;
}

static const struct lsm_file_ops posix_file_ops = {
    .punch_hole = posix_punch_hole,
    .allocated = posix_allocated,
    .start_writeback = posix_start_writeback,
    .appendv = posix_appendv,
    .prefill = posix_prefill,
    .sync_written = posix_sync_written,
    .reserve = posix_reserve,
    .flush = posix_flush,
    .append = posix_append,
    .pread = posix_pread,
    .sync = posix_sync,
    .size = posix_size,
    .close = posix_close,
};

static int wrap_fd(int fd, const char *path, int writable, uint64_t size,
                   lsm_file **out)
{
    size_t plen = strlen(path);
    posix_file *pf = calloc(1, sizeof *pf + plen + 1);
    if (!pf) {
        close(fd);
        return lsm_fail(LSM_NO_MEMORY, "open %s: out of memory", path);
    }
    pf->base.ops = &posix_file_ops;
    pf->fd = fd;
    pf->writable = writable;
    pf->written = size;
    memcpy(pf->path, path, plen + 1);
    *out = &pf->base;
    return LSM_OK;
}

/* O_APPEND keeps every write at the end of the file; O_RDWR lets pread
 * read back what was appended (the WAL reader, table verification). */
static int posix_open_write(lsm_env *e, const char *path, lsm_file **out)
{
    (void)e;
    int fd = open_retry(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND |
                        O_CLOEXEC, 0644);
    if (fd < 0)
        return lsm_fail_errno(errno, "create %s", path);
    return wrap_fd(fd, path, 1, 0, out);
}

/* Opens an existing file to write to it (flags: O_APPEND or not);
 * *size: its size.  `what` names the open in a failure's message. */
static int open_existing(const char *path, int flags, const char *what,
                         int *fd, uint64_t *size)
{
    *fd = open_retry(path, O_RDWR | O_CLOEXEC | flags, 0);
    if (*fd < 0)
        return lsm_fail_errno(errno, "open %s for %s", path, what);
    struct stat st;
    if (fstat(*fd, &st) != 0) {
        int err = errno;
        close(*fd);
        return lsm_fail_errno(err, "stat %s", path);
    }
    *size = (uint64_t)st.st_size;
    return LSM_OK;
}

static int posix_open_append(lsm_env *e, const char *path, lsm_file **out)
{
    (void)e;
    int fd;
    uint64_t size;
    int rc = open_existing(path, O_APPEND, "appending", &fd, &size);
    return rc == LSM_OK ? wrap_fd(fd, path, 1, size, out) : rc;
}

/* Without O_APPEND, writes go at the descriptor's offset, from 0: the
 * old bytes are taken as zeros prefilled past the end (`filled`). */
static int posix_open_overwrite(lsm_env *e, const char *path,
                                uint64_t *old_size, lsm_file **out)
{
    (void)e;
    int fd;
    int rc = open_existing(path, 0, "overwriting", &fd, old_size);
    if (rc == LSM_OK)
        rc = wrap_fd(fd, path, 1, 0, out);
    if (rc == LSM_OK) {
        posix_file *pf = (posix_file *)*out;
        pf->filled = pf->reserved = *old_size;
        pf->positioned = 1;
    }
    return rc;
}

static int posix_open_read(lsm_env *e, const char *path, lsm_file **out)
{
    (void)e;
    int fd = open_retry(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return lsm_fail_errno(errno, "open %s", path);
    return wrap_fd(fd, path, 0, 0, out);
}

static int posix_rename(lsm_env *e, const char *from, const char *to)
{
    (void)e;
    if (rename(from, to) != 0)
        return lsm_fail_errno(errno, "rename %s to %s", from, to);
    return LSM_OK;
}

static int posix_unlink(lsm_env *e, const char *path)
{
    (void)e;
    if (unlink(path) != 0)
        return lsm_fail_errno(errno, "unlink %s", path);
    return LSM_OK;
}

static int posix_mkdir(lsm_env *e, const char *path)
{
    (void)e;
    if (mkdir(path, 0755) == 0)
        return LSM_OK;
    int err = errno;
    struct stat st;
    if (err == EEXIST && stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return LSM_OK;
        err = ENOTDIR;
    }
    return lsm_fail_errno(err, "mkdir %s", path);
}

static int posix_sync_dir(lsm_env *e, const char *path)
{
    (void)e;
    int fd = open_retry(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return lsm_fail_errno(errno, "open directory %s", path);
    int rc = LSM_OK;
    while (fsync(fd) != 0) {
        if (errno != EINTR) {
            rc = lsm_fail_errno(errno, "fsync directory %s", path);
            break;
        }
    }
    close(fd);
    return rc;
}

static int posix_list_dir(lsm_env *e, const char *dir, char ***names,
                          size_t *n)
{
    (void)e;
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return lsm_fail_errno(errno, "open directory %s", dir);
    char **v = NULL;
    size_t len = 0, cap = 0;
    int rc = LSM_OK;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = lsm_fail_errno(errno, "read directory %s", dir);
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = lsm_fail(LSM_NO_MEMORY, "list %s: out of memory", dir);
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[len] = strdup(de->d_name);
        if (!v[len]) {
            rc = lsm_fail(LSM_NO_MEMORY, "list %s: out of memory", dir);
            break;
        }
        len++;
    }
    closedir(d);
    if (rc) {
        lsm_env_free_names(v, len);
        return rc;
    }
    *names = v;
    *n = len;
    return LSM_OK;
}

static int posix_exists(lsm_env *e, const char *path)
{
    (void)e;
    struct stat st;
    return stat(path, &st) == 0;
}

/* The directory part of path, for naming the store in messages. */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* A lock file's record, "PID\nNOTE\n": the pid (0 if it cannot be read:
 * the holder may not have written it yet) and the note ("" if none; cut
 * to cap bytes). */
static long read_holder(int fd, char *note, size_t cap)
{
    char text[PATH_MAX + 64];
    ssize_t r;
    do {
        r = pread(fd, text, sizeof text - 1, 0);
    } while (r < 0 && errno == EINTR);
    if (cap > 0)
        note[0] = '\0';
    if (r <= 0)
        return 0;
    text[r] = '\0';
    char *end;
    long pid = strtol(text, &end, 10);
    if (end == text || pid <= 0)
        return 0;
    if (*end == '\n' && end[1] != '\0' && cap > 0) {
        size_t len = strlen(end + 1);
        if (end[len] == '\n')
            len--;                       /* the record's final newline */
        snprintf(note, cap, "%.*s", (int)len, end + 1);
    }
    return pid;
}

int lsm_lock_holder(const char *dir, long *pid, char *note, size_t cap)
{
    char *path = lsm_filename(dir, LSM_FILE_LOCK, 0);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int fd = open_retry(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        int rc = err == ENOENT ? lsm_fail(LSM_NOT_FOUND, "%s: no lock file", dir)
                               : lsm_fail_errno(err, "open lock file %s", path);
        free(path);
        return rc;
    }
    *pid = read_holder(fd, note, cap);
    close(fd);
    free(path);
    return LSM_OK;
}

/* flock(2) locks belong to the open file description, so a second open of
 * the same lock file conflicts even within this process.  The holder's pid
 * and note are written into the file for the message a loser reports and
 * for lsm_lock_holder; the file's contents are advisory and never trusted
 * for the locking itself. */
static int posix_lock(lsm_env *e, const char *path, const char *note,
                      lsm_file **out)
{
    (void)e;
    int fd = open_retry(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return lsm_fail_errno(errno, "open lock file %s", path);
    int r;
    do {
        r = flock(fd, LOCK_EX | LOCK_NB);
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
        int err = errno;
        char dir[4096];
        dir_of(path, dir, sizeof dir);
        if (err == EWOULDBLOCK) {
            char held[PATH_MAX];
            long pid = read_holder(fd, held, sizeof held);
            close(fd);
            if (pid && held[0])
                return lsm_fail(LSM_BUSY, "store %s is locked by process %ld (%s)",
                                dir, pid, held);
            if (pid)
                return lsm_fail(LSM_BUSY, "store %s is locked by process %ld",
                                dir, pid);
            return lsm_fail(LSM_BUSY, "store %s is locked by another process",
                            dir);
        }
        close(fd);
        return lsm_fail_errno(err, "lock %s", path);
    }
    char text[PATH_MAX + 64];
    int len = snprintf(text, sizeof text, "%ld\n%s%s", (long)getpid(),
                       note ? note : "", note ? "\n" : "");
    if (len >= (int)sizeof text)
        len = (int)sizeof text - 1;      /* a note cut short */
    size_t done = 0;
    int err = 0;
    if (ftruncate(fd, 0) != 0)
        err = errno;
    while (!err && done < (size_t)len) {
        ssize_t w = pwrite(fd, text + done, (size_t)len - done, (off_t)done);
        if (w < 0 && errno != EINTR)
            err = errno;
        else if (w > 0)
            done += (size_t)w;
    }
    if (err) {
        close(fd); /* releases the lock */
        return lsm_fail_errno(err, "write pid to lock file %s", path);
    }
    return wrap_fd(fd, path, 0, 0, out);
}

/* Closing the descriptor releases the flock. */
static int posix_unlock(lsm_env *e, lsm_file *lock)
{
    (void)e;
    return lsm_file_close(lock);
}

static int posix_free_space(lsm_env *e, const char *path, uint64_t *bytes)
{
    (void)e;
    struct statvfs sv;
    if (statvfs(path, &sv) != 0)
        return lsm_fail_errno(errno, "statvfs %s", path);
    *bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return LSM_OK;
}

static lsm_env posix_env = {
    .open_write = posix_open_write,
    .open_append = posix_open_append,
    .open_overwrite = posix_open_overwrite,
    .open_read = posix_open_read,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .mkdir = posix_mkdir,
    .sync_dir = posix_sync_dir,
    .list_dir = posix_list_dir,
    .exists = posix_exists,
    .lock = posix_lock,
    .unlock = posix_unlock,
    .free_space = posix_free_space,
};

lsm_env *lsm_env_posix(void)
{
    return &posix_env;
}
