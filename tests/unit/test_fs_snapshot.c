/*
 * test_fs_snapshot.c — snapshots of the tree and their read-only views
 * (fs.h): a view shows the tree as it was (names, attributes, data,
 * symlinks, xattrs, directory listings) while the live tree changes,
 * refuses every change (-EROFS, or the error the change meets first), survives a reopen, outlives the
 * snapshot's deletion until closed; names are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "testutil.h"

#include "fs_fixture.h"
#include "fsck.h"
#include "layout.h"

static void write_str(T *t, uint64_t ino, const char *s, off_t off)
{
    assert_int_equal(fs_write(t->fs, ino, s, strlen(s), off, 0), (ssize_t)strlen(s));
}

static void expect_data(fs_t *fs, uint64_t ino, const char *want)
{
    char buf[256];
    assert_int_equal(fs_open_file(fs, NULL, ino, O_RDONLY), 0);
    ssize_t n = fs_read(fs, ino, buf, sizeof buf, 0);
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
    assert_int_equal(fs_release(fs, ino), 0);
}

static uint64_t look(fs_t *fs, uint64_t parent, const char *name)
{
    struct stat st;
    int rc = fs_lookup(fs, parent, name, &st);
    if (rc < 0)
        return 0;
    fs_forget(fs, (uint64_t)st.st_ino, 1);
    return (uint64_t)st.st_ino;
}

struct names {
    char all[512];
};

static int collect(void *ctx, const char *name, const struct stat *st,
                   uint64_t next)
{
    (void)st;
    (void)next;
    struct names *n = ctx;
    strncat(n->all, name, sizeof n->all - strlen(n->all) - 2);
    strcat(n->all, " ");
    return 0;
}

static void test_view_frozen(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    uint64_t f = mkfile(t, d, "f");
    write_str(t, f, "hello", 0);
    uint64_t big = mkfile(t, FS_ROOT_INO, "big");
    char block[70000];
    memset(block, 'b', sizeof block);
    assert_int_equal(fs_write(t->fs, big, block, sizeof block, 0, 0), (ssize_t)sizeof block);
    struct stat st;
    assert_int_equal(fs_symlink(t->fs, &t->c, FS_ROOT_INO, "ln", "d/f", &st), 0);
    assert_int_equal(fs_setxattr(t->fs, f, "user.k", "v1", 2, 0), 0);
    lsm_snapshot_info info;
    assert_int_equal(fs_snapshot_create(t->fs, "s1", &info), 0);
    assert_int_equal(fs_snapshot_create(t->fs, "s1", NULL), -EEXIST);
    assert_int_equal(fs_snapshot_create(t->fs, "a/b", NULL), -EINVAL);
    assert_int_equal(fs_snapshot_create(t->fs, "..", NULL), -EINVAL);

    /* The live tree changes in every way. */
    write_str(t, f, "HELLO, world", 0);
    assert_int_equal(fs_setxattr(t->fs, f, "user.k", "v2", 2, 0), 0);
    memset(block, 'B', sizeof block);
    assert_int_equal(fs_write(t->fs, big, block, 100, 65536, 0), 100);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "ln"), 0);
    assert_int_equal(fs_rename(t->fs, d, "f", FS_ROOT_INO, "moved", 0), 0);
    mkfile(t, d, "new");

    fs_t *v;
    assert_int_equal(fs_view_open(t->fs, "nope", &v, NULL), -ENOENT);
    assert_int_equal(fs_view_open(t->fs, "s1", &v, &info), 0);
    assert_true(fs_is_view(v));
    assert_int_equal(look(v, FS_ROOT_INO, "d"), d);
    assert_int_equal(look(v, d, "f"), f);
    assert_int_equal(look(v, d, "new"), 0);
    assert_int_equal(look(v, FS_ROOT_INO, "moved"), 0);
    expect_data(v, f, "hello");
    expect_data(t->fs, f, "HELLO, world");
    char buf[300];
    assert_int_equal(fs_getxattr(v, f, "user.k", buf, sizeof buf), 2);
    assert_memory_equal(buf, "v1", 2);
    uint64_t ln = look(v, FS_ROOT_INO, "ln");
    assert_true(ln != 0);
    assert_int_equal(fs_readlink(v, ln, buf, sizeof buf), 3);
    assert_int_equal(fs_open_file(v, NULL, big, O_RDONLY), 0);
    assert_int_equal(fs_read(v, big, buf, 200, 65500), 200);
    for (int i = 0; i < 200; i++)
        assert_int_equal(buf[i], 'b');
    assert_int_equal(fs_release(v, big), 0);
    assert_int_equal(fs_getattr(v, f, &st), 0);
    assert_int_equal(st.st_size, 5);
    struct names n = { "" };
    assert_int_equal(fs_readdir(v, d, 0, 0, collect, &n), 0);
    assert_string_equal(n.all, ". .. f ");

    /* Every change inside fails with -EROFS. */
    struct stat a = { 0 };
    assert_int_equal(fs_open_file(v, NULL, f, O_WRONLY), -EROFS);
    assert_int_equal(fs_open_file(v, NULL, f, O_RDONLY | O_TRUNC), -EROFS);
    assert_int_equal(fs_write(v, f, "x", 1, 0, 0), -EROFS);
    assert_int_equal(fs_mkdir(v, &t->c, d, "x", 0755, &st), -EROFS);
    assert_int_equal(fs_create(v, &t->c, d, "x", 0644, O_RDWR, &st), -EROFS);
    assert_int_equal(fs_unlink(v, d, "f"), -EROFS);
    assert_int_equal(fs_rmdir(v, FS_ROOT_INO, "d"), -ENOTEMPTY);   /* checked first */
    assert_int_equal(fs_link(v, f, FS_ROOT_INO, "l2", &st), -EROFS);
    assert_int_equal(fs_rename(v, d, "f", d, "g", 0), -EROFS);
    assert_int_equal(fs_setattr(v, &t->c, f, &a, FS_SET_SIZE, &st), -EROFS);
    assert_int_equal(fs_setxattr(v, f, "user.k", "v3", 2, 0), -EROFS);
    assert_int_equal(fs_removexattr(v, f, "user.k"), -EROFS);
    assert_int_equal(fs_snapshot_create(v, "s2", NULL), -EROFS);
    expect_data(v, f, "hello");

    /* Deleting the snapshot leaves the open view as it was. */
    assert_int_equal(fs_snapshot_delete(t->fs, "s1"), 0);
    assert_int_equal(fs_snapshot_delete(t->fs, "s1"), -ENOENT);
    expect_data(v, f, "hello");
    fs_view_close(v);
    assert_int_equal(fs_view_open(t->fs, "s1", &v, NULL), -ENOENT);
}

