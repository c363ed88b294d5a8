/*
 * test_concurrent_arena.c — the pool of free arena chunks (arena.h): the
 * chunks of a freed arena serve the next arena, the pool never holds more
 * than its cap, big one-off blocks are not kept, a pool outlives its
 * owner's reference while arenas hold it, and arenas freed on one thread
 * feed arenas allocating on another (also run under ThreadSanitizer:
 * label concurrency); with warming on, the pool keeps chunks written
 * ahead of a growing arena within the cap.  Then the same through a
 * database: memtables after the first are built from the chunks of
 * flushed ones, a store warms ahead of its memtable, and an idle store
 * drains the pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "db.h"
#include "lsm.h"
#include "testutil.h"

#define MIB ((size_t)1 << 20)
#define PIECE 4096

static lsm_arena_pool_stats stats_of(lsm_arena_pool *p)
{
    lsm_arena_pool_stats s;
    lsm_arena_pool_stats_get(p, &s);
    return s;
}

/* Allocates `bytes` in PIECE-sized pieces, each stamped; pointers into
 * ptrs (room for bytes / PIECE) if not NULL. */
static void fill(lsm_arena *a, size_t bytes, char **ptrs, unsigned char stamp)
{
    for (size_t i = 0; i < bytes / PIECE; i++) {
        char *p = lsm_arena_alloc(a, PIECE);
        assert_non_null(p);
        memset(p, stamp, 16);
        p[PIECE - 1] = (char)stamp;
        if (ptrs)
            ptrs[i] = p;
    }
}

static void test_freed_chunks_serve_the_next_arena(void **state)
{
    (void)state;
    lsm_arena_pool *pool = lsm_arena_pool_new(4 * MIB);
    assert_non_null(pool);
    size_t n = 8 * MIB / PIECE;
    char **ptrs = calloc(n, sizeof *ptrs);
    assert_non_null(ptrs);
    lsm_arena a;
    lsm_arena_init_pooled(&a, pool);
    fill(&a, 8 * MIB, ptrs, 1);
    /* 64 + 128 + 256 + 512 KiB first (240 pieces), then 1 MiB chunks of
     * 256 pieces: 8 of them hold the other 1808; 4 are kept */
    lsm_arena_free(&a);
    lsm_arena_pool_stats s = stats_of(pool);
    assert_int_equal(s.cap_bytes, 4 * MIB);
    assert_int_equal(s.held_bytes, 4 * MIB);
    assert_int_equal(s.kept, 4);
    assert_int_equal(s.released, 4);
    assert_int_equal(s.reused, 0);

    /* the next arena starts in a pooled chunk, not a fresh 64 KiB one */
    lsm_arena b;
    lsm_arena_init_pooled(&b, pool);
    char *p = lsm_arena_alloc(&b, 100);
    assert_non_null(p);
    int was_a_chunk = 0;
    for (size_t i = 0; i < n; i++)
        was_a_chunk |= ptrs[i] == p;
    assert_true(was_a_chunk);
    assert_int_equal(lsm_arena_usage(&b), 104);
    s = stats_of(pool);
    assert_int_equal(s.reused, 1);
    assert_int_equal(s.held_bytes, 3 * MIB);
    /* it takes every pooled chunk before it mallocs one */
    fill(&b, 3 * MIB, NULL, 2);
    s = stats_of(pool);
    assert_int_equal(s.reused, 4);
    assert_int_equal(s.held_bytes, 0);
    lsm_arena_free(&b);
    assert_int_equal(stats_of(pool).held_bytes, 4 * MIB);
    free(ptrs);
    lsm_arena_pool_unref(pool);
}

