/*
 * test_block.c — block builder and reader: round trips, seeks in both
 * directions, and damaged restart arrays and entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "block.h"
#include "error.h"
#include "ikey.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static int cmp_bytes(lsm_slice a, lsm_slice b)
{
    return lsm_slice_cmp(a, b);
}

typedef struct kv {
    lsm_buf k, v;
} kv;

static int kv_cmp(const void *a, const void *b)
{
    return lsm_slice_cmp(lsm_buf_slice(&((const kv *)a)->k),
                         lsm_buf_slice(&((const kv *)b)->k));
}

/* n distinct random keys (sharing prefixes, so prefix compression is
 * exercised), sorted; random values. */
static kv *make_kvs(size_t n)
{
    kv *v = calloc(n, sizeof *v);
    assert_non_null(v);
    static const char *prefixes[] = { "", "a", "user/", "user/000", "zz" };
    for (size_t i = 0; i < n; i++) {
        const char *p = prefixes[rnd() % 5];
        char key[64];
        int len = snprintf(key, sizeof key, "%s%llu", p,
                           (unsigned long long)(rnd() % 1000000));
        lsm_buf_append(&v[i].k, key, (size_t)len);
        size_t extra = rnd() % 12;
        for (size_t j = 0; j < extra; j++) {
            char c = (char)(rnd() & 0xff);
            lsm_buf_append(&v[i].k, &c, 1);
        }
        size_t vlen = rnd() % 300;
        lsm_buf_reserve(&v[i].v, vlen);
        for (size_t j = 0; j < vlen; j++)
            v[i].v.data[j] = (char)(rnd() & 0xff);
        v[i].v.len = vlen;
    }
    qsort(v, n, sizeof *v, kv_cmp);
    /* drop duplicates */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && kv_cmp(&v[w - 1], &v[i]) == 0) {
            lsm_buf_free(&v[i].k);
            lsm_buf_free(&v[i].v);
            continue;
        }
        v[w++] = v[i];
    }
    for (size_t i = w; i < n; i++)
        memset(&v[i], 0, sizeof v[i]);
    return v;
}

static size_t count_kvs(kv *v, size_t n)
{
    size_t c = 0;
    while (c < n && v[c].k.data)
        c++;
    return c;
}

static void free_kvs(kv *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        lsm_buf_free(&v[i].k);
        lsm_buf_free(&v[i].v);
    }
    free(v);
}

static void assert_at(lsm_iiter *it, const kv *e)
{
    assert_true(lsm_iiter_valid(it));
    lsm_slice k = lsm_iiter_key(it), v = lsm_iiter_value(it);
    assert_int_equal(k.len, e->k.len);
    assert_memory_equal(k.data, e->k.data, k.len);
    assert_int_equal(v.len, e->v.len);
    if (v.len)
        assert_memory_equal(v.data, e->v.data, v.len);
}

/* Builds a block of the kvs into a malloc'ed copy. */
static char *build(kv *v, size_t n, int interval, size_t *len)
{
    lsm_block_builder b;
    lsm_block_builder_init(&b, interval);
    assert_true(lsm_block_builder_empty(&b));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(lsm_block_builder_add(&b, lsm_buf_slice(&v[i].k),
                                               lsm_buf_slice(&v[i].v)),
                         LSM_OK);
    size_t est = lsm_block_builder_estimate(&b);
    lsm_slice out;
    assert_int_equal(lsm_block_builder_finish(&b, &out), LSM_OK);
    assert_int_equal(out.len, est);
    char *copy = malloc(out.len ? out.len : 1);
    memcpy(copy, out.data, out.len);
    *len = out.len;
    lsm_block_builder_free(&b);
    return copy;
}

