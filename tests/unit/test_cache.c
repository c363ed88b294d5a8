/*
 * test_cache.c — the sharded LRU cache: hits and misses, eviction order,
 * pinning, replacement, erase, charge accounting, and a threaded smoke
 * test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "cache.h"
#include "doorkeeper.h"
#include "error.h"

/* Values are small integers cast to pointers; the deleter records them. */
#define MAX_DELETED 100000
static int deleted_keys[MAX_DELETED];
static int deleted_vals[MAX_DELETED];
static int ndeleted;

static void deleter(lsm_slice key, void *value)
{
    assert_true(ndeleted < MAX_DELETED);
    assert_int_equal(key.len, 4);
    deleted_keys[ndeleted] = (int)lsm_decode_fixed32(key.data);
    deleted_vals[ndeleted] = (int)(intptr_t)value;
    ndeleted++;
}

static int setup(void **state)
{
    (void)state;
    ndeleted = 0;
    return 0;
}

static lsm_slice key_of(char buf[4], int k)
{
    lsm_encode_fixed32(buf, (uint32_t)k);
    return lsm_slice_make(buf, 4);
}

static void insert(lsm_cache *c, int k, int v, size_t charge)
{
    char kb[4];
    lsm_cache_handle *h = lsm_cache_insert(c, key_of(kb, k), (void *)(intptr_t)v,
                                           charge, deleter);
    assert_non_null(h);
    lsm_cache_release(c, h);
}

/* Value of k, or -1 on a miss. */
static int lookup(lsm_cache *c, int k)
{
    char kb[4];
    lsm_cache_handle *h = lsm_cache_lookup(c, key_of(kb, k));
    if (!h)
        return -1;
    int v = (int)(intptr_t)lsm_cache_value(h);
    lsm_cache_release(c, h);
    return v;
}

static void erase(lsm_cache *c, int k)
{
    char kb[4];
    lsm_cache_erase(c, key_of(kb, k));
}

static void test_hit_and_miss(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(1000);
    assert_int_equal(lookup(c, 100), -1);
    insert(c, 100, 101, 1);
    assert_int_equal(lookup(c, 100), 101);
    assert_int_equal(lookup(c, 200), -1);
    assert_int_equal(lookup(c, 300), -1);
    insert(c, 200, 201, 1);
    assert_int_equal(lookup(c, 100), 101);
    assert_int_equal(lookup(c, 200), 201);
    assert_int_equal(lookup(c, 300), -1);
    assert_int_equal(ndeleted, 0);
    assert_int_equal(lsm_cache_usage(c), 2);
    lsm_cache_free(c);
    assert_int_equal(ndeleted, 2);  /* free runs the deleters */
}

static void test_replace(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(1000);
    insert(c, 100, 101, 5);
    insert(c, 100, 102, 7);
    assert_int_equal(lookup(c, 100), 102);
    assert_int_equal(ndeleted, 1);
    assert_int_equal(deleted_keys[0], 100);
    assert_int_equal(deleted_vals[0], 101);
    assert_int_equal(lsm_cache_usage(c), 7);  /* old charge released */

    /* Replacing a pinned entry: the old value lives until released. */
    char kb[4];
    lsm_cache_handle *h = lsm_cache_lookup(c, key_of(kb, 100));
    insert(c, 100, 103, 1);
    assert_int_equal(ndeleted, 1);
    assert_int_equal((int)(intptr_t)lsm_cache_value(h), 102);
    assert_int_equal(lookup(c, 100), 103);
    assert_int_equal(lsm_cache_usage(c), 1);
    lsm_cache_release(c, h);
    assert_int_equal(ndeleted, 2);
    assert_int_equal(deleted_vals[1], 102);
    lsm_cache_free(c);
    assert_int_equal(ndeleted, 3);
}

static void test_erase(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(1000);
    erase(c, 200);  /* absent: no effect */
    assert_int_equal(ndeleted, 0);

    insert(c, 100, 101, 3);
    insert(c, 200, 201, 4);
    erase(c, 100);
    assert_int_equal(lookup(c, 100), -1);
    assert_int_equal(lookup(c, 200), 201);
    assert_int_equal(ndeleted, 1);
    assert_int_equal(deleted_keys[0], 100);
    assert_int_equal(deleted_vals[0], 101);
    assert_int_equal(lsm_cache_usage(c), 4);
    erase(c, 100);
    assert_int_equal(ndeleted, 1);

    /* Erasing a pinned entry: gone for lookups, deleted on release. */
    char kb[4];
    lsm_cache_handle *h = lsm_cache_lookup(c, key_of(kb, 200));
    erase(c, 200);
    assert_int_equal(lookup(c, 200), -1);
    assert_int_equal(ndeleted, 1);
    assert_int_equal(lsm_cache_usage(c), 0);
    assert_int_equal((int)(intptr_t)lsm_cache_value(h), 201);
    lsm_cache_release(c, h);
    assert_int_equal(ndeleted, 2);
    assert_int_equal(deleted_vals[1], 201);
    lsm_cache_free(c);
    assert_int_equal(ndeleted, 2);
}

