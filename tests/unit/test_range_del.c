/*
 * test_range_del.c — range deletions against a model: puts, deletes and
 * delete_range over random ranges (boundaries on, between and around
 * keys), mixed in batches, across flushes, compactions and reopens, with
 * snapshots taken at random points and checked later — gets, seeks and
 * full forward and backward scans — against a copy of the model made
 * when each snapshot was taken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"
#include "testutil.h"

#define NKEYS 2000
#define MAX_SNAPS 6

typedef struct model {
    uint32_t ver[NKEYS];       /* 0 = absent */
} model;



/* The keys, formatted once: the model walks all of them per deletion. */
static char key_table[NKEYS][16];

static const char *key_str(int i)
{
    if (!key_table[0][0])
        for (int k = 0; k < NKEYS; k++)
            snprintf(key_table[k], sizeof key_table[k], "key%06d", k);
    return key_table[i];
}

static void key_of(int i, char *buf)
{
    memcpy(buf, key_str(i), 16);
}

static size_t value_of(int i, uint32_t v, char *buf)
{
    size_t n = 12 + ((size_t)i * 7 + v * 13) % 100;
    int head = snprintf(buf, 32, "%d/%u/", i, v);
    for (size_t k = (size_t)head; k < n; k++)
        buf[k] = (char)('a' + (i + (int)k + (int)v) % 26);
    return n;
}

/* A range boundary near key i: the key itself, a string just after it
 * (before key i+1), or a shorter prefix that sorts before a run of ten
 * keys.  Also the extremes: "" (before everything) and "l" (after). */
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
        key_of(i, buf);
        break;
    }
}

/* Model of delete_range(b, e): every key k with b <= k < e goes. */
static void model_delete_range(model *m, const char *b, const char *e)
{
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(b, key_str(i)) <= 0 && strcmp(key_str(i), e) < 0)
            m->ver[i] = 0;
}

/* --- checking a view against a model ------------------------------------------ */

static void check_get(lsm_db *db, const lsm_snapshot *snap, const model *m,
                      int i, const char *what)
{
    lsm_read_options ro = { .snapshot = snap };
    char k[16], v[128];
    key_of(i, k);
    void *got = NULL;
    size_t n = 0;
    int rc = lsm_get(db, &ro, k, strlen(k), &got, &n);
    if (!m->ver[i]) {
        if (rc != LSM_NOT_FOUND)
            fail_msg("%s: %s should be absent, rc %d", what, k, rc);
        return;
    }
    if (rc != LSM_OK)
        fail_msg("%s: %s should be present, rc %d (%s)", what, k, rc,
                 rc == LSM_NOT_FOUND ? "not found" : lsm_last_error());
    size_t want = value_of(i, m->ver[i], v);
    if (n != want || memcmp(got, v, n) != 0)
        fail_msg("%s: %s has the wrong value '%.*s' (wanted version %u)",
                 what, k, (int)n, (const char *)got, m->ver[i]);
    lsm_free(got);
}

