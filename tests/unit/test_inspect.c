/*
 * test_inspect.c — lsm_inspect_table and lsm_get_stats.
 *
 *   - a table written by the store: every entry read, the key range and
 *     sequence numbers match what was written, no bad block;
 *   - one flipped byte in a data block: exactly one bad block reported
 *     through the callback, naming its checksum, the other entries still
 *     read; a flipped byte in the footer: the table cannot be opened
 *     (LSM_CORRUPTION with a message);
 *   - lsm_get_stats: levels list the tables the manifest holds, user and
 *     WAL bytes grow with writes, write amplification is their ratio.
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

#define N 2000

static void fill(lsm_db *db)
{
    for (int i = 0; i < N; i++) {
        char k[32], v[100];
        snprintf(k, sizeof k, "k%05d", i);
        memset(v, 'a' + i % 26, sizeof v);
        assert_int_equal(lsm_put(db, k, strlen(k), v, sizeof v, 0), LSM_OK);
    }
}

struct bad {
    int n;
    char why[256];
};

static void on_bad(void *ctx, const char *why)
{
    struct bad *b = ctx;
    b->n++;
    snprintf(b->why, sizeof b->why, "%s", why);
}

static char *one_table(const char *dir)
{
    lsm_options o;
    lsm_options_init(&o);
    o.compression = LSM_COMPRESS_NONE;
    lsm_db *db = tu_open_db(dir, &o);
    fill(db);
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    char *t = tu_find_file(dir, ".sst");
    assert_non_null(t);
    return t;
}

static void test_table(void **state)
{
    (void)state;
    char *dir = tu_tempdir("insp");
    char *t = one_table(dir);
    lsm_table_report r;
    struct bad b = { 0 };
    assert_int_equal(lsm_inspect_table(t, on_bad, NULL, &b, &r), LSM_OK);
    assert_int_equal(b.n, 0);
    assert_int_equal(r.entries, N);
    assert_int_equal(r.entries_read, N);
    assert_int_equal(r.blocks_bad, 0);
    assert_true(r.data_blocks > 10);
    assert_int_equal(r.file_bytes, tu_file_size(t));
    assert_int_equal(r.smallest_len, 6);
    assert_memory_equal(r.smallest, "k00000", 6);
    assert_memory_equal(r.largest, "k01999", 6);
    assert_int_equal(r.min_seq, 1);
    assert_int_equal(r.max_seq, N);

    /* A byte inside the first data block. */
    assert_int_equal(tu_flip_byte(t, 50, 0x10), 0);
    assert_int_equal(lsm_inspect_table(t, on_bad, NULL, &b, &r), LSM_OK);
    assert_int_equal(b.n, 1);
    assert_int_equal(r.blocks_bad, 1);
    assert_non_null(strstr(b.why, "checksum"));
    assert_true(r.entries_read > 0 && r.entries_read < N);
    assert_int_equal(tu_flip_byte(t, 50, 0x10), 0);

    /* The footer: nothing can be located. */
    long long size = tu_file_size(t);
    assert_int_equal(tu_flip_byte(t, size - 3, 0x01), 0);
    b.n = 0;
    assert_int_equal(lsm_inspect_table(t, on_bad, NULL, &b, &r), LSM_CORRUPTION);
    assert_true(strlen(lsm_last_error()) > 0);
    assert_int_equal(b.n, 0);
    free(t);
    tu_rmtree(dir);
    free(dir);
}

static void test_stats(void **state)
{
    (void)state;
    char *dir = tu_tempdir("insp");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    lsm_stats s0, s;
    lsm_get_stats(db, &s0);
    fill(db);
    assert_int_equal(lsm_flush(db), LSM_OK);
    lsm_get_stats(db, &s);
    assert_true(s.user_bytes > s0.user_bytes);
    assert_true(s.wal_bytes > s0.wal_bytes);
    assert_true(s.flushes > s0.flushes);
    assert_int_equal(s.last_seq, N);
    assert_true(s.write_amp > 0);
    char *tables = NULL;
    assert_int_equal(lsm_property(db, "sstables", &tables), LSM_OK);
    uint64_t listed = 0, files = 0;
    for (const char *p = tables; (p = strstr(p, ".sst")); p++)
        listed++;
    for (int l = 0; l < LSM_STATS_LEVELS; l++)
        files += s.level_files[l];
    assert_int_equal(files, listed);
    lsm_free(tables);
    assert_int_equal(lsm_close(db), LSM_OK);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
