/*
 * test_bloom.c — bloom filter: no false negatives, the false-positive
 * rate, probe counts, sizes, and malformed filters.
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

static void test_fp_rate_10_bits(void **state)
{
    (void)state;
    const int n = 100000;
    lsm_buf f = { 0 };
    build(10, "user/key/", n, &f);
    assert_int_equal(f.len, (size_t)n * 10 / 8 + 1);
    assert_int_equal((unsigned char)f.data[f.len - 1], 7);

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
            size_t expect = ((size_t)ns[j] * (size_t)bpk + 7) / 8;
            if (expect < 8)
                expect = 8;
            assert_int_equal(f.len, expect + 1);
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
        assert_int_equal((unsigned char)f.data[f.len - 1], cases[i].k);
        lsm_buf_free(&f);
    }
}

static void test_empty_filter(void **state)
{
    (void)state;
    lsm_buf f = { 0 };
    build(10, "k", 0, &f);
    assert_int_equal(f.len, 9);  /* minimum 64 bits + k */
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
    assert_int_equal(f1.len, 126);
    assert_true(lsm_bloom_may_contain(f1, key_of(k, sizeof k, "a", 42)));

    lsm_buf second = { 0 };
    for (int i = 0; i < 100; i++)
        lsm_bloom_add(&b, key_of(k, sizeof k, "b", i));
    assert_int_equal(lsm_bloom_finish(&b, &second), 0);
    assert_int_equal(second.len, 126);  /* 100 keys, not 200 */
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
    assert_int_equal(f.len, 9);  /* 2 keys * 10 bits -> minimum size */
    assert_true(lsm_bloom_may_contain(lsm_buf_slice(&f), lsm_slice_make("same", 4)));
    assert_true(lsm_bloom_may_contain(lsm_buf_slice(&f), lsm_slice_make("other", 5)));
    lsm_bloom_builder_free(&b);
    lsm_buf_free(&f);
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp_rate_10_bits),
        cmocka_unit_test(test_sizes_and_densities),
        cmocka_unit_test(test_probe_count),
        cmocka_unit_test(test_empty_filter),
        cmocka_unit_test(test_finish_resets_and_appends),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_malformed_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
