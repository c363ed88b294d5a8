/*
 * test_concurrent_model.c — reads checked against a model while flushes,
 * compactions and idle work (reclaim.c) run behind them.  One writer
 * applies random puts, deletes and range deletions (alone and in
 * batches) to a tiny store and to a model; it takes snapshots now and
 * then, each paired with a copy of the model.  Reader threads pick a
 * snapshot (or the latest state, pinned by creating an iterator while
 * the writer is held) and check gets, forward and backward scans and
 * seeks against the model as of that view.  A third of the snapshots
 * are named (lsm_snapshot_create, read through lsm_snapshot_open; the
 * name deleted at once or when the slot is replaced).  The writer pauses
 * now and then, and readers hold their iterators still meanwhile, so
 * idle work (drops of tables range deletions cover whole, idle
 * compactions) runs under old views.  Variants: leveled, blob values
 * with relocation, tiered, tiny table and block caches with metadata in
 * the block cache, wide range deletions with snapshot-free stretches.
 *
 * MODEL_SEED and MODEL_OPS override each variant's seed and length.
 * Worker threads record the first failure; the main thread asserts.
 * Also run under ThreadSanitizer (test_concurrent_*).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsm.h"
#include "testutil.h"

#define NKEYS 800
#define NSLOTS 6
#define READERS 3

static pthread_mutex_t failure_mu = PTHREAD_MUTEX_INITIALIZER;
static char failure[1024];
static atomic_int failed;

static void record_failure(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void record_failure(const char *fmt, ...)
{
    pthread_mutex_lock(&failure_mu);
    if (!atomic_load(&failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(failure, sizeof failure, fmt, ap);
        va_end(ap);
        atomic_store(&failed, 1);
    }
    pthread_mutex_unlock(&failure_mu);
}

typedef struct model {
    uint32_t ver[NKEYS];
} model;

static char key_table[NKEYS][16];

static void init_keys(void)
{
    for (int k = 0; k < NKEYS; k++)
        snprintf(key_table[k], sizeof key_table[k], "key%06d", k);
}

static size_t value_of(int i, uint32_t v, char *buf, int big)
{
    size_t n = big ? 300 + (size_t)(i + v) % 200
                   : 12 + ((size_t)i * 7 + v * 13) % 100;
    int head = snprintf(buf, 32, "%d/%u/", i, v);
    for (size_t k = (size_t)head; k < n; k++)
        buf[k] = (char)('a' + (i + (int)k + (int)v) % 26);
    return n;
}

static int big_of(uint32_t v)
{
    return v % 7 == 0;
}

static void boundary(uint64_t *rs, int i, char *buf)
{
    switch (tu_rand(rs) % 8) {
    case 0:
        snprintf(buf, 24, "key%06d!", i);
        break;
    case 1:
        snprintf(buf, 24, "key%05d", i / 10);
        break;
    case 2:
        if (tu_rand(rs) % 4 == 0) {
            strcpy(buf, i < NKEYS / 2 ? "" : "l");
            break;
        }
        /* fall through */
    default:
        memcpy(buf, key_table[i], 16);
        break;
    }
}

/* 1: range deletions wide and frequent (tables covered whole get dropped). */
static int wide_deletions;

static void random_range(uint64_t *rs, char *b, char *e)
{
    int a = (int)(tu_rand(rs) % NKEYS);
    int span = tu_rand(rs) % 30 == 0 ? NKEYS : tu_rand(rs) % 5 == 0 ? 200 : 20;
    if (wide_deletions && tu_rand(rs) % 2)
        span = NKEYS / 2;
    int z = a + (int)(tu_rand(rs) % (unsigned)span);
    boundary(rs, a, b);
    boundary(rs, z < NKEYS ? z : NKEYS - 1, e);
    if (tu_rand(rs) % 40 == 0)      /* an empty or inverted range */
        strcpy(e, b);
}

static void model_delete_range(model *m, const char *b, const char *e)
{
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(b, key_table[i]) <= 0 && strcmp(key_table[i], e) < 0)
            m->ver[i] = 0;
}

/* --- shared state ---------------------------------------------------------- */

typedef struct slot {
    const lsm_snapshot *snap;
    model m;
    atomic_int refs;
    int taken_at;
    char name[32];              /* a named snapshot not yet deleted, or "" */
} slot;

typedef struct shared {
    lsm_db *db;
    pthread_mutex_t mu;         /* held by the writer across each op; guards slots */
    model cur;
    slot *slots[NSLOTS];
    atomic_int done;
    atomic_int pausing;         /* the writer pauses: readers hold still too */
    atomic_long checks;
} shared;

