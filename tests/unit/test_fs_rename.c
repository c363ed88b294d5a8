/*
 * test_fs_rename.c — fs_rename: plain moves, replacing files and empty
 * directories, RENAME_NOREPLACE, RENAME_EXCHANGE, link counts, parent
 * pointers, times, RENAME_WHITEOUT and every error case of rename(2).
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
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs.h"
#include "testutil.h"

#include "fs_fixture.h"

#include <linux/fs.h>

static uint64_t look(T *t, uint64_t dir, const char *name)
{
    struct stat st;
    int rc = fs_lookup(t->fs, dir, name, &st);
    return rc == 0 ? st.st_ino : 0;
}

static void test_rename_file(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    assert_int_equal(fs_write(t->fs, f, "content", 7, 0, 0), 7);
    age(t, FS_ROOT_INO);
    age(t, d);
    age(t, f);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, "g", 0), 0);
    assert_int_equal(look(t, FS_ROOT_INO, "f"), 0);
    assert_int_equal(look(t, FS_ROOT_INO, "g"), f);
    assert_true(attr(t, FS_ROOT_INO).st_mtim.tv_sec > 1000);
    assert_true(attr(t, f).st_ctim.tv_sec > 1000);
    assert_int_equal(attr(t, f).st_mtim.tv_sec, 1000);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "g", d, "h", 0), 0);
    assert_true(attr(t, d).st_mtim.tv_sec > 1000);
    assert_int_equal(look(t, d, "h"), f);
    assert_int_equal(attr(t, FS_ROOT_INO).st_size, 1);
    assert_int_equal(attr(t, d).st_size, 1);
    assert_int_equal(attr(t, f).st_nlink, 1);
    reopen(t);
    assert_int_equal(look(t, d, "h"), f);
    char buf[16];
    assert_int_equal(fs_read(t->fs, f, buf, sizeof buf, 0), 7);
    assert_memory_equal(buf, "content", 7);
}

static void test_rename_replace_file(void **state)
{
    T *t = *state;
    uint64_t a = mkfile(t, FS_ROOT_INO, "a");
    uint64_t b = mkfile(t, FS_ROOT_INO, "b");
    assert_int_equal(fs_write(t->fs, a, "AAA", 3, 0, 0), 3);
    assert_int_equal(fs_write(t->fs, b, "BBBB", 4, 0, 0), 4);
    /* b is open: after being replaced it is an orphan still readable. */
    assert_int_equal(fs_open_file(t->fs, &t->c, b, O_RDWR), 0);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "a", FS_ROOT_INO, "b", 0), 0);
    assert_int_equal(look(t, FS_ROOT_INO, "b"), a);
    assert_int_equal(look(t, FS_ROOT_INO, "a"), 0);
    assert_int_equal(attr(t, FS_ROOT_INO).st_size, 1);
    struct stat st = attr(t, b);
    assert_int_equal(st.st_nlink, 0);
    char buf[8];
    assert_int_equal(fs_read(t->fs, b, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "BBBB", 4);
    assert_int_equal(fs_write(t->fs, b, "X", 1, 4, 0), 1);
    assert_int_equal(fs_read(t->fs, b, buf, sizeof buf, 0), 5);
    assert_int_equal(fs_release(t->fs, b), 0);
    assert_int_equal(fs_open_file(t->fs, &t->c, b, O_RDONLY), -ENOENT);
    /* A replaced file with other links just loses one. */
    uint64_t c = mkfile(t, FS_ROOT_INO, "c");
    assert_int_equal(fs_link(t->fs, c, FS_ROOT_INO, "c2", &st), 0);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "b", FS_ROOT_INO, "c", 0), 0);
    assert_int_equal(attr(t, c).st_nlink, 1);
    assert_int_equal(look(t, FS_ROOT_INO, "c2"), c);
    assert_int_equal(look(t, FS_ROOT_INO, "c"), a);
    reopen(t);
    assert_int_equal(look(t, FS_ROOT_INO, "c"), a);
    assert_int_equal(fs_getattr(t->fs, b, &st), -ENOENT);
    assert_int_equal(attr(t, c).st_nlink, 1);
}

