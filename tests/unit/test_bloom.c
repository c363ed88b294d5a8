/*
 * test_bloom.c — bloom filter: no false negatives, the false-positive
 * rate, probe counts, sizes, the classic layout of older stores, and
 * malformed filters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bloom.h"
#include "error.h"

static lsm_slice key_of(char *buf, size_t cap, const char *prefix, int i)
{
    int n = snprintf(buf, cap, "%s%08d", prefix, i);
    return lsm_slice_make(buf, (size_t)n);
}

static void build(int bits_per_key, const char *prefix, int n, lsm_buf *out)
{
    lsm_bloom_builder b;
    lsm_bloom_builder_init(&b, bits_per_key);
    char k[32];
    for (int i = 0; i < n; i++)
        assert_int_equal(lsm_bloom_add(&b, key_of(k, sizeof k, prefix, i)), 0);
    assert_int_equal(lsm_bloom_finish(&b, out), LSM_OK);
    lsm_bloom_builder_free(&b);
}

/* Bytes of a blocked filter of n keys: whole 64-byte blocks, at least
 * one, plus the trailer byte. */
static size_t blocked_len(size_t n, int bits_per_key)
{
    size_t blocks = (n * (size_t)bits_per_key + 511) / 512;
    return (blocks ? blocks : 1) * 64 + 1;
}

static void test_fp_rate_10_bits(void **state)
{
    (void)state;
    const int n = 100000;
    lsm_buf f = { 0 };
    build(10, "user/key/", n, &f);
    assert_int_equal(f.len, blocked_len((size_t)n, 10));
    assert_int_equal((unsigned char)f.data[f.len - 1], 0x80 | 7);

    char k[32];
    for (int i = 0; i < n; i++)
        assert_true(lsm_bloom_may_contain(lsm_buf_slice(&f),
                                          key_of(k, sizeof k, "user/key/", i)));
    int fp = 0;
    for (int i = 0; i < n; i++)
        fp += lsm_bloom_may_contain(lsm_buf_slice(&f),
                                    key_of(k, sizeof k, "other/key/", i));
    double rate = (double)fp / n;
    print_message("false positives: %d of %d (%.3f%%)\n", fp, n, rate * 100);
    assert_true(rate <= 0.015);
    assert_true(fp > 0);  /* a filter that says "no" to everything is wrong too */
    lsm_buf_free(&f);
}

/* A live filter (the memtable's): every key added is seen, as keys are
 * added; the false-positive rate follows the bits per key it ends with
 * (18 at 1 MiB for 466,000 keys: below 0.3 %; 4.5 when four times
 * over: some 16 %, still far from saying yes to everything); and a
 * one-block filter holds any number of keys without losing one. */
static void test_live_filter(void **state)
{
    (void)state;
    static const struct { size_t bytes; int n; double max_fp; } c[] = {
        { 1 << 20, 466000, 0.003 },
        { 1 << 18, 466000, 0.25 },
        { 1, 5000, 1.0 },
    };
    char k[32];
    for (size_t t = 0; t < sizeof c / sizeof c[0]; t++) {
        lsm_bloom_live f;
        assert_int_equal(lsm_bloom_live_init(&f, c[t].bytes), LSM_OK);
        for (int i = 0; i < c[t].n; i++) {
            uint64_t h = lsm_bloom_hash(key_of(k, sizeof k, "user/key/", i));
            lsm_bloom_live_add(&f, h);
            assert_true(lsm_bloom_live_may_contain(&f, h));
        }
        for (int i = 0; i < c[t].n; i++)
            assert_true(lsm_bloom_live_may_contain(
                &f, lsm_bloom_hash(key_of(k, sizeof k, "user/key/", i))));
        int fp = 0;
        for (int i = 0; i < c[t].n; i++)
            fp += lsm_bloom_live_may_contain(
                &f, lsm_bloom_hash(key_of(k, sizeof k, "other/key/", i)));
        double rate = (double)fp / c[t].n;
        print_message("%zu bytes, %d keys: %.3f%% false positives\n",
                      c[t].bytes, c[t].n, rate * 100);
        assert_true(rate <= c[t].max_fp);
        assert_true(fp > 0 || c[t].n < 1000);
        lsm_bloom_live_free(&f);
    }
}

/* Small sets and other densities: still no false negatives, and the FP
 * rate roughly follows the bits per key. */
