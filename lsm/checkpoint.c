/*
 * checkpoint.c — a consistent copy of a live store in a new directory
 * (lsm.h, "checkpoints").
 *
 * The pin is what an iterator takes: under mu, a reference to the
 * current version (its tables are then never deleted: deletion spares
 * every table a live version lists), references to the memtables, and
 * the last visible sequence number S.  Every write with sequence <= S is
 * in those memtables or tables; entries above S that land in the pinned
 * memtables later are left out when they are copied.
 *
 * dest gets the source's table numbers, then (all above them, from the
 * source's next file number N at the pin) N for the memtable table,
 * N + 1 for the manifest; its log number is N + 2, so no WAL is needed.
 * CURRENT is written last: until then dest is not a store.
 *
 * Blob files (blob.c) are all linked or copied, after the tables.
 *
 * Named snapshots: dest keeps the records of those the pin sees (same
 * names, ids, sequence numbers), and the next id.  The pinned tables hold
 * every version they see (compaction kept them for their pins); the
 * memtable table keeps every version newer than the oldest of them, so
 * each reads in dest as in the source.
 */
#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "filename.h"
#include "blob.h"
#include "ikey.h"

#define COPY_CHUNK (1u << 20)

struct lsm_checkpoint {
    lsm_db *db;
    lsm_version *v;
    lsm_memtable *mems[LSM_MAX_IMM + 1];
    int nmems;
    uint64_t seq;
    uint64_t next_file;
    uint64_t table_bytes;
    lsm_snap_record *snaps;     /* named snapshots at the pin (seq <= S) */
    size_t nsnaps;
    uint32_t next_snap_id;
};

/* Copies the named snapshots the pin sees (mu held). */
static int copy_named(lsm_checkpoint *cp, const lsm_version_set *vs)
{
    cp->next_snap_id = vs->next_snap_id;
    if (vs->nnamed == 0)
        return LSM_OK;
    cp->snaps = malloc(vs->nnamed * sizeof *cp->snaps);
    if (!cp->snaps)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < vs->nnamed; i++)
        if (vs->named[i].seq <= cp->seq)
            cp->snaps[cp->nsnaps++] = vs->named[i];
    return LSM_OK;
}

/* The oldest sequence number a reader of dest may read at: the oldest
 * kept snapshot's, else S.  The memtable table keeps what it sees. */
static uint64_t oldest_reader(const lsm_checkpoint *cp)
{
    uint64_t oldest = cp->seq;
    for (size_t i = 0; i < cp->nsnaps; i++)
        if (cp->snaps[i].seq < oldest)
            oldest = cp->snaps[i].seq;
    return oldest;
}

int lsm_checkpoint_begin(lsm_db *db, lsm_checkpoint **out)
{
    lsm_checkpoint *cp = calloc(1, sizeof *cp);
    if (!cp)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    cp->db = db;
    pthread_mutex_lock(&db->mu);
    cp->v = db->vs.current;
    lsm_version_ref(cp->v);
    cp->mems[cp->nmems++] = db->mem;
    for (int i = 0; i < db->nimm; i++)
        cp->mems[cp->nmems++] = db->imm[i];
    for (int i = 0; i < cp->nmems; i++)
        lsm_memtable_ref(cp->mems[i]);
    cp->seq = db->vs.last_seq;
    cp->next_file = db->vs.next_file;
    int rc = copy_named(cp, &db->vs);
    pthread_mutex_unlock(&db->mu);
    if (rc != LSM_OK) {
        lsm_checkpoint_end(cp);
        return rc;
    }
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        cp->table_bytes += lsm_version_level_bytes(cp->v, l);
    *out = cp;
    return LSM_OK;
}

uint64_t lsm_checkpoint_seq(const lsm_checkpoint *cp)
{
    return cp->seq;
}

uint64_t lsm_checkpoint_bytes(const lsm_checkpoint *cp)
{
    return cp->table_bytes;
}

void lsm_checkpoint_end(lsm_checkpoint *cp)
{
    if (!cp)
        return;
    for (int i = 0; i < cp->nmems; i++)
        lsm_memtable_unref(cp->mems[i]);
    pthread_mutex_lock(&cp->db->mu);
    lsm_db_release_version(cp->db, cp->v);
    pthread_mutex_unlock(&cp->db->mu);
    free(cp->snaps);
    free(cp);
}

