/*
 * version.c — versions, lookups through the levels, and the version set
 * with its manifest (see version.h; record format in version_edit.c).
 */
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "filename.h"
#include "ikey.h"
#include "wal.h"

#define COMPARATOR_NAME LSM_COMPARATOR_NAME

/* --- versions ------------------------------------------------------------ */

static lsm_version *version_new(lsm_version_set *vs)
{
    lsm_version *v = calloc(1, sizeof *v);
    if (v) {
        v->vset = vs;
        v->refs = 0;
        v->prev = v->next = v;
    }
    return v;
}

static void version_free(lsm_version *v)
{
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        for (size_t i = 0; i < v->nfiles[l]; i++)
            lsm_file_meta_unref(v->files[l][i]);
        free(v->files[l]);
    }
    free(v);
}

void lsm_version_ref(lsm_version *v)
{
    __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
}

int lsm_version_unref_if_shared(lsm_version *v)
{
    int refs = __atomic_load_n(&v->refs, __ATOMIC_RELAXED);
    while (refs > 1)
        if (__atomic_compare_exchange_n(&v->refs, &refs, refs - 1, 1,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return 1;
    return 0;
}

void lsm_version_unref(lsm_version *v)
{
    if (__atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        v->prev->next = v->next;
        v->next->prev = v->prev;
        v->vset->obsolete_files = 1;
        version_free(v);
    }
}

uint64_t lsm_version_level_bytes(const lsm_version *v, int level)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < v->nfiles[level]; i++)
        sum += v->files[level][i]->size;
    return sum;
}