static void test_cap_and_big_blocks(void **state)
{
    (void)state;
    lsm_arena_pool *pool = lsm_arena_pool_new(2 * MIB + 5000);
    assert_int_equal(stats_of(pool).cap_bytes, 2 * MIB);   /* whole chunks */
    for (int round = 0; round < 3; round++) {
        lsm_arena a;
        lsm_arena_init_pooled(&a, pool);
        fill(&a, 3 * MIB, NULL, 3);
        char *big = lsm_arena_alloc(&a, 5 * MIB);    /* a block of its own */
        assert_non_null(big);
        big[5 * MIB - 1] = 1;
        lsm_arena_free(&a);
        assert_int_equal(stats_of(pool).held_bytes, 2 * MIB);
    }
    /* a big request of exactly 1 MiB is a block like a chunk: poolable */
    lsm_arena_pool_drain(pool);
    lsm_arena_pool_stats s = stats_of(pool);
    assert_int_equal(s.held_bytes, 0);
    lsm_arena a;
    lsm_arena_init_pooled(&a, pool);
    assert_non_null(lsm_arena_alloc(&a, MIB));
    lsm_arena_free(&a);
    assert_int_equal(stats_of(pool).held_bytes, MIB);
    lsm_arena_pool_unref(pool);

    /* under one chunk of cap: keeps nothing, arenas work as unpooled */
    pool = lsm_arena_pool_new(64 << 10);
    lsm_arena_init_pooled(&a, pool);
    fill(&a, 3 * MIB, NULL, 4);
    lsm_arena_free(&a);
    s = stats_of(pool);
    assert_int_equal(s.held_bytes, 0);
    assert_int_equal(s.kept, 0);
    lsm_arena_pool_unref(pool);
}

/* Requests too big to share a chunk keep L + P within the cap M (the
 * peak-RSS argument in arena.c): one up to a chunk's size takes a pooled
 * chunk, a bigger one frees pooled chunks of its size before its malloc.
 * Before, 300 KiB values each got a malloc of their own while the pool
 * kept its 4 MiB: 7 MiB of arena and pool for a 4 MiB cap. */
static void test_big_requests_keep_the_bound(void **state)
{
    (void)state;
    lsm_arena_pool *pool = lsm_arena_pool_new(4 * MIB);
    lsm_arena a;
    lsm_arena_init_pooled(&a, pool);
    fill(&a, 4 * MIB, NULL, 5);
    lsm_arena_free(&a);
    assert_int_equal(stats_of(pool).held_bytes, 4 * MIB);
    lsm_arena_init_pooled(&a, pool);
    size_t got = 0;
    while (lsm_arena_usage(&a) < 4 * MIB) {
        char *p = lsm_arena_alloc(&a, 300 << 10);
        assert_non_null(p);
        p[(300 << 10) - 1] = 1;
        got += 300 << 10;
    }
    assert_true(got >= 4 * MIB - (300 << 10));
    /* every value came from a pooled chunk: nothing malloc'ed beside */
    assert_int_equal(stats_of(pool).held_bytes, 0);
    lsm_arena_free(&a);
    assert_int_equal(stats_of(pool).held_bytes, 4 * MIB);
    lsm_arena_init_pooled(&a, pool);
    char *big = lsm_arena_alloc(&a, 2 * MIB + 1);
    assert_non_null(big);
    big[2 * MIB] = 1;
    assert_int_equal(stats_of(pool).held_bytes, MIB);     /* 3 chunks freed */
    lsm_arena_free(&a);
    lsm_arena_pool_unref(pool);
}

/* The owner drops its reference first: the arena's keeps the pool, and
 * its free releases both (ASan reports any leak). */
static void test_pool_outlives_owner(void **state)
{
    (void)state;
    lsm_arena_pool *pool = lsm_arena_pool_new(8 * MIB);
    lsm_arena a;
    lsm_arena_init_pooled(&a, pool);
    lsm_arena_pool_unref(pool);
    fill(&a, 3 * MIB, NULL, 5);
    lsm_arena_free(&a);
    assert_null(a.pool);
    assert_non_null(lsm_arena_alloc(&a, 10));   /* reusable, unpooled */
    lsm_arena_free(&a);
}

/* --- free on one thread, alloc on another ------------------------------------ */

#define ROUNDS 48
#define ARENA_BYTES (3 * MIB)

typedef struct filled {
    lsm_arena arena;
    char *ptrs[ARENA_BYTES / PIECE];
    unsigned char stamp;
} filled;

