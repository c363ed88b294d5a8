/*
 * blob_gc.c — which blob files the tables of the live versions can still
 * name (blob.h: garbage collection; the deletion is lsm_db_delete_obsolete).
 *
 * Each table's set of blob files is kept in its lsm_file_meta (tables
 * never change): the table builder collects it for flush and compaction
 * outputs (a trivial move copies it); a table from the manifest (an
 * earlier session, a checkpoint, repair) is read once to learn it.  Cost:
 * one sequential read of each such table per session, and only while a
 * blob file exists.
 * While any table's set is unknown (not yet read, or unreadable) the
 * tables count as naming every blob file: nothing is deleted.
 *
 * Garbage (manifest tag 11): the record bytes of each value reference a
 * flush or compaction drops, relocation moves, or a whole-table drop
 * removes, per blob file, in the edit that makes the change, so the
 * totals (vs->garbage) follow the tables exactly, across crashes too.
 * They only choose relocation sources (blob_gc_garbage_percent); the
 * deletion rule above stays the only one that removes a file.
 */
#include "blob.h"
#include "db.h"

#include <stdlib.h>

#include "error.h"
#include "ikey.h"

typedef struct u64_set {
    uint64_t *v;
    size_t n, cap;
} u64_set;

static int set_push(u64_set *s, uint64_t x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        uint64_t *p = realloc(s->v, cap * sizeof *p);
        if (!p)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return LSM_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts s and drops repeats. */
static void set_finish(u64_set *s)
{
    if (s->n == 0)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (k == 0 || s->v[k - 1] != s->v[i])
            s->v[k++] = s->v[i];
    s->n = k;
}

/* The blob files table f names.  A malformed reference names none (its
 * read reports the corruption). */
static int scan_table(lsm_db *db, const lsm_file_meta *f, u64_set *out)
{
    lsm_iiter *it = lsm_table_cache_iter(db->tcache, f->number, f->size, 0);
    if (!it)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int rc = LSM_OK;
    uint64_t last = 0;      /* consecutive references mostly share a file */
    for (lsm_iiter_first(it); rc == LSM_OK && lsm_iiter_valid(it); lsm_iiter_next(it)) {
        lsm_ikey k;
        lsm_blob_ref r;
        if (lsm_ikey_parse(lsm_iiter_key(it), &k) && k.kind == LSM_KIND_BLOB &&
            lsm_blob_ref_decode(lsm_iiter_value(it), &r) && r.file != last) {
            rc = set_push(out, r.file);
            last = r.file;
        }
    }
    if (rc == LSM_OK)
        rc = lsm_iiter_status(it);
    lsm_iiter_free(it);
    if (rc == LSM_OK)
        set_finish(out);
    return rc;
}

void lsm_file_meta_set_blobs(lsm_file_meta *f, uint64_t *files, size_t n)
{
    u64_set s = { .v = files, .n = n, .cap = n };
    set_finish(&s);
    free(f->blob_files);
    f->blob_files = s.v;
    f->nblob_files = s.n;
    f->blobs_known = 1;
}

void lsm_file_meta_copy_blobs(lsm_file_meta *dst, const lsm_file_meta *src)
{
    if (!src->blobs_known)
        return;
    uint64_t *v = src->nblob_files ? malloc(src->nblob_files * sizeof *v) : NULL;
    if (src->nblob_files && !v)
        return;                     /* unknown: read again later */
    for (size_t i = 0; i < src->nblob_files; i++)
        v[i] = src->blob_files[i];
    lsm_file_meta_set_blobs(dst, v, src->nblob_files);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return (x > y) - (x < y);
}

/* The tables of the live versions whose set is not known, each once and
 * referenced (mu held). */
static int unknown_tables(lsm_db *db, lsm_file_meta ***out, size_t *n)
{
    lsm_file_meta **arr = NULL;
    size_t cnt = 0, cap = 0;
    lsm_version_set *vs = &db->vs;
    for (lsm_version *v = vs->live.next; v != &vs->live; v = v->next)
        for (int l = 0; l < LSM_NUM_LEVELS; l++)
            for (size_t i = 0; i < v->nfiles[l]; i++) {
                if (v->files[l][i]->blobs_known)
                    continue;
                if (cnt == cap) {
                    cap = cap ? 2 * cap : 16;
                    lsm_file_meta **p = realloc(arr, cap * sizeof *p);
                    if (!p) {
                        free(arr);
                        return lsm_fail(LSM_NO_MEMORY, "out of memory");
                    }
                    arr = p;
                }
                arr[cnt++] = v->files[l][i];
            }
    if (cnt)
        qsort(arr, cnt, sizeof *arr, cmp_ptr);
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++)
        if (k == 0 || arr[k - 1] != arr[i]) {
            arr[k++] = arr[i];
            lsm_file_meta_ref(arr[i]);
        }
    *out = arr;
    *n = k;
    return LSM_OK;
}

