/*
 * test_memtable.c — memtable.c: get with versions, snapshots and deletes,
 * range deletion lookups, iterators in both directions, references and
 * memory accounting, and argument checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ikey.h"
#include "iter.h"
#include "lsm.h"
#include "memtable.h"
#include "range_del.h"

static lsm_slice S(const char *s)
{
    return lsm_slice_make(s, strlen(s));
}

static void put(lsm_memtable *m, uint64_t seq, const char *k, const char *v)
{
    assert_int_equal(lsm_memtable_add(m, seq, LSM_KIND_PUT, S(k), S(v)), LSM_OK);
}

static void del(lsm_memtable *m, uint64_t seq, const char *k)
{
    assert_int_equal(lsm_memtable_add(m, seq, LSM_KIND_DELETE, S(k), S("")),
                     LSM_OK);
}

static void range_del(lsm_memtable *m, uint64_t seq, const char *b,
                      const char *e)
{
    assert_int_equal(lsm_memtable_add(m, seq, LSM_KIND_RANGE_DEL, S(b), S(e)),
                     LSM_OK);
}

/* Expects get(k, snap) to find a PUT of value v at seq, or (v == NULL) a
 * DELETE at seq, or (seq == 0) nothing. */
static void expect_get(lsm_memtable *m, const char *k, uint64_t snap,
                       const char *v, uint64_t seq)
{
    lsm_buf val = { 0 };
    lsm_buf_append(&val, "junk", 4);
    uint64_t got_seq = 12345;
    int r = lsm_memtable_get(m, S(k), snap, &val, &got_seq);
    if (seq == 0) {
        assert_int_equal(r, -1);
        assert_true(got_seq == 12345);
    } else if (v == NULL) {
        assert_int_equal(r, LSM_KIND_DELETE);
        assert_true(got_seq == seq);
    } else {
        assert_int_equal(r, LSM_KIND_PUT);
        assert_true(got_seq == seq);
        assert_int_equal(val.len, strlen(v));
        assert_memory_equal(val.data, v, val.len);
    }
    lsm_buf_free(&val);
}

static void test_get_versions_and_snapshots(void **state)
{
    (void)state;
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    assert_non_null(m);
    assert_true(lsm_memtable_empty(m));
    put(m, 1, "a", "a1");
    put(m, 5, "a", "a5");
    del(m, 8, "a");
    put(m, 10, "a", "a10");
    put(m, 3, "b", "b3");
    put(m, 4, "ab", "ab4");   /* a longer key sharing the prefix */
    put(m, 6, "", "empty6");  /* the empty user key */
    assert_false(lsm_memtable_empty(m));
    assert_int_equal(lsm_memtable_entries(m), 7);

    expect_get(m, "a", 0, NULL, 0);     /* before any version */
    expect_get(m, "a", 1, "a1", 1);
    expect_get(m, "a", 4, "a1", 1);
    expect_get(m, "a", 5, "a5", 5);
    expect_get(m, "a", 7, "a5", 5);
    expect_get(m, "a", 8, NULL, 8);     /* deleted */
    expect_get(m, "a", 9, NULL, 8);
    expect_get(m, "a", 10, "a10", 10);
    expect_get(m, "a", LSM_MAX_SEQ, "a10", 10);
    expect_get(m, "a", UINT64_MAX, "a10", 10); /* clamped */
    expect_get(m, "ab", 100, "ab4", 4);
    expect_get(m, "ab", 3, NULL, 0);    /* must not fall through to "b" */
    expect_get(m, "b", 2, NULL, 0);
    expect_get(m, "b", 3, "b3", 3);
    expect_get(m, "", 6, "empty6", 6);
    expect_get(m, "", 5, NULL, 0);
    expect_get(m, "0", 100, NULL, 0);   /* between "" and "a" */
    expect_get(m, "c", 100, NULL, 0);   /* past the end */
    expect_get(m, "aa", 100, NULL, 0);

    /* val and seq_out may be NULL */
    assert_int_equal(lsm_memtable_get(m, S("a"), 100, NULL, NULL), LSM_KIND_PUT);
    /* range deletions are not consulted by get */
    range_del(m, 20, "a", "z");
    expect_get(m, "b", 100, "b3", 3);
    lsm_memtable_unref(m);
}