/* --- writing dest ---------------------------------------------------------- */

typedef struct cp_write {
    lsm_checkpoint *cp;
    lsm_env *env;
    const char *dest;
    char **made;                 /* paths created in dest, for cleanup */
    size_t nmade, cap;
    lsm_progress_fn fn;
    void *ctx;
    uint64_t done, total;
    lsm_checkpoint_result *res;
} cp_write;

static int note_made(cp_write *w, char *path)
{
    if (w->nmade == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        char **p = realloc(w->made, cap * sizeof *p);
        if (!p) {
            free(path);
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        }
        w->made = p;
        w->cap = cap;
    }
    w->made[w->nmade++] = path;
    return LSM_OK;
}

static void progress(cp_write *w, uint64_t bytes)
{
    w->done += bytes;
    if (w->fn)
        w->fn(w->ctx, w->done, w->total);
}

/* dest must not exist (it is made) or be an empty directory. */
static int prepare_dest(cp_write *w, int *created)
{
    *created = 0;
    if (!w->env->exists(w->env, w->dest)) {
        int rc = w->env->mkdir(w->env, w->dest);
        *created = rc == LSM_OK;
        return rc;
    }
    char **names;
    size_t n;
    int rc = w->env->list_dir(w->env, w->dest, &names, &n);
    if (rc)
        return lsm_fail(rc, "%s: not a directory, or unreadable: %s", w->dest,
                        lsm_last_error());
    lsm_env_free_names(names, n);
    if (n > 0)
        return lsm_fail(LSM_INVALID, "%s is not empty", w->dest);
    return LSM_OK;
}

static int copy_file(cp_write *w, const char *from, const char *to)
{
    lsm_file *in, *out;
    int rc = w->env->open_read(w->env, from, &in);
    if (rc)
        return rc;
    rc = w->env->open_write(w->env, to, &out);
    if (rc) {
        lsm_file_close(in);
        return rc;
    }
    char *made = strdup(to);
    rc = made ? note_made(w, made) : lsm_fail(LSM_NO_MEMORY, "out of memory");
    char *buf = malloc(COPY_CHUNK);
    if (!buf && !rc)
        rc = lsm_fail(LSM_NO_MEMORY, "out of memory");
    uint64_t off = 0;
    while (rc == LSM_OK) {
        size_t got = 0;
        rc = lsm_file_pread(in, off, buf, COPY_CHUNK, &got);
        if (rc || got == 0)
            break;
        rc = lsm_file_append(out, buf, got);
        off += got;
        w->res->copied_bytes += got;
        if (rc == LSM_OK)
            progress(w, got);
    }
    if (rc == LSM_OK)
        rc = lsm_file_sync(out);
    int crc = lsm_file_close(out);
    lsm_file_close(in);
    free(buf);
    return rc ? rc : crc;
}

/* Links (POSIX, same filesystem) or copies one table or blob file. */
static int put_file(cp_write *w, enum lsm_file_type type, uint64_t number,
                    uint64_t size)
{
    lsm_db *db = w->cp->db;
    char *from = lsm_filename(db->dir, type, number);
    char *to = lsm_filename(w->dest, type, number);
    int rc = from && to ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    int linked = 0;
    if (rc == LSM_OK && w->env == lsm_env_posix()) {
        if (link(from, to) == 0)
            linked = 1;
        else if (errno != EXDEV && errno != EPERM && errno != EMLINK &&
                 errno != ENOTSUP)
            rc = lsm_fail_errno(errno, "link %s to %s", from, to);
    }
    if (rc == LSM_OK && linked) {
        rc = note_made(w, to);
        to = NULL;
        w->res->linked++;
        progress(w, size);
    } else if (rc == LSM_OK) {
        rc = copy_file(w, from, to);
    }
    free(from);
    free(to);
    return rc;
}

static int put_table(cp_write *w, const lsm_file_meta *f)
{
    w->res->tables++;
    w->res->bytes += f->size;
    return put_file(w, LSM_FILE_TABLE, f->number, f->size);
}