static void test_rename_dirs(void **state)
{
    T *t = *state;
    uint64_t a = mkdir_(t, FS_ROOT_INO, "a");
    uint64_t b = mkdir_(t, FS_ROOT_INO, "b");
    uint64_t s = mkdir_(t, a, "s");
    uint64_t inner = mkfile(t, s, "inner");
    assert_int_equal(attr(t, a).st_nlink, 3);
    assert_int_equal(attr(t, FS_ROOT_INO).st_nlink, 4);
    /* Move s from a to b: link counts and ".." follow. */
    assert_int_equal(fs_rename(t->fs, a, "s", b, "s2", 0), 0);
    assert_int_equal(attr(t, a).st_nlink, 2);
    assert_int_equal(attr(t, b).st_nlink, 3);
    assert_int_equal(look(t, s, ".."), b);
    assert_int_equal(look(t, s, "inner"), inner);
    /* Replace an empty directory. */
    uint64_t e = mkdir_(t, a, "empty");
    assert_int_equal(attr(t, a).st_nlink, 3);
    assert_int_equal(fs_rename(t->fs, b, "s2", a, "empty", 0), 0);
    assert_int_equal(look(t, a, "empty"), s);
    assert_int_equal(attr(t, a).st_nlink, 3);
    assert_int_equal(attr(t, b).st_nlink, 2);
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, e, &st), 0);   /* cached, gone */
    assert_int_equal(st.st_nlink, 0);
    /* Directory over a directory in the same parent. */
    mkdir_(t, a, "other");
    assert_int_equal(attr(t, a).st_nlink, 4);
    assert_int_equal(fs_rename(t->fs, a, "other", a, "empty", 0), -ENOTEMPTY);
    assert_int_equal(fs_rename(t->fs, a, "empty", a, "other", 0), 0);
    assert_int_equal(attr(t, a).st_nlink, 3);
    assert_int_equal(attr(t, a).st_size, 1);
    reopen(t);
    assert_int_equal(attr(t, a).st_nlink, 3);
    assert_int_equal(attr(t, b).st_nlink, 2);
    assert_int_equal(attr(t, FS_ROOT_INO).st_nlink, 4);
    assert_int_equal(look(t, a, "other"), s);
    assert_int_equal(look(t, s, ".."), a);
    assert_int_equal(fs_getattr(t->fs, e, &st), -ENOENT);
}

static void test_rename_errors(void **state)
{
    T *t = *state;
    uint64_t a = mkdir_(t, FS_ROOT_INO, "a");
    uint64_t b = mkdir_(t, a, "b");
    uint64_t c = mkdir_(t, b, "c");
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    mkdir_(t, FS_ROOT_INO, "full");
    mkfile(t, look(t, FS_ROOT_INO, "full"), "x");
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "nope", FS_ROOT_INO, "x", 0), -ENOENT);
    /* Into its own subtree (or onto itself as parent). */
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "a", c, "a", 0), -EINVAL);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "a", a, "a", 0), -EINVAL);
    assert_int_equal(fs_rename(t->fs, a, "b", c, "z", 0), -EINVAL);
    /* Type mismatches. */
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "a", FS_ROOT_INO, "f", 0), -ENOTDIR);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, "a", 0), -EISDIR);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "a", FS_ROOT_INO, "full", 0), -ENOTEMPTY);
    /* An ancestor as the target: not empty. */
    assert_int_equal(fs_rename(t->fs, b, "c", FS_ROOT_INO, "a", 0), -ENOTEMPTY);
    /* Parent not a directory. */
    assert_int_equal(fs_rename(t->fs, f, "x", FS_ROOT_INO, "y", 0), -ENOTDIR);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", f, "y", 0), -ENOTDIR);
    /* Names. */
    char longname[300];
    memset(longname, 'l', sizeof longname);
    longname[256] = '\0';
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, longname, 0),
                     -ENAMETOOLONG);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, "..", 0), -EINVAL);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, "g",
                               RENAME_NOREPLACE | RENAME_EXCHANGE), -EINVAL);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, "g", 1u << 7),
                     -EINVAL);
    /* Nothing changed. */
    assert_int_equal(look(t, FS_ROOT_INO, "a"), a);
    assert_int_equal(look(t, b, "c"), c);
    assert_int_equal(look(t, FS_ROOT_INO, "f"), f);
    assert_int_equal(attr(t, FS_ROOT_INO).st_nlink, 4);
    /* Same inode under both names: nothing happens. */
    struct stat st;
    assert_int_equal(fs_link(t->fs, f, FS_ROOT_INO, "f2", &st), 0);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, "f2", 0), 0);
    assert_int_equal(look(t, FS_ROOT_INO, "f"), f);
    assert_int_equal(look(t, FS_ROOT_INO, "f2"), f);
    assert_int_equal(attr(t, f).st_nlink, 2);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, "f", 0), 0);
    assert_int_equal(look(t, FS_ROOT_INO, "f"), f);
}