static struct handoff {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    filled *q[2];          /* at most two filled arenas wait */
    int n, done;
} ho = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* Consumer: checks every piece still holds its stamp, frees the arena. */
static void *freer(void *arg)
{
    (void)arg;
    int bad = 0;
    for (;;) {
        pthread_mutex_lock(&ho.mu);
        while (ho.n == 0 && !ho.done)
            pthread_cond_wait(&ho.cv, &ho.mu);
        if (ho.n == 0) {
            pthread_mutex_unlock(&ho.mu);
            break;
        }
        filled *f = ho.q[0];
        ho.q[0] = ho.q[1];
        ho.n--;
        pthread_cond_broadcast(&ho.cv);
        pthread_mutex_unlock(&ho.mu);
        for (size_t i = 0; i < ARENA_BYTES / PIECE; i++)
            bad |= f->ptrs[i][0] != (char)f->stamp ||
                   f->ptrs[i][15] != (char)f->stamp ||
                   f->ptrs[i][PIECE - 1] != (char)f->stamp;
        lsm_arena_free(&f->arena);
        free(f);
    }
    return (void *)(intptr_t)bad;
}

static void test_free_and_alloc_on_two_threads(void **state)
{
    (void)state;
    lsm_arena_pool *pool = lsm_arena_pool_new(2 * MIB);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, freer, NULL), 0);
    for (int r = 0; r < ROUNDS; r++) {
        filled *f = malloc(sizeof *f);
        assert_non_null(f);
        f->stamp = (unsigned char)(r + 1);
        lsm_arena_init_pooled(&f->arena, pool);
        fill(&f->arena, ARENA_BYTES, f->ptrs, f->stamp);
        pthread_mutex_lock(&ho.mu);
        while (ho.n == 2)
            pthread_cond_wait(&ho.cv, &ho.mu);
        ho.q[ho.n++] = f;
        pthread_cond_broadcast(&ho.cv);
        pthread_mutex_unlock(&ho.mu);
        assert_true(stats_of(pool).held_bytes <= 2 * MIB);
    }
    pthread_mutex_lock(&ho.mu);
    ho.done = 1;
    pthread_cond_broadcast(&ho.cv);
    pthread_mutex_unlock(&ho.mu);
    void *bad;
    assert_int_equal(pthread_join(t, &bad), 0);
    assert_null(bad);
    lsm_arena_pool_stats s = stats_of(pool);
    assert_true(s.held_bytes <= 2 * MIB);
    assert_true(s.reused > 0);
    /* every chunk given back was kept or released */
    assert_true(s.kept >= s.reused);
    lsm_arena_pool_unref(pool);
}

/* Polls until the pool holds `held` bytes, or 30 s pass (a slow machine,
 * not a timing assertion); 1 if it did. */