size_t lsm_version_find_file(const lsm_version *v, int level, lsm_slice ikey)
{
    size_t lo = 0, hi = v->nfiles[level];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lsm_ikey_cmp(lsm_buf_slice(&v->files[level][mid]->largest), ikey) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int user_in_file(const lsm_file_meta *f, lsm_slice user)
{
    return lsm_slice_cmp(user, lsm_ikey_user(lsm_buf_slice(&f->smallest))) >= 0 &&
           lsm_slice_cmp(user, lsm_ikey_user(lsm_buf_slice(&f->largest))) <= 0;
}

/* Looks the key up in one table: updates *max_tomb with the table's
 * covering range deletions, then returns as lsm_version_get does. */
static int table_get(lsm_version *v, const lsm_file_meta *f, lsm_slice ikey,
                     uint64_t snap, uint64_t *max_tomb, lsm_buf *val,
                     int fill_cache)
{
    lsm_table *t;
    lsm_cache_handle *h;
    int rc = lsm_table_cache_get(v->vset->tcache, f->number, f->size, &t, &h);
    if (rc)
        return rc;
    lsm_slice user = lsm_ikey_user(ikey);
    uint64_t tomb = lsm_table_range_del_max_seq(t, user, snap);
    if (tomb > *max_tomb)
        *max_tomb = tomb;
    lsm_buf found = { 0 };
    rc = lsm_table_get(t, ikey, &found, val, fill_cache);
    lsm_table_cache_release(v->vset->tcache, h);
    if (rc <= 0) {
        lsm_buf_free(&found);
        return rc < 0 ? rc : -1;
    }
    lsm_ikey k;
    if (!lsm_ikey_parse(lsm_buf_slice(&found), &k)) {
        lsm_buf_free(&found);
        return lsm_fail(LSM_CORRUPTION, "table %06llu: malformed key",
                        (unsigned long long)f->number);
    }
    lsm_buf_free(&found);
    /* Covered by a deletion at or above its sequence number (repair.c's
     * deletion_seq relies on the "at"); none covers when *max_tomb is 0,
     * so a put at sequence 0 (ikey.h) is visible then. */
    if (lsm_kind_is_put(k.kind) && (k.seq > *max_tomb || *max_tomb == 0))
        return k.kind;
    return LSM_KIND_DELETE;
}

int lsm_version_get(lsm_version *v, lsm_slice user_key, uint64_t snap_seq,
                    uint64_t *max_tomb, lsm_buf *val, int fill_cache)
{
    lsm_buf ikey = { 0 };
    if (lsm_ikey_append(&ikey, user_key, snap_seq, LSM_KIND_SEEK))
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int rc = -1;
    /* Level 0: newest table first (files are kept sorted by number). */
    for (size_t i = v->nfiles[0]; rc == -1 && i-- > 0;) {
        const lsm_file_meta *f = v->files[0][i];
        if (user_in_file(f, user_key))
            rc = table_get(v, f, lsm_buf_slice(&ikey), snap_seq, max_tomb,
                           val, fill_cache);
    }
    for (int l = 1; rc == -1 && l < LSM_NUM_LEVELS; l++) {
        size_t i = lsm_version_find_file(v, l, lsm_buf_slice(&ikey));
        if (i < v->nfiles[l] && user_in_file(v->files[l][i], user_key))
            rc = table_get(v, v->files[l][i], lsm_buf_slice(&ikey), snap_seq,
                           max_tomb, val, fill_cache);
    }
    lsm_buf_free(&ikey);
    return rc;
}

/* --- level iterators -------------------------------------------------------
 * A sorted level is iterated as a two-level iterator: the index is this
 * iterator over its file list (key = largest key, value = number, size),
 * each value opened as a table iterator through the table cache. */
typedef struct level_arg {
    lsm_table_cache *tc;
    int fill_cache;
} level_arg;

typedef struct files_iter {
    lsm_iiter base;
    lsm_file_meta **files;
    size_t n, pos;               /* pos == n: invalid */
    char value[16];
    level_arg open;              /* how its tables are opened */
} files_iter;

#define FI(it) ((files_iter *)(it))
static int fi_valid(lsm_iiter *it) { return FI(it)->pos < FI(it)->n; }
static void fi_first(lsm_iiter *it) { FI(it)->pos = 0; }
static void fi_last(lsm_iiter *it) { FI(it)->pos = FI(it)->n ? FI(it)->n - 1 : 0; }
static void fi_next(lsm_iiter *it) { FI(it)->pos++; }
static void fi_prev(lsm_iiter *it)
{
    FI(it)->pos = FI(it)->pos == 0 ? FI(it)->n : FI(it)->pos - 1;
}
static void fi_seek(lsm_iiter *it, lsm_slice target)
{
    files_iter *f = FI(it);
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lsm_ikey_cmp(lsm_buf_slice(&f->files[mid]->largest), target) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    f->pos = lo;
}
static lsm_slice fi_key(lsm_iiter *it)
{
    return lsm_buf_slice(&FI(it)->files[FI(it)->pos]->largest);
}
static lsm_slice fi_value(lsm_iiter *it)
{
    files_iter *f = FI(it);
    lsm_encode_fixed64(f->value, f->files[f->pos]->number);
    lsm_encode_fixed64(f->value + 8, f->files[f->pos]->size);
    return lsm_slice_make(f->value, 16);
}
static int fi_status(lsm_iiter *it) { (void)it; return LSM_OK; }
static void fi_destroy(lsm_iiter *it) { free(it); }

static const struct lsm_iiter_ops files_iter_ops = {
    fi_valid, fi_first, fi_last, fi_seek, fi_next, fi_prev,
    fi_key, fi_value, fi_status, fi_destroy,
};

/* Opens the table a files_iter entry names (arg: its level_arg). */
static lsm_iiter *open_level_file(void *arg, lsm_slice value)
{
    const level_arg *a = arg;
    if (value.len != 16)
        return lsm_iiter_error(LSM_CORRUPTION);
    return lsm_table_cache_iter(a->tc, lsm_decode_fixed64(value.data),
                                lsm_decode_fixed64(value.data + 8), a->fill_cache);
}

static lsm_iiter *level_iter_new(lsm_version *v, int level, int fill_cache)
{
    files_iter *f = calloc(1, sizeof *f);
    if (!f)
        return lsm_iiter_error(LSM_NO_MEMORY);
    f->base.ops = &files_iter_ops;
    f->files = v->files[level];
    f->n = f->pos = v->nfiles[level];
    f->open = (level_arg){ v->vset->tcache, fill_cache };
    lsm_iiter *it = lsm_twolevel_iter_new(&f->base, open_level_file, &f->open);
    return it ? it : lsm_iiter_error(LSM_NO_MEMORY);
}

int lsm_version_add_iters(lsm_version *v, int fill_cache, lsm_iiter **its,
                          int *n)
{
    for (size_t i = v->nfiles[0]; i-- > 0;) {
        const lsm_file_meta *f = v->files[0][i];
        its[(*n)++] = lsm_table_cache_iter(v->vset->tcache, f->number,
                                           f->size, fill_cache);
    }
    for (int l = 1; l < LSM_NUM_LEVELS; l++)
        if (v->nfiles[l])
            its[(*n)++] = level_iter_new(v, l, fill_cache);
    return LSM_OK;
}

int lsm_version_add_range_del_iters(lsm_version *v, lsm_iiter ***its, int *n,
                                    int *cap)
{
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            const lsm_file_meta *f = v->files[l][i];
            if (*n == *cap) {
                int ncap = *cap ? *cap * 2 : 16;
                lsm_iiter **p = realloc(*its, (size_t)ncap * sizeof *p);
                if (!p)
                    return lsm_fail(LSM_NO_MEMORY, "out of memory");
                *its = p;
                *cap = ncap;
            }
            (*its)[(*n)++] = lsm_table_cache_range_del_iter(v->vset->tcache,
                                                            f->number, f->size);
        }
    }
    return LSM_OK;
}

