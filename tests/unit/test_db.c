/*
 * test_db.c — the engine end to end: open/close, locking, refusing foreign
 * directories (lsm_dir_state), snapshots, iterators, large values, WAL recovery,
 * the background threads' priority (background_nice), and a randomized model
 * test against an in-memory map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "db.h"
#include "filename.h"
#include "lsm.h"
#include "testutil.h"
#include "wal.h"
#include "write_batch.h"

/* Small sizes so flushes and compactions happen constantly. */


static void check_value(lsm_db *db, const char *key, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int rc = lsm_get(db, NULL, key, strlen(key), &v, &n);
    if (!want) {
        assert_int_equal(rc, LSM_NOT_FOUND);
        return;
    }
    assert_int_equal(rc, LSM_OK);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(v, want, n);
    lsm_free(v);
}

static void test_put_get_reopen(void **state)
{
    (void)state;
    char *dir = tu_tempdir("db");
    lsm_db *db = tu_open_db(dir, NULL);
    assert_int_equal(lsm_put(db, "a", 1, "1", 1, 0), LSM_OK);
    assert_int_equal(lsm_put(db, "b", 1, "2", 1, LSM_SYNC), LSM_OK);
    assert_int_equal(lsm_put(db, "e", 1, "", 0, 0), LSM_OK);
    assert_int_equal(lsm_delete(db, "a", 1, 0), LSM_OK);
    check_value(db, "a", NULL);
    check_value(db, "b", "2");
    check_value(db, "e", "");
    assert_int_equal(lsm_close(db), LSM_OK);

    db = tu_open_db(dir, NULL);             /* from the WAL */
    check_value(db, "a", NULL);
    check_value(db, "b", "2");
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    assert_true(tu_count_files(dir, ".sst") >= 1);

    db = tu_open_db(dir, NULL);             /* from a table */
    check_value(db, "b", "2");
    check_value(db, "e", "");
    check_value(db, "zz", NULL);
    lsm_close(db);
    tu_rmtree(dir);
    free(dir);
}

static void test_lock_and_foreign_dir(void **state)
{
    (void)state;
    char *dir = tu_tempdir("lock");
    lsm_db *db = tu_open_db(dir, NULL), *db2 = NULL;
    assert_int_equal(lsm_open(dir, NULL, &db2), LSM_BUSY);
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    assert_non_null(strstr(lsm_last_error(), pid));
    lsm_close(db);

    char *foreign = tu_tempdir("foreign"), *file;
    assert_true(asprintf(&file, "%s/notes.txt", foreign) > 0);
    FILE *f = fopen(file, "w");
    fputs("precious", f);
    fclose(f);
    assert_int_equal(lsm_open(foreign, NULL, &db2), LSM_INVALID);
    assert_non_null(strstr(lsm_last_error(), "not an lsm store"));
    assert_int_equal(tu_count_files(foreign, ""), 3); /* ., .., notes.txt */
    tu_rmtree(foreign);
    tu_rmtree(dir);
    free(file);
    free(foreign);
    free(dir);
}

/* lsm_dir_state judges a directory as lsm_open will, without writing;
 * lsm_free_space and lsm_library_version answer from an open store. */
static void test_dir_state_and_space(void **state)
{
    (void)state;
    char *dir = tu_tempdir("dirstate"), *sub, *file;
    assert_true(asprintf(&sub, "%s/store", dir) > 0);
    int st = -1;
    assert_int_equal(lsm_dir_state(sub, NULL, &st), LSM_OK);
    assert_int_equal(st, LSM_DIR_MISSING);
    assert_int_equal(lsm_dir_state(dir, NULL, &st), LSM_OK);
    assert_int_equal(st, LSM_DIR_EMPTY);

    lsm_db *db = tu_open_db(sub, NULL);
    uint64_t free_bytes = 0;
    assert_int_equal(lsm_free_space(db, &free_bytes), LSM_OK);
    assert_true(free_bytes > 0);
    assert_int_equal(lsm_dir_state(sub, NULL, &st), LSM_OK);   /* while open */
    assert_int_equal(st, LSM_DIR_STORE);
    lsm_close(db);
    assert_string_equal(lsm_library_version(), LSMFS_VERSION);

    /* What a failed creation leaves (LOCK, a MANIFEST) is still empty;
     * any other file makes it not a store, and nothing was written. */
    assert_true(asprintf(&file, "%s/CURRENT", sub) > 0);
    assert_int_equal(unlink(file), 0);
    free(file);
    char *wal = tu_find_file(sub, ".log");
    assert_non_null(wal);
    assert_int_equal(unlink(wal), 0);
    free(wal);
    char *res;
    assert_true(asprintf(&res, "%s/RESERVE", sub) > 0);
    unlink(res);
    free(res);
    assert_int_equal(lsm_dir_state(sub, NULL, &st), LSM_OK);
    assert_int_equal(st, LSM_DIR_EMPTY);
    assert_true(asprintf(&file, "%s/notes.txt", sub) > 0);
    FILE *f = fopen(file, "w");
    fclose(f);
    int before = tu_count_files(sub, "");
    assert_int_equal(lsm_dir_state(sub, NULL, &st), LSM_OK);
    assert_int_equal(st, LSM_DIR_OTHER);
    assert_int_equal(tu_count_files(sub, ""), before);
    assert_int_equal(lsm_dir_state(file, NULL, &st), LSM_INVALID);   /* a file */

    tu_rmtree(dir);
    free(file);
    free(sub);
    free(dir);
}