static void test_sizes_and_densities(void **state)
{
    (void)state;
    static const int ns[] = { 1, 2, 10, 100, 1000, 10000 };
    char k[32];
    for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
        for (int bpk = 1; bpk <= 20; bpk += 4) {
            lsm_buf f = { 0 };
            build(bpk, "k", ns[j], &f);
            assert_int_equal(f.len, blocked_len((size_t)ns[j], bpk));
            for (int i = 0; i < ns[j]; i++)
                assert_true(lsm_bloom_may_contain(lsm_buf_slice(&f),
                                                  key_of(k, sizeof k, "k", i)));
            if (ns[j] >= 1000 && bpk >= 9) {
                int fp = 0;
                for (int i = 0; i < 10000; i++)
                    fp += lsm_bloom_may_contain(lsm_buf_slice(&f),
                                                key_of(k, sizeof k, "x", i));
                assert_true(fp < 10000 * 3 / 100);
            }
            lsm_buf_free(&f);
        }
    }
}

static void test_probe_count(void **state)
{
    (void)state;
    static const struct { int bpk, k; } cases[] = {
        { 0, 1 }, { 1, 1 }, { 2, 1 }, { 3, 2 }, { 5, 3 }, { 10, 7 },
        { 16, 11 }, { 20, 14 }, { 43, 30 }, { 100, 30 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lsm_buf f = { 0 };
        build(cases[i].bpk, "k", 5, &f);
        assert_int_equal((unsigned char)f.data[f.len - 1], 0x80 | cases[i].k);
        lsm_buf_free(&f);
    }
}

static void test_empty_filter(void **state)
{
    (void)state;
    lsm_buf f = { 0 };
    build(10, "k", 0, &f);
    assert_int_equal(f.len, 65);  /* one block + k */
    char k[32];
    int hits = 0;
    for (int i = 0; i < 1000; i++)
        hits += lsm_bloom_may_contain(lsm_buf_slice(&f),
                                      key_of(k, sizeof k, "k", i));
    assert_int_equal(hits, 0);
    lsm_buf_free(&f);
}

/* finish() resets the builder and appends to whatever out holds. */
static void test_finish_resets_and_appends(void **state)
{
    (void)state;
    lsm_bloom_builder b;
    lsm_bloom_builder_init(&b, 10);
    lsm_buf out = { 0 };
    lsm_buf_append(&out, "HDR", 3);
    char k[32];
    for (int i = 0; i < 100; i++)
        lsm_bloom_add(&b, key_of(k, sizeof k, "a", i));
    assert_int_equal(lsm_bloom_finish(&b, &out), 0);
    assert_memory_equal(out.data, "HDR", 3);
    lsm_slice f1 = lsm_slice_make(out.data + 3, out.len - 3);
    assert_int_equal(f1.len, 129);
    assert_true(lsm_bloom_may_contain(f1, key_of(k, sizeof k, "a", 42)));

    lsm_buf second = { 0 };
    for (int i = 0; i < 100; i++)
        lsm_bloom_add(&b, key_of(k, sizeof k, "b", i));
    assert_int_equal(lsm_bloom_finish(&b, &second), 0);
    assert_int_equal(second.len, 129);  /* 100 keys (2 blocks), not 200 */
    for (int i = 0; i < 100; i++)
        assert_true(lsm_bloom_may_contain(lsm_buf_slice(&second),
                                          key_of(k, sizeof k, "b", i)));
    int old = 0;
    for (int i = 0; i < 100; i++)
        old += lsm_bloom_may_contain(lsm_buf_slice(&second),
                                     key_of(k, sizeof k, "a", i));
    assert_true(old < 10);
    lsm_bloom_builder_free(&b);
    lsm_buf_free(&out);
    lsm_buf_free(&second);
}

/* Repeated keys (versions of one user key) count once. */
static void test_duplicates(void **state)
{
    (void)state;
    lsm_bloom_builder b;
    lsm_bloom_builder_init(&b, 10);
    for (int i = 0; i < 1000; i++)
        lsm_bloom_add(&b, lsm_slice_make("same", 4));
    lsm_bloom_add(&b, lsm_slice_make("other", 5));
    lsm_buf f = { 0 };
    lsm_bloom_finish(&b, &f);
    assert_int_equal(f.len, 65);  /* 2 keys * 10 bits -> one block */
    assert_true(lsm_bloom_may_contain(lsm_buf_slice(&f), lsm_slice_make("same", 4)));
    assert_true(lsm_bloom_may_contain(lsm_buf_slice(&f), lsm_slice_make("other", 5)));
    lsm_bloom_builder_free(&b);
    lsm_buf_free(&f);
}

/* A filter in the classic layout (k probes spread over the whole array),
 * as stores written before the blocked layout hold it: written by that
 * code, 64 keys "old/%08d" at 10 bits per key, k = 7. */
static const unsigned char classic_filter[81] = {
    0xee, 0x23, 0xac, 0xa7, 0xc5, 0x76, 0x2c, 0x3f, 0x30, 0x65, 0x6c, 0x55,
    0x94, 0x1e, 0x69, 0x28, 0xd4, 0x57, 0x19, 0x47, 0xa6, 0xa1, 0x5e, 0xf5,
    0x0c, 0x61, 0x08, 0xae, 0x0a, 0xdc, 0x3d, 0xff, 0x4b, 0xab, 0x62, 0x20,
    0x44, 0x6d, 0xa5, 0x18, 0x5a, 0x27, 0xb5, 0xc6, 0x8a, 0x50, 0x4e, 0xc6,
    0x47, 0xa5, 0x7f, 0xf4, 0x1f, 0x30, 0x3c, 0x56, 0x9d, 0xae, 0x1b, 0x91,
    0xf1, 0xa7, 0x2d, 0xd9, 0xb2, 0xa1, 0xbc, 0x80, 0xe9, 0x2e, 0xf6, 0xc7,
    0x4a, 0x62, 0x8e, 0x79, 0x6b, 0xa2, 0xa7, 0x17, 0x07,
};

static void test_classic_layout_still_read(void **state)
{
    (void)state;
    lsm_slice f = lsm_slice_make(classic_filter, sizeof classic_filter);
    char k[32];
    for (int i = 0; i < 64; i++)
        assert_true(lsm_bloom_may_contain(f, key_of(k, sizeof k, "old/", i)));
    int fp = 0;
    for (int i = 0; i < 10000; i++)
        fp += lsm_bloom_may_contain(f, key_of(k, sizeof k, "new/", i));
    print_message("classic: false positives %d of 10000\n", fp);
    assert_true(fp > 0 && fp < 300);
}

/* A malformed filter must never hide a key: it answers "maybe". */
static void test_malformed_filters(void **state)
{
    (void)state;
    lsm_slice key = lsm_slice_make("absent", 6);
    char zero[64] = { 0 };
    assert_true(lsm_bloom_may_contain(lsm_slice_make(zero, 0), key));
    assert_true(lsm_bloom_may_contain(lsm_slice_make(zero, 1), key));
    assert_true(lsm_bloom_may_contain(lsm_slice_make(zero, 8), key));
    /* proper size, all-zero bits, k = 0 */
    assert_true(lsm_bloom_may_contain(lsm_slice_make(zero, 17), key));
    zero[16] = 31;  /* k too large */
    assert_true(lsm_bloom_may_contain(lsm_slice_make(zero, 17), key));
    zero[16] = 7;   /* valid and empty: now "surely not" */
    assert_false(lsm_bloom_may_contain(lsm_slice_make(zero, 17), key));
    zero[16] = 0;

    /* blocked: an array not a whole number of 64-byte blocks */
    char blocked[129] = { 0 };
    blocked[16] = (char)(0x80 | 7);
    assert_true(lsm_bloom_may_contain(lsm_slice_make(blocked, 17), key));
    blocked[128] = (char)0x80;          /* k = 0 */
    assert_true(lsm_bloom_may_contain(lsm_slice_make(blocked, 129), key));
    blocked[128] = (char)(0x80 | 31);   /* k too large */
    assert_true(lsm_bloom_may_contain(lsm_slice_make(blocked, 129), key));
    blocked[128] = (char)(0x80 | 7);    /* valid and empty */
    assert_false(lsm_bloom_may_contain(lsm_slice_make(blocked, 129), key));
}

/* Each key's probes land in one 64-byte block: a filter of one key sets
 * bits in exactly one block. */
static void test_one_block_per_key(void **state)
{
    (void)state;
    char k[32];
    for (int i = 0; i < 200; i++) {
        lsm_bloom_builder b;
        lsm_bloom_builder_init(&b, 1000);   /* 1000 bits: 2 blocks */
        assert_int_equal(lsm_bloom_add(&b, key_of(k, sizeof k, "one/", i)), 0);
        lsm_buf f = { 0 };
        assert_int_equal(lsm_bloom_finish(&b, &f), 0);
        assert_int_equal(f.len, 129);
        int used = 0;
        for (int blk = 0; blk < 2; blk++) {
            int any = 0;
            for (int j = 0; j < 64; j++)
                any |= f.data[blk * 64 + j];
            used += any != 0;
        }
        assert_int_equal(used, 1);
        lsm_buf_free(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp_rate_10_bits),
        cmocka_unit_test(test_live_filter),
        cmocka_unit_test(test_sizes_and_densities),
        cmocka_unit_test(test_probe_count),
        cmocka_unit_test(test_empty_filter),
        cmocka_unit_test(test_finish_resets_and_appends),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_classic_layout_still_read),
        cmocka_unit_test(test_one_block_per_key),
        cmocka_unit_test(test_malformed_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
