/*
 * test_corruption.c — damaged bytes on "disk" are detected, never
 * returned.
 *
 * Each test builds a small store once (the golden copy, on the in-memory
 * fault env), then for each damaged byte copies it, flips one bit of the
 * copy (fault_env_flip_bit), opens it and reads everything: every lsm_get,
 * a forward and a backward scan and a few seeks (cm_check_reads).  No read
 * may return a wrong value, a missing key or an extra one; a damaged
 * store either refuses to open with LSM_CORRUPTION or some read reports
 * LSM_CORRUPTION.  The outcomes are counted per region of the file and
 * printed.
 *
 *   tables    every byte of the filter, range-deletion, index and
 *             properties blocks and the footer, and every CORRUPT_STRIDE-th
 *             byte of the data blocks (default 13; 1 = every byte), for an
 *             uncompressed and a zstd table; plus truncations; plus a
 *             sample on the real disk through the POSIX env.
 *   WAL       every fragment header byte, every (CORRUPT_STRIDE*5)-th
 *             payload byte and every byte of the last record.  Damage
 *             before the last record must refuse the open (salvage opens
 *             it, keeping only values that were written); damage in the
 *             last record is a torn tail: it is dropped (and logged),
 *             leaving exactly the earlier records.  The exception is a
 *             damaged fragment length in the log's last block: nothing
 *             says where the next record starts, so the rest of the block
 *             is dropped as a tail (counted and printed).
 *             The < 7-byte zero trailers of WAL blocks are not checked by
 *             design (the log is built to have one); flipping them must
 *             change nothing.
 *   MANIFEST  every byte.
 *   CURRENT   every bit: the open must fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "crash_model.h"
#include "fault_env.h"
#include "lsm.h"
#include "testutil.h"

#define STORE "/db"

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static int stride(void)
{
    int s = (int)env_u64("CORRUPT_STRIDE", 13);
    return s > 0 ? s : 1;
}

/* Checks that fail on engine bugs not fixed yet run strictly only with
 * LSM_TEST_KNOWN_BUGS=1; otherwise their cases are counted and printed. */
static int known_bugs;

/* The engine's log, kept for the last open (torn tails are logged). */
static char last_log[4096];

static void log_line(void *ctx, int level, const char *line)
{
    (void)ctx;
    (void)level;
    size_t used = strlen(last_log);
    snprintf(last_log + used, sizeof last_log - used, "%s\n", line);
}

/* --- the golden store ---------------------------------------------------------- */

typedef struct golden {
    fault_env *fe;
    lsm_options opt;
    cm_model *m;
} golden;

static void base_options(lsm_options *o, lsm_env *env)
{
    lsm_options_init(o);
    o->env = env;
    o->memtable_bytes = 4 << 20;     /* no automatic flush */
    o->block_bytes = 512;
    o->block_restart_interval = 4;
    o->cache_bytes = 1 << 20;
    o->log = log_line;
}

static lsm_db *open_ok(const lsm_options *o)
{
    lsm_db *db = NULL;
    int rc = lsm_open(STORE, o, &db);
    if (rc)
        fail_msg("open: %s: %s", lsm_status_name(rc), lsm_last_error());
    return db;
}

/* Puts, deletes and range deletes over the model's keys. */
static void fill(cm_model *m, lsm_db *db, uint64_t seed, int nops)
{
    static const cm_workload w = {
        .max_value = 120, .sync_pct = 0, .delete_pct = 12, .range_pct = 3,
        .max_range = 6, .batch_pct = 0, .max_batch = 1,
    };
    uint64_t rng = seed;
    for (int i = 0; i < nops; i++)
        assert_int_equal(cm_exec_op(m, cm_gen_op(m, &rng, &w), db), LSM_OK);
}

static void golden_free(golden *g)
{
    cm_model_free(g->m);
    fault_env_free(g->fe);
}

