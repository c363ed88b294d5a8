/*
 * test_fault_env.c — the fault-injecting, crash-simulating env of
 * tests/support/fault_env.c: file and namespace semantics, what each crash
 * mode keeps, injected failures, locks, capacity, and a WAL surviving
 * random crashes.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "env.h"
#include "fault_env.h"
#include "lsm.h"
#include "wal.h"

typedef struct fixture {
    fault_env *fe;
    lsm_env *e;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    fx->fe = fault_env_new(42);
    if (!fx->fe) {
        free(fx);
        return -1;
    }
    fx->e = fault_env_base(fx->fe);
    if (fx->e->mkdir(fx->e, "/db")) {
        fault_env_free(fx->fe);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    fault_env_free(fx->fe);
    free(fx);
    return 0;
}

/* Creates path with the given contents; syncs the file if `sync`. */
static void put_file(lsm_env *e, const char *path, const char *text, int sync)
{
    lsm_file *f;
    assert_int_equal(e->open_write(e, path, &f), LSM_OK);
    assert_int_equal(lsm_file_append(f, text, strlen(text)), LSM_OK);
    if (sync)
        assert_int_equal(lsm_file_sync(f), LSM_OK);
    assert_int_equal(lsm_file_close(f), LSM_OK);
}

/* Asserts path holds exactly `text`. */
static void expect_file(lsm_env *e, const char *path, const char *text)
{
    char *data;
    size_t n;
    assert_int_equal(lsm_env_read_file(e, path, &data, &n), LSM_OK);
    assert_int_equal(n, strlen(text));
    assert_memory_equal(data, text, n);
    free(data);
}

static void crash(fixture *fx, int mode)
{
    fault_env_crash(fx->fe, mode);
    fault_env_restart(fx->fe);
}

static void test_files_and_namespace(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->e;
    lsm_file *f;
    put_file(e, "/db/a", "alpha", 0);
    expect_file(e, "/db/a", "alpha");
    assert_true(e->exists(e, "/db/a"));
    assert_true(e->exists(e, "//db/"));   /* normalised */
    assert_true(e->exists(e, "/db//a"));
    assert_false(e->exists(e, "/db/b"));

    assert_int_equal(e->open_append(e, "/db/a", &f), LSM_OK);
    assert_int_equal(lsm_file_append(f, "+beta", 5), LSM_OK);
    uint64_t size;
    assert_int_equal(lsm_file_size(f, &size), LSM_OK);
    assert_int_equal(size, 10);
    char buf[16];
    size_t got;
    assert_int_equal(lsm_file_pread(f, 3, buf, sizeof buf, &got), LSM_OK);
    assert_int_equal(got, 7);
    assert_memory_equal(buf, "ha+beta", 7);
    assert_int_equal(lsm_file_pread(f, 99, buf, 4, &got), LSM_OK);
    assert_int_equal(got, 0);
    assert_int_equal(lsm_file_close(f), LSM_OK);

    assert_int_equal(e->open_read(e, "/db/a", &f), LSM_OK);
    assert_int_equal(lsm_file_append(f, "x", 1), LSM_INVALID);
    assert_int_equal(lsm_file_close(f), LSM_OK);

    /* Errors name the path and map like the POSIX env (ENOENT). */
    assert_int_equal(e->open_read(e, "/db/missing", &f), LSM_INVALID);
    assert_non_null(strstr(lsm_last_error(), "/db/missing"));
    assert_int_equal(e->open_write(e, "/nodir/x", &f), LSM_INVALID);
    assert_int_not_equal(e->open_write(e, "/db", &f), LSM_OK); /* a dir */
    assert_int_not_equal(e->unlink(e, "/db/missing"), LSM_OK);
    assert_int_not_equal(e->rename(e, "/db/missing", "/db/x"), LSM_OK);
    assert_int_not_equal(e->rename(e, "/db/a", "/nodir/x"), LSM_OK);
    assert_int_not_equal(e->sync_dir(e, "/nodir"), LSM_OK);
    assert_int_not_equal(e->mkdir(e, "/db/a"), LSM_OK);   /* file in the way */
    assert_int_not_equal(e->mkdir(e, "/x/y"), LSM_OK);    /* no parent */
    assert_int_equal(e->mkdir(e, "/db"), LSM_OK);         /* EEXIST is fine */
    assert_int_equal(e->mkdir(e, "/db/sub"), LSM_OK);

    put_file(e, "/db/sub/inner", "i", 0);
    assert_int_equal(e->rename(e, "/db/a", "/db/b"), LSM_OK);
    assert_false(e->exists(e, "/db/a"));
    expect_file(e, "/db/b", "alpha+beta");
    char **names;
    size_t n;
    assert_int_equal(e->list_dir(e, "/db", &names, &n), LSM_OK);
    assert_int_equal(n, 2);
    int saw_b = 0, saw_sub = 0;
    for (size_t i = 0; i < n; i++) {
        saw_b += !strcmp(names[i], "b");
        saw_sub += !strcmp(names[i], "sub");
    }
    assert_true(saw_b && saw_sub);
    lsm_env_free_names(names, n);
    assert_int_not_equal(e->list_dir(e, "/none", &names, &n), LSM_OK);

    assert_int_equal(e->unlink(e, "/db/b"), LSM_OK);
    assert_false(e->exists(e, "/db/b"));
    assert_int_equal(fault_env_file_size(fx->fe, "/db/b"), -1);
    assert_int_equal(fault_env_file_size(fx->fe, "/db/sub/inner"), 1);

    /* An open handle keeps an unlinked file's bytes. */
    assert_int_equal(e->open_read(e, "/db/sub/inner", &f), LSM_OK);
    assert_int_equal(e->unlink(e, "/db/sub/inner"), LSM_OK);
    assert_int_equal(lsm_file_pread(f, 0, buf, 1, &got), LSM_OK);
    assert_int_equal(got, 1);
    assert_int_equal(lsm_file_close(f), LSM_OK);
}

