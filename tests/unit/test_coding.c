/*
 * test_coding.c — slices, buffers, fixed integers, varints, length-prefixed
 * strings and checksums (lsm/coding.c), including truncated and over-long
 * inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coding.h"
#include "lsm.h"

static const uint64_t interesting64[] = {
    0, 1, 127, 128, 255, 256, 16383, 16384, 2097151, 2097152,
    268435455, 268435456, UINT32_MAX - 1, UINT32_MAX,
    (uint64_t)UINT32_MAX + 1, (UINT64_C(1) << 35) - 1, UINT64_C(1) << 35,
    (UINT64_C(1) << 56) - 1, UINT64_C(1) << 56, (UINT64_C(1) << 63) - 1,
    UINT64_C(1) << 63, UINT64_MAX - 1, UINT64_MAX,
};
#define N_INTERESTING (sizeof interesting64 / sizeof interesting64[0])

static void test_fixed_little_endian(void **state)
{
    (void)state;
    char b[8];
    lsm_encode_fixed32(b, 0x04030201u);
    assert_memory_equal(b, "\x01\x02\x03\x04", 4);
    assert_int_equal(lsm_decode_fixed32(b), 0x04030201u);
    lsm_encode_fixed64(b, UINT64_C(0x0807060504030201));
    assert_memory_equal(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    assert_true(lsm_decode_fixed64(b) == UINT64_C(0x0807060504030201));
    /* High bytes must not sign-extend. */
    lsm_encode_fixed32(b, 0xfffffffeu);
    assert_int_equal(lsm_decode_fixed32(b), 0xfffffffeu);
    lsm_encode_fixed64(b, UINT64_MAX);
    assert_true(lsm_decode_fixed64(b) == UINT64_MAX);
}

static void test_fixed_get_truncated(void **state)
{
    (void)state;
    lsm_buf b = { 0 };
    assert_int_equal(lsm_buf_put_fixed32(&b, 0xdeadbeefu), LSM_OK);
    assert_int_equal(lsm_buf_put_fixed64(&b, UINT64_C(0x1122334455667788)),
                     LSM_OK);
    assert_int_equal(b.len, 12);
    lsm_slice s = lsm_buf_slice(&b);
    uint32_t v32;
    uint64_t v64;
    assert_true(lsm_get_fixed32(&s, &v32));
    assert_int_equal(v32, 0xdeadbeefu);
    assert_true(lsm_get_fixed64(&s, &v64));
    assert_true(v64 == UINT64_C(0x1122334455667788));
    assert_int_equal(s.len, 0);
    assert_false(lsm_get_fixed32(&s, &v32));
    for (size_t n = 0; n < 8; n++) {
        lsm_slice t = lsm_slice_make(b.data + 4, n);
        assert_false(lsm_get_fixed64(&t, &v64));
        assert_int_equal(t.len, n); /* unchanged on failure */
        if (n < 4) {
            assert_false(lsm_get_fixed32(&t, &v32));
            assert_int_equal(t.len, n);
        }
    }
    lsm_buf_free(&b);
}

static void test_varint64_roundtrip(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_INTERESTING; i++) {
        uint64_t v = interesting64[i];
        char buf[10];
        char *end = lsm_encode_varint64(buf, v);
        size_t len = (size_t)(end - buf);
        assert_int_equal(len, lsm_varint_length(v));
        assert_true(len >= 1 && len <= 10);
        uint64_t got = 0;
        const char *q = lsm_decode_varint64(buf, buf + len, &got);
        assert_ptr_equal(q, end);
        assert_true(got == v);
        /* Every proper prefix is truncated. */
        for (size_t cut = 0; cut < len; cut++)
            assert_null(lsm_decode_varint64(buf, buf + cut, &got));
    }
    assert_int_equal(lsm_varint_length(0), 1);
    assert_int_equal(lsm_varint_length(127), 1);
    assert_int_equal(lsm_varint_length(128), 2);
    assert_int_equal(lsm_varint_length(UINT64_MAX), 10);
}

