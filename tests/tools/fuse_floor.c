/*
 * fuse_floor.c — a measuring tool, not a filesystem to keep data in: the
 * least a FUSE daemon can do per request on this machine, to set lsmfs's
 * figures against (scripts/bench-fs --targets=...,floor; README,
 * "Performance").
 *
 *   fuse_floor [-f] [-d] [-o io_uring|no_io_uring|plain_loop|no_writeback]
 *              [-o log=FILE] MOUNTPOINT
 *
 * Everything lives in memory and is gone at unmount: a flat table of
 * inodes (attributes as a struct stat, a file's bytes in one buffer) and
 * one hash table of names, (parent, name) -> inode.  No permission
 * checks (root mounts it for benchmarks), no xattrs (GETXATTR answers
 * ENODATA, as lsmfs does for a file without any), no links or symlinks,
 * no "." or ".." in listings.
 *
 * What matters for a fair floor is what reaches the kernel boundary, and
 * that is lsmfs's own:
 *   - the same INIT choices as lsmfs's mnt_init (mount/ops.c): writeback
 *     cache, readdirplus, no splice, no killpriv, no async DIO, 1 MiB
 *     writes; OPENDIR answered ENOSYS so the kernel stops sending it;
 *     entry, attribute and negative-entry timeouts of 60 s (mount/opts.c);
 *     no default_permissions (as lsmfs when root mounts it); keep_cache on
 *     every open: the same requests per operation as lsmfs;
 *   - the same request loop and transport: mount/loop.c (one reader that
 *     spins briefly before sleeping; no workers here, since nothing
 *     waits) and mount/uring.c (FUSE over io_uring with -o io_uring when
 *     the fuse module's enable_uring is on), linked in, not copied.
 *     -o plain_loop uses libfuse's single-threaded fuse_session_loop
 *     instead (a blocking read(2) per request), for comparison;
 *     -o no_writeback leaves the writeback cache off, as lsmfs's option.
 * So lsmfs minus the floor is what its storage and bookkeeping cost, and
 * the floor against the plain directory is what any FUSE filesystem pays.
 *
 * -o log=FILE adds the least a durable daemon must do (bench-fs target
 * floor-sync): every WRITE also copies its bytes into FILE, and FSYNC and
 * FSYNCDIR answer after fdatasync(FILE).  FILE is filled with zeros and
 * synced at start (LOG_BYTES), and writes go round it in place, so an
 * fdatasync flushes data alone: no size or extent changes, as a
 * preallocated write-ahead log at its best.  Without it FSYNC answers
 * ENOSYS and the kernel takes every fsync as done.
 *
 * Threads: the io_uring queues serve requests on their own threads and
 * FORGETs still come through the reader, so one mutex covers all state;
 * replies are sent under it (uncontended in a one-client benchmark).
 *
 * Memory: a directory's listing slots are append-only (a removed entry
 * leaves a hole) so that readdir offsets stay valid while a listing is in
 * progress; they are reclaimed when the directory becomes empty.
 * Inode numbers are never reused (8 bytes per inode ever made).
 */
#include "mnt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define FLOOR_TIMEOUT 60.0              /* seconds, as lsmfs's default */

struct dent {
    struct dent *hnext;                 /* hash chain */
    uint64_t parent, ino;
    uint32_t slot;                      /* index in the parent's slots */
    char name[];
};