static void check_round_trip(int interval)
{
    size_t n0 = 3000;
    kv *v = make_kvs(n0);
    size_t n = count_kvs(v, n0);
    size_t len;
    char *data = build(v, n, interval, &len);
    lsm_block *blk;
    assert_int_equal(lsm_block_new(data, len, 1, &blk), LSM_OK);
    assert_int_equal(lsm_block_size(blk), len);
    lsm_iiter *it = lsm_block_iter(blk, cmp_bytes);

    /* forward */
    size_t i = 0;
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it))
        assert_at(it, &v[i++]);
    assert_int_equal(i, n);
    assert_int_equal(lsm_iiter_status(it), LSM_OK);

    /* backward */
    i = n;
    for (lsm_iiter_last(it); lsm_iiter_valid(it); lsm_iiter_prev(it))
        assert_at(it, &v[--i]);
    assert_int_equal(i, 0);

    /* exact seeks, then a step each way */
    for (i = 0; i < n; i++) {
        lsm_iiter_seek(it, lsm_buf_slice(&v[i].k));
        assert_at(it, &v[i]);
        lsm_iiter_prev(it);
        if (i == 0)
            assert_false(lsm_iiter_valid(it));
        else
            assert_at(it, &v[i - 1]);
        lsm_iiter_seek(it, lsm_buf_slice(&v[i].k));
        lsm_iiter_next(it);
        if (i + 1 == n)
            assert_false(lsm_iiter_valid(it));
        else
            assert_at(it, &v[i + 1]);
    }
    /* seeks between keys land on the next key: key + "\0" is the
     * smallest key greater than key */
    for (i = 0; i < n; i++) {
        lsm_buf t = { 0 };
        lsm_buf_append(&t, v[i].k.data, v[i].k.len);
        lsm_buf_append(&t, "", 1);
        lsm_iiter_seek(it, lsm_buf_slice(&t));
        if (i + 1 == n)
            assert_false(lsm_iiter_valid(it));
        else
            assert_at(it, &v[i + 1]);
        lsm_buf_free(&t);
    }
    lsm_iiter_seek(it, lsm_slice_make("", 0));
    assert_at(it, &v[0]);
    lsm_iiter_seek(it, lsm_slice_make("\xff\xff\xff\xff", 4));
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_OK);

    lsm_iiter_free(it);
    lsm_block_free(blk);
    free_kvs(v, n0);
}

static void test_round_trip_interval_1(void **state)
{
    (void)state;
    check_round_trip(1);
}

static void test_round_trip_interval_2(void **state)
{
    (void)state;
    check_round_trip(2);
}

static void test_round_trip_interval_16(void **state)
{
    (void)state;
    check_round_trip(16);
}

static void test_empty_block(void **state)
{
    (void)state;
    size_t len;
    char *data = build(NULL, 0, 16, &len);
    assert_int_equal(len, 4);
    lsm_block *blk;
    assert_int_equal(lsm_block_new(data, len, 1, &blk), LSM_OK);
    lsm_iiter *it = lsm_block_iter(blk, cmp_bytes);
    lsm_iiter_first(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_last(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_seek(it, lsm_slice_make("a", 1));
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_OK);
    lsm_iiter_free(it);
    lsm_block_free(blk);
}

static void test_large_entries_and_reuse(void **state)
{
    (void)state;
    lsm_block_builder b;
    lsm_block_builder_init(&b, 4);
    size_t big = (size_t)1 << 20;
    char *val = malloc(big);
    for (size_t i = 0; i < big; i++)
        val[i] = (char)(i * 7);
    char longkey[300];
    memset(longkey, 'k', sizeof longkey);
    /* Two rounds through reset: the builder must start clean. */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(lsm_block_builder_add(&b, lsm_slice_make("a", 1),
                                               lsm_slice_make(val, big)), 0);
        assert_int_equal(lsm_block_builder_add(&b,
                             lsm_slice_make(longkey, sizeof longkey),
                             lsm_slice_make("x", 1)), 0);
        lsm_slice out;
        assert_int_equal(lsm_block_builder_finish(&b, &out), LSM_OK);
        lsm_block *blk;
        assert_int_equal(lsm_block_new((char *)out.data, out.len, 0, &blk), 0);
        lsm_iiter *it = lsm_block_iter(blk, cmp_bytes);
        lsm_iiter_first(it);
        assert_true(lsm_iiter_valid(it));
        assert_int_equal(lsm_iiter_value(it).len, big);
        assert_memory_equal(lsm_iiter_value(it).data, val, big);
        lsm_iiter_next(it);
        assert_int_equal(lsm_iiter_key(it).len, sizeof longkey);
        assert_memory_equal(lsm_iiter_key(it).data, longkey, sizeof longkey);
        lsm_iiter_prev(it);
        assert_int_equal(lsm_iiter_key(it).len, 1);
        lsm_iiter_seek(it, lsm_slice_make("b", 1));
        assert_int_equal(lsm_iiter_key(it).len, sizeof longkey);
        lsm_iiter_next(it);
        assert_false(lsm_iiter_valid(it));
        lsm_iiter_free(it);
        lsm_block_free(blk);
        lsm_block_builder_reset(&b);
        assert_true(lsm_block_builder_empty(&b));
        assert_int_equal(lsm_block_builder_estimate(&b), 4);
    }
    lsm_block_builder_free(&b);
    free(val);
}

