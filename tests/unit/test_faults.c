/*
 * test_faults.c — I/O errors at every I/O site of the engine.
 *
 * For each kind of env operation (file open, append, fdatasync,
 * directory fsync, rename, unlink, read) and each error (EIO, ENOSPC),
 * and for k = 0, 1, 2, ...: a fresh store on the fault-injecting env
 * runs a fixed workload (puts, deletes, range deletes, batches, some
 * synced, with flushes and compactions) while the k-th operation of that
 * kind fails, until a k where the fault never fires.  The k-th operation
 * may fall in store creation, a WAL append, a memtable switch, a flush, a
 * compaction, a manifest edit, the CURRENT rename, close, or recovery.
 * Each k runs one of three variants (k mod 3): the fault fires once and
 * the store is closed normally; it fires once and power is lost; or every
 * later operation of that kind fails too (a dead disk) until close.
 *
 * Checked every time:
 *   - the failure reaches the caller: the failing call returns an error,
 *     or the store enters the background-error state and the next write
 *     or lsm_flush reports it (a failed unlink of an obsolete file may be
 *     ignored, and ENOSPC in background work is retried, not reported);
 *   - after an I/O error from a write, flush or compaction, writes keep
 *     failing (the store is read-only until reopened; running out of
 *     space is not sticky);
 *   - while still open after the failure, the store reads exactly the
 *     acknowledged writes (nothing half-applied);
 *   - once the fault clears, the store reopens and holds every
 *     acknowledged write (every synced one after power loss) — the state
 *     after some prefix of the issued writes — and stays writable.
 *
 * FAULT_STRIDE=n tries every n-th k for the kinds with many operations
 * (default: a stride that keeps the test to a few seconds; 1 = all).
 * FAULT_ONLY_K=k+1 runs the single case k; FAULT_VERBOSE=1 prints the
 * engine's log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash_model.h"
#include "fault_env.h"
#include "lsm.h"

#define STORE "/db"
#define WORKLOAD_OPS 160

static int known_bugs;
static int verbose;

static void log_line(void *ctx, int level, const char *line)
{
    (void)ctx;
    (void)level;
    if (verbose)
        fprintf(stderr, "  lsm: %s\n", line);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static const char *op_name(unsigned mask)
{
    static const char *names[] = { "open", "write", "read", "sync", "sync_dir",
                                   "rename", "unlink", "mkdir" };
    for (int i = 0; i < FAULT_OP_COUNT; i++)
        if (mask == FAULT_MASK(i))
            return names[i];
    return "several";
}

static void store_options(lsm_options *o, fault_env *fe)
{
    lsm_options_init(o);
    o->env = fault_env_base(fe);
    o->memtable_bytes = 16 << 10;
    o->level0_compaction_trigger = 2;
    o->level1_bytes = 48 << 10;
    o->target_file_bytes = 16 << 10;
    o->block_bytes = 1024;
    o->cache_bytes = 128 << 10;
    o->max_open_files = 32;
    o->log = log_line;
}

static const cm_workload workload_shape = {
    .max_value = 3000, .sync_pct = 20, .delete_pct = 15, .range_pct = 4,
    .max_range = 20, .batch_pct = 20, .max_batch = 6,
};

enum variant { ONCE_CLOSE, ONCE_CRASH, FOREVER_CLOSE };

typedef struct fault_totals {
    uint64_t cases, fired, open_failures, write_errors, bg_errors;
    uint64_t known_bug_hits;
} fault_totals;

typedef struct fcase {
    unsigned mask;
    int status;
    int k;
    enum variant variant;
    fault_env *fe;
    lsm_options opt;
    cm_model *m;
    lsm_db *db;
} fcase;

#define CASE_FAIL(c, ...) case_fail(c, __FILE__, __LINE__, __VA_ARGS__)

static void case_fail(const fcase *c, const char *file, int line,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void case_fail(const fcase *c, const char *file, int line,
                      const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("%s:%d: fault at %s #%d (%s, variant %d): %s\n", file, line,
                op_name(c->mask), c->k, lsm_status_name(c->status),
                (int)c->variant, msg);
    fail();
}

static int fired(const fcase *c)
{
    return fault_env_faults_fired(c->fe) > 0;
}

/* Opens the store; a failure must be the injected fault, after which the
 * fault is cleared and the open retried. */