struct node {
    struct stat st;                     /* st_ino, mode, nlink, ids, size, times */
    uint64_t nlookup;                   /* kernel references */
    uint32_t nopen;
    char *data;                         /* regular file: st_size bytes */
    size_t cap;
    struct dent **slots;                /* directory: entries, holes NULL */
    uint32_t nslots, slotcap, live;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct node **nodes;             /* by inode number; 0 unused */
static uint64_t next_ino = FUSE_ROOT_ID, nodecap;
/* Names: a fixed 2^20 chains (8 MiB), short up to about a million names,
 * more than any workload the floor runs (bench-fs spares it "many"). */
#define NBUCKETS (1u << 20)
static struct dent **buckets;

#define LOG_BYTES ((off_t)256 << 20)
static int log_fd = -1;                 /* -o log=FILE; -1 without */
static off_t log_at;                    /* (mu) next write's offset in it */

/* mount/loop.c and uring.c log through this (lsmfs's is in main.c). */
void mnt_log(int level, const char *fmt, ...)
{
    (void)level;
    va_list ap;
    va_start(ap, fmt);
    fputs("fuse_floor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* loop.c's hook for requests libfuse 3.14 cannot decode (lsmfs: O_TMPFILE);
 * the floor has none, so libfuse answers them ENOSYS. */
int mnt_raw_request(struct fuse_session *se, struct mnt_state *m,
                    const struct fuse_buf *buf)
{
    (void)se, (void)m, (void)buf;
    return 0;
}

/* loop.c's check before handing an fsync to a worker; never asked here:
 * the floor has no workers, so the reader serves every request. */
uint64_t mnt_sync_pending(struct mnt_state *m)
{
    (void)m;
    return UINT64_MAX;
}

/* --- inodes and names ------------------------------------------------------ */

static struct node *node_get(uint64_t ino)
{
    return ino < next_ino ? nodes[ino] : NULL;
}

static struct node *node_new(mode_t mode, uid_t uid, gid_t gid)
{
    if (next_ino >= nodecap) {
        uint64_t cap = nodecap ? 2 * nodecap : 1024;
        struct node **p = realloc(nodes, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        nodes = p;
        nodecap = cap;
    }
    struct node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->st.st_ino = next_ino;
    n->st.st_mode = mode;
    n->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
    n->st.st_uid = uid;
    n->st.st_gid = gid;
    n->st.st_blksize = 4096;
    clock_gettime(CLOCK_REALTIME, &n->st.st_mtim);
    n->st.st_atim = n->st.st_ctim = n->st.st_mtim;
    nodes[next_ino++] = n;
    return n;
}

/* Frees n once nothing names or references it (the root never goes). */
static void node_maybe_free(struct node *n)
{
    if (n->st.st_ino == FUSE_ROOT_ID || n->st.st_nlink > 0 || n->nlookup > 0 ||
        n->nopen > 0)
        return;
    nodes[n->st.st_ino] = NULL;
    free(n->data);
    free(n->slots);
    free(n);
}

static void touch(struct node *n, int mtime)
{
    clock_gettime(CLOCK_REALTIME, &n->st.st_ctim);
    if (mtime)
        n->st.st_mtim = n->st.st_ctim;
}

static size_t name_hash(uint64_t parent, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ (parent * 0x9e3779b97f4a7c15ull);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29)) & (NBUCKETS - 1);
}

static struct dent **dent_link(uint64_t parent, const char *name)
{
    struct dent **l = &buckets[name_hash(parent, name)];
    while (*l != NULL && ((*l)->parent != parent || strcmp((*l)->name, name) != 0))
        l = &(*l)->hnext;
    return l;
}

static struct dent *dent_find(uint64_t parent, const char *name)
{
    return *dent_link(parent, name);
}

/* Adds name -> ino in dir (which must not hold name). */
static int dent_add(struct node *dir, const char *name, uint64_t ino)
{
    if (dir->nslots == dir->slotcap) {
        uint32_t cap = dir->slotcap ? 2 * dir->slotcap : 16;
        struct dent **s = realloc(dir->slots, cap * sizeof *s);
        if (s == NULL)
            return -ENOMEM;
        dir->slots = s;
        dir->slotcap = cap;
    }
    size_t len = strlen(name) + 1;
    struct dent *d = malloc(sizeof *d + len);
    if (d == NULL)
        return -ENOMEM;
    memcpy(d->name, name, len);
    d->parent = dir->st.st_ino;
    d->ino = ino;
    d->slot = dir->nslots;
    dir->slots[dir->nslots++] = d;
    dir->live++;
    struct dent **l = &buckets[name_hash(d->parent, name)];
    d->hnext = *l;
    *l = d;
    return 0;
}

static void dent_del(struct node *dir, struct dent *d)
{
    *dent_link(d->parent, d->name) = d->hnext;
    dir->slots[d->slot] = NULL;
    if (--dir->live == 0)
        dir->nslots = 0;                /* no holes left to keep */
    free(d);
}

/* --- replies ---------------------------------------------------------------- */

static void fill_entry(const struct node *n, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    e->ino = n->st.st_ino;
    e->attr = n->st;
    e->attr.st_blocks = (n->st.st_size + 511) / 512;
    e->attr_timeout = FLOOR_TIMEOUT;
    e->entry_timeout = FLOOR_TIMEOUT;
}

/* A looked-up or new entry: one more kernel reference, unless the reply
 * never reached the kernel. */
static void reply_entry(fuse_req_t req, struct node *n)
{
    struct fuse_entry_param e;
    fill_entry(n, &e);
    n->nlookup++;
    if (fuse_reply_entry(req, &e) != 0)
        n->nlookup--;
}

static void reply_attr(fuse_req_t req, const struct node *n)
{
    struct fuse_entry_param e;
    fill_entry(n, &e);
    fuse_reply_attr(req, &e.attr, FLOOR_TIMEOUT);
}

static struct node *dir_get(uint64_t ino, int *err)
{
    struct node *d = node_get(ino);
    *err = d == NULL ? ENOENT : !S_ISDIR(d->st.st_mode) ? ENOTDIR : 0;
    return *err ? NULL : d;
}

/* SERVE runs call under mu; call returns REPLIED once it has replied,
 * else the errno to answer (0: success without data). */
#define REPLIED (-1)
#define SERVE(req, call)                                                    \
    do {                                                                    \
        pthread_mutex_lock(&mu);                                            \
        int err_ = (call);                                                  \
        if (err_ != REPLIED)                                                \
            fuse_reply_err(req, err_);                                      \
        pthread_mutex_unlock(&mu);                                          \
    } while (0)

/* --- operations --------------------------------------------------------------- */

static void floor_init(void *userdata, struct fuse_conn_info *conn)
{
    const struct mnt_state *m = userdata;
    conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_HANDLE_KILLPRIV |
                              FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_ASYNC_DIO |
                              FUSE_CAP_WRITEBACK_CACHE);
    conn->want |= conn->capable & (FUSE_CAP_READDIRPLUS |
                                   (m->want_writeback ? FUSE_CAP_WRITEBACK_CACHE : 0));
    conn->max_write = MNT_MAX_WRITE_MAX;
}

static void floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e = { .entry_timeout = FLOOR_TIMEOUT };
    pthread_mutex_lock(&mu);
    struct dent *d = dent_find(parent, name);
    if (d != NULL)
        reply_entry(req, nodes[d->ino]);
    else
        fuse_reply_entry(req, &e);      /* ino 0: the absence is cached */
    pthread_mutex_unlock(&mu);
}

