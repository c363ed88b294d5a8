/*
 * test_blob.c — large values in blob files (lsm/blob.c): round trips
 * through the memtable, flushes, compactions and reopen; a damaged blob
 * byte reads as LSM_CORRUPTION; a WAL record naming blob bytes lost by
 * power loss ends the replay there (a prefix survives).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "db.h"
#include "env.h"
#include "fault_env.h"
#include "lsm.h"
#include "testutil.h"
#include "wal.h"
#include "write_batch.h"

#define NKEYS 300

static void blob_options(lsm_options *o)
{
    tu_small_options(o);
    o->blob_min_bytes = 1024;
    o->blob_file_bytes = 64 << 10;      /* several files */
}

/* A store at /db on a new fault env (*fe, from seed) with blob_options
 * (*o) and no idle work: nothing runs but what the test does, so the
 * disk changes only as told. */
static lsm_db *fault_blob_open(uint64_t seed, fault_env **fe, lsm_options *o)
{
    *fe = fault_env_new(seed);
    blob_options(o);
    o->env = fault_env_base(*fe);
    o->idle_compaction_ms = 0;
    return tu_open_db("/db", o);
}

/* Value of key i: large (blob) for even i, small (inline) for odd. */
static size_t value_of(int i, int gen, char *buf)
{
    size_t len = i % 2 ? 10 + (size_t)(i % 50) : 1024 + (size_t)(i * 37 % 4000);
    for (size_t j = 0; j < len; j++)
        buf[j] = (char)(i * 131 + gen * 7 + (int)j * 13);
    return len;
}

static void key_of(int i, char key[16])
{
    snprintf(key, 16, "key%06d", i);
}

static void put_all(lsm_db *db, int gen)
{
    char key[16], val[8192];
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, key);
        size_t n = value_of(i, gen, val);
        assert_int_equal(lsm_put(db, key, strlen(key), val, n, 0), LSM_OK);
    }
}

static void check_all(lsm_db *db, int gen)
{
    char key[16], val[8192];
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, key);
        size_t n = value_of(i, gen, val);
        void *v;
        size_t vlen;
        assert_int_equal(lsm_get(db, NULL, key, strlen(key), &v, &vlen), LSM_OK);
        assert_int_equal(vlen, n);
        assert_memory_equal(v, val, n);
        lsm_free(v);
    }
    /* Forward and reverse scans resolve references too. */
    lsm_iter *it = lsm_iter_new(db, NULL);
    int i = 0;
    for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++) {
        size_t n = value_of(i, gen, val), vlen;
        const void *v = lsm_iter_value(it, &vlen);
        assert_int_equal(vlen, n);
        assert_memory_equal(v, val, n);
    }
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    assert_int_equal(i, NKEYS);
    for (lsm_iter_last(it); lsm_iter_valid(it); lsm_iter_prev(it)) {
        i--;
        size_t n = value_of(i, gen, val), vlen;
        const void *v = lsm_iter_value(it, &vlen);
        assert_int_equal(vlen, n);
        assert_memory_equal(v, val, n);
    }
    assert_int_equal(i, 0);
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    lsm_iter_free(it);
}

static long long suffix_bytes(const char *dir, const char *suffix)
{
    long long sum = 0;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cat %s/*%s 2>/dev/null | wc -c", dir, suffix);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%lld", &sum), 1);
    pclose(p);
    return sum;
}

/* Totals of the "blobfiles" property: blob bytes, recorded garbage and
 * the bytes holes freed. */
static void blob_totals(lsm_db *db, long long *bytes, long long *garbage,
                        long long *punched)
{
    char *text;
    assert_int_equal(lsm_property(db, "blobfiles", &text), LSM_OK);
    const char *t = strstr(text, "blob_files: ");
    assert_non_null(t);
    size_t n;
    assert_int_equal(sscanf(t, "blob_files: %zu bytes %lld garbage_bytes %lld punched %lld",
                            &n, bytes, garbage, punched), 4);
    lsm_free(text);
}

static void test_round_trip(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    put_all(db, 1);
    check_all(db, 1);                       /* from the memtable */
    assert_int_equal(lsm_flush(db), LSM_OK);
    check_all(db, 1);                       /* from a table */
    put_all(db, 2);                         /* overwrites */
    assert_int_equal(lsm_compact(db), LSM_OK);
    check_all(db, 2);                       /* after compaction */
    assert_int_equal(lsm_close(db), LSM_OK);
    assert_true(tu_count_files(dir, ".blob") >= 2);   /* rotated */

    db = tu_open_db(dir, &o);
    check_all(db, 2);
    /* The blob files hold the large values (the first generation's were
     * collected after the compaction); the tables only references (~20
     * bytes each). */
    long long large = 0;
    char val[8192];
    for (int i = 0; i < NKEYS; i += 2)
        large += (long long)value_of(i, 1, val);
    assert_true(suffix_bytes(dir, ".blob") >= large);
    assert_true(suffix_bytes(dir, ".sst") < large / 4);
    /* Space the store reports (statfs in lsmfs) counts the blob files,
     * less the holes freed in them. */
    long long bytes, garbage, punched;
    blob_totals(db, &bytes, &garbage, &punched);
    assert_int_equal(bytes, suffix_bytes(dir, ".blob"));
    assert_true(lsm_disk_bytes(db) >= (uint64_t)(bytes - punched));
    /* Reading needs no option: a store written with blobs reads without. */
    assert_int_equal(lsm_close(db), LSM_OK);
    lsm_options plain;
    tu_small_options(&plain);
    db = tu_open_db(dir, &plain);
    check_all(db, 2);
    tu_close_and_remove(db, dir);
}

static void test_damaged_byte_is_corruption(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    o.blob_file_bytes = 64u << 20;          /* one file */
    lsm_db *db = tu_open_db(dir, &o);
    char val[4096];
    memset(val, 'x', sizeof val);
    assert_int_equal(lsm_put(db, "big", 3, val, sizeof val, 0), LSM_OK);
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    char *blob = tu_find_file(dir, ".blob");
    assert_non_null(blob);
    assert_int_equal(tu_file_size(blob), 8 + 8 + (long long)sizeof val);
    assert_int_equal(tu_flip_byte(blob, 8 + 8 + 1000, 0x01), 0);

    db = tu_open_db(dir, &o);
    void *v = NULL;
    size_t n;
    assert_int_equal(lsm_get(db, NULL, "big", 3, &v, &n), LSM_CORRUPTION);
    lsm_iter *it = lsm_iter_new(db, NULL);
    lsm_iter_first(it);
    assert_true(lsm_iter_valid(it));
    assert_null(lsm_iter_value(it, &n));
    assert_false(lsm_iter_valid(it));
    assert_int_equal(lsm_iter_status(it), LSM_CORRUPTION);
    lsm_iter_free(it);
    /* A file cut short reads as corruption too. */
    assert_int_equal(lsm_close(db), LSM_OK);
    assert_int_equal(tu_truncate(blob, 100), 0);
    db = tu_open_db(dir, &o);
    assert_int_equal(lsm_get(db, NULL, "big", 3, &v, &n), LSM_CORRUPTION);
    free(blob);
    tu_close_and_remove(db, dir);
}

/* A scan (no_fill_cache) reads blob values ahead, a window of the file
 * at a time, and checks each value as a point read does: 200 values of
 * 4 KiB take a few reads, not one each, and a damaged byte in one value
 * inside a window is LSM_CORRUPTION at that value, after the ones before
 * it read back intact. */
#define SCAN_VALUES 200
#define SCAN_LEN 4096

static void scan_value(int i, char *buf)
{
    memset(buf, 'a' + i % 26, SCAN_LEN);
    memcpy(buf, &i, sizeof i);
}

/* Scans every key with no_fill_cache; returns how many values read back
 * as written before the scan stopped. */
static int scan_all(lsm_db *db)
{
    lsm_read_options ro = { .snapshot = NULL, .no_fill_cache = 1 };
    lsm_iter *it = lsm_iter_new(db, &ro);
    char want[SCAN_LEN];
    int i = 0;
    for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++) {
        size_t n;
        const void *v = lsm_iter_value(it, &n);
        scan_value(i, want);
        if (v == NULL || n != SCAN_LEN || memcmp(v, want, n) != 0)
            break;
    }
    lsm_iter_free(it);
    return i;
}

static void put_scan_values(lsm_db *db)
{
    char key[16], val[SCAN_LEN];
    for (int i = 0; i < SCAN_VALUES; i++) {
        key_of(i, key);
        scan_value(i, val);
        assert_int_equal(lsm_put(db, key, strlen(key), val, SCAN_LEN, 0), LSM_OK);
    }
    assert_int_equal(lsm_flush(db), LSM_OK);
}