static void check_gets(lsm_db *db, const lsm_snapshot *snap, const model *m,
                       const char *what)
{
    for (int i = 0; i < NKEYS; i++)
        check_get(db, snap, m, i, what);
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

static void expect_at(lsm_iter *it, const model *m, int i, const char *what)
{
    char k[16], v[128];
    if (i < 0 || i >= NKEYS) {
        if (lsm_iter_valid(it)) {
            size_t kn;
            const char *key = lsm_iter_key(it, &kn);
            fail_msg("%s: expected the end, at %.*s", what, (int)kn, key);
        }
        assert_int_equal(lsm_iter_status(it), LSM_OK);
        return;
    }
    key_of(i, k);
    if (!lsm_iter_valid(it))
        fail_msg("%s: expected %s, iterator ended (status %d)", what, k,
                 lsm_iter_status(it));
    size_t kn, vn;
    const char *key = lsm_iter_key(it, &kn);
    const char *val = lsm_iter_value(it, &vn);
    if (kn != strlen(k) || memcmp(key, k, kn) != 0)
        fail_msg("%s: expected %s, at %.*s", what, k, (int)kn, key);
    size_t want = value_of(i, m->ver[i], v);
    if (vn != want || memcmp(val, v, vn) != 0)
        fail_msg("%s: %s has the wrong value", what, k);
}

static void check_scans(lsm_db *db, const lsm_snapshot *snap, const model *m,
                        uint64_t *rs, const char *what)
{
    lsm_read_options ro = { .snapshot = snap };
    lsm_iter *it = lsm_iter_new(db, &ro);
    assert_non_null(it);
    char msg[64];
    snprintf(msg, sizeof msg, "%s forward", what);
    int i = next_live(m, 0);
    for (lsm_iter_first(it);; lsm_iter_next(it)) {
        expect_at(it, m, i, msg);
        if (i >= NKEYS)
            break;
        i = next_live(m, i + 1);
    }
    snprintf(msg, sizeof msg, "%s backward", what);
    i = prev_live(m, NKEYS - 1);
    for (lsm_iter_last(it);; lsm_iter_prev(it)) {
        expect_at(it, m, i, msg);
        if (i < 0)
            break;
        i = prev_live(m, i - 1);
    }
    /* Seeks to random keys, then a few steps either way. */
    snprintf(msg, sizeof msg, "%s seek", what);
    char k[16];
    for (int s = 0; s < 40; s++) {
        int at = (int)(tu_rand(rs) % NKEYS);
        key_of(at, k);
        lsm_iter_seek(it, k, strlen(k));
        i = next_live(m, at);
        expect_at(it, m, i, msg);
        if (i >= NKEYS)
            continue;
        int back = s % 2;
        for (int step = 0; step < 4; step++) {
            if (back) {
                lsm_iter_prev(it);
                i = prev_live(m, i - 1);
            } else {
                lsm_iter_next(it);
                i = next_live(m, i + 1);
            }
            expect_at(it, m, i, msg);
            if (i < 0 || i >= NKEYS)
                break;
        }
    }
    lsm_iter_free(it);
}

static void check_view(lsm_db *db, const lsm_snapshot *snap, const model *m,
                       uint64_t *rs, const char *what)
{
    check_gets(db, snap, m, what);
    check_scans(db, snap, m, rs, what);
}

/* --- the random workload ---------------------------------------------------------- */

typedef struct snap_slot {
    const lsm_snapshot *snap;
    model *m;
    int taken_at;
} snap_slot;

/* A random range [b, e) of up to `span` keys, sometimes the whole space. */
static void random_range(uint64_t *rs, char *b, char *e)
{
    int a = (int)(tu_rand(rs) % NKEYS);
    int span = tu_rand(rs) % 20 == 0 ? NKEYS : tu_rand(rs) % 5 == 0 ? 300 : 30;
    int z = a + (int)(tu_rand(rs) % (unsigned)span);
    boundary(rs, a, b);
    boundary(rs, z < NKEYS ? z : NKEYS - 1, e);
    if (tu_rand(rs) % 40 == 0)      /* an empty or inverted range */
        strcpy(e, b);
}

static uint32_t next_ver = 1;

static void apply_op(lsm_db *db, model *m, uint64_t *rs, lsm_batch *batch)
{
    char k[16], v[128], b[24], e[24];
    int r = (int)(tu_rand(rs) % 100);
    int i = (int)(tu_rand(rs) % NKEYS);
    key_of(i, k);
    if (r < 50) {
        uint32_t ver = next_ver++;
        size_t n = value_of(i, ver, v);
        assert_int_equal(lsm_put(db, k, strlen(k), v, n, 0), LSM_OK);
        m->ver[i] = ver;
    } else if (r < 65) {
        assert_int_equal(lsm_delete(db, k, strlen(k), 0), LSM_OK);
        m->ver[i] = 0;
    } else if (r < 80) {
        random_range(rs, b, e);
        assert_int_equal(lsm_delete_range(db, b, strlen(b), e, strlen(e), 0),
                         LSM_OK);
        model_delete_range(m, b, e);
    } else {
        /* A batch: later operations override earlier ones, so a put after
         * a range deletion covering it survives. */
        lsm_batch_clear(batch);
        int ops = 1 + (int)(tu_rand(rs) % 8);
        for (int j = 0; j < ops; j++) {
            int x = (int)(tu_rand(rs) % 10);
            int key = x < 5 && j > 0 ? (i + (int)(tu_rand(rs) % 40)) % NKEYS
                                     : (int)(tu_rand(rs) % NKEYS);
            key_of(key, k);
            if (x < 5) {
                uint32_t ver = next_ver++;
                size_t n = value_of(key, ver, v);
                assert_int_equal(lsm_batch_put(batch, k, strlen(k), v, n), LSM_OK);
                m->ver[key] = ver;
            } else if (x < 7) {
                assert_int_equal(lsm_batch_delete(batch, k, strlen(k)), LSM_OK);
                m->ver[key] = 0;
            } else {
                random_range(rs, b, e);
                assert_int_equal(lsm_batch_delete_range(batch, b, strlen(b), e,
                                                        strlen(e)), LSM_OK);
                model_delete_range(m, b, e);
            }
        }
        assert_int_equal(lsm_write(db, batch, 0), LSM_OK);
    }
}

static void release_snap(lsm_db *db, snap_slot *s)
{
    lsm_snapshot_release(db, s->snap);
    free(s->m);
    s->snap = NULL;
    s->m = NULL;
}

static void check_snap(lsm_db *db, snap_slot *s, int now, uint64_t *rs)
{
    char what[64];
    snprintf(what, sizeof what, "snapshot from op %d at op %d", s->taken_at,
             now);
    check_view(db, s->snap, s->m, rs, what);
}

static void run_model(uint64_t seed, const lsm_options *o, int ops)
{
    const int reopen_every = ops / 3, compact_every = ops / 4;
    char *dir = tu_tempdir("rdel");
    lsm_db *db = tu_open_db(dir, o);
    model *m = calloc(1, sizeof *m);
    snap_slot snaps[MAX_SNAPS] = { { 0 } };
    lsm_batch *batch = lsm_batch_new();
    uint64_t rs = seed;
    int checked_snaps = 0;
    for (int op = 1; op <= ops; op++) {
        apply_op(db, m, &rs, batch);
        if (tu_rand(&rs) % 600 == 0) {          /* take a snapshot */
            int slot = (int)(tu_rand(&rs) % MAX_SNAPS);
            if (snaps[slot].snap)
                release_snap(db, &snaps[slot]);
            snaps[slot].snap = lsm_snapshot_get(db);
            assert_non_null(snaps[slot].snap);
            snaps[slot].m = malloc(sizeof *m);
            memcpy(snaps[slot].m, m, sizeof *m);
            snaps[slot].taken_at = op;
        }
        if (tu_rand(&rs) % 2000 == 0) {         /* check an old one */
            int slot = (int)(tu_rand(&rs) % MAX_SNAPS);
            if (snaps[slot].snap && snaps[slot].taken_at < op - 200) {
                check_snap(db, &snaps[slot], op, &rs);
                checked_snaps++;
            }
        }
        if (op % 1500 == 0)
            assert_int_equal(lsm_flush(db), LSM_OK);
        if (op % compact_every == 0)
            assert_int_equal(lsm_compact(db), LSM_OK);
        if (op % reopen_every == 0) {
            check_view(db, NULL, m, &rs, "latest");
            /* Snapshots end with the process: check each, then reopen. */
            for (int s = 0; s < MAX_SNAPS; s++) {
                if (!snaps[s].snap)
                    continue;
                check_snap(db, &snaps[s], op, &rs);
                checked_snaps++;
                release_snap(db, &snaps[s]);
            }
            assert_int_equal(lsm_close(db), LSM_OK);
            db = tu_open_db(dir, o);
            check_view(db, NULL, m, &rs, "after reopen");
        }
    }
    assert_true(checked_snaps >= 6);
    for (int s = 0; s < MAX_SNAPS; s++)
        if (snaps[s].snap)
            release_snap(db, &snaps[s]);
    /* Fully compacted, with no snapshot: the tombstones have done their
     * work and everything still matches. */
    assert_int_equal(lsm_compact(db), LSM_OK);
    check_view(db, NULL, m, &rs, "final");
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, o);
    check_view(db, NULL, m, &rs, "final reopen");
    assert_int_equal(lsm_close(db), LSM_OK);
    lsm_batch_free(batch);
    free(m);
    tu_rmtree(dir);
    free(dir);
}

