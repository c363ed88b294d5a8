/*
 * test_manifest.c — version edits and the manifest: the edit encoding
 * round trip, decoding damaged edits, reopening a store many times, a
 * damaged CURRENT, a torn manifest tail and a corrupt manifest record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "env.h"
#include "error.h"
#include "ikey.h"
#include "lsm.h"
#include "testutil.h"
#include "version.h"
#include "wal.h"

/* --- helpers --------------------------------------------------------------- */


static void put_str(lsm_db *db, const char *k, const char *v)
{
    assert_int_equal(lsm_put(db, k, strlen(k), v, strlen(v), 0), LSM_OK);
}

static void check_value(lsm_db *db, const char *key, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int rc = lsm_get(db, NULL, key, strlen(key), &v, &n);
    if (!want) {
        if (rc != LSM_NOT_FOUND)
            fail_msg("%s: expected absent, got rc %d", key, rc);
        return;
    }
    if (rc != LSM_OK)
        fail_msg("%s: expected '%s', got rc %d (%s)", key, want, rc,
                 lsm_last_error());
    if (n != strlen(want) || memcmp(v, want, n) != 0)
        fail_msg("%s: expected '%s', got '%.*s'", key, want, (int)n,
                 (const char *)v);
    lsm_free(v);
}

static void ikey(lsm_buf *b, const char *user, uint64_t seq, int kind)
{
    lsm_buf_clear(b);
    assert_int_equal(lsm_ikey_append(b, lsm_slice_make(user, strlen(user)),
                                     seq, kind), LSM_OK);
}

static void add_file(lsm_version_edit *e, int level, uint64_t number,
                     uint64_t size, uint64_t entries, const char *lo,
                     uint64_t lo_seq, const char *hi, uint64_t hi_seq)
{
    lsm_buf a = { 0 }, b = { 0 };
    ikey(&a, lo, lo_seq, LSM_KIND_PUT);
    ikey(&b, hi, hi_seq, LSM_KIND_DELETE);
    assert_int_equal(lsm_edit_add_file(e, level, number, size, entries,
                                       lsm_buf_slice(&a), lsm_buf_slice(&b)),
                     LSM_OK);
    lsm_buf_free(&a);
    lsm_buf_free(&b);
}

/* An edit with every field set, values spread over the varint widths. */
static void full_edit(lsm_version_edit *e)
{
    lsm_edit_init(e);
    e->has_comparator = 1;
    snprintf(e->comparator, sizeof e->comparator, "lsm.bytewise");
    e->has_log_number = 1;
    e->log_number = 0x7f;
    e->has_next_file = 1;
    e->next_file = UINT64_MAX / 2 - 1;   /* the largest a manifest may hold */
    e->has_last_seq = 1;
    e->last_seq = LSM_MAX_SEQ;
    assert_int_equal(lsm_edit_delete_file(e, 0, 3), LSM_OK);
    assert_int_equal(lsm_edit_delete_file(e, 6, 1ull << 40), LSM_OK);
    assert_int_equal(lsm_edit_delete_file(e, 2, 128), LSM_OK);
    add_file(e, 0, 17, 4096, 100, "apple", 5, "pear", 9);
    add_file(e, 3, 1ull << 35, UINT64_MAX, 0, "", 0, "zzzzzzzzzzzzzzzz", 1);
    add_file(e, 6, 300, 1, 1, "same", LSM_MAX_SEQ, "same", 1);
    /* Tables holding sequence-0 puts (tag 12). */
    add_file(e, 5, 301, 2, 2, "a", 0, "b", 0);
    e->added[e->nadded - 1].meta->seq0_max = LSM_MAX_SEQ;
    add_file(e, 6, 302, 3, 1, "c", 0, "c", 0);
    e->added[e->nadded - 1].meta->seq0_max = 1;
}