static void slot_unref(lsm_db *db, slot *s)
{
    if (atomic_fetch_sub(&s->refs, 1) == 1) {
        if (s->name[0] && lsm_snapshot_delete(db, s->name) != LSM_OK)
            record_failure("snapshot delete %s: %s", s->name, lsm_last_error());
        lsm_snapshot_release(db, s->snap);
        free(s);
    }
}

/* --- checking a view ------------------------------------------------------- */

static int check_get(lsm_db *db, const lsm_snapshot *snap, const model *m,
                     int i, const char *what)
{
    lsm_read_options ro = { .snapshot = snap };
    char v[600];
    void *got = NULL;
    size_t n = 0;
    int rc = lsm_get(db, &ro, key_table[i], strlen(key_table[i]), &got, &n);
    if (!m->ver[i]) {
        if (rc != LSM_NOT_FOUND) {
            record_failure("%s: get %s should be absent, rc %d val '%.*s'", what,
                           key_table[i], rc, rc == LSM_OK ? (int)n : 0,
                           rc == LSM_OK ? (const char *)got : "");
            if (rc == LSM_OK)
                lsm_free(got);
            return -1;
        }
        return 0;
    }
    if (rc != LSM_OK) {
        record_failure("%s: get %s should be version %u, rc %d", what,
                       key_table[i], m->ver[i], rc);
        return -1;
    }
    size_t want = value_of(i, m->ver[i], v, big_of(m->ver[i]));
    int bad = n != want || memcmp(got, v, n) != 0;
    if (bad)
        record_failure("%s: get %s is '%.*s', wanted version %u", what,
                       key_table[i], (int)(n < 20 ? n : 20), (const char *)got,
                       m->ver[i]);
    lsm_free(got);
    return bad ? -1 : 0;
}

static int next_live(const model *m, int i)
{
    while (i < NKEYS && !m->ver[i])
        i++;
    return i;
}

static int prev_live(const model *m, int i)
{
    while (i >= 0 && !m->ver[i])
        i--;
    return i;
}

static int expect_at(lsm_iter *it, const model *m, int i, const char *what)
{
    char v[600];
    if (i < 0 || i >= NKEYS) {
        if (lsm_iter_valid(it)) {
            size_t kn;
            const char *key = lsm_iter_key(it, &kn);
            record_failure("%s: expected the end, at %.*s", what, (int)kn, key);
            return -1;
        }
        if (lsm_iter_status(it) != LSM_OK) {
            record_failure("%s: status %d", what, lsm_iter_status(it));
            return -1;
        }
        return 0;
    }
    const char *k = key_table[i];
    if (!lsm_iter_valid(it)) {
        record_failure("%s: expected %s, iterator ended (status %d)", what, k,
                       lsm_iter_status(it));
        return -1;
    }
    size_t kn, vn;
    const char *key = lsm_iter_key(it, &kn);
    const char *val = lsm_iter_value(it, &vn);
    if (kn != strlen(k) || memcmp(key, k, kn) != 0) {
        record_failure("%s: expected %s (v%u), at %.*s", what, k, m->ver[i],
                       (int)kn, key);
        return -1;
    }
    size_t want = value_of(i, m->ver[i], v, big_of(m->ver[i]));
    if (vn != want || memcmp(val, v, vn) != 0) {
        record_failure("%s: %s has the wrong value '%.*s' wanted v%u", what, k,
                       (int)(vn < 20 ? vn : 20), val, m->ver[i]);
        return -1;
    }
    return 0;
}

