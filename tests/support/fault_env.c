/*
 * fault_env.c — in-memory, crash-simulating, fault-injecting lsm_env
 * (see fault_env.h for the model).
 *
 * Representation.  A file is an fnode: its current bytes, and what a crash
 * leaves of it.  Since files are only appended to (or truncated whole by
 * open_write), the durable bytes are normally a prefix of the current
 * ones, data[0, synced); only after a truncation of a synced file do they
 * differ, and then they are kept apart in `old` until the next sync.
 * Appends are held "in user space" until flushed: data[0, flushed) has
 * reached the kernel (flush, sync, close, or a failed append, which is a
 * write(2) that failed), data[flushed, len) not yet, so synced <= flushed
 * when !replaced.  A process crash keeps exactly the flushed bytes.  The
 * env never writes its buffer out on its own (the posix env does when 64
 * KiB fill up): the most a crash of the process may lose.  Reads see all
 * appended bytes, as reads through the writing handle do.  The
 * namespace is two tables of entries, live (what calls see) and durable
 * (what a crash leaves); sync_dir copies one directory's live entries over
 * its durable ones.  Nodes are reference counted by entries in either
 * table and by open handles.  Tables are small arrays searched linearly:
 * tests hold tens to hundreds of files.
 */
#include "fault_env.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coding.h"
#include "error.h"

typedef struct fnode {
    lsm_buf data;       /* current bytes */
    size_t synced;      /* !replaced: data[0, synced) is durable */
    size_t flushed;     /* data[0, flushed) reached the kernel */
    int replaced;       /* truncated since the last sync */
    /* Zeros written past the data (prefill): reads see them up to
     * zero_end, a crash leaves them up to zero_synced (sync). */
    size_t zero_end, zero_synced;
    /* open_overwrite: the file's old bytes, which the zeros above are
     * (zeros past them). */
    lsm_buf under;
    lsm_buf old;        /* replaced: the durable bytes */
    int refs;
    uint64_t crash_mark;
} fnode;

typedef struct fentry {
    char *path;         /* normalised */
    fnode *node;        /* NULL for a directory */
} fentry;

typedef struct ftable {
    fentry *v;
    size_t n, cap;
} ftable;

typedef struct fhandle {
    lsm_file base;
    fault_env *fe;
    fnode *node;
    uint64_t gen;       /* fe->gen when opened; stale after a crash */
    int writable;
    int is_lock;
    uint64_t reserved;  /* bytes charged to fe->used ahead by fh_reserve */
    char *path;
} fhandle;

struct fault_env {
    lsm_env base;       /* first member: an lsm_env* is a fault_env* */
    pthread_mutex_t mu;
    ftable live, durable;
    char **locks;       /* paths currently locked */
    size_t nlocks, lock_cap;
    uint64_t rng;
    uint64_t gen;       /* crashes so far */
    int down;
    uint64_t used, capacity;
    uint64_t counts[FAULT_OP_COUNT];
    uint64_t syncs_written;     /* sync_written calls that synced */
    /* the fault rule */
    unsigned fault_mask;
    int countdown;
    int fault_status;
    int forever;
    uint64_t fired;
};

/* --- helpers -------------------------------------------------------------- */

static uint64_t next_random(fault_env *fe)
{
    /* splitmix64 */
    uint64_t z = (fe->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n]. */
static uint64_t random_upto(fault_env *fe, uint64_t n)
{
    return n == UINT64_MAX ? next_random(fe) : next_random(fe) % (n + 1);
}

/* Collapses repeated slashes and drops a trailing one ("/" stays). */
static char *normalize(const char *path)
{
    size_t n = strlen(path);
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (path[i] == '/' && j > 0 && out[j - 1] == '/')
            continue;
        out[j++] = path[i];
    }
    if (j > 1 && out[j - 1] == '/')
        j--;
    if (j == 0)
        out[j++] = '.';
    out[j] = '\0';
    return out;
}

/* Writes the parent directory of a normalised path into out. */
static void parent_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

static int is_root(const char *path)
{
    return !strcmp(path, "/") || !strcmp(path, ".");
}

static fentry *find(ftable *t, const char *path)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].path, path))
            return &t->v[i];
    return NULL;
}

/* The bytes a file of `len` bytes of data takes (fe->used): its old
 * bytes past them too, if it was opened to be overwritten. */
static size_t node_charged(const fnode *node, size_t len)
{
    return len > node->under.len ? len : node->under.len;
}

/* Data shrinks to len bytes: what it gives back. */
static void node_shrink(fault_env *fe, fnode *node, size_t len)
{
    fe->used -= node_charged(node, node->data.len) - node_charged(node, len);
    node->data.len = len;
}

static void node_release(fault_env *fe, fnode *node)
{
    if (!node || --node->refs > 0)
        return;
    fe->used -= node_charged(node, node->data.len);
    lsm_buf_free(&node->data);
    lsm_buf_free(&node->old);
    lsm_buf_free(&node->under);
    free(node);
}

static fnode *node_new(void)
{
    return calloc(1, sizeof(fnode));
}