static void test_pinning(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(1000);
    char kb[4];
    insert(c, 100, 101, 1);
    lsm_cache_handle *h1 = lsm_cache_lookup(c, key_of(kb, 100));
    assert_non_null(h1);
    assert_int_equal((int)(intptr_t)lsm_cache_value(h1), 101);
    lsm_cache_handle *h2 = lsm_cache_lookup(c, key_of(kb, 100));
    /* Flood the cache: the pinned entry is never evicted. */
    for (int i = 0; i < 5000; i++)
        insert(c, 1000 + i, 2000 + i, 1);
    assert_int_equal(lookup(c, 100), 101);
    lsm_cache_release(c, h1);
    assert_int_equal(lookup(c, 100), 101);
    lsm_cache_release(c, h2);
    for (int i = 0; i < ndeleted; i++)
        assert_int_not_equal(deleted_keys[i], 100);
    /* Now unpinned, it ages out like anything else. */
    for (int i = 0; i < 5000; i++)
        insert(c, 10000 + i, i, 1);
    assert_int_equal(lookup(c, 100), -1);
    int seen = 0;
    for (int i = 0; i < ndeleted; i++)
        seen += deleted_keys[i] == 100;
    assert_int_equal(seen, 1);
    lsm_cache_free(c);
}

/* Recently used entries survive; untouched ones are evicted first. */
static void test_eviction_policy(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(16 * 50);  /* 50 per shard */
    insert(c, 100, 101, 1);
    insert(c, 200, 201, 1);
    for (int i = 0; i < 5000; i++) {
        insert(c, 1000 + i, 2000 + i, 1);
        assert_int_equal(lookup(c, 100), 101);  /* kept fresh */
    }
    assert_int_equal(lookup(c, 100), 101);
    assert_int_equal(lookup(c, 200), -1);       /* aged out */
    lsm_cache_free(c);
}

/* Within one shard the oldest unpinned entry goes first: with capacity
 * for 50 unit-charge entries per shard, the last 25 inserted are all still
 * present after inserting 1000 (a shard would need to receive > 50 of the
 * last 25 to lose one). */
static void test_eviction_order(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(16 * 50);
    for (int i = 0; i < 1000; i++)
        insert(c, i, i, 1);
    for (int i = 975; i < 1000; i++)
        assert_int_equal(lookup(c, i), i);
    /* Deletions happened in insertion order within each shard: the first
     * keys were the first victims, so key 0 was deleted before key 900. */
    int pos0 = -1, pos900 = -1;
    for (int i = 0; i < ndeleted; i++) {
        if (deleted_keys[i] == 0)
            pos0 = i;
        if (deleted_keys[i] == 900)
            pos900 = i;
    }
    assert_true(pos0 >= 0);
    assert_true(pos900 == -1 || pos0 < pos900);
    assert_true(lsm_cache_usage(c) <= 16 * 50);
    lsm_cache_free(c);
    assert_int_equal(ndeleted, 1000);
}

static void insert_high(lsm_cache *c, int k, int v, size_t charge)
{
    char kb[4];
    lsm_cache_handle *h = lsm_cache_insert_pri(c, key_of(kb, k),
                                               (void *)(intptr_t)v, charge,
                                               deleter, 1);
    assert_non_null(h);
    lsm_cache_release(c, h);
}

/* High-priority entries (table metadata) outlast any number of newer
 * low-priority ones, and are counted by lsm_cache_high_bytes; past the
 * capacity they are evicted among themselves (the cache stays bounded). */
static void test_priority(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(16 * 50);  /* 50 per shard */
    for (int i = 0; i < 16; i++)
        insert_high(c, i, 100 + i, 1);
    assert_int_equal(lsm_cache_high_bytes(c), 16);
    for (int i = 0; i < 5000; i++)
        insert(c, 1000 + i, 2000 + i, 1);
    for (int i = 0; i < 16; i++)
        assert_int_equal(lookup(c, i), 100 + i);  /* an LRU drops them */
    for (int i = 16; i < 5000; i++)
        insert_high(c, i, 100 + i, 1);
    assert_true(lsm_cache_usage(c) <= 16 * 50);
    assert_true(lsm_cache_high_bytes(c) <= 16 * 50);
    assert_int_equal(lookup(c, 4999), 100 + 4999);
    lsm_cache_free(c);
}

