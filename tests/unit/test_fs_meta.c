/*
 * test_fs_meta.c — attributes and extended attributes: chmod, chown and
 * the setuid/setgid rules, utimens (explicit, nanoseconds, NOW), ctime,
 * mtime set after a write, xattr flags and limits, statfs.
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

#include <sys/xattr.h>
#include <time.h>

static void test_chmod_chown(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    struct stat a, st;
    memset(&a, 0, sizeof a);
    age(t, f);
    a.st_mode = S_IFDIR | 04711;          /* type bits are ignored */
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MODE, &st), 0);
    assert_int_equal(st.st_mode, S_IFREG | 04711);
    assert_true(st.st_ctim.tv_sec > 1000);
    assert_int_equal(st.st_mtim.tv_sec, 1000);
    /* chown clears setuid, and setgid only with group-exec. */
    a.st_mode = 06755;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MODE, &st), 0);
    a.st_uid = 123;
    a.st_gid = 456;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_UID | FS_SET_GID, &st), 0);
    assert_int_equal(st.st_uid, 123);
    assert_int_equal(st.st_gid, 456);
    assert_int_equal(st.st_mode & 07777, 0755);
    a.st_mode = 02745;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MODE, &st), 0);
    a.st_gid = 789;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_GID, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02745);
    assert_int_equal(st.st_uid, 123);
    /* Directories keep their bits on chown. */
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    a.st_mode = 02755;
    assert_int_equal(fs_setattr(t->fs, &t->c, d, &a, FS_SET_MODE, &st), 0);
    assert_int_equal(fs_setattr(t->fs, &t->c, d, &a, FS_SET_UID, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02755);
    assert_int_equal(fs_setattr(t->fs, &t->c, 99999, &a, FS_SET_MODE, &st), -ENOENT);
    reopen(t);
    st = attr(t, f);
    assert_int_equal(st.st_mode, S_IFREG | 02745);
    assert_int_equal(st.st_gid, 789);
}

static void test_times(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_atim.tv_sec = 111;
    a.st_atim.tv_nsec = 123456789;
    a.st_mtim.tv_sec = 222;
    a.st_mtim.tv_nsec = 987654321;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_ATIME | FS_SET_MTIME, &st), 0);
    assert_int_equal(st.st_atim.tv_sec, 111);
    assert_int_equal(st.st_atim.tv_nsec, 123456789);
    assert_int_equal(st.st_mtim.tv_sec, 222);
    assert_int_equal(st.st_mtim.tv_nsec, 987654321);
    assert_true(st.st_ctim.tv_sec > 1000);
    /* Only one of them. */
    a.st_mtim.tv_sec = 333;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MTIME, &st), 0);
    assert_int_equal(st.st_atim.tv_sec, 111);
    assert_int_equal(st.st_mtim.tv_sec, 333);
    /* NOW wins over the given value. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a,
                                FS_SET_ATIME | FS_SET_ATIME_NOW | FS_SET_MTIME_NOW, &st), 0);
    assert_true(st.st_atim.tv_sec >= now.tv_sec - 1);
    assert_true(st.st_mtim.tv_sec >= now.tv_sec - 1);
    /* Explicit ctime. */
    a.st_ctim.tv_sec = 444;
    a.st_ctim.tv_nsec = 5;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_CTIME, &st), 0);
    assert_int_equal(st.st_ctim.tv_sec, 444);
    assert_int_equal(st.st_ctim.tv_nsec, 5);
    a.st_mtim.tv_nsec = 1000000000;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MTIME, &st), -EINVAL);
    /* tar -x: write, then set the archived mtime; it must stick. */
    assert_int_equal(fs_write(t->fs, f, "payload", 7, 0, 0), 7);
    a.st_mtim.tv_sec = 1234567890;
    a.st_mtim.tv_nsec = 42;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MTIME, &st), 0);
    reopen(t);
    st = attr(t, f);
    assert_int_equal(st.st_mtim.tv_sec, 1234567890);
    assert_int_equal(st.st_mtim.tv_nsec, 42);
    assert_int_equal(st.st_size, 7);
    /* Truncation sets mtime unless one is given in the same call. */
    a.st_size = 3;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE | FS_SET_MTIME, &st), 0);
    assert_int_equal(st.st_mtim.tv_sec, 1234567890);
    a.st_size = 2;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    assert_true(st.st_mtim.tv_sec > 1234567890);
    /* Times survive on directories and symlinks too. */
    assert_int_equal(fs_symlink(t->fs, &t->c, FS_ROOT_INO, "l", "f", &st), 0);
    uint64_t l = st.st_ino;
    a.st_mtim.tv_sec = 77;
    a.st_mtim.tv_nsec = 0;
    assert_int_equal(fs_setattr(t->fs, &t->c, l, &a, FS_SET_MTIME, &st), 0);
    assert_int_equal(fs_setattr(t->fs, &t->c, FS_ROOT_INO, &a, FS_SET_MTIME, &st), 0);
    reopen(t);
    assert_int_equal(attr(t, l).st_mtim.tv_sec, 77);
    assert_int_equal(attr(t, FS_ROOT_INO).st_mtim.tv_sec, 77);
    char buf[8];
    assert_int_equal(fs_readlink(t->fs, l, buf, sizeof buf), 1);
}