static void forget_one(fuse_ino_t ino, uint64_t nlookup)
{
    struct node *n = node_get(ino);
    if (n != NULL) {
        n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
        node_maybe_free(n);
    }
}

static void floor_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    pthread_mutex_lock(&mu);
    forget_one(ino, nlookup);
    pthread_mutex_unlock(&mu);
    fuse_reply_none(req);
}

static void floor_forget_multi(fuse_req_t req, size_t count,
                               struct fuse_forget_data *f)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < count; i++)
        forget_one(f[i].ino, f[i].nlookup);
    pthread_mutex_unlock(&mu);
    fuse_reply_none(req);
}

static void floor_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    pthread_mutex_lock(&mu);
    struct node *n = node_get(ino);
    if (n == NULL)
        fuse_reply_err(req, ENOENT);
    else
        reply_attr(req, n);
    pthread_mutex_unlock(&mu);
}

/* Sets a file's size, zeroing what it gains. */
static int resize(struct node *n, size_t size)
{
    if (size > n->cap) {
        size_t cap = n->cap * 2 > size ? n->cap * 2 : size;
        char *p = realloc(n->data, cap);
        if (p == NULL)
            return ENOMEM;
        n->data = p;
        n->cap = cap;
    }
    if (size > (size_t)n->st.st_size)
        memset(n->data + n->st.st_size, 0, size - (size_t)n->st.st_size);
    n->st.st_size = (off_t)size;
    return 0;
}

