/*
 * test_checkpoint.c — lsm_checkpoint_*: a copy of a live store holding
 * exactly the writes acknowledged before lsm_checkpoint_begin.
 *
 *   - live: tables in several levels plus memtable data are pinned; then
 *     overwrites, deletions, new keys and a full compaction (which retires
 *     every pinned table in the source) happen before the copy is written;
 *     dest reads exactly the old state, its tables are hard links (same
 *     filesystem), and it reopens read-write;
 *   - named snapshots: dest keeps each one (name, id, next id) and reads
 *     it as the source did, with older versions of keys both in the
 *     pinned tables and only in the memtable (which a copy of the latest
 *     state alone would drop);
 *   - read-only open: a store whose data is only in its WAL is copied;
 *   - a dest that is not empty is refused and left alone;
 *   - faults (fault_env): the k-th open, append, sync, rename or directory
 *     sync while writing dest fails, for every k until none fires: the
 *     failure is reported, dest holds no files (nothing that looks like a
 *     store), and the source is unharmed; without a fault dest is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "env.h"
#include "fault_env.h"
#include "lsm.h"
#include "testutil.h"

#define NKEYS 3000

static void key_of(int i, char *k)
{
    snprintf(k, 32, "key%06d", i);
}

/* The value generation g writes for key i. */
static void val_of(int i, int g, char *v)
{
    snprintf(v, 64, "value-%d-gen%d-%040d", i, g, i);
}

static void put(lsm_db *db, int i, int g)
{
    char k[32], v[64];
    key_of(i, k);
    val_of(i, g, v);
    assert_int_equal(lsm_put(db, k, strlen(k), v, strlen(v), 0), LSM_OK);
}

/* Generation 0: keys 0..NKEYS-1, some flushed and compacted, the last
 * part only in the memtable; keys 100..199 deleted by a range deletion. */
static void write_old(lsm_db *db)
{
    for (int i = 0; i < NKEYS; i++) {
        put(db, i, 0);
        if (i == NKEYS / 3)
            assert_int_equal(lsm_compact(db), LSM_OK);
        if (i == 2 * NKEYS / 3)
            assert_int_equal(lsm_flush(db), LSM_OK);
    }
    assert_int_equal(lsm_delete_range(db, "key000100", 9, "key000200", 9, 0),
                     LSM_OK);
}

/* After the checkpoint began: overwrite, delete, add, compact. */
static void write_new(lsm_db *db)
{
    for (int i = 0; i < NKEYS; i += 2)
        put(db, i, 1);
    for (int i = 1; i < NKEYS; i += 7) {
        char k[32];
        key_of(i, k);
        assert_int_equal(lsm_delete(db, k, strlen(k), 0), LSM_OK);
    }
    for (int i = NKEYS; i < NKEYS + 500; i++)
        put(db, i, 1);
    assert_int_equal(lsm_compact(db), LSM_OK);
}

/* Every key i < NKEYS + 500 reads generation gen(i) at snap (NULL:
 * latest); gen < 0: absent. */
static void check_gen(lsm_db *db, const lsm_snapshot *snap, int (*gen)(int))
{
    lsm_read_options ro = { .snapshot = snap };
    for (int i = 0; i < NKEYS + 500; i++) {
        char k[32], v[64];
        key_of(i, k);
        void *got = NULL;
        size_t n = 0;
        int rc = lsm_get(db, &ro, k, strlen(k), &got, &n);
        int g = gen(i);
        if (g < 0) {
            if (rc != LSM_NOT_FOUND)
                fail_msg("%s: expected absent, got %d", k, rc);
            continue;
        }
        if (rc != LSM_OK)
            fail_msg("%s: %d %s", k, rc, lsm_last_error());
        val_of(i, g, v);
        if (n != strlen(v) || memcmp(got, v, n) != 0)
            fail_msg("%s: wrong value %.*s, want gen %d", k, (int)n, (char *)got, g);
        lsm_free(got);
    }
}

/* Generation 0 (write_old): keys below NKEYS bar the range deletion. */
static int gen_old(int i)
{
    return i >= NKEYS || (i >= 100 && i < 200) ? -1 : 0;
}

/* db holds exactly generation 0 (range deletion included). */
static void check_old(lsm_db *db)
{
    check_gen(db, NULL, gen_old);
}

static int gen_zero(int i)
{
    return i < NKEYS ? 0 : -1;
}

static int gen_live(int i)
{
    return i >= NKEYS || (i >= 100 && i < 200) ? -1 : 1;
}

/* A temporary directory (free it and remove it) and, in src and dest
 * (512 bytes each), the source's and the destination's paths in it. */
static char *temp_dirs(char *src, char *dest)
{
    char *dir = tu_tempdir("cp");
    snprintf(src, 512, "%s/src", dir);
    snprintf(dest, 512, "%s/dest", dir);
    return dir;
}