/* A fresh env holding a copy of the golden store. */
static fault_env *copy_of(const golden *g)
{
    fault_env *fe = fault_env_new(1);
    assert_non_null(fe);
    int rc = cm_copy_dir(fault_env_base(g->fe), STORE, fault_env_base(fe), STORE);
    if (rc)
        fail_msg("copying the store: %s", lsm_last_error());
    return fe;
}

/* Name (without the directory) of the only file of the store whose name
 * ends with suffix, or starts with it when prefix is set. */
static char *find_file(fault_env *fe, const char *pattern, int prefix)
{
    lsm_env *e = fault_env_base(fe);
    char **names;
    size_t n;
    assert_int_equal(e->list_dir(e, STORE, &names, &n), LSM_OK);
    char *found = NULL;
    size_t plen = strlen(pattern);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        int match = prefix ? strncmp(names[i], pattern, plen) == 0
                           : len >= plen && strcmp(names[i] + len - plen, pattern) == 0;
        if (match) {
            assert_null(found);
            found = strdup(names[i]);
        }
    }
    lsm_env_free_names(names, n);
    assert_non_null(found);
    return found;
}

static char *read_whole(fault_env *fe, const char *name, size_t *n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", STORE, name);
    char *data = NULL;
    int rc = lsm_env_read_file(fault_env_base(fe), path, &data, n);
    if (rc)
        fail_msg("read %s: %s", path, lsm_last_error());
    return data;
}

/* --- outcomes ---------------------------------------------------------------------- */

enum outcome { REFUSED, DETECTED, UNDETECTED, NUM_OUTCOMES };

/* Opens the damaged copy and reads everything against prefix k of the
 * model.  Wrong data or an error other than LSM_CORRUPTION fails the
 * test. */
static enum outcome open_and_read_ex(const golden *g, fault_env *fe, size_t k,
                                     const char *what, int *wrong)
{
    lsm_options o = g->opt;
    o.env = fault_env_base(fe);
    last_log[0] = 0;
    lsm_db *db = NULL;
    int rc = lsm_open(STORE, &o, &db);
    if (rc) {
        if (rc != LSM_CORRUPTION)
            fail_msg("%s: open failed with %s, not corruption: %s", what,
                     lsm_status_name(rc), lsm_last_error());
        return REFUSED;
    }
    int errors[2] = { 0, 0 };
    char err[1024];
    if (cm_check_reads(g->m, db, k, errors, err, sizeof err)) {
        if (!wrong)
            fail_msg("%s: WRONG DATA: %s; engine log:\n%s", what, err, last_log);
        *wrong = 1;
        lsm_close(db);
        return UNDETECTED;
    }
    if (errors[0] != errors[1])
        fail_msg("%s: %d reads failed with another status than corruption "
                 "(last: %s)", what, errors[0] - errors[1], lsm_last_error());
    lsm_close(db);
    return errors[1] ? DETECTED : UNDETECTED;
}

static enum outcome open_and_read(const golden *g, fault_env *fe, size_t k,
                                  const char *what)
{
    return open_and_read_ex(g, fe, k, what, NULL);
}

/* --- tables ------------------------------------------------------------------------ */

enum region { R_DATA, R_FILTER, R_RANGE_DEL, R_INDEX, R_PROPERTIES, R_FOOTER,
              NUM_REGIONS };
static const char *region_name[] = { "data", "filter", "range-del", "index",
                                     "properties", "footer" };

typedef struct table_map {
    uint64_t size;
    uint64_t off[4], len[4];   /* filter, range-del, index, properties (+trailer) */
} table_map;

/* Reads the footer (format in table_builder.c). */
static table_map map_table(const char *data, size_t n)
{
    table_map t = { .size = n };
    assert_true(n >= 80);
    const char *f = data + n - 80;
    for (int i = 0; i < 4; i++) {
        t.off[i] = lsm_decode_fixed64(f + 16 * i);
        t.len[i] = lsm_decode_fixed64(f + 16 * i + 8) + 5;
    }
    return t;
}

static enum region region_of(const table_map *t, uint64_t off)
{
    if (off >= t->size - 80)
        return R_FOOTER;
    for (int i = 0; i < 4; i++)
        if (off >= t->off[i] && off < t->off[i] + t->len[i])
            return (enum region)(R_FILTER + i);
    return R_DATA;
}