static int do_setattr(fuse_req_t req, fuse_ino_t ino, const struct stat *a, int set)
{
    struct node *n = node_get(ino);
    if (n == NULL)
        return ENOENT;
    if ((set & FUSE_SET_ATTR_SIZE) && S_ISDIR(n->st.st_mode))
        return EISDIR;
    if ((set & FUSE_SET_ATTR_SIZE) && resize(n, (size_t)a->st_size) != 0)
        return ENOMEM;
    if (set & FUSE_SET_ATTR_MODE)
        n->st.st_mode = (n->st.st_mode & S_IFMT) | (a->st_mode & 07777);
    if (set & FUSE_SET_ATTR_UID)
        n->st.st_uid = a->st_uid;
    if (set & FUSE_SET_ATTR_GID)
        n->st.st_gid = a->st_gid;
    touch(n, (set & FUSE_SET_ATTR_SIZE) != 0);
    if (set & FUSE_SET_ATTR_ATIME)
        n->st.st_atim = set & FUSE_SET_ATTR_ATIME_NOW ? n->st.st_ctim : a->st_atim;
    if (set & FUSE_SET_ATTR_MTIME)
        n->st.st_mtim = set & FUSE_SET_ATTR_MTIME_NOW ? n->st.st_ctim : a->st_mtim;
    if (set & FUSE_SET_ATTR_CTIME)
        n->st.st_ctim = a->st_ctim;
    reply_attr(req, n);
    return REPLIED;
}

static void floor_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a,
                          int set, struct fuse_file_info *fi)
{
    (void)fi;
    SERVE(req, do_setattr(req, ino, a, set));
}

/* create, mknod and mkdir: a new inode named name in parent; fi (create)
 * also opens it. */
static int make(fuse_req_t req, fuse_ino_t parent, const char *name,
                mode_t mode, struct fuse_file_info *fi)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    int err;
    struct node *dir = dir_get(parent, &err), *n;
    if (dir == NULL)
        return err;
    if (dent_find(parent, name) != NULL)
        return EEXIST;
    if ((n = node_new(mode, ctx->uid, ctx->gid)) == NULL)
        return ENOMEM;
    if (dent_add(dir, name, n->st.st_ino) != 0) {
        n->st.st_nlink = 0;
        node_maybe_free(n);
        return ENOMEM;
    }
    dir->st.st_nlink += S_ISDIR(mode) ? 1 : 0;
    touch(dir, 1);
    if (fi == NULL) {
        reply_entry(req, n);
        return REPLIED;
    }
    struct fuse_entry_param e;
    fill_entry(n, &e);
    fi->keep_cache = 1;
    if (fuse_reply_create(req, &e, fi) == 0) {
        n->nlookup++;
        n->nopen++;
    }
    return REPLIED;
}

static void floor_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                         mode_t mode, struct fuse_file_info *fi)
{
    SERVE(req, make(req, parent, name, (mode & ~S_IFMT) | S_IFREG, fi));
}

static void floor_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                        mode_t mode, dev_t rdev)
{
    (void)rdev;
    SERVE(req, make(req, parent, name, mode, NULL));
}

static void floor_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                        mode_t mode)
{
    SERVE(req, make(req, parent, name, (mode & ~S_IFMT) | S_IFDIR, NULL));
}

/* Removes the entry d of dir naming n; for a directory n must be empty. */
static int remove_entry(struct node *dir, struct dent *d, struct node *n)
{
    if (S_ISDIR(n->st.st_mode) && n->live > 0)
        return ENOTEMPTY;
    if (S_ISDIR(n->st.st_mode)) {
        n->st.st_nlink = 0;
        dir->st.st_nlink--;
    } else {
        n->st.st_nlink--;
    }
    dent_del(dir, d);
    touch(dir, 1);
    touch(n, 0);
    node_maybe_free(n);
    return 0;
}