static void test_live(void **state)
{
    (void)state;
    char src[512], dest[512];
    char *dir = temp_dirs(src, dest);
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db = tu_open_db(src, &o);
    write_old(db);
    lsm_checkpoint *cp;
    assert_int_equal(lsm_checkpoint_begin(db, &cp), LSM_OK);
    assert_true(lsm_checkpoint_bytes(cp) > 0);
    write_new(db);
    lsm_checkpoint_result r;
    int rc = lsm_checkpoint_write(cp, dest, NULL, NULL, &r);
    if (rc)
        fail_msg("checkpoint: %s", lsm_last_error());
    lsm_checkpoint_end(cp);
    /* Every pinned table linked, plus the memtable's table. */
    assert_true(r.tables >= 2);
    assert_int_equal(r.linked, r.tables - 1);
    assert_int_equal(tu_count_files(dest, ".log"), 0);
    assert_int_equal(lsm_close(db), LSM_OK);

    db = tu_open_db(dest, &o);
    check_old(db);
    /* dest is a store of its own: its new writes (sequence numbers past
     * the checkpoint's) show nothing of what the source wrote later. */
    for (int i = NKEYS + 1000; i < NKEYS + 4000; i++)
        put(db, i, 2);
    assert_int_equal(lsm_compact(db), LSM_OK);
    check_old(db);
    assert_int_equal(lsm_close(db), LSM_OK);
    /* The source still has the new state. */
    db = tu_open_db(src, &o);
    char v[64];
    void *got;
    size_t n;
    assert_int_equal(lsm_get(db, NULL, "key000002", 9, &got, &n), LSM_OK);
    val_of(2, 1, v);
    assert_memory_equal(got, v, strlen(v));
    lsm_free(got);
    assert_int_equal(lsm_close(db), LSM_OK);
    tu_rmtree(dir);
    free(dir);
}

static void test_snapshots(void **state)
{
    (void)state;
    char src[512], dest[512];
    char *dir = temp_dirs(src, dest);
    lsm_options o;
    tu_small_options(&o);
    o.memtable_bytes = 1 << 20;   /* the second half stays in the memtable */
    lsm_db *db = tu_open_db(src, &o);
    for (int i = 0; i < NKEYS; i++) {
        put(db, i, 0);
        if (i == NKEYS / 2)
            assert_int_equal(lsm_flush(db), LSM_OK);
    }
    lsm_snapshot_info s0;
    assert_int_equal(lsm_snapshot_create(db, "s0", &s0), LSM_OK);
    for (int i = 0; i < NKEYS; i++)
        put(db, i, 1);
    assert_int_equal(lsm_delete_range(db, "key000100", 9, "key000200", 9, 0),
                     LSM_OK);
    lsm_checkpoint *cp;
    assert_int_equal(lsm_checkpoint_begin(db, &cp), LSM_OK);
    for (int i = 0; i < NKEYS; i++)     /* after the pin: not in dest */
        put(db, i, 2);
    assert_int_equal(lsm_snapshot_create(db, "later", NULL), LSM_OK);
    assert_int_equal(lsm_compact(db), LSM_OK);
    if (lsm_checkpoint_write(cp, dest, NULL, NULL, NULL))
        fail_msg("checkpoint: %s", lsm_last_error());
    lsm_checkpoint_end(cp);
    assert_int_equal(lsm_close(db), LSM_OK);

    db = tu_open_db(dest, &o);
    lsm_snapshot_info *list;
    size_t n;
    assert_int_equal(lsm_snapshot_list(db, &list, &n), LSM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "s0");
    assert_int_equal(list[0].id, s0.id);
    assert_int_equal(list[0].seq, s0.seq);
    lsm_free(list);
    const lsm_snapshot *snap;
    assert_int_equal(lsm_snapshot_open(db, "s0", &snap, NULL), LSM_OK);
    check_gen(db, snap, gen_zero);
    check_gen(db, NULL, gen_live);
    lsm_snapshot_release(db, snap);
    /* Compaction in dest keeps what s0 sees; ids are not reused. */
    assert_int_equal(lsm_compact(db), LSM_OK);
    assert_int_equal(lsm_snapshot_open(db, "s0", &snap, NULL), LSM_OK);
    check_gen(db, snap, gen_zero);
    lsm_snapshot_release(db, snap);
    lsm_snapshot_info s1;
    assert_int_equal(lsm_snapshot_create(db, "s1", &s1), LSM_OK);
    assert_true(s1.id > s0.id);
    assert_int_equal(lsm_close(db), LSM_OK);
    tu_rmtree(dir);
    free(dir);
}