/* Checks iterator `it` (a view matching m) with one of several patterns. */
static int check_iter(lsm_iter *it, const model *m, uint64_t *rs,
                      const char *what)
{
    char msg[96];
    int kind = (int)(tu_rand(rs) % 3);
    if (kind == 0) {
        snprintf(msg, sizeof msg, "%s forward", what);
        int i = next_live(m, 0);
        for (lsm_iter_first(it);; lsm_iter_next(it)) {
            if (expect_at(it, m, i, msg))
                return -1;
            if (i >= NKEYS)
                break;
            i = next_live(m, i + 1);
        }
    } else if (kind == 1) {
        snprintf(msg, sizeof msg, "%s backward", what);
        int i = prev_live(m, NKEYS - 1);
        for (lsm_iter_last(it);; lsm_iter_prev(it)) {
            if (expect_at(it, m, i, msg))
                return -1;
            if (i < 0)
                break;
            i = prev_live(m, i - 1);
        }
    } else {
        snprintf(msg, sizeof msg, "%s seek", what);
        for (int s = 0; s < 30; s++) {
            int at = (int)(tu_rand(rs) % NKEYS);
            lsm_iter_seek(it, key_table[at], strlen(key_table[at]));
            int i = next_live(m, at);
            if (expect_at(it, m, i, msg))
                return -1;
            if (i >= NKEYS)
                continue;
            int back = (int)(tu_rand(rs) % 2);
            for (int step = 0; step < 12; step++) {
                if (back) {
                    lsm_iter_prev(it);
                    i = prev_live(m, i - 1);
                } else {
                    lsm_iter_next(it);
                    i = next_live(m, i + 1);
                }
                if (expect_at(it, m, i, msg))
                    return -1;
                if (i < 0 || i >= NKEYS)
                    break;
                if (tu_rand(rs) % 4 == 0)
                    back = !back;
            }
        }
    }
    return 0;
}

typedef struct reader_arg {
    shared *sh;
    uint64_t seed;
} reader_arg;

/* While the writer pauses, a reader holds its view without reading, so
 * idle work (which waits for reads to stop too) runs under it. */
static void hold_still(shared *sh)
{
    while (atomic_load(&sh->pausing) && !atomic_load(&sh->done))
        usleep(500);
}

static void *reader_main(void *p)
{
    reader_arg *ra = p;
    shared *sh = ra->sh;
    uint64_t rs = ra->seed;
    model *mine = malloc(sizeof *mine);
    char what[96];
    while (!atomic_load(&sh->done) && !atomic_load(&failed)) {
        int r = (int)(tu_rand(&rs) % 4);
        if (r == 0) {
            /* The latest state: an iterator made while the writer waits. */
            pthread_mutex_lock(&sh->mu);
            lsm_iter *it = lsm_iter_new(sh->db, NULL);
            memcpy(mine, &sh->cur, sizeof *mine);
            pthread_mutex_unlock(&sh->mu);
            if (!it) {
                record_failure("lsm_iter_new: %s", lsm_last_error());
                break;
            }
            snprintf(what, sizeof what, "latest iterator");
            for (int k = 0; k < 2; k++) {
                hold_still(sh);
                if (check_iter(it, mine, &rs, what))
                    break;
            }
            lsm_iter_free(it);
        } else {
            pthread_mutex_lock(&sh->mu);
            slot *s = sh->slots[tu_rand(&rs) % NSLOTS];
            if (s)
                atomic_fetch_add(&s->refs, 1);
            pthread_mutex_unlock(&sh->mu);
            if (!s) {
                usleep(100);
                continue;
            }
            snprintf(what, sizeof what, "snapshot from op %d", s->taken_at);
            if (r == 1) {
                for (int k = 0; k < 200; k++)
                    if (check_get(sh->db, s->snap, &s->m,
                                  (int)(tu_rand(&rs) % NKEYS), what))
                        break;
            } else {
                lsm_read_options ro = { .snapshot = s->snap,
                                        .no_fill_cache = (int)(tu_rand(&rs) % 2) };
                lsm_iter *it = lsm_iter_new(sh->db, &ro);
                if (!it) {
                    record_failure("lsm_iter_new: %s", lsm_last_error());
                    slot_unref(sh->db, s);
                    break;
                }
                for (int k = 0; k < 2; k++) {
                    hold_still(sh);
                    if (check_iter(it, &s->m, &rs, what))
                        break;
                }
                lsm_iter_free(it);
            }
            slot_unref(sh->db, s);
        }
        atomic_fetch_add(&sh->checks, 1);
    }
    free(mine);
    return NULL;
}

static uint32_t next_ver = 1;