void lsm_blob_gc_learn(lsm_db *db)
{
    lsm_file_meta **todo = NULL;
    size_t n = 0;
    if (unknown_tables(db, &todo, &n) || n == 0) {
        free(todo);
        return;
    }
    pthread_mutex_unlock(&db->mu);
    u64_set *sets = calloc(n, sizeof *sets);
    int *ok = calloc(n, sizeof *ok);
    for (size_t i = 0; sets && ok && i < n; i++)
        ok[i] = scan_table(db, todo[i], &sets[i]) == LSM_OK;
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < n; i++) {
        lsm_file_meta *f = todo[i];
        if (sets && ok && ok[i] && !f->blobs_known) {
            f->blob_files = sets[i].v;
            f->nblob_files = sets[i].n;
            f->blobs_known = 1;
        } else if (sets) {
            free(sets[i].v);
        }
        lsm_file_meta_unref(f);
    }
    free(sets);
    free(ok);
    free(todo);
}

int lsm_blob_gc_named(lsm_db *db, uint64_t **live, size_t *n)
{
    u64_set s = { 0 };
    lsm_version_set *vs = &db->vs;
    for (lsm_version *v = vs->live.next; v != &vs->live; v = v->next)
        for (int l = 0; l < LSM_NUM_LEVELS; l++)
            for (size_t i = 0; i < v->nfiles[l]; i++) {
                const lsm_file_meta *f = v->files[l][i];
                if (!f->blobs_known) {
                    free(s.v);
                    return 0;
                }
                for (size_t j = 0; j < f->nblob_files; j++)
                    if (set_push(&s, f->blob_files[j])) {
                        free(s.v);
                        return 0;
                    }
            }
    set_finish(&s);
    *live = s.v;
    *n = s.n;
    return 1;
}

/* --- garbage (lsm_version_edit.garbage, manifest tag 11) ---------------- */

void lsm_blob_garbage_note(lsm_garbage_list *g, int kind, lsm_slice value)
{
    lsm_blob_ref r;
    if (kind == LSM_KIND_BLOB && lsm_blob_ref_decode(value, &r))
        (void)lsm_garbage_add_record(g, r.file, r.off, lsm_blob_record_bytes(r.len));
}

int lsm_blob_gc_table_garbage(lsm_db *db, const lsm_file_meta *f,
                              lsm_garbage_list *g)
{
    lsm_iiter *it = lsm_table_cache_iter(db->tcache, f->number, f->size, 0);
    if (!it)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it)) {
        lsm_ikey k;
        if (lsm_ikey_parse(lsm_iiter_key(it), &k))
            lsm_blob_garbage_note(g, k.kind, lsm_iiter_value(it));
    }
    int rc = lsm_iiter_status(it);
    lsm_iiter_free(it);
    return rc;
}

