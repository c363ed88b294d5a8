/*
 * test_wal.c — the log format (lsm/wal_writer.c, lsm/wal_reader.c): block
 * layout, fragmentation, and the reader's handling of torn tails, bit
 * flips, garbage, zero fill and out-of-order fragments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault_env.h"
#include "lsm.h"
#include "wal.h"

#define B LSM_WAL_BLOCK
#define H LSM_WAL_HEADER

typedef struct rec {
    size_t len;
    uint32_t seed;
} rec;

static char tmpdir[64];
static char logpath[128];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lsm_test_wal.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(logpath, sizeof logpath, "%s/000001.log", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(logpath);
    rmdir(tmpdir);
    return 0;
}

static void fill(char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (char)x;
    }
}

static char *make(const rec *r)
{
    char *p = malloc(r->len ? r->len : 1);
    assert_non_null(p);
    fill(p, r->len, r->seed);
    return p;
}

/* Appends records through a writer; ends[i] = writer offset after i. */
static void append_records(lsm_wal_writer *w, const rec *recs, size_t n,
                           uint64_t *ends)
{
    for (size_t i = 0; i < n; i++) {
        char *p = make(&recs[i]);
        assert_int_equal(lsm_wal_append(w, lsm_slice_make(p, recs[i].len)),
                         LSM_OK);
        if (ends)
            ends[i] = lsm_wal_offset(w);
        free(p);
    }
}

static void write_log_sync(const rec *recs, size_t n, uint64_t *ends,
                           int sync)
{
    lsm_env *e = lsm_env_posix();
    lsm_file *f;
    assert_int_equal(e->open_write(e, logpath, &f), LSM_OK);
    lsm_wal_writer *w;
    assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_OK);
    append_records(w, recs, n, ends);
    if (sync)
        assert_int_equal(lsm_wal_sync(w), LSM_OK);
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
}

/* Most tests do not need the data on stable storage: close is enough for
 * reading it back, and skipping fdatasync keeps the suite fast. */
static void write_log(const rec *recs, size_t n, uint64_t *ends)
{
    write_log_sync(recs, n, ends, 0);
}

static lsm_wal_reader *open_reader(void)
{
    lsm_env *e = lsm_env_posix();
    lsm_file *f;
    assert_int_equal(e->open_read(e, logpath, &f), LSM_OK);
    lsm_wal_reader *r;
    assert_int_equal(lsm_wal_reader_new(f, logpath, &r), LSM_OK);
    return r;
}

/* Reads the whole log and checks it yields exactly `want`.  If ends is
 * given, the reader offset after record i must be ends[i]. */
static void expect_log(const rec *want, size_t nwant, const uint64_t *ends,
                       lsm_wal_damage *dmg, uint64_t *offset)
{
    lsm_wal_reader *r = open_reader();
    lsm_slice s;
    size_t i = 0;
    int rc;
    while ((rc = lsm_wal_read(r, &s)) == 1) {
        assert_true(i < nwant);
        assert_int_equal(s.len, want[i].len);
        char *p = make(&want[i]);
        assert_memory_equal(s.data, p, s.len);
        free(p);
        if (ends)
            assert_int_equal(lsm_wal_reader_offset(r), ends[i]);
        i++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, nwant);
    assert_int_equal(lsm_wal_read(r, &s), 0); /* stays at the end */
    if (dmg)
        *dmg = *lsm_wal_reader_damage(r);
    if (offset)
        *offset = lsm_wal_reader_offset(r);
    lsm_wal_reader_free(r);
}

static void expect_clean(const lsm_wal_damage *d)
{
    assert_int_equal(d->regions, 0);
    assert_int_equal(d->dropped_bytes, 0);
    assert_int_equal(d->before_tail, 0);
}

static uint64_t file_size(void)
{
    struct stat st;
    assert_int_equal(stat(logpath, &st), 0);
    return (uint64_t)st.st_size;
}