static int do_remove(fuse_ino_t parent, const char *name, int is_dir)
{
    int err;
    struct node *dir = dir_get(parent, &err);
    struct dent *d = dir != NULL ? dent_find(parent, name) : NULL;
    if (d == NULL)
        return dir == NULL ? err : ENOENT;
    struct node *n = nodes[d->ino];
    if (S_ISDIR(n->st.st_mode) != is_dir)
        return is_dir ? ENOTDIR : EISDIR;
    return remove_entry(dir, d, n);
}

static void floor_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    SERVE(req, do_remove(parent, name, 0));
}

static void floor_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    SERVE(req, do_remove(parent, name, 1));
}

/* The VFS has already refused moving a directory under itself. */
static int do_rename(fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                     const char *newname, unsigned flags)
{
    int err, err2;
    if (flags & ~(unsigned)RENAME_NOREPLACE)
        return EINVAL;                  /* no RENAME_EXCHANGE, no whiteouts */
    struct node *from = dir_get(parent, &err), *to = dir_get(newparent, &err2);
    if (from == NULL || to == NULL)
        return from == NULL ? err : err2;
    struct dent *d = dent_find(parent, name);
    if (d == NULL)
        return ENOENT;
    struct node *n = nodes[d->ino];
    struct dent *old = dent_find(newparent, newname);
    if (old != NULL && old->ino == d->ino)
        return 0;
    if (old != NULL) {
        struct node *t = nodes[old->ino];
        if (flags & RENAME_NOREPLACE)
            return EEXIST;
        if (S_ISDIR(t->st.st_mode) != S_ISDIR(n->st.st_mode))
            return S_ISDIR(t->st.st_mode) ? EISDIR : ENOTDIR;
        if ((err = remove_entry(to, old, t)) != 0)
            return err;
    }
    if (dent_add(to, newname, d->ino) != 0)
        return ENOMEM;
    dent_del(from, d);
    if (S_ISDIR(n->st.st_mode)) {
        from->st.st_nlink--;
        to->st.st_nlink++;
    }
    touch(from, 1);
    touch(to, 1);
    touch(n, 0);
    return 0;
}

static void floor_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                         fuse_ino_t newparent, const char *newname,
                         unsigned int flags)
{
    SERVE(req, do_rename(parent, name, newparent, newname, flags));
}

/* ATOMIC_O_TRUNC is on (libfuse's default): open truncates. */
static void floor_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    pthread_mutex_lock(&mu);
    struct node *n = node_get(ino);
    if (n == NULL || S_ISDIR(n->st.st_mode)) {
        fuse_reply_err(req, n == NULL ? ENOENT : EISDIR);
    } else {
        if ((fi->flags & O_TRUNC) && n->st.st_size > 0) {
            n->st.st_size = 0;
            touch(n, 1);
        }
        fi->keep_cache = 1;
        n->nopen += fuse_reply_open(req, fi) == 0;
    }
    pthread_mutex_unlock(&mu);
}

static void floor_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)fi;
    pthread_mutex_lock(&mu);
    struct node *n = node_get(ino);
    size_t have = n != NULL && off < n->st.st_size ? (size_t)(n->st.st_size - off) : 0;
    if (n == NULL)
        fuse_reply_err(req, ENOENT);
    else
        fuse_reply_buf(req, have ? n->data + off : NULL, have < size ? have : size);
    pthread_mutex_unlock(&mu);
}

/* Copies data into the log in place (log_fd >= 0, mu held). */
static int log_append(const char *buf, size_t size)
{
    while (size > 0) {
        if (log_at == LOG_BYTES)
            log_at = 0;
        size_t n = (size_t)(LOG_BYTES - log_at) < size ? (size_t)(LOG_BYTES - log_at) : size;
        ssize_t w = pwrite(log_fd, buf, n, log_at);
        if (w <= 0)
            return -1;
        log_at += w, buf += w, size -= (size_t)w;
    }
    return 0;
}

static void floor_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                        size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    pthread_mutex_lock(&mu);
    struct node *n = node_get(ino);
    size_t end = (size_t)off + size;
    if (n == NULL || (end > (size_t)n->st.st_size && resize(n, end) != 0)) {
        fuse_reply_err(req, n == NULL ? ENOENT : ENOMEM);
    } else {
        memcpy(n->data + off, buf, size);
        touch(n, 1);
        if (log_fd >= 0 && log_append(buf, size) != 0)
            fuse_reply_err(req, EIO);
        else
            fuse_reply_write(req, size);
    }
    pthread_mutex_unlock(&mu);
}