/* One table in level 0 holding puts, deletes and range deletions. */
static void build_table_store(golden *g, int compression)
{
    g->fe = fault_env_new(11);
    base_options(&g->opt, fault_env_base(g->fe));
    g->opt.compression = compression;
    g->opt.block_bytes = 1024;
    g->m = cm_model_new(120);
    lsm_db *db = open_ok(&g->opt);
    fill(g->m, db, 5, 200);
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
}

static void table_corruption(int compression)
{
    golden g;
    build_table_store(&g, compression);
    size_t k = cm_nops(g.m);
    char *name = find_file(g.fe, ".sst", 0);
    size_t n;
    char *data = read_whole(g.fe, name, &n);
    table_map t = map_table(data, n);
    free(data);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", STORE, name);

    /* The undamaged copy reads back exactly. */
    fault_env *fe = copy_of(&g);
    assert_int_equal(open_and_read(&g, fe, k, "undamaged table"), UNDETECTED);
    fault_env_free(fe);

    int counts[NUM_REGIONS][NUM_OUTCOMES] = { { 0 } };
    int st = stride();
    for (uint64_t off = 0; off < n; off++) {
        enum region r = region_of(&t, off);
        if (r == R_DATA && off % (uint64_t)st != 0)
            continue;
        fe = copy_of(&g);
        int bit = (int)(off * 5 % 8);
        assert_int_equal(fault_env_flip_bit(fe, path, off, bit), 0);
        char what[128];
        snprintf(what, sizeof what, "%s: bit %d of byte %" PRIu64 " (%s)",
                 name, bit, off, region_name[r]);
        enum outcome o = open_and_read(&g, fe, k, what);
        if (o == UNDETECTED)
            fail_msg("%s: damage went unnoticed", what);
        counts[r][o]++;
        fault_env_free(fe);
    }
    for (int r = 0; r < NUM_REGIONS; r++)
        fprintf(stderr, "corruption: %s table, %-10s: %d flips: %d refused at "
                "open, %d reported by reads, %d undetected\n",
                compression ? "zstd" : "raw", region_name[r],
                counts[r][0] + counts[r][1] + counts[r][2], counts[r][REFUSED],
                counts[r][DETECTED], counts[r][UNDETECTED]);

    /* Truncations. */
    uint64_t cuts[] = { 0, 1, n / 2, t.off[0], n - 81, n - 80, n - 40, n - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        fe = copy_of(&g);
        assert_int_equal(fault_env_truncate(fe, path, cuts[i]), 0);
        char what[128];
        snprintf(what, sizeof what, "%s truncated to %" PRIu64 " bytes", name,
                 cuts[i]);
        if (open_and_read(&g, fe, k, what) == UNDETECTED)
            fail_msg("%s: went unnoticed", what);
        fault_env_free(fe);
    }
    free(name);
    golden_free(&g);
}

static void test_table_raw(void **state)
{
    (void)state;
    table_corruption(LSM_COMPRESS_NONE);
}

static void test_table_zstd(void **state)
{
    (void)state;
    table_corruption(LSM_COMPRESS_ZSTD);
}