static void patch(uint64_t off, const void *p, size_t n)
{
    FILE *f = fopen(logpath, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void flip_bit(uint64_t off, int bit)
{
    FILE *f = fopen(logpath, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
    int c = fgetc(f);
    assert_true(c != EOF);
    assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
    assert_int_equal(fputc(c ^ (1 << bit), f), c ^ (1 << bit));
    assert_int_equal(fclose(f), 0);
}

static void append_raw(const void *p, size_t n)
{
    FILE *f = fopen(logpath, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Appends one hand-made fragment with a correct checksum. */
static void append_fragment(unsigned type, const rec *r)
{
    char *payload = make(r);
    char h[H];
    lsm_wal_encode_header(h, (uint8_t)type, 0, 0, payload, r->len);
    append_raw(h, H);
    append_raw(payload, r->len);
    free(payload);
}

/* --- normal operation ----------------------------------------------------- */

static void test_empty_log(void **state)
{
    (void)state;
    write_log(NULL, 0, NULL);
    assert_int_equal(file_size(), 0);
    lsm_wal_damage d;
    uint64_t off;
    expect_log(NULL, 0, NULL, &d, &off);
    expect_clean(&d);
    assert_int_equal(off, 0);
}

static void test_small_records(void **state)
{
    (void)state;
    enum { N = 2000 };
    rec recs[N];
    uint64_t ends[N];
    for (int i = 0; i < N; i++) {
        recs[i].len = (size_t)(i * 37) % 300; /* includes empty records */
        recs[i].seed = (uint32_t)i;
    }
    write_log_sync(recs, N, ends, 1);
    assert_true(file_size() > 2 * B); /* several blocks, trailers between */
    assert_int_equal(ends[N - 1], file_size());
    lsm_wal_damage d;
    uint64_t off;
    expect_log(recs, N, ends, &d, &off);
    expect_clean(&d);
    assert_int_equal(off, file_size());
}

static void test_records_exactly_filling_blocks(void **state)
{
    (void)state;
    /* One block each; then two that share a block exactly; then one that
     * leaves exactly a header's worth (the next record starts with an
     * empty FIRST fragment at the end of the block). */
    rec recs[] = {
        { B - H, 1 }, { B - H, 2 },
        { 1000, 3 }, { B - 2 * H - 1000, 4 },
        { B - 2 * H, 5 }, { 50, 6 }, { 10, 7 },
    };
    size_t n = sizeof recs / sizeof recs[0];
    uint64_t ends[7];
    write_log(recs, n, ends);
    assert_int_equal(ends[0], B);
    assert_int_equal(ends[1], 2 * B);
    assert_int_equal(ends[3], 3 * B);
    assert_int_equal(ends[4], 4 * B - H);
    /* Record 6 = empty FIRST at 4B-7, LAST of 50 bytes at 4B. */
    assert_int_equal(ends[5], 4 * B + H + 50);
    lsm_wal_damage d;
    expect_log(recs, n, ends, &d, NULL);
    expect_clean(&d);
}

static void test_records_spanning_blocks(void **state)
{
    (void)state;
    rec recs[] = {
        { 10, 1 }, { 100 * 1024, 2 }, { 5, 3 }, { 1 << 20, 4 },
        { 3 * (B - H), 5 }, { 0, 6 }, { 2 * B, 7 },
    };
    size_t n = sizeof recs / sizeof recs[0];
    uint64_t ends[7];
    write_log(recs, n, ends);
    lsm_wal_damage d;
    uint64_t off;
    expect_log(recs, n, ends, &d, &off);
    expect_clean(&d);
    assert_int_equal(off, file_size());
    /* Fragment count: 1 MiB needs ceil(1 MiB / (B - 7)) fragments. */
    uint64_t frags = (ends[3] - ends[2]) / B;
    assert_true(frags >= (1u << 20) / (B - H));
}

static void test_block_trailers(void **state)
{
    (void)state;
    for (size_t trailer = 1; trailer < H; trailer++) {
        rec recs[] = { { B - H - trailer, 10 + (uint32_t)trailer },
                       { 100, 20 }, { B, 30 } };
        uint64_t ends[3];
        write_log(recs, 3, ends);
        assert_int_equal(ends[0], B - trailer);
        assert_int_equal(ends[1], B + H + 100); /* skipped the trailer */
        /* The trailer is zeros. */
        FILE *f = fopen(logpath, "rb");
        assert_non_null(f);
        assert_int_equal(fseek(f, (long)(B - trailer), SEEK_SET), 0);
        for (size_t i = 0; i < trailer; i++)
            assert_int_equal(fgetc(f), 0);
        fclose(f);
        lsm_wal_damage d;
        expect_log(recs, 3, ends, &d, NULL);
        expect_clean(&d);

        /* A file ending inside the trailer is a clean end. */
        assert_int_equal(truncate(logpath, (off_t)(B - trailer + 1)), 0);
        uint64_t off;
        expect_log(recs, 1, ends, &d, &off);
        expect_clean(&d);
        assert_int_equal(off, B - trailer);

        /* Trailer bytes are not checked: non-zero junk there is harmless. */
        write_log(recs, 3, ends);
        patch(B - trailer, "\xff\xff\xff\xff\xff\xff", trailer);
        expect_log(recs, 3, ends, &d, NULL);
        expect_clean(&d);
    }
}

static void test_reopen_and_append(void **state)
{
    (void)state;
    /* Session boundaries at awkward places: 3 bytes before a block
     * boundary, mid-block, and 7 bytes before one. */
    rec recs[] = {
        { 100, 1 }, { B - H - 100 - H - 3, 2 },   /* ends at B - 3 */
        { 40000, 3 }, { 5, 4 },
        { 2 * B - 40000 - 5 * H - 5, 5 },         /* ends at 3B - 7 */
        { 70000, 6 }, { 1, 7 },
    };
    size_t cuts[] = { 2, 4, 5, 7 };
    uint64_t ends[7];
    lsm_env *e = lsm_env_posix();
    lsm_file *f;
    assert_int_equal(e->open_write(e, logpath, &f), LSM_OK);
    assert_int_equal(lsm_file_close(f), LSM_OK);
    size_t done = 0;
    for (size_t c = 0; c < 4; c++) {
        assert_int_equal(e->open_append(e, logpath, &f), LSM_OK);
        lsm_wal_writer *w;
        assert_int_equal(lsm_wal_writer_new(f, file_size(), &w), LSM_OK);
        append_records(w, recs + done, cuts[c] - done, ends + done);
        assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
        done = cuts[c];
    }
    assert_int_equal(ends[1], B - 3);
    assert_int_equal(ends[4], 3 * B - H);
    lsm_wal_damage d;
    uint64_t off;
    expect_log(recs, 7, ends, &d, &off);
    expect_clean(&d);
    assert_int_equal(off, file_size());

    /* The writer refuses an offset that is not the file's size. */
    assert_int_equal(e->open_append(e, logpath, &f), LSM_OK);
    lsm_wal_writer *w = NULL;
    assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_INVALID);
    assert_null(w);
    assert_non_null(strstr(lsm_last_error(), "offset"));
}

/* --- damage ------------------------------------------------------------- */

static void write_prefix(const char *data, size_t n)
{
    FILE *f = fopen(logpath, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The log holds keep + 1 records.  Cuts it to every length in [from, to)
 * stepping by `step` (plus every length near a block boundary) and checks
 * that exactly the first `keep` records come back, nothing partial, as a
 * torn tail. */
static void check_torn_tail(const rec *recs, size_t keep, const uint64_t *ends,
                            uint64_t from, uint64_t to, uint64_t step)
{
    FILE *f = fopen(logpath, "rb");
    assert_non_null(f);
    char *whole = malloc(to);
    assert_non_null(whole);
    assert_int_equal(fread(whole, 1, to, f), to);
    fclose(f);
    for (uint64_t len = from; len < to; len++) {
        uint64_t in_block = len % B;
        if ((len - from) % step && in_block > 16 && in_block < B - 16)
            continue;
        write_prefix(whole, len);
        lsm_wal_damage d;
        uint64_t off;
        expect_log(recs, keep, ends, &d, &off);
        assert_int_equal(d.before_tail, 0);
        assert_int_equal(off, from);
        if (d.regions) {
            assert_int_equal(d.regions, 1);
            assert_int_equal(d.first_offset, from);
            assert_true(d.dropped_bytes > 0 && d.dropped_bytes <= len - from);
        } else {
            /* Only a cut inside the header can look like a clean end
             * (when the bytes left happen to be zero). */
            assert_true(len - from < H);
        }
    }
    free(whole);
}

static void test_torn_tail_small_record(void **state)
{
    (void)state;
    rec recs[] = { { 300, 1 }, { 20, 2 }, { 150, 3 } };
    uint64_t ends[3];
    write_log(recs, 3, ends);
    check_torn_tail(recs, 2, ends, ends[1], ends[2], 1);
}

static void test_torn_tail_multi_block_record(void **state)
{
    (void)state;
    rec recs[] = { { 300, 1 }, { 20, 2 }, { 100 * 1024, 3 } };
    uint64_t ends[3];
    write_log(recs, 3, ends);
    check_torn_tail(recs, 2, ends, ends[1], ends[2], 97);
}

static void test_bit_flip_middle_record(void **state)
{
    (void)state;
    /* Three records of one block each: the damaged block is skipped and
     * both neighbours survive. */
    rec recs[] = { { B - H, 1 }, { B - H, 2 }, { B - H, 3 } };
    rec survivors[] = { recs[0], recs[2] };
    /* Payload, checksum, length (shorter; longer than the block) and
     * type bits.  The length is 0x7ff9: bit 7 of its high byte makes it
     * 0xfff9. */
    struct {
        uint64_t off;
        int bit;
        const char *reason;
    } flips[] = {
        { B + 1000, 7, "checksum mismatch" },
        { B + H + 5, 0, "checksum mismatch" },
        { B + 0, 7, "checksum mismatch" },
        { B + 4, 0, "checksum mismatch" },
        { B + 5, 7, "fragment length 65529 past end of block" },
        { B + 6, 4, "unknown fragment type 17" },
    };
    for (size_t k = 0; k < sizeof flips / sizeof flips[0]; k++) {
        write_log(recs, 3, NULL);
        flip_bit(flips[k].off, flips[k].bit);
        lsm_wal_damage d;
        expect_log(survivors, 2, NULL, &d, NULL);
        assert_int_equal(d.regions, 1);
        assert_int_equal(d.first_offset, B);
        assert_int_equal(d.dropped_bytes, B);
        assert_int_equal(d.before_tail, 1);
        assert_string_equal(d.first_reason, flips[k].reason);
    }
}

static void test_bit_flip_in_fragmented_record(void **state)
{
    (void)state;
    /* The middle record spans blocks 0..3; damage to one of its MIDDLE
     * fragments drops it, and its LAST fragment, read after resyncing, is
     * dropped as out of sequence; the record after it survives. */
    rec recs[] = { { 100, 1 }, { 100 * 1024, 2 }, { 100, 3 } };
    rec survivors[] = { recs[0], recs[2] };
    uint64_t ends[3];
    write_log(recs, 3, ends);
    flip_bit(2 * B + 500, 3);
    lsm_wal_damage d;
    uint64_t off;
    expect_log(survivors, 2, NULL, &d, &off);
    assert_int_equal(off, ends[2]);
    assert_int_equal(d.before_tail, 1);
    assert_int_equal(d.first_offset, ends[0]);
    assert_string_equal(d.first_reason, "checksum mismatch");
    /* Everything of record 2 is accounted as dropped. */
    assert_int_equal(d.dropped_bytes, ends[1] - ends[0]);
    assert_int_equal(d.regions, 1);
}

static void test_damage_drops_rest_of_block(void **state)
{
    (void)state;
    /* Resynchronisation is at block boundaries: a record sharing the
     * damaged block, after the bad fragment, is lost with it. */
    rec recs[] = { { 100, 1 }, { 100, 2 }, { 100, 3 },
                   { B - H - 3 * (H + 100), 4 }, { 50, 5 } };
    uint64_t ends[5];
    write_log(recs, 5, ends);
    assert_int_equal(ends[3], B);
    flip_bit(ends[0] + H + 50, 1);
    rec survivors[] = { recs[0], recs[4] };
    lsm_wal_damage d;
    expect_log(survivors, 2, NULL, &d, NULL);
    assert_int_equal(d.first_offset, ends[0]);
    assert_int_equal(d.dropped_bytes, B - ends[0]);
    assert_int_equal(d.before_tail, 1);
}

static void test_garbage_after_records(void **state)
{
    (void)state;
    rec recs[] = { { 1000, 1 }, { 50000, 2 }, { 3, 3 } };
    uint64_t ends[3];
    size_t sizes[] = { 1, 6, 7, 100, 40000 };
    for (size_t k = 0; k < 5; k++) {
        write_log(recs, 3, ends);
        char *junk = malloc(sizes[k]);
        assert_non_null(junk);
        fill(junk, sizes[k], 99 + (uint32_t)k);
        junk[0] |= 1; /* not a zero header */
        append_raw(junk, sizes[k]);
        free(junk);
        lsm_wal_damage d;
        uint64_t off;
        expect_log(recs, 3, ends, &d, &off);
        assert_int_equal(off, ends[2]);
        assert_int_equal(d.regions, 1);
        assert_int_equal(d.first_offset, ends[2]);
        assert_int_equal(d.dropped_bytes, sizes[k]);
        assert_int_equal(d.before_tail, 0);
    }
}

static void test_zero_fill(void **state)
{
    (void)state;
    rec recs[] = { { 1000, 1 }, { 50000, 2 } };
    uint64_t ends[4];
    /* Zeros at the end (preallocation) are tail, not damage. */
    write_log(recs, 2, ends);
    char *zeros = calloc(1, 3 * B);
    assert_non_null(zeros);
    append_raw(zeros, 2 * B + 123);
    lsm_wal_damage d;
    uint64_t off;
    expect_log(recs, 2, ends, &d, &off);
    expect_clean(&d);
    assert_int_equal(off, ends[1]);

    /* Zeros in the middle, valid records after them: damage.  (The new
     * records start a block: resynchronisation is at block boundaries.) */
    assert_int_equal(truncate(logpath, 3 * B), 0);
    lsm_env *e = lsm_env_posix();
    lsm_file *f;
    assert_int_equal(e->open_append(e, logpath, &f), LSM_OK);
    lsm_wal_writer *w;
    assert_int_equal(lsm_wal_writer_new(f, file_size(), &w), LSM_OK);
    rec more[] = { { 10, 3 }, { 20, 4 } };
    append_records(w, more, 2, ends + 2);
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
    rec all[] = { recs[0], recs[1], more[0], more[1] };
    expect_log(all, 4, ends, &d, &off);
    assert_int_equal(d.regions, 1);
    assert_int_equal(d.first_offset, ends[1]);
    assert_int_equal(d.dropped_bytes, 3 * B - ends[1]);
    assert_int_equal(d.before_tail, 1);
    assert_string_equal(d.first_reason, "zero-filled region");

    /* A record cut off by zeros (its later blocks never written). */
    rec big[] = { { 10, 5 }, { 3 * B, 6 } };
    write_log(big, 2, ends);
    patch(B, zeros, 2 * B);
    assert_int_equal(truncate(logpath, 3 * B), 0);
    expect_log(big, 1, ends, &d, &off);
    assert_int_equal(d.regions, 1);
    assert_int_equal(d.first_offset, ends[0]);
    assert_int_equal(d.dropped_bytes, B - ends[0]);
    assert_int_equal(d.before_tail, 0);
    free(zeros);
}

static void test_out_of_order_fragments(void **state)
{
    (void)state;
    rec a = { 30, 1 }, b = { 40, 2 }, c = { 50, 3 }, x = { 60, 4 };
    rec ab[] = { a, b };
    lsm_wal_damage d;
    struct {
        unsigned types[2];
        size_t n;
        const char *reason;
    } cases[] = {
        { { LSM_WAL_MIDDLE }, 1, "MIDDLE fragment without FIRST" },
        { { LSM_WAL_LAST }, 1, "LAST fragment without FIRST" },
        { { LSM_WAL_FIRST }, 1, "record missing its LAST fragment" },
        { { LSM_WAL_FIRST, LSM_WAL_MIDDLE }, 2,
          "record missing its LAST fragment" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_log(&a, 1, NULL);
        for (size_t i = 0; i < cases[k].n; i++)
            append_fragment(cases[k].types[i], &x);
        append_fragment(LSM_WAL_FULL, &b);
        expect_log(ab, 2, NULL, &d, NULL);
        assert_int_equal(d.regions, 1);
        assert_int_equal(d.first_offset, H + a.len);
        assert_int_equal(d.before_tail, 1);
        assert_string_equal(d.first_reason, cases[k].reason);
        assert_int_equal(d.dropped_bytes, cases[k].n * (H + x.len));
    }

    /* FIRST, FIRST, LAST: the first record is dropped, the second built. */
    write_log(&a, 1, NULL);
    append_fragment(LSM_WAL_FIRST, &x);
    append_fragment(LSM_WAL_FIRST, &b);
    append_fragment(LSM_WAL_LAST, &c);
    lsm_wal_reader *r = open_reader();
    lsm_slice s;
    assert_int_equal(lsm_wal_read(r, &s), 1);
    assert_int_equal(s.len, a.len);
    assert_int_equal(lsm_wal_read(r, &s), 1);
    assert_int_equal(s.len, b.len + c.len);
    char *pb = make(&b), *pc = make(&c);
    assert_memory_equal(s.data, pb, b.len);
    assert_memory_equal(s.data + b.len, pc, c.len);
    free(pb);
    free(pc);
    assert_int_equal(lsm_wal_read(r, &s), 0);
    assert_int_equal(lsm_wal_reader_damage(r)->before_tail, 1);
    assert_int_equal(lsm_wal_reader_damage(r)->dropped_bytes, H + x.len);
    lsm_wal_reader_free(r);

    /* A torn FIRST at the end: damage, but only a tail. */
    write_log(&a, 1, NULL);
    append_fragment(LSM_WAL_FIRST, &x);
    expect_log(&a, 1, NULL, &d, NULL);
    assert_int_equal(d.regions, 1);
    assert_int_equal(d.before_tail, 0);
    assert_string_equal(d.first_reason, "record truncated by end of file");
}

/* --- sync marks: damage over zeros ahead (wal.h) --------------------------- */

/* Zeroes [off, off + n) of the log, as a page lost by a power cut reads
 * where zeros were written ahead. */
static void zero_at(uint64_t off, size_t n)
{
    FILE *f = fopen(logpath, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fputc(0, f), 0);
    assert_int_equal(fclose(f), 0);
}

enum { MARK_LOG_RECS = 6 };

/* r0, a sync with zeros ahead, then r1..r5 of 3000 bytes (they span
 * pages) over the zeros; `after`: 0 nothing more, 1 a sync ahead, then r6
 * (into the next block) and a sync ahead (its mark shows r1..r5 synced),
 * 2 a final sync (its mark starts the next block), 3 a sync ahead, then a
 * final sync.  Marks in the damaged block itself are not read.
 * ends[i]: offset after record i. */
static void write_marked_log(int after, uint64_t *ends)
{
    rec r0 = { 100, 50 }, rn[MARK_LOG_RECS - 1];
    for (size_t i = 0; i < MARK_LOG_RECS - 1; i++)
        rn[i] = (rec){ 3000, 51 + (uint32_t)i };
    lsm_env *e = lsm_env_posix();
    lsm_file *f;
    assert_int_equal(e->open_write(e, logpath, &f), LSM_OK);
    lsm_wal_writer *w;
    assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_OK);
    append_records(w, &r0, 1, ends);
    assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
    append_records(w, rn, MARK_LOG_RECS - 1, ends + 1);
    if (after == 1) {
        assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
        rec r6 = { B, 60 };        /* the next mark in the next block */
        append_records(w, &r6, 1, NULL);
        assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
    } else if (after == 2) {
        assert_int_equal(lsm_wal_sync_final(w), LSM_OK);
    } else if (after == 3) {    /* a close after a synced write */
        assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
        assert_int_equal(lsm_wal_sync_final(w), LSM_OK);
    }
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
}

/* lsm_wal_sync_cost: the records appended since the last sync, the zeros
 * written ahead since (the next sync writes them out too) and the zeros
 * the next sync ahead would write after it. */
static void test_sync_cost(void **state)
{
    (void)state;
    lsm_env *e = lsm_env_posix();
    lsm_file *f;
    assert_int_equal(e->open_write(e, logpath, &f), LSM_OK);
    lsm_wal_writer *w;
    assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_OK);
    assert_true(lsm_wal_sync_cost(w) == LSM_WAL_PREFILL_BYTES);
    rec r = { 1000, 7 };
    append_records(w, &r, 1, NULL);
    assert_true(lsm_wal_sync_cost(w) == lsm_wal_offset(w) + LSM_WAL_PREFILL_BYTES);
    assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
    uint64_t zeros = lsm_wal_sync_cost(w), synced = lsm_wal_offset(w);
    assert_true(zeros >= LSM_WAL_PREFILL_BYTES && zeros < LSM_WAL_PREFILL_BYTES + 64);
    append_records(w, &r, 1, NULL);
    assert_true(lsm_wal_sync_cost(w) == zeros + lsm_wal_offset(w) - synced);
    assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
    assert_true(lsm_wal_sync_cost(w) == 0);   /* zeros written out, far ahead */
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
}

/* Reads the log stopping at damage; returns the records delivered. */
static int read_stopping(lsm_wal_damage *d)
{
    lsm_wal_reader *r = open_reader();
    lsm_wal_reader_stop_at_damage(r);
    lsm_slice s;
    int n = 0, got;
    while ((got = lsm_wal_read(r, &s)) == 1)
        n++;
    assert_int_equal(got, 0);
    *d = *lsm_wal_reader_damage(r);
    lsm_wal_reader_free(r);
    return n;
}

/* A lost page under r2: the records after it were never synced, so the
 * damage is `unsynced` and r3..r5 are withheld; once a later mark shows
 * r2 synced (a sync ahead after it, or the final mark of a plain sync),
 * the same damage is corruption. */
static void test_sync_marks_judge_damage(void **state)
{
    (void)state;
    uint64_t ends[MARK_LOG_RECS];
    lsm_wal_damage d;
    write_marked_log(0, ends);
    struct stat st;
    assert_int_equal(stat(logpath, &st), 0);
    assert_true((uint64_t)st.st_size >= ends[0] + LSM_WAL_PREFILL_BYTES);
    assert_int_equal(read_stopping(&d), MARK_LOG_RECS);   /* marks are not records */
    assert_int_equal(d.regions, 0);
    zero_at(ends[1], 100);
    assert_int_equal(read_stopping(&d), 2);
    assert_int_equal(d.first_offset, ends[1]);
    assert_int_equal(d.before_tail, 1);
    assert_int_equal(d.unsynced, 1);

    for (int after = 1; after <= 3; after++) {
        write_marked_log(after, ends);
        zero_at(ends[1], 100);
        assert_int_equal(read_stopping(&d), 2);
        assert_int_equal(d.before_tail, 1);
        if (d.unsynced)
            fail_msg("after=%d: damage at %llu read as unsynced", after,
                     (unsigned long long)d.first_offset);
    }

    /* Damage in a log without zeros ahead stays corruption. */
    rec recs[] = { { 100, 1 }, { 3000, 2 }, { 3000, 3 } };
    write_log(recs, 3, ends);
    zero_at(ends[0], 100);
    assert_int_equal(read_stopping(&d), 1);
    assert_int_equal(d.before_tail, 1);
    assert_int_equal(d.unsynced, 0);
}

/* Marks where fewer than 23 bytes are left in a block: the block is
 * padded (a zero trailer under 7 bytes, else padding fragments; 23 bytes
 * before a final mark take two), and every record reads back, no damage. */
static void test_sync_mark_padding(void **state)
{
    (void)state;
    static const size_t lefts[] = { 3, 10, 22, 23 };
    for (size_t k = 0; k < sizeof lefts / sizeof *lefts; k++) {
        /* A first record whose end leaves lefts[k] bytes in block 0. */
        rec recs[] = { { B - H - lefts[k], 70 }, { 500, 71 }, { 40, 72 } };
        lsm_env *e = lsm_env_posix();
        lsm_file *f;
        assert_int_equal(e->open_write(e, logpath, &f), LSM_OK);
        lsm_wal_writer *w;
        assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_OK);
        append_records(w, &recs[0], 1, NULL);
        if (lefts[k] == 23) {        /* a final mark, after a mark that fits */
            assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
            append_records(w, &recs[1], 1, NULL);
            assert_int_equal(lsm_wal_sync_final(w), LSM_OK);
        } else {
            assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
            assert_int_equal(lsm_wal_offset(w) % B, H + LSM_WAL_MARK_PAYLOAD);
            append_records(w, &recs[1], 1, NULL);
        }
        append_records(w, &recs[2], 1, NULL);
        assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
        lsm_wal_damage d;
        expect_log(recs, 3, NULL, &d, NULL);
        expect_clean(&d);
    }
}

/* A record whose payload holds the image of a mark claiming everything
 * synced (a file's data can be anything): after a lost page before it,
 * the image, found only by looking through the damaged block, must not
 * make the damage read as synced (then a power cut would again make the
 * store refuse to open). */
static void test_mark_image_in_payload_is_no_proof(void **state)
{
    (void)state;
    char img[2 * H + LSM_WAL_MARK_PAYLOAD + 100];
    memset(img, 'x', sizeof img);
    char *m = img + 50;
    lsm_encode_fixed64(m + H, 1000);  /* durable: past the lost page, before it */
    lsm_encode_fixed64(m + H + 8, UINT64_MAX);  /* ahead */
    lsm_wal_encode_header(m, LSM_WAL_SYNC_MARK, 0, 0, m + H, LSM_WAL_MARK_PAYLOAD);
    lsm_env *e = lsm_env_posix();
    lsm_file *f;
    assert_int_equal(e->open_write(e, logpath, &f), LSM_OK);
    lsm_wal_writer *w;
    assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_OK);
    rec r0 = { 100, 80 }, r1 = { 3000, 81 };
    append_records(w, &r0, 1, NULL);
    assert_int_equal(lsm_wal_sync_ahead(w), LSM_OK);
    uint64_t lost = lsm_wal_offset(w);
    append_records(w, &r1, 1, NULL);
    assert_int_equal(lsm_wal_append(w, lsm_slice_make(img, sizeof img)), LSM_OK);
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
    zero_at(lost, 100);
    lsm_wal_damage d;
    assert_int_equal(read_stopping(&d), 1);
    assert_int_equal(d.before_tail, 1);
    assert_int_equal(d.unsynced, 1);
}

/* A mark whose offsets contradict its position is damage. */
static void test_malformed_sync_mark(void **state)
{
    (void)state;
    rec a = { 100, 1 }, m = { LSM_WAL_MARK_PAYLOAD, 2 }, b = { 100, 3 };
    write_log(&a, 1, NULL);
    append_fragment(LSM_WAL_SYNC_MARK, &m);
    append_fragment(LSM_WAL_FULL, &b);
    rec both[] = { a, b };
    lsm_wal_damage d;
    expect_log(both, 2, NULL, &d, NULL);
    assert_int_equal(d.regions, 1);
    assert_int_equal(d.before_tail, 1);
    assert_int_equal(d.unsynced, 0);
    assert_string_equal(d.first_reason, "malformed sync mark");
}

/* --- I/O failures (fault-injecting env) ----------------------------------- */

static void test_writer_failure_is_sticky(void **state)
{
    (void)state;
    fault_env *fe = fault_env_new(7);
    assert_non_null(fe);
    lsm_env *e = fault_env_base(fe);
    lsm_file *f;
    assert_int_equal(e->open_write(e, "/wal", &f), LSM_OK);
    lsm_wal_writer *w;
    assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_OK);
    rec r1 = { 100, 1 }, r2 = { 3 * B, 2 };
    append_records(w, &r1, 1, NULL);
    /* Fail the third append of the big record (mid-record). */
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_WRITE), 2, LSM_NO_SPACE, 0);
    char *p = make(&r2);
    assert_int_equal(lsm_wal_append(w, lsm_slice_make(p, r2.len)),
                     LSM_NO_SPACE);
    assert_int_equal(fault_env_faults_fired(fe), 1);
    /* The fault was one-shot, but the writer stays failed. */
    assert_int_equal(lsm_wal_append(w, lsm_slice_make(p, 10)), LSM_NO_SPACE);
    assert_non_null(strstr(lsm_last_error(), "earlier append failed"));
    free(p);
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);

    /* What was written reads back as record 1 plus a torn tail. */
    assert_int_equal(e->open_read(e, "/wal", &f), LSM_OK);
    lsm_wal_reader *r;
    assert_int_equal(lsm_wal_reader_new(f, "/wal", &r), LSM_OK);
    lsm_slice s;
    assert_int_equal(lsm_wal_read(r, &s), 1);
    assert_int_equal(s.len, r1.len);
    assert_int_equal(lsm_wal_read(r, &s), 0);
    assert_int_equal(lsm_wal_reader_damage(r)->before_tail, 0);
    lsm_wal_reader_free(r);

    /* A read error is returned as such, not as the end of the log. */
    assert_int_equal(e->open_read(e, "/wal", &f), LSM_OK);
    assert_int_equal(lsm_wal_reader_new(f, "/wal", &r), LSM_OK);
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_READ), 0, LSM_IO_ERROR, 0);
    assert_int_equal(lsm_wal_read(r, &s), LSM_IO_ERROR);
    lsm_wal_reader_free(r);
    fault_env_free(fe);
}