static void assert_edits_equal(const lsm_version_edit *a,
                               const lsm_version_edit *b)
{
    assert_int_equal(a->has_comparator, b->has_comparator);
    if (a->has_comparator)
        assert_string_equal(a->comparator, b->comparator);
    assert_int_equal(a->has_log_number, b->has_log_number);
    assert_int_equal(a->has_next_file, b->has_next_file);
    assert_int_equal(a->has_last_seq, b->has_last_seq);
    if (a->has_log_number)
        assert_true(a->log_number == b->log_number);
    if (a->has_next_file)
        assert_true(a->next_file == b->next_file);
    if (a->has_last_seq)
        assert_true(a->last_seq == b->last_seq);
    assert_int_equal(a->ndeleted, b->ndeleted);
    for (size_t i = 0; i < a->ndeleted; i++) {
        assert_int_equal(a->deleted[i].level, b->deleted[i].level);
        assert_true(a->deleted[i].number == b->deleted[i].number);
    }
    assert_int_equal(a->nadded, b->nadded);
    for (size_t i = 0; i < a->nadded; i++) {
        const lsm_file_meta *x = a->added[i].meta, *y = b->added[i].meta;
        assert_int_equal(a->added[i].level, b->added[i].level);
        assert_true(x->number == y->number);
        assert_true(x->size == y->size);
        assert_true(x->entries == y->entries);
        assert_true(x->seq0_max == y->seq0_max);
        assert_int_equal(x->smallest.len, y->smallest.len);
        assert_memory_equal(x->smallest.data, y->smallest.data, x->smallest.len);
        assert_int_equal(x->largest.len, y->largest.len);
        assert_memory_equal(x->largest.data, y->largest.data, x->largest.len);
    }
}

/* Reads a whole file as a NUL-terminated string; NULL if missing. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    size_t n = 0, cap = 0, got;
    char buf[4096];
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        if (n + got + 1 > cap) {
            cap = (n + got + 1) * 2;
            data = realloc(data, cap);
            assert_non_null(data);
        }
        memcpy(data + n, buf, got);
        n += got;
    }
    fclose(f);
    if (!data)
        data = calloc(1, 1);
    data[n] = 0;
    if (len)
        *len = n;
    return data;
}

static void spew(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static char *path_in(const char *dir, const char *name)
{
    char *p;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

/* Path of the manifest CURRENT names (CURRENT must be well formed). */
static char *current_manifest(const char *dir)
{
    char *cur = path_in(dir, "CURRENT");
    char *text = slurp(cur, NULL);
    assert_non_null(text);
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    *nl = 0;
    assert_true(strncmp(text, "MANIFEST-", 9) == 0);
    char *p = path_in(dir, text);
    free(text);
    free(cur);
    return p;
}

static int count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "name size\n" for every file of dir, sorted: to check nothing changed. */
static char *dir_listing(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *lines[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(n < 512);
        char *p = path_in(dir, e->d_name);
        assert_true(asprintf(&lines[n++], "%s %lld\n", e->d_name,
                             tu_file_size(p)) > 0);
        free(p);
    }
    closedir(d);
    qsort(lines, (size_t)n, sizeof *lines, cmp_str);
    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += strlen(lines[i]);
    char *out = calloc(1, total);
    assert_non_null(out);
    for (int i = 0; i < n; i++) {
        strcat(out, lines[i]);
        free(lines[i]);
    }
    return out;
}

/* Small memtables; flushes are explicit. */
static void small_options(lsm_options *o)
{
    lsm_options_init(o);
    o->memtable_bytes = 1 << 20;
    o->cache_bytes = 1 << 20;
}

/* Writes keys k00000..k(n-1) with value "v<i>-<round>", then flushes. */
static void write_round(lsm_db *db, int first, int n, int round)
{
    char k[32], v[32];
    for (int i = first; i < first + n; i++) {
        snprintf(k, sizeof k, "k%05d", i);
        snprintf(v, sizeof v, "v%d-%d", i, round);
        put_str(db, k, v);
    }
    assert_int_equal(lsm_flush(db), LSM_OK);
}

static void check_round(lsm_db *db, int first, int n, int round)
{
    char k[32], v[32];
    for (int i = first; i < first + n; i++) {
        snprintf(k, sizeof k, "k%05d", i);
        snprintf(v, sizeof v, "v%d-%d", i, round);
        check_value(db, k, v);
    }
}

/* --- edit encoding ---------------------------------------------------------- */

static void test_edit_round_trip(void **state)
{
    (void)state;
    lsm_version_edit e, d;
    full_edit(&e);
    lsm_buf enc = { 0 }, again = { 0 };
    assert_int_equal(lsm_edit_encode(&e, &enc), LSM_OK);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&enc)), LSM_OK);
    assert_edits_equal(&e, &d);
    assert_int_equal(lsm_edit_encode(&d, &again), LSM_OK);
    assert_int_equal(again.len, enc.len);
    assert_memory_equal(again.data, enc.data, enc.len);
    lsm_edit_free(&d);

    /* The empty edit encodes to nothing and decodes back to empty. */
    lsm_version_edit empty;
    lsm_edit_init(&empty);
    lsm_buf_clear(&again);
    assert_int_equal(lsm_edit_encode(&empty, &again), LSM_OK);
    assert_int_equal(again.len, 0);
    assert_int_equal(lsm_edit_decode(&d, lsm_slice_make("", 0)), LSM_OK);
    assert_edits_equal(&empty, &d);
    lsm_edit_free(&d);

    lsm_edit_free(&e);
    lsm_buf_free(&enc);
    lsm_buf_free(&again);
}