static void open_or_retry(fcase *c, fault_totals *t)
{
    int rc = lsm_open(STORE, &c->opt, &c->db);
    if (rc == LSM_OK)
        return;
    if (!fired(c))
        CASE_FAIL(c, "open failed without an injected fault: %s: %s",
                  lsm_status_name(rc), lsm_last_error());
    t->open_failures++;
    fault_env_clear_faults(c->fe);
    rc = lsm_open(STORE, &c->opt, &c->db);
    if (rc)
        CASE_FAIL(c, "open after a failed open: %s: %s", lsm_status_name(rc),
                  lsm_last_error());
}

/* The fixed workload; returns the number of acknowledged operations (the
 * last issued one failed if it differs from cm_nops). *error is the
 * first failure, *write_failed set if it came from a write or flush. */
static size_t run_workload(fcase *c, int *error, int *write_failed)
{
    uint64_t rng = 42;
    *error = LSM_OK;
    *write_failed = 0;
    for (int i = 0; i < WORKLOAD_OPS; i++) {
        int rc;
        if (i == 50 || i == 110) {
            rc = lsm_flush(c->db);
            if (rc == LSM_OK)
                cm_set_durable(c->m, cm_nops(c->m));
        } else if (i == WORKLOAD_OPS - 1) {
            rc = lsm_compact(c->db);
            if (rc == LSM_OK)
                cm_set_durable(c->m, cm_nops(c->m));
        } else {
            size_t op = cm_gen_op(c->m, &rng, &workload_shape);
            rc = cm_exec_op(c->m, op, c->db);
            if (rc == LSM_OK && cm_op_is_sync(c->m, op))
                cm_set_durable(c->m, op + 1);
            if (rc != LSM_OK) {
                *error = rc;
                *write_failed = 1;
                return cm_nops(c->m) - 1;
            }
        }
        if (rc != LSM_OK) {
            *error = rc;
            *write_failed = 1;
            return cm_nops(c->m);
        }
    }
    return cm_nops(c->m);
}

static int is_failure_status(int rc)
{
    return rc == LSM_IO_ERROR || rc == LSM_NO_SPACE || rc == LSM_BG_ERROR;
}

/* KNOWN ENGINE BUG (LSM_TEST_KNOWN_BUGS=1 makes it fail the test; rare,
 * timing-dependent): when the manifest fdatasync of a compaction's edit
 * fails, the edit is in the manifest file and the outputs are kept, but
 * cleanup_outputs() takes them off the pending list.  A
 * lsm_db_delete_obsolete() that checked bg_error before the failure and
 * dropped the mutex for list_dir() then judges them obsolete and unlinks
 * them; the reopened store lists tables that no longer exist.
 * Recognised by a read failing on a missing .sst after a failed
 * fdatasync. */
static int is_missing_table_bug(const fcase *c, int rc, const char *err)
{
    return c->mask == FAULT_MASK(FAULT_OP_SYNC) && rc == LSM_INVALID &&
           strstr(err, ".sst: No such file") != NULL;
}

/* One case; returns whether the fault fired.  With at_create the fault
 * is armed before the store is created, otherwise once it exists. */