/* A failed sync is never followed by one that reports success: the
 * kernel may have dropped the pages it could not write, so a later
 * fdatasync proves nothing of them (wal_writer.c). */
static void test_failed_sync_is_sticky(void **state)
{
    (void)state;
    fault_env *fe = fault_env_new(7);
    lsm_env *e = fault_env_base(fe);
    lsm_file *f;
    assert_int_equal(e->open_write(e, "/wal", &f), LSM_OK);
    lsm_wal_writer *w;
    assert_int_equal(lsm_wal_writer_new_log(f, 5, lsm_wal_new_id(), 0, &w), LSM_OK);
    rec r1 = { 100, 1 };
    append_records(w, &r1, 1, NULL);
    fault_env_fail_after(fe, FAULT_MASK(FAULT_OP_SYNC), 0, LSM_IO_ERROR, 0);
    assert_int_equal(lsm_wal_sync(w), LSM_IO_ERROR);
    uint64_t syncs = fault_env_op_count(fe, FAULT_OP_SYNC);
    assert_int_equal(lsm_wal_sync(w), LSM_IO_ERROR);
    assert_int_equal(lsm_wal_sync_ahead(w), LSM_IO_ERROR);
    assert_int_equal(lsm_wal_sync_final(w), LSM_IO_ERROR);
    assert_non_null(strstr(lsm_last_error(), "earlier sync failed"));
    assert_int_equal(fault_env_op_count(fe, FAULT_OP_SYNC), syncs);
    assert_int_equal(fault_env_faults_fired(fe), 1);
    lsm_wal_writer_close(w);
    fault_env_free(fe);
}

