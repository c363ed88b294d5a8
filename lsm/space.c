/*
 * space.c — surviving a full disk.
 *
 * What a full disk must not do: make the store read-only, make a writer
 * wait forever, or keep space from coming back after deletes.  These
 * mechanisms see to it:
 *
 *  - A flush is always possible.  The unflushed memtables owe the disk
 *    about their size in table bytes (blob values not included: they
 *    are in their blob files already), and running compactions at most
 *    their inputs' size (lsm_space_owed); an ordinary write proceeds
 *    only if the free space covers that debt plus the write twice (WAL
 *    and table), and a compaction only if it covers the debt plus the
 *    compaction's inputs.  The free space is measured (statvfs)
 *    when the memtable has grown by 1/8 of its limit (64 KiB at least),
 *    and before a write whose estimate (last measure minus what was
 *    appended since) is not comfortably above what it needs.  The
 *    memtable's switch size follows the free space too: at most 1/8 of
 *    it (never below MIN_MEMTABLE, never above memtable_bytes), so the
 *    debt stays a small part of a small disk.
 *
 *  - The reserve: the file RESERVE holds reserve_target preallocated
 *    bytes (min(reserve_bytes, 1/16 of the store's files plus the free
 *    space at open)).  Ordinary writes run only while it is held, so they
 *    fail with LSM_NO_SPACE while it is not, never taking its space.  A
 *    write marked LSM_RECLAIM that runs out of space gives it back and
 *    retries; so do the flush and the space pass such a write causes.
 *    The next ordinary write takes it again once the disk has
 *    reserve_target + ADMIT_MARGIN bytes free.
 *
 *  - Tables are small on a small disk: compaction outputs are cut at
 *    1/64 of what the store could use (256 KiB at least), when that is
 *    below target_file_bytes.
 *
 *  - The space pass (reclaim.c, lsm_space_pass): reclaiming writes
 *    that delete on a nearly full disk are noted (the keys and sequence
 *    numbers of point deletions as hints, up to MAX_HINT_BYTES).  The
 *    first write that then runs out of space switches memtables so the
 *    deletions reach a table; once that is flushed the compaction thread
 *    drops the tables range deletions cover whole (a manifest edit) and
 *    rewrites the others holding what they delete, dropping it (a wholly
 *    deleted table produces no output at all), deletes the obsolete
 *    inputs and takes the reserve again if it can.  Writers that ran out
 *    of space wait for the pass (or for the flushes in progress) to end
 *    and try again.
 *
 *  - Held space (lsm_hold_space): bytes promised to the caller, kept from
 *    ordinary writes with 1/8 more for the tables and log copies they
 *    will cost; writes with LSM_HELD ignore holds.  A hold is refused
 *    when the measured free space less the debt, the margin and what is
 *    held cannot take it.
 *
 * Limits.  A level-0 table is rewritten together with every older one
 * (and what they overlap in level 1), so the pass needs room for what
 * survives of them; level 0's ordinary compaction takes all of level 0,
 * so on a nearly full disk level 0 grows instead (db.c).  On file
 * systems without fallocate the reserve holds nothing (the env's reserve
 * succeeds without preallocating) and a failed append can leave a torn
 * WAL record, which makes the store read-only until it is reopened.
 */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "filename.h"
#include "ikey.h"
#include "write_batch.h"

#define MIN_MEMTABLE (256u << 10)
#define MIN_TABLE (256u << 10)
#define MIN_CHECK_STEP (64u << 10)
/* Room an ordinary write needs besides the reserve before it is retaken. */
#define ADMIT_MARGIN (1u << 20)

int lsm_free_space(lsm_db *db, uint64_t *bytes)
{
    return db->env->free_space(db->env, db->dir, bytes);
}