static void test_large_values(void **state)
{
    (void)state;
    char *dir = tu_tempdir("large");
    lsm_db *db = tu_open_db(dir, NULL);
    size_t n = 16u << 20;
    char *big = malloc(n);
    uint64_t s = 7;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = tu_rand(&s);
        memcpy(big + i, &r, 8);
    }
    assert_int_equal(lsm_put(db, "big", 3, big, n, 0), LSM_OK);
    lsm_close(db);
    db = tu_open_db(dir, NULL);
    void *v;
    size_t vn;
    assert_int_equal(lsm_get(db, NULL, "big", 3, &v, &vn), LSM_OK);
    assert_int_equal(vn, n);
    assert_memory_equal(v, big, n);
    lsm_free(v);
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_get(db, NULL, "big", 3, &v, &vn), LSM_OK);
    assert_int_equal(vn, n);
    assert_memory_equal(v, big, n);
    lsm_free(v);
    lsm_close(db);
    free(big);
    tu_rmtree(dir);
    free(dir);
}

static void test_snapshot_and_iterator(void **state)
{
    (void)state;
    char *dir = tu_tempdir("snap");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    char k[16], v[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "k%03d", i);
        snprintf(v, sizeof v, "v%d", i);
        lsm_put(db, k, strlen(k), v, strlen(v), 0);
    }
    const lsm_snapshot *snap = lsm_snapshot_get(db);
    for (int i = 0; i < 100; i += 2) {
        snprintf(k, sizeof k, "k%03d", i);
        lsm_delete(db, k, strlen(k), 0);
    }
    lsm_put(db, "k005", 4, "new", 3, 0);
    assert_int_equal(lsm_flush(db), LSM_OK);

    lsm_read_options ro = { .snapshot = snap };
    void *val;
    size_t vn;
    assert_int_equal(lsm_get(db, &ro, "k004", 4, &val, &vn), LSM_OK);
    lsm_free(val);
    assert_int_equal(lsm_get(db, &ro, "k005", 4, &val, &vn), LSM_OK);
    assert_memory_equal(val, "v5", 2);
    lsm_free(val);
    check_value(db, "k004", NULL);
    check_value(db, "k005", "new");

    int count = 0;
    lsm_iter *it = lsm_iter_new(db, &ro);
    for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it))
        count++;
    assert_int_equal(count, 100);
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    lsm_iter_free(it);

    it = lsm_iter_new(db, NULL);
    count = 0;
    for (lsm_iter_last(it); lsm_iter_valid(it); lsm_iter_prev(it))
        count++;
    assert_int_equal(count, 50);
    lsm_iter_seek(it, "k050", 4);
    size_t kn;
    const char *key = lsm_iter_key(it, &kn);
    assert_memory_equal(key, "k051", 4);
    lsm_iter_prev(it);
    key = lsm_iter_key(it, &kn);
    assert_memory_equal(key, "k049", 4);
    lsm_iter_next(it);
    key = lsm_iter_key(it, &kn);
    assert_memory_equal(key, "k051", 4);
    lsm_iter_free(it);
    lsm_snapshot_release(db, snap);
    lsm_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* Counts what an iterator over the whole store shows. */