static void test_record_checksum_covers_type(void **state)
{
    (void)state;
    /* Changing a FULL into a FIRST (with the payload intact) must fail
     * the checksum rather than produce a record. */
    rec a = { 100, 1 }, b = { 200, 2 };
    rec recs[] = { a, b };
    write_log(recs, 2, NULL);
    patch(6, "\x02", 1);
    lsm_wal_damage d;
    expect_log(NULL, 0, NULL, &d, NULL);
    assert_string_equal(d.first_reason, "checksum mismatch");
    /* Record b still verifies after the damage: not a torn tail. */
    assert_int_equal(d.before_tail, 1);
}

/* --- recyclable logs (wal.h) ------------------------------------------------ */

/* Writes WAL `number` in the recyclable format: over the file's old
 * bytes (open_overwrite) if `reuse`, else a new file. */
static void write_log_numbered(uint64_t number, int reuse, const rec *recs,
                               size_t n, uint64_t *ends)
{
    lsm_env *e = lsm_env_posix();
    lsm_file *f;
    uint64_t old = 0;
    if (reuse)
        assert_int_equal(e->open_overwrite(e, logpath, &old, &f), LSM_OK);
    else
        assert_int_equal(e->open_write(e, logpath, &f), LSM_OK);
    lsm_wal_writer *w;
    assert_int_equal(lsm_wal_writer_new_log(f, number, lsm_wal_new_id(), old, &w), LSM_OK);
    append_records(w, recs, n, ends);
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
}