/* The same on the real disk: a sample of bytes flipped in the file. */
static void test_table_posix(void **state)
{
    (void)state;
    char *dir = tu_tempdir("corrupt");
    assert_non_null(dir);
    lsm_options o;
    base_options(&o, NULL);
    cm_model *m = cm_model_new(150);
    lsm_db *db = NULL;
    assert_int_equal(lsm_open(dir, &o, &db), LSM_OK);
    fill(m, db, 9, 200);
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    char *sst = tu_find_file(dir, ".sst");
    assert_non_null(sst);
    long long size = tu_file_size(sst);
    assert_true(size > 80);
    int detected = 0, refused = 0, cases = 0;
    for (long long off = 0; off < size; off += 1 + off / 4 + (off % 3)) {
        assert_int_equal(tu_flip_byte(sst, off, 0x10), 0);
        int rc = lsm_open(dir, &o, &db);
        if (rc) {
            assert_int_equal(rc, LSM_CORRUPTION);
            refused++;
        } else {
            int errors[2] = { 0, 0 };
            char err[1024];
            if (cm_check_reads(m, db, cm_nops(m), errors, err, sizeof err))
                fail_msg("byte %lld of %s: WRONG DATA: %s", off, sst, err);
            assert_int_equal(errors[0], errors[1]);
            if (!errors[1])
                fail_msg("byte %lld of %s: damage went unnoticed", off, sst);
            detected++;
            lsm_close(db);
        }
        assert_int_equal(tu_flip_byte(sst, off, 0x10), 0);
        cases++;
    }
    /* Restored, the store reads back. */
    assert_int_equal(lsm_open(dir, &o, &db), LSM_OK);
    size_t k;
    char err[1024];
    if (cm_verify(m, db, cm_nops(m), cm_nops(m), &k, err, sizeof err))
        fail_msg("restored: %s", err);
    lsm_close(db);
    fprintf(stderr, "corruption: POSIX table: %d flips: %d refused at open, "
            "%d reported by reads\n", cases, refused, detected);
    free(sst);
    cm_model_free(m);
    tu_rmtree(dir);
    free(dir);
}

/* --- the WAL ------------------------------------------------------------------------ */

#define WAL_BLOCK 32768
#define WAL_HEADER 15      /* a WAL's fragments carry its id (wal.h) */
#define WAL_START (-2)     /* record_of: the WAL's start fragment */
#define WAL_RECYCLABLE 5   /* added to their types */
#define MANIFEST_HEADER 7  /* the manifest's do not */

/* record_of[off]: index of the record byte off belongs to, -1 for a
 * block trailer, WAL_START for the WAL's start fragment (wal.h); header[off]:
 * 1 + position inside a fragment header, 0 in a payload (positions 4 and 5
 * are the length, 6 the type, 7-14 the log's id). */
typedef struct wal_map {
    int *record_of;
    char *header;
    int nrecords;
} wal_map;

static wal_map map_wal(const char *d, size_t n, size_t hdr)
{
    wal_map w = { calloc(n, sizeof(int)), calloc(n, 1), 0 };
    assert_non_null(w.record_of);
    size_t off = 0;
    int rec = 0;
    while (off < n) {
        size_t left = WAL_BLOCK - off % WAL_BLOCK;
        if (left < hdr) {
            for (size_t i = 0; i < left && off + i < n; i++)
                w.record_of[off + i] = -1;
            off += left;
            continue;
        }
        assert_true(off + hdr <= n);
        size_t len = (size_t)(unsigned char)d[off + 4] |
                     (size_t)(unsigned char)d[off + 5] << 8;
        int type = (unsigned char)d[off + 6];
        if (hdr == WAL_HEADER)
            type -= WAL_RECYCLABLE;
        int start = off == 0 && hdr == WAL_HEADER && type == 5;
        assert_true((start || (type >= 1 && type <= 4)) && off + hdr + len <= n);
        for (size_t i = 0; i < hdr + len; i++) {
            w.record_of[off + i] = start ? WAL_START : rec;
            w.header[off + i] = i < hdr ? (char)(i + 1) : 0;
        }
        off += hdr + len;
        if (type == 1 || type == 4)   /* FULL or LAST ends a record */
            rec++;
    }
    w.nrecords = rec;
    return w;
}

static void put_one(golden *g, lsm_db *db, uint32_t key, uint32_t vlen)
{
    cm_op_begin(g->m, 0);
    cm_op_put(g->m, key, vlen);
    assert_int_equal(cm_exec_op(g->m, cm_op_end(g->m), db), LSM_OK);
}