/* Every blob file of the source (blob.c): those the pinned tables and
 * memtables name are among them (a pin keeps every blob file from being
 * deleted while they are listed and linked; garbage ones come along and
 * are collected in dest once it is opened).  They are fsync'ed first, so
 * a link shares only durable bytes; a blob file is append-only, so what
 * the pin names never changes after.  The file being written is sealed
 * first: a linked file is never punched (blob.h: holes), so new values
 * go to one the source alone holds. */
static int put_blobs(cp_write *w)
{
    lsm_db *db = w->cp->db;
    lsm_blob_pin pin;
    lsm_blobs_pin(db->blobs, &pin, 0);
    int rc = lsm_blobs_seal(db->blobs);
    if (rc == LSM_OK)
        rc = lsm_blobs_sync(db->blobs);
    char **names = NULL;
    size_t n = 0;
    if (rc == LSM_OK)
        rc = db->env->list_dir(db->env, db->dir, &names, &n);
    for (size_t i = 0; rc == LSM_OK && i < n; i++) {
        uint64_t number;
        if (lsm_parse_filename(names[i], &number) == LSM_FILE_BLOB)
            rc = put_file(w, LSM_FILE_BLOB, number, 0);
    }
    if (names)
        lsm_env_free_names(names, n);
    lsm_blobs_unpin(db->blobs, &pin);
    return rc;
}

/* Copies the entries (and range deletions) with sequence <= seq from
 * src into dst. */
static int copy_memtable(lsm_memtable *dst, lsm_memtable *src, uint64_t seq)
{
    int rc = LSM_OK;
    for (int pass = 0; pass < 2 && rc == LSM_OK; pass++) {
        lsm_iiter *it = pass == 0 ? lsm_memtable_iter(src)
                                  : lsm_memtable_range_del_iter(src);
        if (!it)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        for (lsm_iiter_first(it); rc == LSM_OK && lsm_iiter_valid(it);
             lsm_iiter_next(it)) {
            lsm_ikey k;
            if (!lsm_ikey_parse(lsm_iiter_key(it), &k))
                rc = lsm_fail(LSM_CORRUPTION, "malformed memtable key");
            else if (k.seq <= seq)
                rc = lsm_memtable_add(dst, k.seq, k.kind, k.user,
                                      lsm_iiter_value(it));
        }
        if (rc == LSM_OK)
            rc = lsm_iiter_status(it);
        lsm_iiter_free(it);
    }
    return rc;
}

/* Writes the unflushed entries up to S as table `number` in dest; adds it
 * to e (nothing if there are none). */
static int put_memtables(cp_write *w, uint64_t number, lsm_version_edit *e)
{
    lsm_checkpoint *cp = w->cp;
    lsm_memtable *m = lsm_memtable_new(NULL, 0);   /* outside the pool's bound; not read */
    if (!m)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int rc = LSM_OK;
    for (int i = 0; rc == LSM_OK && i < cp->nmems; i++)
        rc = copy_memtable(m, cp->mems[i], cp->seq);
    if (rc || lsm_memtable_empty(m)) {
        lsm_memtable_unref(m);
        return rc;
    }
    char *path = lsm_filename(w->dest, LSM_FILE_TABLE, number);
    lsm_file *f = NULL;
    rc = path ? w->env->open_write(w->env, path, &f)
              : lsm_fail(LSM_NO_MEMORY, "out of memory");
    if (rc == LSM_OK)
        rc = note_made(w, path);
    else
        free(path);
    lsm_file_meta meta = { 0 };
    if (rc == LSM_OK)
        rc = lsm_build_memtable_table(cp->db, m, f, oldest_reader(cp), &meta,
                                      NULL);
    if (f) {
        int crc = lsm_file_close(f);
        rc = rc ? rc : crc;
    }
    if (rc == LSM_OK)
        rc = lsm_edit_add_file(e, 0, number, meta.size, meta.entries,
                               lsm_buf_slice(&meta.smallest),
                               lsm_buf_slice(&meta.largest));
    if (rc == LSM_OK) {
        w->res->tables++;
        w->res->bytes += meta.size;
        w->res->copied_bytes += meta.size;
        w->total += meta.size;
        progress(w, meta.size);
    }
    lsm_buf_free(&meta.smallest);
    lsm_buf_free(&meta.largest);
    free(meta.blob_files);
    lsm_memtable_unref(m);
    return rc;
}