void lsm_space_check(lsm_db *db, int force)
{
    size_t used = lsm_memtable_bytes(db->mem);
    if (!force && used < db->mem_next_check)
        return;
    uint64_t free_bytes;
    if (lsm_free_space(db, &free_bytes) != LSM_OK)
        free_bytes = UINT64_MAX;   /* unknown: no limit from the disk */
    db->free_bytes = free_bytes;
    db->appended_since_check = 0;
    uint64_t limit = free_bytes / 8;
    if (limit < MIN_MEMTABLE)
        limit = MIN_MEMTABLE;
    if (limit > db->opt.memtable_bytes)
        limit = db->opt.memtable_bytes;
    db->mem_limit = (size_t)limit;
    size_t step = db->mem_limit / 8;
    db->mem_next_check = used + (step > MIN_CHECK_STEP ? step : MIN_CHECK_STEP);
}

/* Low: the reserve is given back, a flush ran out of space, or the free
 * space is within a few reserves and a memtable of the end.  (A
 * compaction with no room is not a sign: on a big disk one can need more
 * than is free.) */
int lsm_space_low(lsm_db *db)
{
    uint64_t unit = db->reserve_target > (1u << 20) ? db->reserve_target : (1u << 20);
    return (db->reserve_target && !db->reserve) || db->flush_nospace ||
           db->free_bytes < 4 * unit + db->mem_limit;
}

/* Takes the reserve if `room` bytes besides it are free (mu held,
 * dropped for the I/O).  A failure leaves no reserve and no file. */
static void take_reserve(lsm_db *db, uint64_t room)
{
    if (db->reserve || db->reserve_busy || !db->reserve_target)
        return;
    uint64_t free_bytes;
    if (lsm_free_space(db, &free_bytes) != LSM_OK ||
        free_bytes < db->reserve_target + room)
        return;
    db->reserve_busy = 1;
    pthread_mutex_unlock(&db->mu);
    char *path = lsm_filename(db->dir, LSM_FILE_RESERVE, 0);
    lsm_file *f = NULL;
    int rc = path ? db->env->open_write(db->env, path, &f) : LSM_NO_MEMORY;
    if (rc == LSM_OK)
        rc = lsm_file_reserve(f, db->reserve_target);
    if (rc && f) {
        lsm_file_close(f);
        f = NULL;
        db->env->unlink(db->env, path);
    }
    free(path);
    pthread_mutex_lock(&db->mu);
    db->reserve_busy = 0;
    db->reserve = f;
    if (f)
        lsm_space_check(db, 1);
}

int lsm_space_release(lsm_db *db)
{
    if (!db->reserve || db->reserve_busy)
        return 0;
    lsm_file *f = db->reserve;
    db->reserve = NULL;
    db->reserve_busy = 1;
    pthread_mutex_unlock(&db->mu);
    char *path = lsm_filename(db->dir, LSM_FILE_RESERVE, 0);
    lsm_file_close(f);
    if (path)
        db->env->unlink(db->env, path);
    free(path);
    pthread_mutex_lock(&db->mu);
    db->reserve_busy = 0;
    lsm_db_log(db, LSM_LOG_WARNING, "disk full: gave the %llu-byte space reserve back",
               (unsigned long long)db->reserve_target);
    lsm_space_check(db, 1);
    return 1;
}

uint64_t lsm_space_owed(lsm_db *db)
{
    uint64_t sum = db->compaction_claim + lsm_memtable_table_bytes(db->mem);
    for (int i = 0; i < db->nimm; i++)
        sum += lsm_memtable_table_bytes(db->imm[i]);
    return sum;
}

void lsm_space_retake(lsm_db *db)
{
    take_reserve(db, 0);
}

/* What the held bytes keep from ordinary writes: themselves and the
 * table overhead and transient log copies they will cost, 1/8 more. */
static uint64_t held_cost(uint64_t held)
{
    return held + held / 8;
}