static void test_binary_keys_and_values(void **state)
{
    (void)state;
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    assert_non_null(m);
    const char k1[] = { 'k', 0, 1 }, k2[] = { 'k', 0 }, k3[] = { 'k', 0, 0 };
    const char v[] = { 0, 0, 'x', 0 };
    assert_int_equal(lsm_memtable_add(m, 1, LSM_KIND_PUT, lsm_slice_make(k1, 3),
                                      lsm_slice_make(v, 4)), LSM_OK);
    assert_int_equal(lsm_memtable_add(m, 2, LSM_KIND_PUT, lsm_slice_make(k2, 2),
                                      lsm_slice_make(v, 1)), LSM_OK);
    lsm_buf out = { 0 };
    uint64_t seq;
    assert_int_equal(lsm_memtable_get(m, lsm_slice_make(k1, 3), 9, &out, &seq),
                     LSM_KIND_PUT);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, v, 4);
    assert_int_equal(lsm_memtable_get(m, lsm_slice_make(k2, 2), 9, &out, &seq),
                     LSM_KIND_PUT);
    assert_int_equal(out.len, 1);
    assert_int_equal(lsm_memtable_get(m, lsm_slice_make(k3, 3), 9, &out, &seq), -1);
    lsm_buf_free(&out);
    lsm_memtable_unref(m);
}

static void test_add_rejects_bad_input(void **state)
{
    (void)state;
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    assert_non_null(m);
    char small[4] = "abc";
    assert_int_equal(lsm_memtable_add(m, 1, LSM_KIND_BLOB + 1, S("k"), S("v")), LSM_INVALID);
    assert_int_equal(lsm_memtable_add(m, 1, -1, S("k"), S("v")), LSM_INVALID);
    assert_int_equal(lsm_memtable_add(m, LSM_MAX_SEQ + 1, LSM_KIND_PUT, S("k"),
                                      S("v")), LSM_INVALID);
    /* oversized lengths are rejected before any byte is read */
    assert_int_equal(lsm_memtable_add(m, 1, LSM_KIND_PUT,
                                      lsm_slice_make(small, LSM_MAX_KEY + 1),
                                      S("v")), LSM_INVALID);
    assert_int_equal(lsm_memtable_add(m, 1, LSM_KIND_PUT, S("k"),
                                      lsm_slice_make(small, LSM_MAX_VALUE + 1)),
                     LSM_INVALID);
    assert_int_equal(lsm_memtable_add(m, 1, LSM_KIND_RANGE_DEL, S("a"),
                                      lsm_slice_make(small, LSM_MAX_KEY + 1)),
                     LSM_INVALID);
    assert_true(lsm_memtable_empty(m));
    assert_int_equal(lsm_memtable_entries(m), 0);

    /* duplicate (seq, kind, key) is refused; the same seq with another
     * kind or key is a different entry */
    put(m, 7, "k", "v");
    assert_int_equal(lsm_memtable_add(m, 7, LSM_KIND_PUT, S("k"), S("w")),
                     LSM_INVALID);
    del(m, 7, "k");
    put(m, 7, "j", "v");
    range_del(m, 7, "k", "l");
    assert_int_equal(lsm_memtable_add(m, 7, LSM_KIND_RANGE_DEL, S("k"), S("m")),
                     LSM_INVALID);
    assert_int_equal(lsm_memtable_entries(m), 4);
    /* the first value stays */
    expect_get(m, "k", 7, "v", 7);
    /* the largest legal sequence */
    put(m, LSM_MAX_SEQ, "k", "max");
    expect_get(m, "k", LSM_MAX_SEQ, "max", LSM_MAX_SEQ);
    lsm_memtable_unref(m);
}