/* Every proper prefix of an encoding either ends on a field boundary
 * (and decodes to exactly that prefix) or is corruption. */
static void test_edit_truncations(void **state)
{
    (void)state;
    lsm_version_edit e, d;
    full_edit(&e);
    lsm_buf enc = { 0 }, re = { 0 };
    assert_int_equal(lsm_edit_encode(&e, &enc), LSM_OK);
    size_t fields = 4 + e.ndeleted + e.nadded, ok = 0;
    for (size_t len = 0; len < enc.len; len++) {
        /* A heap copy of exactly len bytes, so ASan sees any over-read. */
        char *copy = malloc(len ? len : 1);
        memcpy(copy, enc.data, len);
        int rc = lsm_edit_decode(&d, lsm_slice_make(copy, len));
        if (rc == LSM_OK) {
            ok++;
            lsm_buf_clear(&re);
            assert_int_equal(lsm_edit_encode(&d, &re), LSM_OK);
            assert_int_equal(re.len, len);
            assert_memory_equal(re.data, enc.data, len);
            lsm_edit_free(&d);
        } else {
            if (rc != LSM_CORRUPTION)
                fail_msg("prefix of %zu bytes: rc %d", len, rc);
            assert_non_null(strstr(lsm_last_error(), "malformed version edit"));
        }
        free(copy);
    }
    assert_int_equal(ok, fields);
    lsm_edit_free(&e);
    lsm_buf_free(&enc);
    lsm_buf_free(&re);
}

/* Random damage never crashes; what decodes is well formed. */
static void test_edit_garbled(void **state)
{
    (void)state;
    lsm_version_edit e, d;
    full_edit(&e);
    lsm_buf enc = { 0 };
    assert_int_equal(lsm_edit_encode(&e, &enc), LSM_OK);
    uint64_t rs = 99;
    int corrupt = 0;
    for (int iter = 0; iter < 20000; iter++) {
        char *copy = malloc(enc.len);
        memcpy(copy, enc.data, enc.len);
        int flips = 1 + (int)(tu_rand(&rs) % 3);
        for (int f = 0; f < flips; f++)
            copy[tu_rand(&rs) % enc.len] ^= (char)(1 + tu_rand(&rs) % 255);
        size_t len = iter % 4 == 0 ? tu_rand(&rs) % (enc.len + 1) : enc.len;
        int rc = lsm_edit_decode(&d, lsm_slice_make(copy, len));
        if (rc == LSM_OK) {
            for (size_t i = 0; i < d.ndeleted; i++)
                assert_true(d.deleted[i].level >= 0 &&
                            d.deleted[i].level < LSM_NUM_LEVELS);
            for (size_t i = 0; i < d.nadded; i++) {
                const lsm_file_meta *f = d.added[i].meta;
                lsm_ikey k;
                assert_true(d.added[i].level >= 0 &&
                            d.added[i].level < LSM_NUM_LEVELS);
                assert_true(lsm_ikey_parse(lsm_buf_slice(&f->smallest), &k));
                assert_true(lsm_ikey_parse(lsm_buf_slice(&f->largest), &k));
                assert_true(lsm_ikey_cmp(lsm_buf_slice(&f->smallest),
                                         lsm_buf_slice(&f->largest)) <= 0);
            }
            assert_true(strlen(d.comparator) < sizeof d.comparator);
            lsm_edit_free(&d);
        } else {
            assert_int_equal(rc, LSM_CORRUPTION);
            corrupt++;
        }
        free(copy);
    }
    assert_true(corrupt > 1000);
    /* Pure noise as well. */
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = tu_rand(&rs) % 64;
        char *noise = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            noise[i] = (char)tu_rand(&rs);
        int rc = lsm_edit_decode(&d, lsm_slice_make(noise, len));
        if (rc == LSM_OK)
            lsm_edit_free(&d);
        else
            assert_int_equal(rc, LSM_CORRUPTION);
        free(noise);
    }
    lsm_edit_free(&e);
    lsm_buf_free(&enc);
}

/* Specific malformed fields: unknown tag, bad level, inverted key range,
 * over-long comparator, malformed internal key. */