int lsm_version_pin_range_del_tables(lsm_version *v, lsm_pinned_table **out,
                                     size_t *n)
{
    size_t total = 0, k = 0;
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        total += v->nfiles[l];
    lsm_pinned_table *p = malloc((total ? total : 1) * sizeof *p);
    if (!p)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int rc = LSM_OK;
    for (int l = 0; rc == LSM_OK && l < LSM_NUM_LEVELS; l++)
        for (size_t i = 0; rc == LSM_OK && i < v->nfiles[l]; i++) {
            lsm_file_meta *f = v->files[l][i];
            if (__atomic_load_n(&f->range_dels, __ATOMIC_RELAXED) == LSM_RDELS_NONE)
                continue;
            rc = lsm_table_cache_get(v->vset->tcache, f->number, f->size,
                                     &p[k].t, &p[k].h);
            if (rc != LSM_OK)
                break;
            int some = lsm_table_has_range_dels(p[k].t);
            __atomic_store_n(&f->range_dels, lsm_rdels_known(some),
                             __ATOMIC_RELAXED);
            if (some)
                k++;
            else
                lsm_table_cache_release(v->vset->tcache, p[k].h);
        }
    if (rc) {
        lsm_version_unpin_tables(v, p, k);
        return rc;
    }
    *out = p;
    *n = k;
    return LSM_OK;
}

void lsm_version_unpin_tables(lsm_version *v, lsm_pinned_table *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lsm_table_cache_release(v->vset->tcache, p[i].h);
    free(p);
}

static int ranges_overlap(const lsm_file_meta *f, const lsm_slice *begin,
                          const lsm_slice *end)
{
    if (begin && lsm_slice_cmp(lsm_ikey_user(lsm_buf_slice(&f->largest)), *begin) < 0)
        return 0;
    if (end && lsm_slice_cmp(lsm_ikey_user(lsm_buf_slice(&f->smallest)), *end) > 0)
        return 0;
    return 1;
}

int lsm_version_overlapping(const lsm_version *v, int level,
                            const lsm_slice *begin, const lsm_slice *end,
                            lsm_file_meta ***out, size_t *n)
{
    size_t cnt = v->nfiles[level];
    lsm_file_meta **res = malloc((cnt ? cnt : 1) * sizeof *res);
    if (!res)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_slice b = begin ? *begin : lsm_slice_make("", 0);
    lsm_slice e = end ? *end : lsm_slice_make("", 0);
    int has_b = begin != NULL, has_e = end != NULL;
    size_t k;
restart:
    k = 0;
    for (size_t i = 0; i < cnt; i++) {
        lsm_file_meta *f = v->files[level][i];
        if (!ranges_overlap(f, has_b ? &b : NULL, has_e ? &e : NULL))
            continue;
        res[k++] = f;
        if (level != 0)
            continue;
        /* Level-0 files overlap each other: widen and start over. */
        lsm_slice fs = lsm_ikey_user(lsm_buf_slice(&f->smallest));
        lsm_slice fl = lsm_ikey_user(lsm_buf_slice(&f->largest));
        if (has_b && lsm_slice_cmp(fs, b) < 0) {
            b = fs;
            goto restart;
        }
        if (has_e && lsm_slice_cmp(fl, e) > 0) {
            e = fl;
            goto restart;
        }
    }
    *out = res;
    *n = k;
    return LSM_OK;
}

