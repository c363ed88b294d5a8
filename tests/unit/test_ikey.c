/*
 * test_ikey.c — internal key encoding, parsing and ordering (ikey.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ikey.h"
#include "lsm.h"

/* Builds an internal key into a fresh buffer (caller frees). */
static lsm_buf make(const char *user, uint64_t seq, int kind)
{
    lsm_buf b = { 0 };
    assert_int_equal(lsm_ikey_append(&b, lsm_slice_make(user, strlen(user)),
                                     seq, kind),
                     LSM_OK);
    return b;
}

static int cmp3(const char *ua, uint64_t sa, int ka, const char *ub,
                uint64_t sb, int kb)
{
    lsm_buf a = make(ua, sa, ka), b = make(ub, sb, kb);
    int r = lsm_ikey_cmp(lsm_buf_slice(&a), lsm_buf_slice(&b));
    int back = lsm_ikey_cmp(lsm_buf_slice(&b), lsm_buf_slice(&a));
    /* antisymmetry */
    assert_true((r < 0 && back > 0) || (r > 0 && back < 0) ||
                (r == 0 && back == 0));
    lsm_buf_free(&a);
    lsm_buf_free(&b);
    return r;
}

static void test_encoding(void **state)
{
    (void)state;
    lsm_buf b = make("abc", 0x123456, LSM_KIND_PUT);
    assert_int_equal(b.len, 3 + LSM_IKEY_TRAILER);
    assert_memory_equal(b.data, "abc", 3);
    /* trailer little-endian (seq << 8) | kind */
    const unsigned char want[8] = { 0x01, 0x56, 0x34, 0x12, 0, 0, 0, 0 };
    assert_memory_equal(b.data + 3, want, 8);
    lsm_slice u = lsm_ikey_user(lsm_buf_slice(&b));
    assert_int_equal(u.len, 3);
    assert_ptr_equal(u.data, b.data);
    assert_true(lsm_ikey_pack(5, LSM_KIND_DELETE) == (UINT64_C(5) << 8));
    lsm_buf_free(&b);
}

static void test_parse(void **state)
{
    (void)state;
    lsm_buf b = make("key", LSM_MAX_SEQ, LSM_KIND_RANGE_DEL);
    lsm_ikey k;
    assert_int_equal(lsm_ikey_parse(lsm_buf_slice(&b), &k), 1);
    assert_int_equal(k.user.len, 3);
    assert_memory_equal(k.user.data, "key", 3);
    assert_true(k.seq == LSM_MAX_SEQ);
    assert_int_equal(k.kind, LSM_KIND_RANGE_DEL);

    /* empty user key is fine */
    lsm_buf e = make("", 7, LSM_KIND_DELETE);
    assert_int_equal(lsm_ikey_parse(lsm_buf_slice(&e), &k), 1);
    assert_int_equal(k.user.len, 0);
    assert_true(k.seq == 7);
    assert_int_equal(k.kind, LSM_KIND_DELETE);

    /* truncated: shorter than a trailer */
    for (size_t n = 0; n < LSM_IKEY_TRAILER; n++)
        assert_int_equal(lsm_ikey_parse(lsm_slice_make(e.data, n), &k), 0);

    /* unknown kind bytes are rejected */
    for (int kind = LSM_KIND_BLOB + 1; kind < 256; kind++) {
        b.data[3] = (char)kind;
        assert_int_equal(lsm_ikey_parse(lsm_buf_slice(&b), &k), 0);
    }
    lsm_buf_free(&b);
    lsm_buf_free(&e);
}

static void test_order_basic(void **state)
{
    (void)state;
    /* user key ascending, bytewise, shorter first */
    assert_true(cmp3("a", 1, 1, "b", 1, 1) < 0);
    assert_true(cmp3("a", 1, 1, "ab", 9, 1) < 0);
    assert_true(cmp3("ab", 1, 1, "b", 9, 1) < 0);
    assert_true(cmp3("", 1, 1, "a", 1, 1) < 0);
    /* bytes compare unsigned */
    assert_true(cmp3("\x7f", 1, 1, "\x80", 1, 1) < 0);
    assert_true(cmp3("\xff", 1, 1, "\x01", 1, 1) > 0);
    /* same user key: newer (higher seq) first, whatever the kind */
    assert_true(cmp3("k", 10, LSM_KIND_DELETE, "k", 9, LSM_KIND_PUT) < 0);
    assert_true(cmp3("k", 9, LSM_KIND_PUT, "k", 10, LSM_KIND_PUT) > 0);
    /* user key dominates the sequence */
    assert_true(cmp3("a", 1, 1, "b", 100, 1) < 0);
    /* same seq: kind descending */
    assert_true(cmp3("k", 5, LSM_KIND_PUT, "k", 5, LSM_KIND_DELETE) < 0);
    assert_true(cmp3("k", 5, LSM_KIND_RANGE_DEL, "k", 5, LSM_KIND_PUT) < 0);
    assert_int_equal(cmp3("k", 5, 1, "k", 5, 1), 0);
    /* the trailer is compared numerically, not as little-endian bytes */
    assert_true(cmp3("k", 256, 1, "k", 1, 1) < 0);
    assert_true(cmp3("k", LSM_MAX_SEQ, 0, "k", 0, 2) < 0);
}