static void test_scan_reads_blob_values_ahead(void **state)
{
    (void)state;
    fault_env *fe = fault_env_new(31);
    lsm_options o;
    blob_options(&o);
    o.env = fault_env_base(fe);
    o.blob_file_bytes = 64u << 20;               /* one file */
    lsm_db *db = tu_open_db("/db", &o);
    put_scan_values(db);
    uint64_t r0 = fault_env_op_count(fe, FAULT_OP_READ);
    assert_int_equal(scan_all(db), SCAN_VALUES);
    uint64_t reads = fault_env_op_count(fe, FAULT_OP_READ) - r0;
    /* Before: one read per value, besides the small test tables' blocks
     * (~80 here, read uncached by a scan); now two windows besides. */
    assert_true(reads < SCAN_VALUES / 2);
    /* Backward, each window ends with the value that missed it. */
    r0 = fault_env_op_count(fe, FAULT_OP_READ);
    lsm_read_options ro = { .snapshot = NULL, .no_fill_cache = 1 };
    lsm_iter *it = lsm_iter_new(db, &ro);
    char want[SCAN_LEN];
    int i = SCAN_VALUES - 1;
    for (lsm_iter_last(it); lsm_iter_valid(it); lsm_iter_prev(it), i--) {
        size_t n;
        const void *v = lsm_iter_value(it, &n);
        scan_value(i, want);
        assert_non_null(v);
        assert_memory_equal(v, want, SCAN_LEN);
    }
    assert_int_equal(i, -1);
    lsm_iter_free(it);
    assert_true(fault_env_op_count(fe, FAULT_OP_READ) - r0 < SCAN_VALUES / 2);
    assert_int_equal(lsm_close(db), LSM_OK);
    fault_env_free(fe);

    char *dir = tu_tempdir("blobscan");
    blob_options(&o);
    o.blob_file_bytes = 64u << 20;               /* one file */
    db = tu_open_db(dir, &o);
    put_scan_values(db);
    assert_int_equal(lsm_close(db), LSM_OK);
    char *blob = tu_find_file(dir, ".blob");
    assert_non_null(blob);
    long long rec = 8 + SCAN_LEN;                /* header + value */
    assert_int_equal(tu_file_size(blob), 8 + SCAN_VALUES * rec);
    assert_int_equal(tu_flip_byte(blob, 8 + 100 * rec + 8 + 1000, 0x01), 0);
    db = tu_open_db(dir, &o);
    it = lsm_iter_new(db, &ro);
    size_t n;
    for (i = 0, lsm_iter_first(it); lsm_iter_valid(it) && i < 100; lsm_iter_next(it), i++)
        assert_non_null(lsm_iter_value(it, &n));
    assert_int_equal(i, 100);
    assert_null(lsm_iter_value(it, &n));
    assert_int_equal(lsm_iter_status(it), LSM_CORRUPTION);
    lsm_iter_free(it);
    assert_int_equal(scan_all(db), 100);
    free(blob);
    tu_close_and_remove(db, dir);
}

/* Power loss kept the WAL's records but not the blob bytes of the last
 * (unsynced) large put: the replay stops at that record, so what is
 * recovered is a prefix of the writes, never a reference to lost bytes. */
static void test_lost_blob_tail_ends_replay(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    o.blob_file_bytes = 64u << 20;
    lsm_db *db = tu_open_db(dir, &o);
    char a[2000], b[3000];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    assert_int_equal(lsm_put(db, "a", 1, a, sizeof a, LSM_SYNC), LSM_OK);
    assert_int_equal(lsm_put(db, "b", 1, b, sizeof b, 0), LSM_OK);
    assert_int_equal(lsm_put(db, "c", 1, "small", 5, 0), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);  /* WAL kept, not flushed */
    char *blob = tu_find_file(dir, ".blob");
    assert_non_null(blob);
    /* Cut into b's record, as power loss before its bytes were synced. */
    assert_int_equal(tu_truncate(blob, 8 + 8 + (long long)sizeof a + 100), 0);

    db = tu_open_db(dir, &o);
    void *v = NULL;
    size_t n;
    assert_int_equal(lsm_get(db, NULL, "a", 1, &v, &n), LSM_OK);
    assert_int_equal(n, sizeof a);
    assert_memory_equal(v, a, n);
    lsm_free(v);
    assert_int_equal(lsm_get(db, NULL, "b", 1, &v, &n), LSM_NOT_FOUND);
    assert_int_equal(lsm_get(db, NULL, "c", 1, &v, &n), LSM_NOT_FOUND);
    /* New writes go on, and survive another reopen. */
    assert_int_equal(lsm_put(db, "d", 1, b, sizeof b, LSM_SYNC), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    assert_int_equal(lsm_get(db, NULL, "d", 1, &v, &n), LSM_OK);
    assert_int_equal(n, sizeof b);
    lsm_free(v);
    assert_int_equal(lsm_get(db, NULL, "b", 1, &v, &n), LSM_NOT_FOUND);
    free(blob);
    tu_close_and_remove(db, dir);
}

/* Damage in a blob file older than the newest is no torn tail (those were
 * fsync'ed): the open fails, as for damage in the middle of a WAL, unless
 * salvage, which keeps the writes before the record naming it. */
static void test_damage_in_older_blob_file_fails_open(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    o.memtable_bytes = 4u << 20;            /* everything stays in the WAL */
    o.blob_file_bytes = 16 << 10;
    lsm_db *db = tu_open_db(dir, &o);
    char small[8] = "small", val[4000];
    memset(val, 'v', sizeof val);
    assert_int_equal(lsm_put(db, "a", 1, small, sizeof small, 0), LSM_OK);
    for (int i = 0; i < 20; i++) {
        char key[16];
        key_of(i, key);
        assert_int_equal(lsm_put(db, key, strlen(key), val, sizeof val, 0), LSM_OK);
    }
    assert_int_equal(lsm_close(db), LSM_OK);
    assert_true(tu_count_files(dir, ".blob") >= 3);
    char path[512];
    snprintf(path, sizeof path, "%s/000001.blob", dir);
    assert_int_equal(tu_flip_byte(path, 100, 0x01), 0);
    lsm_db *bad = NULL;
    assert_int_equal(lsm_open(dir, &o, &bad), LSM_CORRUPTION);
    o.salvage = 1;
    db = tu_open_db(dir, &o);
    void *v;
    size_t n;
    assert_int_equal(lsm_get(db, NULL, "a", 1, &v, &n), LSM_OK);
    lsm_free(v);
    assert_int_equal(lsm_get(db, NULL, "key000000", 9, &v, &n), LSM_NOT_FOUND);
    tu_close_and_remove(db, dir);
}

/* A checkpoint (lsmfs backup) takes the blob files its tables name. */
static void test_checkpoint_has_blobs(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    char *dest = tu_tempdir("blobcp");
    tu_rmtree(dest);
    lsm_options o;
    blob_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    put_all(db, 1);
    assert_int_equal(lsm_flush(db), LSM_OK);
    put_all(db, 2);                         /* in the memtable */
    lsm_checkpoint *cp;
    assert_int_equal(lsm_checkpoint_begin(db, &cp), LSM_OK);
    assert_int_equal(lsm_checkpoint_write(cp, dest, NULL, NULL, NULL), LSM_OK);
    lsm_checkpoint_end(cp);
    put_all(db, 3);                         /* after the pin */
    tu_close_and_remove(db, dir);           /* the source is gone */
    assert_true(tu_count_files(dest, ".blob") >= 2);
    db = tu_open_db(dest, &o);
    check_all(db, 2);
    tu_close_and_remove(db, dest);
}

/* Reads every key (at snap, or latest) and the iterator it, expecting
 * value_of(i, gen_of(i)), or no key where gen_of(i) is 0. */
static void check_gens(lsm_db *db, const lsm_snapshot *snap, lsm_iter *it,
                       int (*gen_of)(int))
{
    lsm_read_options ro = { .snapshot = snap };
    char key[16], val[8192];
    int i = 0;
    lsm_iter_first(it);
    for (int k = 0; k < NKEYS; k++) {
        key_of(k, key);
        void *v;
        size_t vlen, n = value_of(k, gen_of(k), val);
        int rc = lsm_get(db, &ro, key, strlen(key), &v, &vlen);
        if (!gen_of(k)) {
            assert_int_equal(rc, LSM_NOT_FOUND);
            continue;
        }
        assert_int_equal(rc, LSM_OK);
        assert_int_equal(vlen, n);
        assert_memory_equal(v, val, n);
        lsm_free(v);
        assert_true(lsm_iter_valid(it));
        const void *iv = lsm_iter_value(it, &vlen);
        assert_int_equal(vlen, n);
        assert_memory_equal(iv, val, n);
        lsm_iter_next(it);
        i++;
    }
    assert_false(lsm_iter_valid(it));
    assert_int_equal(lsm_iter_status(it), LSM_OK);
}

static int gen_first(int i) { (void)i; return 1; }
/* Large values of the first half deleted, the second half overwritten. */
static int gen_after(int i)
{
    return i < NKEYS / 2 ? (i % 2 ? 1 : 0) : 2;
}
/* Then every large value deleted. */
static int gen_last(int i)
{
    return i % 2 ? gen_after(i) : 0;
}

static int gen_gen2(int i) { (void)i; return 2; }

static long long large_bytes(int (*gen_of)(int))
{
    long long sum = 0;
    char val[8192];
    for (int i = 0; i < NKEYS; i += 2)
        sum += gen_of(i) ? (long long)value_of(i, gen_of(i), val) : 0;
    return sum;
}

/* Garbage collection: blob files whose values were all deleted or
 * overwritten are deleted once no snapshot or iterator can read them, and
 * lsm_disk_bytes drops; a reopen learns the references again. */
static void test_gc_deletes_dead_blob_files(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    put_all(db, 1);
    assert_int_equal(lsm_flush(db), LSM_OK);
    const lsm_snapshot *snap = lsm_snapshot_get(db);
    lsm_read_options ro = { .snapshot = snap };
    lsm_iter *old_it = lsm_iter_new(db, NULL);     /* pins what it sees */
    lsm_iter *snap_it = lsm_iter_new(db, &ro);
    long long before = suffix_bytes(dir, ".blob");
    assert_true(before >= large_bytes(gen_first));

    char key[16], val[8192];
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, key);
        if (i >= NKEYS / 2) {
            size_t n = value_of(i, 2, val);
            assert_int_equal(lsm_put(db, key, strlen(key), val, n, 0), LSM_OK);
        } else if (i % 2 == 0) {
            assert_int_equal(lsm_delete(db, key, strlen(key), 0), LSM_OK);
        }
    }
    assert_int_equal(lsm_compact(db), LSM_OK);
    /* The snapshot and the iterators keep the first values readable. */
    check_gens(db, snap, old_it, gen_first);
    lsm_iter *it = lsm_iter_new(db, NULL);
    check_gens(db, NULL, it, gen_after);
    lsm_iter_free(it);
    assert_true(suffix_bytes(dir, ".blob") >= before);
    uint64_t held = lsm_disk_bytes(db);

    lsm_iter_free(old_it);
    lsm_iter_free(snap_it);
    lsm_snapshot_release(db, snap);
    /* The versions the snapshot kept go when compaction next rewrites
     * their tables: rewrite the small values (unchanged) to make it. */
    for (int i = 1; i < NKEYS; i += 2) {
        key_of(i, key);
        size_t n = value_of(i, gen_after(i), val);
        assert_int_equal(lsm_put(db, key, strlen(key), val, n, 0), LSM_OK);
    }
    assert_int_equal(lsm_compact(db), LSM_OK);
    it = lsm_iter_new(db, NULL);
    check_gens(db, NULL, it, gen_after);
    lsm_iter_free(it);
    /* What is left: the live values, plus at most the file being written
     * and one shared with dead values at each end of the live run. */
    long long live = large_bytes(gen_after), after = suffix_bytes(dir, ".blob");
    assert_true(after >= live);
    assert_true(after <= live + 3 * (long long)o.blob_file_bytes);
    assert_true(after < before);
    assert_true(lsm_disk_bytes(db) + (uint64_t)(before - after) <= held + 4096);
    assert_int_equal(lsm_close(db), LSM_OK);

    /* After a reopen the tables' references are learnt again. */
    db = tu_open_db(dir, &o);
    it = lsm_iter_new(db, NULL);
    check_gens(db, NULL, it, gen_after);
    lsm_iter_free(it);
    assert_int_equal(suffix_bytes(dir, ".blob"), after);
    for (int i = 0; i < NKEYS; i += 2) {
        key_of(i, key);
        assert_int_equal(lsm_delete(db, key, strlen(key), 0), LSM_OK);
    }
    assert_int_equal(lsm_compact(db), LSM_OK);
    it = lsm_iter_new(db, NULL);
    check_gens(db, NULL, it, gen_last);
    lsm_iter_free(it);
    assert_true(suffix_bytes(dir, ".blob") <= (long long)o.blob_file_bytes + 8192);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    it = lsm_iter_new(db, NULL);
    check_gens(db, NULL, it, gen_last);
    lsm_iter_free(it);
    tu_close_and_remove(db, dir);
}

