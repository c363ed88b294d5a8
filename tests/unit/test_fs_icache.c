/*
 * test_fs_icache.c — the inode cache's memory bound: entries the kernel
 * references but nobody uses are evicted past the cache's size, their
 * lookup counts kept in a compact table (fs/lookup_counts.c) and given
 * back when the inode is used again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fs_fixture.h"
#include "internal.h"
#include "testutil.h"

/* --- lookup_counts: against a plain array ----------------------------- */

static void test_lookup_counts_model(void **state)
{
    (void)state;
    enum { KEYS = 5000, OPS = 200000 };
    static uint64_t model[KEYS];
    memset(model, 0, sizeof model);
    struct lookup_counts t = { 0 };
    uint64_t rng = 42;
    size_t present = 0;
    for (int op = 0; op < OPS; op++) {
        /* Inode numbers spread out and clustered, like a shard's. */
        uint32_t k = (uint32_t)(tu_rand(&rng) % KEYS);
        uint64_t ino = 1 + (uint64_t)k * 64;
        if (tu_rand(&rng) % 3 != 0) {
            uint64_t n = tu_rand(&rng) % 4;   /* 0 must store nothing */
            assert_int_equal(lookup_counts_add(&t, ino, n), 0);
            if (model[k] == 0 && n > 0)
                present++;
            model[k] += n;
        } else {
            assert_int_equal(lookup_counts_take(&t, ino), model[k]);
            if (model[k] != 0)
                present--;
            model[k] = 0;
        }
        assert_int_equal(t.used, present);
        assert_true(t.cap == 0 || t.used * 4 <= t.cap * 3);
    }
    for (uint32_t k = 0; k < KEYS; k++)
        assert_int_equal(lookup_counts_take(&t, 1 + (uint64_t)k * 64), model[k]);
    assert_int_equal(t.used, 0);
    assert_true(t.cap <= 64);                 /* shrank back */
    lookup_counts_free(&t);
}

/* --- the cache under many kernel references ----------------------------- */

static void small_cache(fs_options *o)
{
    o->cache_inodes = 128;                    /* 2 entries per shard */
}

static int setup_small_cache(void **state)
{
    return setup_with(state, small_cache);
}

static size_t cached_entries(fs_t *fs, size_t *evicted)
{
    size_t n = 0;
    *evicted = 0;
    for (int i = 0; i < ICACHE_SHARDS; i++) {
        n += fs->shards[i].count;
        *evicted += fs->shards[i].evicted.used;
    }
    return n;
}

static void test_many_referenced_inodes(void **state)
{
    T *t = *state;
    enum { N = 3000 };
    uint64_t *ino = calloc(N, sizeof *ino);
    assert_non_null(ino);
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "f%d", i);
        ino[i] = mkfile(t, FS_ROOT_INO, name);   /* one kernel reference */
        if (i % 3 == 0) {                         /* and a second one */
            struct stat st;
            assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, name, &st), 0);
            assert_int_equal(st.st_ino, ino[i]);
        }
    }
    size_t evicted, cached = cached_entries(t->fs, &evicted);
    print_message("%d referenced inodes: %zu cache entries, %zu evicted counts\n",
                  N, cached, evicted);
    assert_true(cached <= 128 + ICACHE_SHARDS);
    assert_true(evicted >= N - cached);

    /* Evicted inodes still answer, and using one does not lose counts. */
    for (int i = 0; i < N; i += 7) {
        struct stat st = attr(t, ino[i]);
        assert_int_equal(st.st_ino, ino[i]);
        assert_int_equal(st.st_nlink, 1);
    }
    /* Forget everything; an inode unlinked while referenced is reclaimed
     * only once the kernel forgets it, and its attributes answer until. */
    snprintf(name, sizeof name, "f%d", 1);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, name), 0);
    assert_int_equal(attr(t, ino[1]).st_nlink, 0);
    for (int i = N - 1; i >= 0; i--)
        fs_forget(t->fs, ino[i], i % 3 == 0 ? 2 : 1);
    cached_entries(t->fs, &evicted);
    assert_int_equal(evicted, 0);
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, ino[1], &st), -ENOENT);
    free(ino);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_counts_model),
        cmocka_unit_test_setup_teardown(test_many_referenced_inodes,
                                        setup_small_cache, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