static void test_seek_key_lands_on_visible_version(void **state)
{
    (void)state;
    /* A seek key (k, snap, SEEK) sorts before every version with
     * seq <= snap and after every version with seq > snap. */
    for (uint64_t snap = 0; snap < 20; snap++)
        for (uint64_t seq = 0; seq < 20; seq++)
            for (int kind = 0; kind <= LSM_KIND_RANGE_DEL; kind++) {
                int r = cmp3("key", snap, LSM_KIND_SEEK, "key", seq, kind);
                if (seq > snap)
                    assert_true(r > 0);
                else if (seq < snap || kind < LSM_KIND_SEEK)
                    assert_true(r < 0);
                else
                    assert_int_equal(r, 0);
            }
}

static void test_short_inputs(void **state)
{
    (void)state;
    /* Damaged keys shorter than a trailer compare as plain bytes and do
     * not crash. */
    assert_int_equal(lsm_ikey_cmp(lsm_slice_make("", 0), lsm_slice_make("", 0)), 0);
    assert_true(lsm_ikey_cmp(lsm_slice_make("abc", 3), lsm_slice_make("abd", 3)) < 0);
    lsm_buf b = make("zz", 1, 1);
    assert_true(lsm_ikey_cmp(lsm_slice_make("a", 1), lsm_buf_slice(&b)) < 0);
    assert_true(lsm_ikey_cmp(lsm_buf_slice(&b), lsm_slice_make("a", 1)) > 0);
    lsm_buf_free(&b);
}

/* Model entry for the randomized ordering test. */
struct model {
    char user[4];
    size_t ulen;
    uint64_t seq;
    int kind;
    lsm_buf enc;
};

static int model_cmp(const void *pa, const void *pb)
{
    const struct model *a = pa, *b = pb;
    size_t n = a->ulen < b->ulen ? a->ulen : b->ulen;
    int r = memcmp(a->user, b->user, n);
    if (r)
        return r;
    if (a->ulen != b->ulen)
        return a->ulen < b->ulen ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq > b->seq ? -1 : 1;
    return (a->kind < b->kind) - (a->kind > b->kind);
}

static void test_order_random(void **state)
{
    (void)state;
    enum { N = 400 };
    static struct model m[N];
    srand(12345);
    for (int i = 0; i < N; i++) {
        m[i].ulen = (size_t)(rand() % 4);
        for (size_t j = 0; j < m[i].ulen; j++)
            m[i].user[j] = (char)(rand() % 3 ? 'a' + rand() % 3 : 0xff);
        /* seqs span byte boundaries of the little-endian trailer */
        m[i].seq = (uint64_t)rand() % 3 == 0 ? (uint64_t)rand() % 300
                                             : (uint64_t)rand() << (rand() % 24);
        m[i].seq &= LSM_MAX_SEQ;
        m[i].kind = rand() % 3;
        memset(&m[i].enc, 0, sizeof m[i].enc);
        assert_int_equal(lsm_ikey_append(&m[i].enc,
                                         lsm_slice_make(m[i].user, m[i].ulen),
                                         m[i].seq, m[i].kind),
                         LSM_OK);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            int want = model_cmp(&m[i], &m[j]);
            int got = lsm_ikey_cmp(lsm_buf_slice(&m[i].enc),
                                   lsm_buf_slice(&m[j].enc));
            assert_int_equal(want < 0, got < 0);
            assert_int_equal(want > 0, got > 0);
        }
    for (int i = 0; i < N; i++)
        lsm_buf_free(&m[i].enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_order_basic),
        cmocka_unit_test(test_seek_key_lands_on_visible_version),
        cmocka_unit_test(test_short_inputs),
        cmocka_unit_test(test_order_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