static void test_charge_accounting(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(16 * 1000);
    size_t total = 0;
    for (int i = 0; i < 100; i++) {
        insert(c, i, i, (size_t)(i + 1));
        total += (size_t)(i + 1);
    }
    assert_int_equal(lsm_cache_usage(c), total);  /* 5050 fits: nothing evicted */
    assert_int_equal(ndeleted, 0);
    for (int i = 0; i < 100; i += 2) {
        erase(c, i);
        total -= (size_t)(i + 1);
    }
    assert_int_equal(lsm_cache_usage(c), total);
    /* Overfill with heavy entries: usage stays within capacity. */
    for (int i = 0; i < 1000; i++) {
        insert(c, 1000 + i, i, 300);
        assert_true(lsm_cache_usage(c) <= 16 * 1000);
    }
    lsm_cache_free(c);
}

/* An entry bigger than a shard: usable while pinned, evicted when
 * released; a zero-capacity cache caches nothing. */
static void test_oversized_and_zero_capacity(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(1600);
    char kb[4];
    lsm_cache_handle *h = lsm_cache_insert(c, key_of(kb, 7), (void *)77, 100000,
                                           deleter);
    assert_non_null(h);
    assert_int_equal(lsm_cache_usage(c), 100000);
    assert_int_equal(lookup(c, 7), 77);
    assert_int_equal(ndeleted, 0);
    lsm_cache_release(c, h);
    assert_int_equal(ndeleted, 1);
    assert_int_equal(lsm_cache_usage(c), 0);
    assert_int_equal(lookup(c, 7), -1);
    lsm_cache_free(c);

    ndeleted = 0;
    c = lsm_cache_new(0);
    h = lsm_cache_insert(c, key_of(kb, 8), (void *)88, 1, deleter);
    assert_non_null(h);
    assert_int_equal((int)(intptr_t)lsm_cache_value(h), 88);
    assert_int_equal(lookup(c, 8), -1);
    assert_int_equal(lsm_cache_usage(c), 0);
    lsm_cache_release(c, h);
    assert_int_equal(ndeleted, 1);
    lsm_cache_free(c);
}

static void test_new_id(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(100);
    uint64_t prev = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t id = lsm_cache_new_id(c);
        assert_true(id != 0);
        assert_true(id > prev);
        prev = id;
    }
    lsm_cache_free(c);
}

/* Keys of different lengths and contents do not collide. */
static void test_key_bytes(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(1000);
    static void *const v1 = (void *)1, *const v2 = (void *)2, *const v3 = (void *)3;
    lsm_cache_handle *h;
    h = lsm_cache_insert(c, lsm_slice_make("ab", 2), v1, 1, NULL);
    lsm_cache_release(c, h);
    h = lsm_cache_insert(c, lsm_slice_make("abc", 3), v2, 1, NULL);
    lsm_cache_release(c, h);
    h = lsm_cache_insert(c, lsm_slice_make("", 0), v3, 1, NULL);
    lsm_cache_release(c, h);
    h = lsm_cache_lookup(c, lsm_slice_make("ab", 2));
    assert_ptr_equal(lsm_cache_value(h), v1);
    lsm_cache_release(c, h);
    h = lsm_cache_lookup(c, lsm_slice_make("abc", 3));
    assert_ptr_equal(lsm_cache_value(h), v2);
    lsm_cache_release(c, h);
    h = lsm_cache_lookup(c, lsm_slice_make("", 0));
    assert_ptr_equal(lsm_cache_value(h), v3);
    lsm_cache_release(c, h);
    assert_null(lsm_cache_lookup(c, lsm_slice_make("a", 1)));
    lsm_cache_free(c);
}

/* ---- threads -------------------------------------------------------------- */

typedef struct tval {
    uint32_t key;
    uint32_t magic;
} tval;

static atomic_int t_inserted, t_deleted, t_bad_deletes;

/* Runs on worker threads: counts problems instead of asserting. */
static void tdeleter(lsm_slice key, void *value)
{
    tval *v = value;
    if (key.len != 4 || v->key != lsm_decode_fixed32(key.data) ||
        v->magic != 0xfeedbeef)
        atomic_fetch_add(&t_bad_deletes, 1);
    v->magic = 0;
    free(v);
    atomic_fetch_add(&t_deleted, 1);
}