static void test_crash_drops_unsynced_appends(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->e;
    lsm_file *f;
    assert_int_equal(e->open_write(e, "/db/log", &f), LSM_OK);
    assert_int_equal(lsm_file_append(f, "synced.", 7), LSM_OK);
    assert_int_equal(lsm_file_sync(f), LSM_OK);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_OK);
    assert_int_equal(lsm_file_append(f, "lost", 4), LSM_OK);
    crash(fx, FAULT_CRASH_DROP_ALL);
    expect_file(e, "/db/log", "synced.");
    /* The pre-crash handle is dead; closing it is still fine. */
    assert_int_equal(lsm_file_append(f, "x", 1), LSM_IO_ERROR);
    assert_non_null(strstr(lsm_last_error(), "before a simulated crash"));
    uint64_t size;
    assert_int_equal(lsm_file_size(f, &size), LSM_IO_ERROR);
    assert_int_equal(lsm_file_sync(f), LSM_IO_ERROR);
    assert_int_equal(lsm_file_close(f), LSM_OK);
}

static void test_process_crash_keeps_flushed(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->e;
    lsm_file *f;
    /* Neither the file nor its name was ever synced. */
    assert_int_equal(e->open_write(e, "/db/log", &f), LSM_OK);
    assert_int_equal(lsm_file_append(f, "kernel.", 7), LSM_OK);
    assert_int_equal(lsm_file_flush(f), LSM_OK);
    assert_int_equal(lsm_file_append(f, "buffered", 8), LSM_OK);
    put_file(e, "/db/closed", "closed", 0);   /* close flushes */
    assert_int_equal(e->rename(e, "/db/closed", "/db/moved"), LSM_OK);
    crash(fx, FAULT_CRASH_PROCESS);
    expect_file(e, "/db/log", "kernel.");
    expect_file(e, "/db/moved", "closed");
    assert_false(e->exists(e, "/db/closed"));
    assert_int_equal(lsm_file_flush(f), LSM_IO_ERROR);   /* dead handle */
    assert_int_equal(lsm_file_close(f), LSM_OK);
    /* Power loss after that still loses what was never synced. */
    crash(fx, FAULT_CRASH_DROP_ALL);
    assert_false(e->exists(e, "/db/log"));
    assert_false(e->exists(e, "/db/moved"));
}

