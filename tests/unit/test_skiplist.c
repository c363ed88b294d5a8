/*
 * test_skiplist.c — the arena (arena.c) and the concurrent skiplist
 * (skiplist.c): ordering against a sorted model, both directions, seeks,
 * duplicate rejection, and one writer racing three lock-free readers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "arena.h"
#include "ikey.h"
#include "lsm.h"
#include "skiplist.h"

/* --- arena ----------------------------------------------------------------- */

static void test_arena_alignment_and_usage(void **state)
{
    (void)state;
    lsm_arena a;
    lsm_arena_init(&a);
    assert_int_equal(lsm_arena_usage(&a), 0);
    size_t want = 0;
    for (size_t n = 0; n < 300; n++) {
        char *p = lsm_arena_alloc(&a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % LSM_ARENA_ALIGN, 0);
        memset(p, 0xab, n); /* ASan checks the bytes are really ours */
        want += n ? (n + 7) / 8 * 8 : 8;
    }
    /* all of it fits the first chunk, so usage is exactly what was asked
     * for, rounded up to the alignment */
    assert_int_equal(lsm_arena_usage(&a), want);
    lsm_arena_free(&a);
    assert_int_equal(lsm_arena_usage(&a), 0);
    /* reusable after free */
    assert_non_null(lsm_arena_alloc(&a, 10));
    lsm_arena_free(&a);
}

static void test_arena_big_and_many(void **state)
{
    (void)state;
    lsm_arena a;
    lsm_arena_init(&a);
    /* a big allocation gets its own block: usage grows by its size only */
    char *small = lsm_arena_alloc(&a, 16);
    size_t before = lsm_arena_usage(&a);
    size_t big_n = (size_t)5 << 20;
    char *big = lsm_arena_alloc(&a, big_n);
    assert_non_null(big);
    memset(big, 1, big_n);
    assert_int_equal(lsm_arena_usage(&a), before + big_n);
    /* ...and the current chunk keeps serving small requests */
    char *small2 = lsm_arena_alloc(&a, 16);
    assert_ptr_equal(small2, small + 16);

    /* many chunks: usage stays within one chunk of the bytes requested and
     * never below them */
    size_t asked = lsm_arena_usage(&a);
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(i % 1000) + 1;
        char *p = lsm_arena_alloc(&a, n);
        assert_non_null(p);
        p[0] = 1;
        p[n - 1] = 2;
        asked += (n + 7) / 8 * 8;
    }
    size_t used = lsm_arena_usage(&a);
    assert_true(used >= asked);
    assert_true(used <= asked + ((size_t)1 << 20));
    /* impossible sizes fail cleanly */
    assert_null(lsm_arena_alloc(&a, SIZE_MAX));
    assert_null(lsm_arena_alloc(&a, SIZE_MAX - 3));
    lsm_arena_free(&a);
}

static void test_arena_counts_abandoned_tail(void **state)
{
    (void)state;
    /* White-box: the first chunk is 64 KiB.  Fill 60 KiB of it in 4 KiB
     * pieces, then ask for 8 KiB: it does not fit, so a new chunk starts
     * and the abandoned 4 KiB tail stays counted as used. */
    lsm_arena a;
    lsm_arena_init(&a);
    for (int i = 0; i < 15; i++)
        assert_non_null(lsm_arena_alloc(&a, 4096));
    assert_int_equal(lsm_arena_usage(&a), 15 * 4096);
    assert_non_null(lsm_arena_alloc(&a, 8192));
    assert_int_equal(lsm_arena_usage(&a), (64 << 10) + 8192);
    lsm_arena_free(&a);
}

/* --- single-threaded skiplist ---------------------------------------------- */

struct entry {
    char user[32];
    size_t ulen;
    uint64_t trailer;
    lsm_buf ikey;
};

