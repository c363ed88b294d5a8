/*
 * test_concurrent_flush.c — a flush never waits behind a compaction: the
 * flush thread is its own (flush_threads, apart from compaction_threads),
 * so while a compaction is held in the middle of its merge, memtables
 * still become level-0 tables and lsm_flush returns.  Also run under
 * ThreadSanitizer (label concurrency, scripts/test).
 *
 * The compaction is held by an environment that blocks the first table
 * file opened for writing after it is armed (the compaction's output),
 * until the test releases it.  No timing: on an engine whose flushes
 * queued behind compactions lsm_flush would wait for the held compaction;
 * the gate lets it go after GATE_SECONDS only to end the test, and the
 * test fails on seeing that (or the compaction done before the flush).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "env.h"
#include "lsm.h"
#include "testutil.h"

#define GATE_SECONDS 120
#define KEYS_PER_TABLE 500

/* An environment that holds the first .sst opened for writing once
 * armed, until released. */
static struct gate {
    lsm_env env;
    lsm_env *base;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int armed, caught, released, timed_out;
} gate = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static int is_table(const char *path)
{
    size_t n = strlen(path);
    return n > 4 && strcmp(path + n - 4, ".sst") == 0;
}

static int gate_open_write(lsm_env *e, const char *path, lsm_file **out)
{
    (void)e;
    pthread_mutex_lock(&gate.mu);
    if (gate.armed && !gate.caught && is_table(path)) {
        gate.caught = 1;
        pthread_cond_broadcast(&gate.cv);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += GATE_SECONDS;
        while (!gate.released && !gate.timed_out)
            if (pthread_cond_timedwait(&gate.cv, &gate.mu, &until) == ETIMEDOUT)
                gate.timed_out = 1;
    }
    pthread_mutex_unlock(&gate.mu);
    return gate.base->open_write(gate.base, path, out);
}

static void put_table(lsm_db *db, int t)
{
    for (int i = 0; i < KEYS_PER_TABLE; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "key%06d", i * 7 % KEYS_PER_TABLE);
        snprintf(v, sizeof v, "t%d-%d", t, i);
        assert_int_equal(lsm_put(db, k, strlen(k), v, strlen(v), 0), LSM_OK);
    }
    char k[32];
    snprintf(k, sizeof k, "only-in-%d", t);
    assert_int_equal(lsm_put(db, k, strlen(k), "x", 1, 0), LSM_OK);
}

static void test_flush_passes_a_held_compaction(void **state)
{
    (void)state;
    gate.base = lsm_env_posix();
    gate.env = *gate.base;
    gate.env.open_write = gate_open_write;
    char *dir = tu_tempdir("flushpass");
    lsm_options o;
    tu_small_options(&o);
    o.env = &gate.env;
    o.level0_compaction_trigger = 2;
    o.idle_compaction_ms = 0;
    lsm_db *db = tu_open_db(dir, &o);
    lsm_hold_compactions(db, 1);
    for (int t = 0; t < 2; t++) {
        put_table(db, t);
        assert_int_equal(lsm_flush(db), LSM_OK);
    }

    /* The compaction of the two tables starts and is held opening its
     * output. */
    pthread_mutex_lock(&gate.mu);
    gate.armed = 1;
    pthread_mutex_unlock(&gate.mu);
    lsm_hold_compactions(db, 0);
    pthread_mutex_lock(&gate.mu);
    while (!gate.caught)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);

    /* Meanwhile a memtable is flushed: a third level-0 table, with the
     * compaction still held. */
    put_table(db, 2);
    assert_int_equal(lsm_flush(db), LSM_OK);
    lsm_stats s;
    lsm_get_stats(db, &s);
    pthread_mutex_lock(&gate.mu);
    int timed_out = gate.timed_out;
    gate.released = 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    assert_false(timed_out);
    assert_int_equal(s.compactions, 0);
    assert_int_equal(s.level_files[0], 3);
    assert_int_equal(s.flushes, 3);

    /* Released, the compaction ends and everything reads back. */
    assert_int_equal(lsm_compact(db), LSM_OK);
    lsm_get_stats(db, &s);
    assert_true(s.compactions >= 1);
    for (int t = 0; t < 3; t++) {
        char k[32];
        snprintf(k, sizeof k, "only-in-%d", t);
        void *v;
        size_t vlen;
        assert_int_equal(lsm_get(db, NULL, k, strlen(k), &v, &vlen), LSM_OK);
        lsm_free(v);
    }
    void *v;
    size_t vlen;
    assert_int_equal(lsm_get(db, NULL, "key000000", 9, &v, &vlen), LSM_OK);
    assert_int_equal(vlen, strlen("t2-0"));
    assert_memory_equal(v, "t2-0", vlen);
    lsm_free(v);
    tu_close_and_remove(db, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_passes_a_held_compaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