static void test_range_del_max_seq(void **state)
{
    (void)state;
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    assert_non_null(m);
    assert_true(lsm_memtable_range_del_max_seq(m, S("a"), LSM_MAX_SEQ) == 0);
    range_del(m, 10, "b", "d");   /* [b, d) */
    range_del(m, 20, "c", "f");   /* [c, f) */
    range_del(m, 5, "a", "z");    /* [a, z) */
    range_del(m, 30, "x", "x");   /* empty range */
    range_del(m, 40, "m", "k");   /* inverted: covers nothing */
    put(m, 50, "c", "point entries do not count");

    struct { const char *k; uint64_t snap, want; } cases[] = {
        { "", 100, 0 },   { "a", 100, 5 },  { "a", 4, 0 },
        { "b", 100, 10 }, { "b", 9, 5 },    { "bz", 100, 10 },
        { "c", 100, 20 }, { "c", 19, 10 },  { "c", 9, 5 },
        { "c", 4, 0 },    { "d", 100, 20 }, { "e", 15, 5 },
        { "f", 100, 5 },  { "x", 100, 5 },  { "y", 100, 5 },
        { "z", 100, 0 },  { "zz", 100, 0 }, { "l", 100, 5 },
        { "m", 100, 5 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t got = lsm_memtable_range_del_max_seq(m, S(cases[i].k),
                                                      cases[i].snap);
        if (got != cases[i].want)
            fail_msg("key %s snap %llu: got %llu want %llu", cases[i].k,
                     (unsigned long long)cases[i].snap,
                     (unsigned long long)got,
                     (unsigned long long)cases[i].want);
    }
    /* range deletions do not show in the point iterator or get */
    expect_get(m, "b", 100, NULL, 0);
    lsm_memtable_unref(m);
}

static void test_range_del_random(void **state)
{
    (void)state;
    enum { N = 200 };
    struct { char b[3], e[3]; uint64_t seq; } t[N];
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    assert_non_null(m);
    srand(99);
    for (int i = 0; i < N; i++) {
        snprintf(t[i].b, 3, "%c", 'a' + rand() % 20);
        snprintf(t[i].e, 3, "%c%c", 'a' + rand() % 20, rand() % 2 ? 'a' : 0);
        t[i].seq = (uint64_t)i + 1;
        range_del(m, t[i].seq, t[i].b, t[i].e);
    }
    for (int q = 0; q < 500; q++) {
        char k[3];
        snprintf(k, 3, "%c%c", 'a' + rand() % 22, rand() % 2 ? 'b' : 0);
        uint64_t snap = (uint64_t)(rand() % (N + 10));
        uint64_t want = 0;
        for (int i = 0; i < N; i++)
            if (t[i].seq <= snap && strcmp(t[i].b, k) <= 0 &&
                strcmp(k, t[i].e) < 0 && t[i].seq > want)
                want = t[i].seq;
        assert_true(lsm_memtable_range_del_max_seq(m, S(k), snap) == want);
    }

    /* the range deletion iterator yields (begin, seq, RANGE_DEL) -> end
     * in internal key order */
    lsm_iiter *it = lsm_memtable_range_del_iter(m);
    int count = 0;
    lsm_buf prev = { 0 };
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it)) {
        lsm_ikey k;
        assert_int_equal(lsm_ikey_parse(lsm_iiter_key(it), &k), 1);
        assert_int_equal(k.kind, LSM_KIND_RANGE_DEL);
        assert_true(k.seq >= 1 && k.seq <= N);
        int i = (int)k.seq - 1;
        assert_int_equal(k.user.len, strlen(t[i].b));
        assert_memory_equal(k.user.data, t[i].b, k.user.len);
        assert_int_equal(lsm_iiter_value(it).len, strlen(t[i].e));
        assert_memory_equal(lsm_iiter_value(it).data, t[i].e,
                            lsm_iiter_value(it).len);
        if (count)
            assert_true(lsm_ikey_cmp(lsm_buf_slice(&prev), lsm_iiter_key(it)) < 0);
        lsm_buf_clear(&prev);
        lsm_buf_append(&prev, lsm_iiter_key(it).data, lsm_iiter_key(it).len);
        count++;
    }
    assert_int_equal(count, N);
    assert_int_equal(lsm_iiter_status(it), LSM_OK);
    lsm_buf_free(&prev);
    lsm_iiter_free(it);
    lsm_memtable_unref(m);
}

/* Range deletions checked against a brute-force model after every
 * insert, at every index size: most nested like repeated truncations
 * ([k, "~"): everything from k on), the rest short and overlapping;
 * sequence numbers mostly rising but sometimes out of order (the index
 * must not depend on the order). */