/* A small block: keys key00..key19, value "v", restart interval 4. */
static char *small_block(size_t *len)
{
    lsm_block_builder b;
    lsm_block_builder_init(&b, 4);
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%02d", i);
        assert_int_equal(lsm_block_builder_add(&b, lsm_slice_make(k, 5),
                                               lsm_slice_make("v", 1)), 0);
    }
    lsm_slice out;
    assert_int_equal(lsm_block_builder_finish(&b, &out), 0);
    char *copy = malloc(out.len);
    memcpy(copy, out.data, out.len);
    *len = out.len;
    lsm_block_builder_free(&b);
    return copy;
}

static void expect_bad_block(char *data, size_t len, const char *why)
{
    lsm_block *blk = (lsm_block *)1;
    assert_int_equal(lsm_block_new(data, len, 0, &blk), LSM_CORRUPTION);
    assert_null(blk);
    assert_non_null(strstr(lsm_last_error(), why));
}

static void test_bad_restart_arrays(void **state)
{
    (void)state;
    size_t len;
    char *data = small_block(&len);
    /* 20 entries / 4 = 5 restarts */
    assert_int_equal(lsm_decode_fixed32(data + len - 4), 5);
    size_t roff = len - 4 - 20;

    expect_bad_block(data, 3, "too short");

    char *d = malloc(len);
    memcpy(d, data, len);
    lsm_encode_fixed32(d + len - 4, 1000000);        /* count too big */
    expect_bad_block(d, len, "restart points");
    lsm_encode_fixed32(d + len - 4, 0xffffffffu);
    expect_bad_block(d, len, "restart points");
    lsm_encode_fixed32(d + len - 4, (uint32_t)(len / 4)); /* just too big */
    expect_bad_block(d, len, "restart points");

    memcpy(d, data, len);
    lsm_encode_fixed32(d + roff + 8, (uint32_t)roff); /* past the entries */
    expect_bad_block(d, len, "out of order");

    memcpy(d, data, len);
    lsm_encode_fixed32(d + roff + 8, lsm_decode_fixed32(d + roff + 4));
    expect_bad_block(d, len, "out of order");        /* not increasing */

    memcpy(d, data, len);
    lsm_encode_fixed32(d + roff, 3);                 /* restart 0 not at 0 */
    expect_bad_block(d, len, "restart 0");

    /* entries present but zero restarts: fewer restarts claimed so that
     * the entry bytes and restart array shift */
    memcpy(d, data, len);
    lsm_encode_fixed32(d + len - 4, 0);
    expect_bad_block(d, len, "no restarts");

    /* ownership: a rejected block passed with own = 1 is freed */
    char *owned = malloc(len);
    memcpy(owned, d, len);
    lsm_block *blk;
    assert_int_equal(lsm_block_new(owned, len, 1, &blk), LSM_CORRUPTION);

    free(d);
    free(data);
}

/* Opens the (restart-valid) block and walks it forward; returns the
 * number of entries seen and the final status. */