/* Bytes of a varint. */
static int varint_len(uint64_t v)
{
    int n = 1;
    while (v >= 128) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Makes the WAL's first block end with a 3-byte zero trailer: measures
 * the record overhead of a put with a probe, then sizes one put to end 3
 * bytes before the block boundary. */
static void end_block_with_trailer(golden *g, lsm_db *db)
{
    char *name = find_file(g->fe, ".log", 0);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", STORE, name);
    free(name);
    int64_t s0 = fault_env_file_size(g->fe, path);
    put_one(g, db, 5, 100);
    int64_t s1 = fault_env_file_size(g->fe, path);
    /* header + batch overhead, less the value and its 1-byte length */
    int64_t fixed = s1 - s0 - 100 - 1;
    int64_t want = WAL_BLOCK - 3 - s1;   /* bytes the record must take */
    assert_true(s1 < WAL_BLOCK - 1000);
    int64_t v = want - fixed - 3;
    while (v + fixed + varint_len((uint64_t)v) < want)
        v++;
    while (v + fixed + varint_len((uint64_t)v) > want)
        v--;
    put_one(g, db, 6, (uint32_t)v);
    assert_int_equal(fault_env_file_size(g->fe, path), WAL_BLOCK - 3);
}

static void test_wal(void **state)
{
    (void)state;
    golden g;
    g.fe = fault_env_new(12);
    base_options(&g.opt, fault_env_base(g.fe));
    g.m = cm_model_new(150);
    lsm_db *db = open_ok(&g.opt);
    fill(g.m, db, 6, 40);
    end_block_with_trailer(&g, db);
    /* Records spanning blocks (FIRST, MIDDLE, LAST fragments). */
    for (int i = 0; i < 2; i++) {
        cm_op_begin(g.m, 0);
        cm_op_put(g.m, (uint32_t)(10 + i), i ? 3000 : 40000);
        assert_int_equal(cm_exec_op(g.m, cm_op_end(g.m), db), LSM_OK);
        fill(g.m, db, 60 + (uint64_t)i, 15);
    }
    assert_int_equal(lsm_close(db), LSM_OK);   /* syncs the WAL */
    size_t nops = cm_nops(g.m);

    char *name = find_file(g.fe, ".log", 0);
    size_t n;
    char *data = read_whole(g.fe, name, &n);
    wal_map w = map_wal(data, n, WAL_HEADER);
    free(data);
    assert_int_equal(w.nrecords, (int)nops);   /* one record per write */
    char path[256];
    snprintf(path, sizeof path, "%s/%s", STORE, name);

    int st = stride() * 5;
    int midlog = 0, tail = 0, trailer = 0, salvaged = 0, lost_tail_ops = 0;
    int length_damage = 0, start_salvaged = 0;
    for (size_t off = 0; off < n; off++) {
        int rec = w.record_of[off];
        int last = rec == w.nrecords - 1;
        if (rec >= 0 && !w.header[off] && !last && off % (size_t)st != 0)
            continue;
        fault_env *fe = copy_of(&g);
        int bit = (int)(off * 3 % 8);
        assert_int_equal(fault_env_flip_bit(fe, path, off, bit), 0);
        char what[160];
        snprintf(what, sizeof what, "%s: bit %d of byte %zu (record %d of %d%s)",
                 name, bit, off, rec, w.nrecords,
                 rec == WAL_START ? ", the WAL's start" : rec < 0 ? ", block trailer"
                 : w.header[off] ? ", header" : "");
        lsm_options o = g.opt;
        o.env = fault_env_base(fe);
        last_log[0] = 0;
        int rc = lsm_open(STORE, &o, &db);
        char err[1024];
        size_t k;
        if (rec == WAL_START && rc == LSM_OK) {
            /* It is synced before the WAL takes its name (db.c): its
             * damage is damage before the tail. */
            fail_msg("%s: opened with the WAL's start damaged", what);
        } else if (rec == -1) {
            /* Trailer bytes are not checked; the log is intact. */
            if (rc)
                fail_msg("%s: open failed: %s", what, lsm_last_error());
            if (cm_verify(g.m, db, nops, nops, &k, err, sizeof err))
                fail_msg("%s: %s", what, err);
            lsm_close(db);
            trailer++;
        } else if (rc == LSM_OK) {
            /* Accepted only as a torn tail: exactly the records before the
             * damaged one, and a log line saying so. */
            if (cm_verify(g.m, db, (size_t)rec, (size_t)rec, &k, err, sizeof err))
                fail_msg("%s: opened, but %s", what, err);
            /* A header whose type or log number was hit names no longer
             * this log: it reads as the old bytes past the end of a
             * reused file (wal.h), the end of the log. */
            int names_other = w.header[off] >= 7;
            if (!names_other && !strstr(last_log, "torn tail"))
                fail_msg("%s: records dropped without a log line", what);
            lsm_close(db);
            tail++;
            lost_tail_ops += (int)(nops - (size_t)rec);
            /* Valid records follow the damaged one, so this is mid-log
             * damage, which must refuse the open — except when the damaged
             * byte is a fragment's length: then the reader cannot know
             * where the next record starts, and everything from the
             * damaged record to the end of the block is lost as a tail. */
            if (!last && w.header[off] != 5 && w.header[off] != 6)
                fail_msg("%s: damage followed by valid records was dropped "
                         "as a torn tail, losing %zu synced writes", what,
                         nops - (size_t)rec);
            if (!last)
                length_damage++;
        } else {
            if (rc != LSM_CORRUPTION)
                fail_msg("%s: open failed with %s", what, lsm_status_name(rc));
            if (last)
                fail_msg("%s: damage in the last record refused the open", what);
            midlog++;
            /* Salvage keeps what still checks out, nothing invented. */
            o.salvage = 1;
            rc = lsm_open(STORE, &o, &db);
            if (rc)
                fail_msg("%s: salvage failed: %s", what, lsm_last_error());
            if (cm_check_plausible(g.m, db, err, sizeof err))
                fail_msg("%s: salvage: %s", what, err);
            /* The start holds no record: salvage reads the log on past it
             * (wal_reader.c, adopt_id_after_start). */
            if (rec == WAL_START && cm_verify(g.m, db, nops, nops, &k, err, sizeof err))
                fail_msg("%s: salvage: %s", what, err);
            lsm_close(db);
            salvaged++;
            start_salvaged += rec == WAL_START;
        }
        fault_env_free(fe);
    }
    fprintf(stderr, "corruption: WAL of %d records, %zu bytes: %d flips before "
            "the last record refused the open (%d then salvaged), %d dropped "
            "as a torn tail (losing %d writes), %d in block trailers "
            "harmless\n", w.nrecords, n, midlog, salvaged, tail,
            lost_tail_ops, trailer);
    fprintf(stderr, "corruption: (%d of those torn tails were a damaged "
            "length field before the last record)\n", length_damage);
    assert_true(midlog > 0 && tail > 0 && trailer > 0);
    assert_int_equal(start_salvaged, 23);   /* every byte of the start */
    free(w.record_of);
    free(w.header);
    free(name);
    golden_free(&g);
}

/* --- the manifest and CURRENT ------------------------------------------------------ */

/* Tables in two levels and several edits in the manifest. */
static void build_manifest_store(golden *g)
{
    g->fe = fault_env_new(13);
    base_options(&g->opt, fault_env_base(g->fe));
    g->m = cm_model_new(150);
    lsm_db *db = open_ok(&g->opt);
    fill(g->m, db, 7, 100);
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_compact(db), LSM_OK);
    fill(g->m, db, 8, 100);
    assert_int_equal(lsm_flush(db), LSM_OK);
    fill(g->m, db, 9, 50);
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    /* Reopen (a fresh manifest) and add one more edit. */
    db = open_ok(&g->opt);
    fill(g->m, db, 10, 50);
    assert_int_equal(lsm_flush(db), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
}

static void test_manifest(void **state)
{
    (void)state;
    golden g;
    build_manifest_store(&g);
    size_t k = cm_nops(g.m);
    char *name = find_file(g.fe, "MANIFEST-", 1);
    size_t n;
    char *data = read_whole(g.fe, name, &n);
    wal_map w = map_wal(data, n, MANIFEST_HEADER);
    free(data);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", STORE, name);
    int counts[NUM_OUTCOMES] = { 0 };
    int last_cases = 0, last_wrong = 0;
    for (size_t off = 0; off < n; off++) {
        fault_env *fe = copy_of(&g);
        int bit = (int)(off * 3 % 8);
        assert_int_equal(fault_env_flip_bit(fe, path, off, bit), 0);
        char what[128];
        snprintf(what, sizeof what, "%s: bit %d of byte %zu of %zu (record %d "
                 "of %d)", name, bit, off, n, w.record_of[off], w.nrecords);
        /* KNOWN ENGINE BUG: damage in the last edit is taken for a torn
         * tail and the edit dropped, although it was fsynced and acted on
         * (its WAL deleted, its inputs deleted); recovery then deletes the
         * edit's new tables as obsolete and serves old values. */
        int in_last = w.record_of[off] == w.nrecords - 1;
        int wrong = 0;
        enum outcome o = open_and_read_ex(&g, fe, k, what,
                                          in_last && !known_bugs ? &wrong : NULL);
        if (wrong) {
            last_wrong++;
        } else if (o == UNDETECTED) {
            fail_msg("%s: damage went unnoticed", what);
        } else if (!in_last && o != REFUSED) {
            fail_msg("%s: damage before the last edit did not refuse the "
                     "open", what);
        }
        last_cases += in_last;
        counts[o]++;
        fault_env_free(fe);
    }
    fprintf(stderr, "corruption: manifest of %zu bytes, %d edits: %d refused "
            "at open, %d reported by reads, %d undetected\n", n, w.nrecords,
            counts[REFUSED], counts[DETECTED], counts[UNDETECTED]);
    if (last_wrong)
        fprintf(stderr, "corruption: KNOWN BUG: %d of %d flips in the last "
                "manifest edit were dropped as a torn tail and reads returned "
                "stale data\n", last_wrong, last_cases);
    free(w.record_of);
    free(w.header);
    free(name);
    golden_free(&g);
}

static void test_current(void **state)
{
    (void)state;
    golden g;
    build_manifest_store(&g);
    size_t n;
    char *data = read_whole(g.fe, "CURRENT", &n);
    free(data);
    const char *path = STORE "/CURRENT";
    int cases = 0, corruption = 0;
    for (size_t off = 0; off < n; off++) {
        for (int bit = 0; bit < 8; bit++) {
            fault_env *fe = copy_of(&g);
            assert_int_equal(fault_env_flip_bit(fe, path, off, bit), 0);
            lsm_options o = g.opt;
            o.env = fault_env_base(fe);
            lsm_db *db = NULL;
            int rc = lsm_open(STORE, &o, &db);
            if (rc == LSM_OK)
                fail_msg("CURRENT with bit %d of byte %zu flipped: opened", bit,
                         off);
            corruption += rc == LSM_CORRUPTION;
            cases++;
            fault_env_free(fe);
        }
    }
    for (uint64_t cut = 0; cut < n; cut++) {
        fault_env *fe = copy_of(&g);
        assert_int_equal(fault_env_truncate(fe, path, cut), 0);
        lsm_options o = g.opt;
        o.env = fault_env_base(fe);
        lsm_db *db = NULL;
        int rc = lsm_open(STORE, &o, &db);
        if (rc != LSM_CORRUPTION)
            fail_msg("CURRENT truncated to %" PRIu64 " bytes: %s", cut,
                     rc ? lsm_status_name(rc) : "opened");
        fault_env_free(fe);
    }
    fprintf(stderr, "corruption: CURRENT: %d bit flips refused (%d as "
            "corruption, %d as another error), %zu truncations refused\n",
            cases, corruption, cases - corruption, n);
    golden_free(&g);
}

int main(void)
{
    known_bugs = (int)env_u64("LSM_TEST_KNOWN_BUGS", 1);
    const char *filter = getenv("TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_raw),
        cmocka_unit_test(test_table_zstd),
        cmocka_unit_test(test_table_posix),
        cmocka_unit_test(test_wal),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