/* Named snapshot records (tags 7-9) round-trip; malformed ones (id 0, a
 * bad name, a truncated field) are corruption. */
static void test_edit_snapshots(void **state)
{
    (void)state;
    lsm_version_edit e, d;
    lsm_edit_init(&e);
    lsm_snap_record r = { .id = 7, .seq = 12345, .ctime = 1700000000 };
    strcpy(r.name, "before-upgrade");
    assert_int_equal(lsm_edit_add_snapshot(&e, &r), LSM_OK);
    assert_int_equal(lsm_edit_drop_snapshot(&e, 3), LSM_OK);
    e.has_next_snap_id = 1;
    e.next_snap_id = 8;
    lsm_buf b = { 0 };
    assert_int_equal(lsm_edit_encode(&e, &b), LSM_OK);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_OK);
    assert_int_equal(d.nsnaps, 1);
    assert_int_equal(d.snaps[0].id, 7);
    assert_int_equal(d.snaps[0].seq, 12345);
    assert_int_equal(d.snaps[0].ctime, 1700000000);
    assert_string_equal(d.snaps[0].name, "before-upgrade");
    assert_int_equal(d.ndropped_snaps, 1);
    assert_int_equal(d.dropped_snaps[0], 3);
    assert_true(d.has_next_snap_id);
    assert_int_equal(d.next_snap_id, 8);
    lsm_edit_free(&d);
    for (size_t cut = 1; cut < b.len; cut++) {   /* every truncation */
        int rc = lsm_edit_decode(&d, lsm_slice_make(b.data, cut));
        if (rc == LSM_OK)
            lsm_edit_free(&d);
        else
            assert_int_equal(rc, LSM_CORRUPTION);
    }
    lsm_edit_free(&e);

    const char *bad_names[] = { "", ".", "..", "a/b" };
    for (size_t i = 0; i < 5; i++) {
        lsm_buf_clear(&b);
        lsm_buf_put_varint32(&b, 7);
        lsm_buf_put_varint32(&b, i == 4 ? 0 : 1);     /* 4: id 0 */
        lsm_buf_put_varint64(&b, 1);
        lsm_buf_put_varint64(&b, 1);
        const char *n = i < 4 ? bad_names[i] : "ok";
        lsm_buf_put_lenprefixed(&b, n, strlen(n));
        assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);
    }
    lsm_buf_clear(&b);                               /* a NUL inside the name */
    lsm_buf_put_varint32(&b, 7);
    lsm_buf_put_varint32(&b, 1);
    lsm_buf_put_varint64(&b, 1);
    lsm_buf_put_varint64(&b, 1);
    lsm_buf_put_lenprefixed(&b, "a\0b", 3);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);
    lsm_buf_free(&b);
}

/* Appends a new-file field (tag 6, or 12 before its seq0_max) at
 * `level`: file 10, 100 bytes, 1 entry, keys [lo, hi]. */
static void put_file_record(lsm_buf *b, uint32_t tag, uint32_t level,
                            const void *lo, size_t lo_len,
                            const void *hi, size_t hi_len)
{
    lsm_buf_put_varint32(b, tag);
    lsm_buf_put_varint32(b, level);
    lsm_buf_put_varint64(b, 10);
    lsm_buf_put_varint64(b, 100);
    lsm_buf_put_varint64(b, 1);
    lsm_buf_put_lenprefixed(b, lo, lo_len);
    lsm_buf_put_lenprefixed(b, hi, hi_len);
}

