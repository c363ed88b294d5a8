/*
 * test_snapshot.c — named snapshots (lsm.h): create/list/delete and their
 * errors, reads at a named snapshot across reopen and power loss, and
 * compaction keeping exactly the versions some snapshot sees (and dropping
 * them once it is deleted), with lsm_snapshot_space's accounting, and
 * snapshots taken under concurrent writes.
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

#include "fault_env.h"
#include "lsm.h"
#include "testutil.h"

#define VAL 20000   /* value size: a handful fill a 64 KiB memtable */

static void put_val(lsm_db *db, const char *key, char fill, size_t len)
{
    char *v = malloc(len);
    assert_non_null(v);
    memset(v, fill, len);
    assert_int_equal(lsm_put(db, key, strlen(key), v, len, 0), LSM_OK);
    free(v);
}

/* The value of key at snap (NULL: latest): its fill byte, or 0 if absent. */
static char read_fill(lsm_db *db, const lsm_snapshot *snap, const char *key)
{
    lsm_read_options ro = { snap, 0 };
    void *v = NULL;
    size_t n = 0;
    int rc = lsm_get(db, &ro, key, strlen(key), &v, &n);
    if (rc == LSM_NOT_FOUND)
        return 0;
    assert_int_equal(rc, LSM_OK);
    char c = n ? ((char *)v)[0] : '?';
    lsm_free(v);
    return c;
}

static char read_named(lsm_db *db, const char *name, const char *key)
{
    const lsm_snapshot *s = NULL;
    assert_int_equal(lsm_snapshot_open(db, name, &s, NULL), LSM_OK);
    char c = read_fill(db, s, key);
    lsm_snapshot_release(db, s);
    return c;
}

static uint64_t table_bytes(lsm_db *db)
{
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_compact(db), LSM_OK);
    return lsm_disk_bytes(db);
}