static int count_keys(lsm_db *db)
{
    int count = 0;
    lsm_iter *it = lsm_iter_new(db, NULL);
    for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it))
        count++;
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    lsm_iter_free(it);
    return count;
}

/* Every level-0 table's file meta says whether it holds range
 * deletions (LSM_RDELS_*). */
static void check_range_dels_known(lsm_db *db, uint64_t holder)
{
    lsm_version *v = db->vs.current;
    assert_int_equal(v->nfiles[0], 3);
    for (size_t i = 0; i < 3; i++) {
        lsm_file_meta *f = v->files[0][i];
        assert_int_equal(f->range_dels,
                         f->number == holder ? LSM_RDELS_SOME : LSM_RDELS_NONE);
    }
}

/* A new iterator pins the tables holding range deletions, looking up
 * only those (not every table of the store): a flush records in the
 * table's file meta whether it wrote any; a table the manifest names
 * after a reopen learns it at its first iterator.  Iterators honour the
 * deletions either way. */
static void test_iterator_learns_range_deletion_tables(void **state)
{
    (void)state;
    char *dir = tu_tempdir("rdels");
    lsm_options o;
    tu_small_options(&o);
    /* No idle work: due at once after the reopen, it could merge level 0
     * (the tables hold deleted data) before lsm_hold_compactions. */
    o.idle_compaction_ms = 0;
    lsm_db *db = tu_open_db(dir, &o);
    lsm_hold_compactions(db, 1);
    char k[16];
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < 30; i++) {
            snprintf(k, sizeof k, "t%d-%03d", t, i);
            assert_int_equal(lsm_put(db, k, strlen(k), "v", 1, 0), LSM_OK);
        }
        if (t == 1)   /* the second table also hides t0-010 .. t0-019 */
            assert_int_equal(lsm_delete_range(db, "t0-010", 6, "t0-020", 6, 0),
                             LSM_OK);
        assert_int_equal(lsm_flush(db), LSM_OK);
    }
    /* Level 0 is sorted by number: the middle table is the second. */
    uint64_t holder = db->vs.current->files[0][1]->number;
    check_range_dels_known(db, holder);
    assert_int_equal(count_keys(db), 80);
    lsm_hold_compactions(db, 0);
    assert_int_equal(lsm_close(db), LSM_OK);

    db = tu_open_db(dir, &o);
    lsm_hold_compactions(db, 1);
    lsm_version *v = db->vs.current;
    for (size_t i = 0; i < v->nfiles[0]; i++)
        assert_int_equal(v->files[0][i]->range_dels, LSM_RDELS_UNKNOWN);
    assert_int_equal(count_keys(db), 80);
    check_range_dels_known(db, holder);
    assert_int_equal(count_keys(db), 80);
    check_value(db, "t0-015", NULL);
    check_value(db, "t0-020", "v");
    lsm_hold_compactions(db, 0);
    tu_close_and_remove(db, dir);
}

/* A read-only open sees everything, writes nothing, refuses writes. */
static void test_read_only(void **state)
{
    (void)state;
    char *dir = tu_tempdir("ro");
    lsm_db *db = tu_open_db(dir, NULL);
    lsm_put(db, "t", 1, "table", 5, 0);
    assert_int_equal(lsm_flush(db), LSM_OK);
    lsm_put(db, "w", 1, "wal", 3, 0);
    assert_int_equal(lsm_sync(db), LSM_OK);
    lsm_close(db);
    int files = tu_count_files(dir, "");
    char *log = tu_find_file(dir, ".log");
    long long log_size = tu_file_size(log);

    lsm_options o;
    lsm_options_init(&o);
    o.read_only = 1;
    db = tu_open_db(dir, &o);
    check_value(db, "t", "table");
    check_value(db, "w", "wal");
    assert_int_equal(lsm_put(db, "x", 1, "", 0, 0), LSM_INVALID);
    assert_int_equal(lsm_flush(db), LSM_INVALID);
    assert_int_equal(lsm_sync(db), LSM_INVALID);
    lsm_close(db);
    assert_int_equal(tu_count_files(dir, ""), files);
    assert_int_equal(tu_file_size(log), log_size);

    lsm_db *none = NULL;
    char *missing;
    assert_true(asprintf(&missing, "%s/nothing-here", dir) > 0);
    assert_int_equal(lsm_open(missing, &o, &none), LSM_INVALID);
    assert_int_equal(access(missing, F_OK), -1);
    free(missing);
    free(log);
    tu_rmtree(dir);
    free(dir);
}