static int entry_cmp(const void *pa, const void *pb)
{
    const struct entry *a = pa, *b = pb;
    return lsm_ikey_cmp(lsm_buf_slice(&a->ikey), lsm_buf_slice(&b->ikey));
}

/* Value stored for an entry: derived from its key so readers can verify. */
static void value_of(const char *user, size_t ulen, uint64_t trailer,
                     char *out, size_t *olen)
{
    *olen = (size_t)snprintf(out, 64, "v:%.*s:%llu", (int)ulen, user,
                             (unsigned long long)trailer);
}

static void check_node(const lsm_sl_node *n, const struct entry *e)
{
    assert_non_null(n);
    lsm_slice k = lsm_sl_key(n);
    assert_int_equal(k.len, e->ikey.len);
    assert_memory_equal(k.data, e->ikey.data, k.len);
    assert_true(lsm_sl_trailer(n) == e->trailer);
    char v[64];
    size_t vlen;
    value_of(e->user, e->ulen, e->trailer, v, &vlen);
    lsm_slice val = lsm_sl_value(n);
    assert_int_equal(val.len, vlen);
    assert_memory_equal(val.data, v, vlen);
    assert_int_equal(lsm_sl_user_key(n).len, e->ulen);
    assert_true(lsm_sl_seq(n) == e->trailer >> 8);
    assert_int_equal(lsm_sl_kind(n), (int)(e->trailer & 0xff));
}

static void test_skiplist_empty(void **state)
{
    (void)state;
    lsm_arena a;
    lsm_arena_init(&a);
    lsm_skiplist sl;
    assert_int_equal(lsm_skiplist_init(&sl, &a, 1), LSM_OK);
    assert_null(lsm_skiplist_first(&sl));
    assert_null(lsm_skiplist_last(&sl));
    assert_null(lsm_skiplist_seek(&sl, lsm_slice_make("a", 1), 0));
    assert_null(lsm_skiplist_seek_ikey(&sl, lsm_slice_make("", 0)));
    lsm_arena_free(&a);
}

/* A random user key of at most 3 bytes of 'a'..'d' (mode 0, many exact
 * ties) or 4 of 'a'..'e' (mode 1, seek targets). */
static void short_key(char *user, size_t *ulen, int mode)
{
    *ulen = (size_t)(rand() % (4 + mode));
    for (size_t j = 0; j < *ulen; j++)
        user[j] = (char)('a' + rand() % (4 + mode));
}

/* A random user key of 0..28 bytes, mostly one of three 8-byte prefixes
 * (all 0x00, all 0xff, 0x00 * 7 then 0x80) and a tail of bytes from
 * {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff}: keys equal in their first 8 (or
 * 16) bytes, keys shorter than 8 bytes, and bytes whose order differs
 * between signed and unsigned or little- and big-endian compares. */
static void binary_key(char *user, size_t *ulen, int mode)
{
    static const unsigned char alphabet[] = { 0x00, 0x01, 0x7f,
                                              0x80, 0xfe, 0xff };
    (void)mode;
    size_t n = 0;
    int prefixes = rand() % 4; /* 0: no prefix; else 1 or 2 of them */
    unsigned char p = (unsigned char)(rand() % 3);
    for (int k = 0; k < (prefixes + 1) / 2 && prefixes; k++)
        for (int j = 0; j < 8; j++)
            user[n++] = (char)(p == 0 ? 0x00 : p == 1 ? 0xff
                                                      : j == 7 ? 0x80 : 0x00);
    /* short tails make exact user-key ties; long ones words that differ
     * in several bytes */
    size_t tail = (size_t)(rand() % 2 ? rand() % 3 : rand() % 13);
    for (size_t j = 0; j < tail; j++)
        user[n++] = (char)alphabet[rand() % sizeof alphabet];
    *ulen = n;
}

