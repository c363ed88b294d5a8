/*
 * test_space.c — the engine on a full disk (lsm/space.c), on the
 * fault-injecting env with a capacity, so "full" is exact:
 *
 *   - an ordinary write on a full disk fails with LSM_NO_SPACE, promptly,
 *     and leaves the store writable once the disk has room again;
 *   - a write marked LSM_RECLAIM succeeds on the full disk (the space
 *     reserve is given back), and ordinary writes still fail meanwhile;
 *   - range-deleting most of the data gives its space back (the space
 *     pass drops or rewrites the tables), and ordinary writes work again
 *     on the same small disk (point deletions: test_fs_store's small
 *     files);
 *   - close on a full disk succeeds, and a reopen on the still-full disk
 *     succeeds without writing a table (the WALs stay live);
 *   - the first flush after such a reopen retires those WALs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "fault_env.h"
#include "lsm.h"
#include "testutil.h"

#define STORE "/db"
#define DISK (4u << 20)          /* the small disk */
#define VALUE 1500

typedef struct fixture {
    fault_env *fe;
    lsm_env *env;
    lsm_options opt;
    lsm_db *db;
    int nkeys;                   /* keys k000000.. acknowledged so far */
} fixture;

static void key_of(int i, char *k)
{
    snprintf(k, 16, "k%06d", i);
}

/* Incompressible, and different for every key. */
static void value_of(int i, char *v)
{
    uint64_t s = (uint64_t)i * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t j = 0; j < VALUE; j += 8) {
        uint64_t r = tu_rand(&s);
        memcpy(v + j, &r, VALUE - j < 8 ? VALUE - j : 8);
    }
}

static uint64_t free_bytes(fixture *f)
{
    uint64_t b = 0;
    assert_int_equal(f->env->free_space(f->env, STORE, &b), LSM_OK);
    return b;
}

static int count_tables(fixture *f)
{
    char **names;
    size_t n;
    assert_int_equal(f->env->list_dir(f->env, STORE, &names, &n), LSM_OK);
    int tables = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        tables += len > 4 && strcmp(names[i] + len - 4, ".sst") == 0;
    }
    lsm_env_free_names(names, n);
    return tables;
}

/* SPACE_VERBOSE=1 prints the engine's log. */
static void log_line(void *ctx, int level, const char *line)
{
    (void)ctx;
    (void)level;
    if (getenv("SPACE_VERBOSE"))
        fprintf(stderr, "  lsm: %s\n", line);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->fe = fault_env_new(7);
    f->env = fault_env_base(f->fe);
    fault_env_set_capacity(f->fe, DISK);
    tu_small_options(&f->opt);
    f->opt.env = f->env;
    f->opt.reserve_bytes = 256 << 10;
    f->opt.compression = LSM_COMPRESS_NONE;
    f->opt.log = log_line;
    f->db = tu_open_db(STORE, &f->opt);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->db)
        lsm_close(f->db);
    fault_env_free(f->fe);
    free(f);
    return 0;
}

/* lsm_close frees the store even when it fails. */
static void close_db(fixture *f)
{
    int rc = lsm_close(f->db);
    f->db = NULL;
    if (rc != LSM_OK)
        fail_msg("close: %s: %s", lsm_status_name(rc), lsm_last_error());
}

/* Writes keys (synced every 8th) until the disk is full; returns the
 * status that stopped it. */
static int fill(fixture *f)
{
    char k[16], v[VALUE];
    for (int tries = 0; tries < 100000; tries++) {
        key_of(f->nkeys, k);
        value_of(f->nkeys, v);
        int rc = lsm_put(f->db, k, strlen(k), v, VALUE,
                         f->nkeys % 8 == 7 ? LSM_SYNC : 0);
        if (rc != LSM_OK)
            return rc;
        f->nkeys++;
    }
    return LSM_OK;
}

/* Keys [from, to) read back exactly. */
static void check_keys(fixture *f, int from, int to)
{
    char k[16], v[VALUE];
    for (int i = from; i < to; i++) {
        key_of(i, k);
        value_of(i, v);
        void *got;
        size_t n;
        int rc = lsm_get(f->db, NULL, k, strlen(k), &got, &n);
        if (rc != LSM_OK)
            fail_msg("get %s: %s (%s)", k, lsm_status_name(rc), lsm_last_error());
        assert_int_equal(n, VALUE);
        assert_memory_equal(got, v, VALUE);
        lsm_free(got);
    }
}

static void check_absent(fixture *f, int from, int to)
{
    char k[16];
    for (int i = from; i < to; i++) {
        key_of(i, k);
        void *got;
        size_t n;
        assert_int_equal(lsm_get(f->db, NULL, k, strlen(k), &got, &n),
                         LSM_NOT_FOUND);
    }
}