/* An iterator opened while the values were only in the memtable reads
 * them through that memtable (its version has no table naming them):
 * the memtable's pin keeps their blob files after the flush and after a
 * compaction dropped every table reference. */
static void test_gc_spares_iterator_memtable(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    /* No idle work: an idle pass relocating gen-2 values into new files
     * while this test measures would add their bytes. */
    o.idle_compaction_ms = 0;
    lsm_db *db = tu_open_db(dir, &o);
    put_all(db, 1);
    lsm_iter *it = lsm_iter_new(db, NULL);
    assert_int_equal(lsm_flush(db), LSM_OK);
    long long before = suffix_bytes(dir, ".blob");
    put_all(db, 2);
    assert_int_equal(lsm_compact(db), LSM_OK);
    lsm_iter *now = lsm_iter_new(db, NULL);
    check_gens(db, NULL, now, gen_gen2);
    lsm_iter_free(now);
    lsm_iter_first(it);
    char val[8192];
    for (int i = 0; i < NKEYS; i++, lsm_iter_next(it)) {
        assert_true(lsm_iter_valid(it));
        size_t n = value_of(i, 1, val), vlen;
        const void *v = lsm_iter_value(it, &vlen);
        assert_int_equal(vlen, n);
        assert_memory_equal(v, val, n);
    }
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    lsm_iter_free(it);
    /* Released: the next obsolete-file pass deletes the old files. */
    assert_int_equal(lsm_compact(db), LSM_OK);
    assert_true(suffix_bytes(dir, ".blob") < before + large_bytes(gen_gen2) / 2);
    tu_close_and_remove(db, dir);
}

/* Every other large value deleted: every blob file keeps live values, so
 * only relocation (blob_gc_age_percent) gives space back: a compaction
 * copies the live values of the old files to the current one. */
static int gen_every_other(int i)
{
    return i % 4 == 0 ? 0 : 1;
}

static void test_gc_relocates_live_values(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    o.blob_gc_age_percent = 100;        /* every file but the current one */
    lsm_db *db = tu_open_db(dir, &o);
    put_all(db, 1);
    assert_int_equal(lsm_flush(db), LSM_OK);
    long long before = suffix_bytes(dir, ".blob");
    char key[16];
    for (int i = 0; i < NKEYS; i += 4) {
        key_of(i, key);
        assert_int_equal(lsm_delete(db, key, strlen(key), 0), LSM_OK);
    }
    assert_int_equal(lsm_compact(db), LSM_OK);
    lsm_iter *it = lsm_iter_new(db, NULL);
    check_gens(db, NULL, it, gen_every_other);
    lsm_iter_free(it);
    /* Left: the live values (8-byte headers) in the files they moved to,
     * and the file that was being written. */
    long long live = large_bytes(gen_every_other), after = suffix_bytes(dir, ".blob");
    assert_true(after >= live);
    assert_true(after <= live + live / 20 + 2 * (long long)o.blob_file_bytes);
    assert_true(after < before * 3 / 4);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    it = lsm_iter_new(db, NULL);
    check_gens(db, NULL, it, gen_every_other);
    lsm_iter_free(it);
    tu_close_and_remove(db, dir);
}

static void count_blob_loss(void *ctx, const lsm_loss *l)
{
    if (l->blob_file)
        ++*(int *)ctx;
}

/* A blob value damaged: verify names it (and its blob file); repair
 * drops that entry alone (the key reads as absent, not as an error), the
 * rest is untouched, and verify is then clean. */