static void test_range_del_model(void **state)
{
    (void)state;
    lsm_options o;
    tu_small_options(&o);
    run_model(1, &o, 24000);
}

/* Without bloom filters and compression, and with tiny blocks: other
 * table layouts under the same workload. */
static void test_range_del_model_plain_tables(void **state)
{
    (void)state;
    lsm_options o;
    tu_small_options(&o);
    o.bloom_bits_per_key = 0;
    o.compression = LSM_COMPRESS_NONE;
    o.block_bytes = 256;
    run_model(2, &o, 12000);
}

/* Many overlapping range deletions in one memtable, most of them nested
 * like a file truncated again and again ([key i, "l"): everything from
 * key i on), mixed with the general workload; every operation is followed
 * by gets checked against the model, the latest view and snapshots are
 * scanned now and then, and all is checked again once the memtable has
 * been flushed into a table and compacted. */
static void test_range_del_many_in_memtable(void **state)
{
    (void)state;
    enum { OPS = 6000 };
    char *dir = tu_tempdir("rdel-mem");
    lsm_options o;
    tu_small_options(&o);
    o.memtable_bytes = 64u << 20;        /* everything stays in memory */
    lsm_db *db = tu_open_db(dir, &o);
    model *m = calloc(1, sizeof *m);
    snap_slot snaps[MAX_SNAPS] = { { 0 } };
    lsm_batch *batch = lsm_batch_new();
    uint64_t rs = 77;
    char k[16], v[128], what[64];
    for (int op = 1; op <= OPS; op++) {
        if (op % 2) {
            apply_op(db, m, &rs, batch);
        } else {                          /* a truncation, then a rewrite */
            int i = (int)(tu_rand(&rs) % NKEYS);
            key_of(i, k);
            assert_int_equal(lsm_delete_range(db, k, strlen(k), "l", 1, 0),
                             LSM_OK);
            model_delete_range(m, k, "l");
            i = (int)(tu_rand(&rs) % NKEYS);
            key_of(i, k);
            m->ver[i] = next_ver++;
            size_t n = value_of(i, m->ver[i], v);
            assert_int_equal(lsm_put(db, k, strlen(k), v, n, 0), LSM_OK);
        }
        snprintf(what, sizeof what, "op %d", op);
        for (int g = 0; g < 4; g++)
            check_get(db, NULL, m, (int)(tu_rand(&rs) % NKEYS), what);
        snap_slot *s = &snaps[tu_rand(&rs) % MAX_SNAPS];
        if (s->snap)
            check_get(db, s->snap, s->m, (int)(tu_rand(&rs) % NKEYS), what);
        if (op % 300 == 0) {
            if (s->snap)
                release_snap(db, s);
            s->snap = lsm_snapshot_get(db);
            s->m = malloc(sizeof *m);
            memcpy(s->m, m, sizeof *m);
            s->taken_at = op;
        }
        if (op % 1000 == 0)
            check_scans(db, NULL, m, &rs, what);
    }
    for (int pass = 0; pass < 3; pass++) {
        check_view(db, NULL, m, &rs, pass == 0 ? "in memory"
                                     : pass == 1 ? "flushed" : "compacted");
        for (int i = 0; i < MAX_SNAPS; i++)
            if (snaps[i].snap)
                check_snap(db, &snaps[i], OPS, &rs);
        assert_int_equal(pass == 0 ? lsm_flush(db) : lsm_compact(db), LSM_OK);
    }
    for (int i = 0; i < MAX_SNAPS; i++)
        if (snaps[i].snap)
            release_snap(db, &snaps[i]);
    assert_int_equal(lsm_close(db), LSM_OK);
    lsm_batch_free(batch);
    free(m);
    tu_rmtree(dir);
    free(dir);
}