static void fill_to_full(fixture *f)
{
    int rc = fill(f);
    if (rc != LSM_NO_SPACE)
        fail_msg("filling the disk ended with %s: %s", lsm_status_name(rc),
                 lsm_last_error());
    /* A 4 MiB disk holds most of its size in data. */
    assert_true((uint64_t)f->nkeys * VALUE > DISK / 3);
}

static void test_write_fails_then_works_again(void **state)
{
    fixture *f = *state;
    /* The reserve: 1/16 of this disk (less what the new store uses). */
    assert_in_range(lsm_reserve_bytes(f->db), DISK / 16 - (16 << 10), DISK / 16);
    fill_to_full(f);
    /* Still full: more writes fail the same way, none becomes EIO (a
     * compaction's smaller index may leave room for one more). */
    int more = f->nkeys;
    for (int i = 0; i < 5; i++)
        assert_int_equal(fill(f), LSM_NO_SPACE);
    assert_true(f->nkeys - more <= 2);
    check_keys(f, 0, f->nkeys);

    /* The disk grows: the same open store takes writes again. */
    fault_env_set_capacity(f->fe, 4 * DISK);
    int before = f->nkeys;
    int rc = fill(f);
    if (rc != LSM_NO_SPACE)
        fail_msg("refilling: %s after %d more keys, %llu bytes free: %s",
                 lsm_status_name(rc), f->nkeys - before,
                 (unsigned long long)free_bytes(f), lsm_last_error());
    assert_true(f->nkeys > before + 100);
    check_keys(f, 0, f->nkeys);
    close_db(f);
    fault_env_set_capacity(f->fe, 8 * DISK);
    f->db = tu_open_db(STORE, &f->opt);
    check_keys(f, 0, f->nkeys);
}

static void test_reclaiming_write_on_full_disk(void **state)
{
    fixture *f = *state;
    fill_to_full(f);
    /* Deleting works on the full disk, and so does bookkeeping marked
     * LSM_RECLAIM; an ordinary write fits again only if the space pass
     * gave the deleted value's space back in time. */
    assert_int_equal(lsm_delete(f->db, "k000000", 7, LSM_RECLAIM | LSM_SYNC),
                     LSM_OK);
    assert_int_equal(lsm_put(f->db, "small", 5, "x", 1, LSM_RECLAIM), LSM_OK);
    char v[VALUE];
    value_of(1, v);
    int rc = lsm_put(f->db, "x", 1, v, VALUE, 0);
    assert_true(rc == LSM_OK || rc == LSM_NO_SPACE);
    check_absent(f, 0, 1);
    check_keys(f, 1, f->nkeys);
    /* Closing a store with unflushed data on the full disk succeeds. */
    close_db(f);
    f->db = tu_open_db(STORE, &f->opt);
    check_absent(f, 0, 1);
    check_keys(f, 1, f->nkeys);
}

static void test_range_delete_gives_space_back(void **state)
{
    fixture *f = *state;
    fill_to_full(f);
    int n = f->nkeys, cut = n - n / 8;   /* delete 7/8 of the keys */
    char end[16];
    key_of(cut, end);
    assert_int_equal(lsm_delete_range(f->db, "k", 1, end, strlen(end),
                                      LSM_RECLAIM | LSM_SYNC), LSM_OK);
    check_absent(f, 0, cut);
    check_keys(f, cut, n);
    /* Ordinary writes wait for the space pass when they run out of room:
     * about as much as was deleted fits again. */
    int rc = fill(f);
    if (rc != LSM_NO_SPACE)
        fail_msg("refilling: %s: %s", lsm_status_name(rc), lsm_last_error());
    if (f->nkeys - n < cut / 2)
        fail_msg("deleting %d values let only %d new ones in (%llu bytes free)",
                 cut, f->nkeys - n, (unsigned long long)free_bytes(f));
    check_absent(f, 0, cut);
    check_keys(f, cut, f->nkeys);
    close_db(f);
    f->db = tu_open_db(STORE, &f->opt);
    check_absent(f, 0, cut);
    check_keys(f, cut, f->nkeys);
}