static void test_edit_bad_fields(void **state)
{
    (void)state;
    lsm_version_edit d;
    lsm_buf b = { 0 }, k1 = { 0 }, k2 = { 0 };

    lsm_buf_put_varint32(&b, 99);                     /* unknown tag */
    lsm_buf_put_varint64(&b, 1);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);

    lsm_buf_clear(&b);                                /* deleted file, level 7 */
    lsm_buf_put_varint32(&b, 5);
    lsm_buf_put_varint32(&b, LSM_NUM_LEVELS);
    lsm_buf_put_varint64(&b, 10);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);

    ikey(&k1, "b", 1, LSM_KIND_PUT);
    ikey(&k2, "a", 1, LSM_KIND_PUT);
    lsm_buf_clear(&b);                                /* smallest > largest */
    put_file_record(&b, 6, 1, k1.data, k1.len, k2.data, k2.len);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);

    lsm_buf_clear(&b);                                /* new file, level 9 */
    put_file_record(&b, 6, 9, k2.data, k2.len, k1.data, k1.len);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);

    lsm_buf_clear(&b);                                /* key shorter than a trailer */
    put_file_record(&b, 6, 1, "abc", 3, k1.data, k1.len);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);

    lsm_buf_clear(&b);                                /* unknown kind in a key */
    lsm_buf_clear(&k1);
    lsm_buf_append(&k1, "a", 1);
    lsm_buf_put_fixed64(&k1, lsm_ikey_pack(1, 0x7f));
    put_file_record(&b, 6, 1, k1.data, k1.len, k1.data, k1.len);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);

    lsm_buf_clear(&b);                                /* tag 12, seq0_max 0 */
    put_file_record(&b, 12, 1, k2.data, k2.len, k2.data, k2.len);
    lsm_buf_put_varint64(&b, 0);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);
    b.len--;                                          /* ... or missing */
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);
    lsm_buf_put_varint64(&b, 7);                      /* tag 12 well formed */
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_OK);
    assert_true(d.nadded == 1 && d.added[0].meta->seq0_max == 7);
    lsm_edit_free(&d);

    char name[40];
    memset(name, 'c', sizeof name);
    lsm_buf_clear(&b);                                /* comparator too long */
    lsm_buf_put_varint32(&b, 1);
    lsm_buf_put_lenprefixed(&b, name, sizeof name);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);

    lsm_buf_clear(&b);                                /* over-long varint */
    lsm_buf_put_varint32(&b, 2);
    for (int i = 0; i < 11; i++)
        lsm_buf_append(&b, "\xff", 1);
    lsm_buf_append(&b, "\x01", 1);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);

    /* replay_manifest prefixes the decoder's message with the manifest's
     * name, passing lsm_last_error() to lsm_fail: it reads whole. */
    lsm_buf_clear(&b);
    lsm_buf_put_varint32(&b, 99);
    assert_int_equal(lsm_edit_decode(&d, lsm_buf_slice(&b)), LSM_CORRUPTION);
    lsm_fail(LSM_CORRUPTION, "%s: %s", "MANIFEST-000002", lsm_last_error());
    assert_string_equal(lsm_last_error(),
                        "MANIFEST-000002: malformed version edit (field 99)");

    lsm_buf_free(&b);
    lsm_buf_free(&k1);
    lsm_buf_free(&k2);
}

/* --- the manifest in a store -------------------------------------------------- */

/* After `done` rounds of test_reopen_many_times: key i of round q holds
 * "v<i>-<q>", or "v<i>-<q+1>" if it is in the first half of its round's
 * keys and round q+1 has run (it rewrites them). */
static void check_rounds(lsm_db *db, int done, int per)
{
    char k[32], v[32];
    for (int i = 0; i < done * per; i++) {
        int q = i / per;
        int round = i % per < per / 2 && q + 1 < done ? q + 1 : q;
        snprintf(k, sizeof k, "k%05d", i);
        snprintf(v, sizeof v, "v%d-%d", i, round);
        check_value(db, k, v);
    }
    snprintf(k, sizeof k, "k%05d", done * per);
    check_value(db, k, NULL);
}

/* Each open writes a fresh manifest holding the whole version; the old
 * one is deleted, and no table is ever lost on the way. */
static void test_reopen_many_times(void **state)
{
    (void)state;
    char *dir = tu_tempdir("reopen");
    lsm_options o;
    small_options(&o);
    char *prev = NULL;
    const int rounds = 40, per = 50;
    for (int r = 0; r < rounds; r++) {
        lsm_db *db = tu_open_db(dir, &o);
        char *man = current_manifest(dir);
        if (prev)
            assert_string_not_equal(prev, man);
        assert_int_equal(count_prefix(dir, "MANIFEST-"), 1);
        assert_true(tu_file_size(man) > 0);
        check_rounds(db, r, per);
        /* This round's keys as one table; the first half of the previous
         * round's keys again, left in the WAL. */
        write_round(db, r * per, per, r);
        if (r > 0) {
            char k[32], v[32];
            for (int i = (r - 1) * per; i < (r - 1) * per + per / 2; i++) {
                snprintf(k, sizeof k, "k%05d", i);
                snprintf(v, sizeof v, "v%d-%d", i, r);
                put_str(db, k, v);
            }
        }
        if (r % 10 == 9)
            assert_int_equal(lsm_compact(db), LSM_OK);
        assert_int_equal(lsm_close(db), LSM_OK);
        free(prev);
        prev = man;
    }
    lsm_db *db = tu_open_db(dir, &o);
    check_rounds(db, rounds, per);
    assert_true(tu_count_files(dir, ".sst") >= 1);
    assert_int_equal(count_prefix(dir, "MANIFEST-"), 1);
    lsm_close(db);
    free(prev);
    tu_rmtree(dir);
    free(dir);
}