static void test_varint32_roundtrip_and_range(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_INTERESTING; i++) {
        uint64_t v = interesting64[i];
        char buf[10];
        char *end = lsm_encode_varint64(buf, v);
        uint32_t got = 0;
        const char *q = lsm_decode_varint32(buf, end, &got);
        if (v <= UINT32_MAX) {
            assert_ptr_equal(q, end);
            assert_int_equal(got, (uint32_t)v);
            char buf32[5];
            assert_ptr_equal(lsm_encode_varint32(buf32, (uint32_t)v) - buf32,
                             end - buf);
        } else {
            assert_null(q); /* does not fit in 32 bits */
        }
    }
}

static void test_varint_overlong(void **state)
{
    (void)state;
    uint64_t v;
    /* 11 bytes of continuation: never terminates within 64 bits. */
    char eleven[11];
    memset(eleven, 0x80, sizeof eleven);
    eleven[10] = 0x00;
    assert_null(lsm_decode_varint64(eleven, eleven + 11, &v));
    /* 10th byte carrying more than the top bit overflows. */
    char ten[10];
    memset(ten, 0xff, 9);
    ten[9] = 0x02;
    assert_null(lsm_decode_varint64(ten, ten + 10, &v));
    ten[9] = 0x01; /* exactly UINT64_MAX */
    assert_non_null(lsm_decode_varint64(ten, ten + 10, &v));
    assert_true(v == UINT64_MAX);
    /* A padded but in-range encoding (0x80 0x00) decodes to 0. */
    char padded[2] = { (char)0x80, 0x00 };
    assert_ptr_equal(lsm_decode_varint64(padded, padded + 2, &v), padded + 2);
    assert_true(v == 0);
    /* Empty input. */
    assert_null(lsm_decode_varint64(padded, padded, &v));
}

static void test_get_varint_consumes(void **state)
{
    (void)state;
    lsm_buf b = { 0 };
    assert_int_equal(lsm_buf_put_varint32(&b, 300), LSM_OK);
    assert_int_equal(lsm_buf_put_varint64(&b, UINT64_C(1) << 40), LSM_OK);
    assert_int_equal(lsm_buf_put_varint64(&b, (uint64_t)UINT32_MAX + 1),
                     LSM_OK);
    lsm_slice s = lsm_buf_slice(&b);
    uint32_t v32;
    uint64_t v64;
    assert_true(lsm_get_varint32(&s, &v32));
    assert_int_equal(v32, 300);
    assert_true(lsm_get_varint64(&s, &v64));
    assert_true(v64 == UINT64_C(1) << 40);
    lsm_slice copy = s;
    assert_false(lsm_get_varint32(&copy, &v32)); /* too big for 32 bits */
    assert_true(lsm_get_varint64(&s, &v64));
    assert_true(v64 == (uint64_t)UINT32_MAX + 1);
    assert_int_equal(s.len, 0);
    assert_false(lsm_get_varint64(&s, &v64));
    /* A truncated varint leaves the slice untouched. */
    char cont = (char)0x80;
    lsm_slice t = lsm_slice_make(&cont, 1);
    assert_false(lsm_get_varint64(&t, &v64));
    assert_int_equal(t.len, 1);
    assert_ptr_equal(t.data, &cont);
    lsm_buf_free(&b);
}

static void test_lenprefixed(void **state)
{
    (void)state;
    lsm_buf b = { 0 };
    char big[300];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)i;
    assert_int_equal(lsm_buf_put_lenprefixed(&b, "abc", 3), LSM_OK);
    assert_int_equal(lsm_buf_put_lenprefixed(&b, "", 0), LSM_OK);
    assert_int_equal(lsm_buf_put_lenprefixed(&b, big, sizeof big), LSM_OK);
    assert_int_equal(b.len, 1 + 3 + 1 + 2 + sizeof big);
    lsm_slice s = lsm_buf_slice(&b), out;
    assert_true(lsm_get_lenprefixed(&s, &out));
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "abc", 3);
    assert_true(lsm_get_lenprefixed(&s, &out));
    assert_int_equal(out.len, 0);
    assert_true(lsm_get_lenprefixed(&s, &out));
    assert_int_equal(out.len, sizeof big);
    assert_memory_equal(out.data, big, sizeof big);
    assert_int_equal(s.len, 0);
    assert_false(lsm_get_lenprefixed(&s, &out));

    /* Every truncation of the 300-byte entry fails and consumes nothing. */
    const char *entry = b.data + 1 + 3 + 1;
    for (size_t cut = 0; cut < 2 + sizeof big; cut++) {
        lsm_slice t = lsm_slice_make(entry, cut);
        assert_false(lsm_get_lenprefixed(&t, &out));
        assert_int_equal(t.len, cut);
    }
    /* A length larger than anything addressable. */
    char huge[11];
    char *end = lsm_encode_varint64(huge, UINT64_MAX);
    lsm_slice t = lsm_slice_make(huge, (size_t)(end - huge));
    assert_false(lsm_get_lenprefixed(&t, &out));
    lsm_buf_free(&b);
}