static void test_range_del_interleaved(void **state)
{
    (void)state;
    enum { N = 1500 };
    static struct { char b[4], e[4]; uint64_t seq; } t[N];
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    assert_non_null(m);
    srand(7);
    for (int i = 0; i < N; i++) {
        int a = rand() % 26, z = a + rand() % 4;
        snprintf(t[i].b, sizeof t[i].b, "%c%c", 'a' + a, 'a' + rand() % 26);
        if (rand() % 3)
            strcpy(t[i].e, "~");
        else
            snprintf(t[i].e, sizeof t[i].e, "%c", 'a' + (z < 26 ? z : 25));
        t[i].seq = rand() % 10 ? 10 * (uint64_t)(i + 1)
                               : 10 * (uint64_t)(rand() % (i + 1)) + 5;
        range_del(m, t[i].seq, t[i].b, t[i].e);
        for (int q = 0; q < 4; q++) {
            char k[4];
            snprintf(k, sizeof k, "%c%c", 'a' + rand() % 27, 'a' + rand() % 26);
            uint64_t snap = q == 0 ? LSM_MAX_SEQ
                                   : (uint64_t)(rand() % (10 * (i + 2)));
            uint64_t want = 0;
            for (int j = 0; j <= i; j++)
                if (t[j].seq <= snap && strcmp(t[j].b, k) <= 0 &&
                    strcmp(k, t[j].e) < 0 && t[j].seq > want)
                    want = t[j].seq;
            uint64_t got = lsm_memtable_range_del_max_seq(m, S(k), snap);
            if (got != want)
                fail_msg("after %d deletions, key %s snap %llu: got %llu "
                         "want %llu", i + 1, k, (unsigned long long)snap,
                         (unsigned long long)got, (unsigned long long)want);
        }
    }
    lsm_memtable_unref(m);
}

/* Reads never re-index: T inserts, each followed by a read, index each
 * deletion at most log2(T) + 1 times in all, and further reads index
 * nothing.  (Rebuilding at the first read after each insert would index
 * 1 + 2 + .. + T = T(T+1)/2 deletions.) */
static void test_range_del_reads_do_not_reindex(void **state)
{
    (void)state;
    enum { T = 4096, LOG2_T = 12 };
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    assert_non_null(m);
    uint64_t before = lsm_range_dels_indexed_total();
    char b[16];
    for (int i = 0; i < T; i++) {
        snprintf(b, sizeof b, "f%06d", (i * 7919) % T);
        range_del(m, (uint64_t)i + 1, b, "g");
        put(m, (uint64_t)T + 1 + (uint64_t)i, b, "v");
        assert_true(lsm_memtable_range_del_max_seq(m, S(b), LSM_MAX_SEQ) >=
                    (uint64_t)i + 1);
    }
    uint64_t built = lsm_range_dels_indexed_total() - before;
    if (built > (uint64_t)T * (LOG2_T + 1))
        fail_msg("%llu deletions indexed for %d inserts", (unsigned long long)built, T);
    for (int q = 0; q < 10000; q++) {
        snprintf(b, sizeof b, "f%06d", q % T);
        assert_true(lsm_memtable_range_del_max_seq(m, S(b), (uint64_t)q) <=
                    (uint64_t)q);
    }
    assert_true(lsm_range_dels_indexed_total() - before == built);
    lsm_memtable_unref(m);
}

/* --- iterator -------------------------------------------------------------- */

static void expect_at(lsm_iiter *it, const char *user, uint64_t seq, int kind,
                      const char *v)
{
    assert_true(lsm_iiter_valid(it));
    lsm_ikey k;
    assert_int_equal(lsm_ikey_parse(lsm_iiter_key(it), &k), 1);
    assert_int_equal(k.user.len, strlen(user));
    assert_memory_equal(k.user.data, user, k.user.len);
    assert_true(k.seq == seq);
    assert_int_equal(k.kind, kind);
    assert_int_equal(lsm_iiter_value(it).len, strlen(v));
    assert_memory_equal(lsm_iiter_value(it).data, v, strlen(v));
}

static void seek_to(lsm_iiter *it, const char *user, uint64_t seq)
{
    lsm_buf t = { 0 };
    assert_int_equal(lsm_ikey_append(&t, S(user), seq, LSM_KIND_SEEK), LSM_OK);
    lsm_iiter_seek(it, lsm_buf_slice(&t));
    lsm_buf_free(&t);
}