static int fault_case(unsigned mask, int status, int k, int at_create,
                      fault_totals *t)
{
    fcase c = { .mask = mask, .status = status, .k = k,
                .variant = (enum variant)(k % 3) };
    c.fe = fault_env_new((uint64_t)k * 7919u + mask);
    assert_non_null(c.fe);
    store_options(&c.opt, c.fe);
    c.m = cm_model_new(400);
    if (at_create) {
        fault_env_fail_after(c.fe, mask, k, status, c.variant == FOREVER_CLOSE);
        open_or_retry(&c, t);
    } else {
        /* Create the store, then arm the fault for the reopen. */
        open_or_retry(&c, t);
        lsm_close(c.db);
        fault_env_fail_after(c.fe, mask, k, status, c.variant == FOREVER_CLOSE);
        open_or_retry(&c, t);
    }
    /* A fault that failed the open was reported and is spent. */
    uint64_t fired_at_open = fault_env_faults_fired(c.fe);

    int error, write_failed;
    size_t acked = run_workload(&c, &error, &write_failed);
    int fired_early = fault_env_faults_fired(c.fe) > fired_at_open;
    char err[1024];
    size_t kk;

    if (error && !is_failure_status(error))
        CASE_FAIL(&c, "workload failed with %s: %s", lsm_status_name(error),
                  lsm_last_error());
    if (error && !fired_early)
        CASE_FAIL(&c, "workload failed without an injected fault: %s",
                  lsm_last_error());
    if (fired_early && mask != FAULT_MASK(FAULT_OP_UNLINK) && !error &&
        status != LSM_NO_SPACE) {
        /* Not reported yet: the background error must surface now.  (Out
         * of space is not an error state: background work retries, and a
         * one-shot ENOSPC may have been absorbed by a retry.) */
        int rc = lsm_flush(c.db);
        if (rc == LSM_OK)
            CASE_FAIL(&c, "the injected fault fired but no call reported an "
                      "error");
        if (!is_failure_status(rc))
            CASE_FAIL(&c, "flush after a background failure: %s",
                      lsm_status_name(rc));
        t->bg_errors++;
        error = rc;
        write_failed = 1;
    }
    if (write_failed)
        t->write_errors++;
    if (write_failed && error != LSM_NO_SPACE) {
        /* An I/O error makes the store read-only until reopened. */
        char key[CM_KEY_LEN + 1];
        cm_key(0, key);
        int rc = lsm_put(c.db, key, CM_KEY_LEN, "x", 1, 0);
        if (rc == LSM_OK)
            CASE_FAIL(&c, "a write succeeded after a %s",
                      lsm_status_name(error));
    }
    if (fired_early && c.variant != FOREVER_CLOSE) {
        /* Nothing half-applied is visible. */
        if (cm_verify(c.m, c.db, acked, acked, &kk, err, sizeof err))
            CASE_FAIL(&c, "open store after the failure: %s", err);
    }

    size_t lo = acked;
    if (c.variant == ONCE_CRASH) {
        fault_env_crash(c.fe, k % 4);
        lsm_close(c.db);
        fault_env_restart(c.fe);
        lo = cm_durable(c.m);
    } else {
        lsm_close(c.db);   /* may fail: the fault may hit its WAL sync */
    }
    c.db = NULL;
    if (c.variant == FOREVER_CLOSE)
        fault_env_clear_faults(c.fe);
    uint64_t fired_before = fault_env_faults_fired(c.fe);
    open_or_retry(&c, t);   /* an unfired fault may hit recovery */
    fault_env_clear_faults(c.fe);
    int did_fire = fired(&c);
    if (fault_env_faults_fired(c.fe) > fired_before) {
        /* It may have hit the reopened store's background work (a
         * compaction reading a table) after lsm_open returned: an I/O
         * error there makes the store read-only until reopened. */
        lsm_close(c.db);
        c.db = NULL;
        open_or_retry(&c, t);
    }

    int vrc = cm_verify(c.m, c.db, lo, cm_nops(c.m), &kk, err, sizeof err);
    if (vrc && !known_bugs && is_missing_table_bug(&c, vrc, err)) {
        fprintf(stderr, "faults: KNOWN BUG (compaction output deleted) hit at "
                "%s #%d (%s, variant %d): %s\n", op_name(mask), k,
                lsm_status_name(status), (int)c.variant, err);
        t->known_bug_hits++;
        lsm_close(c.db);
        cm_model_free(c.m);
        fault_env_free(c.fe);
        t->cases++;
        t->fired++;
        return 1;
    }
    if (vrc)
        CASE_FAIL(&c, "after reopening (%zu acknowledged, %zu durable): %s",
                  acked, cm_durable(c.m), err);
    /* Writable again, and durable across a clean close. */
    cm_rebase(c.m, kk);
    uint64_t rng = 7;
    for (int i = 0; i < 20; i++) {
        size_t op = cm_gen_op(c.m, &rng, &workload_shape);
        int rc = cm_exec_op(c.m, op, c.db);
        if (rc)
            CASE_FAIL(&c, "write after recovery: %s: %s", lsm_status_name(rc),
                      lsm_last_error());
    }
    int rc = lsm_close(c.db);
    if (rc)
        CASE_FAIL(&c, "clean close after recovery: %s: %s",
                  lsm_status_name(rc), lsm_last_error());
    c.db = NULL;
    open_or_retry(&c, t);
    if (cm_verify(c.m, c.db, cm_nops(c.m), cm_nops(c.m), &kk, err, sizeof err))
        CASE_FAIL(&c, "after a clean close following recovery: %s", err);
    lsm_close(c.db);

    t->cases++;
    if (did_fire)
        t->fired++;
    cm_model_free(c.m);
    fault_env_free(c.fe);
    return did_fire;
}

