/*
 * fuzz_mem.h — in-memory files and a tiny in-memory env for the fuzz
 * targets and the seed generator (header-only: each program includes it
 * once).
 *
 * A memfile is a growable byte array behind the lsm_file interface, so
 * the engine's readers run over a fuzzer's input exactly as over a file
 * on disk, with no I/O.  A memenv holds a handful of named memfiles and
 * implements the calls recovery makes (open_read, exists, list_dir);
 * every other call fails with LSM_IO_ERROR, which a reader must never
 * need.
 *
 * Also here: wal_fix_checksums(), shared by the targets whose input is a
 * log (wal.h framing).  Random bytes almost never carry a valid 32-bit
 * checksum, so a fuzzer mutating raw logs stops at the checksum test;
 * fixing every well-framed fragment's checksum lets it reach the record
 * decoders behind it.
 */
#ifndef FUZZ_MEM_H
#define FUZZ_MEM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "env.h"
#include "error.h"
#include "wal.h"

/* ---- memfile ------------------------------------------------------------ */

typedef struct memfile {
    lsm_file base;
    char *data;
    size_t len, cap;
    int owns;            /* data is ours (else borrowed and read-only) */
    int keep_on_close;   /* close does not free (the seed generator reads it) */
} memfile;

static int mf_append(lsm_file *f, const void *p, size_t n)
{
    memfile *m = (memfile *)f;
    if (!m->owns)
        return lsm_fail(LSM_IO_ERROR, "memfile: read-only");
    if (n > m->cap - m->len) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap - m->len < n)
            cap *= 2;
        char *d = realloc(m->data, cap);
        if (!d)
            return lsm_fail(LSM_NO_MEMORY, "memfile: out of memory");
        m->data = d;
        m->cap = cap;
    }
    if (n)
        memcpy(m->data + m->len, p, n);
    m->len += n;
    return LSM_OK;
}

static int mf_pread(lsm_file *f, uint64_t off, void *buf, size_t n,
                    size_t *got)
{
    memfile *m = (memfile *)f;
    *got = 0;
    if (off >= m->len)
        return LSM_OK;
    size_t avail = m->len - (size_t)off;
    *got = n < avail ? n : avail;
    if (*got)
        memcpy(buf, m->data + off, *got);
    return LSM_OK;
}

static int mf_sync(lsm_file *f)
{
    (void)f;
    return LSM_OK;
}

static int mf_size(lsm_file *f, uint64_t *size)
{
    *size = ((memfile *)f)->len;
    return LSM_OK;
}

static int mf_close(lsm_file *f)
{
    memfile *m = (memfile *)f;
    if (m->keep_on_close)
        return LSM_OK;
    if (m->owns)
        free(m->data);
    free(m);
    return LSM_OK;
}

static const struct lsm_file_ops memfile_ops = {
    .append = mf_append, .pread = mf_pread, .sync = mf_sync,
    .size = mf_size, .close = mf_close,
};

/* A read-only file over [p, p+n) (not copied: p must outlive it). */
static inline lsm_file *memfile_borrow(const void *p, size_t n)
{
    memfile *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->base.ops = &memfile_ops;
    m->data = (char *)p;
    m->len = n;
    return &m->base;
}

/* An empty writable file.  keep: close leaves it alive for memfile_free. */
static inline memfile *memfile_new(int keep)
{
    memfile *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->base.ops = &memfile_ops;
    m->owns = 1;
    m->keep_on_close = keep;
    return m;
}

static inline void memfile_free(memfile *m)
{
    if (m) {
        free(m->data);
        free(m);
    }
}

/* ---- memenv ------------------------------------------------------------- */

#define MEMENV_FILES 8

typedef struct memenv {
    lsm_env base;
    const char *path[MEMENV_FILES];   /* full paths, e.g. "db/CURRENT" */
    const void *data[MEMENV_FILES];   /* borrowed contents */
    size_t len[MEMENV_FILES];
    int n;
} memenv;

static int me_find(memenv *e, const char *path)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->path[i], path) == 0)
            return i;
    return -1;
}

static int me_unsupported(const char *what)
{
    return lsm_fail(LSM_IO_ERROR, "memenv: %s not supported", what);
}

static int me_open_write(lsm_env *e, const char *path, lsm_file **out)
{
    (void)e; (void)path; (void)out;
    return me_unsupported("open_write");
}