static int wait_held(lsm_arena_pool *p, size_t held)
{
    for (int i = 0; i < 30000; i++) {
        if (stats_of(p).held_bytes == held)
            return 1;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return 0;
}

/* What the warmer keeps ahead of arena a in a pool capped at cap: 2 MiB,
 * or the whole chunks left under the cap. */
static size_t warm_room(const lsm_arena *a, size_t cap)
{
    size_t room = a->bytes < cap ? (cap - a->bytes) / MIB * MIB : 0;
    return room < 2 * MIB ? room : 2 * MIB;
}

/* Warming ahead: once an arena grows, the warmer keeps 2 MiB of chunks
 * in the pool, which the arena then takes (reused) and the warmer makes
 * again; never past the cap with what the arena holds (the peak-RSS
 * bound, checked after every 256 KiB the arena grows while the warmer
 * works); a drain empties the pool and nothing comes back until the
 * arena grows again; the last unref stops and joins the idle thread. */
static void test_warming_keeps_chunks_ahead(void **state)
{
    (void)state;
    const size_t cap = 10 * MIB;
    lsm_arena_pool *pool = lsm_arena_pool_new(cap);
    assert_non_null(pool);
    assert_int_equal(lsm_arena_pool_warm(pool, 2 * MIB), 0);
    assert_int_equal(stats_of(pool).held_bytes, 0);     /* nothing grew yet */
    lsm_arena a;
    lsm_arena_init_pooled(&a, pool);
    fill(&a, PIECE, NULL, 1);
    assert_true(wait_held(pool, 2 * MIB));
    assert_int_equal(stats_of(pool).warmed, 2);

    fill(&a, 2 * MIB, NULL, 2);                          /* takes them */
    assert_true(stats_of(pool).reused >= 2);
    assert_true(wait_held(pool, warm_room(&a, cap)));
    assert_int_equal(warm_room(&a, cap), 2 * MIB);

    lsm_arena_pool_drain(pool);
    assert_int_equal(stats_of(pool).held_bytes, 0);
    struct timespec pause = { 0, 50000000 };
    nanosleep(&pause, NULL);
    assert_int_equal(stats_of(pool).held_bytes, 0);     /* idle: stays empty */
    fill(&a, MIB, NULL, 3);                              /* grows: warms again */
    assert_true(wait_held(pool, warm_room(&a, cap)));

    while (a.bytes + 2 * MIB <= cap) {                   /* near the cap */
        fill(&a, MIB / 4, NULL, 4);
        lsm_arena_pool_stats s = stats_of(pool);         /* the bound, while */
        assert_true(s.held_bytes + a.bytes <= cap);      /* the warmer works */
    }
    assert_true(warm_room(&a, cap) < 2 * MIB);
    assert_true(wait_held(pool, warm_room(&a, cap)));
    nanosleep(&pause, NULL);                             /* and no more */
    assert_int_equal(stats_of(pool).held_bytes, warm_room(&a, cap));
    lsm_arena_pool_unref(pool);                          /* a holds a ref */
    lsm_arena_free(&a);                                  /* the last: joins */
}

/* --- through a database ------------------------------------------------------ */

static int pool_drained(lsm_db *db, void *arg)
{
    (void)arg;
    return stats_of(db->arena_pool).held_bytes == 0;
}

/* A store in a new temporary directory (*dir): memtables of
 * memtable_bytes, an idle pass after 20 ms without writes. */
static lsm_db *open_store(const char *tag, size_t memtable_bytes, char **dir)
{
    *dir = tu_tempdir(tag);
    lsm_options o;
    lsm_options_init(&o);
    o.memtable_bytes = memtable_bytes;
    o.idle_compaction_ms = 20;
    return tu_open_db(*dir, &o);
}

/* Puts a 1000-byte value under key k, then checks that the pool holds
 * at most held_max bytes. */
static void put_value(lsm_db *db, uint64_t k, size_t held_max)
{
    char key[32], val[1000];
    memset(val, 'v', sizeof val);
    int kl = snprintf(key, sizeof key, "k%016llx", (unsigned long long)k);
    assert_int_equal(lsm_put(db, key, (size_t)kl, val, sizeof val, 0), LSM_OK);
    assert_true(stats_of(db->arena_pool).held_bytes <= held_max);
}

static void test_db_memtables_reuse_chunks(void **state)
{
    (void)state;
    char *dir;
    lsm_db *db = open_store("arena_pool", 2 * MIB, &dir);
    uint64_t rng = 42;
    for (int i = 0; i < 12000; i++)           /* about 6 memtables */
        put_value(db, tu_rand(&rng), 2 * MIB);
    assert_int_equal(lsm_flush(db), LSM_OK);
    lsm_arena_pool_stats s = stats_of(db->arena_pool);
    assert_int_equal(s.cap_bytes, 2 * MIB);
    assert_true(s.reused > 0);
    assert_true(s.kept > 0);
    /* no write for idle_compaction_ms: the idle pass hands them back */
    assert_true(tu_wait_for(db, pool_drained, NULL, 60));
    tu_close_and_remove(db, dir);
}

static int pool_warmed(lsm_db *db, void *arg)
{
    (void)arg;
    return stats_of(db->arena_pool).warmed > 0;
}

/* A store whose memtable is 8 MiB warms up to 2 MiB ahead of it (a
 * quarter) as it grows, and hands that back when idle. */
static void test_db_warms_ahead(void **state)
{
    (void)state;
    char *dir;
    lsm_db *db = open_store("arena_warm", 8 * MIB, &dir);
    for (uint64_t i = 0; i < 2000; i++)       /* ~2 MiB */
        put_value(db, i, 2 * MIB);
    assert_true(tu_wait_for(db, pool_warmed, NULL, 30));
    assert_true(tu_wait_for(db, pool_drained, NULL, 60));
    tu_close_and_remove(db, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freed_chunks_serve_the_next_arena),
        cmocka_unit_test(test_cap_and_big_blocks),
        cmocka_unit_test(test_big_requests_keep_the_bound),
        cmocka_unit_test(test_pool_outlives_owner),
        cmocka_unit_test(test_free_and_alloc_on_two_threads),
        cmocka_unit_test(test_warming_keeps_chunks_ahead),
        cmocka_unit_test(test_db_memtables_reuse_chunks),
        cmocka_unit_test(test_db_warms_ahead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