static void test_rename_noreplace(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    uint64_t g = mkfile(t, FS_ROOT_INO, "g");
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, "g",
                               RENAME_NOREPLACE), -EEXIST);
    assert_int_equal(look(t, FS_ROOT_INO, "g"), g);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, "h",
                               RENAME_NOREPLACE), 0);
    assert_int_equal(look(t, FS_ROOT_INO, "h"), f);
}

static void test_rename_exchange(void **state)
{
    T *t = *state;
    uint64_t a = mkdir_(t, FS_ROOT_INO, "a");
    uint64_t b = mkdir_(t, FS_ROOT_INO, "b");
    uint64_t f = mkfile(t, a, "f");
    uint64_t d = mkdir_(t, b, "d");
    mkfile(t, d, "inside");
    assert_int_equal(fs_write(t->fs, f, "ff", 2, 0, 0), 2);
    assert_int_equal(attr(t, a).st_nlink, 2);
    assert_int_equal(attr(t, b).st_nlink, 3);
    /* Swap a file in a with a (non-empty) directory in b. */
    assert_int_equal(fs_rename(t->fs, a, "f", b, "d", RENAME_EXCHANGE), 0);
    assert_int_equal(look(t, a, "f"), d);
    assert_int_equal(look(t, b, "d"), f);
    assert_int_equal(attr(t, a).st_nlink, 3);
    assert_int_equal(attr(t, b).st_nlink, 2);
    assert_int_equal(look(t, d, ".."), a);
    assert_int_equal(attr(t, a).st_size, 1);
    assert_int_equal(attr(t, b).st_size, 1);
    assert_int_equal(fs_rename(t->fs, a, "f", b, "missing", RENAME_EXCHANGE), -ENOENT);
    /* A directory cannot be exchanged into its own subtree. */
    uint64_t sub = mkdir_(t, d, "sub");
    assert_int_equal(fs_rename(t->fs, a, "f", sub, "inside2", RENAME_EXCHANGE), -ENOENT);
    mkfile(t, sub, "leaf");
    assert_int_equal(fs_rename(t->fs, a, "f", sub, "leaf", RENAME_EXCHANGE), -EINVAL);
    assert_int_equal(fs_rename(t->fs, sub, "leaf", a, "f", RENAME_EXCHANGE), -EINVAL);
    /* Same directory swap of two files. */
    uint64_t x = mkfile(t, FS_ROOT_INO, "x"), y = mkfile(t, FS_ROOT_INO, "y");
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "x", FS_ROOT_INO, "y",
                               RENAME_EXCHANGE), 0);
    assert_int_equal(look(t, FS_ROOT_INO, "x"), y);
    assert_int_equal(look(t, FS_ROOT_INO, "y"), x);
    reopen(t);
    assert_int_equal(look(t, a, "f"), d);
    assert_int_equal(look(t, b, "d"), f);
    assert_int_equal(look(t, d, ".."), a);
    assert_int_equal(attr(t, a).st_nlink, 3);
    assert_int_equal(attr(t, b).st_nlink, 2);
    char buf[4];
    assert_int_equal(fs_read(t->fs, f, buf, 4, 0), 2);
}

/* Renaming a directory with many entries touches only a few keys: the
 * entries stay where they are (keyed by the directory's inode). */
static void test_rename_big_dir(void **state)
{
    T *t = *state;
    uint64_t big = mkdir_(t, FS_ROOT_INO, "big");
    for (int i = 0; i < 2000; i++) {
        char n[16];
        snprintf(n, sizeof n, "e%d", i);
        mkfile(t, big, n);
    }
    uint64_t dst = mkdir_(t, FS_ROOT_INO, "dst");
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "big", dst, "moved", 0), 0);
    assert_int_equal(look(t, dst, "moved"), big);
    assert_true(look(t, big, "e1999") != 0);
    assert_int_equal(attr(t, big).st_size, 2000);
}