static int me_open_read(lsm_env *env, const char *path, lsm_file **out)
{
    memenv *e = (memenv *)env;
    int i = me_find(e, path);
    if (i < 0)
        return lsm_fail(LSM_INVALID, "memenv: %s: no such file", path);
    *out = memfile_borrow(e->data[i], e->len[i]);
    return *out ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "memenv: out of memory");
}

static int me_rename(lsm_env *e, const char *a, const char *b)
{
    (void)e; (void)a; (void)b;
    return me_unsupported("rename");
}

static int me_path_op(lsm_env *e, const char *path)
{
    (void)e; (void)path;
    return me_unsupported("this call");
}

static int me_list_dir(lsm_env *env, const char *dir, char ***names,
                       size_t *n)
{
    memenv *e = (memenv *)env;
    size_t dl = strlen(dir);
    char **v = calloc((size_t)e->n + 1, sizeof *v);
    if (!v)
        return lsm_fail(LSM_NO_MEMORY, "memenv: out of memory");
    size_t k = 0;
    for (int i = 0; i < e->n; i++) {
        if (strncmp(e->path[i], dir, dl) != 0 || e->path[i][dl] != '/')
            continue;
        if (!(v[k] = strdup(e->path[i] + dl + 1))) {
            lsm_env_free_names(v, k);
            return lsm_fail(LSM_NO_MEMORY, "memenv: out of memory");
        }
        k++;
    }
    *names = v;
    *n = k;
    return LSM_OK;
}

static int me_exists(lsm_env *env, const char *path)
{
    return me_find((memenv *)env, path) >= 0;
}

static int me_lock(lsm_env *e, const char *path, const char *note,
                   lsm_file **lock)
{
    (void)e; (void)path; (void)note; (void)lock;
    return me_unsupported("lock");
}

static int me_unlock(lsm_env *e, lsm_file *lock)
{
    (void)e; (void)lock;
    return me_unsupported("unlock");
}

static int me_free_space(lsm_env *e, const char *path, uint64_t *bytes)
{
    (void)e; (void)path;
    *bytes = 0;
    return me_unsupported("free_space");
}

static inline void memenv_init(memenv *e)
{
    memset(e, 0, sizeof *e);
    e->base.open_write = me_open_write;
    e->base.open_append = me_open_write;
    e->base.open_read = me_open_read;
    e->base.rename = me_rename;
    e->base.unlink = me_path_op;
    e->base.mkdir = me_path_op;
    e->base.sync_dir = me_path_op;
    e->base.list_dir = me_list_dir;
    e->base.exists = me_exists;
    e->base.lock = me_lock;
    e->base.unlock = me_unlock;
    e->base.free_space = me_free_space;
}

/* Adds a file (contents borrowed); returns 0, or -1 when full. */
static inline int memenv_add(memenv *e, const char *path, const void *data,
                             size_t n)
{
    if (e->n == MEMENV_FILES)
        return -1;
    e->path[e->n] = path;
    e->data[e->n] = data;
    e->len[e->n] = n;
    e->n++;
    return 0;
}

/* ---- log framing -------------------------------------------------------- */

/* Rewrites the checksum of every fragment in buf whose header is framed
 * plausibly (known type, length inside its block), walking the blocks as
 * the reader does.  Fragments that do not frame are left alone, and the
 * walk resumes at the next block, as the reader would. */
static inline void wal_fix_checksums(char *buf, size_t n)
{
    for (size_t block = 0; block < n; block += LSM_WAL_BLOCK) {
        size_t end = n - block < LSM_WAL_BLOCK ? n : block + LSM_WAL_BLOCK;
        size_t pos = block;
        while (end - pos >= LSM_WAL_HEADER) {
            unsigned char *h = (unsigned char *)buf + pos;
            size_t len = (size_t)h[4] | (size_t)h[5] << 8;
            unsigned type = h[6];
            int log = type > LSM_WAL_SYNC_MARK;     /* recyclable (wal.h) */
            size_t hdr = log ? LSM_WAL_LOG_HEADER : LSM_WAL_HEADER;
            if (type < LSM_WAL_FULL ||
                type > LSM_WAL_SYNC_MARK + LSM_WAL_RECYCLABLE ||
                hdr > end - pos || len > end - pos - hdr)
                break;
            uint64_t id = log ? lsm_decode_fixed64((char *)h + LSM_WAL_HEADER) : 0;
            lsm_wal_encode_header((char *)h,
                                  (uint8_t)(log ? type - LSM_WAL_RECYCLABLE : type),
                                  log, id, (char *)h + hdr, len);
            pos += hdr + len;
        }
    }
}

#endif