/* Reads WAL `number` (0: as the manifest, no number given). */
static void expect_log_numbered(uint64_t number, const rec *want, size_t nwant,
                                lsm_wal_damage *dmg)
{
    lsm_wal_reader *r = open_reader();
    if (number)
        lsm_wal_reader_set_log(r, number);
    lsm_slice s;
    size_t i = 0;
    while (lsm_wal_read(r, &s) == 1) {
        assert_true(i < nwant);
        char *p = make(&want[i]);
        assert_int_equal(s.len, want[i].len);
        assert_memory_equal(s.data, p, s.len);
        free(p);
        i++;
    }
    assert_int_equal(i, nwant);
    *dmg = *lsm_wal_reader_damage(r);
    lsm_wal_reader_free(r);
}

/* A file reused for a later WAL: the old records past the new ones are
 * the end of the log, not damage, also where the new records end exactly
 * where an old one starts (same sizes: every old fragment verifies, with
 * the old log's number), and where a new one ends inside an old one. */
static void test_recycled_log_reads_to_its_own_end(void **state)
{
    (void)state;
    rec old[120], young[40];
    for (size_t i = 0; i < 120; i++)
        old[i] = (rec){ 700 + (i % 3) * 2000, (uint32_t)i };
    for (size_t i = 0; i < 40; i++)
        young[i] = (rec){ old[i].len, (uint32_t)(1000 + i) };
    lsm_wal_damage d;
    for (int shorter = 0; shorter < 2; shorter++) {
        write_log_numbered(3, 0, old, 120, NULL);
        expect_log_numbered(3, old, 120, &d);
        expect_clean(&d);
        if (shorter)
            young[39].len -= 100;       /* ends inside an old record */
        write_log_numbered(7, 1, young, 40, NULL);
        expect_log_numbered(7, young, 40, &d);
        expect_clean(&d);
    }
    /* Read as another log's (or as the manifest, which names none), the
     * file has no record of its own. */
    expect_log_numbered(9, NULL, 0, &d);
    assert_int_equal(d.before_tail, 0);
    expect_log_numbered(0, NULL, 0, &d);
    assert_true(d.regions > 0);
}