typedef struct targ {
    lsm_cache *c;
    unsigned seed;
    int bad;
} targ;

static void *worker(void *p)
{
    targ *a = p;
    unsigned s = a->seed;
    char kb[4];
    for (int i = 0; i < 20000; i++) {
        s = s * 1103515245u + 12345u;
        uint32_t k = (s >> 8) % 2000;
        int op = (int)((s >> 24) % 10);
        lsm_encode_fixed32(kb, k);
        lsm_slice key = lsm_slice_make(kb, 4);
        if (op < 3) {
            tval *v = malloc(sizeof *v);
            v->key = k;
            v->magic = 0xfeedbeef;
            atomic_fetch_add(&t_inserted, 1);
            lsm_cache_handle *h = lsm_cache_insert(a->c, key, v, 10 + k % 50,
                                                   tdeleter);
            if (!h) {
                a->bad++;
                continue;
            }
            lsm_cache_release(a->c, h);
        } else if (op < 9) {
            lsm_cache_handle *h = lsm_cache_lookup(a->c, key);
            if (h) {
                tval *v = lsm_cache_value(h);
                if (v->key != k || v->magic != 0xfeedbeef)
                    a->bad++;
                lsm_cache_release(a->c, h);
            }
        } else {
            lsm_cache_erase(a->c, key);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { N = 8 };
    lsm_cache *c = lsm_cache_new(16 * 1000);
    atomic_store(&t_inserted, 0);
    atomic_store(&t_deleted, 0);
    atomic_store(&t_bad_deletes, 0);
    pthread_t th[N];
    targ args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (targ){ c, (unsigned)(i * 7919 + 1), 0 };
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
    assert_true(lsm_cache_usage(c) <= 16 * 1000);
    lsm_cache_free(c);
    assert_int_equal(atomic_load(&t_deleted), atomic_load(&t_inserted));
    assert_int_equal(atomic_load(&t_bad_deletes), 0);
}

/* ---- admission (doorkeeper.h) ------------------------------------------ */

static uint64_t mix(uint64_t x)   /* distinct keys -> scattered hashes */
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* A key counts as seen at its second note within a window; distinct keys
 * are seldom mistaken for seen ones; a key is forgotten after two windows
 * of other notes. */
static void test_doorkeeper(void **state)
{
    (void)state;
    lsm_doorkeeper d;
    const size_t window = 4096;
    assert_int_equal(lsm_doorkeeper_init(&d, window), LSM_OK);
    int mistaken = 0;
    for (uint64_t i = 0; i < window / 2; i++)
        mistaken += lsm_doorkeeper_seen(&d, mix(i));
    print_message("first notes seen: %d of %zu\n", mistaken, window / 2);
    assert_true(mistaken < (int)(window / 2) / 10);
    for (uint64_t i = 0; i < window / 2; i++)
        assert_true(lsm_doorkeeper_seen(&d, mix(i)));
    /* two more windows of other keys: the first ones are forgotten */
    for (uint64_t i = 0; i < 2 * window; i++)
        lsm_doorkeeper_seen(&d, mix(1000000 + i));
    int remembered = 0;
    for (uint64_t i = 0; i < window / 2; i++)
        remembered += lsm_doorkeeper_seen(&d, mix(i));
    assert_true(remembered < (int)(window / 2) / 5);
    lsm_doorkeeper_free(&d);
}

/* Through the cache: the first miss of a key is not admitted, the
 * second is. */
static void test_admission(void **state)
{
    (void)state;
    lsm_cache *c = lsm_cache_new(1 << 20);
    assert_non_null(c);
    assert_false(lsm_cache_admit(c, lsm_slice_make("block-1", 7)));
    assert_true(lsm_cache_admit(c, lsm_slice_make("block-1", 7)));
    lsm_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_hit_and_miss, setup),
        cmocka_unit_test_setup(test_replace, setup),
        cmocka_unit_test_setup(test_erase, setup),
        cmocka_unit_test_setup(test_pinning, setup),
        cmocka_unit_test_setup(test_eviction_policy, setup),
        cmocka_unit_test_setup(test_eviction_order, setup),
        cmocka_unit_test_setup(test_charge_accounting, setup),
        cmocka_unit_test_setup(test_priority, setup),
        cmocka_unit_test_setup(test_oversized_and_zero_capacity, setup),
        cmocka_unit_test_setup(test_new_id, setup),
        cmocka_unit_test_setup(test_key_bytes, setup),
        cmocka_unit_test_setup(test_threads, setup),
        cmocka_unit_test(test_doorkeeper),
        cmocka_unit_test(test_admission),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