/* Mode 0: mostly the previous key plus 0, 1 or 2 (4 bytes, big-endian;
 * with check_random's random sequence numbers, a step of 0 lands just
 * before or after the previous entry), sometimes a jump anywhere: the
 * ascending runs take the insert's after-last path, ending where they
 * reach an existing key.  Mode 1 (seek targets): anywhere. */
static void ascending_key(char *user, size_t *ulen, int mode)
{
    static uint32_t prev;
    uint32_t v = mode || rand() % 10 == 0 ? (uint32_t)(rand() % 20000)
                                          : prev + (uint32_t)(rand() % 3);
    if (!mode)
        prev = v;
    for (int j = 0; j < 4; j++)
        user[j] = (char)(v >> (24 - 8 * j));
    *ulen = 4;
}

typedef void key_gen(char *user, size_t *ulen, int mode);

/* Inserts N random entries of gen's keys (rejecting exact duplicates)
 * and checks the list against a sorted model: both directions, seeks to
 * every entry and to random targets. */
static void check_random(key_gen *gen, unsigned seed)
{
    enum { N = 3000 };
    struct entry *e = calloc(N, sizeof *e);
    assert_non_null(e);
    lsm_arena a;
    lsm_arena_init(&a);
    lsm_skiplist sl;
    assert_int_equal(lsm_skiplist_init(&sl, &a, 42), LSM_OK);
    srand(seed);

    int n = 0;
    while (n < N) {
        struct entry *x = &e[n];
        gen(x->user, &x->ulen, 0);
        x->trailer = lsm_ikey_pack((uint64_t)(rand() % 500), rand() % 2);
        char v[64];
        size_t vlen;
        value_of(x->user, x->ulen, x->trailer, v, &vlen);
        int rc = lsm_skiplist_insert(&sl, lsm_slice_make(x->user, x->ulen),
                                     x->trailer, lsm_slice_make(v, vlen));
        int dup = 0;
        for (int i = 0; i < n && !dup; i++)
            dup = e[i].ulen == x->ulen && e[i].trailer == x->trailer &&
                  memcmp(e[i].user, x->user, x->ulen) == 0;
        if (dup) {
            assert_int_equal(rc, LSM_INVALID); /* same internal key */
            continue;
        }
        assert_int_equal(rc, LSM_OK);
        memset(&x->ikey, 0, sizeof x->ikey);
        assert_int_equal(lsm_ikey_append(&x->ikey,
                                         lsm_slice_make(x->user, x->ulen),
                                         x->trailer >> 8,
                                         (int)(x->trailer & 0xff)),
                         LSM_OK);
        n++;
    }
    qsort(e, N, sizeof *e, entry_cmp);

    /* branching 4: about N/4 nodes reach level 1 (sd ~ 24 for N = 3000,
     * and the seed is fixed) and the height stays near log4(N) ~ 6 */
    int level1 = 0;
    for (lsm_sl_node *x = atomic_load(lsm_sl_link(sl.head, 1)); x;
         x = atomic_load(lsm_sl_link(x, 1)))
        level1++;
    assert_true(level1 > N / 4 - 100 && level1 < N / 4 + 100);
    int h = atomic_load(&sl.height);
    assert_true(h >= 4 && h <= 9);
    /* every level is sorted (searches stay correct without it, slower) */
    for (int level = 1; level < h; level++) {
        const lsm_sl_node *x = atomic_load(lsm_sl_link(sl.head, level));
        for (; x; x = atomic_load(lsm_sl_link(x, level))) {
            const lsm_sl_node *y = atomic_load(lsm_sl_link(x, level));
            assert_true(!y || lsm_ikey_cmp(lsm_sl_key(x), lsm_sl_key(y)) < 0);
        }
    }

    /* forward */
    const lsm_sl_node *node = lsm_skiplist_first(&sl);
    for (int i = 0; i < N; i++) {
        check_node(node, &e[i]);
        node = lsm_sl_next(node);
    }
    assert_null(node);

    /* backward */
    node = lsm_skiplist_last(&sl);
    for (int i = N - 1; i >= 0; i--) {
        check_node(node, &e[i]);
        node = lsm_skiplist_before(&sl, node);
    }
    assert_null(node);

    /* seek to every present key lands on it; to a random key lands on the
     * first entry >= it */
    for (int i = 0; i < N; i++) {
        check_node(lsm_skiplist_seek_ikey(&sl, lsm_buf_slice(&e[i].ikey)), &e[i]);
        check_node(lsm_skiplist_seek(&sl, lsm_slice_make(e[i].user, e[i].ulen),
                                     e[i].trailer),
                   &e[i]);
    }
    for (int t = 0; t < 2000; t++) {
        struct entry q = { 0 };
        gen(q.user, &q.ulen, 1);
        q.trailer = lsm_ikey_pack((uint64_t)(rand() % 600), rand() % 3);
        assert_int_equal(lsm_ikey_append(&q.ikey, lsm_slice_make(q.user, q.ulen),
                                         q.trailer >> 8, (int)(q.trailer & 0xff)),
                         LSM_OK);
        int lo = 0, hi = N; /* first index with e >= q */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (entry_cmp(&e[mid], &q) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        node = lsm_skiplist_seek_ikey(&sl, lsm_buf_slice(&q.ikey));
        if (lo == N)
            assert_null(node);
        else
            check_node(node, &e[lo]);

        /* a bare user key (shorter than a trailer) seeks to the first
         * entry of a user key >= it */
        if (q.ulen < LSM_IKEY_TRAILER) {
            int first = 0;
            while (first < N &&
                   lsm_slice_cmp(lsm_slice_make(e[first].user, e[first].ulen),
                                 lsm_slice_make(q.user, q.ulen)) < 0)
                first++;
            node = lsm_skiplist_seek_ikey(&sl, lsm_slice_make(q.user, q.ulen));
            if (first == N)
                assert_null(node);
            else
                check_node(node, &e[first]);
        }
        lsm_buf_free(&q.ikey);
    }

    for (int i = 0; i < N; i++)
        lsm_buf_free(&e[i].ikey);
    free(e);
    lsm_arena_free(&a);
}

static void test_skiplist_random(void **state)
{
    (void)state;
    check_random(short_key, 7);
}

/* Long keys sharing 8- and 16-byte prefixes, with 0x00/0x7f/0x80/0xff
 * bytes: would fail a compare of whole words that is signed, not
 * byte-swapped, or that stops at the first word. */
static void test_skiplist_binary_keys(void **state)
{
    (void)state;
    check_random(binary_key, 11);
}

/* The cost model of skiplist.h: a node of height h costs 8 + 8 * h bytes
 * besides its internal key and value (the head, 8 + 8 * 12).  Entries of
 * 16-byte keys and 24-byte values (48 bytes, a multiple of the arena's
 * alignment) all fit the arena's first chunk, so usage is exact. */
/* Ascending runs between existing entries, same user keys with other
 * sequence numbers, and jumps: would fail an after-last insert that does
 * not check both neighbours or takes stale predecessors. */
static void test_skiplist_ascending_runs(void **state)
{
    (void)state;
    check_random(ascending_key, 13);

    /* right after the last entry: the same internal key is refused, the
     * same user key with a lower sequence goes after it, a higher one
     * before it */
    lsm_arena a;
    lsm_arena_init(&a);
    lsm_skiplist sl;
    assert_int_equal(lsm_skiplist_init(&sl, &a, 1), LSM_OK);
    static const struct { const char *k; uint64_t seq; int rc; } ins[] = {
        { "k", 5, LSM_OK },  { "k", 5, LSM_INVALID }, { "k", 4, LSM_OK },
        { "k", 6, LSM_OK },  { "j", 9, LSM_OK },      { "l", 1, LSM_OK },
        { "l", 1, LSM_INVALID },
    };
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++)
        assert_int_equal(lsm_skiplist_insert(&sl, lsm_slice_make(ins[i].k, 1),
                                             lsm_ikey_pack(ins[i].seq, 1),
                                             lsm_slice_make("", 0)),
                         ins[i].rc);
    static const struct { char k; uint64_t seq; } want[] = {
        { 'j', 9 }, { 'k', 6 }, { 'k', 5 }, { 'k', 4 }, { 'l', 1 },
    };
    const lsm_sl_node *n = lsm_skiplist_first(&sl);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_non_null(n);
        assert_int_equal(n->data[0], want[i].k);
        assert_true(lsm_sl_seq(n) == want[i].seq);
        n = lsm_sl_next(n);
    }
    assert_null(n);
    lsm_arena_free(&a);
}