/* The records of an old log (60 of 900 bytes) and of the younger one
 * written over its file (20 of 500). */
static void old_and_young(rec old[60], rec young[20])
{
    for (size_t i = 0; i < 60; i++)
        old[i] = (rec){ 900, (uint32_t)i };
    for (size_t i = 0; i < 20; i++)
        young[i] = (rec){ 500, (uint32_t)(100 + i) };
}

/* Damage in a recyclable log: a torn record of its own at the end is a
 * torn tail, reported; damage followed by its own records is damage
 * before the tail, as in any log (the reader resynchronises at the next
 * block: the records after it in its block go with it). */
static void test_recycled_log_damage(void **state)
{
    (void)state;
    rec old[60], young[20];
    old_and_young(old, young);
    uint64_t ends[20];
    write_log_numbered(3, 0, old, 60, NULL);
    write_log_numbered(7, 1, young, 20, ends);
    flip_bit(ends[18] + LSM_WAL_LOG_HEADER + 10, 2);   /* the last record */
    lsm_wal_damage d;
    expect_log_numbered(7, young, 19, &d);
    assert_int_equal(d.regions, 1);
    assert_int_equal(d.first_offset, ends[18]);
    assert_int_equal(d.before_tail, 0);
    assert_string_equal(d.first_reason, "checksum mismatch");

    write_log_numbered(3, 0, old, 60, NULL);
    write_log_numbered(7, 1, young, 20, ends);
    flip_bit(ends[4] + LSM_WAL_LOG_HEADER + 10, 2);    /* the sixth */
    expect_log_numbered(7, young, 5, &d);   /* the rest of its block goes */
    assert_int_equal(d.regions, 1);
    assert_int_equal(d.first_offset, ends[4]);
    assert_int_equal(d.before_tail, 1);
}