void lsm_blob_gc_forget_deleted(lsm_db *db)
{
    lsm_garbage_list *g = &db->vs.garbage;
    if (g->n == 0 || !db->blobs)
        return;
    lsm_blob_file_size *files;
    size_t n;
    if (lsm_blobs_files(db->blobs, &files, &n))
        return;
    size_t k = 0, j = 0;
    for (size_t i = 0; i < g->n; i++) {
        while (j < n && files[j].number < g->v[i].file)
            j++;
        if (j < n && files[j].number == g->v[i].file)
            g->v[k++] = g->v[i];
    }
    g->n = k;
    free(files);
}

/* --- relocation (lsm_options.blob_gc_age_percent, blob_gc_garbage_percent) */

/* The cutoff of relocation by age (mu held; 0: none). */
static uint64_t age_cutoff(lsm_db *db)
{
    int pct = db->opt.blob_gc_age_percent;
    if (pct <= 0 || db->opt.read_only || lsm_blobs_floor(db->blobs) == 0)
        return 0;
    uint64_t hi = lsm_blobs_current(db->blobs);
    if (hi < 2)
        return 0;
    uint64_t lo = hi;
    lsm_version *v = db->vs.current;
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            const lsm_file_meta *f = v->files[l][i];
            if (f->blobs_known && f->nblob_files && f->blob_files[0] < lo)
                lo = f->blob_files[0];
        }
    uint64_t cutoff = lo + (hi + 1 - lo) * (uint64_t)(pct > 100 ? 100 : pct) / 100;
    return cutoff > hi ? hi : cutoff;   /* never the file being written */
}

/* Is the garbage of f still taking space (not freed by holes) at least
 * pct % of the space f takes? */
static int mostly_garbage(const lsm_blob_file_size *f, const lsm_blob_garbage *g,
                          int pct)
{
    uint64_t held = f->bytes > f->punched ? f->bytes - f->punched : 0;
    uint64_t waste = g->bytes > f->punched ? g->bytes - f->punched : 0;
    return held > 0 && waste * 100 >= held * (uint64_t)(pct > 100 ? 100 : pct);
}

/* Blob files (not the one being written) whose garbage is at least
 * blob_gc_garbage_percent of their bytes, sorted (mu held). */
static int garbage_targets(lsm_db *db, uint64_t **out, size_t *nout)
{
    int pct = db->opt.blob_gc_garbage_percent;
    *out = NULL;
    *nout = 0;
    const lsm_garbage_list *g = &db->vs.garbage;
    if (pct <= 0 || g->n == 0)
        return LSM_OK;
    lsm_blob_file_size *files;
    size_t n;
    int rc = lsm_blobs_files(db->blobs, &files, &n);
    if (rc)
        return rc;
    uint64_t current = lsm_blobs_current(db->blobs);
    u64_set s = { 0 };
    for (size_t i = 0; rc == LSM_OK && i < n; i++) {
        const lsm_blob_garbage *e = lsm_garbage_find(g, files[i].number);
        if (e && files[i].number < current &&
            !lsm_blobs_bad(db->blobs, files[i].number) &&
            mostly_garbage(&files[i], e, pct))
            rc = set_push(&s, files[i].number);
    }
    free(files);
    if (rc) {
        free(s.v);
        return rc;
    }
    *out = s.v;
    *nout = s.n;
    return LSM_OK;
}

int lsm_blob_gc_plan(lsm_db *db, lsm_blob_plan *p)
{
    *p = (lsm_blob_plan){ 0 };
    if (db->opt.read_only || lsm_blobs_floor(db->blobs) == 0)
        return 0;
    p->cutoff = age_cutoff(db);
    if (garbage_targets(db, &p->targets, &p->ntargets))
        p->ntargets = 0;
    return p->cutoff > 0 || p->ntargets > 0;
}

void lsm_blob_plan_free(lsm_blob_plan *p)
{
    free(p->targets);
    *p = (lsm_blob_plan){ 0 };
}