static void test_skiplist_node_overhead(void **state)
{
    (void)state;
    enum { N = 200 };
    lsm_arena a;
    lsm_arena_init(&a);
    lsm_skiplist sl;
    assert_int_equal(lsm_skiplist_init(&sl, &a, 5), LSM_OK);
    char key[16], val[24];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "%015d", i * 7919 % N); /* 15 digits, NUL */
        assert_int_equal(lsm_skiplist_insert(&sl, lsm_slice_make(key, 16),
                                             lsm_ikey_pack(1, LSM_KIND_PUT),
                                             lsm_slice_make(val, 24)),
                         LSM_OK);
    }
    size_t links = 0; /* the sum of the nodes' heights */
    for (int level = 0; level < LSM_SKIPLIST_MAX_HEIGHT; level++)
        for (const lsm_sl_node *x = atomic_load(lsm_sl_link(sl.head, level)); x;
             x = atomic_load(lsm_sl_link(x, level)))
            links++;
    assert_true(links > N); /* some nodes are taller than 1 */
    size_t head = 8 + 8 * LSM_SKIPLIST_MAX_HEIGHT;
    size_t want = head + N * (8 + 16 + 8 + 24) + 8 * links;
    assert_int_equal(lsm_arena_usage(&a), want);
    lsm_arena_free(&a);
}