static void test_xattr(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    char buf[256];
    assert_int_equal(fs_getxattr(t->fs, f, "user.a", buf, sizeof buf), -ENODATA);
    assert_int_equal(fs_listxattr(t->fs, f, buf, sizeof buf), 0);
    age(t, f);
    assert_int_equal(fs_setxattr(t->fs, f, "user.a", "one", 3, 0), 0);
    assert_true(attr(t, f).st_ctim.tv_sec > 1000);
    assert_int_equal(fs_setxattr(t->fs, f, "user.b", "", 0, XATTR_CREATE), 0);
    assert_int_equal(fs_setxattr(t->fs, f, "user.a", "x", 1, XATTR_CREATE), -EEXIST);
    assert_int_equal(fs_setxattr(t->fs, f, "user.c", "x", 1, XATTR_REPLACE), -ENODATA);
    assert_int_equal(fs_setxattr(t->fs, f, "user.a", "two!", 4, XATTR_REPLACE), 0);
    assert_int_equal(fs_setxattr(t->fs, f, "user.a", "x", 1, XATTR_CREATE | XATTR_REPLACE),
                     -EINVAL);
    assert_int_equal(fs_getxattr(t->fs, f, "user.a", NULL, 0), 4);
    assert_int_equal(fs_getxattr(t->fs, f, "user.a", buf, sizeof buf), 4);
    assert_memory_equal(buf, "two!", 4);
    assert_int_equal(fs_getxattr(t->fs, f, "user.a", buf, 3), -ERANGE);
    assert_int_equal(fs_getxattr(t->fs, f, "user.b", buf, sizeof buf), 0);
    assert_int_equal(fs_getxattr(t->fs, f, "user.zzz", buf, sizeof buf), -ENODATA);
    /* list: "user.a\0user.b\0" */
    assert_int_equal(fs_listxattr(t->fs, f, NULL, 0), 14);
    assert_int_equal(fs_listxattr(t->fs, f, buf, sizeof buf), 14);
    assert_memory_equal(buf, "user.a\0user.b\0", 14);
    assert_int_equal(fs_listxattr(t->fs, f, buf, 13), -ERANGE);
    /* Limits. */
    char *big = calloc(1, (64 << 10) + 1);
    assert_int_equal(fs_setxattr(t->fs, f, "user.big", big, 64 << 10, 0), 0);
    assert_int_equal(fs_getxattr(t->fs, f, "user.big", NULL, 0), 64 << 10);
    assert_int_equal(fs_setxattr(t->fs, f, "user.big2", big, (64 << 10) + 1, 0), -E2BIG);
    free(big);
    char name[300];
    memset(name, 'x', sizeof name);
    memcpy(name, "user.", 5);
    name[255] = '\0';
    assert_int_equal(fs_setxattr(t->fs, f, name, "v", 1, 0), 0);
    name[255] = 'x';
    name[256] = '\0';
    assert_int_equal(fs_setxattr(t->fs, f, name, "v", 1, 0), -ERANGE);
    assert_int_equal(fs_setxattr(t->fs, f, "", "v", 1, 0), -EINVAL);
    /* remove */
    assert_int_equal(fs_removexattr(t->fs, f, "user.big"), 0);
    assert_int_equal(fs_removexattr(t->fs, f, "user.big"), -ENODATA);
    assert_int_equal(fs_removexattr(t->fs, f, "user.never"), -ENODATA);
    assert_int_equal(fs_getxattr(t->fs, f, "user.big", NULL, 0), -ENODATA);
    /* On directories and symlinks too; all persist. */
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    assert_int_equal(fs_setxattr(t->fs, d, "trusted.t", "dir", 3, 0), 0);
    reopen(t);
    assert_int_equal(fs_getxattr(t->fs, f, "user.a", buf, sizeof buf), 4);
    assert_int_equal(fs_getxattr(t->fs, d, "trusted.t", buf, sizeof buf), 3);
    assert_int_equal(fs_listxattr(t->fs, f, NULL, 0), 14 + 256);
    assert_int_equal(fs_getxattr(t->fs, 99999, "user.a", buf, sizeof buf), -ENOENT);
    assert_int_equal(fs_setxattr(t->fs, 99999, "user.a", "x", 1, 0), -ENOENT);
    /* A removed inode takes its xattrs along: a new file has none. */
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "f"), 0);
    uint64_t g = mkfile(t, FS_ROOT_INO, "g");
    assert_int_equal(fs_listxattr(t->fs, g, buf, sizeof buf), 0);
}

static void test_xattr_on_inline_file_keeps_data(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    assert_int_equal(fs_write(t->fs, f, "inline bytes", 12, 0, 0), 12);
    reopen(t);      /* the cached data is gone; the record must be reread */
    assert_int_equal(fs_setxattr(t->fs, f, "user.x", "1", 1, 0), 0);
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_mode = 0600;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MODE, &st), 0);
    reopen(t);
    char buf[32];
    assert_int_equal(fs_read(t->fs, f, buf, sizeof buf, 0), 12);
    assert_memory_equal(buf, "inline bytes", 12);
}

static void test_statfs(void **state)
{
    T *t = *state;
    struct statvfs a, b;
    assert_int_equal(fs_statfs(t->fs, &a), 0);
    assert_int_equal(a.f_namemax, 255);
    assert_true(a.f_blocks >= a.f_bfree);
    assert_true(a.f_files >= a.f_ffree);
    assert_int_equal(a.f_files - a.f_ffree, 1);      /* the root */
    for (int i = 0; i < 10; i++) {
        char n[16];
        snprintf(n, sizeof n, "f%d", i);
        mkfile(t, FS_ROOT_INO, n);
    }
    mkdir_(t, FS_ROOT_INO, "d");
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "f0"), 0);
    assert_int_equal(fs_statfs(t->fs, &b), 0);
    assert_int_equal(b.f_files - b.f_ffree, 11);
    reopen(t);
    assert_int_equal(fs_statfs(t->fs, &b), 0);
    assert_int_equal(b.f_files - b.f_ffree, 11);
    assert_true(b.f_frsize > 0 && b.f_bsize > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chmod_chown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xattr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xattr_on_inline_file_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statfs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