static void test_entries_need_dir_sync(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->e;
    /* Synced data, but the name itself was never made durable. */
    put_file(e, "/db/new", "data", 1);
    crash(fx, FAULT_CRASH_DROP_ALL);
    assert_false(e->exists(e, "/db/new"));

    /* Durable file; rename and unlink undone without a dir sync. */
    put_file(e, "/db/a", "A", 1);
    put_file(e, "/db/b", "B", 1);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_OK);
    assert_int_equal(e->rename(e, "/db/a", "/db/b"), LSM_OK);
    put_file(e, "/db/c", "C", 1);
    assert_int_equal(e->unlink(e, "/db/c"), LSM_OK);
    expect_file(e, "/db/b", "A");
    crash(fx, FAULT_CRASH_DROP_ALL);
    expect_file(e, "/db/a", "A");
    expect_file(e, "/db/b", "B");
    assert_false(e->exists(e, "/db/c"));

    /* With the dir sync they stick, and a durable unlink too. */
    assert_int_equal(e->rename(e, "/db/a", "/db/b"), LSM_OK);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_OK);
    crash(fx, FAULT_CRASH_DROP_ALL);
    assert_false(e->exists(e, "/db/a"));
    expect_file(e, "/db/b", "A");
    assert_int_equal(e->unlink(e, "/db/b"), LSM_OK);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_OK);
    crash(fx, FAULT_CRASH_DROP_ALL);
    assert_false(e->exists(e, "/db/b"));

    /* Syncing one directory does not sync another. */
    assert_int_equal(e->mkdir(e, "/db/sub"), LSM_OK);
    put_file(e, "/db/sub/x", "x", 1);
    put_file(e, "/db/y", "y", 1);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_OK);
    crash(fx, FAULT_CRASH_DROP_ALL);
    assert_true(e->exists(e, "/db/sub")); /* mkdir is durable at once */
    assert_false(e->exists(e, "/db/sub/x"));
    expect_file(e, "/db/y", "y");
}

static void test_truncate_needs_file_sync(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->e;
    put_file(e, "/db/CURRENT", "old contents", 1);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_OK);
    put_file(e, "/db/CURRENT", "new", 0); /* truncate + write, no sync */
    expect_file(e, "/db/CURRENT", "new");
    crash(fx, FAULT_CRASH_RANDOM_PREFIX);
    expect_file(e, "/db/CURRENT", "old contents");
    put_file(e, "/db/CURRENT", "new", 1);
    crash(fx, FAULT_CRASH_DROP_ALL);
    expect_file(e, "/db/CURRENT", "new");
}

/* Writes `synced` bytes and syncs, then `more` unsynced bytes; crashes in
 * mode; returns what is left (malloc'ed) and its length. */
static char *crash_one(fixture *fx, const char *content, size_t synced,
                       size_t total, int mode, size_t *left)
{
    lsm_env *e = fx->e;
    lsm_file *f;
    assert_int_equal(e->open_write(e, "/db/f", &f), LSM_OK);
    assert_int_equal(lsm_file_append(f, content, synced), LSM_OK);
    assert_int_equal(lsm_file_sync(f), LSM_OK);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_OK);
    assert_int_equal(lsm_file_append(f, content + synced, total - synced),
                     LSM_OK);
    crash(fx, mode);
    assert_int_equal(lsm_file_close(f), LSM_OK);
    char *data;
    assert_int_equal(lsm_env_read_file(e, "/db/f", &data, left), LSM_OK);
    return data;
}

static void test_crash_modes(void **state)
{
    fixture *fx = *state;
    char content[1000];
    for (size_t i = 0; i < sizeof content; i++)
        content[i] = (char)('a' + i % 26);
    const size_t synced = 300, total = sizeof content;
    int saw_none = 0, saw_all = 0, saw_partial = 0;
    for (int round = 0; round < 200; round++) {
        size_t n;
        char *d = crash_one(fx, content, synced, total,
                            FAULT_CRASH_RANDOM_PREFIX, &n);
        assert_true(n >= synced && n <= total);
        assert_memory_equal(d, content, n);
        saw_none += n == synced;
        saw_all += n == total;
        saw_partial += n > synced && n < total;
        free(d);
    }
    assert_true(saw_partial > 100);
    (void)saw_none;
    (void)saw_all;

    for (int round = 0; round < 100; round++) {
        size_t n;
        char *d = crash_one(fx, content, synced, total,
                            FAULT_CRASH_PREFIX_GARBAGE, &n);
        assert_true(n > synced && n <= total); /* at least one junk byte */
        assert_memory_equal(d, content, synced);
        free(d);
        d = crash_one(fx, content, synced, total, FAULT_CRASH_PREFIX_ZEROS,
                      &n);
        assert_true(n > synced && n <= total);
        assert_memory_equal(d, content, synced);
        assert_int_equal(d[n - 1], 0); /* ends in zeros */
        size_t k = synced;
        while (k < n && d[k] == content[k])
            k++;
        for (size_t i = k; i < n; i++)
            assert_int_equal(d[i], 0);
        free(d);
        d = crash_one(fx, content, synced, total, FAULT_CRASH_DROP_ALL, &n);
        assert_int_equal(n, synced);
        free(d);
    }
    /* Nothing unsynced: every mode keeps the file as it is. */
    for (int mode = 0; mode <= FAULT_CRASH_PREFIX_ZEROS; mode++) {
        size_t n;
        char *d = crash_one(fx, content, total, total, mode, &n);
        assert_int_equal(n, total);
        assert_memory_equal(d, content, total);
        free(d);
    }
}