static void apply_op(shared *sh, uint64_t *rs, lsm_batch *batch)
{
    lsm_db *db = sh->db;
    model *m = &sh->cur;
    char v[600], b[24], e[24];
    int r = (int)(tu_rand(rs) % 100);
    int i = (int)(tu_rand(rs) % NKEYS);
    const char *k = key_table[i];
    int rc = LSM_OK;
    if (wide_deletions && r >= 55 && r < 70)
        r = 75;     /* a range deletion instead of a point one */
    if (r < 55) {
        uint32_t ver = next_ver++;
        size_t n = value_of(i, ver, v, big_of(ver));
        rc = lsm_put(db, k, strlen(k), v, n, 0);
        m->ver[i] = ver;
    } else if (r < 70) {
        rc = lsm_delete(db, k, strlen(k), 0);
        m->ver[i] = 0;
    } else if (r < 82) {
        random_range(rs, b, e);
        rc = lsm_delete_range(db, b, strlen(b), e, strlen(e), 0);
        model_delete_range(m, b, e);
    } else {
        lsm_batch_clear(batch);
        int ops = 1 + (int)(tu_rand(rs) % 8);
        for (int j = 0; j < ops; j++) {
            int x = (int)(tu_rand(rs) % 10);
            int key = x < 5 && j > 0 ? (i + (int)(tu_rand(rs) % 40)) % NKEYS
                                     : (int)(tu_rand(rs) % NKEYS);
            k = key_table[key];
            if (x < 5) {
                uint32_t ver = next_ver++;
                size_t n = value_of(key, ver, v, big_of(ver));
                lsm_batch_put(batch, k, strlen(k), v, n);
                m->ver[key] = ver;
            } else if (x < 7) {
                lsm_batch_delete(batch, k, strlen(k));
                m->ver[key] = 0;
            } else {
                random_range(rs, b, e);
                lsm_batch_delete_range(batch, b, strlen(b), e, strlen(e));
                model_delete_range(m, b, e);
            }
        }
        rc = lsm_write(db, batch, 0);
    }
    if (rc != LSM_OK)
        record_failure("write: rc %d %s", rc, lsm_last_error());
}