static void floor_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    pthread_mutex_lock(&mu);
    struct node *n = node_get(ino);
    if (n != NULL && n->nopen > 0) {
        n->nopen--;
        node_maybe_free(n);
    }
    pthread_mutex_unlock(&mu);
    fuse_reply_err(req, 0);
}

/* Nothing is buffered here (FSYNC gets ENOSYS: the kernel then takes
 * every fsync as done). */
static void floor_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, 0);
}

static void floor_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                        struct fuse_file_info *fi)
{
    (void)ino, (void)datasync, (void)fi;
    fuse_reply_err(req, log_fd < 0 ? ENOSYS : fdatasync(log_fd) == 0 ? 0 : EIO);
}

/* As lsmfs: ENOSYS makes the kernel open directories itself from now on
 * (FUSE_CAP_NO_OPENDIR_SUPPORT). */
static void floor_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, ENOSYS);
}

/* Entries from slot off on (an entry's offset is its slot + 1).
 * readdirplus takes a lookup reference for each entry it sends; should
 * the reply not reach the kernel they are not returned (the inodes then
 * stay in memory until unmount). */
static int list_dir(fuse_req_t req, fuse_ino_t ino, char *buf, size_t size,
                    off_t off, int plus)
{
    int err;
    struct node *dir = dir_get(ino, &err);
    if (buf == NULL || dir == NULL)
        return buf == NULL ? ENOMEM : err;
    size_t used = 0;
    for (uint32_t i = (uint32_t)off; i < dir->nslots; i++) {
        struct dent *d = dir->slots[i];
        if (d == NULL)
            continue;
        struct fuse_entry_param e;
        fill_entry(nodes[d->ino], &e);
        size_t len = plus ? fuse_add_direntry_plus(req, buf + used, size - used,
                                                   d->name, &e, i + 1)
                          : fuse_add_direntry(req, buf + used, size - used,
                                              d->name, &e.attr, i + 1);
        if (len > size - used)
            break;
        used += len;
        nodes[d->ino]->nlookup += (uint64_t)plus;
    }
    fuse_reply_buf(req, buf, used);
    return REPLIED;
}

static void serve_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      int plus)
{
    char *buf = malloc(size);
    SERVE(req, list_dir(req, ino, buf, size, off, plus));
    free(buf);
}

static void floor_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi)
{
    (void)fi;
    serve_dir(req, ino, size, off, 0);
}

static void floor_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                              off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    serve_dir(req, ino, size, off, 1);
}

static void floor_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    fsblkcnt_t b = 1u << 24;            /* 64 GiB, all free: not enforced */
    struct statvfs s = { .f_bsize = 4096, .f_frsize = 4096, .f_blocks = b, .f_bfree = b,
                         .f_bavail = b, .f_files = b, .f_ffree = b, .f_favail = b,
                         .f_namemax = 255 };
    fuse_reply_statfs(req, &s);
}

/* The kernel asks for security.capability before every write(2), as it
 * does of lsmfs; none is ever set. */
static void floor_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                           size_t size)
{
    (void)ino, (void)name, (void)size;
    fuse_reply_err(req, ENODATA);
}

/* Root may do anything (lsmfs checks; here only root mounts). */
static void floor_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    (void)mask;
    floor_flush(req, ino, NULL);
}

static const struct fuse_lowlevel_ops floor_ops = {
    .init = floor_init, .lookup = floor_lookup, .forget = floor_forget,
    .forget_multi = floor_forget_multi, .getattr = floor_getattr,
    .setattr = floor_setattr, .mknod = floor_mknod, .mkdir = floor_mkdir,
    .unlink = floor_unlink, .rmdir = floor_rmdir, .rename = floor_rename,
    .open = floor_open, .read = floor_read, .write = floor_write,
    .flush = floor_flush, .release = floor_release,
    .opendir = floor_opendir, .readdir = floor_readdir,
    .readdirplus = floor_readdirplus, .statfs = floor_statfs,
    .getxattr = floor_getxattr, .access = floor_access, .create = floor_create,
    .fsync = floor_fsync, .fsyncdir = floor_fsync,
};