static void test_view_survives_reopen(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    write_str(t, f, "one", 0);
    assert_int_equal(fs_snapshot_create(t->fs, "s", NULL), 0);
    write_str(t, f, "two", 0);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "f"), 0);
    reopen(t);
    lsm_snapshot_info *list;
    size_t n;
    assert_int_equal(fs_snapshot_list(t->fs, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "s");
    uint64_t excl;
    assert_int_equal(fs_snapshot_space(t->fs, list, n, &excl), 0);
    assert_true(excl > 0);      /* the inode and data only it holds */
    lsm_free(list);
    fs_t *v;
    assert_int_equal(fs_view_open(t->fs, "s", &v, NULL), 0);
    assert_int_equal(look(v, FS_ROOT_INO, "f"), f);
    expect_data(v, f, "one");
    fs_view_close(v);
    assert_int_equal(look(t->fs, FS_ROOT_INO, "f"), 0);
}

struct fsck_lines {
    int snapshot_problems;       /* lines naming the snapshot */
};

static void on_line(void *ctx, enum fsck_line kind, const char *text)
{
    struct fsck_lines *l = ctx;
    if (kind == FSCK_PROBLEM && strncmp(text, "snapshot bad: ", 14) == 0)
        l->snapshot_problems++;
}

static int fsck_store(const char *store, struct fsck_lines *l)
{
    fsck_options o;
    fsck_options_init(&o);
    o.line = on_line;
    o.ctx = l;
    fsck_result r;
    return fs_fsck(store, &o, &r);
}

/* fsck checks every snapshot's tree: a dangling entry that only a
 * snapshot sees is a problem named after it; deleting the snapshot
 * leaves a clean store. */
static void test_fsck_checks_snapshots(void **state)
{
    T *t = *state;
    mkfile(t, FS_ROOT_INO, "f");
    assert_int_equal(fs_snapshot_create(t->fs, "good", NULL), 0);
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
    struct fsck_lines l = { 0 };
    assert_int_equal(fsck_store(t->store, &l), FSCK_EXIT_CLEAN);

    /* An entry naming inode 999999, which has no record. */
    lsm_db *db;
    assert_int_equal(lsm_open(t->store, NULL, &db), LSM_OK);
    char key[FS_KEY_MAX], val[16];
    size_t klen = fs_key_dirent(key, FS_ROOT_INO, "dangling", 8);
    fs_encode_dirent_value(val, 999999, DT_REG);
    assert_int_equal(lsm_put(db, key, klen, val, FS_DIRENT_VALUE_BYTES, 0), LSM_OK);
    assert_int_equal(lsm_snapshot_create(db, "bad", NULL), LSM_OK);
    assert_int_equal(lsm_delete(db, key, klen, LSM_SYNC), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    assert_int_equal(fsck_store(t->store, &l), FSCK_EXIT_UNFIXED);
    assert_true(l.snapshot_problems > 0);

    assert_int_equal(lsm_open(t->store, NULL, &db), LSM_OK);
    assert_int_equal(lsm_snapshot_delete(db, "bad"), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    l.snapshot_problems = 0;
    assert_int_equal(fsck_store(t->store, &l), FSCK_EXIT_CLEAN);
    assert_int_equal(l.snapshot_problems, 0);
    reopen(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_view_frozen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsck_checks_snapshots, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