/* k = 0, stride, 2*stride, ... until the fault no longer fires. */
static void sweep_from(unsigned mask, int stride, int at_create)
{
    static const int statuses[] = { LSM_IO_ERROR, LSM_NO_SPACE };
    for (int s = 0; s < 2; s++) {
        fault_totals t = { 0 };
        int k = 0;
        int only = (int)env_u64("FAULT_ONLY_K", 0) - 1;
        if (only >= 0) {
            fault_case(mask, statuses[s], only, at_create, &t);
            continue;
        }
        while (fault_case(mask, statuses[s], k, at_create, &t))
            k += stride;
        /* Stride > 1 may step past the last site: try the ones skipped. */
        for (int j = k - stride + 1; stride > 1 && j < k; j++)
            fault_case(mask, statuses[s], j, at_create, &t);
        fprintf(stderr, "faults: %s%-8s %-9s: %" PRIu64 " cases, %" PRIu64
                " faults injected (%" PRIu64 " failed opens, %" PRIu64
                " reported write/flush errors, %" PRIu64
                " surfaced as background errors, %" PRIu64 " known-bug hits)\n",
                at_create ? "creating, " : "", op_name(mask),
                lsm_status_name(statuses[s]), t.cases, t.fired, t.open_failures,
                t.write_errors, t.bg_errors, t.known_bug_hits);
    }
}

static void sweep(unsigned mask, int stride)
{
    sweep_from(mask, stride, 0);
}

static int stride_for(int dflt)
{
    int s = (int)env_u64("FAULT_STRIDE", (uint64_t)dflt);
    return s > 0 ? s : 1;
}

static void test_open_faults(void **state)
{
    (void)state;
    sweep(FAULT_MASK(FAULT_OP_OPEN), stride_for(1));
}

static void test_write_faults(void **state)
{
    (void)state;
    sweep(FAULT_MASK(FAULT_OP_WRITE), stride_for(7));
}

static void test_sync_faults(void **state)
{
    (void)state;
    sweep(FAULT_MASK(FAULT_OP_SYNC), stride_for(1));
}

static void test_sync_dir_faults(void **state)
{
    (void)state;
    sweep(FAULT_MASK(FAULT_OP_SYNC_DIR), stride_for(1));
}

static void test_rename_faults(void **state)
{
    (void)state;
    sweep(FAULT_MASK(FAULT_OP_RENAME), stride_for(1));
}

static void test_unlink_faults(void **state)
{
    (void)state;
    sweep(FAULT_MASK(FAULT_OP_UNLINK), stride_for(1));
}

static void test_read_faults(void **state)
{
    (void)state;
    sweep(FAULT_MASK(FAULT_OP_READ), stride_for(5));
}

/* --- a full disk ------------------------------------------------------------- */

