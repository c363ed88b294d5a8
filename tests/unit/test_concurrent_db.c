/*
 * test_concurrent_db.c — the engine under concurrent use: writers on
 * disjoint key ranges and readers checking consistent views while
 * flushes and compactions run constantly; group commit of sync writes
 * from several threads; iterators and snapshots outliving many
 * compactions; idle work (lsm/reclaim.c) dropping and compacting what
 * range deletions cover while readers scan.  Also run under
 * ThreadSanitizer (scripts/test).
 *
 * Every loop is bounded by an operation count, never by time.  Worker
 * threads cannot use cmocka's assertions (they longjmp into the main
 * thread's frame), so they record the first failure in `failure` and
 * stop; the main thread asserts after joining them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsm.h"
#include "testutil.h"

/* --- failure reporting from threads ---------------------------------------- */

static pthread_mutex_t failure_mu = PTHREAD_MUTEX_INITIALIZER;
static char failure[1024];
static int failed;                /* atomic */

static int any_failure(void)
{
    return __atomic_load_n(&failed, __ATOMIC_ACQUIRE);
}

static void record_failure(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void record_failure(const char *fmt, ...)
{
    pthread_mutex_lock(&failure_mu);
    if (!failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(failure, sizeof failure, fmt, ap);
        va_end(ap);
        __atomic_store_n(&failed, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&failure_mu);
}

static void reset_failure(void)
{
    failure[0] = 0;
    __atomic_store_n(&failed, 0, __ATOMIC_RELEASE);
}

static void assert_no_failure(void)
{
    if (any_failure())
        fail_msg("%s", failure);
}



/* --- writers and readers over key pairs --------------------------------------
 *
 * Writer t owns pairs (t, j), j < PAIRS.  A pair is two keys,
 * "w<t>-<j>-a" and "w<t>-<j>-b", always written together in one batch with
 * the same version number (a counter per pair, incremented on every
 * write), or deleted together in one batch.  The value records its own
 * key and version and is padded with bytes derived from them:
 *
 *     "<t>:<j>:<version>:" then filler up to VALUE_LEN bytes
 *
 * So every reader, at any instant, must see both keys of a pair with
 * equal versions or neither; through one snapshot or iterator the view
 * never changes; and successive views of one reader never go back.
 */
#define WRITERS 3
#define READERS 2
#define PAIRS 1000
#define WRITER_OPS 6000
#define READER_ROUNDS 150
#define VALUE_LEN 120

typedef struct shared {
    lsm_db *db;
    /* Final version per pair after the writers finish; 0 = deleted/never. */
    uint32_t version[WRITERS][PAIRS];
    int deleted[WRITERS][PAIRS];
} shared;

static int pair_key(char *buf, int t, int j, char which)
{
    return snprintf(buf, 32, "w%d-%05d-%c", t, j, which);
}

static size_t make_value(char *buf, int t, int j, uint32_t version)
{
    int n = snprintf(buf, VALUE_LEN, "%d:%d:%" PRIu32 ":", t, j, version);
    for (int i = n; i < VALUE_LEN; i++)
        buf[i] = (char)('a' + (t * 7 + j * 13 + (int)version + i) % 26);
    return VALUE_LEN;
}

/* Parses and fully verifies a value of pair (t, j); returns its version
 * or 0 (after recording a failure) if it is malformed. */
static uint32_t check_value(const char *what, const void *v, size_t n, int t,
                            int j)
{
    char buf[VALUE_LEN + 1], want[VALUE_LEN];
    int vt, vj;
    uint32_t ver;
    if (n != VALUE_LEN) {
        record_failure("%s (%d,%d): value of %zu bytes", what, t, j, n);
        return 0;
    }
    memcpy(buf, v, n);
    buf[n] = 0;
    if (sscanf(buf, "%d:%d:%" SCNu32 ":", &vt, &vj, &ver) != 3 || vt != t ||
        vj != j || ver == 0) {
        record_failure("%s (%d,%d): bad value '%.30s'", what, t, j, buf);
        return 0;
    }
    make_value(want, t, j, ver);
    if (memcmp(want, v, n) != 0) {
        record_failure("%s (%d,%d): damaged value '%.30s'", what, t, j, buf);
        return 0;
    }
    return ver;
}

typedef struct writer_arg {
    shared *sh;
    int t;
    int sync_every;            /* every n-th batch with LSM_SYNC; 0 = never */
} writer_arg;

static void *writer_main(void *p)
{
    writer_arg *wa = p;
    shared *sh = wa->sh;
    int t = wa->t;
    uint64_t rs = 1000 + (uint64_t)t;
    lsm_batch *b = lsm_batch_new();
    char ka[32], kb[32], val[VALUE_LEN];
    for (int op = 0; op < WRITER_OPS && !any_failure(); op++) {
        int j = (int)(tu_rand(&rs) % PAIRS);
        uint32_t ver = ++sh->version[t][j];
        pair_key(ka, t, j, 'a');
        pair_key(kb, t, j, 'b');
        lsm_batch_clear(b);
        if (tu_rand(&rs) % 10 == 0) {
            lsm_batch_delete(b, ka, strlen(ka));
            lsm_batch_delete(b, kb, strlen(kb));
            sh->deleted[t][j] = 1;
        } else {
            size_t n = make_value(val, t, j, ver);
            lsm_batch_put(b, ka, strlen(ka), val, n);
            lsm_batch_put(b, kb, strlen(kb), val, n);
            sh->deleted[t][j] = 0;
        }
        int flags = wa->sync_every && op % wa->sync_every == 0 ? LSM_SYNC : 0;
        int rc = lsm_write(sh->db, b, flags);
        if (rc)
            record_failure("writer %d: lsm_write: %s", t, lsm_last_error());
    }
    lsm_batch_free(b);
    return NULL;
}

typedef struct reader_arg {
    shared *sh;
    int id;
    uint32_t seen[WRITERS][PAIRS];   /* highest version seen per pair */
    uint64_t scanned, checked;
} reader_arg;

/* Reads pair (t, j) through ro: both keys present with equal versions
 * (returned), or both absent (returns 0).  Records a failure otherwise. */
static uint32_t read_pair(reader_arg *ra, const lsm_read_options *ro, int t,
                          int j)
{
    char ka[32], kb[32];
    void *va = NULL, *vb = NULL;
    size_t na = 0, nb = 0;
    pair_key(ka, t, j, 'a');
    pair_key(kb, t, j, 'b');
    int ra_ = lsm_get(ra->sh->db, ro, ka, strlen(ka), &va, &na);
    int rb_ = lsm_get(ra->sh->db, ro, kb, strlen(kb), &vb, &nb);
    uint32_t ver = 0;
    if ((ra_ != LSM_OK && ra_ != LSM_NOT_FOUND) ||
        (rb_ != LSM_OK && rb_ != LSM_NOT_FOUND)) {
        record_failure("reader %d: get (%d,%d): rc %d/%d: %s", ra->id, t, j,
                       ra_, rb_, lsm_last_error());
    } else if (ra_ != rb_) {
        record_failure("reader %d: pair (%d,%d) half present (a %d, b %d)",
                       ra->id, t, j, ra_, rb_);
    } else if (ra_ == LSM_OK) {
        uint32_t x = check_value("get a", va, na, t, j);
        uint32_t y = check_value("get b", vb, nb, t, j);
        if (x != y)
            record_failure("reader %d: pair (%d,%d) versions %u and %u",
                           ra->id, t, j, x, y);
        ver = x;
    }
    lsm_free(va);
    lsm_free(vb);
    return ver;
}

/* Point reads through a snapshot: consistent pairs, stable while the
 * snapshot lives, never older than what this reader saw before. */
static void snapshot_round(reader_arg *ra, uint64_t *rs)
{
    const lsm_snapshot *snap = lsm_snapshot_get(ra->sh->db);
    if (!snap) {
        record_failure("reader %d: no snapshot: %s", ra->id, lsm_last_error());
        return;
    }
    lsm_read_options ro = { .snapshot = snap };
    enum { N = 24 };
    int ts[N], js[N];
    uint32_t vers[N];
    for (int i = 0; i < N && !any_failure(); i++) {
        ts[i] = (int)(tu_rand(rs) % WRITERS);
        js[i] = (int)(tu_rand(rs) % PAIRS);
        vers[i] = read_pair(ra, &ro, ts[i], js[i]);
        uint32_t *seen = &ra->seen[ts[i]][js[i]];
        if (vers[i] && vers[i] < *seen)
            record_failure("reader %d: pair (%d,%d) went back from version "
                           "%u to %u", ra->id, ts[i], js[i], *seen, vers[i]);
        if (vers[i] > *seen)
            *seen = vers[i];
        ra->checked++;
    }
    /* Writers have moved on; the snapshot has not. */
    for (int i = 0; i < N && !any_failure(); i++) {
        uint32_t again = read_pair(ra, &ro, ts[i], js[i]);
        if (again != vers[i])
            record_failure("reader %d: pair (%d,%d) changed under a "
                           "snapshot: %u then %u", ra->id, ts[i], js[i],
                           vers[i], again);
    }
    lsm_snapshot_release(ra->sh->db, snap);
}

/* A full scan (forward or backward) through an iterator: keys strictly
 * ordered, only this test's keys, each pair complete and equal. */
static void scan_round(reader_arg *ra, int backward)
{
    lsm_iter *it = lsm_iter_new(ra->sh->db, NULL);
    if (!it) {
        record_failure("reader %d: no iterator: %s", ra->id, lsm_last_error());
        return;
    }
    char prev[32] = "", pending[32] = "";
    uint32_t pending_ver = 0;
    int have_prev = 0, have_pending = 0;
    if (backward)
        lsm_iter_last(it);
    else
        lsm_iter_first(it);
    for (; lsm_iter_valid(it) && !any_failure();
         backward ? lsm_iter_prev(it) : lsm_iter_next(it)) {
        size_t kn, vn;
        const char *k = lsm_iter_key(it, &kn);
        const void *v = lsm_iter_value(it, &vn);
        char key[32];
        int t, j;
        char which;
        if (kn >= sizeof key) {
            record_failure("scan: key of %zu bytes", kn);
            break;
        }
        memcpy(key, k, kn);
        key[kn] = 0;
        if (sscanf(key, "w%d-%d-%c", &t, &j, &which) != 3 || t < 0 ||
            t >= WRITERS || j < 0 || j >= PAIRS || (which != 'a' && which != 'b')) {
            record_failure("scan: foreign key '%s'", key);
            break;
        }
        if (have_prev && (backward ? strcmp(key, prev) >= 0
                                   : strcmp(key, prev) <= 0)) {
            record_failure("scan: '%s' after '%s' (%s)", key, prev,
                           backward ? "backward" : "forward");
            break;
        }
        strcpy(prev, key);
        have_prev = 1;
        uint32_t ver = check_value("scan", v, vn, t, j);
        /* The first key of a pair in scan order opens it, the second
         * must follow at once with the same version. */
        char first = backward ? 'b' : 'a';
        if (which == first) {
            if (have_pending) {
                record_failure("scan: pair '%s' incomplete", pending);
                break;
            }
            strcpy(pending, key);
            pending_ver = ver;
            have_pending = 1;
        } else {
            if (!have_pending || strncmp(pending, key, kn - 1) != 0) {
                record_failure("scan: '%s' without its pair", key);
                break;
            }
            if (ver != pending_ver) {
                record_failure("scan: pair '%s' has versions %u and %u", key,
                               pending_ver, ver);
                break;
            }
            have_pending = 0;
            uint32_t *seen = &ra->seen[t][j];
            if (ver < *seen)
                record_failure("reader %d: scan saw pair (%d,%d) go back "
                               "from %u to %u", ra->id, t, j, *seen, ver);
            if (ver > *seen)
                *seen = ver;
        }
        ra->scanned++;
    }
    if (!any_failure() && have_pending)
        record_failure("scan: pair '%s' incomplete at the end", pending);
    if (lsm_iter_status(it) != LSM_OK)
        record_failure("reader %d: iterator: %s", ra->id, lsm_last_error());
    lsm_iter_free(it);
}

static void *reader_main(void *p)
{
    reader_arg *ra = p;
    uint64_t rs = 77 + (uint64_t)ra->id;
    for (int round = 0; round < READER_ROUNDS && !any_failure(); round++) {
        snapshot_round(ra, &rs);
        if (round % 10 == ra->id)
            scan_round(ra, round % 20 >= 10);
        /* Statistics while everything runs: the counters are bumped by
         * writers and background threads as they are read here. */
        static const char *const props[] = { "stats", "levels", "sstables" };
        for (int i = 0; i < 3; i++) {
            char *text = NULL;
            if (lsm_property(ra->sh->db, props[(round + i) % 3], &text) != LSM_OK)
                record_failure("%s: %s", props[(round + i) % 3], lsm_last_error());
            lsm_free(text);
        }
    }
    return NULL;
}

/* Manual flushes and full compactions racing the background threads. */
static void *maintenance_main(void *p)
{
    shared *sh = p;
    for (int i = 0; i < 6 && !any_failure(); i++) {
        int rc = i % 3 == 2 ? lsm_compact(sh->db) : lsm_flush(sh->db);
        if (rc)
            record_failure("maintenance %d: %s", i, lsm_last_error());
    }
    return NULL;
}

/* The final state: every pair holds its writer's last version. */
static void check_final(shared *sh)
{
    reader_arg ra = { .sh = sh, .id = -1 };
    for (int t = 0; t < WRITERS; t++)
        for (int j = 0; j < PAIRS; j++) {
            uint32_t ver = read_pair(&ra, NULL, t, j);
            uint32_t want = sh->deleted[t][j] ? 0 : sh->version[t][j];
            if (ver != want)
                record_failure("final: pair (%d,%d) version %u, wanted %u", t,
                               j, ver, want);
        }
    assert_no_failure();
}

static uint64_t stat_counter(lsm_db *db, const char *name)
{
    char *text = NULL;
    assert_int_equal(lsm_property(db, "stats", &text), LSM_OK);
    const char *p = strstr(text, name);
    if (!p)
        fail_msg("no '%s' in stats:\n%s", name, text);
    unsigned long long v = strtoull(p + strlen(name), NULL, 10);
    lsm_free(text);
    return v;
}

static void test_writers_and_readers(void **state)
{
    (void)state;
    reset_failure();
    char *dir = tu_tempdir("conc");
    lsm_options o;
    tu_small_options(&o);
    o.compression = LSM_COMPRESS_NONE;  /* tables big enough for level 2 */
    shared *sh = calloc(1, sizeof *sh);
    sh->db = tu_open_db(dir, &o);
    pthread_t wt[WRITERS], rt[READERS], mt;
    writer_arg wa[WRITERS];
    reader_arg *ra = calloc(READERS, sizeof *ra);
    for (int t = 0; t < WRITERS; t++) {
        wa[t] = (writer_arg){ sh, t, t == 0 ? 97 : 0 };
        assert_int_equal(pthread_create(&wt[t], NULL, writer_main, &wa[t]), 0);
    }
    for (int r = 0; r < READERS; r++) {
        ra[r].sh = sh;
        ra[r].id = r;
        assert_int_equal(pthread_create(&rt[r], NULL, reader_main, &ra[r]), 0);
    }
    assert_int_equal(pthread_create(&mt, NULL, maintenance_main, sh), 0);
    for (int t = 0; t < WRITERS; t++)
        pthread_join(wt[t], NULL);
    for (int r = 0; r < READERS; r++)
        pthread_join(rt[r], NULL);
    pthread_join(mt, NULL);
    assert_no_failure();
    for (int r = 0; r < READERS; r++)
        assert_true(ra[r].checked > 0);

    /* The churn the test is about really happened. */
    assert_true(stat_counter(sh->db, "flushes: ") >= 20);
    assert_true(stat_counter(sh->db, "compactions: ") +
                stat_counter(sh->db, "trivial_moves: ") >= 3);

    check_final(sh);
    assert_int_equal(lsm_close(sh->db), LSM_OK);
    sh->db = tu_open_db(dir, &o);
    check_final(sh);
    assert_int_equal(lsm_compact(sh->db), LSM_OK);
    check_final(sh);
    assert_int_equal(lsm_close(sh->db), LSM_OK);
    free(ra);
    free(sh);
    tu_rmtree(dir);
    free(dir);
}

/* --- group commit ---------------------------------------------------------------- */

#define SYNC_THREADS 4
#define SYNC_OPS 150

typedef struct sync_arg {
    lsm_db *db;
    int t;
    int sync;
} sync_arg;

static void *sync_writer_main(void *p)
{
    sync_arg *sa = p;
    char k[32], v[32];
    for (int i = 0; i < SYNC_OPS && !any_failure(); i++) {
        snprintf(k, sizeof k, "s%d-%05d", sa->t, i);
        snprintf(v, sizeof v, "value-%d-%d", sa->t, i);
        int rc = lsm_put(sa->db, k, strlen(k), v, strlen(v),
                         sa->sync ? LSM_SYNC : 0);
        if (rc)
            record_failure("sync writer %d: %s", sa->t, lsm_last_error());
    }
    return NULL;
}

static void check_sync_keys(lsm_db *db, int threads)
{
    char k[32], v[32];
    for (int t = 0; t < threads; t++)
        for (int i = 0; i < SYNC_OPS; i++) {
            snprintf(k, sizeof k, "s%d-%05d", t, i);
            snprintf(v, sizeof v, "value-%d-%d", t, i);
            void *got;
            size_t n;
            int rc = lsm_get(db, NULL, k, strlen(k), &got, &n);
            if (rc)
                fail_msg("%s: rc %d", k, rc);
            assert_int_equal(n, strlen(v));
            assert_memory_equal(got, v, n);
            lsm_free(got);
        }
}

static char *read_whole(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0, got;
    char *data = malloc(cap);
    while ((got = fread(data + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            data = realloc(data, cap *= 2);
    }
    fclose(f);
    *n = len;
    return data;
}

static void write_whole(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Sync writers queue behind the one doing the fsync and are committed in
 * groups: fewer WAL syncs than writes, and every write is durable. */
static void test_group_commit(void **state)
{
    (void)state;
    reset_failure();
    char *dir = tu_tempdir("group");
    lsm_options o;
    tu_small_options(&o);
    o.memtable_bytes = 4 << 20;   /* the WAL, not flushes, is under test */
    lsm_db *db = tu_open_db(dir, &o);
    pthread_t th[SYNC_THREADS + 1];
    sync_arg sa[SYNC_THREADS + 1];
    for (int t = 0; t <= SYNC_THREADS; t++) {
        /* The last thread writes without sync among the syncing ones. */
        sa[t] = (sync_arg){ db, t, t < SYNC_THREADS };
        assert_int_equal(pthread_create(&th[t], NULL, sync_writer_main, &sa[t]), 0);
    }
    for (int t = 0; t <= SYNC_THREADS; t++)
        pthread_join(th[t], NULL);
    assert_no_failure();

    uint64_t writes = stat_counter(db, " writes: ");
    uint64_t groups = stat_counter(db, "group_commits: ");
    uint64_t syncs = stat_counter(db, "wal_syncs: ");
    const uint64_t total = (SYNC_THREADS + 1) * SYNC_OPS;
    if (writes != total || groups > total || syncs > groups ||
        syncs < 1 || groups == total)
        fail_msg("writes %llu (wanted %llu), group commits %llu, wal syncs "
                 "%llu: expected grouping", (unsigned long long)writes,
                 (unsigned long long)total, (unsigned long long)groups,
                 (unsigned long long)syncs);
    check_sync_keys(db, SYNC_THREADS + 1);
    /* Acknowledged sync writes are in the file already: take the WAL as
     * it is before close syncs it (a crash), and recover from that. */
    char *log = tu_find_file(dir, ".log");
    assert_non_null(log);
    size_t n = 0;
    char *copy = read_whole(log, &n);
    assert_int_equal(lsm_close(db), LSM_OK);
    write_whole(log, copy, n);
    db = tu_open_db(dir, &o);
    check_sync_keys(db, SYNC_THREADS);
    assert_int_equal(lsm_close(db), LSM_OK);
    free(copy);
    free(log);
    tu_rmtree(dir);
    free(dir);
}

/* --- long-lived iterators and snapshots --------------------------------------------- */

#define OLD_KEYS 4000
#define OLD_VALUE_MAX 96

static void old_key(char *buf, int i)
{
    snprintf(buf, 32, "old%06d", i);
}

static void old_value(char *buf, int i, int gen)
{
    snprintf(buf, OLD_VALUE_MAX, "gen%d-value-%d-%s", gen, i,
             "padding-padding-padding-padding-padding-padding");
}

/* Reads [from, OLD_KEYS) of generation 0 through an iterator positioned
 * at `from`, then back down to 0. */
static void check_old_scan(lsm_iter *it, int from)
{
    char k[32], v[OLD_VALUE_MAX];
    int i = from;
    for (; lsm_iter_valid(it); lsm_iter_next(it), i++) {
        size_t kn, vn;
        const char *key = lsm_iter_key(it, &kn);
        const char *val = lsm_iter_value(it, &vn);
        if (i >= OLD_KEYS)
            fail_msg("iterator past the old keys: %.*s", (int)kn, key);
        old_key(k, i);
        old_value(v, i, 0);
        if (kn != strlen(k) || memcmp(key, k, kn) != 0)
            fail_msg("wanted key %s, got %.*s", k, (int)kn, key);
        if (vn != strlen(v) || memcmp(val, v, vn) != 0)
            fail_msg("key %s: wanted %s, got %.*s", k, v, (int)vn, val);
    }
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    assert_int_equal(i, OLD_KEYS);
    i = OLD_KEYS - 1;
    for (lsm_iter_last(it); lsm_iter_valid(it); lsm_iter_prev(it), i--) {
        size_t kn;
        const char *key = lsm_iter_key(it, &kn);
        old_key(k, i);
        if (kn != strlen(k) || memcmp(key, k, kn) != 0)
            fail_msg("backward: wanted key %s, got %.*s", k, (int)kn, key);
    }
    assert_int_equal(i, -1);
    assert_int_equal(lsm_iter_status(it), LSM_OK);
}

/* Background compactions racing a writer, while old views are held. */
typedef struct churn_arg {
    lsm_db *db;
    int gens;
} churn_arg;

static void *churn_main(void *p)
{
    churn_arg *ca = p;
    char k[32], v[OLD_VALUE_MAX];
    for (int gen = 1; gen <= ca->gens && !any_failure(); gen++) {
        for (int i = 0; i < OLD_KEYS && !any_failure(); i++) {
            old_key(k, i);
            int rc;
            if ((i + gen) % 7 == 0) {
                rc = lsm_delete(ca->db, k, strlen(k), 0);
            } else {
                old_value(v, i, gen);
                rc = lsm_put(ca->db, k, strlen(k), v, strlen(v), 0);
            }
            if (rc)
                record_failure("churn: %s", lsm_last_error());
        }
        char b[32], e[32];
        old_key(b, gen * 100);
        old_key(e, gen * 100 + 50);
        if (lsm_delete_range(ca->db, b, strlen(b), e, strlen(e), 0))
            record_failure("churn: delete_range: %s", lsm_last_error());
    }
    return NULL;
}

/* Count of tables on disk equals the count the current version lists,
 * once nothing old is pinned: replaced tables are deleted. */
static void check_no_stray_tables(lsm_db *db, const char *dir)
{
    char *text;
    assert_int_equal(lsm_property(db, "sstables", &text), LSM_OK);
    int listed = 0;
    for (const char *p = text; (p = strstr(p, ".sst")); p++)
        listed++;
    lsm_free(text);
    int on_disk = tu_count_files(dir, ".sst");
    if (on_disk != listed)
        fail_msg("%d tables on disk, %d live", on_disk, listed);
}

/* A sync barrier costs one WAL fsync for what was written since the last
 * one and none when nothing was: after one write, many threads calling
 * lsm_sync at once (an fsync storm) sync the WAL exactly once, and a
 * write made with LSM_SYNC needs no barrier after it. */
#define BARRIER_THREADS 6
#define BARRIER_CALLS 50

static void *barrier_main(void *arg)
{
    lsm_db *db = arg;
    for (int i = 0; i < BARRIER_CALLS; i++)
        if (lsm_sync(db) != LSM_OK)
            record_failure("lsm_sync: %s", lsm_last_error());
    return NULL;
}

static void test_sync_barriers(void **state)
{
    (void)state;
    reset_failure();
    char *dir = tu_tempdir("barrier");
    lsm_options o;
    tu_small_options(&o);
    o.memtable_bytes = 4 << 20;   /* no memtable switch (which syncs too) */
    lsm_db *db = tu_open_db(dir, &o);
    assert_int_equal(lsm_put(db, "k", 1, "v", 1, 0), LSM_OK);
    uint64_t before = stat_counter(db, "wal_syncs: ");
    pthread_t th[BARRIER_THREADS];
    for (int t = 0; t < BARRIER_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, barrier_main, db), 0);
    for (int t = 0; t < BARRIER_THREADS; t++)
        pthread_join(th[t], NULL);
    assert_no_failure();
    assert_int_equal(stat_counter(db, "wal_syncs: "), before + 1);

    assert_int_equal(lsm_put(db, "k", 1, "w", 1, LSM_SYNC), LSM_OK);
    assert_int_equal(lsm_sync(db), LSM_OK);
    assert_int_equal(stat_counter(db, "wal_syncs: "), before + 2);
    assert_int_equal(lsm_put(db, "k", 1, "x", 1, 0), LSM_OK);
    assert_int_equal(lsm_sync(db), LSM_OK);
    assert_int_equal(stat_counter(db, "wal_syncs: "), before + 3);
    assert_int_equal(lsm_close(db), LSM_OK);
    tu_rmtree(dir);
    free(dir);
}

static void test_old_views_survive_compactions(void **state)
{
    (void)state;
    reset_failure();
    char *dir = tu_tempdir("views");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    char k[32], v[OLD_VALUE_MAX];
    for (int i = 0; i < OLD_KEYS; i++) {
        old_key(k, i);
        old_value(v, i, 0);
        assert_int_equal(lsm_put(db, k, strlen(k), v, strlen(v), 0), LSM_OK);
    }
    /* Half in tables, half still in the memtable when the views are made. */
    assert_int_equal(lsm_flush(db), LSM_OK);
    const lsm_snapshot *snap = lsm_snapshot_get(db);
    assert_non_null(snap);
    lsm_read_options ro = { .snapshot = snap };
    lsm_iter *plain = lsm_iter_new(db, NULL);       /* implicit view */
    lsm_iter *snapped = lsm_iter_new(db, &ro);
    lsm_iter *midway = lsm_iter_new(db, NULL);
    assert_non_null(plain);
    assert_non_null(snapped);
    assert_non_null(midway);
    lsm_iter_seek(midway, "old001000", 9);          /* positioned before */
    assert_true(lsm_iter_valid(midway));

    churn_arg ca = { db, 8 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, churn_main, &ca), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(lsm_compact(db), LSM_OK);
    pthread_join(th, NULL);
    assert_no_failure();
    assert_int_equal(lsm_compact(db), LSM_OK);

    /* The newest state is generation 8 (or deleted). */
    for (int i = 0; i < OLD_KEYS; i += 37) {
        old_key(k, i);
        void *got;
        size_t n;
        int rc = lsm_get(db, NULL, k, strlen(k), &got, &n);
        int gone = (i + 8) % 7 == 0 || (i >= 800 && i < 850);
        if (gone) {
            assert_int_equal(rc, LSM_NOT_FOUND);
        } else {
            assert_int_equal(rc, LSM_OK);
            old_value(v, i, 8);
            assert_int_equal(n, strlen(v));
            assert_memory_equal(got, v, n);
            lsm_free(got);
        }
    }
    /* Every old view still reads generation 0 in full. */
    check_old_scan(midway, 1000);
    lsm_iter_first(plain);
    check_old_scan(plain, 0);
    lsm_iter_first(snapped);
    check_old_scan(snapped, 0);
    for (int i = 0; i < OLD_KEYS; i += 11) {
        old_key(k, i);
        old_value(v, i, 0);
        void *got;
        size_t n;
        assert_int_equal(lsm_get(db, &ro, k, strlen(k), &got, &n), LSM_OK);
        assert_int_equal(n, strlen(v));
        assert_memory_equal(got, v, n);
        lsm_free(got);
    }
    /* Once released, the tables they pinned go away at the next change. */
    lsm_iter_free(plain);
    lsm_iter_free(snapped);
    lsm_iter_free(midway);
    lsm_snapshot_release(db, snap);
    assert_int_equal(lsm_put(db, "zz", 2, "1", 1, 0), LSM_OK);
    assert_int_equal(lsm_compact(db), LSM_OK);
    check_no_stray_tables(db, dir);
    tu_close_and_remove(db, dir);
}

/* Nested range deletions racing readers: batch i deletes ["c", c_i) and
 * puts c_i, so every view holds exactly one "c" key, and once a reader
 * has seen c_i, every c_j with j < i stays deleted.  The memtable's
 * deletion index grows (and flushes move deletions into tables) while
 * the readers look. */
enum { NESTED_BATCHES = 3000 };

typedef struct nested_arg {
    lsm_db *db;
    _Atomic int done;
} nested_arg;

static void nested_key(char *k, int i)
{
    snprintf(k, 16, "c%05d", i);
}

static void *nested_writer(void *p)
{
    nested_arg *na = p;
    lsm_batch *b = lsm_batch_new();
    char k[16];
    for (int i = 1; i <= NESTED_BATCHES && !any_failure(); i++) {
        nested_key(k, i);
        lsm_batch_clear(b);
        if (lsm_batch_delete_range(b, "c", 1, k, strlen(k)) ||
            lsm_batch_put(b, k, strlen(k), "v", 1) || lsm_write(na->db, b, 0))
            record_failure("nested writer: %s", lsm_last_error());
    }
    lsm_batch_free(b);
    atomic_store(&na->done, 1);
    return NULL;
}

/* The one "c" key an iterator shows, as its number (0: none yet). */
static int nested_latest(lsm_db *db)
{
    lsm_iter *it = lsm_iter_new(db, NULL);
    int n = 0, latest = 0;
    for (lsm_iter_seek(it, "c", 1); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kn;
        const char *k = lsm_iter_key(it, &kn);
        if (kn != 6 || k[0] != 'c')
            break;
        latest = atoi(k + 1) ? atoi(k + 1) : -1;
        n++;
    }
    if (lsm_iter_status(it) != LSM_OK || n > 1)
        record_failure("nested reader: %d \"c\" keys visible (status %d)", n,
                       lsm_iter_status(it));
    lsm_iter_free(it);
    return latest;
}

static void *nested_reader(void *p)
{
    nested_arg *na = p;
    uint64_t rs = (uint64_t)(uintptr_t)p ^ 0x5bd1e995;
    char k[16];
    int seen = 0;
    while (!atomic_load(&na->done) && !any_failure()) {
        int latest = nested_latest(na->db);
        if (latest < seen)
            record_failure("nested reader: c%05d visible after c%05d", latest, seen);
        seen = latest;
        for (int q = 0; q < 8 && seen > 1; q++) {
            nested_key(k, 1 + (int)(tu_rand(&rs) % (uint64_t)(seen - 1)));
            void *v;
            size_t n;
            int rc = lsm_get(na->db, NULL, k, strlen(k), &v, &n);
            if (rc == LSM_OK)
                lsm_free(v);
            if (rc != LSM_NOT_FOUND)
                record_failure("nested reader: %s readable after c%05d (rc %d)",
                               k, seen, rc);
        }
    }
    return NULL;
}

static void test_nested_range_dels_and_readers(void **state)
{
    (void)state;
    reset_failure();
    char *dir = tu_tempdir("nested");
    lsm_options o;
    tu_small_options(&o);
    lsm_db *db = tu_open_db(dir, &o);
    nested_arg na = { db, 0 };
    pthread_t w, r[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&r[i], NULL, nested_reader, &na), 0);
    assert_int_equal(pthread_create(&w, NULL, nested_writer, &na), 0);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    assert_no_failure();
    assert_int_equal(nested_latest(db), NESTED_BATCHES);
    tu_close_and_remove(db, dir);
}

/* --- idle work racing readers --------------------------------------------- */

/* Generations of the same 1000 "d" keys: written, then deleted by one range
 * deletion, with pauses in which idle work (idle_compaction_ms = 1) flushes
 * the deletions and drops or compacts the tables they cover (its
 * compactions wait for reads too, but reads are noted to within a clock
 * tick, longer than 1 ms: they still start between and during scans,
 * ~30 a run).  A reader
 * must never see a deleted generation again (a dropped table's keys
 * coming back), and a scan that ran wholly between a generation's last
 * put and its deletion must see all of it (no table dropped too soon).
 * "Its deletion" starts when lsm_delete_range is called (deleting), not
 * when it returns (deleted): the deletion is visible before the call
 * returns, and a switching writer may return much later. */
enum { IDLE_GENS = 40, IDLE_KEYS = 1000 };

typedef struct idle_arg {
    lsm_db *db;
    _Atomic int filled, deleting, deleted, done;
} idle_arg;

static void *idle_writer(void *p)
{
    idle_arg *ia = p;
    lsm_batch *b = lsm_batch_new();
    char k[16], v[64];
    for (int g = 1; g <= IDLE_GENS && !any_failure(); g++) {
        for (int i = 0; i < IDLE_KEYS && !any_failure(); i += 100) {
            lsm_batch_clear(b);
            for (int j = i; j < i + 100; j++) {
                snprintf(k, sizeof k, "d%05d", j);
                snprintf(v, sizeof v, "%d", g);
                lsm_batch_put(b, k, strlen(k), v, sizeof v);
            }
            if (lsm_write(ia->db, b, 0))
                record_failure("idle writer: %s", lsm_last_error());
        }
        atomic_store(&ia->filled, g);
        usleep(3000);
        atomic_store(&ia->deleting, g);
        if (lsm_delete_range(ia->db, "d", 1, "e", 1, 0))
            record_failure("idle writer: %s", lsm_last_error());
        atomic_store(&ia->deleted, g);
        usleep(3000);
    }
    lsm_batch_free(b);
    atomic_store(&ia->done, 1);
    return NULL;
}

static void idle_scan(idle_arg *ia)
{
    int f0 = atomic_load(&ia->filled), d0 = atomic_load(&ia->deleted);
    lsm_iter *it = lsm_iter_new(ia->db, NULL);
    int n = 0, same = 1;
    for (lsm_iter_seek(it, "d", 1); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kn, vn;
        const char *k = lsm_iter_key(it, &kn);
        if (kn == 0 || k[0] != 'd')
            break;
        int g = atoi(lsm_iter_value(it, &vn));
        if (g <= d0)
            record_failure("idle reader: %.*s of deleted generation %d visible "
                           "(deleted up to %d)", (int)kn, k, g, d0);
        same &= g == f0;
        n++;
    }
    if (lsm_iter_status(it) != LSM_OK)
        record_failure("idle reader: %s", lsm_status_name(lsm_iter_status(it)));
    lsm_iter_free(it);
    int f1 = atomic_load(&ia->filled), s1 = atomic_load(&ia->deleting);
    if (f0 == f1 && s1 == d0 && f0 == d0 + 1 && (n != IDLE_KEYS || !same))
        record_failure("idle reader: generation %d complete but a scan saw %d "
                       "keys of it", f0, n);
}

static void *idle_reader(void *p)
{
    idle_arg *ia = p;
    while (!atomic_load(&ia->done) && !any_failure())
        idle_scan(ia);
    return NULL;
}

static void test_idle_drops_and_readers(void **state)
{
    (void)state;
    reset_failure();
    char *dir = tu_tempdir("idle");
    lsm_options o;
    tu_small_options(&o);
    o.idle_compaction_ms = 1;
    lsm_db *db = tu_open_db(dir, &o);
    idle_arg ia = { db, 0, 0, 0, 0 };
    pthread_t w, r[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&r[i], NULL, idle_reader, &ia), 0);
    assert_int_equal(pthread_create(&w, NULL, idle_writer, &ia), 0);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    assert_no_failure();
    idle_scan(&ia);
    assert_no_failure();
    uint64_t dropped = stat_counter(db, "tables_dropped: ");
    uint64_t compacted = stat_counter(db, "idle_compactions: ");
    fprintf(stderr, "idle: %" PRIu64 " tables dropped, %" PRIu64 " idle "
            "compactions\n", dropped, compacted);
    assert_true(dropped + compacted > 0);
    tu_close_and_remove(db, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writers_and_readers),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_sync_barriers),
        cmocka_unit_test(test_old_views_survive_compactions),
        cmocka_unit_test(test_nested_range_dels_and_readers),
        cmocka_unit_test(test_idle_drops_and_readers),
    };
    if (getenv("TEST_FILTER"))        /* run only the tests matching it */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
