/*
 * test_tiered.c — compaction_style=tiered (lsm/compaction_tiered.c): the
 * shape it gives the levels, the style the manifest remembers and the
 * conversion on opening with the other style, and iterators and
 * snapshots seeing one state while merges of either style run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lsm.h"
#include "testutil.h"

#define NKEYS 3000

static void key_of(int i, char *k)
{
    snprintf(k, 16, "key%08d", i);
}

/* Writes value `round`:`i` (padded to 200 bytes) to keys 0..NKEYS-1. */
static void write_round(lsm_db *db, int round)
{
    char k[16], v[200];
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, k);
        memset(v, 'a' + round % 26, sizeof v);
        snprintf(v, sizeof v, "%d:%d", round, i);
        assert_int_equal(lsm_put(db, k, strlen(k), v, sizeof v, 0), LSM_OK);
    }
}

static int value_round(const void *v, size_t n)
{
    char buf[32];
    size_t c = n < sizeof buf - 1 ? n : sizeof buf - 1;
    memcpy(buf, v, c);
    buf[c] = 0;
    return atoi(buf);
}

/* Every key reads as written by `round` through ro. */
static void check_round(lsm_db *db, const lsm_read_options *ro, int round)
{
    char k[16];
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, k);
        void *v;
        size_t n;
        assert_int_equal(lsm_get(db, ro, k, strlen(k), &v, &n), LSM_OK);
        assert_int_equal(value_round(v, n), round);
        lsm_free(v);
    }
}

static void tiny_options(lsm_options *o, int style)
{
    tu_small_options(o);
    o->compaction_style = style;
    o->level0_compaction_trigger = 2;
    o->idle_compaction_ms = 0;
}

static int settled(lsm_db *db, void *arg)
{
    (void)arg;
    return lsm_settled(db);
}

/* Tiered merges write runs from the last level up: after a load the
 * data sits in level 6 and maybe a few runs above it, never in level 1
 * alone as leveled compaction puts it first.  lsm_compact is one merge. */
static void test_tiered_shape(void **state)
{
    (void)state;
    char *dir = tu_tempdir("tiered-shape");
    lsm_options o;
    tiny_options(&o, LSM_COMPACTION_TIERED);
    lsm_db *db = tu_open_db(dir, &o);
    for (int r = 0; r < 6; r++) {
        write_round(db, r);
        assert_int_equal(lsm_flush(db), LSM_OK);
    }
    assert_true(tu_wait_for(db, settled, NULL, 60));
    unsigned long long files;
    assert_true(tu_level_bytes(db, 6, &files) > 0);
    assert_true(tu_stat(db, "compactions") > 0);
    check_round(db, NULL, 5);
    /* Runs above the last level hold at most 200% of its bytes
     * (tiered_max_size_amp_percent) once merges are done. */
    unsigned long long upper = 0;
    for (int l = 0; l < 6; l++)
        upper += tu_level_bytes(db, l, &files);
    assert_true(upper <= 2 * tu_level_bytes(db, 6, &files));
    /* Two more runs in level 0; a full compaction merges everything into
     * level 6 at once (leveled: level by level, each byte rewritten or
     * moved once per level). */
    lsm_hold_compactions(db, 1);
    for (int r = 6; r < 8; r++) {
        /* 100 keys: one small table each (level 0 stays far below the
         * stop trigger, which would stall these writes while held). */
        char k[16], v[200];
        for (int i = 0; i < 100; i++) {
            key_of(i, k);
            memset(v, 'x', sizeof v);
            snprintf(v, sizeof v, "%d:%d", r, i);
            assert_int_equal(lsm_put(db, k, strlen(k), v, sizeof v, 0), LSM_OK);
        }
        assert_int_equal(lsm_flush(db), LSM_OK);
    }
    assert_true(tu_level_bytes(db, 0, &files) > 0 && files >= 2);
    lsm_hold_compactions(db, 0);
    double compactions = tu_stat(db, "compactions");
    double moves = tu_stat(db, "trivial_moves");
    assert_int_equal(lsm_compact(db), LSM_OK);
    /* One merge; a background merge of the two new runs may come first
     * (compactions are no longer held).  Leveled would move tables down
     * level by level (trivial moves). */
    double merges = tu_stat(db, "compactions") - compactions;
    if (merges < 1 || merges > 2)
        fail_msg("lsm_compact of a tiered store: %.0f compactions", merges);
    assert_true(tu_stat(db, "trivial_moves") == moves);
    for (int l = 0; l < 6; l++)
        assert_int_equal(tu_level_bytes(db, l, &files), 0);
    void *v;
    size_t n;
    assert_int_equal(lsm_get(db, NULL, "key00000099", 11, &v, &n), LSM_OK);
    assert_int_equal(value_round(v, n), 7);
    lsm_free(v);
    assert_int_equal(lsm_get(db, NULL, "key00000100", 11, &v, &n), LSM_OK);
    assert_int_equal(value_round(v, n), 5);
    lsm_free(v);
    tu_close_and_remove(db, dir);
}

/* Lines the store logged; background threads log too, hence the lock. */
typedef struct log_capture {
    pthread_mutex_t mu;
    char text[4096];
} log_capture;

static void capture(void *ctx, int level, const char *line)
{
    log_capture *c = ctx;
    (void)level;
    pthread_mutex_lock(&c->mu);
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%s\n", line);
    pthread_mutex_unlock(&c->mu);
}