static int is_target(const lsm_blob_plan *p, uint64_t file)
{
    if (p->cutoff && file < p->cutoff)
        return 1;
    size_t i = lsm_lower_bound(p->targets, p->ntargets, file);
    return i < p->ntargets && p->targets[i] == file;
}

static int seal_due(lsm_db *db)
{
    int pct = db->opt.blob_gc_garbage_percent;
    uint64_t current = lsm_blobs_current(db->blobs);
    const lsm_blob_garbage *g = lsm_garbage_find(&db->vs.garbage, current);
    if (pct <= 0 || db->opt.read_only || !g || lsm_blobs_floor(db->blobs) == 0)
        return 0;
    lsm_blob_file_size *files;
    size_t n;
    if (lsm_blobs_files(db->blobs, &files, &n))
        return 0;
    int due = 0;
    for (size_t i = 0; i < n; i++)
        if (files[i].number == current)
            due = g->bytes * 100 >= files[i].bytes * (uint64_t)(pct > 100 ? 100 : pct);
    free(files);
    return due;
}

int lsm_blob_gc_seal_if_due(lsm_db *db, int *sealed)
{
    *sealed = 0;
    if (!seal_due(db))
        return LSM_OK;
    uint64_t before = lsm_blobs_current(db->blobs);
    pthread_mutex_unlock(&db->mu);     /* never wait for a blob write */
    int rc = lsm_blobs_seal(db->blobs);
    pthread_mutex_lock(&db->mu);
    /* Only a new file is a change: else the next pass would seal again. */
    *sealed = rc == LSM_OK && lsm_blobs_current(db->blobs) != before;
    return rc;
}

int lsm_blob_gc_pick(lsm_db *db, int only_level, int *level, uint64_t *number)
{
    lsm_blob_plan p;
    lsm_blob_gc_plan(db, &p);
    int found = 0;
    if (p.ntargets > 0) {
        p.cutoff = 0;       /* by garbage only: age moves ride compactions */
        const lsm_version *v = db->vs.current;
        for (int l = 0; !found && l < LSM_NUM_LEVELS; l++)
            for (size_t i = 0; !found && (only_level < 0 || l == only_level) &&
                               i < v->nfiles[l]; i++) {
                const lsm_file_meta *f = v->files[l][i];
                if (f->being_compacted || f->damaged || !f->blobs_known)
                    continue;
                for (size_t j = 0; !found && j < f->nblob_files; j++)
                    if (is_target(&p, f->blob_files[j])) {
                        *level = l;
                        *number = f->number;
                        found = 1;
                    }
            }
    }
    lsm_blob_plan_free(&p);
    return found;
}

int lsm_blob_relocate(lsm_db *db, lsm_blob_move *m, lsm_slice *ref)
{
    lsm_blob_ref r;
    if (!m->plan || !lsm_blob_ref_decode(*ref, &r) || !is_target(m->plan, r.file))
        return LSM_OK;
    if (lsm_blobs_read(db->blobs, *ref, &m->value) != LSM_OK) {
        lsm_db_log(db, LSM_LOG_WARNING, "blob relocation: %s; the value stays",
                   lsm_last_error());
        lsm_blobs_mark_bad(db->blobs, r.file);
        return LSM_OK;          /* its damage shows when it is read */
    }
    lsm_blob_ref nr;
    int rc = lsm_blobs_add(db->blobs, lsm_buf_slice(&m->value), &nr);
    lsm_buf_clear(&m->ref);
    if (rc == LSM_OK)
        rc = lsm_blob_ref_encode(&nr, &m->ref);
    if (rc)
        return rc;
    m->moved++;
    (void)lsm_garbage_add_record(&m->garbage, r.file, r.off,
                                 lsm_blob_record_bytes(r.len));
    (void)lsm_garbage_add_record(&m->copies, nr.file, nr.off,
                                 lsm_blob_record_bytes(nr.len));
    *ref = lsm_buf_slice(&m->ref);
    return LSM_OK;
}