/* A torn WAL tail loses only the torn record. */
/* Synced puts overwrite zeros written ahead of them: the WAL file does not
 * grow with each one (so its fdatasync changes no metadata: wal.h,
 * lsm_wal_sync_ahead), lsm_disk_bytes counts the records, not the zeros,
 * and a reopen reads every put back from the WAL without taking the
 * zeros for damage. */
static void test_synced_puts_overwrite_the_wal(void **state)
{
    (void)state;
    char *dir = tu_tempdir("ahead");
    lsm_options o;
    lsm_options_init(&o);
    lsm_db *db;
    assert_int_equal(lsm_open(dir, &o, &db), LSM_OK);
    assert_int_equal(lsm_put(db, "k00", 3, "v", 1, LSM_SYNC), LSM_OK);
    char *log = tu_find_file(dir, ".log");
    long long size = tu_file_size(log);
    assert_true(size >= LSM_WAL_PREFILL_BYTES);
    char k[16];
    for (int i = 1; i < 100; i++) {
        snprintf(k, sizeof k, "k%02d", i);
        assert_int_equal(lsm_put(db, k, 3, "v", 1, i % 2 ? LSM_SYNC : 0), LSM_OK);
        if (i % 2)
            assert_int_equal(tu_file_size(log), size);
    }
    assert_int_equal(lsm_sync(db), LSM_OK);
    assert_int_equal(tu_file_size(log), size);
    assert_true(lsm_disk_bytes(db) < 100 * 64);
    lsm_close(db);
    db = tu_open_db(dir, &o);
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "k%02d", i);
        check_value(db, k, "v");
    }
    lsm_close(db);
    free(log);
    tu_rmtree(dir);
    free(dir);
}

static void test_wal_torn_tail(void **state)
{
    (void)state;
    char *dir = tu_tempdir("torn");
    lsm_options o;
    lsm_options_init(&o);
    lsm_db *db;
    assert_int_equal(lsm_open(dir, &o, &db), LSM_OK);
    lsm_put(db, "a", 1, "1", 1, LSM_SYNC);
    lsm_put(db, "b", 1, "2", 1, LSM_SYNC);
    lsm_put(db, "c", 1, "3", 1, 0);
    /* Crash: copy the live WAL aside before close makes it obsolete.
     * Its records end at its last non-zero byte (the value "3"): synced
     * writes prefill zeros past them (wal.h), and "c", unsynced, has no
     * sync mark after it. */
    char *log = tu_find_file(dir, ".log");
    long long size = tu_nonzero_end(log);
    char *copy;
    assert_true(asprintf(&copy, "%s.copy", log) > 0);
    assert_int_equal(tu_copy_file(log, copy), 0);
    lsm_close(db);
    /* Put the crashed WAL back in place, torn in its last record. */
    assert_int_equal(rename(copy, log), 0);
    assert_int_equal(tu_truncate(log, size - 3), 0);
    db = tu_open_db(dir, &o);
    check_value(db, "a", "1");
    check_value(db, "b", "2");
    check_value(db, "c", NULL);
    lsm_close(db);
    free(copy);
    free(log);
    tu_rmtree(dir);
    free(dir);
}

/* Writes WAL `number` of dir: a FOLLOWS mark if follows, then put
 * key=key of sequence seq for each key, then a SEALED mark if sealed. */
static void write_wal(const char *dir, uint64_t number, int follows,
                      const char *const *keys, uint64_t seq, int sealed)
{
    lsm_env *env = lsm_env_posix();
    char *path = lsm_filename(dir, LSM_FILE_LOG, number);
    lsm_file *f;
    lsm_wal_writer *w;
    assert_int_equal(env->open_write(env, path, &f), LSM_OK);
    assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_OK);
    if (follows)
        assert_int_equal(lsm_db_append_mark(w, LSM_MARK_FOLLOWS), LSM_OK);
    for (; *keys; keys++) {
        lsm_batch *b = lsm_batch_new();
        assert_int_equal(lsm_batch_put(b, *keys, strlen(*keys), *keys,
                                       strlen(*keys)), LSM_OK);
        lsm_batch_set_seq(b, seq++);
        assert_int_equal(lsm_wal_append(w, lsm_buf_slice(&b->rep)), LSM_OK);
        lsm_batch_free(b);
    }
    if (sealed)
        assert_int_equal(lsm_db_append_mark(w, LSM_MARK_SEALED), LSM_OK);
    assert_int_equal(lsm_wal_sync(w), LSM_OK);
    lsm_wal_writer_close(w);
    free(path);
}