static void run(uint64_t seed, const lsm_options *o, int ops)
{
    char *dir = tu_tempdir("cmodel");
    shared *sh = calloc(1, sizeof *sh);
    sh->db = tu_open_db(dir, o);
    pthread_mutex_init(&sh->mu, NULL);
    atomic_store(&failed, 0);
    failure[0] = 0;
    init_keys();
    uint64_t rs = seed;
    lsm_batch *batch = lsm_batch_new();
    pthread_t th[READERS];
    reader_arg ra[READERS];
    for (int t = 0; t < READERS; t++) {
        ra[t].sh = sh;
        ra[t].seed = seed * 1000 + (uint64_t)t + 7;
        pthread_create(&th[t], NULL, reader_main, &ra[t]);
    }
    for (int op = 1; op <= ops && !atomic_load(&failed); op++) {
        pthread_mutex_lock(&sh->mu);
        apply_op(sh, &rs, batch);
        if (tu_rand(&rs) % 150 == 0) {
            int si = (int)(tu_rand(&rs) % NSLOTS);
            slot *s = malloc(sizeof *s);
            if (tu_rand(&rs) % 3 == 0) {
                /* A named snapshot, read through an open handle; its
                 * name is deleted at once or later (the handle pins). */
                char name[32];
                snprintf(name, sizeof name, "s%d", op);
                const lsm_snapshot *h = NULL;
                if (lsm_snapshot_create(sh->db, name, NULL) != LSM_OK ||
                    lsm_snapshot_open(sh->db, name, &h, NULL) != LSM_OK)
                    record_failure("named snapshot: %s", lsm_last_error());
                s->snap = h;
                snprintf(s->name, sizeof s->name, "%s", name);
                if (tu_rand(&rs) % 2 == 0) {
                    if (lsm_snapshot_delete(sh->db, name) != LSM_OK)
                        record_failure("snapshot delete: %s", lsm_last_error());
                    s->name[0] = 0;
                }
            } else {
                s->snap = lsm_snapshot_get(sh->db);
                s->name[0] = 0;
            }
            memcpy(&s->m, &sh->cur, sizeof s->m);
            atomic_init(&s->refs, 1);
            s->taken_at = op;
            slot *old = sh->slots[si];
            sh->slots[si] = s;
            pthread_mutex_unlock(&sh->mu);
            if (old)
                slot_unref(sh->db, old);
        } else {
            pthread_mutex_unlock(&sh->mu);
        }
        if (wide_deletions && tu_rand(&rs) % 300 == 0) {
            /* No snapshot for a while: deletions every reader sees. */
            slot *gone[NSLOTS];
            pthread_mutex_lock(&sh->mu);
            for (int i = 0; i < NSLOTS; i++) {
                gone[i] = sh->slots[i];
                sh->slots[i] = NULL;
            }
            pthread_mutex_unlock(&sh->mu);
            for (int i = 0; i < NSLOTS; i++)
                if (gone[i])
                    slot_unref(sh->db, gone[i]);
        }
        if (tu_rand(&rs) % 1500 == 0) {
            atomic_store(&sh->pausing, 1);
            usleep(1000 * (useconds_t)(o->idle_compaction_ms * 10 + 20));
            atomic_store(&sh->pausing, 0);
        }
        if (tu_rand(&rs) % 4000 == 0) {
            int rc = tu_rand(&rs) % 2 ? lsm_flush(sh->db) : lsm_compact(sh->db);
            if (rc != LSM_OK)
                record_failure("flush/compact: %d", rc);
        }
    }
    atomic_store(&sh->done, 1);
    for (int t = 0; t < READERS; t++)
        pthread_join(th[t], NULL);
    for (int s = 0; s < NSLOTS; s++)
        if (sh->slots[s])
            slot_unref(sh->db, sh->slots[s]);
    if (atomic_load(&failed))
        fail_msg("seed %llu: %s", (unsigned long long)seed, failure);
    /* Everything compacted, no snapshot left. */
    assert_int_equal(lsm_compact(sh->db), LSM_OK);
    for (int i = 0; i < NKEYS; i++)
        check_get(sh->db, NULL, &sh->cur, i, "final");
    if (atomic_load(&failed))
        fail_msg("seed %llu: %s", (unsigned long long)seed, failure);
    print_message("seed %llu: %ld checks; compactions %.0f sub %.0f moves %.0f "
                  "dropped %.0f idle %.0f\n", (unsigned long long)seed,
                  (long)atomic_load(&sh->checks), tu_stat(sh->db, "compactions"),
                  tu_stat(sh->db, "subcompactions"), tu_stat(sh->db, "trivial_moves"),
                  tu_stat(sh->db, "tables_dropped"), tu_stat(sh->db, "idle_compactions"));
    lsm_batch_free(batch);
    tu_close_and_remove(sh->db, dir);
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

static uint64_t env_seed(uint64_t dflt)
{
    const char *s = getenv("MODEL_SEED");
    return s ? strtoull(s, NULL, 10) : dflt;
}

static int env_ops(int dflt)
{
    const char *s = getenv("MODEL_OPS");
    return s ? atoi(s) : dflt;
}

static void tiny(lsm_options *o)
{
    tu_small_options(o);
    o->memtable_bytes = 16 << 10;
    o->level1_bytes = 48 << 10;
    o->target_file_bytes = 12 << 10;
    o->level_multiplier = 4;
    o->cache_bytes = 256 << 10;
    o->block_bytes = 512;
    o->idle_compaction_ms = 2;
    o->max_subcompactions = 3;
    o->subcompaction_bytes = 8 << 10;
    o->compaction_threads = 2;
}

static void test_leveled(void **state)
{
    (void)state;
    lsm_options o;
    tiny(&o);
    run(env_seed(11), &o, env_ops(4000));
}

static void test_leveled_blobs(void **state)
{
    (void)state;
    lsm_options o;
    tiny(&o);
    o.blob_min_bytes = 256;
    o.blob_file_bytes = 32 << 10;
    o.blob_gc_garbage_percent = 20;
    o.blob_gc_age_percent = 30;
    run(env_seed(12), &o, env_ops(3000));
}

static void test_tiered(void **state)
{
    (void)state;
    lsm_options o;
    tiny(&o);
    o.compaction_style = LSM_COMPACTION_TIERED;
    o.bloom_bits_per_key = 0;
    run(env_seed(13), &o, env_ops(3000));
}

/* Tiny table and block caches, metadata in the block cache: tables are
 * closed and reopened, blocks evicted, under readers. */
static void test_small_caches(void **state)
{
    (void)state;
    lsm_options o;
    tiny(&o);
    o.max_open_files = 16;
    o.table_meta_in_cache = 1;
    o.cache_bytes = 48 << 10;
    o.compression = LSM_COMPRESS_NONE;
    o.level0_self_merge_percent = 1;
    run(env_seed(14), &o, env_ops(3000));
}

/* Wide, frequent range deletions: flushes leave out what they cover,
 * drop passes remove whole tables, idle work compacts the rest. */
static void test_wide_deletions(void **state)
{
    (void)state;
    lsm_options o;
    tiny(&o);
    wide_deletions = 1;
    run(env_seed(15), &o, env_ops(3000));
    wide_deletions = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leveled),
        cmocka_unit_test(test_leveled_blobs),
        cmocka_unit_test(test_tiered),
        cmocka_unit_test(test_small_caches),
        cmocka_unit_test(test_wide_deletions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