static void test_reopen_full_without_table(void **state)
{
    fixture *f = *state;
    /* No compactions, so every new table would be a recovery flush's. */
    close_db(f);
    f->opt.level0_compaction_trigger = 1000;
    f->opt.level0_slowdown_trigger = 1000;
    f->opt.level0_stop_trigger = 1000;
    f->db = tu_open_db(STORE, &f->opt);
    fill_to_full(f);
    close_db(f);
    /* Not a byte left (the closed store's reserve was given back too). */
    fault_env_set_capacity(f->fe, 0);
    assert_int_equal(free_bytes(f), 0);
    int tables = count_tables(f);
    f->db = tu_open_db(STORE, &f->opt);
    assert_int_equal(count_tables(f), tables);   /* no recovery flush */
    check_keys(f, 0, f->nkeys);
    /* Closed and reopened again, still on the full disk. */
    close_db(f);
    fault_env_set_capacity(f->fe, 0);
    f->db = tu_open_db(STORE, &f->opt);
    assert_int_equal(count_tables(f), tables);
    check_keys(f, 0, f->nkeys);
    /* Room again: a flush writes the recovered data and retires the
     * WALs; everything survives another reopen. */
    fault_env_set_capacity(f->fe, 4 * DISK);
    assert_int_equal(lsm_flush(f->db), LSM_OK);
    close_db(f);
    f->db = tu_open_db(STORE, &f->opt);
    check_keys(f, 0, f->nkeys);
}

/* A trivial move is only a manifest edit: when the disk is full for it,
 * it waits for room and the store stays writable (it used to go
 * read-only, so a flush failed once space came back). */
static void test_move_on_full_disk_keeps_store_writable(void **state)
{
    fixture *f = *state;
    close_db(f);
    f->opt.level0_compaction_trigger = 1000;   /* only idle work moves */
    f->opt.level0_slowdown_trigger = 1000;
    f->opt.level0_stop_trigger = 1000;
    f->opt.idle_compaction_ms = 1;
    f->db = tu_open_db(STORE, &f->opt);
    lsm_hold_compactions(f->db, 1);
    char k[16], v[VALUE];
    for (int t = 0; t < 2; t++) {               /* two level-0 tables */
        for (int i = 0; i < 40; i++, f->nkeys++) {
            key_of(f->nkeys, k);
            value_of(f->nkeys, v);
            assert_int_equal(lsm_put(f->db, k, strlen(k), v, VALUE, 0), LSM_OK);
        }
        assert_int_equal(lsm_flush(f->db), LSM_OK);
    }
    /* Every append from now on finds the disk full; only the compaction
     * thread writes (a move's manifest edit). */
    fault_env_fail_after(f->fe, FAULT_MASK(FAULT_OP_WRITE), 0, LSM_NO_SPACE, 1);
    lsm_hold_compactions(f->db, 0);
    while (fault_env_faults_fired(f->fe) == 0)
        usleep(1000);
    fault_env_clear_faults(f->fe);
    key_of(f->nkeys, k);
    value_of(f->nkeys, v);
    int rc = lsm_put(f->db, k, strlen(k), v, VALUE, LSM_SYNC);
    if (rc != LSM_OK)
        fail_msg("put after the disk had room again: %s", lsm_last_error());
    f->nkeys++;
    assert_int_equal(lsm_flush(f->db), LSM_OK);
    check_keys(f, 0, f->nkeys);
    close_db(f);
    f->db = tu_open_db(STORE, &f->opt);
    check_keys(f, 0, f->nkeys);
}

/* A partial append (the env's reserve op is what keeps a full disk from
 * tearing a WAL record): with ENOSPC injected at the second append of a
 * record, the store reports LSM_NO_SPACE and goes read-only rather than
 * continuing after a torn record; a reopen drops the torn tail. */
static void test_torn_append_is_not_continued(void **state)
{
    fixture *f = *state;
    char k[16], v[VALUE];
    for (f->nkeys = 0; f->nkeys < 20; f->nkeys++) {
        key_of(f->nkeys, k);
        value_of(f->nkeys, v);
        assert_int_equal(lsm_put(f->db, k, strlen(k), v, VALUE, LSM_SYNC), LSM_OK);
    }
    fault_env_fail_after(f->fe, FAULT_MASK(FAULT_OP_WRITE), 1, LSM_NO_SPACE, 0);
    key_of(f->nkeys, k);
    value_of(f->nkeys, v);
    int rc = lsm_put(f->db, k, strlen(k), v, VALUE, LSM_SYNC);
    fault_env_clear_faults(f->fe);
    assert_int_equal(rc, LSM_NO_SPACE);
    rc = lsm_put(f->db, "after", 5, "x", 1, LSM_SYNC);
    assert_true(rc == LSM_NO_SPACE || rc == LSM_BG_ERROR);
    check_keys(f, 0, f->nkeys);
    close_db(f);
    f->db = tu_open_db(STORE, &f->opt);
    check_keys(f, 0, f->nkeys);
    assert_int_equal(lsm_put(f->db, "after", 5, "x", 1, LSM_SYNC), LSM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_fails_then_works_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reclaiming_write_on_full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_delete_gives_space_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_full_without_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move_on_full_disk_keeps_store_writable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_append_is_not_continued, setup, teardown),
    };
    if (getenv("TEST_FILTER"))        /* run only the tests matching it */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