static void test_crash_is_deterministic(void **state)
{
    (void)state;
    size_t len[2];
    for (int run = 0; run < 2; run++) {
        fault_env *fe = fault_env_new(1234);
        assert_non_null(fe);
        lsm_env *e = fault_env_base(fe);
        lsm_file *f;
        assert_int_equal(e->open_write(e, "/f", &f), LSM_OK);
        assert_int_equal(e->sync_dir(e, "/"), LSM_OK);
        char buf[4096] = { 1 };
        assert_int_equal(lsm_file_append(f, buf, sizeof buf), LSM_OK);
        fault_env_crash(fe, FAULT_CRASH_RANDOM_PREFIX);
        assert_int_equal(lsm_file_close(f), LSM_OK);
        len[run] = (size_t)fault_env_file_size(fe, "/f");
        fault_env_free(fe);
    }
    assert_int_equal(len[0], len[1]);
}

static void test_down_until_restart(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->e;
    put_file(e, "/db/a", "A", 1);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_OK);
    fault_env_crash(fx->fe, FAULT_CRASH_DROP_ALL);
    lsm_file *f;
    assert_int_equal(e->open_write(e, "/db/b", &f), LSM_IO_ERROR);
    assert_non_null(strstr(lsm_last_error(), "simulated crash"));
    assert_int_equal(e->open_read(e, "/db/a", &f), LSM_IO_ERROR);
    assert_int_equal(e->rename(e, "/db/a", "/db/c"), LSM_IO_ERROR);
    assert_int_equal(e->unlink(e, "/db/a"), LSM_IO_ERROR);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_IO_ERROR);
    assert_int_equal(e->mkdir(e, "/db/d"), LSM_IO_ERROR);
    char **names;
    size_t n;
    assert_int_equal(e->list_dir(e, "/db", &names, &n), LSM_IO_ERROR);
    assert_false(e->exists(e, "/db/a"));
    uint64_t space;
    assert_int_equal(e->free_space(e, "/db", &space), LSM_IO_ERROR);
    assert_int_equal(e->lock(e, "/db/LOCK", NULL, &f), LSM_IO_ERROR);
    fault_env_restart(fx->fe);
    expect_file(e, "/db/a", "A");
    assert_false(e->exists(e, "/db/c"));
}