static size_t walk(char *data, size_t len, int *status)
{
    lsm_block *blk;
    assert_int_equal(lsm_block_new(data, len, 0, &blk), LSM_OK);
    lsm_iiter *it = lsm_block_iter(blk, cmp_bytes);
    size_t n = 0;
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it))
        n++;
    *status = lsm_iiter_status(it);
    lsm_iiter_free(it);
    lsm_block_free(blk);
    return n;
}

static void test_bad_entries(void **state)
{
    (void)state;
    size_t len;
    char *data = small_block(&len);
    char *d = malloc(len);
    int st;

    /* Entry layout here: [shared][unshared][vlen] key_delta "v".
     * Entry 0 at 0: 0 5 1 "key00" "v" (9 bytes); entry 1 at 9: 4 1 1 "1" "v". */
    memcpy(d, data, len);
    assert_int_equal(walk(d, len, &st), 20);
    assert_int_equal(st, LSM_OK);

    memcpy(d, data, len);
    d[1] = 127;  /* unshared runs past the entries */
    assert_int_equal(walk(d, len, &st), 0);
    assert_int_equal(st, LSM_CORRUPTION);
    assert_non_null(strstr(lsm_last_error(), "past the entries"));

    memcpy(d, data, len);
    d[9] = 6;  /* entry 1 shares more than entry 0's 5 bytes */
    assert_int_equal(walk(d, len, &st), 1);
    assert_int_equal(st, LSM_CORRUPTION);
    assert_non_null(strstr(lsm_last_error(), "shared prefix"));

    memcpy(d, data, len);
    d[0] = 1;  /* a restart entry with a shared prefix */
    assert_int_equal(walk(d, len, &st), 0);
    assert_int_equal(st, LSM_CORRUPTION);

    memcpy(d, data, len);
    d[11] = 127;  /* value length past the end */
    assert_int_equal(walk(d, len, &st), 1);
    assert_int_equal(st, LSM_CORRUPTION);

    /* an endless varint running into the restart array */
    size_t roff = len - 4 - 20;
    memcpy(d, data, len);
    uint32_t last = lsm_decode_fixed32(d + roff + 16);  /* restart 4 */
    memset(d + last, 0x80, roff - last);
    assert_int_equal(walk(d, len, &st), 16);
    assert_int_equal(st, LSM_CORRUPTION);
    assert_non_null(strstr(lsm_last_error(), "header"));

    /* Errors stick: after corruption every move leaves it invalid. */
    memcpy(d, data, len);
    d[11] = 127;
    lsm_block *blk;
    assert_int_equal(lsm_block_new(d, len, 0, &blk), LSM_OK);
    lsm_iiter *it = lsm_block_iter(blk, cmp_bytes);
    lsm_iiter_first(it);
    lsm_iiter_next(it);
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_CORRUPTION);
    lsm_iiter_first(it);
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_seek(it, lsm_slice_make("key00", 5));
    assert_false(lsm_iiter_valid(it));
    lsm_iiter_last(it);
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_CORRUPTION);
    lsm_iiter_free(it);

    /* Seek decodes restart keys: damage one and seek past it. */
    it = lsm_block_iter(blk, cmp_bytes);
    memcpy(d, data, len);
    uint32_t r2 = lsm_decode_fixed32(d + roff + 8);
    d[r2 + 1] = 127;
    lsm_iiter_seek(it, lsm_slice_make("key19", 5));
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_CORRUPTION);
    lsm_iiter_free(it);
    lsm_block_free(blk);

    free(d);
    free(data);
}

/* A restart point inside an entry whose bytes decode as a plausible
 * entry: prev notices that the entries no longer chain up. */