static void test_skiplist_big_entries(void **state)
{
    (void)state;
    lsm_arena a;
    lsm_arena_init(&a);
    lsm_skiplist sl;
    assert_int_equal(lsm_skiplist_init(&sl, &a, 3), LSM_OK);
    size_t n = (size_t)3 << 20;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 31);
    size_t before = lsm_arena_usage(&a);
    assert_int_equal(lsm_skiplist_insert(&sl, lsm_slice_make("big", 3),
                                         lsm_ikey_pack(1, 1),
                                         lsm_slice_make(big, n)),
                     LSM_OK);
    assert_true(lsm_arena_usage(&a) >= before + n);
    assert_true(lsm_arena_usage(&a) <= before + n + 256);
    assert_int_equal(lsm_skiplist_insert(&sl, lsm_slice_make("", 0),
                                         lsm_ikey_pack(2, 1),
                                         lsm_slice_make(NULL, 0)),
                     LSM_OK);
    const lsm_sl_node *x = lsm_skiplist_first(&sl);
    assert_int_equal(lsm_sl_user_key(x).len, 0);
    assert_int_equal(lsm_sl_value(x).len, 0);
    x = lsm_sl_next(x);
    assert_int_equal(lsm_sl_value(x).len, n);
    assert_memory_equal(lsm_sl_value(x).data, big, n);
    assert_ptr_equal(lsm_skiplist_last(&sl), x);
    free(big);
    lsm_arena_free(&a);
}

/* --- one writer, three readers --------------------------------------------- */

enum { CONC_N = 20000, READERS = 3 };

struct conc {
    lsm_skiplist sl;
    _Atomic int done;
    _Atomic int inserted;  /* entries the writer has finished inserting */
    _Atomic int failures;
};