static void test_injected_failures(void **state)
{
    fixture *fx = *state;
    fault_env *fe = fx->fe;
    lsm_env *e = fx->e;
    lsm_file *f;

    /* Open: the 2nd open fails once with EIO. */
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_OPEN), 1, LSM_IO_ERROR, 0);
    assert_int_equal(e->open_write(e, "/db/a", &f), LSM_OK);
    assert_int_equal(lsm_file_close(f), LSM_OK);
    assert_int_equal(e->open_write(e, "/db/b", &f), LSM_IO_ERROR);
    assert_non_null(strstr(lsm_last_error(), "/db/b"));
    assert_non_null(strstr(lsm_last_error(), "Input/output error"));
    assert_false(e->exists(e, "/db/b"));
    assert_int_equal(e->open_write(e, "/db/b", &f), LSM_OK); /* one-shot */
    assert_int_equal(fault_env_faults_fired(fe), 1);

    /* Write: ENOSPC on the first append; a prefix may have landed. */
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_WRITE), 0, LSM_NO_SPACE, 0);
    assert_int_equal(lsm_file_append(f, "0123456789", 10), LSM_NO_SPACE);
    assert_non_null(strstr(lsm_last_error(), "No space left"));
    int64_t partial = fault_env_file_size(fe, "/db/b");
    assert_true(partial >= 0 && partial <= 10);
    assert_int_equal(lsm_file_append(f, "x", 1), LSM_OK);

    /* Sync: fails forever from the 2nd on; nothing becomes durable. */
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_SYNC), 1, LSM_IO_ERROR, 1);
    assert_int_equal(lsm_file_sync(f), LSM_OK);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_OK); /* not in the mask */
    assert_int_equal(lsm_file_append(f, "more", 4), LSM_OK);
    assert_int_equal(lsm_file_sync(f), LSM_IO_ERROR);
    assert_int_equal(lsm_file_sync(f), LSM_IO_ERROR);
    fault_env_clear_faults(fe);
    assert_int_equal(lsm_file_close(f), LSM_OK);
    crash(fx, FAULT_CRASH_DROP_ALL);
    assert_int_equal(fault_env_file_size(fe, "/db/b"), partial + 1);

    /* Rename: the failure changes nothing. */
    put_file(e, "/db/t", "T", 1);
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_RENAME), 0, LSM_IO_ERROR, 0);
    assert_int_equal(e->rename(e, "/db/t", "/db/u"), LSM_IO_ERROR);
    assert_true(e->exists(e, "/db/t"));
    assert_false(e->exists(e, "/db/u"));

    /* Mask of several ops, sync_dir and unlink included. */
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_SYNC_DIR) |
                         FAULT_MASK(FAULT_OP_UNLINK), 0, LSM_IO_ERROR, 1);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_IO_ERROR);
    assert_int_equal(e->unlink(e, "/db/t"), LSM_IO_ERROR);
    fault_env_clear_faults(fe);
    assert_int_equal(e->unlink(e, "/db/t"), LSM_OK);

    /* Reads. */
    put_file(e, "/db/r", "R", 0);
    assert_int_equal(e->open_read(e, "/db/r", &f), LSM_OK);
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_READ), 0, LSM_IO_ERROR, 0);
    char c;
    size_t got;
    assert_int_equal(lsm_file_pread(f, 0, &c, 1, &got), LSM_IO_ERROR);
    assert_int_equal(lsm_file_pread(f, 0, &c, 1, &got), LSM_OK);
    assert_int_equal(got, 1);
    assert_int_equal(lsm_file_close(f), LSM_OK);

    /* Counters see every call, failed ones included. */
    assert_int_equal(fault_env_op_count(fe, FAULT_OP_OPEN), 6);
    assert_true(fault_env_op_count(fe, FAULT_OP_WRITE) >= 4);
    assert_true(fault_env_op_count(fe, FAULT_OP_SYNC) >= 3);
    assert_int_equal(fault_env_op_count(fe, FAULT_OP_RENAME), 1);
    assert_int_equal(fault_env_op_count(fe, FAULT_OP_UNLINK), 2);
    assert_int_equal(fault_env_op_count(fe, FAULT_OP_READ), 2);
    assert_int_equal(fault_env_op_count(fe, FAULT_OP_COUNT), 0);
    assert_int_equal(fault_env_faults_fired(fe), 8);
}

static void test_atomic_write_with_faults(void **state)
{
    fixture *fx = *state;
    fault_env *fe = fx->fe;
    lsm_env *e = fx->e;
    assert_int_equal(lsm_env_write_file_atomic(e, "/db", "CURRENT", "v1", 2),
                     LSM_OK);
    crash(fx, FAULT_CRASH_RANDOM_PREFIX);
    expect_file(e, "/db/CURRENT", "v1");
    /* Each step failing leaves the old version and no temp file. */
    unsigned masks[] = { FAULT_MASK(FAULT_OP_OPEN), FAULT_MASK(FAULT_OP_WRITE),
                         FAULT_MASK(FAULT_OP_SYNC),
                         FAULT_MASK(FAULT_OP_RENAME) };
    for (int i = 0; i < 4; i++) {
        fault_env_fail_after(fe, masks[i], 0, LSM_IO_ERROR, 0);
        assert_int_equal(lsm_env_write_file_atomic(e, "/db", "CURRENT",
                                                   "v2-longer", 9),
                         LSM_IO_ERROR);
        assert_non_null(strstr(lsm_last_error(), "CURRENT.tmp"));
        assert_non_null(strstr(lsm_last_error(), "injected"));
        assert_false(e->exists(e, "/db/CURRENT.tmp"));
        expect_file(e, "/db/CURRENT", "v1");
        crash(fx, FAULT_CRASH_PREFIX_GARBAGE);
        expect_file(e, "/db/CURRENT", "v1");
    }
    /* A failed directory sync: the rename happened but is not durable, so
     * the crash brings back the old version, complete. */
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_SYNC_DIR), 0, LSM_IO_ERROR,
                         0);
    assert_int_equal(lsm_env_write_file_atomic(e, "/db", "CURRENT", "v3", 2),
                     LSM_IO_ERROR);
    crash(fx, FAULT_CRASH_PREFIX_GARBAGE);
    expect_file(e, "/db/CURRENT", "v1");
}