static void test_iterator(void **state)
{
    (void)state;
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    assert_non_null(m);
    lsm_iiter *it = lsm_memtable_iter(m);
    /* empty */
    lsm_iiter_first(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_last(it);
    assert_false(lsm_iiter_valid(it));
    seek_to(it, "a", 1);
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_OK);

    put(m, 1, "b", "b1");
    put(m, 3, "b", "b3");
    del(m, 4, "c");
    put(m, 2, "c", "c2");
    put(m, 5, "a", "a5");
    range_del(m, 6, "a", "z"); /* not in the point iterator */

    /* the iterator sees entries added after it was created */
    lsm_iiter_first(it);
    expect_at(it, "a", 5, LSM_KIND_PUT, "a5");
    lsm_iiter_next(it);
    expect_at(it, "b", 3, LSM_KIND_PUT, "b3");
    lsm_iiter_next(it);
    expect_at(it, "b", 1, LSM_KIND_PUT, "b1");
    lsm_iiter_next(it);
    expect_at(it, "c", 4, LSM_KIND_DELETE, "");
    lsm_iiter_next(it);
    expect_at(it, "c", 2, LSM_KIND_PUT, "c2");
    lsm_iiter_next(it);
    assert_false(lsm_iiter_valid(it));

    lsm_iiter_last(it);
    expect_at(it, "c", 2, LSM_KIND_PUT, "c2");
    lsm_iiter_prev(it);
    expect_at(it, "c", 4, LSM_KIND_DELETE, "");
    lsm_iiter_prev(it);
    expect_at(it, "b", 1, LSM_KIND_PUT, "b1");
    lsm_iiter_next(it);  /* direction switch */
    expect_at(it, "c", 4, LSM_KIND_DELETE, "");
    lsm_iiter_prev(it);
    lsm_iiter_prev(it);
    expect_at(it, "b", 3, LSM_KIND_PUT, "b3");
    lsm_iiter_prev(it);
    expect_at(it, "a", 5, LSM_KIND_PUT, "a5");
    lsm_iiter_prev(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_prev(it);  /* harmless when invalid */
    lsm_iiter_next(it);
    assert_false(lsm_iiter_valid(it));

    seek_to(it, "b", 2);           /* newest visible at snapshot 2 */
    expect_at(it, "b", 1, LSM_KIND_PUT, "b1");
    seek_to(it, "b", LSM_MAX_SEQ);
    expect_at(it, "b", 3, LSM_KIND_PUT, "b3");
    seek_to(it, "b", 0);           /* past every version of b */
    expect_at(it, "c", 4, LSM_KIND_DELETE, "");
    seek_to(it, "bb", 9);
    expect_at(it, "c", 4, LSM_KIND_DELETE, "");
    seek_to(it, "d", 9);
    assert_false(lsm_iiter_valid(it));
    seek_to(it, "", 9);
    expect_at(it, "a", 5, LSM_KIND_PUT, "a5");
    lsm_iiter_seek(it, S("b"));    /* a bare user key */
    expect_at(it, "b", 3, LSM_KIND_PUT, "b3");
    lsm_iiter_free(it);
    lsm_memtable_unref(m);
}

static void test_iterator_holds_reference(void **state)
{
    (void)state;
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    assert_non_null(m);
    put(m, 1, "k", "value");
    range_del(m, 2, "a", "b");
    lsm_iiter *it = lsm_memtable_iter(m);
    lsm_iiter *rd = lsm_memtable_range_del_iter(m);
    lsm_memtable_ref(m);
    lsm_memtable_unref(m);
    lsm_memtable_unref(m);  /* the owner lets go; iterators keep it alive */
    lsm_iiter_first(it);
    expect_at(it, "k", 1, LSM_KIND_PUT, "value");
    lsm_iiter_free(it);
    lsm_iiter_last(rd);
    expect_at(rd, "a", 2, LSM_KIND_RANGE_DEL, "b");
    lsm_iiter_free(rd);     /* last reference: ASan checks it is all freed */
}

static void test_bytes_accounting(void **state)
{
    (void)state;
    lsm_memtable *m = lsm_memtable_new(NULL, 4096);
    assert_non_null(m);
    size_t base = lsm_memtable_bytes(m);
    assert_true(base < 1024);  /* just the two head nodes */
    char key[16], val[100];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "key%06d", i);
        assert_int_equal(lsm_memtable_add(m, (uint64_t)i + 1, LSM_KIND_PUT,
                                          S(key),
                                          lsm_slice_make(val, sizeof val)),
                         LSM_OK);
    }
    size_t used = lsm_memtable_bytes(m) - base;
    /* at least the bytes stored, and not wildly more */
    assert_true(used >= 1000 * (9 + 8 + 100));
    assert_true(used <= 1000 * (9 + 8 + 100 + 128) + (64 << 10));

    /* a large value is counted in full right away */
    size_t big_n = (size_t)16 << 20;
    char *big = malloc(big_n);
    assert_non_null(big);
    memset(big, 'x', big_n);
    size_t before = lsm_memtable_bytes(m);
    assert_int_equal(lsm_memtable_add(m, 5000, LSM_KIND_PUT, S("big"),
                                      lsm_slice_make(big, big_n)), LSM_OK);
    assert_true(lsm_memtable_bytes(m) >= before + big_n);
    assert_true(lsm_memtable_bytes(m) <= before + big_n + 512);
    lsm_buf out = { 0 };
    uint64_t seq;
    assert_int_equal(lsm_memtable_get(m, S("big"), 5000, &out, &seq),
                     LSM_KIND_PUT);
    assert_int_equal(out.len, big_n);
    assert_memory_equal(out.data, big, big_n);
    lsm_buf_free(&out);
    free(big);
    assert_int_equal(lsm_memtable_entries(m), 1001);
    lsm_memtable_unref(m);
}