static uint64_t used_bytes(fault_env *fe)
{
    uint64_t free_bytes = 0;
    lsm_env *e = fault_env_base(fe);
    e->free_space(e, STORE, &free_bytes);
    return (UINT64_C(1) << 40) - free_bytes;
}

/* Fills the disk (capacity = what the store uses plus `room`) until a
 * write fails with LSM_NO_SPACE; the open store still reads every
 * acknowledged write; after a reopen — first, if reopen_full, while the
 * disk is still full — every acknowledged write is there. */
static void disk_full_case(uint64_t room, int reopen_full, fault_totals *t)
{
    fcase c = { .mask = 0, .status = LSM_NO_SPACE, .k = (int)room };
    c.fe = fault_env_new(room);
    store_options(&c.opt, c.fe);
    c.m = cm_model_new(400);
    open_or_retry(&c, t);
    fault_env_set_capacity(c.fe, used_bytes(c.fe) + room);

    uint64_t rng = room;
    cm_workload big = workload_shape;
    big.max_value = 6000;
    int rc = LSM_OK;
    size_t acked = 0;
    for (int i = 0; i < 100000 && rc == LSM_OK; i++) {
        size_t op = cm_gen_op(c.m, &rng, &big);
        rc = cm_exec_op(c.m, op, c.db);
        if (rc == LSM_OK)
            acked = op + 1;
        if (rc == LSM_OK && cm_op_is_sync(c.m, op))
            cm_set_durable(c.m, op + 1);
    }
    if (rc != LSM_NO_SPACE)
        CASE_FAIL(&c, "a full disk reported %s: %s", lsm_status_name(rc),
                  lsm_last_error());
    rc = lsm_flush(c.db);
    if (rc != LSM_NO_SPACE && rc != LSM_OK)
        CASE_FAIL(&c, "flush on a full disk reported %s", lsm_status_name(rc));
    char err[1024];
    size_t kk;
    if (cm_verify(c.m, c.db, acked, acked, &kk, err, sizeof err))
        CASE_FAIL(&c, "full store: %s", err);
    lsm_close(c.db);
    c.db = NULL;

    if (reopen_full) {
        rc = lsm_open(STORE, &c.opt, &c.db);
        if (rc == LSM_OK) {
            if (cm_verify(c.m, c.db, acked, cm_nops(c.m), &kk, err, sizeof err))
                CASE_FAIL(&c, "reopened while full: %s", err);
            lsm_close(c.db);
        } else if (rc != LSM_NO_SPACE) {
            CASE_FAIL(&c, "reopen on a full disk: %s: %s", lsm_status_name(rc),
                      lsm_last_error());
        }
        c.db = NULL;
    }
    fault_env_set_capacity(c.fe, UINT64_C(1) << 40);
    rc = lsm_open(STORE, &c.opt, &c.db);
    if (rc)
        CASE_FAIL(&c, "reopen after freeing space%s: %s: %s",
                  reopen_full ? " (after a failed reopen on the full disk)" : "",
                  lsm_status_name(rc), lsm_last_error());
    if (cm_verify(c.m, c.db, acked, cm_nops(c.m), &kk, err, sizeof err))
        CASE_FAIL(&c, "after freeing space: %s", err);
    rc = lsm_put(c.db, "k0000000", CM_KEY_LEN, "v", 1, LSM_SYNC);
    if (rc)
        CASE_FAIL(&c, "write after freeing space: %s", lsm_last_error());
    lsm_close(c.db);
    cm_model_free(c.m);
    fault_env_free(c.fe);
    t->cases++;
}

static void test_disk_full(void **state)
{
    (void)state;
    fault_totals t = { 0 };
    int n = 0;
    for (uint64_t room = 1000; room < 400000; room = room * 3 / 2)
        disk_full_case(room, n++ % 2, &t);
    fprintf(stderr, "faults: disk full: %" PRIu64 " cases (half reopened "
            "while still full)\n", t.cases);
}

/* --- read errors under gets and scans ------------------------------------------ */

/* A store with data in several levels and the WAL, reopened with the
 * k-th read failing: gets and scans return correct data or an error. */