/* --- applying edits ------------------------------------------------------------ */

static int cmp_by_number(const void *a, const void *b)
{
    const lsm_file_meta *x = *(lsm_file_meta *const *)a;
    const lsm_file_meta *y = *(lsm_file_meta *const *)b;
    return (x->number > y->number) - (x->number < y->number);
}

static int cmp_by_smallest(const void *a, const void *b)
{
    const lsm_file_meta *x = *(lsm_file_meta *const *)a;
    const lsm_file_meta *y = *(lsm_file_meta *const *)b;
    int r = lsm_ikey_cmp(lsm_buf_slice(&x->smallest), lsm_buf_slice(&y->smallest));
    return r ? r : cmp_by_number(a, b);
}

static int is_deleted(const lsm_version_edit *e, int level, uint64_t number)
{
    for (size_t i = 0; i < e->ndeleted; i++)
        if (e->deleted[i].level == level && e->deleted[i].number == number)
            return 1;
    return 0;
}

/* Builds level `l` of v from base's files minus deletions plus additions. */
static int build_level(lsm_version *v, const lsm_version *base,
                       const lsm_version_edit *e, int l)
{
    size_t cap = (base ? base->nfiles[l] : 0) + e->nadded;
    v->files[l] = malloc((cap ? cap : 1) * sizeof *v->files[l]);
    if (!v->files[l])
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    size_t n = 0;
    for (size_t i = 0; base && i < base->nfiles[l]; i++)
        if (!is_deleted(e, l, base->files[l][i]->number))
            v->files[l][n++] = base->files[l][i];
    for (size_t i = 0; i < e->nadded; i++)
        if (e->added[i].level == l)
            v->files[l][n++] = e->added[i].meta;
    for (size_t i = 0; i < n; i++)
        lsm_file_meta_ref(v->files[l][i]);
    v->nfiles[l] = n;
    qsort(v->files[l], n, sizeof *v->files[l],
          l == 0 ? cmp_by_number : cmp_by_smallest);
    for (size_t i = 1; l > 0 && i < n; i++) {
        if (lsm_ikey_cmp(lsm_buf_slice(&v->files[l][i - 1]->largest),
                         lsm_buf_slice(&v->files[l][i]->smallest)) >= 0)
            return lsm_fail(LSM_CORRUPTION,
                            "manifest: overlapping tables %06llu and %06llu in level %d",
                            (unsigned long long)v->files[l][i - 1]->number,
                            (unsigned long long)v->files[l][i]->number, l);
    }
    return LSM_OK;
}

/* New version = base + edit.  *out has refs = 0 and is not yet live. */
static int version_apply(lsm_version_set *vs, const lsm_version *base,
                         const lsm_version_edit *e, lsm_version **out)
{
    lsm_version *v = version_new(vs);
    if (!v)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        int rc = build_level(v, base, e, l);
        if (rc) {
            version_free(v);
            return rc;
        }
    }
    *out = v;
    return LSM_OK;
}

/* Makes v the current version (mu held; view_mu taken for the swap). */
static void install_version(lsm_version_set *vs, lsm_version *v)
{
    lsm_version_ref(v);
    v->id = ++vs->last_version_id;
    v->next = &vs->live;
    v->prev = vs->live.prev;
    v->prev->next = v;
    v->next->prev = v;
    lsm_version *old = vs->current;
    pthread_mutex_lock(vs->view_mu);
    vs->current = v;
    pthread_mutex_unlock(vs->view_mu);
    if (old)    /* after the swap: a reader that took it holds a reference */
        lsm_version_unref(old);
}

/* --- named snapshots ------------------------------------------------------------ */

static ssize_t find_named_id(const lsm_version_set *vs, uint32_t id)
{
    for (size_t i = 0; i < vs->nnamed; i++)
        if (vs->named[i].id == id)
            return (ssize_t)i;
    return -1;
}

