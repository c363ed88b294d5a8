/*
 * test_fs_threads.c — many threads at once: creates, writes, renames,
 * unlinks, readdir, getattr, directory moves and writes to one shared
 * file, then a check that the tree and the data are exactly what the
 * threads did (run it under -DLSMFS_TSAN=ON too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs.h"
#include "testutil.h"

#include "fs_fixture.h"

#include <pthread.h>

#define THREADS 4
#define FILES_PER_THREAD 150
#define REGION 10000

typedef struct worker {
    T *t;
    int id;
    uint64_t shared, other, big;
    char present[FILES_PER_THREAD];   /* 0 gone, 1 in shared, 2 in other */
    int failures;
} worker;

static int noop_emit(void *ctx, const char *name, const struct stat *st, uint64_t next)
{
    (void)name;
    (void)st;
    (void)next;
    int *n = ctx;
    return ++*n > 50;
}

#define CHECK(cond) do { if (!(cond)) { w->failures++; fprintf(stderr, \
    "thread %d line %d: %s\n", w->id, __LINE__, #cond); } } while (0)

static void *work(void *arg)
{
    worker *w = arg;
    T *t = w->t;
    fs_t *fs = t->fs;
    uint64_t seed = (uint64_t)w->id * 7919 + 1;
    char buf[REGION];
    struct stat st;
    for (int i = 0; i < FILES_PER_THREAD; i++) {
        char n[32];
        snprintf(n, sizeof n, "t%d-%d", w->id, i);
        CHECK(fs_create(fs, &t->c, w->shared, n, 0644, O_CREAT | O_EXCL | O_RDWR, &st) == 0);
        uint64_t ino = st.st_ino;
        CHECK(fs_write(fs, ino, n, strlen(n), 0, 0) == (ssize_t)strlen(n));
        CHECK(fs_release(fs, ino) == 0);
        w->present[i] = 1;
        /* The shared big file: this thread's region. */
        memset(buf, 'a' + w->id, sizeof buf);
        snprintf(buf, 16, "%d:%d", w->id, i);
        CHECK(fs_write(fs, w->big, buf, sizeof buf, (off_t)w->id * REGION, 0) == REGION);
        switch (tu_rand(&seed) % 5) {
        case 0: {
            int j = (int)(tu_rand(&seed) % (unsigned)(i + 1));
            char m[32];
            snprintf(m, sizeof m, "t%d-%d", w->id, j);
            if (w->present[j] == 1) {
                CHECK(fs_rename(fs, w->shared, m, w->other, m, 0) == 0);
                w->present[j] = 2;
            } else if (w->present[j] == 2) {
                CHECK(fs_unlink(fs, w->other, m) == 0);
                w->present[j] = 0;
            }
            break;
        }
        case 1: {
            int cnt = 0;
            CHECK(fs_readdir(fs, w->shared, 0, (int)(tu_rand(&seed) % 2), noop_emit, &cnt) == 0);
            break;
        }
        case 2: {
            /* Directory churn: make, move between parents, remove. */
            char dn[32];
            snprintf(dn, sizeof dn, "dir%d-%d", w->id, i);
            CHECK(fs_mkdir(fs, &t->c, w->shared, dn, 0755, &st) == 0);
            CHECK(fs_rename(fs, w->shared, dn, w->other, dn, 0) == 0);
            CHECK(fs_rmdir(fs, w->other, dn) == 0);
            break;
        }
        default:
            CHECK(fs_getattr(fs, ino, &st) == 0);
            CHECK(fs_getattr(fs, w->shared, &st) == 0);
            break;
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    T *t = *state;
    uint64_t shared = mkdir_(t, FS_ROOT_INO, "shared");
    uint64_t other = mkdir_(t, FS_ROOT_INO, "other");
    uint64_t big = mkfile(t, FS_ROOT_INO, "big");
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].t = t;
        w[i].id = i;
        w[i].shared = shared;
        w[i].other = other;
        w[i].big = big;
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int round = 0; round < 2; round++) {
        int in_shared = 0, in_other = 0;
        for (int i = 0; i < THREADS; i++) {
            assert_int_equal(w[i].failures, 0);
            for (int j = 0; j < FILES_PER_THREAD; j++) {
                char n[32];
                struct stat st;
                snprintf(n, sizeof n, "t%d-%d", i, j);
                int s = fs_lookup(t->fs, shared, n, &st);
                int o = fs_lookup(t->fs, other, n, &st);
                assert_int_equal(s == 0, w[i].present[j] == 1);
                assert_int_equal(o == 0, w[i].present[j] == 2);
                in_shared += s == 0;
                in_other += o == 0;
                if (s == 0 || o == 0) {
                    char r[32];
                    assert_int_equal(fs_read(t->fs, st.st_ino, r, sizeof r, 0),
                                     (ssize_t)strlen(n));
                    assert_memory_equal(r, n, strlen(n));
                }
            }
            char r[REGION];
            assert_int_equal(fs_read(t->fs, big, r, REGION, (off_t)i * REGION), REGION);
            char want[16];
            snprintf(want, sizeof want, "%d:%d", i, FILES_PER_THREAD - 1);
            assert_string_equal(r, want);
            assert_int_equal(r[REGION - 1], 'a' + i);
        }
        assert_int_equal(attr(t, shared).st_size, in_shared);
        assert_int_equal(attr(t, other).st_size, in_other);
        assert_int_equal(attr(t, shared).st_nlink, 2);
        assert_int_equal(attr(t, other).st_nlink, 2);
        assert_int_equal(attr(t, FS_ROOT_INO).st_nlink, 4);
        reopen(t);
    }
}

/* Concurrent directory moves in opposite directions never create a loop:
 * one of "move a into b" and "move b into a" fails with EINVAL. */
typedef struct mover {
    T *t;
    uint64_t from, to;
    const char *name;
    int ok, einval;
} mover;

static void *move_dir(void *arg)
{
    mover *m = arg;
    for (int i = 0; i < 200; i++) {
        int rc = fs_rename(m->t->fs, m->from, m->name, m->to, m->name, 0);
        if (rc == 0) {
            m->ok++;
            rc = fs_rename(m->t->fs, m->to, m->name, m->from, m->name, 0);
            assert_int_equal(rc, 0);
        } else {
            assert_true(rc == -EINVAL || rc == -ENOENT);
            m->einval++;
        }
    }
    return NULL;
}

static void test_no_rename_loops(void **state)
{
    T *t = *state;
    uint64_t a = mkdir_(t, FS_ROOT_INO, "a");
    uint64_t b = mkdir_(t, FS_ROOT_INO, "b");
    mover m1 = { t, FS_ROOT_INO, b, "a", 0, 0 };
    mover m2 = { t, FS_ROOT_INO, a, "b", 0, 0 };
    pthread_t t1, t2;
    assert_int_equal(pthread_create(&t1, NULL, move_dir, &m1), 0);
    assert_int_equal(pthread_create(&t2, NULL, move_dir, &m2), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    /* Both back under the root, each other's parent never. */
    struct stat st;
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "a", &st), 0);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "b", &st), 0);
    assert_int_equal(fs_lookup(t->fs, a, "..", &st), 0);
    assert_int_equal(st.st_ino, FS_ROOT_INO);
    assert_int_equal(fs_lookup(t->fs, b, "..", &st), 0);
    assert_int_equal(st.st_ino, FS_ROOT_INO);
    assert_int_equal(attr(t, FS_ROOT_INO).st_nlink, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_rename_loops, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