/* Appends a batch of one put (`vlen` bytes of 'v') at `seq`. */
static void wal_put(lsm_wal_writer *w, const char *k, size_t vlen, uint64_t seq)
{
    lsm_batch *b = lsm_batch_new();
    char *v = malloc(vlen);
    assert_non_null(b);
    assert_non_null(v);
    memset(v, 'v', vlen);
    assert_int_equal(lsm_batch_put(b, k, strlen(k), v, vlen), LSM_OK);
    lsm_batch_set_seq(b, seq);
    assert_int_equal(lsm_wal_append(w, lsm_buf_slice(&b->rep)), LSM_OK);
    lsm_batch_free(b);
    free(v);
}

static void wal_mark(lsm_wal_writer *w, int mark)
{
    assert_int_equal(lsm_db_append_mark(w, mark), LSM_OK);
}

static lsm_wal_writer *wal_create(const char *dir, uint64_t number)
{
    char *path = lsm_filename(dir, LSM_FILE_LOG, number);
    lsm_env *e = lsm_env_posix();
    lsm_file *f;
    lsm_wal_writer *w;
    assert_int_equal(e->open_write(e, path, &f), LSM_OK);
    assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_OK);
    free(path);
    return w;
}

/* A sealed WAL synced without its final mark (as on a full disk) whose
 * synced records are damaged, and a newer WAL with synced writes: the
 * newer WAL's marks prove the older one synced whole, so the damage is
 * corruption (refused), not an unsynced region dropped with every newer
 * WAL after it. */
static void test_wal_mark_in_next_log_proves_synced(void **state)
{
    (void)state;
    char *dir = tu_tempdir("marknext");
    lsm_options o;
    lsm_options_init(&o);
    lsm_db *db;
    assert_int_equal(lsm_open(dir, &o, &db), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    char *log = tu_find_file(dir, ".log");
    uint64_t n = strtoull(strrchr(log, '/') + 1, NULL, 10);
    lsm_wal_writer *w = wal_create(dir, n);
    wal_put(w, "k0", 100, 1);
    assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);    /* zeros ahead */
    wal_put(w, "k1", 5000, 2);
    wal_mark(w, LSM_MARK_SEALED);
    assert_int_equal(lsm_wal_sync(w), LSM_OK);          /* no final mark */
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
    w = wal_create(dir, n + 1);
    wal_mark(w, LSM_MARK_FOLLOWS);
    assert_int_equal(lsm_wal_sync(w), LSM_OK);
    wal_put(w, "k2", 100, 3);
    assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
    wal_put(w, "k3", 100, 4);
    assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
    assert_int_equal(tu_flip_byte(log, 2000, 0x01), 0); /* in k1's value */
    assert_int_equal(lsm_open(dir, &o, &db), LSM_CORRUPTION);
    assert_non_null(strstr(lsm_last_error(), "corrupt record"));
    free(log);
    tu_rmtree(dir);
    free(dir);
}

/* A memtable switch seals the old WAL without fsyncing it.  After a power
 * loss took its tail (and seal), the WAL that FOLLOWS it is not replayed:
 * only the prefix up to the lost tail comes back, and the store goes on
 * from there.  With the seal in place, both are replayed. */
static void test_wal_unsealed_stops_replay(void **state)
{
    (void)state;
    static const char *const old[] = { "a", "b", NULL }, *const next[] = { "c", NULL };
    for (int sealed = 0; sealed <= 1; sealed++) {
        char *dir = tu_tempdir("seal");
        lsm_db *db = tu_open_db(dir, NULL);
        lsm_close(db);
        char *log = tu_find_file(dir, ".log");
        uint64_t number = 0;
        assert_int_equal(lsm_parse_filename(strrchr(log, '/') + 1, &number),
                         LSM_FILE_LOG);
        write_wal(dir, number, 0, old, 1, sealed);
        write_wal(dir, number + 1, 1, next, 3, 0);
        db = tu_open_db(dir, NULL);
        check_value(db, "a", "a");
        check_value(db, "b", "b");
        check_value(db, "c", sealed ? "c" : NULL);
        assert_int_equal(lsm_put(db, "d", 1, "d", 1, LSM_SYNC), LSM_OK);
        lsm_close(db);
        db = tu_open_db(dir, NULL);       /* the skipped WAL stays out */
        check_value(db, "c", sealed ? "c" : NULL);
        check_value(db, "d", "d");
        lsm_close(db);
        free(log);
        tu_rmtree(dir);
        free(dir);
    }
}