/* --- main ---------------------------------------------------------------------- */

struct floor_opts {
    int uring;                          /* MNT_URING_*, as lsmfs's -o */
    int plain_loop;
    int no_writeback;
    char *log;
};

static const struct fuse_opt floor_optspec[] = {
    { "io_uring", offsetof(struct floor_opts, uring), MNT_URING_ON },
    { "no_io_uring", offsetof(struct floor_opts, uring), MNT_URING_OFF },
    { "plain_loop", offsetof(struct floor_opts, plain_loop), 1 },
    { "no_writeback", offsetof(struct floor_opts, no_writeback), 1 },
    { "log=%s", offsetof(struct floor_opts, log), 0 },
    FUSE_OPT_END
};

/* Creates FILE as LOG_BYTES of synced zeros (see the top). */
static int log_open(const char *path)
{
    static const char zeros[1 << 16];
    log_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    for (off_t at = 0; log_fd >= 0 && at < LOG_BYTES; at += sizeof zeros)
        if (pwrite(log_fd, zeros, sizeof zeros, at) != (ssize_t)sizeof zeros)
            return -1;
    return log_fd >= 0 && fsync(log_fd) == 0 ? 0 : -1;
}

static int floor_setup_root(void)
{
    buckets = calloc(NBUCKETS, sizeof *buckets);
    return buckets != NULL && node_new(S_IFDIR | 0755, getuid(), getgid()) != NULL ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct floor_opts fo = { .uring = MNT_URING_AUTO };
    struct fuse_cmdline_opts co = { 0 };
    if (fuse_opt_parse(&args, &fo, floor_optspec, NULL) != 0 ||
        fuse_opt_add_arg(&args, "-ofsname=fuse_floor,subtype=fuse_floor") != 0 ||
        fuse_parse_cmdline(&args, &co) != 0 || co.mountpoint == NULL ||
        co.show_help || co.show_version) {
        fprintf(stderr, "usage: %s [-f] [-d] [-o io_uring|no_io_uring|plain_loop|"
                "no_writeback] [-o log=FILE] MOUNTPOINT\n(a measuring tool: everything is in memory; see "
                "tests/tools/fuse_floor.c)\n", argv[0]);
        return co.show_help ? 0 : 2;
    }
    static struct mnt_state m;          /* the session's userdata: uring.c's */
    m.max_write = MNT_MAX_WRITE_MAX;
    m.want_writeback = !fo.no_writeback;
    struct fuse_session *se = NULL;
    int rc = 1;
    if (fo.log != NULL && log_open(fo.log) != 0) {
        fprintf(stderr, "fuse_floor: %s: %s\n", fo.log, strerror(errno));
        goto out;
    }
    if (floor_setup_root() != 0 ||
        (se = fuse_session_new(&args, &floor_ops, sizeof floor_ops, &m)) == NULL)
        goto out;
    if (fuse_set_signal_handlers(se) != 0)
        goto out;
    if (fuse_session_mount(se, co.mountpoint) != 0)
        goto handlers;
    fuse_daemonize(co.foreground);      /* before any thread or ring */
    int lrc;
    if (fo.plain_loop)
        lrc = fuse_session_loop(se);
    else if ((lrc = mnt_uring_setup(se, &m, fo.uring)) == 0)
        lrc = mnt_loop(se, &m, 0, 0);   /* no workers: nothing here waits */
    rc = lrc < 0 ? 1 : 0;
    if (lrc < 0)
        mnt_log(LOG_ERR, "request loop failed: %s", strerror(-lrc));
    fuse_session_unmount(se);
    mnt_uring_free(m.uring);
handlers:
    fuse_remove_signal_handlers(se);
out:
    if (se != NULL)
        fuse_session_destroy(se);
    fuse_opt_free_args(&args);
    free(co.mountpoint);
    free(fo.log);
    if (log_fd >= 0)
        close(log_fd);
    return rc;
}