/* Writes a file of `blocks` blocks tiled with fragments of 100 bytes
 * that verify: in the first format (recyclable 0), or recyclable ones
 * with id `id` -- what a user's file data could hold, copied into old
 * records, to imitate fragments. */
static void write_forged(int blocks, int recyclable, uint64_t id)
{
    FILE *f = fopen(logpath, "wb");
    assert_non_null(f);
    size_t hdr = recyclable ? LSM_WAL_LOG_HEADER : LSM_WAL_HEADER;
    for (int b = 0; b < blocks; b++) {
        size_t off = 0;
        for (; off + 100 <= B; off += 100) {
            char frag[100] = { 0 };
            size_t len = 100 - hdr;
            memset(frag + hdr, 'F', len);
            lsm_wal_encode_header(frag, LSM_WAL_FULL, recyclable, id, frag + hdr, len);
            assert_int_equal(fwrite(frag, 1, 100, f), 100);
        }
        char pad[100] = { 0 };
        assert_int_equal(fwrite(pad, 1, B - off, f), B - off);
    }
    assert_int_equal(fclose(f), 0);
}

/* A recyclable log whose first record spans blocks: the start fragment
 * before it is reckoned in its fragments' sizes. */
static void test_recycled_log_large_first_record(void **state)
{
    (void)state;
    rec recs[] = { { 3 * B, 1 }, { B - 100, 2 }, { 10, 3 } };
    lsm_wal_damage d;
    write_log_numbered(5, 0, recs, 3, NULL);
    expect_log_numbered(5, recs, 3, &d);
    expect_clean(&d);
}

/* A recyclable log whose first block was zeroed (a lost page, a zeroed
 * block) with records after it: damage before the tail, as in a log of
 * the first format, not a torn tail dropping them all. */
static void test_recycled_log_zeroed_start(void **state)
{
    (void)state;
    rec recs[40];
    for (size_t i = 0; i < 40; i++)
        recs[i] = (rec){ 3000, (uint32_t)i };
    static const char zeros[B];
    for (int recyclable = 0; recyclable < 2; recyclable++) {
        if (recyclable)
            write_log_numbered(7, 0, recs, 40, NULL);
        else
            write_log(recs, 40, NULL);
        patch(0, zeros, sizeof zeros);
        lsm_wal_reader *r = open_reader();
        if (recyclable)
            lsm_wal_reader_set_log(r, 7);
        lsm_slice s;
        while (lsm_wal_read(r, &s) == 1)
            ;
        assert_int_equal(lsm_wal_reader_damage(r)->before_tail, 1);
        lsm_wal_reader_free(r);
    }
}

/* A reused file whose new start was damaged after it was synced: the
 * log's id is taken from its first record, right after the start, and
 * every record reads back, after damage (before the tail: a replay keeps
 * them only with salvage).  With that record damaged too nothing tells
 * the log's bytes from the old ones: no record, damage before the tail. */
static void test_recycled_log_damaged_start(void **state)
{
    (void)state;
    rec old[60], young[20];
    old_and_young(old, young);
    const uint64_t first = LSM_WAL_LOG_HEADER + LSM_WAL_START_PAYLOAD;
    lsm_wal_damage d;
    for (uint64_t off = 0; off < first; off += 5) {
        write_log_numbered(3, 0, old, 60, NULL);
        write_log_numbered(7, 1, young, 20, NULL);
        flip_bit(off, (int)(off % 8));
        expect_log_numbered(7, young, 20, &d);
        assert_int_equal(d.regions, 1);
        assert_int_equal(d.first_offset, 0);
        assert_int_equal(d.dropped_bytes, first);
        assert_int_equal(d.before_tail, 1);
    }
    write_log_numbered(3, 0, old, 60, NULL);
    write_log_numbered(7, 1, young, 20, NULL);
    flip_bit(2, 1);
    flip_bit(first + 2, 1);
    expect_log_numbered(7, NULL, 0, &d);
    assert_int_equal(d.before_tail, 1);
}

/* Old bytes that imitate fragments -- in the first format, or recyclable
 * ones with a guessed id -- are neither records nor damage of the WAL
 * written over them, also where its records end on one of their
 * boundaries (the start, 23 bytes, and a record of 62, 77: 100). */
static void test_recycled_log_ignores_forged_fragments(void **state)
{
    (void)state;
    rec young[] = { { 62, 1 } };
    lsm_wal_damage d;
    for (int recyclable = 0; recyclable < 2; recyclable++) {
        write_forged(3, recyclable, 7);
        write_log_numbered(7, 1, young, 1, NULL);
        expect_log_numbered(7, young, 1, &d);
        expect_clean(&d);
    }
}

/* Old bytes in a reused file's last (partial) block that imitate a
 * fragment header whose length runs past the end of the file -- a user's
 * bytes in an old record's payload -- are old bytes like any other, not
 * a torn tail of the log written over them (which a replay counts as
 * damage: db_open.c keep_logs then refuses to leave the WALs live on a
 * nearly full disk, and the log reports a torn tail). */
static void test_recycled_log_ignores_torn_image_in_old_bytes(void **state)
{
    (void)state;
    rec old[] = { { 1000, 1 } }, young[] = { { 100, 2 } };
    uint64_t ends[1];
    lsm_wal_damage d;
    for (int recyclable = 0; recyclable < 2; recyclable++) {
        write_log_numbered(3, 0, old, 1, NULL);
        write_log_numbered(7, 1, young, 1, ends);
        assert_true(ends[0] + 40 < file_size());
        /* At the young log's end: a header of type FULL (or its
         * recyclable type) claiming 2000 bytes, past the file's end. */
        char h[LSM_WAL_LOG_HEADER] = { 0x11, 0x22, 0x33, 0x44, (char)0xd0, 0x07,
                                       (char)(recyclable ? LSM_WAL_FULL + LSM_WAL_RECYCLABLE
                                                         : LSM_WAL_FULL) };
        patch(ends[0], h, sizeof h);
        expect_log_numbered(7, young, 1, &d);
        expect_clean(&d);
    }
}

/* The same with fewer than a header's bytes of the old record left
 * between the young log's end and the end of the file: too few to carry
 * an id, they are old bytes as likely as a header cut by the end of the
 * file, and the reused file's end is its old end, not a torn write. */
static void test_recycled_log_ignores_short_old_bytes_at_eof(void **state)
{
    (void)state;
    rec old[] = { { 1000, 1 } }, young[] = { { 100, 2 } };
    uint64_t ends[1];
    lsm_wal_damage d;
    write_log_numbered(3, 0, old, 1, NULL);
    write_log_numbered(7, 1, young, 1, ends);
    const char tail[5] = { 0x5a, 0x5a, 0x5a, 0x5a, 0x5a };
    patch(ends[0], tail, sizeof tail);
    assert_int_equal(truncate(logpath, (off_t)(ends[0] + sizeof tail)), 0);
    expect_log_numbered(7, young, 1, &d);
    expect_clean(&d);
}