ssize_t lsm_vset_find_snapshot(const lsm_version_set *vs, const char *name)
{
    for (size_t i = 0; i < vs->nnamed; i++)
        if (strcmp(vs->named[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Checks e's snapshot changes against vs (a dropped id exists, a new one
 * is fresh, names stay unique) and makes room for the new ones, so that
 * snaps_apply cannot fail.  LSM_CORRUPTION or LSM_NO_MEMORY. */
static int snaps_prepare(lsm_version_set *vs, const lsm_version_edit *e)
{
    for (size_t i = 0; i < e->ndropped_snaps; i++)
        if (find_named_id(vs, e->dropped_snaps[i]) < 0)
            return lsm_fail(LSM_CORRUPTION, "manifest drops unknown snapshot %u",
                            e->dropped_snaps[i]);
    for (size_t i = 0; i < e->nsnaps; i++) {
        const lsm_snap_record *r = &e->snaps[i];
        if (find_named_id(vs, r->id) >= 0 || lsm_vset_find_snapshot(vs, r->name) >= 0)
            return lsm_fail(LSM_CORRUPTION, "manifest repeats snapshot %u (%s)",
                            r->id, r->name);
    }
    size_t need = vs->nnamed + e->nsnaps;
    if (need <= vs->cap_named)
        return LSM_OK;
    lsm_snap_record *n = realloc(vs->named, need * sizeof *n);
    if (n)
        vs->named = n;
    struct lsm_snapshot **p = n ? realloc(vs->pins, need * sizeof *p) : NULL;
    if (!p)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    vs->pins = p;
    vs->cap_named = need;
    return LSM_OK;
}

/* Queues the dead blob records of e, installed as version `after`.
 * Past MAX_HOLES extents (a reader holding an old version for long) the
 * rest are forgotten: their space waits for relocation (blob_gc.c). */
#define MAX_HOLES (256u * 1024)
static void holes_queue(lsm_version_set *vs, const lsm_version_edit *e,
                        uint64_t after)
{
    size_t n = e->garbage.next;
    if (n == 0 || vs->nholes + n > MAX_HOLES)
        return;
    if (vs->nholes + n > vs->cap_holes) {
        size_t cap = vs->cap_holes ? vs->cap_holes : 64;
        while (cap < vs->nholes + n)
            cap *= 2;
        lsm_blob_extent *p = realloc(vs->holes, cap * sizeof *p);
        if (!p)
            return;
        vs->holes = p;
        vs->cap_holes = cap;
    }
    for (size_t i = 0; i < n; i++) {
        vs->holes[vs->nholes] = e->garbage.ext[i];
        vs->holes[vs->nholes++].after = after;
    }
}

int lsm_vset_take_holes(lsm_version_set *vs, size_t max, lsm_blob_extent **out,
                        size_t *n)
{
    *out = NULL;
    *n = 0;
    uint64_t oldest = vs->live.next->id;    /* current is always live */
    size_t k = 0;
    while (k < vs->nholes && k < max && vs->holes[k].after <= oldest)
        k++;
    if (k < vs->nholes && vs->holes[k].after <= oldest)
        vs->obsolete_files = 1;             /* more now: another pass */
    if (k == 0)
        return LSM_OK;
    lsm_blob_extent *v = malloc(k * sizeof *v);
    if (!v)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    memcpy(v, vs->holes, k * sizeof *v);
    memmove(vs->holes, vs->holes + k, (vs->nholes - k) * sizeof *v);
    vs->nholes -= k;
    *out = v;
    *n = k;
    return LSM_OK;
}

/* Adds e's blob garbage to vs's totals.  Out of memory loses the
 * figures of some file (they only guide relocation, blob_gc.c). */
static void garbage_apply(lsm_version_set *vs, const lsm_version_edit *e)
{
    for (size_t i = 0; i < e->garbage.n; i++) {
        const lsm_blob_garbage *g = &e->garbage.v[i];
        (void)lsm_garbage_add(&vs->garbage, g->file, g->count, g->bytes);
    }
}

/* Applies e's snapshot changes (after snaps_prepare).  A dropped
 * snapshot's pin is the caller's to release (it read it before). */
static void snaps_apply(lsm_version_set *vs, const lsm_version_edit *e)
{
    for (size_t i = 0; i < e->ndropped_snaps; i++) {
        ssize_t k = find_named_id(vs, e->dropped_snaps[i]);
        memmove(&vs->named[k], &vs->named[k + 1],
                (vs->nnamed - (size_t)k - 1) * sizeof *vs->named);
        memmove(&vs->pins[k], &vs->pins[k + 1],
                (vs->nnamed - (size_t)k - 1) * sizeof *vs->pins);
        vs->nnamed--;
    }
    for (size_t i = 0; i < e->nsnaps; i++) {
        vs->named[vs->nnamed] = e->snaps[i];
        vs->pins[vs->nnamed++] = NULL;
        if (e->snaps[i].id >= vs->next_snap_id)
            vs->next_snap_id = e->snaps[i].id + 1;
    }
    if (e->has_next_snap_id && e->next_snap_id > vs->next_snap_id)
        vs->next_snap_id = e->next_snap_id;
}

/* --- the version set ---------------------------------------------------------- */

int lsm_vset_init(lsm_version_set *vs, const char *dir, lsm_env *env,
                  lsm_table_cache *tc, pthread_mutex_t *mu,
                  pthread_mutex_t *view_mu)
{
    memset(vs, 0, sizeof *vs);
    vs->dir = dir;
    vs->env = env;
    vs->tcache = tc;
    vs->mu = mu;
    vs->view_mu = view_mu;
    vs->live.prev = vs->live.next = &vs->live;
    vs->next_file = 2;
    vs->next_snap_id = 1;
    pthread_cond_init(&vs->manifest_cv, NULL);
    lsm_version *v = version_new(vs);
    if (!v)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    install_version(vs, v);
    return LSM_OK;
}

void lsm_vset_destroy(lsm_version_set *vs)
{
    if (vs->manifest)
        lsm_wal_writer_close(vs->manifest);
    vs->manifest = NULL;
    if (vs->current)
        lsm_version_unref(vs->current);
    vs->current = NULL;
    free(vs->named);
    free(vs->pins);
    vs->named = NULL;
    vs->pins = NULL;
    vs->nnamed = vs->cap_named = 0;
    lsm_garbage_free(&vs->garbage);
    free(vs->holes);
    vs->holes = NULL;
    vs->nholes = vs->cap_holes = 0;
    pthread_cond_destroy(&vs->manifest_cv);
}

uint64_t lsm_vset_new_file_number(lsm_version_set *vs)
{
    return vs->next_file++;
}

/* An edit describing the whole current version (a new manifest's first). */
static int snapshot_edit(lsm_version_set *vs, lsm_version_edit *e)
{
    lsm_edit_init(e);
    e->has_comparator = 1;
    snprintf(e->comparator, sizeof e->comparator, "%s", COMPARATOR_NAME);
    e->has_next_snap_id = 1;
    e->next_snap_id = vs->next_snap_id;
    e->style = vs->style;
    e->wal_format = vs->wal_format;
    for (size_t i = 0; i < vs->nnamed; i++) {
        int rc = lsm_edit_add_snapshot(e, &vs->named[i]);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < vs->garbage.n; i++) {
        const lsm_blob_garbage *g = &vs->garbage.v[i];
        int rc = lsm_garbage_add(&e->garbage, g->file, g->count, g->bytes);
        if (rc)
            return rc;
    }
    for (int l = 0; l < LSM_NUM_LEVELS; l++) {
        for (size_t i = 0; i < vs->current->nfiles[l]; i++) {
            const lsm_file_meta *f = vs->current->files[l][i];
            int rc = lsm_edit_add_meta(e, l, f);
            if (rc)
                return rc;
        }
    }
    return LSM_OK;
}

static int append_edit(lsm_wal_writer *w, const lsm_version_edit *e)
{
    lsm_buf rec = { 0 };
    int rc = lsm_edit_encode(e, &rec);
    if (rc == LSM_OK)
        rc = lsm_wal_append(w, lsm_buf_slice(&rec));
    lsm_buf_free(&rec);
    return rc;
}

/* Creates MANIFEST-<number> holding `snap` (mu not held). */
static int write_new_manifest(lsm_version_set *vs, uint64_t number,
                              const lsm_version_edit *snap,
                              lsm_wal_writer **out)
{
    char *path = lsm_filename(vs->dir, LSM_FILE_MANIFEST, number);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_file *f;
    int rc = vs->env->open_write(vs->env, path, &f);
    free(path);
    if (rc)
        return rc;
    rc = lsm_wal_writer_new(f, 0, out);
    if (rc)
        return rc;
    rc = append_edit(*out, snap);
    if (rc) {
        lsm_wal_writer_close(*out);
        *out = NULL;
    }
    return rc;
}

/* Points CURRENT at MANIFEST-<number>: temp file, fsync, rename, fsync dir. */
static int set_current(lsm_version_set *vs, uint64_t number)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "MANIFEST-%06llu\n",
                     (unsigned long long)number);
    return lsm_env_write_file_atomic(vs->env, vs->dir, "CURRENT", buf,
                                     (size_t)n);
}

int lsm_vset_log_and_apply(lsm_version_set *vs, lsm_version_edit *e)
{
    while (vs->manifest_writing)
        pthread_cond_wait(&vs->manifest_cv, vs->mu);
    vs->manifest_writing = 1;

    if (!e->has_log_number) {
        e->has_log_number = 1;
        e->log_number = vs->log_number;
    }
    lsm_version *v = NULL;
    int rc = snaps_prepare(vs, e);
    if (rc == LSM_OK)
        rc = version_apply(vs, vs->current, e, &v);
    lsm_version_edit snap;
    lsm_edit_init(&snap);
    uint64_t new_manifest = 0;
    if (rc == LSM_OK && !vs->manifest) {
        new_manifest = lsm_vset_new_file_number(vs);
        rc = snapshot_edit(vs, &snap);
    }
    e->has_next_file = 1;
    e->next_file = vs->next_file;
    e->has_last_seq = 1;
    e->last_seq = vs->last_seq;

    pthread_mutex_unlock(vs->mu);
    lsm_wal_writer *w = vs->manifest;
    if (rc == LSM_OK && new_manifest)
        rc = write_new_manifest(vs, new_manifest, &snap, &w);
    if (rc == LSM_OK)
        rc = append_edit(w, e);
    if (rc == LSM_OK)
        rc = lsm_wal_sync(w);
    if (rc == LSM_OK && new_manifest)
        rc = set_current(vs, new_manifest);
    pthread_mutex_lock(vs->mu);

    lsm_edit_free(&snap);
    if (rc == LSM_OK) {
        vs->manifest = w;
        vs->manifest_number = new_manifest ? new_manifest : vs->manifest_number;
        vs->log_number = e->log_number;
        if (e->wal_format)      /* new manifests record it (snapshot_edit) */
            vs->wal_format = e->wal_format;
        install_version(vs, v);
        snaps_apply(vs, e);
        garbage_apply(vs, e);
        holes_queue(vs, e, v->id);
    } else {
        /* A failed append may leave a partial record: never append after
         * it.  The next edit starts a fresh manifest. */
        if (w)
            lsm_wal_writer_close(w);
        vs->manifest = NULL;
        if (v)
            version_free(v);
    }
    vs->manifest_writing = 0;
    pthread_cond_broadcast(&vs->manifest_cv);
    return rc;
}

int lsm_vset_create(lsm_version_set *vs)
{
    lsm_version_edit e;
    lsm_edit_init(&e);
    e.has_log_number = 1;
    e.log_number = 0;
    pthread_mutex_lock(vs->mu);
    int rc = lsm_vset_log_and_apply(vs, &e);
    pthread_mutex_unlock(vs->mu);
    lsm_edit_free(&e);
    return rc;
}

/* Reads CURRENT; *number = the manifest it names. */
static int read_current(lsm_version_set *vs, uint64_t *number)
{
    char *path = lsm_filename(vs->dir, LSM_FILE_CURRENT, 0);
    char *data = NULL;
    size_t n = 0;
    int rc = path ? lsm_env_read_file(vs->env, path, &data, &n)
                  : lsm_fail(LSM_NO_MEMORY, "out of memory");
    free(path);
    if (rc)
        return rc;
    char name[64];
    int ok = n > 1 && n < sizeof name && data[n - 1] == '\n';
    if (ok) {
        memcpy(name, data, n - 1);
        name[n - 1] = 0;
        ok = memchr(name, 0, n - 1) == NULL &&
             lsm_parse_filename(name, number) == LSM_FILE_MANIFEST;
    }
    free(data);
    return ok ? LSM_OK
              : lsm_fail(LSM_CORRUPTION, "%s/CURRENT: malformed contents",
                         vs->dir);
}

/* Replays one decoded edit into the recovering version. */
static int recover_edit(lsm_version_set *vs, lsm_version_edit *e)
{
    if (e->has_comparator && strcmp(e->comparator, COMPARATOR_NAME) != 0)
        return lsm_fail(LSM_INVALID, "store uses comparator '%s', not '%s'",
                        e->comparator, COMPARATOR_NAME);
    lsm_version *v;
    int rc = snaps_prepare(vs, e);
    if (rc == LSM_OK)
        rc = version_apply(vs, vs->current, e, &v);
    if (rc)
        return rc;
    install_version(vs, v);
    snaps_apply(vs, e);
    garbage_apply(vs, e);
    if (e->has_log_number)
        vs->log_number = e->log_number;
    if (e->has_next_file)
        vs->next_file = e->next_file;
    if (e->has_last_seq)
        vs->last_seq = e->last_seq;
    if (e->style)
        vs->style = e->style;
    if (e->wal_format)
        vs->wal_format = e->wal_format;
    return LSM_OK;
}

static int replay_manifest(lsm_version_set *vs, lsm_wal_reader *r,
                           const char *name, int *saw_next_file)
{
    lsm_slice rec;
    int got;
    while ((got = lsm_wal_read(r, &rec)) == 1) {
        lsm_version_edit e;
        int rc = lsm_edit_decode(&e, rec);
        if (rc)
            return lsm_fail(rc, "%s: %s", name, lsm_last_error());
        *saw_next_file |= e.has_next_file;
        rc = recover_edit(vs, &e);
        lsm_edit_free(&e);
        if (rc)
            return rc;
    }
    if (got < 0)
        return got;
    const lsm_wal_damage *d = lsm_wal_reader_damage(r);
    if (d->before_tail)
        return lsm_fail(LSM_CORRUPTION, "%s: damaged record at offset %llu (%s)",
                        name, (unsigned long long)d->first_offset,
                        d->first_reason);
    return LSM_OK;
}

int lsm_vset_recover(lsm_version_set *vs, void (*log)(void *, int, const char *),
                     void *log_ctx)
{
    uint64_t number;
    int rc = read_current(vs, &number);
    if (rc)
        return rc;
    char *path = lsm_filename(vs->dir, LSM_FILE_MANIFEST, number);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    const char *name = strrchr(path, '/') + 1;
    lsm_file *f;
    lsm_wal_reader *r = NULL;
    rc = vs->env->open_read(vs->env, path, &f);
    if (rc == LSM_OK)
        rc = lsm_wal_reader_new(f, name, &r);
    int saw_next_file = 0;
    pthread_mutex_lock(vs->mu);
    if (rc == LSM_OK)
        rc = replay_manifest(vs, r, name, &saw_next_file);
    pthread_mutex_unlock(vs->mu);
    if (rc == LSM_OK && !saw_next_file)
        rc = lsm_fail(LSM_CORRUPTION, "%s: no file counter recorded", name);
    if (rc == LSM_OK && log && lsm_wal_reader_damage(r)->regions) {
        char line[256];
        snprintf(line, sizeof line, "%s: dropped a torn tail of %llu bytes",
                 name, (unsigned long long)lsm_wal_reader_damage(r)->dropped_bytes);
        log(log_ctx, LSM_LOG_INFO, line);
    }
    if (r)
        lsm_wal_reader_free(r);
    free(path);
    if (rc == LSM_OK && vs->next_file <= number)
        vs->next_file = number + 1;
    vs->manifest_number = number;
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int lsm_vset_live_files(lsm_version_set *vs, uint64_t **live, size_t *n)
{
    size_t cnt = 0, cap = 64;
    uint64_t *arr = malloc(cap * sizeof *arr);
    if (!arr)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (lsm_version *v = vs->live.next; v != &vs->live; v = v->next) {
        for (int l = 0; l < LSM_NUM_LEVELS; l++) {
            for (size_t i = 0; i < v->nfiles[l]; i++) {
                if (cnt == cap) {
                    uint64_t *p = realloc(arr, 2 * cap * sizeof *arr);
                    if (!p) {
                        free(arr);
                        return lsm_fail(LSM_NO_MEMORY, "out of memory");
                    }
                    arr = p;
                    cap *= 2;
                }
                arr[cnt++] = v->files[l][i]->number;
            }
        }
    }
    qsort(arr, cnt, sizeof *arr, cmp_u64);
    *live = arr;
    *n = cnt;
    return LSM_OK;
}