/* The newest WAL's first record damaged, with records after it in its
 * block (dropped with it): damage, not the empty spare a switch can leave
 * (db_open.c, log_start), so the open refuses rather than dropping the
 * WAL and the synced writes in it; salvage keeps the older WAL's. */
static void test_wal_damaged_first_block_is_no_spare(void **state)
{
    (void)state;
    static const char *const old[] = { "a", "b", NULL }, *const next[] = { "c", "d", NULL };
    char *dir = tu_tempdir("nospare");
    lsm_db *db = tu_open_db(dir, NULL);
    lsm_close(db);
    char *log = tu_find_file(dir, ".log");
    uint64_t number = 0;
    assert_int_equal(lsm_parse_filename(strrchr(log, '/') + 1, &number), LSM_FILE_LOG);
    write_wal(dir, number, 0, old, 1, 1);
    write_wal(dir, number + 1, 1, next, 3, 0);
    char *newest = lsm_filename(dir, LSM_FILE_LOG, number + 1);
    assert_int_equal(tu_flip_byte(newest, 2, 0x01), 0);  /* FOLLOWS's checksum */
    assert_int_equal(lsm_open(dir, NULL, &db), LSM_CORRUPTION);
    lsm_options o;
    lsm_options_init(&o);
    o.salvage = 1;
    db = tu_open_db(dir, &o);
    check_value(db, "a", "a");
    check_value(db, "b", "b");
    lsm_close(db);
    free(newest);
    free(log);
    tu_rmtree(dir);
    free(dir);
}

static void test_wal_midlog_corruption(void **state)
{
    (void)state;
    char *dir = tu_tempdir("midlog");
    lsm_db *db = tu_open_db(dir, NULL);
    char *log = tu_find_file(dir, ".log");
    char *copy;
    assert_true(asprintf(&copy, "%s.copy", log) > 0);
    static char v[20000];
    memset(v, 'y', sizeof v);
    for (int i = 0; i < 4; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        lsm_put(db, k, strlen(k), v, sizeof v, LSM_SYNC);
    }
    assert_int_equal(tu_copy_file(log, copy), 0);
    lsm_close(db);
    assert_int_equal(rename(copy, log), 0);
    /* Flip a byte inside the first record; valid records follow in
     * later blocks, so this is not a torn tail. */
    assert_int_equal(tu_flip_byte(log, 100, 0x10), 0);
    lsm_db *bad = NULL;
    assert_int_equal(lsm_open(dir, NULL, &bad), LSM_CORRUPTION);
    assert_non_null(strstr(lsm_last_error(), "salvage"));
    lsm_options o;
    lsm_options_init(&o);
    o.salvage = 1;
    db = tu_open_db(dir, &o);
    check_value(db, "k0", NULL);
    void *val;
    size_t vn;
    assert_int_equal(lsm_get(db, NULL, "k3", 2, &val, &vn), LSM_OK);
    lsm_free(val);
    lsm_close(db);
    free(copy);
    free(log);
    tu_rmtree(dir);
    free(dir);
}

/* --- randomized model test --------------------------------------------------- */

#define NKEYS 3000

typedef struct model {
    char *val[NKEYS];
    size_t len[NKEYS];
} model;

static void key_of(int i, char *buf)  /* buf: 16 bytes */
{
    snprintf(buf, 16, "key%06d", i % 1000000);
}

static void model_set(model *m, int i, const char *v, size_t n)
{
    free(m->val[i]);
    m->val[i] = NULL;
    m->len[i] = 0;
    if (v) {
        m->val[i] = malloc(n ? n : 1);
        memcpy(m->val[i], v, n);
        m->len[i] = n;
    }
}

static size_t make_value(uint64_t *rs, char *buf, size_t cap)
{
    size_t n = tu_rand(rs) % 100 == 0 ? 5000 + tu_rand(rs) % 20000
                                      : tu_rand(rs) % 120;
    if (n > cap)
        n = cap;
    uint64_t seed = tu_rand(rs);
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (seed + i * 7) % 26);
    return n;
}

