/*
 * test_fs_dir.c — readdir: ".", "..", types, readdirplus attributes,
 * resuming from cookies across calls, stability of cookies while entries
 * come and go, and a directory with thousands of entries.
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

/* A listing: what emit received, up to `room` entries per call. */
typedef struct listing {
    int room, used;
    int n, cap;
    char **names;
    uint64_t *inos, *cookies;
    mode_t *modes;
    nlink_t *nlinks;
} listing;

static int collect(void *ctx, const char *name, const struct stat *st,
                   uint64_t next)
{
    listing *l = ctx;
    if (l->used == l->room)
        return 1;
    l->used++;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->names = realloc(l->names, l->cap * sizeof *l->names);
        l->inos = realloc(l->inos, l->cap * sizeof *l->inos);
        l->cookies = realloc(l->cookies, l->cap * sizeof *l->cookies);
        l->modes = realloc(l->modes, l->cap * sizeof *l->modes);
        l->nlinks = realloc(l->nlinks, l->cap * sizeof *l->nlinks);
    }
    l->names[l->n] = strdup(name);
    l->inos[l->n] = st->st_ino;
    l->cookies[l->n] = next;
    l->modes[l->n] = st->st_mode;
    l->nlinks[l->n] = st->st_nlink;
    l->n++;
    return 0;
}

static void listing_free(listing *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    free(l->inos);
    free(l->cookies);
    free(l->modes);
    free(l->nlinks);
    memset(l, 0, sizeof *l);
}

/* One readdir call from cookie with room for `room` entries. */
static int list_some(T *t, uint64_t dir, uint64_t cookie, int room, int plus,
                     listing *l)
{
    l->room = room;
    l->used = 0;
    return fs_readdir(t->fs, dir, cookie, plus, collect, l);
}

/* Lists all of dir in calls of `room` entries. */
static void list_all(T *t, uint64_t dir, int room, int plus, listing *l)
{
    uint64_t cookie = 0;
    for (;;) {
        int before = l->n;
        assert_int_equal(list_some(t, dir, cookie, room, plus, l), 0);
        if (l->n == before)
            break;
        cookie = l->cookies[l->n - 1];
    }
}

static int find(const listing *l, const char *name)
{
    int found = -1;
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) {
            assert_int_equal(found, -1);     /* at most once */
            found = i;
        }
    return found;
}

static void test_basic(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    uint64_t f = mkfile(t, d, "file");
    uint64_t s = mkdir_(t, d, "sub");
    struct stat st;
    assert_int_equal(fs_symlink(t->fs, &t->c, d, "link", "file", &st), 0);
    assert_int_equal(fs_write(t->fs, f, "12345", 5, 0, 0), 5);
    listing l = { 0 };
    list_all(t, d, 1000, 0, &l);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.names[0], ".");
    assert_int_equal(l.inos[0], d);
    assert_string_equal(l.names[1], "..");
    assert_int_equal(l.inos[1], FS_ROOT_INO);
    int i = find(&l, "file");
    assert_true(i >= 2);
    assert_int_equal(l.inos[i], f);
    assert_true(S_ISREG(l.modes[i]));
    i = find(&l, "sub");
    assert_int_equal(l.inos[i], s);
    assert_true(S_ISDIR(l.modes[i]));
    assert_true(S_ISLNK(l.modes[find(&l, "link")]));
    /* Cookies are distinct and past the "."/".." ones. */
    for (int a = 2; a < l.n; a++) {
        assert_true(l.cookies[a] > 2);
        assert_true(l.cookies[a] <= (uint64_t)INT64_MAX);
        for (int b = a + 1; b < l.n; b++)
            assert_true(l.cookies[a] != l.cookies[b]);
    }
    listing_free(&l);
    /* plus: full attributes; the lookups they count are forgotten. */
    list_all(t, d, 1000, 1, &l);
    i = find(&l, "file");
    assert_int_equal(l.nlinks[i], 1);
    assert_int_equal(l.modes[i], S_IFREG | 0644);
    assert_int_equal(l.nlinks[find(&l, "sub")], 2);
    assert_int_equal(l.nlinks[0], 3);
    fs_forget(t->fs, f, 1);
    fs_forget(t->fs, s, 1);
    listing_free(&l);
    /* Resuming after "." and after "..". */
    assert_int_equal(list_some(t, d, 1, 1000, 0, &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.names[0], "..");
    listing_free(&l);
    assert_int_equal(list_some(t, d, 2, 1000, 0, &l), 0);
    assert_int_equal(l.n, 3);
    listing_free(&l);
    /* Errors. */
    assert_int_equal(list_some(t, f, 0, 10, 0, &l), -ENOTDIR);
    assert_int_equal(list_some(t, 4242, 0, 10, 0, &l), -ENOENT);
    /* A removed directory lists nothing. */
    uint64_t e = mkdir_(t, FS_ROOT_INO, "e");
    assert_int_equal(fs_rmdir(t->fs, FS_ROOT_INO, "e"), 0);
    assert_int_equal(list_some(t, e, 0, 10, 0, &l), 0);
    assert_int_equal(l.n, 0);
    listing_free(&l);
}