/* Adds (path -> node); path is copied.  Returns 0 or -1 (no memory). */
static int table_add(ftable *t, const char *path, fnode *node)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        fentry *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return -1;
    t->v[t->n].path = copy;
    t->v[t->n].node = node;
    t->n++;
    if (node)
        node->refs++;
    return 0;
}

static void table_remove(fault_env *fe, ftable *t, fentry *e)
{
    free(e->path);
    node_release(fe, e->node);
    *e = t->v[--t->n];
}

static void table_clear(fault_env *fe, ftable *t)
{
    while (t->n)
        table_remove(fe, t, &t->v[t->n - 1]);
}

static int dir_exists(fault_env *fe, const char *dir)
{
    if (is_root(dir))
        return 1;
    fentry *e = find(&fe->live, dir);
    return e && !e->node;
}

static int parent_exists(fault_env *fe, const char *path)
{
    char parent[4096];
    parent_of(path, parent, sizeof parent);
    return dir_exists(fe, parent);
}

/* Counts an operation and applies the fault rule and the down state.
 * Returns LSM_OK or the failure (message set).  Caller holds mu. */
static int begin_op(fault_env *fe, enum fault_op op, const char *what,
                    const char *path)
{
    fe->counts[op]++;
    if (fe->down)
        return lsm_fail(LSM_IO_ERROR, "%s %s: the environment is down after "
                        "a simulated crash", what, path);
    if (!(fe->fault_mask & FAULT_MASK(op)))
        return LSM_OK;
    if (fe->countdown > 0) {
        fe->countdown--;
        return LSM_OK;
    }
    if (!fe->forever)
        fe->fault_mask = 0;
    fe->fired++;
    if (fe->fault_status == LSM_NO_SPACE)
        return lsm_fail_errno(ENOSPC, "%s %s (injected)", what, path);
    if (fe->fault_status == LSM_IO_ERROR)
        return lsm_fail_errno(EIO, "%s %s (injected)", what, path);
    return lsm_fail(fe->fault_status, "%s %s: injected failure", what, path);
}

static int stale(fault_env *fe, fhandle *h, const char *what)
{
    if (h->gen == fe->gen)
        return LSM_OK;
    return lsm_fail(LSM_IO_ERROR, "%s %s: handle opened before a simulated "
                    "crash", what, h->path);
}

/* Appends bytes to a node, counting them against the capacity. */
static int node_append(fault_env *fe, fnode *node, const void *p, size_t n)
{
    size_t before = node_charged(node, node->data.len);
    if (lsm_buf_append(&node->data, p, n))
        return LSM_NO_MEMORY;
    fe->used += node_charged(node, node->data.len) - before;
    return LSM_OK;
}

/* Empties a node as O_TRUNC does; its durable bytes stay until a sync. */
static int node_truncate(fault_env *fe, fnode *node)
{
    fe->used -= node_charged(node, node->data.len);
    if (!node->replaced && node->synced > 0) {
        node->old = node->data;
        node->old.len = node->synced;
        memset(&node->data, 0, sizeof node->data);
        node->replaced = 1;
    } else {
        lsm_buf_clear(&node->data);
    }
    node->synced = 0;
    node->flushed = 0;
    node->zero_end = 0;
    lsm_buf_clear(&node->under);
    return LSM_OK;
}

/* What the "zeros" of bytes [from, to) are: the old bytes of a file open
 * for overwriting (open_overwrite), zeros past them. */
static void fill_zeros(const fnode *node, char *dst, size_t from, size_t to)
{
    size_t old = from >= node->under.len ? 0
               : (to < node->under.len ? to : node->under.len) - from;
    if (old)
        memcpy(dst, node->under.data + from, old);
    memset(dst + old, 0, to - from - old);
}


/* Makes what reached the kernel durable: data[0, flushed) and the zeros
 * prefilled past it. */
static void node_sync_flushed(fnode *node)
{
    if (node->replaced) {
        lsm_buf_free(&node->old);
        node->replaced = 0;
    }
    node->synced = node->flushed;
    node->zero_synced = node->zero_end;
}

static void node_sync(fnode *node)
{
    node->flushed = node->data.len;     /* fsync writes the buffer first */
    node_sync_flushed(node);
}

/* Makes prefilled zeros past the data, up to `upto`, part of it (as
 * the file is left after a crash: appends would now go after them). */
static void zeros_to_data(fault_env *fe, fnode *node, size_t upto)
{
    if (upto <= node->data.len || lsm_buf_reserve(&node->data, upto - node->data.len))
        return;     /* out of memory in a test helper: shorter file */
    fill_zeros(node, node->data.data + node->data.len, node->data.len, upto);
    fe->used += node_charged(node, upto) - node_charged(node, node->data.len);
    node->data.len = upto;
}

/* open_overwrite: the file's bytes become its zeros' bytes, with the
 * zeros prefilled past them (charged as before: the bytes, not the
 * zeros); nothing written yet.  Returns the file's size. */
static size_t node_overwrite(fnode *node)
{
    size_t end = node->zero_end > node->data.len ? node->zero_end : node->data.len;
    lsm_buf_free(&node->under);
    node->under = node->data;     /* still charged: on the disk */
    memset(&node->data, 0, sizeof node->data);
    node->synced = node->flushed = 0;
    node->zero_end = node->zero_synced = end;
    return end;
}

