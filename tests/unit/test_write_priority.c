/*
 * test_write_priority.c — bulk writes (LSM_BULK) yield to other writes:
 * while a bulk writer is held in a write stall (compactions held, level 0
 * at its stop trigger), small writes still go into the memtable, up to
 * its slack; released, the bulk writer finishes and everything reads
 * back.  Also run under ThreadSanitizer (scripts/test).
 * And the write controller: the delayed-write rate follows level 0 from
 * its slowdown trigger to its stop trigger and back, and writes past the
 * slowdown trigger are paced (counted as slowdown, not as stalls), in
 * pauses of at least a millisecond rather than one per write.
 *
 * No timing: the main thread waits for the engine's own count of writes
 * that waited for room (stats "stalled_writes") before writing.  On an
 * engine without priorities the small writes would wait behind the held
 * bulk writer until the test's time bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsm.h"
#include "testutil.h"

#define BULK_VALUE (8u << 10)
#define BULK_WRITES 400           /* 3.2 MiB: far past 2 level-0 tables */
#define SMALL_WRITES 50

struct bulk_writer {
    lsm_db *db;
    int status;                   /* first failure, read after join */
    int written;
};

static void *bulk_thread(void *arg)
{
    struct bulk_writer *bw = arg;
    char *val = malloc(BULK_VALUE);
    if (val == NULL) {
        bw->status = LSM_NO_MEMORY;
        return NULL;
    }
    for (int i = 0; i < BULK_WRITES && bw->status == LSM_OK; i++) {
        char key[32];
        memset(val, 'a' + i % 26, BULK_VALUE);
        snprintf(key, sizeof key, "bulk%06d", i);
        bw->status = lsm_put(bw->db, key, strlen(key), val, BULK_VALUE, LSM_BULK);
        if (bw->status == LSM_OK)
            __atomic_add_fetch(&bw->written, 1, __ATOMIC_RELAXED);
    }
    free(val);
    return NULL;
}

/* The "stalled_writes" count in the stats property. */
static unsigned long stalled_writes(lsm_db *db)
{
    char *text = NULL;
    assert_int_equal(lsm_property(db, "stats", &text), LSM_OK);
    const char *p = strstr(text, "stalled_writes: ");
    assert_non_null(p);
    unsigned long n = strtoul(p + strlen("stalled_writes: "), NULL, 10);
    lsm_free(text);
    return n;
}

static void test_small_writes_pass_a_held_bulk_writer(void **state)
{
    (void)state;
    char *dir = tu_tempdir("prio");
    lsm_options o;
    tu_small_options(&o);
    o.level0_compaction_trigger = 1;
    o.level0_slowdown_trigger = 2;
    o.level0_stop_trigger = 2;
    lsm_db *db = tu_open_db(dir, &o);
    lsm_hold_compactions(db, 1);

    struct bulk_writer bw = { .db = db, .status = LSM_OK };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bulk_thread, &bw), 0);
    while (stalled_writes(db) == 0)
        usleep(1000);             /* the bulk writer is held */

    /* Memtable slack: a quarter of 64 KiB, less what the last bulk write
     * took past the limit (up to 8 KiB): SMALL_WRITES of ~100 bytes in
     * the memtable fit while the bulk writer stays held. */
    for (int i = 0; i < SMALL_WRITES; i++) {
        char key[32], val[16];
        snprintf(key, sizeof key, "meta%06d", i);
        snprintf(val, sizeof val, "v%d", i);
        assert_int_equal(lsm_put(db, key, strlen(key), val, strlen(val), 0), LSM_OK);
    }
    assert_true(__atomic_load_n(&bw.written, __ATOMIC_RELAXED) < BULK_WRITES);

    lsm_hold_compactions(db, 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(bw.status, LSM_OK);
    assert_int_equal(bw.written, BULK_WRITES);
    for (int i = 0; i < SMALL_WRITES; i += 17) {
        char key[32], want[16];
        snprintf(key, sizeof key, "meta%06d", i);
        snprintf(want, sizeof want, "v%d", i);
        void *v;
        size_t vlen;
        assert_int_equal(lsm_get(db, NULL, key, strlen(key), &v, &vlen), LSM_OK);
        assert_memory_equal(v, want, strlen(want));
        lsm_free(v);
    }
    void *v;
    size_t vlen;
    assert_int_equal(lsm_get(db, NULL, "bulk000399", 10, &v, &vlen), LSM_OK);
    assert_int_equal(vlen, BULK_VALUE);
    assert_int_equal(((char *)v)[0], 'a' + 399 % 26);
    lsm_free(v);
    assert_int_equal(lsm_close(db), LSM_OK);
    tu_rmtree(dir);
    free(dir);
}