/* Keys are 8 bytes: a scrambled counter, so the first half of the
 * inserts land all over the list, then 0xffffffff, so the second half
 * arrive in ascending order (the writer's after-last path); then the
 * counter, big-endian.  The value repeats the key so torn reads show. */
static void conc_key(int i, char out[8])
{
    uint32_t x = i < CONC_N / 2 ? (uint32_t)i * 2654435761u : UINT32_MAX;
    for (int b = 0; b < 4; b++)
        out[b] = (char)(x >> (24 - 8 * b));
    for (int b = 0; b < 4; b++)
        out[4 + b] = (char)((uint32_t)i >> (24 - 8 * b));
}

static void *conc_writer(void *p)
{
    struct conc *c = p;
    for (int i = 0; i < CONC_N; i++) {
        char k[8];
        conc_key(i, k);
        if (lsm_skiplist_insert(&c->sl, lsm_slice_make(k, 8),
                                lsm_ikey_pack((uint64_t)i + 1, 1),
                                lsm_slice_make(k, 8)) != LSM_OK)
            atomic_fetch_add(&c->failures, 1);
        atomic_store_explicit(&c->inserted, i + 1, memory_order_release);
    }
    atomic_store(&c->done, 1);
    return NULL;
}

static void *conc_reader(void *p)
{
    struct conc *c = p;
    int last_count = 0;
    for (;;) {
        int finished = atomic_load(&c->done);
        /* everything inserted before the walk starts must be seen */
        int floor = atomic_load_explicit(&c->inserted, memory_order_acquire);
        int count = 0;
        lsm_slice prev = { NULL, 0 };
        for (const lsm_sl_node *n = lsm_skiplist_first(&c->sl); n;
             n = lsm_sl_next(n)) {
            lsm_slice k = lsm_sl_key(n);
            lsm_slice v = lsm_sl_value(n);
            if (k.len != 16 || v.len != 8 || memcmp(k.data, v.data, 8) != 0 ||
                (prev.data && lsm_ikey_cmp(prev, k) >= 0))
                atomic_fetch_add(&c->failures, 1);
            prev = k;
            count++;
        }
        if (count < last_count || count < floor)
            atomic_fetch_add(&c->failures, 1);
        last_count = count;

        /* point lookups of already inserted keys always succeed */
        int probe = floor ? (count * 7919) % floor : -1;
        if (probe >= 0) {
            char k[8];
            conc_key(probe, k);
            const lsm_sl_node *n =
                lsm_skiplist_seek(&c->sl, lsm_slice_make(k, 8), UINT64_MAX);
            if (!n || memcmp(n->data, k, 8) != 0)
                atomic_fetch_add(&c->failures, 1);
        }
        if (finished)
            break;
    }
    if (last_count != CONC_N)
        atomic_fetch_add(&c->failures, 1);
    return NULL;
}

static void test_skiplist_concurrent(void **state)
{
    (void)state;
    lsm_arena a;
    lsm_arena_init(&a);
    struct conc *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(lsm_skiplist_init(&c->sl, &a, 99), LSM_OK);
    pthread_t w, r[READERS];
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&r[i], NULL, conc_reader, c), 0);
    assert_int_equal(pthread_create(&w, NULL, conc_writer, c), 0);
    assert_int_equal(pthread_join(w, NULL), 0);
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_join(r[i], NULL), 0);
    assert_int_equal(atomic_load(&c->failures), 0);
    free(c);
    lsm_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alignment_and_usage),
        cmocka_unit_test(test_arena_big_and_many),
        cmocka_unit_test(test_arena_counts_abandoned_tail),
        cmocka_unit_test(test_skiplist_empty),
        cmocka_unit_test(test_skiplist_random),
        cmocka_unit_test(test_skiplist_binary_keys),
        cmocka_unit_test(test_skiplist_ascending_runs),
        cmocka_unit_test(test_skiplist_node_overhead),
        cmocka_unit_test(test_skiplist_big_entries),
        cmocka_unit_test(test_skiplist_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