int lsm_space_admit(lsm_db *db, size_t bytes, int held)
{
    if (!db->reserve && db->reserve_target) {
        take_reserve(db, ADMIT_MARGIN);
        if (!db->reserve)
            return lsm_fail(LSM_NO_SPACE, "%s: disk full: the space reserve "
                            "is in use until deletes free space", db->dir);
    }
    uint64_t need = lsm_space_owed(db) + 2 * (uint64_t)bytes +
                    (held ? 0 : held_cost(db->held_bytes));
    uint64_t est = db->free_bytes > db->appended_since_check
                       ? db->free_bytes - db->appended_since_check : 0;
    if (est / 2 >= need + ADMIT_MARGIN)
        return LSM_OK;
    lsm_space_check(db, 1);
    if (db->free_bytes >= need)
        return LSM_OK;
    return lsm_fail(LSM_NO_SPACE, "%s: disk full: %llu free bytes must stay "
                    "free for the memtables to be flushed", db->dir,
                    (unsigned long long)db->free_bytes);
}

void lsm_space_drop_old(lsm_db *db)
{
    char *path = lsm_filename(db->dir, LSM_FILE_RESERVE, 0);
    if (path && db->env->exists(db->env, path))
        db->env->unlink(db->env, path);
    free(path);
}

void lsm_space_open(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    uint64_t free_bytes;
    if (lsm_free_space(db, &free_bytes) == LSM_OK) {
        uint64_t budget = free_bytes;
        for (int l = 0; l < LSM_NUM_LEVELS; l++)
            budget += lsm_version_level_bytes(db->vs.current, l);
        uint64_t target = budget / 16;
        if (target > db->opt.reserve_bytes)
            target = db->opt.reserve_bytes;
        db->reserve_target = target & ~(uint64_t)4095;
        /* Small tables on a small disk: a space pass rewrites a table a
         * deletion covers in part, and drops one it covers whole. */
        uint64_t table = budget / 64 > MIN_TABLE ? budget / 64 : MIN_TABLE;
        if (db->opt.target_file_bytes > table)
            db->opt.target_file_bytes = table;
    }
    take_reserve(db, 0);
    lsm_space_check(db, 1);
    pthread_mutex_unlock(&db->mu);
}

int lsm_hold_space(lsm_db *db, uint64_t bytes, int force)
{
    pthread_mutex_lock(&db->mu);
    int rc = LSM_OK;
    if (!force) {
        lsm_space_check(db, 1);
        uint64_t need = lsm_space_owed(db) + ADMIT_MARGIN +
                        held_cost(db->held_bytes) + held_cost(bytes);
        if (bytes > UINT64_MAX / 2 || need < bytes || db->free_bytes < need)
            rc = lsm_fail(LSM_NO_SPACE, "%s: %llu bytes cannot be held: %llu "
                          "free, %llu held already", db->dir,
                          (unsigned long long)bytes,
                          (unsigned long long)db->free_bytes,
                          (unsigned long long)db->held_bytes);
    }
    if (rc == LSM_OK)
        db->held_bytes += bytes;
    pthread_mutex_unlock(&db->mu);
    return rc;
}

void lsm_release_space(lsm_db *db, uint64_t bytes)
{
    pthread_mutex_lock(&db->mu);
    db->held_bytes -= bytes < db->held_bytes ? bytes : db->held_bytes;
    pthread_mutex_unlock(&db->mu);
}

uint64_t lsm_held_bytes(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    uint64_t held = db->held_bytes;
    pthread_mutex_unlock(&db->mu);
    return held;
}

uint64_t lsm_reserve_bytes(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    uint64_t held = db->reserve ? db->reserve_target : 0;
    pthread_mutex_unlock(&db->mu);
    return held;
}

/* --- hints: the point deletions of reclaiming writes --------------------------- */

/* Keys are kept in one buffer; entries point into it by offset until
 * sorted.  Bounded: a space pass is a best effort, and past this the
 * deletions are given back by ordinary compactions. */
#define MAX_HINT_BYTES (4u << 20)