static void test_locks(void **state)
{
    fixture *fx = *state;
    lsm_env *e = fx->e;
    lsm_file *l1, *l2;
    assert_int_equal(e->lock(e, "/db/LOCK", NULL, &l1), LSM_OK);
    assert_true(e->exists(e, "/db/LOCK"));
    assert_int_equal(e->lock(e, "/db/LOCK", NULL, &l2), LSM_BUSY);
    char expect[64];
    snprintf(expect, sizeof expect, "store /db is locked by process %ld",
             (long)getpid());
    assert_string_equal(lsm_last_error(), expect);
    assert_int_equal(e->lock(e, "/db/../other/LOCK", NULL, &l2), LSM_INVALID);
    assert_int_equal(e->unlock(e, l1), LSM_OK);
    assert_int_equal(e->lock(e, "/db/LOCK", NULL, &l1), LSM_OK);
    /* A crash releases it (the process died); the stale handle's unlock
     * must not release the new holder's lock. */
    crash(fx, FAULT_CRASH_DROP_ALL);
    assert_int_equal(e->lock(e, "/db/LOCK", NULL, &l2), LSM_OK);
    assert_int_equal(e->unlock(e, l1), LSM_OK);
    assert_int_equal(e->lock(e, "/db/LOCK", NULL, &l1), LSM_BUSY);
    assert_int_equal(e->unlock(e, l2), LSM_OK);
}

static void test_capacity(void **state)
{
    fixture *fx = *state;
    fault_env *fe = fx->fe;
    lsm_env *e = fx->e;
    fault_env_set_capacity(fe, 100);
    uint64_t space;
    assert_int_equal(e->free_space(e, "/db", &space), LSM_OK);
    assert_int_equal(space, 100);
    lsm_file *f;
    assert_int_equal(e->open_write(e, "/db/a", &f), LSM_OK);
    char buf[80] = { 0 };
    assert_int_equal(lsm_file_append(f, buf, 80), LSM_OK);
    assert_int_equal(e->free_space(e, "/db", &space), LSM_OK);
    assert_int_equal(space, 20);
    assert_int_equal(lsm_file_append(f, buf, 30), LSM_NO_SPACE);
    assert_int_equal(fault_env_file_size(fe, "/db/a"), 100); /* part landed */
    assert_int_equal(lsm_file_close(f), LSM_OK);
    /* Deleting frees space. */
    assert_int_equal(e->unlink(e, "/db/a"), LSM_OK);
    assert_int_equal(e->free_space(e, "/db", &space), LSM_OK);
    assert_int_equal(space, 100);
}

static void test_damage_helpers(void **state)
{
    fixture *fx = *state;
    fault_env *fe = fx->fe;
    lsm_env *e = fx->e;
    put_file(e, "/db/a", "abcdef", 1);
    assert_int_equal(e->sync_dir(e, "/db"), LSM_OK);
    assert_int_equal(fault_env_flip_bit(fe, "/db/a", 1, 0), 0); /* b -> c */
    assert_int_equal(fault_env_flip_bit(fe, "/db/a", 6, 0), -1);
    assert_int_equal(fault_env_flip_bit(fe, "/db/none", 0, 0), -1);
    assert_int_equal(fault_env_truncate(fe, "/db/a", 4), 0);
    assert_int_equal(fault_env_truncate(fe, "/db/a", 5), -1);
    expect_file(e, "/db/a", "accd");
    crash(fx, FAULT_CRASH_DROP_ALL); /* the damage is on the "medium" */
    expect_file(e, "/db/a", "accd");
}