static void test_create_list_delete(void **state)
{
    (void)state;
    char *dir = tu_tempdir("snap");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    lsm_snapshot_info info;
    assert_int_equal(lsm_snapshot_create(db, "a", &info), LSM_OK);
    assert_int_equal(info.id, 1);
    assert_string_equal(info.name, "a");
    assert_true(info.ctime > 0);
    assert_int_equal(lsm_snapshot_create(db, "a", NULL), LSM_EXISTS);
    char longname[LSM_SNAPSHOT_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    const char *bad[] = { "", ".", "..", "a/b", longname };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(lsm_snapshot_create(db, bad[i], NULL), LSM_INVALID);
    longname[LSM_SNAPSHOT_NAME_MAX] = 0;   /* the longest allowed */
    assert_int_equal(lsm_snapshot_create(db, longname, &info), LSM_OK);
    assert_int_equal(info.id, 2);
    assert_int_equal(lsm_snapshot_delete(db, "nope"), LSM_NOT_FOUND);
    const lsm_snapshot *s;
    assert_int_equal(lsm_snapshot_open(db, "nope", &s, NULL), LSM_NOT_FOUND);
    assert_int_equal(lsm_snapshot_delete(db, "a"), LSM_OK);
    assert_int_equal(lsm_snapshot_delete(db, "a"), LSM_NOT_FOUND);
    assert_int_equal(lsm_snapshot_create(db, "a", &info), LSM_OK);
    assert_int_equal(info.id, 3);          /* ids are never reused */
    lsm_snapshot_info *list;
    size_t n;
    assert_int_equal(lsm_snapshot_list(db, &list, &n), LSM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, longname);
    assert_string_equal(list[1].name, "a");
    lsm_free(list);
    lsm_close(db);

    /* Reopened (a new manifest holds them) and reopened again. */
    for (int round = 0; round < 2; round++) {
        db = tu_open_db(dir, &o);
        assert_int_equal(lsm_snapshot_list(db, &list, &n), LSM_OK);
        assert_int_equal(n, 2);
        assert_int_equal(list[0].id, 2);
        assert_int_equal(list[1].id, 3);
        lsm_free(list);
        lsm_close(db);
    }
    db = tu_open_db(dir, &o);
    assert_int_equal(lsm_snapshot_delete(db, "a"), LSM_OK);
    assert_int_equal(lsm_snapshot_delete(db, longname), LSM_OK);
    lsm_close(db);
    db = tu_open_db(dir, &o);
    assert_int_equal(lsm_snapshot_list(db, &list, &n), LSM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(lsm_snapshot_create(db, "b", &info), LSM_OK);
    assert_int_equal(info.id, 4);          /* the counter survived */
    lsm_close(db);

    /* Read-only opens list them and refuse changes. */
    o.read_only = 1;
    db = tu_open_db(dir, &o);
    assert_int_equal(lsm_snapshot_list(db, &list, &n), LSM_OK);
    assert_int_equal(n, 1);
    lsm_free(list);
    assert_int_equal(lsm_snapshot_create(db, "c", NULL), LSM_INVALID);
    assert_int_equal(lsm_snapshot_delete(db, "b"), LSM_INVALID);
    lsm_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* A snapshot sees exactly the writes before it, after compactions,
 * reopen and recovery. */
static void test_view_survives_reopen(void **state)
{
    (void)state;
    char *dir = tu_tempdir("snap");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    put_val(db, "k1", 'a', 100);
    put_val(db, "k2", 'a', 100);
    assert_int_equal(lsm_delete_range(db, "k3", 2, "k4", 2, 0), LSM_OK);
    assert_int_equal(lsm_snapshot_create(db, "s", NULL), LSM_OK);
    put_val(db, "k1", 'b', 100);
    assert_int_equal(lsm_delete(db, "k2", 2, 0), LSM_OK);
    put_val(db, "k3", 'b', 100);
    assert_int_equal(read_named(db, "s", "k1"), 'a');
    assert_int_equal(read_named(db, "s", "k2"), 'a');
    assert_int_equal(read_named(db, "s", "k3"), 0);
    for (int i = 0; i < 40; i++)       /* many flushes and compactions */
        put_val(db, "k1", (char)('c' + i % 20), VAL);
    assert_int_equal(lsm_compact(db), LSM_OK);
    lsm_close(db);   /* the last writes stay in the WAL: recovery replays them */
    db = tu_open_db(dir, &o);
    assert_int_equal(read_named(db, "s", "k1"), 'a');
    assert_int_equal(read_named(db, "s", "k2"), 'a');
    assert_int_equal(read_named(db, "s", "k3"), 0);
    assert_int_equal(read_fill(db, NULL, "k2"), 0);
    assert_int_equal(read_fill(db, NULL, "k3"), 'b');
    /* An iterator at the snapshot sees its two keys. */
    const lsm_snapshot *s;
    assert_int_equal(lsm_snapshot_open(db, "s", &s, NULL), LSM_OK);
    lsm_read_options ro = { s, 0 };
    lsm_iter *it = lsm_iter_new(db, &ro);
    int count = 0;
    for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it))
        count++;
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    assert_int_equal(count, 2);
    lsm_iter_free(it);
    /* Deleting the snapshot leaves an open handle working. */
    assert_int_equal(lsm_snapshot_delete(db, "s"), LSM_OK);
    assert_int_equal(table_bytes(db) > 0, 1);
    assert_int_equal(read_fill(db, s, "k1"), 'a');
    lsm_snapshot_release(db, s);
    lsm_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* Power loss right after lsm_snapshot_create returns: the snapshot and
 * every write it sees survive, though none of them was written with
 * LSM_SYNC. */
static void test_power_loss(void **state)
{
    (void)state;
    for (int mode = FAULT_CRASH_DROP_ALL; mode <= FAULT_CRASH_PROCESS; mode++) {
        fault_env *fe = fault_env_new((uint64_t)mode + 7);
        lsm_options o;
        tu_small_options(&o);
        o.env = fault_env_base(fe);
        lsm_db *db = tu_open_db("/db", &o);
        put_val(db, "k1", 'a', 100);
        put_val(db, "k2", 'a', 100);
        assert_int_equal(lsm_snapshot_create(db, "s", NULL), LSM_OK);
        put_val(db, "k1", 'b', 100);
        fault_env_crash(fe, mode);
        lsm_close(db);
        fault_env_restart(fe);
        db = tu_open_db("/db", &o);
        assert_int_equal(read_named(db, "s", "k1"), 'a');
        assert_int_equal(read_named(db, "s", "k2"), 'a');
        assert_int_equal(read_fill(db, NULL, "k2"), 'a');
        /* A write after the crash never shows in the snapshot. */
        put_val(db, "k2", 'c', 100);
        assert_int_equal(read_named(db, "s", "k2"), 'a');
        lsm_close(db);
        fault_env_free(fe);
    }
}

/* Compaction keeps the newest version at or below each snapshot and the
 * latest one, and nothing in between; deleting the snapshots gives their
 * space back; lsm_snapshot_space counts what each holds alone. */
static void test_compaction_keeps_exactly(void **state)
{
    (void)state;
    char *dir = tu_tempdir("snap");
    lsm_options o;
    tu_small_options(&o);
    o.compression = LSM_COMPRESS_NONE;
    lsm_db *db = tu_open_db(dir, &o);
    put_val(db, "big", 'a', VAL);
    put_val(db, "other", 'o', VAL);
    uint64_t base = table_bytes(db);
    assert_int_equal(lsm_snapshot_create(db, "old", NULL), LSM_OK);
    /* 30 overwrites: only the last must stay besides the snapshot's. */
    for (int i = 0; i < 30; i++)
        put_val(db, "big", (char)('b' + i % 20), VAL);
    assert_int_equal(lsm_snapshot_create(db, "mid", NULL), LSM_OK);
    for (int i = 0; i < 30; i++)
        put_val(db, "big", (char)('B' + i % 20), VAL);
    uint64_t held = table_bytes(db);
    /* 4 versions of VAL-byte values at most: "old", "mid", latest, other. */
    assert_true(held < base + 2 * VAL + VAL / 2);
    assert_true(held > base + 2 * VAL - VAL / 2);
    assert_int_equal(read_named(db, "old", "big"), 'a');
    assert_int_equal(read_named(db, "mid", "big"), (char)('b' + 29 % 20));
    assert_int_equal(read_fill(db, NULL, "big"), (char)('B' + 29 % 20));

    lsm_snapshot_info *list;
    size_t n;
    assert_int_equal(lsm_snapshot_list(db, &list, &n), LSM_OK);
    assert_int_equal(n, 2);
    uint64_t excl[2];
    assert_int_equal(lsm_snapshot_space(db, list, n, excl), LSM_OK);
    assert_int_equal(excl[0], 3 + VAL);    /* "big" and its value */
    assert_int_equal(excl[1], 3 + VAL);
    lsm_free(list);

    assert_int_equal(lsm_snapshot_delete(db, "old"), LSM_OK);
    uint64_t after_old = table_bytes(db);
    assert_true(after_old < held - VAL / 2);
    assert_int_equal(read_named(db, "mid", "big"), (char)('b' + 29 % 20));
    assert_int_equal(lsm_snapshot_delete(db, "mid"), LSM_OK);
    uint64_t after_mid = table_bytes(db);
    assert_true(after_mid < after_old - VAL / 2);
    assert_true(after_mid < base + VAL / 2);
    lsm_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* A range deletion after the snapshot: the covered keys stay for the
 * snapshot (and count as its own), and go once it is deleted. */
static void test_range_deletion_retention(void **state)
{
    (void)state;
    char *dir = tu_tempdir("snap");
    lsm_options o;
    tu_small_options(&o);
    o.compression = LSM_COMPRESS_NONE;
    lsm_db *db = tu_open_db(dir, &o);
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "r%02d", i);
        put_val(db, key, 'r', VAL);
    }
    uint64_t full = table_bytes(db);
    assert_int_equal(lsm_snapshot_create(db, "s", NULL), LSM_OK);
    assert_int_equal(lsm_delete_range(db, "r", 1, "s", 1, 0), LSM_OK);
    put_val(db, "x", 'x', 10);
    uint64_t held = table_bytes(db);
    assert_true(held + VAL > full);
    assert_int_equal(read_named(db, "s", "r05"), 'r');
    assert_int_equal(read_fill(db, NULL, "r05"), 0);
    lsm_snapshot_info *list;
    size_t n;
    uint64_t excl[1];
    assert_int_equal(lsm_snapshot_list(db, &list, &n), LSM_OK);
    assert_int_equal(lsm_snapshot_space(db, list, n, excl), LSM_OK);
    assert_int_equal(excl[0], 10 * (3 + VAL));
    lsm_free(list);
    assert_int_equal(lsm_snapshot_delete(db, "s"), LSM_OK);
    assert_true(table_bytes(db) < full / 4);
    lsm_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* --- under concurrent writes ------------------------------------------------ */

#define WRITERS 3

typedef struct writer_arg {
    lsm_db *db;
    int id;
    atomic_ullong acked;        /* last counter value acknowledged */
    atomic_int stop;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *w = p;
    char key[16], val[32];
    snprintf(key, sizeof key, "w%d", w->id);
    for (unsigned long long n = 1; !atomic_load(&w->stop); n++) {
        int len = snprintf(val, sizeof val, "%llu", n);
        if (lsm_put(w->db, key, strlen(key), val, (size_t)len, 0) != LSM_OK)
            break;
        atomic_store(&w->acked, n);
    }
    return NULL;
}

static unsigned long long counter_at(lsm_db *db, const char *name, int id)
{
    const lsm_snapshot *s;
    assert_int_equal(lsm_snapshot_open(db, name, &s, NULL), LSM_OK);
    lsm_read_options ro = { s, 0 };
    char key[16];
    snprintf(key, sizeof key, "w%d", id);
    void *v;
    size_t n;
    unsigned long long c = 0;
    if (lsm_get(db, &ro, key, strlen(key), &v, &n) == LSM_OK) {
        char buf[32] = { 0 };
        memcpy(buf, v, n < 31 ? n : 31);
        c = strtoull(buf, NULL, 10);
        lsm_free(v);
    }
    lsm_snapshot_release(db, s);
    return c;
}

/* Snapshots taken while writers run: each sees every write acknowledged
 * before lsm_snapshot_create began and none acknowledged after it
 * returned (writes in between may go either way), then and after a
 * reopen; each writer's counter never goes back from one snapshot to the
 * next. */
static void test_concurrent_writers(void **state)
{
    (void)state;
    char *dir = tu_tempdir("snap");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    writer_arg w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i].db = db;
        w[i].id = i;
        atomic_init(&w[i].acked, 0);
        atomic_init(&w[i].stop, 0);
        assert_int_equal(pthread_create(&th[i], NULL, writer, &w[i]), 0);
    }
    enum { SNAPS = 20 };
    unsigned long long lo[SNAPS][WRITERS], hi[SNAPS][WRITERS];
    for (int k = 0; k < SNAPS; k++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", k);
        for (int i = 0; i < WRITERS; i++)
            lo[k][i] = atomic_load(&w[i].acked);
        assert_int_equal(lsm_snapshot_create(db, name, NULL), LSM_OK);
        for (int i = 0; i < WRITERS; i++)
            hi[k][i] = atomic_load(&w[i].acked) + 1;  /* may be in flight */
        usleep(2000);
    }
    for (int i = 0; i < WRITERS; i++) {
        atomic_store(&w[i].stop, 1);
        pthread_join(th[i], NULL);
    }
    for (int round = 0; round < 2; round++) {
        unsigned long long prev[WRITERS] = { 0 };
        for (int k = 0; k < SNAPS; k++) {
            char name[16];
            snprintf(name, sizeof name, "c%d", k);
            for (int i = 0; i < WRITERS; i++) {
                unsigned long long c = counter_at(db, name, i);
                if (c < lo[k][i] || c > hi[k][i] || c < prev[i])
                    fail_msg("snapshot %s, writer %d: counter %llu, want %llu..%llu "
                             "and >= %llu", name, i, c, lo[k][i], hi[k][i], prev[i]);
                prev[i] = c;
            }
        }
        lsm_close(db);
        db = tu_open_db(dir, &o);
    }
    lsm_close(db);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_list_delete),
        cmocka_unit_test(test_view_survives_reopen),
        cmocka_unit_test(test_power_loss),
        cmocka_unit_test(test_compaction_keeps_exactly),
        cmocka_unit_test(test_range_deletion_retention),
        cmocka_unit_test(test_concurrent_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