static void check_scan(lsm_db *db, const model *m, const lsm_snapshot *snap)
{
    lsm_read_options ro = { .snapshot = snap };
    lsm_iter *it = lsm_iter_new(db, &ro);
    char k[16];
    int i = 0;
    for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++) {
        while (i < NKEYS && !m->val[i])
            i++;
        assert_true(i < NKEYS);
        key_of(i, k);
        size_t kn, vn;
        const void *key = lsm_iter_key(it, &kn);
        const void *val = lsm_iter_value(it, &vn);
        assert_int_equal(kn, strlen(k));
        assert_memory_equal(key, k, kn);
        assert_int_equal(vn, m->len[i]);
        assert_memory_equal(val, m->val[i], vn);
    }
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    while (i < NKEYS && !m->val[i])
        i++;
    assert_int_equal(i, NKEYS);
    /* backward */
    i = NKEYS - 1;
    for (lsm_iter_last(it); lsm_iter_valid(it); lsm_iter_prev(it), i--) {
        while (i >= 0 && !m->val[i])
            i--;
        assert_true(i >= 0);
        key_of(i, k);
        size_t kn;
        const void *key = lsm_iter_key(it, &kn);
        assert_memory_equal(key, k, kn);
    }
    while (i >= 0 && !m->val[i])
        i--;
    assert_int_equal(i, -1);
    lsm_iter_free(it);
}

static void check_gets(lsm_db *db, const model *m)
{
    char k[16];
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, k);
        void *v;
        size_t n;
        int rc = lsm_get(db, NULL, k, strlen(k), &v, &n);
        if (!m->val[i]) {
            if (rc != LSM_NOT_FOUND)
                fail_msg("key %s: expected absent, got rc %d", k, rc);
            continue;
        }
        if (rc != LSM_OK)
            fail_msg("key %s: expected present, got rc %d (%s)", k, rc,
                     lsm_last_error());
        assert_int_equal(n, m->len[i]);
        assert_memory_equal(v, m->val[i], n);
        lsm_free(v);
    }
}

static void apply_random_op(lsm_db *db, model *m, uint64_t *rs, char *vbuf,
                            lsm_batch *b)
{
    char k[16], k2[16];
    int r = (int)(tu_rand(rs) % 100);
    int i = (int)(tu_rand(rs) % NKEYS);
    key_of(i, k);
    if (r < 55) {
        size_t n = make_value(rs, vbuf, 30000);
        assert_int_equal(lsm_put(db, k, strlen(k), vbuf, n, 0), LSM_OK);
        model_set(m, i, vbuf, n);
    } else if (r < 80) {
        assert_int_equal(lsm_delete(db, k, strlen(k), 0), LSM_OK);
        model_set(m, i, NULL, 0);
    } else if (r < 98) {
        lsm_batch_clear(b);
        int ops = 1 + (int)(tu_rand(rs) % 10);
        int idx[10];
        size_t lens[10];
        char *vals[10];
        for (int j = 0; j < ops; j++) {
            idx[j] = (int)(tu_rand(rs) % NKEYS);
            key_of(idx[j], k2);
            if (tu_rand(rs) % 3) {
                lens[j] = make_value(rs, vbuf, 2000);
                vals[j] = malloc(lens[j] + 1);
                memcpy(vals[j], vbuf, lens[j]);
                lsm_batch_put(b, k2, strlen(k2), vals[j], lens[j]);
            } else {
                vals[j] = NULL;
                lens[j] = 0;
                lsm_batch_delete(b, k2, strlen(k2));
            }
        }
        assert_int_equal(lsm_write(db, b, 0), LSM_OK);
        for (int j = 0; j < ops; j++) {
            model_set(m, idx[j], vals[j], lens[j]);
            free(vals[j]);
        }
    } else {
        int len = 1 + (int)(tu_rand(rs) % 40);
        int end = i + len > NKEYS ? NKEYS : i + len;
        key_of(end, k2);
        if (end == NKEYS)
            strcpy(k2, "key999999");
        assert_int_equal(lsm_delete_range(db, k, strlen(k), k2, strlen(k2), 0),
                         LSM_OK);
        for (int j = i; j < end; j++)
            model_set(m, j, NULL, 0);
    }
}

/* With either compaction style (the store's merges differ, the
 * contents must not). */