static void test_misplaced_restart(void **state)
{
    (void)state;
    char d[] = {
        0, 1, 9, 'a', 0, 1, 7, 'z', 'v', 'v', 'v', 'v', 'v', /* "a" at 0 */
        0, 1, 1, 'b', 'w',                                   /* "b" at 13 */
        0, 0, 0, 0, 4, 0, 0, 0,                              /* restarts 0, 4 */
        2, 0, 0, 0,
    };
    lsm_block *blk;
    assert_int_equal(lsm_block_new(d, sizeof d, 0, &blk), LSM_OK);
    lsm_iiter *it = lsm_block_iter(blk, cmp_bytes);
    lsm_iiter_first(it);
    assert_int_equal(lsm_iiter_key(it).len, 1);
    assert_int_equal(lsm_iiter_key(it).data[0], 'a');
    lsm_iiter_next(it);
    assert_int_equal(lsm_iiter_key(it).data[0], 'b');
    lsm_iiter_prev(it);
    assert_false(lsm_iiter_valid(it));
    assert_int_equal(lsm_iiter_status(it), LSM_CORRUPTION);
    assert_non_null(strstr(lsm_last_error(), "inconsistent"));
    lsm_iiter_free(it);
    lsm_block_free(blk);
}

/* Random damage anywhere: never a crash or out-of-bounds read (ASan),
 * and every entry returned lies within the block. */
static void test_random_damage(void **state)
{
    (void)state;
    size_t n0 = 200;
    kv *v = make_kvs(n0);
    size_t n = count_kvs(v, n0);
    size_t len;
    char *data = build(v, n, 8, &len);
    int corrupt = 0, rejected = 0;
    for (int trial = 0; trial < 3000; trial++) {
        char *d = malloc(len);
        memcpy(d, data, len);
        int flips = 1 + (int)(rnd() % 3);
        for (int f = 0; f < flips; f++)
            d[rnd() % len] ^= (char)(1 + rnd() % 255);
        lsm_block *blk;
        if (lsm_block_new(d, len, 1, &blk) != LSM_OK) {
            rejected++;
            continue;
        }
        lsm_iiter *it = lsm_block_iter(blk, cmp_bytes);
        size_t steps = 0;
        for (lsm_iiter_first(it); lsm_iiter_valid(it) && steps < 10 * n;
             lsm_iiter_next(it), steps++) {
            lsm_slice val = lsm_iiter_value(it);
            assert_true(val.data >= d && val.data + val.len <= d + len);
        }
        for (lsm_iiter_last(it); lsm_iiter_valid(it) && steps < 20 * n;
             lsm_iiter_prev(it), steps++)
            ;
        for (size_t i = 0; i < n; i += 17)
            lsm_iiter_seek(it, lsm_buf_slice(&v[i].k));
        if (lsm_iiter_status(it) == LSM_CORRUPTION)
            corrupt++;
        else
            assert_int_equal(lsm_iiter_status(it), LSM_OK);
        lsm_iiter_free(it);
        lsm_block_free(blk);
    }
    assert_true(corrupt + rejected > 0);
    free(data);
    free_kvs(v, n0);
}

/* ---- search hints ---------------------------------------------------- */

/* A user key made to trip the hints: the shared prefix "u/" (or a
 * stray one), then 0..19 bytes from {0x00, 'a', 'b', 0xff}, so keys tie on
 * their 8 hint bytes, are prefixes of one another and end in bytes that
 * look like the zero padding. */
static void tricky_user_key(lsm_buf *k)
{
    static const char alphabet[] = { 0x00, 'a', 'b', (char)0xff };
    static const char *strays[] = { "", "u", "t/", "u/\xff\xff", "v", "u0" };
    lsm_buf_clear(k);
    if (rnd() % 16 == 0) {
        const char *s = strays[rnd() % 6];
        lsm_buf_append(k, s, strlen(s));
        return;
    }
    lsm_buf_append(k, "u/", 2);
    size_t n = rnd() % 20;
    for (size_t i = 0; i < n; i++)
        lsm_buf_append(k, &alphabet[rnd() % 4], 1);
}

static int kv_ikey_cmp(const void *a, const void *b)
{
    return lsm_ikey_cmp(lsm_buf_slice(&((const kv *)a)->k),
                        lsm_buf_slice(&((const kv *)b)->k));
}

/* Internal keys (all "u/..." if same_prefix) with a few versions each,
 * sorted; returns how many (duplicates dropped). */