static void test_verify_and_repair_blob(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    o.blob_file_bytes = 64u << 20;          /* one file */
    lsm_db *db = tu_open_db(dir, &o);
    char val[4096];
    memset(val, 'x', sizeof val);
    assert_int_equal(lsm_put(db, "a", 1, val, sizeof val, 0), LSM_OK);
    assert_int_equal(lsm_put(db, "b", 1, val, sizeof val, 0), LSM_OK);
    assert_int_equal(lsm_put(db, "c", 1, val, sizeof val, 0), LSM_OK);
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    char *blob = tu_find_file(dir, ".blob");
    assert_non_null(blob);
    /* Record 2 ("b"): magic, record 1, then its header. */
    assert_int_equal(tu_flip_byte(blob, 8 + (8 + 4096) + 8 + 10, 0x01), 0);
    free(blob);
    db = tu_open_db(dir, &o);
    int found = 0;
    lsm_repair_result r;
    assert_int_equal(lsm_verify_tables(db, count_blob_loss, &found, &r), LSM_OK);
    assert_int_equal(found, 1);
    assert_int_equal(r.blobs_lost, 1);
    assert_int_equal(lsm_close(db), LSM_OK);
    found = 0;
    assert_int_equal(lsm_repair(dir, &o, count_blob_loss, &found, &r), LSM_OK);
    assert_int_equal(found, 1);
    assert_int_equal(r.tables_written, 1);
    db = tu_open_db(dir, &o);
    void *v;
    size_t n;
    assert_int_equal(lsm_get(db, NULL, "b", 1, &v, &n), LSM_NOT_FOUND);
    for (const char *k = "a"; *k; k = *k == 'a' ? "c" : "") {
        assert_int_equal(lsm_get(db, NULL, k, 1, &v, &n), LSM_OK);
        assert_int_equal(n, sizeof val);
        lsm_free(v);
    }
    found = 0;
    assert_int_equal(lsm_verify_tables(db, count_blob_loss, &found, &r), LSM_OK);
    assert_int_equal(found, 0);
    assert_int_equal(r.damaged, 0);
    tu_close_and_remove(db, dir);
}

/* A named snapshot alone holding a large value counts the value's bytes
 * (not its reference's) as its own (lsm_snapshot_space). */
static void test_snapshot_space_counts_blob_values(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    char val[8000];
    memset(val, 'v', sizeof val);
    assert_int_equal(lsm_put(db, "k", 1, val, sizeof val, 0), LSM_OK);
    lsm_snapshot_info info;
    assert_int_equal(lsm_snapshot_create(db, "s", &info), LSM_OK);
    assert_int_equal(lsm_delete(db, "k", 1, 0), LSM_OK);
    assert_int_equal(lsm_flush(db), LSM_OK);
    uint64_t alone = 0;
    assert_int_equal(lsm_snapshot_space(db, &info, 1, &alone), LSM_OK);
    assert_int_equal(alone, 1 + sizeof val);
    tu_close_and_remove(db, dir);
}

/* Totals of the "blobfiles" property: blob bytes and recorded garbage. */
static void blob_garbage(lsm_db *db, long long *bytes, long long *garbage)
{
    long long punched;
    blob_totals(db, bytes, garbage, &punched);
}

/* Bytes the large values of the deleted keys (gen_every_other) took in
 * their blob files, record headers included. */
static long long deleted_record_bytes(void)
{
    long long sum = 0;
    char val[8192];
    for (int i = 0; i < NKEYS; i += 4)
        sum += 8 + (long long)value_of(i, 1, val);
    return sum;
}

/* Garbage accounting: the values a compaction drops (deleted keys) are
 * recorded per blob file in the manifest, exactly, and survive a reopen;
 * with blob_gc_garbage_percent 0 nothing moves. */
static void test_garbage_recorded(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    o.blob_gc_garbage_percent = 0;
    lsm_db *db = tu_open_db(dir, &o);
    put_all(db, 1);
    assert_int_equal(lsm_flush(db), LSM_OK);
    long long bytes, garbage;
    blob_garbage(db, &bytes, &garbage);
    assert_int_equal(garbage, 0);
    char key[16];
    for (int i = 0; i < NKEYS; i += 4) {
        key_of(i, key);
        assert_int_equal(lsm_delete(db, key, strlen(key), 0), LSM_OK);
    }
    assert_int_equal(lsm_compact(db), LSM_OK);
    long long bytes2;
    blob_garbage(db, &bytes2, &garbage);
    assert_int_equal(bytes2, bytes);    /* every file keeps live values */
    assert_int_equal(garbage, deleted_record_bytes());
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    long long garbage2;
    blob_garbage(db, &bytes2, &garbage2);
    assert_int_equal(garbage2, garbage);
    /* A second compaction drops nothing more. */
    assert_int_equal(lsm_compact(db), LSM_OK);
    blob_garbage(db, &bytes2, &garbage2);
    assert_int_equal(garbage2, garbage);
    lsm_iter *it = lsm_iter_new(db, NULL);
    check_gens(db, NULL, it, gen_every_other);
    lsm_iter_free(it);
    tu_close_and_remove(db, dir);
}

/* Relocation by garbage: once half of each blob file is recorded as
 * garbage, the next compaction moves the live values out of them and
 * they are deleted (without blob_gc_age_percent). */
static void test_gc_relocates_by_garbage(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    o.blob_gc_garbage_percent = 30;
    lsm_db *db = tu_open_db(dir, &o);
    put_all(db, 1);
    assert_int_equal(lsm_flush(db), LSM_OK);
    long long before = suffix_bytes(dir, ".blob");
    char key[16];
    for (int i = 0; i < NKEYS; i += 4) {
        key_of(i, key);
        assert_int_equal(lsm_delete(db, key, strlen(key), 0), LSM_OK);
    }
    assert_int_equal(lsm_compact(db), LSM_OK);   /* records the garbage */
    assert_int_equal(lsm_compact(db), LSM_OK);   /* moves the live values */
    long long live = large_bytes(gen_every_other), after = suffix_bytes(dir, ".blob");
    assert_true(after >= live);
    assert_true(after < before * 3 / 4);
    long long bytes, garbage;
    blob_garbage(db, &bytes, &garbage);
    assert_int_equal(bytes, after);
    assert_true(garbage * 100 < bytes * 30);
    lsm_iter *it = lsm_iter_new(db, NULL);
    check_gens(db, NULL, it, gen_every_other);
    lsm_iter_free(it);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    it = lsm_iter_new(db, NULL);
    check_gens(db, NULL, it, gen_every_other);
    lsm_iter_free(it);
    tu_close_and_remove(db, dir);
}

/* Bytes the blob files hold: their size less their holes. */
static long long held_blob_bytes(lsm_db *db)
{
    long long bytes, garbage, punched;
    blob_totals(db, &bytes, &garbage, &punched);
    return bytes - punched;
}

/* Deleting a named snapshot whose old values share the current blob file
 * with the live ones: one lsm_compact (what lsmfs runs for a snapshot
 * deletion) records them as garbage and frees their space (holes, or
 * where the file system has none, sealing the file and moving the live
 * values out), so the space is back when it returns, not at a later
 * idle pass. */
static void test_snapshot_delete_frees_current_blob_file(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob");
    lsm_options o;
    blob_options(&o);
    o.blob_file_bytes = 64 << 20;       /* one file holds both generations */
    lsm_db *db = tu_open_db(dir, &o);
    put_all(db, 1);
    lsm_snapshot_info info;
    assert_int_equal(lsm_snapshot_create(db, "s", &info), LSM_OK);
    put_all(db, 2);
    assert_int_equal(lsm_compact(db), LSM_OK);
    long long both = held_blob_bytes(db);
    assert_int_equal(lsm_snapshot_delete(db, "s"), LSM_OK);
    assert_int_equal(lsm_compact(db), LSM_OK);
    long long after = held_blob_bytes(db);
    assert_true(after < both * 3 / 4);
    check_all(db, 2);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    check_all(db, 2);
    tu_close_and_remove(db, dir);
}

#define BIG (3u << 20)

static void fill_big(char *v, int gen)
{
    for (size_t j = 0; j < BIG; j++)
        v[j] = (char)(j * 7 + (j >> 12) + (size_t)gen);
}

static void check_value(lsm_db *db, const char *key, const void *val, size_t n)
{
    void *v;
    size_t vlen;
    assert_int_equal(lsm_get(db, NULL, key, strlen(key), &v, &vlen), LSM_OK);
    assert_int_equal(vlen, n);
    assert_memory_equal(v, val, n);
    lsm_free(v);
}

static uint64_t free_bytes(lsm_env *env)
{
    uint64_t n;
    assert_int_equal(env->free_space(env, "/db", &n), LSM_OK);
    return n;
}

/* LSM_NO_BLOB keeps a large value in the WAL: a sync write of it costs
 * the WAL's fsync alone (a blob value costs the blob file's first), and
 * it survives power loss like any synced write; without the flag the
 * same write goes to the blob file, and its sync to both files.
 * lsm_sync_pending tells the two apart before the sync: the WAL bytes of
 * the first, "more than one fdatasync" for the second. */