static void test_buffer_growth_clear_free(void **state)
{
    (void)state;
    lsm_buf b = { 0 };
    assert_int_equal(b.len, 0);
    assert_int_equal(lsm_buf_append(&b, NULL, 0), LSM_OK);
    for (int i = 0; i < 10000; i++) {
        unsigned char c = (unsigned char)(i * 7);
        assert_int_equal(lsm_buf_append(&b, &c, 1), LSM_OK);
    }
    assert_int_equal(b.len, 10000);
    assert_true(b.cap >= b.len);
    for (int i = 0; i < 10000; i++)
        assert_int_equal((unsigned char)b.data[i], (unsigned char)(i * 7));
    size_t cap = b.cap;
    lsm_buf_clear(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_int_equal(lsm_buf_reserve(&b, cap), LSM_OK);
    assert_int_equal(b.cap, cap); /* already enough room */
    assert_int_equal(lsm_buf_reserve(&b, cap + 1), LSM_OK);
    assert_true(b.cap >= cap + 1);
    /* A request that overflows size_t is refused, not wrapped. */
    assert_int_equal(lsm_buf_append(&b, "x", 1), LSM_OK);
    assert_int_equal(lsm_buf_reserve(&b, SIZE_MAX), LSM_NO_MEMORY);
    assert_int_equal(b.len, 1);
    lsm_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    lsm_buf_free(&b); /* twice is harmless */
}

static void test_slice_cmp(void **state)
{
    (void)state;
    lsm_slice a = lsm_slice_make("abc", 3), ab = lsm_slice_make("ab", 2);
    lsm_slice abd = lsm_slice_make("abd", 3), empty = lsm_slice_make(NULL, 0);
    lsm_slice hi = lsm_slice_make("\xff", 1), lo = lsm_slice_make("\x01", 1);
    assert_int_equal(lsm_slice_cmp(a, a), 0);
    assert_true(lsm_slice_cmp(ab, a) < 0);
    assert_true(lsm_slice_cmp(a, ab) > 0);
    assert_true(lsm_slice_cmp(a, abd) < 0);
    assert_true(lsm_slice_cmp(empty, ab) < 0);
    assert_int_equal(lsm_slice_cmp(empty, empty), 0);
    assert_true(lsm_slice_cmp(lo, hi) < 0); /* bytes compare unsigned */
}

static void test_checksums(void **state)
{
    (void)state;
    const char *s = "hello, world";
    uint32_t c = lsm_checksum(s, strlen(s));
    assert_int_equal(c, lsm_checksum(s, strlen(s)));
    assert_int_not_equal(c, lsm_checksum(s, strlen(s) - 1));
    char flipped[16];
    memcpy(flipped, s, strlen(s));
    flipped[3] ^= 0x10;
    assert_int_not_equal(c, lsm_checksum(flipped, strlen(s)));
    /* The type tag is part of a typed checksum. */
    uint32_t t1 = lsm_checksum_typed(1, s, strlen(s));
    uint32_t t2 = lsm_checksum_typed(2, s, strlen(s));
    assert_int_not_equal(t1, t2);
    assert_int_equal(t1, lsm_checksum_typed(1, s, strlen(s)));
    /* Empty input is fine. */
    assert_int_equal(lsm_checksum_typed(1, NULL, 0),
                     lsm_checksum_typed(1, "", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_little_endian),
        cmocka_unit_test(test_fixed_get_truncated),
        cmocka_unit_test(test_varint64_roundtrip),
        cmocka_unit_test(test_varint32_roundtrip_and_range),
        cmocka_unit_test(test_varint_overlong),
        cmocka_unit_test(test_get_varint_consumes),
        cmocka_unit_test(test_lenprefixed),
        cmocka_unit_test(test_buffer_growth_clear_free),
        cmocka_unit_test(test_slice_cmp),
        cmocka_unit_test(test_checksums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