static size_t make_index_kvs(kv *v, size_t n, int same_prefix)
{
    lsm_buf user = { 0 };
    for (size_t i = 0; i < n; i++) {
        memset(&v[i], 0, sizeof v[i]);
        if (i == 0 || rnd() % 3)
            tricky_user_key(&user);         /* else another version */
        if (same_prefix && (user.len < 2 || memcmp(user.data, "u/", 2) != 0)) {
            lsm_buf_clear(&user);
            lsm_buf_append(&user, "u/", 2);
        }
        lsm_ikey_append(&v[i].k, lsm_buf_slice(&user), rnd() % 1000,
                        LSM_KIND_PUT);
        lsm_buf_append(&v[i].v, &i, sizeof i);
    }
    lsm_buf_free(&user);
    qsort(v, n, sizeof *v, kv_ikey_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && lsm_ikey_cmp(lsm_buf_slice(&v[m - 1].k),
                              lsm_buf_slice(&v[i].k)) == 0) {
            lsm_buf_free(&v[i].k);
            lsm_buf_free(&v[i].v);
            continue;
        }
        v[m++] = v[i];
    }
    return m;
}

/* A seek with hints finds what a seek without them finds, for targets
 * inside, between, before and after the keys (also ones that do not
 * share the keys' prefix), with restart intervals 1 and 3. */
static void test_search_hints(void **state)
{
    (void)state;
    for (int interval = 1; interval <= 3; interval += 2) {
        for (int round = 0; round < 20; round++) {
            size_t n = 1 + rnd() % 600;
            kv *v = calloc(n, sizeof *v);
            n = make_index_kvs(v, n, round % 2);
            size_t len;
            char *data = build(v, n, interval, &len);
            lsm_block *plain, *hinted;
            assert_int_equal(lsm_block_new(data, len, 0, &plain), LSM_OK);
            assert_int_equal(lsm_block_new(data, len, 0, &hinted), LSM_OK);
            size_t before = lsm_block_size(hinted);
            assert_int_equal(lsm_block_add_hints(hinted), LSM_OK);
            size_t restarts = (n + (size_t)interval - 1) / (size_t)interval;
            assert_int_equal(lsm_block_size(hinted),
                             before + (restarts >= 2 ? 8 * restarts : 0));

            lsm_buf user = { 0 }, target = { 0 }, k1 = { 0 }, k2 = { 0 };
            for (int i = 0; i < 400; i++) {
                lsm_buf_clear(&target);
                if (i % 4 == 0) {   /* an existing key, or its neighbour */
                    lsm_slice u = lsm_ikey_user(lsm_buf_slice(&v[rnd() % n].k));
                    lsm_buf_clear(&user);
                    lsm_buf_append(&user, u.data, u.len);
                } else {
                    tricky_user_key(&user);
                }
                lsm_ikey_append(&target, lsm_buf_slice(&user), rnd() % 1000,
                                LSM_KIND_SEEK);
                lsm_slice tv1, tv2;
                int r1 = lsm_block_find(plain, lsm_ikey_cmp,
                                        lsm_buf_slice(&target), &k1, &tv1);
                int r2 = lsm_block_find(hinted, lsm_ikey_cmp,
                                        lsm_buf_slice(&target), &k2, &tv2);
                assert_int_equal(r1, r2);
                if (r1 == 1) {
                    assert_int_equal(k1.len, k2.len);
                    assert_memory_equal(k1.data, k2.data, k1.len);
                    assert_ptr_equal(tv1.data, tv2.data);
                }
            }
            lsm_buf_free(&user);
            lsm_buf_free(&target);
            lsm_buf_free(&k1);
            lsm_buf_free(&k2);
            lsm_block_free(plain);
            lsm_block_free(hinted);
            free(data);
            free_kvs(v, n);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_interval_1),
        cmocka_unit_test(test_round_trip_interval_2),
        cmocka_unit_test(test_round_trip_interval_16),
        cmocka_unit_test(test_empty_block),
        cmocka_unit_test(test_large_entries_and_reuse),
        cmocka_unit_test(test_bad_restart_arrays),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_misplaced_restart),
        cmocka_unit_test(test_random_damage),
        cmocka_unit_test(test_search_hints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