static void test_no_blob_sync_is_one_fsync(void **state)
{
    (void)state;
    fault_env *fe;
    lsm_options o;
    lsm_db *db = fault_blob_open(5, &fe, &o);
    char a[4096], b[4096];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    uint64_t s0 = fault_env_op_count(fe, FAULT_OP_SYNC);
    assert_int_equal(lsm_put(db, "a", 1, a, sizeof a, LSM_SYNC | LSM_NO_BLOB), LSM_OK);
    uint64_t s1 = fault_env_op_count(fe, FAULT_OP_SYNC);
    assert_int_equal(s1 - s0, 1);
    assert_int_equal(lsm_synced(db), 1);
    assert_true(lsm_sync_pending(db) == 0);
    assert_int_equal(lsm_put(db, "b", 1, b, sizeof b, LSM_NO_BLOB), LSM_OK);
    assert_int_equal(lsm_synced(db), 0);
    uint64_t pending = lsm_sync_pending(db);    /* the record, the zeros ahead */
    assert_true(pending > sizeof b && pending < sizeof b + 64 + 2 * LSM_WAL_PREFILL_BYTES);
    assert_int_equal(lsm_sync(db), LSM_OK);
    assert_int_equal(lsm_synced(db), 1);
    assert_true(lsm_sync_pending(db) == 0);
    assert_int_equal(lsm_sync(db), LSM_OK);         /* nothing to do */
    uint64_t s2 = fault_env_op_count(fe, FAULT_OP_SYNC);
    assert_int_equal(s2 - s1, 1);
    assert_int_equal(lsm_put(db, "c", 1, b, sizeof b, LSM_SYNC), LSM_OK);
    assert_int_equal(fault_env_op_count(fe, FAULT_OP_SYNC) - s2, 2);
    assert_int_equal(lsm_put(db, "d", 1, a, sizeof a, 0), LSM_OK);
    assert_true(lsm_sync_pending(db) == UINT64_MAX);   /* the blob file too */
    assert_int_equal(lsm_sync(db), LSM_OK);
    assert_true(lsm_sync_pending(db) == 0);

    fault_env_crash(fe, FAULT_CRASH_DROP_ALL);
    (void)lsm_close(db);                    /* fails: the disk is gone */
    fault_env_restart(fe);
    db = tu_open_db("/db", &o);
    check_value(db, "a", a, sizeof a);
    check_value(db, "b", b, sizeof b);
    check_value(db, "c", b, sizeof b);
    check_value(db, "d", a, sizeof a);
    assert_int_equal(lsm_close(db), LSM_OK);
    fault_env_free(fe);
}

/* A blob append refused for lack of space leaves nothing of it on the
 * disk and the value inline in the write, which the write path then
 * admits or refuses (LSM_NO_SPACE) as any other; the store stays
 * writable (small puts, sync puts and deletes go on; a large value goes
 * once there is room), and a reopen reads every acknowledged write.
 * Both ways a write fails: a disk too full for the record (the
 * reserve refuses it whole) and an append failing part way (injected:
 * the file is left behind, the next value goes to a new one). */
static void test_full_disk_blob_append(void **state)
{
    (void)state;
    fault_env *fe;
    lsm_options o;
    lsm_db *db = fault_blob_open(11, &fe, &o);
    lsm_env *env = o.env;
    put_all(db, 1);
    assert_int_equal(lsm_compact(db), LSM_OK);
    lsm_hold_compactions(db, 1);
    char *big = malloc(BIG);
    assert_non_null(big);

    /* 2 MiB free: a 3 MiB value does not fit, a small put does. */
    uint64_t used = (UINT64_C(1) << 40) - free_bytes(env);
    fault_env_set_capacity(fe, used + (2u << 20));
    uint64_t before = free_bytes(env);
    fill_big(big, 1);
    assert_int_equal(lsm_put(db, "big1", 4, big, BIG, 0), LSM_NO_SPACE);
    assert_int_equal(free_bytes(env), before);      /* nothing written */
    assert_int_equal(lsm_put(db, "small1", 6, "s1", 2, 0), LSM_OK);
    assert_int_equal(lsm_delete(db, "key000000", 9, 0), LSM_OK);
    fault_env_set_capacity(fe, UINT64_C(1) << 40);
    assert_int_equal(lsm_put(db, "big1", 4, big, BIG, 0), LSM_OK);

    /* An append failing part way with no space: the next write is the
     * new file's magic (the last one is full), the one after it the
     * record's.  The value then stays inline, and the WAL (which has
     * room) takes it. */
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_WRITE), 1, LSM_NO_SPACE, 0);
    fill_big(big, 2);
    assert_int_equal(lsm_put(db, "big2", 4, big, BIG, 0), LSM_OK);
    assert_int_equal(fault_env_faults_fired(fe), 1);
    check_value(db, "big2", big, BIG);
    assert_int_equal(lsm_put(db, "small2", 6, "s2", 2, LSM_SYNC), LSM_OK);
    assert_int_equal(lsm_delete(db, "key000002", 9, 0), LSM_OK);
    assert_int_equal(lsm_put(db, "big2", 4, big, BIG, LSM_SYNC), LSM_OK);
    lsm_hold_compactions(db, 0);
    assert_int_equal(lsm_close(db), LSM_OK);

    db = tu_open_db("/db", &o);
    char key[16], val[8192];
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, key);
        if (i == 0 || i == 2) {
            void *v;
            size_t vlen;
            assert_int_equal(lsm_get(db, NULL, key, strlen(key), &v, &vlen),
                             LSM_NOT_FOUND);
            continue;
        }
        check_value(db, key, val, value_of(i, 1, val));
    }
    check_value(db, "small1", "s1", 2);
    check_value(db, "small2", "s2", 2);
    check_value(db, "big2", big, BIG);
    fill_big(big, 1);
    check_value(db, "big1", big, BIG);
    assert_int_equal(lsm_close(db), LSM_OK);
    free(big);
    fault_env_free(fe);
}

/* --- holes: dead values' space freed in place (blob.h) ------------------- */

#define HOLE_KEYS 64
#define HOLE_VALUE (64u << 10)

/* Bytes the blob files of dir take on disk (their blocks). */
static long long blob_blocks(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    long long sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        struct stat st;
        char path[4096];
        if (n < 5 || strcmp(e->d_name + n - 5, ".blob") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        assert_int_equal(stat(path, &st), 0);
        sum += (long long)st.st_blocks * 512;
    }
    closedir(d);
    return sum;
}

/* Can the file system of dir punch holes? (Else the hole tests have
 * nothing to measure: they pass with a note.) */
static int can_punch(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/probe", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    static char block[8192];
    int ok = write(fd, block, sizeof block) == (ssize_t)sizeof block &&
             fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
    close(fd);
    unlink(path);
    if (!ok)
        fprintf(stderr, "note: %s cannot punch holes; nothing measured\n", dir);
    return ok;
}

static void hole_value(int i, int gen, char *v)
{
    for (size_t j = 0; j < HOLE_VALUE; j++)
        v[j] = (char)(i * 31 + gen * 17 + (int)(j * 7) + (int)(j >> 9));
}

static void hole_key(int i, char key[16])
{
    snprintf(key, 16, "hole%04d", i);
}

/* Reads key i through it (positioned there) and lsm_get: hole_value(i, gen). */
static void hole_check(lsm_db *db, lsm_iter *it, int i, int gen, char *buf)
{
    char key[16];
    hole_key(i, key);
    hole_value(i, gen, buf);
    if (it) {
        lsm_iter_seek(it, key, strlen(key));
        assert_true(lsm_iter_valid(it));
        size_t vlen;
        const void *v = lsm_iter_value(it, &vlen);
        assert_int_equal(vlen, HOLE_VALUE);
        assert_memory_equal(v, buf, HOLE_VALUE);
        return;
    }
    check_value(db, key, buf, HOLE_VALUE);
}

/* One blob file, no relocation and no sealing: only holes can give the
 * space of dead values back. */
static lsm_db *hole_open(const char *dir)
{
    lsm_options o;
    blob_options(&o);
    o.blob_file_bytes = 64 << 20;
    o.blob_gc_garbage_percent = 0;
    o.idle_compaction_ms = 0;
    return tu_open_db(dir, &o);
}

static void hole_put_all(lsm_db *db, int gen, char *buf)
{
    char key[16];
    for (int i = 0; i < HOLE_KEYS; i++) {
        hole_key(i, key);
        hole_value(i, gen, buf);
        assert_int_equal(lsm_put(db, key, strlen(key), buf, HOLE_VALUE, 0), LSM_OK);
    }
}

static void hole_delete_even(lsm_db *db)
{
    char key[16];
    for (int i = 0; i < HOLE_KEYS; i += 2) {
        hole_key(i, key);
        assert_int_equal(lsm_delete(db, key, strlen(key), 0), LSM_OK);
    }
}

/* A store in dir holding the first generation in a table, and a value
 * buffer (*buf); NULL (dir removed) if its file system cannot punch
 * holes. */