static int captured(log_capture *c, const char *what)
{
    pthread_mutex_lock(&c->mu);
    int found = strstr(c->text, what) != NULL;
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* Opens dir with style, returns whether the open logged a conversion
 * from `from` (NULL: checks none was logged). */
static void reopen(const char *dir, int style, const char *conversion,
                   int read_only)
{
    lsm_options o;
    log_capture cap = { PTHREAD_MUTEX_INITIALIZER, "" };
    tiny_options(&o, style);
    o.log = capture;
    o.log_ctx = &cap;
    o.read_only = read_only;
    lsm_db *db = tu_open_db(dir, &o);
    if (conversion)
        assert_true(captured(&cap, conversion));
    else
        assert_false(captured(&cap, "converting"));
    check_round(db, NULL, 2);
    if (!read_only) {
        /* Writes and compactions go on in the new style. */
        write_round(db, 2);
        assert_int_equal(lsm_flush(db), LSM_OK);
    }
    assert_int_equal(lsm_close(db), LSM_OK);
}

/* The manifest remembers the style: DEFAULT opens with it, the other one
 * converts the store (logged once: the new manifest records it), and a
 * read-only open converts nothing. */
static void test_style_remembered_and_converted(void **state)
{
    (void)state;
    char *dir = tu_tempdir("tiered-style");
    lsm_options o;
    tiny_options(&o, LSM_COMPACTION_TIERED);
    lsm_db *db = tu_open_db(dir, &o);
    for (int r = 0; r < 3; r++) {
        write_round(db, r);
        assert_int_equal(lsm_flush(db), LSM_OK);
    }
    assert_int_equal(lsm_close(db), LSM_OK);
    reopen(dir, LSM_COMPACTION_DEFAULT, NULL, 0);
    reopen(dir, LSM_COMPACTION_TIERED, NULL, 0);
    reopen(dir, LSM_COMPACTION_LEVELED,
           "converting from tiered to leveled compaction (not recorded", 1);
    reopen(dir, LSM_COMPACTION_LEVELED,
           "converting from tiered to leveled compaction\n", 0);
    reopen(dir, LSM_COMPACTION_DEFAULT, NULL, 0);
    reopen(dir, LSM_COMPACTION_LEVELED, NULL, 0);
    reopen(dir, LSM_COMPACTION_TIERED,
           "converting from leveled to tiered compaction\n", 0);
    reopen(dir, LSM_COMPACTION_DEFAULT, NULL, 0);
    /* A full compaction leaves one run in either style. */
    tiny_options(&o, LSM_COMPACTION_DEFAULT);
    db = tu_open_db(dir, &o);
    assert_int_equal(lsm_compact(db), LSM_OK);
    check_round(db, NULL, 2);
    unsigned long long files, levels = 0;
    for (int l = 0; l < 7; l++)
        levels += tu_level_bytes(db, l, &files) > 0;
    assert_int_equal(levels, 1);
    tu_close_and_remove(db, dir);
}

static void test_bad_style(void **state)
{
    (void)state;
    char *dir = tu_tempdir("tiered-bad");
    lsm_options o;
    tiny_options(&o, 3);
    lsm_db *db = NULL;
    assert_int_equal(lsm_open(dir, &o, &db), LSM_INVALID);
    tu_rmtree(dir);
    free(dir);
}

/* An iterator and a snapshot taken at round 0 keep seeing exactly round
 * 0 while later rounds are written and flushed and merges (of `style`)
 * run underneath them, half-way through the iteration. */
static void consistent_during_merges(int style)
{
    char *dir = tu_tempdir("tiered-consistent");
    lsm_options o;
    tiny_options(&o, style);
    lsm_db *db = tu_open_db(dir, &o);
    write_round(db, 0);
    const lsm_snapshot *snap = lsm_snapshot_get(db);
    lsm_read_options ro = { .snapshot = snap };
    lsm_iter *it = lsm_iter_new(db, NULL);
    assert_non_null(it);
    double compactions = tu_stat(db, "compactions");
    lsm_iter_first(it);
    int seen = 0;
    char k[16];
    for (int round = 1; lsm_iter_valid(it); lsm_iter_next(it), seen++) {
        size_t kn, vn;
        const void *key = lsm_iter_key(it, &kn);
        const void *v = lsm_iter_value(it, &vn);
        key_of(seen, k);
        assert_int_equal(kn, strlen(k));
        assert_memory_equal(key, k, kn);
        assert_int_equal(value_round(v, vn), 0);
        if (seen % 300 == 0 && round < 10) {
            write_round(db, round++);
            assert_int_equal(lsm_flush(db), LSM_OK);
        }
        if (seen == NKEYS / 2) {
            /* Merges of the newer rounds have run under the iterator. */
            assert_true(tu_wait_for(db, settled, NULL, 60));
            assert_true(tu_stat(db, "compactions") > compactions);
            check_round(db, &ro, 0);
        }
    }
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    assert_int_equal(seen, NKEYS);
    lsm_iter_free(it);
    check_round(db, &ro, 0);
    check_round(db, NULL, 9);
    lsm_snapshot_release(db, snap);
    tu_close_and_remove(db, dir);
}

static void test_consistent_tiered(void **state)
{
    (void)state;
    consistent_during_merges(LSM_COMPACTION_TIERED);
}

static void test_consistent_leveled(void **state)
{
    (void)state;
    consistent_during_merges(LSM_COMPACTION_LEVELED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiered_shape),
        cmocka_unit_test(test_style_remembered_and_converted),
        cmocka_unit_test(test_bad_style),
        cmocka_unit_test(test_consistent_tiered),
        cmocka_unit_test(test_consistent_leveled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