/* Random puts/deletes checked against a brute-force model for every
 * snapshot, with a key filter of filter_bytes: none, one block (every
 * lookup passes it), or enough to turn most absent keys away. */
static void check_random_model(size_t filter_bytes)
{
    enum { N = 2000, KEYS = 50 };
    static struct { int key; int kind; uint64_t seq; } ops[N];
    lsm_memtable *m = lsm_memtable_new(NULL, filter_bytes);
    assert_non_null(m);
    srand(2024);
    for (int i = 0; i < N; i++) {
        ops[i].key = rand() % KEYS;
        ops[i].kind = rand() % 4 ? LSM_KIND_PUT : LSM_KIND_DELETE;
        ops[i].seq = (uint64_t)i + 1;
        char k[16], v[32];
        snprintf(k, sizeof k, "k%d", ops[i].key);
        snprintf(v, sizeof v, "v%d", i);
        assert_int_equal(lsm_memtable_add(m, ops[i].seq, ops[i].kind, S(k),
                                          ops[i].kind == LSM_KIND_PUT ? S(v)
                                                                       : S("")),
                         LSM_OK);
    }
    lsm_buf val = { 0 };
    for (int q = 0; q < 3000; q++) {
        int key = rand() % (KEYS + 5);
        uint64_t snap = (uint64_t)(rand() % (N + 2));
        int want = -1;
        for (int i = 0; i < N; i++)
            if (ops[i].key == key && ops[i].seq <= snap)
                want = i;
        char k[16];
        snprintf(k, sizeof k, "k%d", key);
        uint64_t seq = 0;
        int r = lsm_memtable_get(m, S(k), snap, &val, &seq);
        if (want < 0) {
            assert_int_equal(r, -1);
            continue;
        }
        assert_int_equal(r, ops[want].kind);
        assert_true(seq == ops[want].seq);
        if (r == LSM_KIND_PUT) {
            char v[32];
            snprintf(v, sizeof v, "v%d", want);
            assert_int_equal(val.len, strlen(v));
            assert_memory_equal(val.data, v, val.len);
        }
    }
    lsm_buf_free(&val);
    lsm_memtable_unref(m);
}

static void test_get_random_model(void **state)
{
    (void)state;
    check_random_model(0);
    check_random_model(64);
    check_random_model(4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_versions_and_snapshots),
        cmocka_unit_test(test_binary_keys_and_values),
        cmocka_unit_test(test_add_rejects_bad_input),
        cmocka_unit_test(test_range_del_max_seq),
        cmocka_unit_test(test_range_del_random),
        cmocka_unit_test(test_range_del_interleaved),
        cmocka_unit_test(test_range_del_reads_do_not_reindex),
        cmocka_unit_test(test_iterator),
        cmocka_unit_test(test_iterator_holds_reference),
        cmocka_unit_test(test_bytes_accounting),
        cmocka_unit_test(test_get_random_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