static lsm_db *hole_store(char *dir, char **buf)
{
    if (!can_punch(dir)) {
        tu_rmtree(dir);
        return NULL;
    }
    *buf = malloc(HOLE_VALUE);
    assert_non_null(*buf);
    lsm_db *db = hole_open(dir);
    hole_put_all(db, 1, *buf);
    assert_int_equal(lsm_flush(db), LSM_OK);
    return db;
}

/* Deleted and overwritten values inside a blob file still in use: once
 * the compaction that drops them is installed and no iterator can read
 * them, their blocks are freed (the file keeps its size); while an
 * iterator from before holds the old version they stay readable. */
static void test_holes_free_dead_values(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blobhole");
    char *buf;
    lsm_db *db = hole_store(dir, &buf);
    if (!db) {
        free(dir);
        return;
    }
    long long full = blob_blocks(dir);
    long long size = suffix_bytes(dir, ".blob");
    assert_true(full >= (long long)HOLE_KEYS * HOLE_VALUE);

    lsm_iter *old = lsm_iter_new(db, NULL);
    hole_delete_even(db);
    assert_int_equal(lsm_compact(db), LSM_OK);
    assert_true(blob_blocks(dir) >= full);          /* the iterator holds them */
    for (int i = 0; i < HOLE_KEYS; i++)
        hole_check(db, old, i, 1, buf);
    assert_int_equal(lsm_iter_status(old), LSM_OK);
    lsm_iter_free(old);
    assert_int_equal(lsm_compact(db), LSM_OK);      /* an obsolete-file pass */
    long long half = (long long)HOLE_KEYS / 2 * HOLE_VALUE;
    assert_true(blob_blocks(dir) <= full - half + half / 8);
    assert_int_equal(suffix_bytes(dir, ".blob"), size);
    assert_true(lsm_disk_bytes(db) < (uint64_t)(size - half + half / 8));
    long long bytes, garbage;
    blob_garbage(db, &bytes, &garbage);
    assert_true(garbage >= half);
    for (int i = 1; i < HOLE_KEYS; i += 2)
        hole_check(db, NULL, i, 1, buf);

    /* Overwrites: the first generation's odd values die too. */
    hole_put_all(db, 2, buf);
    assert_int_equal(lsm_compact(db), LSM_OK);
    assert_true(blob_blocks(dir) <= full + half / 8 + (1 << 20));
    assert_int_equal(lsm_close(db), LSM_OK);
    db = hole_open(dir);
    for (int i = 0; i < HOLE_KEYS; i++)
        hole_check(db, NULL, i, 2, buf);
    lsm_repair_result r = { 0 };
    assert_int_equal(lsm_verify_tables(db, NULL, NULL, &r), LSM_OK);
    assert_int_equal(r.blobs_lost, 0);
    tu_close_and_remove(db, dir);
    free(buf);
}

/* A checkpoint links the blob files: values dead in the source may be
 * live in the checkpoint, so a shared file is never punched. */
static void test_holes_spare_checkpoint_links(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blobhole");
    char *dest = tu_tempdir("blobholecp");
    tu_rmtree(dest);
    char *buf;
    lsm_db *db = hole_store(dir, &buf);
    if (!db) {
        free(dir);
        free(dest);
        return;
    }
    lsm_checkpoint *cp;
    assert_int_equal(lsm_checkpoint_begin(db, &cp), LSM_OK);
    assert_int_equal(lsm_checkpoint_write(cp, dest, NULL, NULL, NULL), LSM_OK);
    lsm_checkpoint_end(cp);
    long long full = blob_blocks(dir);
    hole_delete_even(db);
    assert_int_equal(lsm_compact(db), LSM_OK);
    assert_int_equal(lsm_compact(db), LSM_OK);
    assert_true(blob_blocks(dir) >= full);
    tu_close_and_remove(db, dir);
    db = hole_open(dest);
    for (int i = 0; i < HOLE_KEYS; i++)
        hole_check(db, NULL, i, 1, buf);
    tu_close_and_remove(db, dest);
    free(buf);
}

/* --- a batch's values go to the blob file together ------------------------ */

#define BATCH_VALUES 64
#define BATCH_VALUE_BYTES 4096

/* write(2)-family calls this process made so far (/proc/self/io syscw). */
static long long write_calls(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    assert_non_null(f);
    char line[128];
    long long n = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "syscw: %lld", &n) == 1)
            break;
    fclose(f);
    assert_true(n >= 0);
    return n;
}

/* Key i of batch gen: BATCH_VALUES large puts with small puts between;
 * with shared (BATCH_VALUES * BATCH_VALUE_BYTES bytes) the large values
 * are made there and named (lsm_batch_put_ref), else copied in. */
static lsm_batch *file_like_batch_in(int gen, char *shared)
{
    lsm_batch *b = lsm_batch_new();
    assert_non_null(b);
    assert_int_equal(lsm_batch_reserve(b, BATCH_VALUES * (BATCH_VALUE_BYTES + 64)), LSM_OK);
    char key[32], own[BATCH_VALUE_BYTES];
    for (int i = 0; i < BATCH_VALUES; i++) {
        char *val = shared ? shared + (size_t)i * BATCH_VALUE_BYTES : own;
        snprintf(key, sizeof key, "g%d-blk%03d", gen, i);
        for (size_t j = 0; j < BATCH_VALUE_BYTES; j++)
            val[j] = (char)(i * 31 + gen * 7 + (int)j);
        assert_int_equal((shared ? lsm_batch_put_ref : lsm_batch_put)(
                             b, key, strlen(key), val, BATCH_VALUE_BYTES), LSM_OK);
        snprintf(key, sizeof key, "g%d-small%03d", gen, i);
        assert_int_equal(lsm_batch_put(b, key, strlen(key), key, strlen(key)), LSM_OK);
    }
    return b;
}

static lsm_batch *file_like_batch(int gen)
{
    return file_like_batch_in(gen, NULL);
}

/* Checks batch gen's keys: all there with their values, or all absent. */
static void check_batch(lsm_db *db, int gen, int present)
{
    char key[32], val[BATCH_VALUE_BYTES];
    for (int i = 0; i < BATCH_VALUES; i++) {
        void *v;
        size_t vlen;
        snprintf(key, sizeof key, "g%d-blk%03d", gen, i);
        if (!present) {
            assert_int_equal(lsm_get(db, NULL, key, strlen(key), &v, &vlen), LSM_NOT_FOUND);
            continue;
        }
        for (size_t j = 0; j < sizeof val; j++)
            val[j] = (char)(i * 31 + gen * 7 + (int)j);
        check_value(db, key, val, sizeof val);
        snprintf(key, sizeof key, "g%d-small%03d", gen, i);
        check_value(db, key, key, strlen(key));
    }
}

/* A batch of 64 values of 4 KiB (what a 256 KiB file write makes) is
 * handed to the kernel in one writev(2) (128 records per call), not one
 * write(2) per value (which cost a bulk writer ~20 % of its CPU in the
 * page cache: 2 calls and a zeroed part page per 4 KiB); the values, with
 * the small puts between them, read back, also after a reopen. */
static void test_batch_values_written_together(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blob_batch");
    lsm_options o;
    lsm_options_init(&o);
    o.blob_min_bytes = 1024;
    o.idle_compaction_ms = 0;          /* no background writes meanwhile */
    lsm_db *db = tu_open_db(dir, &o);
    lsm_batch *b = file_like_batch(1);
    assert_int_equal(lsm_write(db, b, 0), LSM_OK);    /* makes the blob file */
    lsm_batch_free(b);
    b = file_like_batch(2);
    long long before = write_calls();
    assert_int_equal(lsm_write(db, b, 0), LSM_OK);
    long long calls = write_calls() - before;
    lsm_batch_free(b);
    /* The records' writev and the WAL record's write: ~2. */
    assert_true(calls >= 1);
    assert_true(calls <= 12);
    check_batch(db, 1, 1);
    check_batch(db, 2, 1);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    check_batch(db, 1, 1);
    check_batch(db, 2, 1);
    tu_close_and_remove(db, dir);
}

/* A batch whose values fail to reach the blob file part way (no space)
 * names none of them: it is written whole with its values inline (the
 * WAL has room), every key reads back, now and after a reopen, and the
 * next batch goes to the blob file again. */
static void test_batch_values_fall_back_whole(void **state)
{
    (void)state;
    fault_env *fe;
    lsm_options o;
    lsm_db *db = fault_blob_open(12, &fe, &o);
    lsm_batch *b = file_like_batch(1);
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_WRITE), 9, LSM_NO_SPACE, 0);
    assert_int_equal(lsm_write(db, b, 0), LSM_OK);
    assert_int_equal(fault_env_faults_fired(fe), 1);
    lsm_batch_free(b);
    check_batch(db, 1, 1);
    b = file_like_batch(2);
    assert_int_equal(lsm_write(db, b, LSM_SYNC), LSM_OK);
    lsm_batch_free(b);
    check_batch(db, 2, 1);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db("/db", &o);
    check_batch(db, 1, 1);
    check_batch(db, 2, 1);
    assert_int_equal(lsm_close(db), LSM_OK);
    fault_env_free(fe);
}