static void test_read_only(void **state)
{
    (void)state;
    char src[512], dest[512];
    char *dir = temp_dirs(src, dest);
    lsm_options o;
    lsm_options_init(&o);                /* big memtable: all in the WAL */
    lsm_db *db = tu_open_db(src, &o);
    for (int i = 0; i < 100; i++)
        put(db, i, 0);
    assert_int_equal(lsm_close(db), LSM_OK);
    o.read_only = 1;
    db = tu_open_db(src, &o);
    lsm_checkpoint *cp;
    assert_int_equal(lsm_checkpoint_begin(db, &cp), LSM_OK);
    assert_int_equal(lsm_checkpoint_write(cp, dest, NULL, NULL, NULL), LSM_OK);
    lsm_checkpoint_end(cp);
    assert_int_equal(lsm_close(db), LSM_OK);
    db = tu_open_db(dest, &o);
    for (int i = 0; i < 101; i++) {
        char k[32], v[64];
        key_of(i, k);
        void *got;
        size_t n;
        int rc = lsm_get(db, NULL, k, strlen(k), &got, &n);
        assert_int_equal(rc, i < 100 ? LSM_OK : LSM_NOT_FOUND);
        if (rc == LSM_OK) {
            val_of(i, 0, v);
            assert_memory_equal(got, v, strlen(v));
            lsm_free(got);
        }
    }
    assert_int_equal(lsm_close(db), LSM_OK);
    tu_rmtree(dir);
    free(dir);
}

static void test_dest_not_empty(void **state)
{
    (void)state;
    char src[512], dest[512], other[600];
    char *dir = temp_dirs(src, dest);
    snprintf(other, sizeof other, "%s/precious", dest);
    assert_int_equal(mkdir(dest, 0755), 0);
    FILE *f = fopen(other, "w");
    assert_non_null(f);
    fputs("keep me", f);
    fclose(f);
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db = tu_open_db(src, &o);
    put(db, 1, 0);
    lsm_checkpoint *cp;
    assert_int_equal(lsm_checkpoint_begin(db, &cp), LSM_OK);
    assert_int_equal(lsm_checkpoint_write(cp, dest, NULL, NULL, NULL),
                     LSM_INVALID);
    lsm_checkpoint_end(cp);
    assert_int_equal(lsm_close(db), LSM_OK);
    assert_int_equal(tu_file_size(other), 7);
    assert_int_equal(tu_count_files(dest, ""), 3);   /* ., .., precious */
    tu_rmtree(dir);
    free(dir);
}

/* --- faults ---------------------------------------------------------------- */

static int files_in(lsm_env *env, const char *dir)
{
    char **names;
    size_t n;
    if (env->list_dir(env, dir, &names, &n) != LSM_OK)
        return 0;
    lsm_env_free_names(names, n);
    return (int)n;
}

static void test_faults(void **state)
{
    (void)state;
    fault_env *fe = fault_env_new(42);
    lsm_env *env = fault_env_base(fe);
    lsm_options o;
    tu_small_options(&o);
    o.env = env;
    lsm_db *db = tu_open_db("/db", &o);
    write_old(db);
    lsm_checkpoint *cp;
    assert_int_equal(lsm_checkpoint_begin(db, &cp), LSM_OK);
    write_new(db);
    const unsigned mask = FAULT_MASK(FAULT_OP_OPEN) | FAULT_MASK(FAULT_OP_WRITE) |
                          FAULT_MASK(FAULT_OP_SYNC) | FAULT_MASK(FAULT_OP_RENAME) |
                          FAULT_MASK(FAULT_OP_SYNC_DIR);
    int failures = 0, k;
    for (k = 0;; k++) {
        char dest[64];
        snprintf(dest, sizeof dest, "/dest%d", k);
        uint64_t fired = fault_env_faults_fired(fe);
        fault_env_fail_after(fe, mask, k, LSM_IO_ERROR, 0);
        int rc = lsm_checkpoint_write(cp, dest, NULL, NULL, NULL);
        fault_env_clear_faults(fe);
        if (fault_env_faults_fired(fe) == fired) {
            assert_int_equal(rc, LSM_OK);
            break;
        }
        failures++;
        if (rc == LSM_OK)
            fail_msg("k=%d: a fault fired but the checkpoint succeeded", k);
        if (files_in(env, dest) != 0)
            fail_msg("k=%d: %d files left in %s", k, files_in(env, dest), dest);
        lsm_db *d;
        lsm_options ro = o;
        ro.read_only = 1;
        if (env->exists(env, dest) && lsm_open(dest, &ro, &d) == LSM_OK)
            fail_msg("k=%d: a failed checkpoint opens as a store", k);
    }
    lsm_checkpoint_end(cp);
    assert_true(failures > 5);
    assert_int_equal(lsm_close(db), LSM_OK);
    char dest[64];
    snprintf(dest, sizeof dest, "/dest%d", k);
    db = tu_open_db(dest, &o);
    check_old(db);
    assert_int_equal(lsm_close(db), LSM_OK);
    fault_env_free(fe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live),
        cmocka_unit_test(test_snapshots),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_dest_not_empty),
        cmocka_unit_test(test_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