/* The whiteout of a rename: (parent, name) now names it. */
static void check_whiteout(T *t, uint64_t parent, const char *name,
                           const fs_cred *owner)
{
    struct stat st;
    assert_int_equal(fs_lookup(t->fs, parent, name, &st), 0);
    assert_int_equal(st.st_mode, S_IFCHR);
    assert_int_equal(st.st_rdev, makedev(0, 0));
    assert_int_equal(st.st_nlink, 1);
    assert_int_equal(st.st_uid, owner->uid);
    assert_int_equal(st.st_gid, owner->gid);
}

static void test_rename_whiteout(void **state)
{
    T *t = *state;
    fs_cred c = { .uid = 4321, .gid = 8765, .umask = 077 };
    uint64_t a = mkdir_(t, FS_ROOT_INO, "a");
    uint64_t b = mkdir_(t, FS_ROOT_INO, "b");
    uint64_t f = mkfile(t, a, "f");
    assert_int_equal(fs_write(t->fs, f, "data", 4, 0, 0), 4);
    struct statvfs sv;
    assert_int_equal(fs_statfs(t->fs, &sv), 0);
    uint64_t files = sv.f_files - sv.f_ffree;
    age(t, a);
    assert_int_equal(fs_rename_as(t->fs, &c, a, "f", b, "g", RENAME_WHITEOUT), 0);
    assert_int_equal(look(t, b, "g"), f);
    check_whiteout(t, a, "f", &c);
    assert_true(look(t, a, "f") != f);
    assert_int_equal(attr(t, a).st_size, 1);     /* the whiteout's entry */
    assert_int_equal(attr(t, b).st_size, 1);
    assert_true(attr(t, a).st_mtim.tv_sec > 1000);
    assert_int_equal(fs_statfs(t->fs, &sv), 0);
    assert_int_equal(sv.f_files - sv.f_ffree, files + 1);
    /* Listed as a character device. */
    assert_int_equal(attr(t, f).st_nlink, 1);

    /* A directory, replacing an existing file is refused with NOREPLACE
     * and allowed without. */
    uint64_t d = mkdir_(t, a, "d");
    mkfile(t, d, "inside");
    uint64_t victim = mkfile(t, b, "victim");
    assert_int_equal(fs_rename_as(t->fs, &c, a, "d", b, "g",
                                  RENAME_WHITEOUT | RENAME_NOREPLACE), -EEXIST);
    assert_int_equal(attr(t, a).st_nlink, 3);
    assert_int_equal(fs_rename_as(t->fs, &c, a, "d", b, "newd",
                                  RENAME_WHITEOUT | RENAME_NOREPLACE), 0);
    check_whiteout(t, a, "d", &c);
    assert_int_equal(look(t, d, ".."), b);
    assert_int_equal(attr(t, a).st_nlink, 2);
    assert_int_equal(attr(t, b).st_nlink, 3);
    assert_int_equal(fs_rename_as(t->fs, &c, b, "g", b, "victim", RENAME_WHITEOUT), 0);
    assert_int_equal(look(t, b, "victim"), f);
    check_whiteout(t, b, "g", &c);
    assert_int_equal(attr(t, victim).st_nlink, 0);       /* replaced */
    assert_int_equal(attr(t, b).st_size, 3);     /* newd, victim, g */

    /* Flags that do not combine, and fs_rename has no owner for one. */
    assert_int_equal(fs_rename_as(t->fs, &c, b, "victim", a, "f",
                                  RENAME_WHITEOUT | RENAME_EXCHANGE), -EINVAL);
    assert_int_equal(fs_rename(t->fs, b, "victim", b, "z", RENAME_WHITEOUT), -EINVAL);
    assert_int_equal(fs_rename_as(t->fs, NULL, b, "victim", b, "z",
                                  RENAME_WHITEOUT), -EINVAL);
    assert_int_equal(look(t, b, "victim"), f);

    reopen(t);
    check_whiteout(t, a, "f", &c);
    check_whiteout(t, a, "d", &c);
    check_whiteout(t, b, "g", &c);
    assert_int_equal(look(t, b, "victim"), f);
    assert_int_equal(look(t, d, ".."), b);
    /* A whiteout is an ordinary node: it can be removed. */
    assert_int_equal(fs_unlink(t->fs, a, "f"), 0);
    assert_int_equal(attr(t, a).st_size, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rename_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_replace_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_noreplace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_exchange, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_big_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_whiteout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