/* A store with data in tables, closed; returns its directory. */
static char *make_store(const lsm_options *o)
{
    char *dir = tu_tempdir("store");
    lsm_db *db = tu_open_db(dir, o);
    write_round(db, 0, 100, 1);
    write_round(db, 100, 100, 2);
    write_round(db, 50, 100, 3);
    assert_int_equal(lsm_close(db), LSM_OK);
    return dir;
}

static void check_store(lsm_db *db)
{
    check_round(db, 0, 50, 1);
    check_round(db, 50, 100, 3);
    check_round(db, 150, 50, 2);
}

/* Writes `contents` to CURRENT, expects lsm_open to fail with `status`
 * and a message containing `needle`, and the directory untouched. */
static void expect_bad_current(const char *dir, const lsm_options *o,
                               const char *contents, size_t n, int status,
                               const char *needle)
{
    char *cur = path_in(dir, "CURRENT");
    spew(cur, contents, n);
    char *before = dir_listing(dir);
    lsm_db *db = NULL;
    int rc = lsm_open(dir, o, &db);
    if (rc != status)
        fail_msg("CURRENT '%.*s': rc %d (%s), wanted %d", (int)n, contents, rc,
                 lsm_last_error(), status);
    assert_null(db);
    if (!strstr(lsm_last_error(), needle))
        fail_msg("message '%s' does not mention '%s'", lsm_last_error(),
                 needle);
    char *after = dir_listing(dir);
    assert_string_equal(before, after);
    free(before);
    free(after);
    free(cur);
}

static void test_damaged_current(void **state)
{
    (void)state;
    lsm_options o;
    small_options(&o);
    char *dir = make_store(&o);
    char *cur = path_in(dir, "CURRENT");
    size_t good_len;
    char *good = slurp(cur, &good_len);
    assert_non_null(good);

    expect_bad_current(dir, &o, "garbage\n", 8, LSM_CORRUPTION, "CURRENT");
    expect_bad_current(dir, &o, "\x01\x02\xff\x00zz\n", 7, LSM_CORRUPTION,
                       "CURRENT");
    expect_bad_current(dir, &o, "", 0, LSM_CORRUPTION, "CURRENT");
    expect_bad_current(dir, &o, "\n", 1, LSM_CORRUPTION, "CURRENT");
    /* The right name without its newline (a torn write of CURRENT). */
    expect_bad_current(dir, &o, good, good_len - 1, LSM_CORRUPTION, "CURRENT");
    /* A manifest name with junk after it. */
    char junk[80];
    int jn = snprintf(junk, sizeof junk, "%.*sx\n", (int)good_len - 1, good);
    expect_bad_current(dir, &o, junk, (size_t)jn, LSM_CORRUPTION, "CURRENT");
    /* A well-formed name of a manifest that does not exist. */
    char *missing_path = path_in(dir, "MANIFEST-999999");
    assert_int_equal(tu_file_size(missing_path), -1);
    spew(cur, good, good_len);
    char *before = dir_listing(dir);
    spew(cur, "MANIFEST-999999\n", 16);
    lsm_db *db = NULL;
    int rc = lsm_open(dir, &o, &db);
    assert_true(rc < 0);
    assert_null(db);
    if (!strstr(lsm_last_error(), "MANIFEST-999999"))
        fail_msg("message '%s' does not name the missing manifest",
                 lsm_last_error());
    spew(cur, good, good_len);
    char *after = dir_listing(dir);
    assert_string_equal(before, after);

    /* Put back, the store opens with everything. */
    db = tu_open_db(dir, &o);
    check_store(db);
    lsm_close(db);
    free(before);
    free(after);
    free(missing_path);
    free(good);
    free(cur);
    tu_rmtree(dir);
    free(dir);
}

typedef struct log_capture {
    char text[4096];
} log_capture;

/* Each line as "LEVEL line" (LEVEL: the lsm_log_level number). */
static void capture_log(void *ctx, int level, const char *line)
{
    log_capture *c = ctx;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%d %s\n", level, line);
}

/* Appends an edit to the live manifest the way the engine would (a whole
 * record), then cuts `cut` bytes off the end: a crash while the edit was
 * being written.  The edit names a table that does not exist, so if it
 * were applied reads would fail.  Returns the record's length. */
