/*
 * test_concurrent_subcompaction.c — compactions cut into key ranges merged
 * on parallel threads (max_subcompactions, lsm/compaction.c) keep exactly
 * what one merge keeps: a store written with overwrites, point and range
 * deletions while snapshots are held, then compacted down, reads back as
 * an in-memory model says, at the latest state and at every snapshot,
 * before and after a reopen (which re-checks that no two tables of a
 * level overlap), the same as a store compacted without sub-compactions.
 * Meanwhile a reader thread scans a held snapshot with fresh iterators
 * and sees one unchanging state while the compactions run.  Also run
 * under ThreadSanitizer (label concurrency, scripts/test).
 *
 * On an engine without sub-compactions the "subcompactions" count stays
 * 0 and the test fails.  Every loop is bounded by a count, not by time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"
#include "testutil.h"

#define NKEYS 3000
#define OPS 24000
#define NSNAPS 3
#define READER_SCANS 40

static void key_of(int i, char k[16])
{
    snprintf(k, 16, "k%06d", i);
}

/* The value of key i at version ver: its length (40..299 bytes) and
 * bytes follow from both. */
static size_t value_of(int i, uint32_t ver, char v[320])
{
    size_t n = 40 + (size_t)((uint32_t)i * 31u + ver * 17u) % 260;
    int head = snprintf(v, 320, "%d.%u.", i, ver);
    for (size_t j = (size_t)head; j < n; j++)
        v[j] = (char)('a' + (j + ver) % 26);
    return n;
}

/* Checks a full scan against ver[] (0: absent).  Returns NULL or what
 * differs (static text, for the reader thread too). */
static const char *scan_differs(lsm_db *db, const lsm_snapshot *snap,
                                const uint32_t *ver, char *why, size_t cap)
{
    lsm_read_options ro = { .snapshot = snap };
    lsm_iter *it = lsm_iter_new(db, &ro);
    if (!it)
        return "no iterator";
    int next = 0;
    const char *bad = NULL;
    for (lsm_iter_first(it); !bad && lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t klen, vlen;
        const char *k = lsm_iter_key(it, &klen);
        const char *v = lsm_iter_value(it, &vlen);
        int i = klen == 7 ? atoi(k + 1) : -1;
        while (next < NKEYS && next < i && ver[next] == 0)
            next++;
        char want[320];
        if (i != next || ver[i] == 0) {
            snprintf(why, cap, "key %.*s found, k%06d expected", (int)klen, k, next);
            bad = why;
        } else if (value_of(i, ver[i], want) != vlen || memcmp(want, v, vlen) != 0) {
            snprintf(why, cap, "key %.*s: wrong value (version %u expected)",
                     (int)klen, k, ver[i]);
            bad = why;
        }
        next = i + 1;
    }
    while (!bad && next < NKEYS && ver[next] == 0)
        next++;
    if (!bad && lsm_iter_status(it) != LSM_OK)
        bad = "iterator failed";
    else if (!bad && next < NKEYS) {
        snprintf(why, cap, "key k%06d missing", next);
        bad = why;
    }
    lsm_iter_free(it);
    return bad;
}

struct reader {
    lsm_db *db;
    const lsm_snapshot *snap;
    const uint32_t *ver;
    char why[256];
    const char *bad;
};

static void *reader_thread(void *arg)
{
    struct reader *r = arg;
    for (int n = 0; n < READER_SCANS && !r->bad; n++)
        r->bad = scan_differs(r->db, r->snap, r->ver, r->why, sizeof r->why);
    return NULL;
}

static void check_all(lsm_db *db, const lsm_snapshot **snaps,
                      uint32_t (*snap_ver)[NKEYS], int nsnaps, const uint32_t *ver)
{
    char why[256];
    const char *bad = scan_differs(db, NULL, ver, why, sizeof why);
    if (bad)
        fail_msg("latest: %s", bad);
    for (int s = 0; s < nsnaps; s++)
        if ((bad = scan_differs(db, snaps[s], snap_ver[s], why, sizeof why)))
            fail_msg("snapshot %d: %s", s, bad);
}