/* A file whose offset 0 holds another log's start is old bytes
 * throughout (wal.h).  With that start damaged, the other log's records
 * must not read as this log's: the fragment after a start carries an id
 * but no number (adopt_id_after_start compares the damaged start with
 * this log's). */
static void test_damaged_foreign_start_is_not_adopted(void **state)
{
    (void)state;
    rec old[60], young[20];
    old_and_young(old, young);
    lsm_wal_damage d;
    write_log_numbered(3, 0, old, 60, NULL);
    expect_log_numbered(7, NULL, 0, &d);        /* foreign: all old bytes */
    assert_int_equal(d.before_tail, 0);
    flip_bit(2, 1);                             /* the old start's checksum */
    expect_log_numbered(7, NULL, 0, &d);        /* log 3's 60 records? */
}
/* Writes an old-format (7-byte header) log whose first record carries,
 * at file offset 23 (its payload's byte 16), a recyclable fragment with
 * id 0x1234 made by hand: `padding` a SYNC with no payload, else a FULL
 * "FORGED" record; then `more` ordinary records. */
static void write_old_log_with_image_at_23(int padding, size_t more)
{
    lsm_env *e = lsm_env_posix();
    lsm_file *f;
    assert_int_equal(e->open_write(e, logpath, &f), LSM_OK);
    lsm_wal_writer *w;
    assert_int_equal(lsm_wal_writer_new(f, 0, &w), LSM_OK);
    char first[300];
    memset(first, 'u', sizeof first);          /* a user's bytes */
    char *img = first + (LSM_WAL_LOG_HEADER + LSM_WAL_START_PAYLOAD - H);
    const uint64_t id = 0x1234;
    const char *body = "FORGED";
    size_t len = padding ? 0 : strlen(body);
    memcpy(img + LSM_WAL_LOG_HEADER, body, len);
    lsm_wal_encode_header(img, padding ? LSM_WAL_SYNC_MARK : LSM_WAL_FULL, 1, id,
                          img + LSM_WAL_LOG_HEADER, len);
    if (!padding)       /* then bytes that are no fragment of any kind */
        img[LSM_WAL_LOG_HEADER + len + 6] = (char)0xff;
    else
        img[LSM_WAL_LOG_HEADER + 6] = (char)0xff;
    assert_int_equal(lsm_wal_append(w, lsm_slice_make(first, sizeof first)), LSM_OK);
    rec r[200];
    for (size_t i = 0; i < more; i++)
        r[i] = (rec){ 1000, (uint32_t)i };
    append_records(w, r, more, NULL);
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
}

/* An old-format WAL (read with its number, as replay_log does) whose
 * first header is damaged: offset 23 is inside its first record's
 * payload -- user data -- so nothing there may be taken for this log's
 * fragment: no forged record, and damage before the tail (the fragments
 * after the damage verify), which salvage reads on past. */
static void test_old_format_damaged_start_image_at_23(void **state)
{
    (void)state;
    for (int padding = 0; padding < 2; padding++) {
        write_old_log_with_image_at_23(padding, 100);
        flip_bit(0, 3);
        lsm_wal_reader *r = open_reader();
        lsm_wal_reader_set_log(r, 7);         /* as replay_log reads it */
        lsm_slice s;
        int n = 0, forged = 0;
        while (lsm_wal_read(r, &s) == 1) {
            forged += s.len == 6 && memcmp(s.data, "FORGED", 6) == 0;
            n++;
        }
        lsm_wal_damage d = *lsm_wal_reader_damage(r);
        lsm_wal_reader_free(r);
        assert_int_equal(forged, 0);
        assert_int_equal(d.before_tail, 1);     /* else: opens, log lost */
        assert_true(n >= 60);                   /* blocks 1.. (salvage) */
    }
}

/* A WAL in a new file (made at open: no old bytes), all in one block,
 * whose start and first record are damaged: the records after them
 * verify (with the log's id, unknown to the reader), so this is damage
 * before the tail, not a torn tail dropping the whole log (a replay of
 * the newest WAL then opens without salvage, its records lost). */
static void test_fresh_log_damaged_start_and_first_record(void **state)
{
    (void)state;
    rec recs[10];
    for (size_t i = 0; i < 10; i++)
        recs[i] = (rec){ 500, (uint32_t)i };
    const uint64_t first = LSM_WAL_LOG_HEADER + LSM_WAL_START_PAYLOAD;
    lsm_wal_damage d;
    write_log_numbered(7, 0, recs, 10, NULL);
    flip_bit(2, 1);
    flip_bit(first + 2, 1);
    expect_log_numbered(7, NULL, 0, &d);
    assert_int_equal(d.before_tail, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_log),
        cmocka_unit_test(test_small_records),
        cmocka_unit_test(test_records_exactly_filling_blocks),
        cmocka_unit_test(test_records_spanning_blocks),
        cmocka_unit_test(test_block_trailers),
        cmocka_unit_test(test_reopen_and_append),
        cmocka_unit_test(test_torn_tail_small_record),
        cmocka_unit_test(test_torn_tail_multi_block_record),
        cmocka_unit_test(test_bit_flip_middle_record),
        cmocka_unit_test(test_bit_flip_in_fragmented_record),
        cmocka_unit_test(test_damage_drops_rest_of_block),
        cmocka_unit_test(test_garbage_after_records),
        cmocka_unit_test(test_zero_fill),
        cmocka_unit_test(test_out_of_order_fragments),
        cmocka_unit_test(test_sync_marks_judge_damage),
        cmocka_unit_test(test_malformed_sync_mark),
        cmocka_unit_test(test_sync_mark_padding),
        cmocka_unit_test(test_mark_image_in_payload_is_no_proof),
        cmocka_unit_test(test_writer_failure_is_sticky),
        cmocka_unit_test(test_failed_sync_is_sticky),
        cmocka_unit_test(test_record_checksum_covers_type),
        cmocka_unit_test(test_sync_cost),
        cmocka_unit_test(test_recycled_log_reads_to_its_own_end),
        cmocka_unit_test(test_recycled_log_damage),
        cmocka_unit_test(test_recycled_log_ignores_forged_fragments),
        cmocka_unit_test(test_recycled_log_ignores_torn_image_in_old_bytes),
        cmocka_unit_test(test_recycled_log_ignores_short_old_bytes_at_eof),
        cmocka_unit_test(test_recycled_log_zeroed_start),
        cmocka_unit_test(test_recycled_log_damaged_start),
        cmocka_unit_test(test_recycled_log_large_first_record),
        cmocka_unit_test(test_damaged_foreign_start_is_not_adopted),
        cmocka_unit_test(test_old_format_damaged_start_image_at_23),
        cmocka_unit_test(test_fresh_log_damaged_start_and_first_record),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