/* --- file handles --------------------------------------------------------- */

static int fh_append(lsm_file *f, const void *p, size_t n)
{
    fhandle *h = (fhandle *)f;
    fault_env *fe = h->fe;
    pthread_mutex_lock(&fe->mu);
    int rc = stale(fe, h, "write");
    if (!rc && !h->writable)
        rc = lsm_fail(LSM_INVALID, "append to %s: file is open read-only",
                      h->path);
    if (!rc) {
        rc = begin_op(fe, FAULT_OP_WRITE, "write", h->path);
        if (rc && !fe->down) {
            /* a write that failed part way */
            size_t part = (size_t)random_upto(fe, n);
            if (part > fe->capacity - fe->used)
                part = (size_t)(fe->capacity - fe->used);
            node_append(fe, h->node, p, part);
            h->node->flushed = h->node->data.len;
        }
    }
    if (!rc) {
        uint64_t room = fe->capacity - fe->used + h->reserved;
        uint64_t credit = n < h->reserved ? n : h->reserved;
        fe->used -= credit;          /* reserved bytes are spent first */
        h->reserved -= credit;
        if (n > room) {
            node_append(fe, h->node, p, (size_t)room);
            h->node->flushed = h->node->data.len;
            rc = lsm_fail_errno(ENOSPC, "write %s at offset %zu", h->path,
                                h->node->data.len);
        } else if (node_append(fe, h->node, p, n)) {
            rc = lsm_fail(LSM_NO_MEMORY, "write %s: out of memory", h->path);
        }
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fh_pread(lsm_file *f, uint64_t off, void *buf, size_t n,
                    size_t *got)
{
    fhandle *h = (fhandle *)f;
    fault_env *fe = h->fe;
    *got = 0;
    pthread_mutex_lock(&fe->mu);
    int rc = stale(fe, h, "read");
    if (!rc)
        rc = begin_op(fe, FAULT_OP_READ, "read", h->path);
    if (!rc) {
        const lsm_buf *d = &h->node->data;
        if (off < d->len) {
            size_t take = d->len - (size_t)off < n ? d->len - (size_t)off : n;
            memcpy(buf, d->data + off, take);
            *got = take;
        }
        size_t end = h->node->zero_end;
        if (off + *got < end && *got < n) {   /* prefilled zeros */
            size_t from = (size_t)off + *got;
            size_t take = end - from < n - *got ? end - from : n - *got;
            fill_zeros(h->node, (char *)buf + *got, from, from + take);
            *got += take;
        }
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fh_sync(lsm_file *f)
{
    fhandle *h = (fhandle *)f;
    fault_env *fe = h->fe;
    pthread_mutex_lock(&fe->mu);
    int rc = stale(fe, h, "fdatasync");
    if (!rc)
        rc = begin_op(fe, FAULT_OP_SYNC, "fdatasync", h->path);
    if (!rc)
        node_sync(h->node);
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

/* An fdatasync of what reached the kernel, leaving the appends still in
 * the buffer out (another thread may append meanwhile: mu orders them).
 * Counted and failed as a sync; a failure is not reported (env.h). */
static void fh_sync_written(lsm_file *f)
{
    fhandle *h = (fhandle *)f;
    fault_env *fe = h->fe;
    pthread_mutex_lock(&fe->mu);
    if (stale(fe, h, "fdatasync") == LSM_OK &&
        begin_op(fe, FAULT_OP_SYNC, "fdatasync", h->path) == LSM_OK) {
        node_sync_flushed(h->node);
        fe->syncs_written++;
    }
    pthread_mutex_unlock(&fe->mu);
}

/* Not an operation of its own for counting and faults: in the posix env
 * it is the write(2) the appends it covers would have been. */
static int fh_flush(lsm_file *f)
{
    fhandle *h = (fhandle *)f;
    fault_env *fe = h->fe;
    pthread_mutex_lock(&fe->mu);
    int rc = stale(fe, h, "write");
    if (!rc && fe->down)
        rc = lsm_fail(LSM_IO_ERROR, "write %s: the environment is down "
                      "after a simulated crash", h->path);
    if (!rc && h->writable)
        h->node->flushed = h->node->data.len;
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fh_size(lsm_file *f, uint64_t *size)
{
    fhandle *h = (fhandle *)f;
    fault_env *fe = h->fe;
    pthread_mutex_lock(&fe->mu);
    int rc = stale(fe, h, "stat");
    if (!rc)
        *size = h->writable || h->node->zero_end < h->node->data.len
                ? h->node->data.len : h->node->zero_end;
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static void release_lock(fault_env *fe, const char *path)
{
    for (size_t i = 0; i < fe->nlocks; i++) {
        if (!strcmp(fe->locks[i], path)) {
            free(fe->locks[i]);
            fe->locks[i] = fe->locks[--fe->nlocks];
            return;
        }
    }
}

/* Charges space ahead, as fallocate does: appends up to that size then
 * cannot fail for lack of space (injected faults still can). */
static int fh_reserve(lsm_file *f, uint64_t bytes)
{
    fhandle *h = (fhandle *)f;
    fault_env *fe = h->fe;
    pthread_mutex_lock(&fe->mu);
    int rc = stale(fe, h, "reserve");
    if (!rc && bytes > h->reserved) {
        uint64_t extra = bytes - h->reserved;
        if (extra > fe->capacity - fe->used) {
            rc = lsm_fail_errno(ENOSPC, "reserve %llu bytes in %s",
                                (unsigned long long)bytes, h->path);
        } else {
            fe->used += extra;
            h->reserved = bytes;
        }
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fh_close(lsm_file *f)
{
    fhandle *h = (fhandle *)f;
    fault_env *fe = h->fe;
    pthread_mutex_lock(&fe->mu);
    if (h->gen == fe->gen && h->writable)
        h->node->flushed = h->node->data.len;
    if (h->gen == fe->gen)
        fe->used -= h->reserved;
    if (h->is_lock && h->gen == fe->gen)
        release_lock(fe, h->path);
    node_release(fe, h->node);
    pthread_mutex_unlock(&fe->mu);
    free(h->path);
    free(h);
    return LSM_OK;
}

/* Zeroes the bytes, as a punched hole reads (the durable copy too: the
 * engine punches only bytes nothing may read again, so a crash that
 * kept them would hide a premature punch).  The capacity is not
 * credited: used space follows the appended bytes only. */
static int fh_punch_hole(lsm_file *f, uint64_t off, uint64_t len, uint64_t *freed)
{
    fhandle *h = (fhandle *)f;
    fault_env *fe = h->fe;
    *freed = 0;
    pthread_mutex_lock(&fe->mu);
    int rc = stale(fe, h, "punch");
    lsm_buf *bufs[2] = { &h->node->data, h->node->replaced ? &h->node->old : NULL };
    for (int i = 0; !rc && i < 2; i++) {
        if (!bufs[i] || off >= bufs[i]->len)
            continue;
        size_t n = bufs[i]->len - (size_t)off < len ? bufs[i]->len - (size_t)off
                                                    : (size_t)len;
        memset(bufs[i]->data + off, 0, n);
        if (i == 0)
            *freed = n;
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

/* Zeros past the data, as posix_prefill writes them: appends then go
 * over them (the data grows, zero_end stays).  Not an operation of its
 * own for counting and faults (the engine ignores its failure), and not
 * charged against the capacity (the space is reserved or appended
 * anyway). */
static int fh_prefill(lsm_file *f, uint64_t upto)
{
    fhandle *h = (fhandle *)f;
    fault_env *fe = h->fe;
    pthread_mutex_lock(&fe->mu);
    int rc = stale(fe, h, "prefill");
    if (!rc && fe->down)
        rc = lsm_fail(LSM_IO_ERROR, "prefill %s: the environment is down "
                      "after a simulated crash", h->path);
    if (!rc && h->writable && upto > h->node->zero_end)
        h->node->zero_end = (size_t)upto;
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static const struct lsm_file_ops fh_ops = {
    .prefill = fh_prefill,
    .punch_hole = fh_punch_hole,
    .append = fh_append,
    .pread = fh_pread,
    .sync = fh_sync,
    .sync_written = fh_sync_written,
    .size = fh_size,
    .close = fh_close,
    .reserve = fh_reserve,
    .flush = fh_flush,
};

static int handle_new(fault_env *fe, fnode *node, const char *path,
                      int writable, int is_lock, lsm_file **out)
{
    fhandle *h = calloc(1, sizeof *h);
    char *copy = strdup(path);
    if (!h || !copy) {
        free(h);
        free(copy);
        return lsm_fail(LSM_NO_MEMORY, "open %s: out of memory", path);
    }
    h->base.ops = &fh_ops;
    h->fe = fe;
    h->node = node;
    node->refs++;
    h->gen = fe->gen;
    h->writable = writable;
    h->is_lock = is_lock;
    h->path = copy;
    *out = &h->base;
    return LSM_OK;
}

/* --- env operations ------------------------------------------------------- */

static fault_env *env_of(lsm_env *e)
{
    return (fault_env *)e;
}

/* Looks up or (create) makes the file at path; caller holds mu. */
static int get_file(fault_env *fe, const char *path, int create,
                    fnode **out)
{
    fentry *e = find(&fe->live, path);
    if (e && !e->node)
        return lsm_fail_errno(EISDIR, "open %s", path);
    if (e) {
        *out = e->node;
        return LSM_OK;
    }
    if (!create || !parent_exists(fe, path))
        return lsm_fail_errno(ENOENT, "open %s", path);
    fnode *node = node_new();
    if (!node || table_add(&fe->live, path, node)) {
        free(node);
        return lsm_fail(LSM_NO_MEMORY, "create %s: out of memory", path);
    }
    *out = node;
    return LSM_OK;
}

enum open_kind { OPEN_WRITE, OPEN_APPEND, OPEN_OVERWRITE, OPEN_READ };

static int fe_open(lsm_env *env, const char *raw, enum open_kind kind,
                   uint64_t *old_size, lsm_file **out)
{
    fault_env *fe = env_of(env);
    char *path = normalize(raw);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "open %s: out of memory", raw);
    pthread_mutex_lock(&fe->mu);
    int rc = begin_op(fe, FAULT_OP_OPEN, "open", path);
    fnode *node = NULL;
    if (!rc)
        rc = get_file(fe, path, kind == OPEN_WRITE, &node);
    if (!rc && kind == OPEN_WRITE)
        rc = node_truncate(fe, node);
    if (!rc && kind == OPEN_APPEND) {   /* appends go after the zeros */
        zeros_to_data(fe, node, node->zero_end);
        node->zero_end = 0;
    }
    if (!rc && kind == OPEN_OVERWRITE)
        *old_size = node_overwrite(node);
    if (!rc)
        rc = handle_new(fe, node, path, kind != OPEN_READ, 0, out);
    pthread_mutex_unlock(&fe->mu);
    free(path);
    return rc;
}

static int fe_open_write(lsm_env *e, const char *path, lsm_file **out)
{
    return fe_open(e, path, OPEN_WRITE, NULL, out);
}

static int fe_open_append(lsm_env *e, const char *path, lsm_file **out)
{
    return fe_open(e, path, OPEN_APPEND, NULL, out);
}

static int fe_open_overwrite(lsm_env *e, const char *path, uint64_t *old_size,
                             lsm_file **out)
{
    return fe_open(e, path, OPEN_OVERWRITE, old_size, out);
}

static int fe_open_read(lsm_env *e, const char *path, lsm_file **out)
{
    return fe_open(e, path, OPEN_READ, NULL, out);
}

static int fe_rename(lsm_env *env, const char *rfrom, const char *rto)
{
    fault_env *fe = env_of(env);
    char *from = normalize(rfrom), *to = normalize(rto);
    int rc = LSM_OK;
    if (!from || !to) {
        rc = lsm_fail(LSM_NO_MEMORY, "rename %s: out of memory", rfrom);
        goto out;
    }
    pthread_mutex_lock(&fe->mu);
    rc = begin_op(fe, FAULT_OP_RENAME, "rename", from);
    fentry *src = rc ? NULL : find(&fe->live, from);
    if (!rc && (!src || !parent_exists(fe, to)))
        rc = lsm_fail_errno(ENOENT, "rename %s to %s", from, to);
    else if (!rc && !src->node)
        rc = lsm_fail_errno(EISDIR, "rename %s to %s (directories are not "
                            "supported)", from, to);
    if (!rc && strcmp(from, to)) {
        fentry *dst = find(&fe->live, to);
        if (dst && !dst->node) {
            rc = lsm_fail_errno(EISDIR, "rename %s to %s", from, to);
        } else {
            fnode *node = src->node;
            node->refs++; /* keep it across the removal */
            table_remove(fe, &fe->live, src);
            dst = find(&fe->live, to);
            if (dst)
                table_remove(fe, &fe->live, dst);
            if (table_add(&fe->live, to, node))
                rc = lsm_fail(LSM_NO_MEMORY, "rename %s: out of memory", from);
            node_release(fe, node);
        }
    }
    pthread_mutex_unlock(&fe->mu);
out:
    free(from);
    free(to);
    return rc;
}

static int fe_unlink(lsm_env *env, const char *raw)
{
    fault_env *fe = env_of(env);
    char *path = normalize(raw);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "unlink %s: out of memory", raw);
    pthread_mutex_lock(&fe->mu);
    int rc = begin_op(fe, FAULT_OP_UNLINK, "unlink", path);
    fentry *e = rc ? NULL : find(&fe->live, path);
    if (!rc && !e)
        rc = lsm_fail_errno(ENOENT, "unlink %s", path);
    else if (!rc && !e->node)
        rc = lsm_fail_errno(EISDIR, "unlink %s", path);
    else if (!rc)
        table_remove(fe, &fe->live, e);
    pthread_mutex_unlock(&fe->mu);
    free(path);
    return rc;
}

static int fe_mkdir(lsm_env *env, const char *raw)
{
    fault_env *fe = env_of(env);
    char *path = normalize(raw);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "mkdir %s: out of memory", raw);
    pthread_mutex_lock(&fe->mu);
    int rc = begin_op(fe, FAULT_OP_MKDIR, "mkdir", path);
    if (!rc && !is_root(path)) {
        fentry *e = find(&fe->live, path);
        if (e && e->node)
            rc = lsm_fail_errno(ENOTDIR, "mkdir %s", path);
        else if (!e && !parent_exists(fe, path))
            rc = lsm_fail_errno(ENOENT, "mkdir %s", path);
        else if (!e && (table_add(&fe->live, path, NULL) ||
                        table_add(&fe->durable, path, NULL)))
            rc = lsm_fail(LSM_NO_MEMORY, "mkdir %s: out of memory", path);
    }
    pthread_mutex_unlock(&fe->mu);
    free(path);
    return rc;
}

/* Makes the live file entries directly in dir the durable ones. */
static int fe_sync_dir(lsm_env *env, const char *raw)
{
    fault_env *fe = env_of(env);
    char *dir = normalize(raw);
    if (!dir)
        return lsm_fail(LSM_NO_MEMORY, "fsync %s: out of memory", raw);
    char parent[4096];
    pthread_mutex_lock(&fe->mu);
    int rc = begin_op(fe, FAULT_OP_SYNC_DIR, "fsync directory", dir);
    if (!rc && !dir_exists(fe, dir))
        rc = lsm_fail_errno(ENOENT, "open directory %s", dir);
    for (size_t i = 0; !rc && i < fe->durable.n;) {
        fentry *e = &fe->durable.v[i];
        parent_of(e->path, parent, sizeof parent);
        if (e->node && !strcmp(parent, dir))
            table_remove(fe, &fe->durable, e);
        else
            i++;
    }
    for (size_t i = 0; !rc && i < fe->live.n; i++) {
        fentry *e = &fe->live.v[i];
        parent_of(e->path, parent, sizeof parent);
        if (e->node && !strcmp(parent, dir) &&
            table_add(&fe->durable, e->path, e->node))
            rc = lsm_fail(LSM_NO_MEMORY, "fsync %s: out of memory", dir);
    }
    pthread_mutex_unlock(&fe->mu);
    free(dir);
    return rc;
}

static int fe_list_dir(lsm_env *env, const char *raw, char ***names,
                       size_t *n)
{
    fault_env *fe = env_of(env);
    *names = NULL;
    *n = 0;
    char *dir = normalize(raw);
    if (!dir)
        return lsm_fail(LSM_NO_MEMORY, "list %s: out of memory", raw);
    char parent[4096];
    pthread_mutex_lock(&fe->mu);
    int rc = fe->down ? lsm_fail(LSM_IO_ERROR, "list %s: the environment is "
                                 "down after a simulated crash", dir)
                      : LSM_OK;
    if (!rc && !dir_exists(fe, dir))
        rc = lsm_fail_errno(ENOENT, "open directory %s", dir);
    char **v = NULL;
    size_t len = 0;
    if (!rc && fe->live.n) {
        v = calloc(fe->live.n, sizeof *v);
        if (!v)
            rc = lsm_fail(LSM_NO_MEMORY, "list %s: out of memory", dir);
    }
    for (size_t i = 0; !rc && i < fe->live.n; i++) {
        const char *path = fe->live.v[i].path;
        parent_of(path, parent, sizeof parent);
        if (strcmp(parent, dir) || is_root(path))
            continue;
        const char *slash = strrchr(path, '/');
        v[len] = strdup(slash ? slash + 1 : path);
        if (!v[len])
            rc = lsm_fail(LSM_NO_MEMORY, "list %s: out of memory", dir);
        else
            len++;
    }
    pthread_mutex_unlock(&fe->mu);
    free(dir);
    if (rc) {
        lsm_env_free_names(v, len);
        return rc;
    }
    *names = v;
    *n = len;
    return LSM_OK;
}

static int fe_exists(lsm_env *env, const char *raw)
{
    fault_env *fe = env_of(env);
    char *path = normalize(raw);
    if (!path)
        return 0;
    pthread_mutex_lock(&fe->mu);
    int found = !fe->down && (is_root(path) || find(&fe->live, path));
    pthread_mutex_unlock(&fe->mu);
    free(path);
    return found;
}

/* The note is not recorded: a simulated store has no other process to
 * read it. */
static int fe_lock(lsm_env *env, const char *raw, const char *note,
                   lsm_file **out)
{
    (void)note;
    fault_env *fe = env_of(env);
    char *path = normalize(raw);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "lock %s: out of memory", raw);
    pthread_mutex_lock(&fe->mu);
    int rc = begin_op(fe, FAULT_OP_OPEN, "open lock file", path);
    for (size_t i = 0; !rc && i < fe->nlocks; i++) {
        if (!strcmp(fe->locks[i], path)) {
            char dir[4096];
            parent_of(path, dir, sizeof dir);
            rc = lsm_fail(LSM_BUSY, "store %s is locked by process %ld", dir,
                          (long)getpid());
        }
    }
    fnode *node = NULL;
    if (!rc)
        rc = get_file(fe, path, 1, &node);
    if (!rc && fe->nlocks == fe->lock_cap) {
        size_t cap = fe->lock_cap ? fe->lock_cap * 2 : 4;
        char **v = realloc(fe->locks, cap * sizeof *v);
        if (!v)
            rc = lsm_fail(LSM_NO_MEMORY, "lock %s: out of memory", path);
        else {
            fe->locks = v;
            fe->lock_cap = cap;
        }
    }
    char *held = rc ? NULL : strdup(path);
    if (!rc && !held)
        rc = lsm_fail(LSM_NO_MEMORY, "lock %s: out of memory", path);
    if (!rc)
        rc = handle_new(fe, node, path, 0, 1, out);
    if (!rc)
        fe->locks[fe->nlocks++] = held;
    else
        free(held);
    pthread_mutex_unlock(&fe->mu);
    free(path);
    return rc;
}

static int fe_unlock(lsm_env *env, lsm_file *lock)
{
    (void)env;
    return lsm_file_close(lock);
}

static int fe_free_space(lsm_env *env, const char *path, uint64_t *bytes)
{
    fault_env *fe = env_of(env);
    pthread_mutex_lock(&fe->mu);
    int rc = fe->down ? lsm_fail(LSM_IO_ERROR, "statvfs %s: the environment "
                                 "is down after a simulated crash", path)
                      : LSM_OK;
    if (!rc)
        *bytes = fe->capacity - fe->used;
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

/* --- the test-facing API -------------------------------------------------- */

fault_env *fault_env_new(uint64_t seed)
{
    fault_env *fe = calloc(1, sizeof *fe);
    if (!fe)
        return NULL;
    pthread_mutex_init(&fe->mu, NULL);
    fe->rng = seed;
    fe->capacity = UINT64_C(1) << 40;
    fe->base.open_write = fe_open_write;
    fe->base.open_append = fe_open_append;
    fe->base.open_overwrite = fe_open_overwrite;
    fe->base.open_read = fe_open_read;
    fe->base.rename = fe_rename;
    fe->base.unlink = fe_unlink;
    fe->base.mkdir = fe_mkdir;
    fe->base.sync_dir = fe_sync_dir;
    fe->base.list_dir = fe_list_dir;
    fe->base.exists = fe_exists;
    fe->base.lock = fe_lock;
    fe->base.unlock = fe_unlock;
    fe->base.free_space = fe_free_space;
    return fe;
}

void fault_env_free(fault_env *fe)
{
    if (!fe)
        return;
    table_clear(fe, &fe->live);
    table_clear(fe, &fe->durable);
    free(fe->live.v);
    free(fe->durable.v);
    for (size_t i = 0; i < fe->nlocks; i++)
        free(fe->locks[i]);
    free(fe->locks);
    pthread_mutex_destroy(&fe->mu);
    free(fe);
}

lsm_env *fault_env_base(fault_env *fe)
{
    return &fe->base;
}

#define FAULT_PAGE 4096

/* FAULT_CRASH_PAGES (fault_env.h) on a file's unsynced bytes: returns the
 * length left. */
static size_t crash_pages(fault_env *fe, fnode *node)
{
    /* Zeros written since the last sync: either the file's new size
     * reached the disk (a journal commit or writeback of its own) before
     * the cut, and then the pages over them are as random as over synced
     * zeros (each a record's bytes or zeros), or nothing of them did. */
    if (node->zero_end > node->zero_synced && (next_random(fe) & 1))
        node->zero_synced = node->zero_end;
    size_t over = node->zero_synced < node->data.len ? node->zero_synced
                                                     : node->data.len;
    if (over < node->synced)
        over = node->synced;
    for (size_t page = node->synced / FAULT_PAGE * FAULT_PAGE; page < over;
         page += FAULT_PAGE) {
        if (next_random(fe) & 1)
            continue;                   /* this page reached the disk */
        size_t from = page > node->synced ? page : node->synced;
        size_t to = page + FAULT_PAGE < over ? page + FAULT_PAGE : over;
        fill_zeros(node, node->data.data + from, from, to);
    }
    return over + (size_t)random_upto(fe, node->data.len - over);
}

/* What power loss leaves of one file's data: its durable bytes plus,
 * depending on the mode, part of what was appended since the last sync. */
static void crash_data(fault_env *fe, fnode *node, int mode)
{
    if (node->replaced) {
        fe->used -= node->data.len;
        lsm_buf_free(&node->data);
        node->data = node->old;
        memset(&node->old, 0, sizeof node->old);
        node->replaced = 0;
        fe->used += node->data.len;
        node->synced = node->data.len;
        return;
    }
    size_t unsynced = node->data.len - node->synced;
    size_t keep = 0, junk = 0;
    if (unsynced && mode == FAULT_CRASH_RANDOM_PREFIX) {
        keep = (size_t)random_upto(fe, unsynced);
    } else if (unsynced && (mode == FAULT_CRASH_PREFIX_GARBAGE ||
                            mode == FAULT_CRASH_PREFIX_ZEROS)) {
        keep = (size_t)random_upto(fe, unsynced - 1);
        junk = 1 + (size_t)random_upto(fe, unsynced - keep - 1);
    }
    char *p = node->data.data + node->synced + keep;
    for (size_t i = 0; i < junk; i++)
        p[i] = mode == FAULT_CRASH_PREFIX_ZEROS ? 0 : (char)next_random(fe);
    size_t len = mode == FAULT_CRASH_PAGES ? crash_pages(fe, node)
                                           : node->synced + keep + junk;
    node_shrink(fe, node, len);
    node->synced = len;
    node->flushed = len;
}

/* What power loss leaves of one file: its data (crash_data), then the
 * zeros prefilled past it that a sync made durable. */
static void crash_node(fault_env *fe, fnode *node, int mode)
{
    crash_data(fe, node, mode);
    zeros_to_data(fe, node, node->zero_synced);
    node->synced = node->flushed = node->data.len;
    node->zero_end = node->zero_synced = 0;
}

/* A crash of the process: what it still held in user space is lost, the
 * kernel keeps the rest (files, bytes, names), synced or not. */
static void process_crash(fault_env *fe)
{
    for (size_t i = 0; i < fe->live.n; i++) {
        fnode *node = fe->live.v[i].node;
        if (node && node->data.len > node->flushed)
            node_shrink(fe, node, node->flushed);
        if (node) {         /* the kernel has the prefilled zeros */
            zeros_to_data(fe, node, node->zero_end);
            node->flushed = node->data.len;
            node->zero_end = 0;
        }
    }
}

static void down_and_unlock(fault_env *fe)
{
    for (size_t i = 0; i < fe->nlocks; i++)
        free(fe->locks[i]);
    fe->nlocks = 0;
    fe->down = 1;
}

void fault_env_crash(fault_env *fe, int mode)
{
    pthread_mutex_lock(&fe->mu);
    fe->gen++;
    if (mode == FAULT_CRASH_PROCESS) {
        process_crash(fe);
        down_and_unlock(fe);
        pthread_mutex_unlock(&fe->mu);
        return;
    }
    for (size_t i = 0; i < fe->durable.n; i++) {
        fnode *node = fe->durable.v[i].node;
        if (node && node->crash_mark != fe->gen) {
            node->crash_mark = fe->gen;
            crash_node(fe, node, mode);
        }
    }
    /* The namespace reverts to the durable one.  Adding before clearing
     * keeps shared nodes alive. */
    ftable old = fe->live;
    memset(&fe->live, 0, sizeof fe->live);
    for (size_t i = 0; i < fe->durable.n; i++)
        if (table_add(&fe->live, fe->durable.v[i].path, fe->durable.v[i].node))
            break; /* out of memory in a test helper: keep what we have */
    table_clear(fe, &old);
    free(old.v);
    down_and_unlock(fe);
    pthread_mutex_unlock(&fe->mu);
}

void fault_env_restart(fault_env *fe)
{
    pthread_mutex_lock(&fe->mu);
    fe->down = 0;
    pthread_mutex_unlock(&fe->mu);
}

void fault_env_fail_after(fault_env *fe, unsigned op_mask, int countdown,
                          int status, int forever)
{
    pthread_mutex_lock(&fe->mu);
    fe->fault_mask = op_mask;
    fe->countdown = countdown;
    fe->fault_status = status;
    fe->forever = forever;
    pthread_mutex_unlock(&fe->mu);
}

void fault_env_clear_faults(fault_env *fe)
{
    pthread_mutex_lock(&fe->mu);
    fe->fault_mask = 0;
    pthread_mutex_unlock(&fe->mu);
}

uint64_t fault_env_faults_fired(fault_env *fe)
{
    pthread_mutex_lock(&fe->mu);
    uint64_t n = fe->fired;
    pthread_mutex_unlock(&fe->mu);
    return n;
}

uint64_t fault_env_op_count(fault_env *fe, enum fault_op op)
{
    if ((unsigned)op >= FAULT_OP_COUNT)
        return 0;
    pthread_mutex_lock(&fe->mu);
    uint64_t n = fe->counts[op];
    pthread_mutex_unlock(&fe->mu);
    return n;
}

uint64_t fault_env_syncs_written(fault_env *fe)
{
    pthread_mutex_lock(&fe->mu);
    uint64_t n = fe->syncs_written;
    pthread_mutex_unlock(&fe->mu);
    return n;
}

void fault_env_set_capacity(fault_env *fe, uint64_t bytes)
{
    pthread_mutex_lock(&fe->mu);
    fe->capacity = bytes < fe->used ? fe->used : bytes;
    pthread_mutex_unlock(&fe->mu);
}

static fnode *lookup_file(fault_env *fe, const char *raw)
{
    char *path = normalize(raw);
    if (!path)
        return NULL;
    fentry *e = find(&fe->live, path);
    free(path);
    return e ? e->node : NULL;
}

int fault_env_flip_bit(fault_env *fe, const char *path, uint64_t offset,
                       int bit)
{
    pthread_mutex_lock(&fe->mu);
    fnode *node = lookup_file(fe, path);
    int rc = -1;
    if (node && offset < node->data.len && bit >= 0 && bit < 8) {
        node->data.data[offset] ^= (char)(1 << bit);
        if (node->replaced && offset < node->old.len)
            node->old.data[offset] ^= (char)(1 << bit);
        rc = 0;
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

int fault_env_truncate(fault_env *fe, const char *path, uint64_t size)
{
    pthread_mutex_lock(&fe->mu);
    fnode *node = lookup_file(fe, path);
    int rc = -1;
    if (node && size <= node->data.len) {
        node_shrink(fe, node, (size_t)size);
        if (node->synced > size)
            node->synced = (size_t)size;
        if (node->flushed > size)
            node->flushed = (size_t)size;
        if (node->replaced && node->old.len > size)
            node->old.len = (size_t)size;
        node->zero_end = node->zero_synced = 0;
        rc = 0;
    }
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

int64_t fault_env_file_size(fault_env *fe, const char *path)
{
    pthread_mutex_lock(&fe->mu);
    fnode *node = lookup_file(fe, path);
    int64_t size = node ? (int64_t)node->data.len : -1;
    pthread_mutex_unlock(&fe->mu);
    return size;
}