/* Writes batch gen with its large values named in shared memory
 * (lsm_batch_put_ref) under flags, then scribbles over that memory: the
 * batch counts the bytes a copying one would, yet holds none of them,
 * and every value reads back as it was written (the engine wrote or
 * copied them before lsm_write returned). */
static void write_ref_batch(lsm_db *db, int gen, int flags)
{
    size_t total = BATCH_VALUES * BATCH_VALUE_BYTES;
    char *shared = malloc(total);
    assert_non_null(shared);
    lsm_batch *b = file_like_batch_in(gen, shared);
    lsm_batch *copied = file_like_batch(gen);
    assert_int_equal(lsm_batch_bytes(b), lsm_batch_bytes(copied));
    assert_int_equal(lsm_batch_count(b), lsm_batch_count(copied));
    assert_true(b->rep.len < total / 8);
    lsm_batch_free(copied);
    assert_int_equal(lsm_write(db, b, flags), LSM_OK);
    memset(shared, 0x5a, total);
    lsm_batch_free(b);
    free(shared);
    check_batch(db, gen, 1);
}

/* Values named by a batch (lsm_batch_put_ref) reach the blob file from
 * the caller's memory, and the ones kept inline (LSM_NO_BLOB; a blob
 * file with no room) are copied: all read back, also after a reopen. */
static void test_batch_ref_values(void **state)
{
    (void)state;
    fault_env *fe;
    lsm_options o;
    lsm_db *db = fault_blob_open(13, &fe, &o);
    write_ref_batch(db, 1, 0);                       /* to the blob file */
    write_ref_batch(db, 2, LSM_NO_BLOB);             /* inline */
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_WRITE), 9, LSM_NO_SPACE, 0);
    write_ref_batch(db, 3, 0);                       /* falls back inline */
    assert_int_equal(fault_env_faults_fired(fe), 1);
    write_ref_batch(db, 4, LSM_SYNC);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db("/db", &o);
    for (int gen = 1; gen <= 4; gen++)
        check_batch(db, gen, 1);
    assert_int_equal(lsm_close(db), LSM_OK);
    fault_env_free(fe);
}

/* More dead records than one obsolete-file pass punches (4096, db.c):
 * the rest go in later passes the flush thread makes on its own, without
 * another flush or compaction.  Polled (bounded), no timing claim. */
static void test_holes_backlog_in_turns(void **state)
{
    (void)state;
    enum { KEYS = 9000, VALUE = 8192 };
    char *dir = tu_tempdir("blobhole");
    if (!can_punch(dir)) {
        tu_rmtree(dir);
        free(dir);
        return;
    }
    lsm_db *db = hole_open(dir);
    char key[16], *val = malloc(VALUE);
    assert_non_null(val);
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "k%05d", i);
        memset(val, 'a' + i % 26, VALUE);
        assert_int_equal(lsm_put(db, key, strlen(key), val, VALUE, 0), LSM_OK);
    }
    assert_int_equal(lsm_flush(db), LSM_OK);
    long long full = blob_blocks(dir);
    for (int i = 0; i < KEYS; i += 2) {     /* no two dead records adjacent */
        snprintf(key, sizeof key, "k%05d", i);
        assert_int_equal(lsm_delete(db, key, strlen(key), 0), LSM_OK);
    }
    assert_int_equal(lsm_compact(db), LSM_OK);
    /* A block each (a record of 8200 bytes holds at least one whole),
     * less the file system's own blocks for the split extents (ext4: one
     * per ~340 holes), so 95 %; more than one pass's 4096. */
    long long want = full - (long long)(KEYS / 2) * 4096 * 95 / 100;
    for (int tries = 0; blob_blocks(dir) > want && tries < 200; tries++)
        usleep(50 * 1000);
    assert_true(blob_blocks(dir) <= want);
    for (int i = 1; i < KEYS; i += 2) {
        snprintf(key, sizeof key, "k%05d", i);
        memset(val, 'a' + i % 26, VALUE);
        check_value(db, key, val, VALUE);
    }
    tu_close_and_remove(db, dir);
    free(val);
}


/* --- a relocating compaction that does not finish -------------------------- */

#define MOVE_KEYS 1200
#define MOVE_VALUE 1500

static void move_value(int i, char *v)
{
    for (size_t j = 0; j < MOVE_VALUE; j++)
        v[j] = (char)(i * 29 + (int)(j * 11) + (int)(j >> 8));
}

/* An idle compaction moving values out of a mostly-garbage blob file
 * yields to a write after it copied some of them; the copies are named by
 * no table (its outputs are deleted).  Once the move is done and every
 * value is deleted, their space must come back like the rest (garbage,
 * holes), not stay in the blob file for good, counted as live. */
static void test_yielded_relocation_copies_come_back(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blobmove");
    if (!can_punch(dir)) {
        tu_rmtree(dir);
        free(dir);
        return;
    }
    lsm_options o;
    blob_options(&o);
    o.blob_file_bytes = 64 << 20;       /* one file per session */
    o.blob_gc_garbage_percent = 30;
    o.memtable_bytes = 16 << 20;        /* one flush: one level-0 table */
    o.idle_compaction_ms = 0;           /* no idle pass moves them first */
    lsm_db *db = tu_open_db(dir, &o);
    char key[16], val[MOVE_VALUE];
    for (int i = 0; i < MOVE_KEYS; i++) {
        snprintf(key, sizeof key, "m%05d", i);
        move_value(i, val);
        assert_int_equal(lsm_put(db, key, strlen(key), val, MOVE_VALUE, 0), LSM_OK);
    }
    for (int i = 0; i < MOVE_KEYS; i += 2) {    /* half of file 1: garbage */
        snprintf(key, sizeof key, "m%05d", i);
        assert_int_equal(lsm_delete(db, key, strlen(key), 0), LSM_OK);
    }
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    memset(val, 'z', sizeof val);               /* starts blob file 2 */
    assert_int_equal(lsm_put(db, "zz", 2, val, MOVE_VALUE, 0), LSM_OK);
    assert_int_equal(lsm_flush(db), LSM_OK);    /* (learns the tables' files) */

    pthread_mutex_lock(&db->mu);
    int level, ran = 0;
    uint64_t number;
    assert_true(lsm_blob_gc_pick(db, -1, &level, &number));
    /* A write "now and later": the idle compaction yields at its first
     * check (after 256 entries, ~128 values copied). */
    uint64_t saved = __atomic_load_n(&db->last_write_us, __ATOMIC_RELAXED);
    __atomic_store_n(&db->last_write_us, UINT64_MAX / 2, __ATOMIC_RELAXED);
    lsm_compact_table(db, level, number, NULL, 1, &ran);
    assert_true(ran);
    __atomic_store_n(&db->last_write_us, saved, __ATOMIC_RELAXED);
    assert_true(lsm_blob_gc_pick(db, -1, &level, &number));   /* not moved */
    assert_int_equal(lsm_compact_table(db, level, number, NULL, 1, &ran), LSM_OK);
    assert_false(lsm_blob_gc_pick(db, -1, &level, &number));  /* moved now */
    pthread_mutex_unlock(&db->mu);
    assert_true(tu_stat(db, "idle_yields") >= 1);
    for (int i = 1; i < MOVE_KEYS; i += 2) {
        snprintf(key, sizeof key, "m%05d", i);
        move_value(i, val);
        check_value(db, key, val, MOVE_VALUE);
    }

    /* Every moved value dies: their records (garbage, holes) give their
     * space back; "zz" alone stays live. */
    for (int i = 1; i < MOVE_KEYS; i += 2) {
        snprintf(key, sizeof key, "m%05d", i);
        assert_int_equal(lsm_delete(db, key, strlen(key), 0), LSM_OK);
    }
    assert_int_equal(lsm_compact(db), LSM_OK);
    assert_int_equal(lsm_compact(db), LSM_OK);  /* an obsolete-file pass */
    long long held = held_blob_bytes(db);
    print_message("blob bytes held with one %d-byte value live: %lld\n",
                  MOVE_VALUE, held);
    assert_true(held < 64 << 10);
    tu_close_and_remove(db, dir);
}


/* --- sealing a file an earlier session wrote -------------------------------- */