typedef struct hint {
    size_t off, len;
    uint64_t seq;
    const char *key;   /* keys.data + off, once sorted (keys fixed) */
} hint;

struct lsm_hints {
    lsm_buf keys;
    hint *v;
    size_t n, cap;
};

static int hints_add(lsm_hints *h, lsm_slice key, uint64_t seq)
{
    if (h->keys.len + key.len > MAX_HINT_BYTES)
        return LSM_OK;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        hint *p = realloc(h->v, cap * sizeof *p);
        if (!p)
            return LSM_NO_MEMORY;
        h->v = p;
        h->cap = cap;
    }
    h->v[h->n] = (hint){ h->keys.len, key.len, seq, NULL };
    if (lsm_buf_append(&h->keys, key.data, key.len))
        return LSM_NO_MEMORY;
    h->n++;
    return LSM_OK;
}

typedef struct note_ctx {
    lsm_hints **hints;
    int deletes;
} note_ctx;

static int note_one(void *ctx, uint64_t seq, int kind, lsm_slice key,
                    lsm_slice value)
{
    (void)value;
    note_ctx *nc = ctx;
    if (kind != LSM_KIND_DELETE && kind != LSM_KIND_RANGE_DEL)
        return LSM_OK;
    nc->deletes = 1;
    if (kind == LSM_KIND_RANGE_DEL)   /* in tables, found by the pass */
        return LSM_OK;
    if (!*nc->hints && !(*nc->hints = calloc(1, sizeof **nc->hints)))
        return LSM_OK;                /* no memory: no hint, no harm */
    hints_add(*nc->hints, key, seq);
    return LSM_OK;
}

int lsm_space_note_deletions(lsm_db *db, const lsm_batch *b)
{
    note_ctx nc = { &db->hints, 0 };
    lsm_batch_iterate(lsm_buf_slice(&b->rep), note_one, &nc);
    return nc.deletes;
}

void lsm_hints_free(lsm_hints *h)
{
    if (!h)
        return;
    lsm_buf_free(&h->keys);
    free(h->v);
    free(h);
}

static int cmp_hint(const void *a, const void *b)
{
    const hint *x = a, *y = b;
    int c = lsm_slice_cmp(lsm_slice_make(x->key, x->len),
                          lsm_slice_make(y->key, y->len));
    if (c)
        return c;
    return (x->seq < y->seq) - (x->seq > y->seq);   /* newest first */
}

void lsm_hints_sort(lsm_hints *h)
{
    if (!h || h->n == 0)
        return;
    for (size_t i = 0; i < h->n; i++)
        h->v[i].key = h->keys.data + h->v[i].off;
    qsort(h->v, h->n, sizeof *h->v, cmp_hint);
}

size_t lsm_hints_count(const lsm_hints *h)
{
    return h ? h->n : 0;
}

lsm_slice lsm_hints_key(const lsm_hints *h, size_t i)
{
    return lsm_slice_make(h->v[i].key, h->v[i].len);
}

uint64_t lsm_hints_seq_at(const lsm_hints *h, size_t i)
{
    return h->v[i].seq;
}

size_t lsm_hints_lower_bound(const lsm_hints *h, lsm_slice key)
{
    size_t lo = 0, hi = lsm_hints_count(h);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lsm_slice_cmp(lsm_hints_key(h, mid), key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t lsm_hints_seq(const lsm_hints *h, lsm_slice key)
{
    size_t i = lsm_hints_lower_bound(h, key);
    if (i < lsm_hints_count(h) && lsm_slice_cmp(lsm_hints_key(h, i), key) == 0)
        return h->v[i].seq;
    return 0;
}

void lsm_space_close(lsm_db *db)
{
    if (db->reserve)
        lsm_file_close(db->reserve);
    db->reserve = NULL;
    lsm_hints_free(db->hints);
    lsm_hints_free(db->pass_hints);
    db->hints = db->pass_hints = NULL;
}