static void test_resume_small_buffers(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    for (int i = 0; i < 100; i++) {
        char n[16];
        snprintf(n, sizeof n, "n%03d", i);
        mkfile(t, d, n);
    }
    for (int room = 1; room <= 7; room += 3) {
        listing l = { 0 };
        list_all(t, d, room, room == 4, &l);
        assert_int_equal(l.n, 102);
        for (int i = 0; i < 100; i++) {
            char n[16];
            snprintf(n, sizeof n, "n%03d", i);
            assert_true(find(&l, n) >= 2);
        }
        listing_free(&l);
    }
}

static void test_resume_with_concurrent_changes(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    const int N = 200;
    for (int i = 0; i < N; i++) {
        char n[16];
        snprintf(n, sizeof n, "e%d", i);
        mkfile(t, d, n);
    }
    listing l = { 0 };
    assert_int_equal(list_some(t, d, 0, 60, 0, &l), 0);
    assert_int_equal(l.n, 60);
    /* Between calls: remove some listed and some unlisted entries (among
     * them the very entry whose cookie we resume from), add new ones. */
    char removed[N];
    memset(removed, 0, sizeof removed);
    for (int i = 0; i < N; i += 3) {
        char n[16];
        snprintf(n, sizeof n, "e%d", i);
        assert_int_equal(fs_unlink(t->fs, d, n), 0);
        removed[i] = 1;
    }
    const char *last = l.names[l.n - 1];
    if (strncmp(last, "e", 1) == 0 && !removed[atoi(last + 1)]) {
        assert_int_equal(fs_unlink(t->fs, d, last), 0);
        removed[atoi(last + 1)] = 1;
    }
    for (int i = 0; i < 50; i++) {
        char n[16];
        snprintf(n, sizeof n, "new%d", i);
        mkfile(t, d, n);
    }
    uint64_t cookie = l.cookies[l.n - 1];
    for (;;) {
        int before = l.n;
        assert_int_equal(list_some(t, d, cookie, 17, 0, &l), 0);
        if (l.n == before)
            break;
        cookie = l.cookies[l.n - 1];
    }
    /* Every entry that stayed: exactly once.  Removed ones: at most once
     * (find() asserts no repeats).  No name at all is repeated. */
    for (int i = 0; i < N; i++) {
        char n[16];
        snprintf(n, sizeof n, "e%d", i);
        int at = find(&l, n);
        if (!removed[i])
            assert_true(at >= 0);
    }
    for (int i = 0; i < 50; i++) {
        char n[16];
        snprintf(n, sizeof n, "new%d", i);
        (void)find(&l, n);
    }
    assert_true(find(&l, ".") == 0);
    assert_true(find(&l, "..") == 1);
    listing_free(&l);
}

static void test_thousands(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "big");
    const int N = 3000;
    for (int i = 0; i < N; i++) {
        char n[48];
        snprintf(n, sizeof n, "file-with-a-longer-name-%05d", i);
        mkfile(t, d, n);
    }
    assert_int_equal(attr(t, d).st_size, N);
    reopen(t);
    listing l = { 0 };
    list_all(t, d, 500, 0, &l);
    assert_int_equal(l.n, N + 2);
    for (int i = 0; i < N; i += 97) {
        char n[48];
        snprintf(n, sizeof n, "file-with-a-longer-name-%05d", i);
        assert_true(find(&l, n) >= 2);
    }
    listing_free(&l);
    /* Remove them all; the directory is empty and removable. */
    for (int i = 0; i < N; i++) {
        char n[48];
        snprintf(n, sizeof n, "file-with-a-longer-name-%05d", i);
        assert_int_equal(fs_unlink(t->fs, d, n), 0);
    }
    list_all(t, d, 500, 0, &l);
    assert_int_equal(l.n, 2);
    listing_free(&l);
    assert_int_equal(fs_rmdir(t->fs, FS_ROOT_INO, "big"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_small_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_with_concurrent_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thousands, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