static int blob_settled(lsm_db *db, void *arg)
{
    (void)arg;
    return lsm_settled(db);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The newest blob file, written by the previous session, becomes mostly
 * garbage after a reopen (an rm of everything: deletions, no blob write).
 * The idle pass seals it so it can go: the seal must start a new file
 * (or count as nothing done), not report a seal that changed nothing,
 * after which each idle pass does the same again at once -- the
 * compaction thread spinning and the store never settling. */
static void test_seal_after_reopen_settles(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blobseal");
    lsm_options o;
    blob_options(&o);
    o.blob_file_bytes = 64 << 20;       /* one file */
    o.idle_compaction_ms = 20;
    lsm_db *db = tu_open_db(dir, &o);
    put_all(db, 1);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dir, &o);
    char key[16];
    for (int i = 0; i < NKEYS; i++) {   /* everything but key 0 */
        if (i == 0)
            continue;
        key_of(i, key);
        assert_int_equal(lsm_delete(db, key, strlen(key), 0), LSM_OK);
    }
    assert_int_equal(lsm_compact(db), LSM_OK);
    double cpu0 = cpu_seconds();
    int settled = tu_wait_for(db, blob_settled, NULL, 60);
    double spent = cpu_seconds() - cpu0;
    print_message("settled %d, %.2f s of CPU in the wait\n", settled, spent);
    assert_true(settled);
    char val[8192];
    size_t n = value_of(0, 1, val);
    long long held = held_blob_bytes(db);       /* the file went */
    print_message("blob bytes held with %zu live: %lld\n", n, held);
    assert_true(held < (long long)n + (16 << 10));
    key_of(0, key);
    check_value(db, key, val, n);
    tu_close_and_remove(db, dir);
}


/* --- the bytes of a file left with part of a record ----------------------- */

/* An append failing part way (no fallocate guarantee) leaves part of a
 * record after the last named one; the file is written no further.  Once
 * it is deleted, the blob total (lsm_disk_bytes) must drop by what it
 * counted for it, not by its size on disk: else it drifts below the
 * files' bytes, down past zero (a total of ~2^64 bytes) when the partial
 * record outweighs the rest. */
static void test_partial_tail_keeps_blob_total(void **state)
{
    (void)state;
    fault_env *fe;
    lsm_options o;
    fe = fault_env_new(11);
    blob_options(&o);
    o.env = fault_env_base(fe);
    o.idle_compaction_ms = 0;
    o.blob_file_bytes = 64 << 20;       /* "a" and "b" in one file */
    lsm_db *db = tu_open_db("/db", &o);
    char *big = malloc(BIG);
    assert_non_null(big);
    fill_big(big, 1);
    assert_int_equal(lsm_put(db, "a", 1, big, BIG, 0), LSM_OK);    /* file 1 */
    uint64_t before = lsm_blobs_bytes(db->blobs);
    /* The append of the record of "b" (its header, then its value) fails
     * part way into the value: "b" stays inline, file 1 keeps the part
     * written. */
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_WRITE), 1, LSM_NO_SPACE, 0);
    fill_big(big, 2);
    assert_int_equal(lsm_put(db, "b", 1, big, BIG, 0), LSM_OK);
    assert_int_equal(fault_env_faults_fired(fe), 1);
    assert_int_equal(lsm_blobs_bytes(db->blobs), before);
    fault_env_clear_faults(fe);
    /* "a" dies; a small value starts file 2: file 1 goes. */
    assert_int_equal(lsm_delete(db, "a", 1, 0), LSM_OK);
    char val[2048];
    memset(val, 'c', sizeof val);
    assert_int_equal(lsm_put(db, "c", 1, val, sizeof val, 0), LSM_OK);
    assert_int_equal(lsm_compact(db), LSM_OK);
    long long bytes, garbage, punched;
    blob_totals(db, &bytes, &garbage, &punched);
    print_message("blob files %lld bytes (%lld punched); total %llu\n", bytes,
                  punched, (unsigned long long)lsm_blobs_bytes(db->blobs));
    assert_true(bytes < (1 << 20));                 /* file 1 went */
    assert_int_equal(lsm_blobs_bytes(db->blobs), (uint64_t)(bytes - punched));
    check_value(db, "b", big, BIG);
    check_value(db, "c", val, sizeof val);
    assert_int_equal(lsm_close(db), LSM_OK);
    free(big);
    fault_env_free(fe);
}


/* --- holes punched by two passes at once ------------------------------------ */

#define PUNCH_RECORDS 4096
#define PUNCH_VALUE 8192

typedef struct punch_job {
    lsm_blobs *b;
    lsm_blob_ref *refs;
    int from;
    uint64_t freed;
} punch_job;

/* Punches every 4th record from job->from, one extent per call (a pass
 * each, as the flush and compaction threads may run them). */
static void *punch_quarter(void *arg)
{
    punch_job *j = arg;
    for (int i = j->from; i < PUNCH_RECORDS; i += 4) {
        lsm_blob_extent e = { .file = j->refs[i].file, .off = j->refs[i].off,
                              .len = lsm_blob_record_bytes(j->refs[i].len) };
        j->freed += lsm_blobs_punch(j->b, &e, 1);
    }
    return NULL;
}

/* Two obsolete-file passes may punch holes in one blob file at once
 * (each takes its own holes, mu dropped).  The bytes credited as freed
 * (punched: lsm_blobs_bytes, and relocation's choice of files) must be
 * what the file system freed, not each pass's view of both. */
static void test_concurrent_punches_credit_once(void **state)
{
    (void)state;
    char *dir = tu_tempdir("blobpunch");
    if (!can_punch(dir)) {
        tu_rmtree(dir);
        free(dir);
        return;
    }
    lsm_blobs *b;
    assert_int_equal(lsm_blobs_open(lsm_env_posix(), dir, 1ull << 40, 0, &b), LSM_OK);
    lsm_blob_ref *refs = calloc(PUNCH_RECORDS, sizeof *refs);
    char *val = malloc(PUNCH_VALUE);
    assert_non_null(refs);
    assert_non_null(val);
    for (int i = 0; i < PUNCH_RECORDS; i++) {
        memset(val, 'a' + i % 26, PUNCH_VALUE);
        assert_int_equal(lsm_blobs_add(b, lsm_slice_make(val, PUNCH_VALUE), &refs[i]),
                         LSM_OK);
    }
    assert_int_equal(lsm_blobs_sync(b), LSM_OK);
    uint64_t total = lsm_blobs_bytes(b);
    long long blocks = blob_blocks(dir);
    punch_job jobs[2] = { { b, refs, 0, 0 }, { b, refs, 2, 0 } };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, punch_quarter, &jobs[1]), 0);
    punch_quarter(&jobs[0]);
    pthread_join(t, NULL);
    long long freed = blocks - blob_blocks(dir);
    uint64_t credited = jobs[0].freed + jobs[1].freed;
    print_message("freed %lld bytes, credited %llu\n", freed,
                  (unsigned long long)credited);
    assert_true(freed > 0);
    /* (each hole may cost the file system a block of its own: 1/16) */
    assert_true(credited <= (uint64_t)(freed + freed / 16));
    assert_int_equal(lsm_blobs_bytes(b), total - credited);
    lsm_blobs_close(b);
    free(refs);
    free(val);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_full_disk_blob_append),
        cmocka_unit_test(test_no_blob_sync_is_one_fsync),
        cmocka_unit_test(test_batch_values_written_together),
        cmocka_unit_test(test_batch_values_fall_back_whole),
        cmocka_unit_test(test_damaged_byte_is_corruption),
        cmocka_unit_test(test_scan_reads_blob_values_ahead),
        cmocka_unit_test(test_lost_blob_tail_ends_replay),
        cmocka_unit_test(test_checkpoint_has_blobs),
        cmocka_unit_test(test_damage_in_older_blob_file_fails_open),
        cmocka_unit_test(test_gc_deletes_dead_blob_files),
        cmocka_unit_test(test_gc_relocates_live_values),
        cmocka_unit_test(test_gc_spares_iterator_memtable),
        cmocka_unit_test(test_garbage_recorded),
        cmocka_unit_test(test_verify_and_repair_blob),
        cmocka_unit_test(test_snapshot_space_counts_blob_values),
        cmocka_unit_test(test_gc_relocates_by_garbage),
        cmocka_unit_test(test_snapshot_delete_frees_current_blob_file),
        cmocka_unit_test(test_holes_free_dead_values),
        cmocka_unit_test(test_holes_spare_checkpoint_links),
        cmocka_unit_test(test_holes_backlog_in_turns),
        cmocka_unit_test(test_batch_ref_values),
        cmocka_unit_test(test_yielded_relocation_copies_come_back),
        cmocka_unit_test(test_seal_after_reopen_settles),
        cmocka_unit_test(test_partial_tail_keeps_blob_total),
        cmocka_unit_test(test_concurrent_punches_credit_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