/* Direct cases: a range deletion hides older tables' keys but not newer
 * writes, in every combination of where each lives. */
static void test_range_del_layers(void **state)
{
    (void)state;
    char *dir = tu_tempdir("layers");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    char k[16];
    for (int i = 0; i < 100; i++) {
        key_of(i, k);
        assert_int_equal(lsm_put(db, k, strlen(k), "old", 3, 0), LSM_OK);
    }
    assert_int_equal(lsm_compact(db), LSM_OK);          /* puts deep down */
    const lsm_snapshot *before = lsm_snapshot_get(db);
    assert_int_equal(lsm_delete_range(db, "key000010", 9, "key000020", 9, 0),
                     LSM_OK);                           /* tombstone in mem */
    key_of(15, k);
    assert_int_equal(lsm_put(db, k, strlen(k), "new", 3, 0), LSM_OK);
    assert_int_equal(lsm_flush(db), LSM_OK);            /* both in level 0 */
    assert_int_equal(lsm_delete_range(db, "key000050", 9, "key000060", 9, 0),
                     LSM_OK);
    /* [10, 20) minus 15 and [50, 60) are gone; the snapshot sees all. */
    for (int pass = 0; pass < 3; pass++) {
        for (int i = 0; i < 100; i++) {
            key_of(i, k);
            void *v;
            size_t n;
            int rc = lsm_get(db, NULL, k, strlen(k), &v, &n);
            int gone = (i >= 10 && i < 20 && i != 15) || (i >= 50 && i < 60);
            if (gone) {
                if (rc != LSM_NOT_FOUND)
                    fail_msg("pass %d: %s should be deleted (rc %d)", pass, k, rc);
                continue;
            }
            assert_int_equal(rc, LSM_OK);
            assert_memory_equal(v, i == 15 ? "new" : "old", 3);
            lsm_free(v);
            lsm_read_options ro = { .snapshot = before };
            assert_int_equal(lsm_get(db, &ro, k, strlen(k), &v, &n), LSM_OK);
            assert_memory_equal(v, "old", 3);
            lsm_free(v);
        }
        if (pass == 0)
            assert_int_equal(lsm_flush(db), LSM_OK);
        else
            assert_int_equal(lsm_compact(db), LSM_OK);
    }
    lsm_snapshot_release(db, before);
    assert_int_equal(lsm_compact(db), LSM_OK);
    /* A range deletion over keys that no longer exist anywhere. */
    assert_int_equal(lsm_delete_range(db, "a", 1, "b", 1, 0), LSM_OK);
    assert_int_equal(lsm_delete_range(db, "", 0, "key000001", 9, 0), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    void *v;
    size_t n;
    assert_int_equal(lsm_get(db, NULL, "key000000", 9, &v, &n), LSM_NOT_FOUND);
    assert_int_equal(lsm_get(db, NULL, "key000001", 9, &v, &n), LSM_OK);
    lsm_free(v);
    lsm_iter *it = lsm_iter_new(db, NULL);
    int count = 0;
    for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it))
        count++;
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    assert_int_equal(count, 100 - 1 - 9 - 10);
    lsm_iter_free(it);
    assert_int_equal(lsm_close(db), LSM_OK);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_del_layers),
        cmocka_unit_test(test_range_del_many_in_memtable),
        cmocka_unit_test(test_range_del_model),
        cmocka_unit_test(test_range_del_model_plain_tables),
    };
    if (getenv("TEST_FILTER"))        /* run only the tests matching it */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