static int read_fault_case(int k, int forever, fault_totals *t)
{
    fcase c = { .mask = FAULT_MASK(FAULT_OP_READ), .status = LSM_IO_ERROR,
                .k = k };
    c.fe = fault_env_new((uint64_t)k);
    store_options(&c.opt, c.fe);
    c.opt.cache_bytes = 0;        /* every read goes to the env */
    c.opt.idle_compaction_ms = 0; /* and only gets and scans read */
    c.m = cm_model_new(400);
    open_or_retry(&c, t);
    int error, write_failed;
    size_t acked = run_workload(&c, &error, &write_failed);
    assert_int_equal(error, LSM_OK);
    uint64_t rng = 99;
    for (int i = 0; i < 30; i++)
        assert_int_equal(cm_exec_op(c.m, cm_gen_op(c.m, &rng, &workload_shape),
                                    c.db), LSM_OK);
    acked = cm_nops(c.m);
    lsm_close(c.db);
    open_or_retry(&c, t);

    fault_env_fail_after(c.fe, c.mask, k, LSM_IO_ERROR, forever);
    int errors[2] = { 0, 0 };
    char err[1024];
    if (cm_check_reads(c.m, c.db, acked, errors, err, sizeof err))
        CASE_FAIL(&c, "reads with a failing disk returned wrong data: %s", err);
    int did_fire = fired(&c);
    if (did_fire && errors[0] == 0)
        CASE_FAIL(&c, "a read failed but no get or scan reported it");
    if (errors[1])
        CASE_FAIL(&c, "an I/O error was reported as corruption");
    fault_env_clear_faults(c.fe);
    /* The failure left nothing behind: all reads succeed now. */
    errors[0] = errors[1] = 0;
    if (cm_check_reads(c.m, c.db, acked, errors, err, sizeof err) || errors[0])
        CASE_FAIL(&c, "reads after the fault cleared: %d errors: %s",
                  errors[0], errors[0] ? lsm_last_error() : err);
    lsm_close(c.db);
    cm_model_free(c.m);
    fault_env_free(c.fe);
    t->cases++;
    t->fired += (uint64_t)did_fire;
    return did_fire;
}

static void test_read_faults_on_reads(void **state)
{
    (void)state;
    fault_totals t = { 0 };
    int stride = stride_for(3);
    for (int k = 0; read_fault_case(k, 0, &t); k += stride)
        ;
    for (int k = 0; read_fault_case(k, 1, &t); k += stride * 4)
        ;
    fprintf(stderr, "faults: read errors under gets and scans: %" PRIu64
            " cases, %" PRIu64 " faults injected\n", t.cases, t.fired);
}

/* KNOWN ENGINE BUG (run with LSM_TEST_KNOWN_BUGS=1): when creating a
 * store fails after MANIFEST-000002 was written but before CURRENT, the
 * directory holds files but no CURRENT, and every later open refuses it
 * as "not an lsm store". */
static void test_create_faults(void **state)
{
    (void)state;
    if (!known_bugs)
        skip();
    static const unsigned masks[] = {
        FAULT_MASK(FAULT_OP_OPEN), FAULT_MASK(FAULT_OP_WRITE),
        FAULT_MASK(FAULT_OP_SYNC), FAULT_MASK(FAULT_OP_SYNC_DIR),
        FAULT_MASK(FAULT_OP_RENAME),
    };
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++)
        sweep_from(masks[i], 1, 1);
}

int main(void)
{
    known_bugs = (int)env_u64("LSM_TEST_KNOWN_BUGS", 1);
    verbose = (int)env_u64("FAULT_VERBOSE", 0);
    const char *filter = getenv("TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_faults),
        cmocka_unit_test(test_write_faults),
        cmocka_unit_test(test_sync_faults),
        cmocka_unit_test(test_sync_dir_faults),
        cmocka_unit_test(test_rename_faults),
        cmocka_unit_test(test_unlink_faults),
        cmocka_unit_test(test_read_faults),
        cmocka_unit_test(test_read_faults_on_reads),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_create_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