static uint64_t subcompactions(lsm_db *db)
{
    lsm_stats s;
    lsm_get_stats(db, &s);
    return s.subcompactions;
}

/* Writes the workload into a store with max_subcompactions = subs,
 * compacts it while a reader scans the first snapshot, and checks it
 * against the model; returns the sub-compactions run.  blobs: values of
 * 100 bytes or more go to small blob files, and every compaction moves
 * the values of the older half of them (ranges relocating at once). */
static uint64_t run_workload(int subs, int blobs)
{
    char *dir = tu_tempdir("subcompact");
    lsm_options o;
    tu_small_options(&o);
    o.max_subcompactions = subs;
    o.subcompaction_bytes = 64 << 10;
    /* Level 0 merged into itself is one table on one thread: merges into
     * level 1 are the ones cut into ranges. */
    o.level0_self_merge_percent = 0;
    if (blobs) {
        o.blob_min_bytes = 100;
        o.blob_file_bytes = 64 << 10;
        o.blob_gc_age_percent = 50;
        o.subcompaction_bytes = 8 << 10;    /* tables hold references */
    }
    lsm_db *db = tu_open_db(dir, &o);
    static uint32_t ver[NKEYS], snap_ver[NSNAPS][NKEYS];
    memset(ver, 0, sizeof ver);
    const lsm_snapshot *snaps[NSNAPS];
    int nsnaps = 0;
    uint32_t next_ver = 1;
    uint64_t rs = 1234;
    char k[16], e[16], v[320];
    for (int op = 1; op <= OPS; op++) {
        int i = (int)(tu_rand(&rs) % NKEYS), dice = (int)(tu_rand(&rs) % 100);
        key_of(i, k);
        if (dice < 75) {
            uint32_t vv = next_ver++;
            size_t n = value_of(i, vv, v);
            assert_int_equal(lsm_put(db, k, strlen(k), v, n, 0), LSM_OK);
            ver[i] = vv;
        } else if (dice < 95) {
            assert_int_equal(lsm_delete(db, k, strlen(k), 0), LSM_OK);
            ver[i] = 0;
        } else {
            int end = i + 1 + (int)(tu_rand(&rs) % 60);
            if (end > NKEYS)
                end = NKEYS;
            key_of(end, e);
            assert_int_equal(lsm_delete_range(db, k, strlen(k), e, strlen(e), 0),
                             LSM_OK);
            for (int j = i; j < end; j++)
                ver[j] = 0;
        }
        if (op % (OPS / (NSNAPS + 1)) == 0 && nsnaps < NSNAPS) {
            snaps[nsnaps] = lsm_snapshot_get(db);
            assert_non_null(snaps[nsnaps]);
            memcpy(snap_ver[nsnaps], ver, sizeof ver);
            nsnaps++;
        }
    }
    struct reader r = { .db = db, .snap = snaps[0], .ver = snap_ver[0] };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_thread, &r), 0);
    assert_int_equal(lsm_compact(db), LSM_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (r.bad)
        fail_msg("reader during compaction: %s", r.bad);
    check_all(db, snaps, snap_ver, nsnaps, ver);

    /* Without the snapshots, compact again: versions only they kept go. */
    for (int s = 0; s < nsnaps; s++)
        lsm_snapshot_release(db, snaps[s]);
    assert_int_equal(lsm_compact(db), LSM_OK);
    uint64_t n = subcompactions(db);
    check_all(db, NULL, NULL, 0, ver);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    check_all(db, NULL, NULL, 0, ver);
    tu_close_and_remove(db, dir);
    return n;
}

static void test_subcompactions_keep_what_one_merge_keeps(void **state)
{
    (void)state;
    assert_int_equal(run_workload(1, 0), 0);
    assert_true(run_workload(4, 0) > 0);
    assert_true(run_workload(4, 1) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subcompactions_keep_what_one_merge_keeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