/* A log written with a sync after every 4th record but the last eight or
 * more, then crashed: every
 * synced record comes back, in order, nothing partial or invented, and
 * whatever was lost is at most a torn tail. */
static void test_wal_survives_crashes(void **state)
{
    (void)state;
    int lost_some = 0, kept_unsynced = 0, torn = 0;
    for (uint64_t seed = 1; seed <= 60; seed++) {
        fault_env *fe = fault_env_new(seed);
        assert_non_null(fe);
        lsm_env *e = fault_env_base(fe);
        lsm_file *f;
        assert_int_equal(e->open_write(e, "/000001.log", &f), LSM_OK);
        assert_int_equal(e->sync_dir(e, "/"), LSM_OK);
        lsm_wal_writer *w;
        assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_OK);
        int n = 20 + (int)(seed % 7), synced = 0;
        char *rec = malloc(70000);
        assert_non_null(rec);
        for (int i = 0; i < n; i++) {
            size_t len = (size_t)(i * 7919 + seed * 31) % (i % 5 ? 300 : 70000);
            memset(rec, 'a' + i % 26, len);
            assert_int_equal(lsm_wal_append(w, lsm_slice_make(rec, len)),
                             LSM_OK);
            if (i % 4 == 3 && i < n - 8) { /* leave a long unsynced tail */
                assert_int_equal(lsm_wal_sync(w), LSM_OK);
                synced = i + 1;
            }
        }
        fault_env_crash(fe, (int)(seed % 4));
        assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
        fault_env_restart(fe);

        assert_int_equal(e->open_read(e, "/000001.log", &f), LSM_OK);
        lsm_wal_reader *r;
        assert_int_equal(lsm_wal_reader_new(f, "/000001.log", &r), LSM_OK);
        lsm_slice s;
        int i = 0, rc;
        while ((rc = lsm_wal_read(r, &s)) == 1) {
            size_t len = (size_t)(i * 7919 + seed * 31) %
                         (i % 5 ? 300 : 70000);
            assert_int_equal(s.len, len);
            for (size_t k = 0; k < len; k++)
                assert_int_equal(s.data[k], 'a' + i % 26);
            i++;
        }
        assert_int_equal(rc, 0);
        assert_true(i >= synced && i <= n);
        assert_int_equal(lsm_wal_reader_damage(r)->before_tail, 0);
        lost_some += i < n;
        kept_unsynced += i > synced;
        torn += lsm_wal_reader_damage(r)->regions > 0;
        lsm_wal_reader_free(r);
        free(rec);
        fault_env_free(fe);
    }
    /* The seeds exercise every outcome. */
    assert_true(lost_some > 10);
    assert_true(kept_unsynced > 10);
    assert_true(torn > 10);
}

struct writer_arg {
    lsm_env *e;
    int id;
};

static void *concurrent_writer(void *p)
{
    struct writer_arg *a = p;
    char path[32];
    snprintf(path, sizeof path, "/db/t%d", a->id);
    lsm_file *f;
    if (a->e->open_write(a->e, path, &f))
        return (void *)1;
    for (int i = 0; i < 2000; i++)
        if (lsm_file_append(f, "0123456789", 10) ||
            (i % 100 == 0 && lsm_file_sync(f)))
            return (void *)1;
    return lsm_file_close(f) ? (void *)1 : NULL;
}

static void test_thread_safety(void **state)
{
    fixture *fx = *state;
    pthread_t t[4];
    struct writer_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].e = fx->e;
        args[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, concurrent_writer,
                                        &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
        char path[32];
        snprintf(path, sizeof path, "/db/t%d", i);
        assert_int_equal(fault_env_file_size(fx->fe, path), 20000);
    }
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_files_and_namespace),
        T(test_crash_drops_unsynced_appends),
        T(test_process_crash_keeps_flushed),
        T(test_entries_need_dir_sync),
        T(test_truncate_needs_file_sync),
        T(test_crash_modes),
        cmocka_unit_test(test_crash_is_deterministic),
        T(test_down_until_restart),
        T(test_injected_failures),
        T(test_atomic_write_with_faults),
        T(test_locks),
        T(test_capacity),
        T(test_damage_helpers),
        cmocka_unit_test(test_wal_survives_crashes),
        T(test_thread_safety),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