static long long append_torn_edit(const char *dir, long long cut)
{
    char *man = current_manifest(dir);
    long long size = tu_file_size(man);
    lsm_file *f;
    assert_int_equal(lsm_env_posix()->open_append(lsm_env_posix(), man, &f),
                     LSM_OK);
    lsm_wal_writer *w;
    assert_int_equal(lsm_wal_writer_new(f, (uint64_t)size, &w), LSM_OK);
    lsm_version_edit e;
    lsm_edit_init(&e);
    e.has_next_file = 1;
    e.next_file = 1000000;
    add_file(&e, 0, 999999, 5000, 10, "k00000", 1ull << 40, "k99999",
             1ull << 40);
    lsm_buf rec = { 0 };
    assert_int_equal(lsm_edit_encode(&e, &rec), LSM_OK);
    assert_int_equal(lsm_wal_append(w, lsm_buf_slice(&rec)), LSM_OK);
    assert_int_equal(lsm_wal_sync(w), LSM_OK);
    assert_int_equal(lsm_wal_writer_close(w), LSM_OK);
    long long full = tu_file_size(man);
    assert_true(full > size);
    assert_true(cut > 0 && cut < full - size);
    assert_int_equal(tu_truncate(man, full - cut), 0);
    lsm_buf_free(&rec);
    lsm_edit_free(&e);
    free(man);
    return full - size;
}

/* Every captured line containing `what` has level `level`; at least one
 * does. */
static void assert_logged_at(const char *text, const char *what, int level)
{
    int seen = 0;
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[1024];
        snprintf(buf, sizeof buf, "%.*s", (int)len, line);
        if (strstr(buf, what)) {
            if (atoi(buf) != level)
                fail_msg("'%s' logged at level %d, not %d", buf, atoi(buf), level);
            seen = 1;
        }
        line += len + (end != NULL);
    }
    if (!seen)
        fail_msg("no '%s' log line in:\n%s", what, text);
}

static void test_torn_manifest_tail(void **state)
{
    (void)state;
    lsm_options o;
    small_options(&o);
    char *dir = make_store(&o);
    /* Cut 1 byte, 3 bytes, all but the header, all but 3 header bytes. */
    long long rec = append_torn_edit(dir, 1);
    long long cuts[] = { 3, rec - LSM_WAL_HEADER, rec - 3, 1 };
    log_capture cap;
    o.log = capture_log;
    o.log_ctx = &cap;
    for (size_t i = 0; i <= sizeof cuts / sizeof cuts[0]; i++) {
        memset(&cap, 0, sizeof cap);
        lsm_db *db = tu_open_db(dir, &o);
        /* A torn tail is what a crash leaves: recovery, not a warning;
         * deleting the old manifest is housekeeping. */
        assert_logged_at(cap.text, "torn tail", LSM_LOG_INFO);
        assert_logged_at(cap.text, "deleted obsolete", LSM_LOG_DEBUG);
        check_store(db);
        char *tables;
        assert_int_equal(lsm_property(db, "sstables", &tables), LSM_OK);
        assert_null(strstr(tables, "999999"));
        lsm_free(tables);
        /* The store keeps working and reopens cleanly. */
        write_round(db, 1000, 20, 9);
        assert_int_equal(lsm_close(db), LSM_OK);
        memset(&cap, 0, sizeof cap);
        db = tu_open_db(dir, &o);
        assert_null(strstr(cap.text, "torn tail"));
        check_store(db);
        check_round(db, 1000, 20, 9);
        assert_int_equal(lsm_close(db), LSM_OK);
        if (i < sizeof cuts / sizeof cuts[0])
            append_torn_edit(dir, cuts[i]);
    }
    tu_rmtree(dir);
    free(dir);
}

/* Offsets of the fragments of a (single-block) manifest. */
static int manifest_fragments(const char *path, long long *offs, int max)
{
    size_t n;
    char *data = slurp(path, &n);
    assert_non_null(data);
    assert_true(n < LSM_WAL_BLOCK);
    int k = 0;
    size_t pos = 0;
    while (pos + LSM_WAL_HEADER <= n && k < max) {
        size_t len = (size_t)(unsigned char)data[pos + 4] |
                     (size_t)(unsigned char)data[pos + 5] << 8;
        assert_int_equal((unsigned char)data[pos + 6], LSM_WAL_FULL);
        offs[k++] = (long long)pos;
        pos += LSM_WAL_HEADER + len;
    }
    assert_int_equal(pos, n);
    free(data);
    return k;
}