/* One level-0 table more (compactions held). */
static void add_level0_table(lsm_db *db, int i)
{
    char key[32];
    snprintf(key, sizeof key, "l0-%04d", i);
    assert_int_equal(lsm_put(db, key, strlen(key), "v", 1, 0), LSM_OK);
    assert_int_equal(lsm_flush(db), LSM_OK);
}

#define RATE (1u << 20)

/* A store whose level 0 slows writes from 3 tables and stops them at 6,
 * its compactions held (1 MiB memtables: the tests' puts stay in them). */
static lsm_db *open_paced(const char *dir, uint64_t rate)
{
    lsm_options o;
    tu_small_options(&o);
    o.level0_compaction_trigger = 2;
    o.level0_slowdown_trigger = 3;
    o.level0_stop_trigger = 6;
    o.delayed_write_rate = rate;
    o.memtable_bytes = 1u << 20;
    lsm_db *db = tu_open_db(dir, &o);
    lsm_hold_compactions(db, 1);
    return db;
}

static void test_write_rate_follows_level0(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wrate");
    lsm_db *db = open_paced(dir, RATE);
    lsm_stats s;
    int i = 0;
    for (; i < 2; i++)
        add_level0_table(db, i);
    lsm_get_stats(db, &s);
    assert_int_equal(s.level_files[0], 2);
    assert_int_equal(s.delayed_write_rate, 0);       /* below slowdown */
    assert_int_equal(s.slowed_writes, 0);
    /* rate = RATE * (stop - l0 + 1) / (stop - slowdown + 1) */
    for (uint64_t l0 = 3; l0 <= 6; l0++) {
        add_level0_table(db, i++);
        lsm_get_stats(db, &s);
        assert_int_equal(s.level_files[0], l0);
        assert_int_equal(s.delayed_write_rate, (uint64_t)RATE * (6 - l0 + 1) / 4);
    }
    /* At the stop trigger the memtable still takes writes: 16 KiB paced
     * at RATE / 4 (some 60 ms), counted as slowdown, not as a stall. */
    lsm_get_stats(db, &s);
    uint64_t slowed = s.slowed_writes;
    char val[1024];
    memset(val, 'x', sizeof val);
    for (int k = 0; k < 16; k++) {
        char key[32];
        snprintf(key, sizeof key, "paced-%02d", k);
        assert_int_equal(lsm_put(db, key, strlen(key), val, sizeof val, LSM_BULK),
                         LSM_OK);
    }
    lsm_get_stats(db, &s);
    assert_true(s.slowed_writes > slowed);
    assert_true(s.slowdown_micros > 0);
    assert_int_equal(s.stalled_writes, 0);
    /* Compaction brings level 0 back under the slowdown trigger: the
     * writes go at full speed again. */
    lsm_hold_compactions(db, 0);
    assert_int_equal(lsm_compact(db), LSM_OK);
    lsm_get_stats(db, &s);
    assert_int_equal(s.level_files[0], 0);
    assert_int_equal(s.delayed_write_rate, 0);
    tu_close_and_remove(db, dir);
}

#define QUANTUM_US 1000u         /* db.c: WCTL_QUANTUM_US */
#define PACED_PUTS 2000
#define PACED_RATE (4u << 20)

/* Small writes past the slowdown trigger pay what they owe in pauses of
 * at least a millisecond, so few of them are slow: pausing each one for
 * its own few µs (a sleep costs some 60 µs more than asked) would make
 * most of them slow for the same total pause. */
static void test_pacing_pauses_are_few_and_long(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wquant");
    lsm_db *db = open_paced(dir, PACED_RATE);
    for (int i = 0; i < 3; i++)
        add_level0_table(db, i);
    lsm_stats s;
    lsm_get_stats(db, &s);
    assert_int_equal(s.delayed_write_rate, PACED_RATE);
    uint64_t slowed = s.slowed_writes, paused = s.slowdown_micros;
    char key[32], val[100];
    memset(val, 'p', sizeof val);
    for (int i = 0; i < PACED_PUTS; i++) {
        snprintf(key, sizeof key, "paced-%05d", i);
        assert_int_equal(lsm_put(db, key, strlen(key), val, sizeof val, 0), LSM_OK);
    }
    lsm_get_stats(db, &s);
    slowed = s.slowed_writes - slowed;
    paused = s.slowdown_micros - paused;
    /* Each put owes under 200 bytes at the rate: some 95 ms in all. */
    uint64_t owed_bound = (uint64_t)PACED_PUTS * 200u * 1000000u / PACED_RATE;
    assert_true(slowed >= 1);
    assert_true(slowed <= owed_bound / QUANTUM_US + 1);
    assert_true(paused >= slowed * QUANTUM_US);
    lsm_hold_compactions(db, 0);
    tu_close_and_remove(db, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_writes_pass_a_held_bulk_writer),
        cmocka_unit_test(test_write_rate_follows_level0),
        cmocka_unit_test(test_pacing_pauses_are_few_and_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