static int write_manifest(cp_write *w, uint64_t number,
                          const lsm_version_edit *e)
{
    char *path = lsm_filename(w->dest, LSM_FILE_MANIFEST, number);
    lsm_file *f;
    int rc = path ? w->env->open_write(w->env, path, &f)
                  : lsm_fail(LSM_NO_MEMORY, "out of memory");
    if (rc) {
        free(path);
        return rc;
    }
    rc = note_made(w, path);
    lsm_wal_writer *lw = NULL;
    if (rc == LSM_OK)
        rc = lsm_wal_writer_new(f, 0, &lw);
    else
        lsm_file_close(f);
    lsm_buf rec = { 0 };
    if (rc == LSM_OK)
        rc = lsm_edit_encode(e, &rec);
    if (rc == LSM_OK)
        rc = lsm_wal_append(lw, lsm_buf_slice(&rec));
    if (rc == LSM_OK)
        rc = lsm_wal_sync(lw);
    if (lw) {
        int crc = lsm_wal_writer_close(lw);
        rc = rc ? rc : crc;
    }
    lsm_buf_free(&rec);
    return rc;
}

static int write_dest(cp_write *w)
{
    lsm_checkpoint *cp = w->cp;
    lsm_version_edit e;
    lsm_edit_init(&e);
    e.has_comparator = 1;
    snprintf(e.comparator, sizeof e.comparator, "%s", LSM_COMPARATOR_NAME);
    e.style = cp->db->vs.style;
    int rc = LSM_OK;
    for (int l = 0; rc == LSM_OK && l < LSM_NUM_LEVELS; l++)
        for (size_t i = 0; rc == LSM_OK && i < cp->v->nfiles[l]; i++) {
            const lsm_file_meta *f = cp->v->files[l][i];
            rc = put_table(w, f);
            if (rc == LSM_OK)
                rc = lsm_edit_add_meta(&e, l, f);
        }
    uint64_t n = cp->next_file;
    if (rc == LSM_OK)
        rc = put_blobs(w);
    if (rc == LSM_OK)
        rc = put_memtables(w, n, &e);
    e.has_log_number = e.has_next_file = e.has_last_seq = 1;
    e.log_number = n + 2;
    e.next_file = n + 3;
    e.last_seq = cp->seq;
    e.has_next_snap_id = 1;
    e.next_snap_id = cp->next_snap_id;
    for (size_t i = 0; rc == LSM_OK && i < cp->nsnaps; i++)
        rc = lsm_edit_add_snapshot(&e, &cp->snaps[i]);
    if (rc == LSM_OK)
        rc = write_manifest(w, n + 1, &e);
    if (rc == LSM_OK)
        rc = w->env->sync_dir(w->env, w->dest);
    if (rc == LSM_OK) {
        char buf[64];
        int len = snprintf(buf, sizeof buf, "MANIFEST-%06llu\n",
                           (unsigned long long)(n + 1));
        rc = lsm_env_write_file_atomic(w->env, w->dest, "CURRENT", buf,
                                       (size_t)len);
    }
    lsm_edit_free(&e);
    return rc;
}

int lsm_checkpoint_write(lsm_checkpoint *cp, const char *dest,
                         lsm_progress_fn fn, void *ctx,
                         lsm_checkpoint_result *res)
{
    lsm_checkpoint_result scratch;
    if (!res)
        res = &scratch;
    memset(res, 0, sizeof *res);
    res->seq = cp->seq;
    cp_write w = { .cp = cp, .env = cp->db->env, .dest = dest, .fn = fn,
                   .ctx = ctx, .total = cp->table_bytes, .res = res };
    int created;
    int rc = prepare_dest(&w, &created);
    if (rc)
        return rc;
    rc = write_dest(&w);
    if (rc) {
        char msg[512];
        lsm_error_copy(msg, sizeof msg);
        for (size_t i = w.nmade; i-- > 0;)
            w.env->unlink(w.env, w.made[i]);
        char *cur = lsm_filename(dest, LSM_FILE_CURRENT, 0);
        if (cur && w.env->exists(w.env, cur))
            w.env->unlink(w.env, cur);
        free(cur);
        if (created && w.env == lsm_env_posix())
            rmdir(dest);
        lsm_fail(rc, "checkpoint into %s: %s", dest, msg);
    }
    for (size_t i = 0; i < w.nmade; i++)
        free(w.made[i]);
    free(w.made);
    return rc;
}