/* A flipped byte inside a record that is followed by other records is
 * damage a crash cannot cause (every edit is synced before the next is
 * appended): the store must refuse to open, and delete nothing. */
static void test_corrupt_manifest_record(void **state)
{
    (void)state;
    lsm_options o;
    small_options(&o);
    char *dir = make_store(&o);
    /* A few more flushes after the open so that the manifest holds several
     * records: [whole version][open edit][flush][flush][flush]. */
    lsm_db *db = tu_open_db(dir, &o);
    write_round(db, 300, 10, 4);
    write_round(db, 310, 10, 5);
    write_round(db, 320, 10, 6);
    assert_int_equal(lsm_close(db), LSM_OK);
    char *man = current_manifest(dir);
    long long offs[64];
    int nrec = manifest_fragments(man, offs, 64);
    assert_true(nrec >= 5);
    size_t len;
    char *saved = slurp(man, &len);

    for (int r = 0; r < nrec - 1; r++) {
        long long at = offs[r] + LSM_WAL_HEADER + 1;   /* in the payload */
        assert_int_equal(tu_flip_byte(man, at, 0x20), 0);
        char *before = dir_listing(dir);
        db = NULL;
        int rc = lsm_open(dir, &o, &db);
        if (rc != LSM_CORRUPTION) {
            if (db)
                lsm_close(db);
            spew(man, saved, len);
            fail_msg("flipped byte at %lld (record %d of %d): rc %d (%s), "
                     "wanted corruption", at, r + 1, nrec, rc,
                     rc ? lsm_last_error() : "opened");
        }
        assert_non_null(strstr(lsm_last_error(), "MANIFEST-"));
        char *after = dir_listing(dir);
        assert_string_equal(before, after);
        free(before);
        free(after);
        spew(man, saved, len);
    }
    /* Undamaged again, it opens with everything. */
    db = tu_open_db(dir, &o);
    check_store(db);
    check_round(db, 300, 10, 4);
    check_round(db, 320, 10, 6);
    lsm_close(db);
    free(saved);
    free(man);
    tu_rmtree(dir);
    free(dir);
}

/* Does an edit of the manifest CURRENT names record the WAL format? */
static int manifest_has_wal_format(const char *dir)
{
    char *path = current_manifest(dir);
    lsm_env *env = lsm_env_posix();
    lsm_file *f;
    assert_int_equal(env->open_read(env, path, &f), LSM_OK);
    lsm_wal_reader *r;
    assert_int_equal(lsm_wal_reader_new(f, path, &r), LSM_OK);
    lsm_slice rec;
    int found = 0;
    while (lsm_wal_read(r, &rec) == 1) {
        lsm_version_edit e;
        lsm_edit_init(&e);
        assert_int_equal(lsm_edit_decode(&e, rec), LSM_OK);
        found |= e.wal_format != 0;
        lsm_edit_free(&e);
    }
    lsm_wal_reader_free(r);
    free(path);
    return found;
}

/* The manifest records the WAL format (tag 13) before the first WAL in
 * it, and so does a new manifest started later in the same open (here
 * after a failed append, as log_and_apply does): else a binary from
 * before the format would open the store and drop its WALs. */
static void test_wal_format_survives_new_manifest(void **state)
{
    (void)state;
    char *dir = tu_tempdir("walfmt");
    lsm_options o;
    lsm_options_init(&o);
    lsm_db *db;
    assert_int_equal(lsm_open(dir, &o, &db), LSM_OK);
    put_str(db, "a", "1");
    assert_true(manifest_has_wal_format(dir));
    pthread_mutex_lock(&db->mu);
    lsm_wal_writer_close(db->vs.manifest);
    db->vs.manifest = NULL;
    pthread_mutex_unlock(&db->mu);
    assert_int_equal(lsm_flush(db), LSM_OK);
    put_str(db, "b", "2");
    assert_true(manifest_has_wal_format(dir));
    lsm_close(db);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_round_trip),
        cmocka_unit_test(test_edit_truncations),
        cmocka_unit_test(test_edit_garbled),
        cmocka_unit_test(test_edit_bad_fields),
        cmocka_unit_test(test_edit_snapshots),
        cmocka_unit_test(test_reopen_many_times),
        cmocka_unit_test(test_damaged_current),
        cmocka_unit_test(test_torn_manifest_tail),
        cmocka_unit_test(test_corrupt_manifest_record),
        cmocka_unit_test(test_wal_format_survives_new_manifest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