static void model_run(int style)
{
    char *dir = tu_tempdir("model");
    lsm_options o;
    tu_small_options(&o);
    o.compaction_style = style;
    lsm_db *db = tu_open_db(dir, &o);
    model *m = calloc(1, sizeof *m);
    char *vbuf = malloc(30000);
    lsm_batch *b = lsm_batch_new();
    uint64_t rs = 12345;
    const int ops = 100000;
    for (int n = 1; n <= ops; n++) {
        apply_random_op(db, m, &rs, vbuf, b);
        if (n % 2500 == 0)
            assert_int_equal(lsm_flush(db), LSM_OK);
        if (n % 7000 == 0) {
            check_gets(db, m);
            check_scan(db, m, NULL);
            assert_int_equal(lsm_close(db), LSM_OK);
            db = tu_open_db(dir, &o);
        }
        if (n % 30000 == 0)
            assert_int_equal(lsm_compact(db), LSM_OK);
    }
    check_gets(db, m);
    check_scan(db, m, NULL);
    lsm_close(db);
    db = tu_open_db(dir, &o);
    check_gets(db, m);
    check_scan(db, m, NULL);
    lsm_close(db);
    for (int i = 0; i < NKEYS; i++)
        free(m->val[i]);
    free(m);
    free(vbuf);
    lsm_batch_free(b);
    tu_rmtree(dir);
    free(dir);
}

/* Threads of this process named name whose nice value is nice
 * (/proc/self/task/N/stat: the name, field 2, is in parentheses and may
 * hold spaces; nice is field 19). */
static int threads_at_nice(const char *name, int nice)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], line[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;                /* the thread ended */
        char *got = fgets(line, sizeof line, f);
        fclose(f);
        const char *p = got ? strrchr(line, ')') : NULL;
        const char *lp = got ? strchr(line, '(') : NULL;
        if (p == NULL || lp == NULL || (size_t)(p - lp - 1) != strlen(name) ||
            strncmp(lp + 1, name, strlen(name)) != 0)
            continue;
        int field = 2, v = 0;
        for (; p != NULL && *p != '\0' && field < 19; p++)
            if (*p == ' ')
                field++;
        assert_true(p != NULL && sscanf(p, "%d", &v) == 1);
        n += v == nice;
    }
    closedir(d);
    return n;
}

/* The flush and compaction threads run background_nice above the opener
 * (nice 0 here, or what the test was started with: counted relative). */
static void test_background_nice(void **state)
{
    (void)state;
    char *dir = tu_tempdir("nice");
    lsm_options o;
    lsm_options_init(&o);
    lsm_db *db = NULL;
    o.background_nice = 20;
    assert_int_equal(lsm_open(dir, &o, &db), LSM_INVALID);
    o.background_nice = -1;
    assert_int_equal(lsm_open(dir, &o, &db), LSM_INVALID);
    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    assert_int_equal(errno, 0);
    int want = base + 7 > 19 ? 19 : base + 7;
    o.background_nice = 7;
    o.flush_threads = 2;
    o.compaction_threads = 1;
    db = tu_open_db(dir, &o);
    /* lsm_open returns once each has named itself and lowered its nice. */
    assert_int_equal(threads_at_nice("lsm-flush", want), 2);
    assert_int_equal(threads_at_nice("lsm-compact", want), 1);
    assert_int_equal(getpriority(PRIO_PROCESS, 0), base);  /* not the opener */
    assert_int_equal(lsm_close(db), LSM_OK);
    tu_rmtree(dir);
    free(dir);
}

static void test_model(void **state)
{
    (void)state;
    model_run(LSM_COMPACTION_LEVELED);
}

static void test_model_tiered(void **state)
{
    (void)state;
    model_run(LSM_COMPACTION_TIERED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_reopen),
        cmocka_unit_test(test_lock_and_foreign_dir),
        cmocka_unit_test(test_dir_state_and_space),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_snapshot_and_iterator),
        cmocka_unit_test(test_iterator_learns_range_deletion_tables),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_wal_torn_tail),
        cmocka_unit_test(test_synced_puts_overwrite_the_wal),
        cmocka_unit_test(test_wal_midlog_corruption),
        cmocka_unit_test(test_wal_unsealed_stops_replay),
        cmocka_unit_test(test_wal_damaged_first_block_is_no_spare),
        cmocka_unit_test(test_background_nice),
        cmocka_unit_test(test_wal_mark_in_next_log_proves_synced),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_model_tiered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
