/*
 * test_fs_ns.c — the namespace operations of fs/ (lookup, mknod, mkdir,
 * symlink, readlink, link, unlink, rmdir, create): results, link counts,
 * times, ownership rules and every error case.
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

static void test_root(void **state)
{
    T *t = *state;
    struct stat st = attr(t, FS_ROOT_INO);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_nlink, 2);
    assert_int_equal(st.st_ino, FS_ROOT_INO);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, ".", &st), 0);
    assert_int_equal(st.st_ino, FS_ROOT_INO);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "..", &st), 0);
    assert_int_equal(st.st_ino, FS_ROOT_INO);
    assert_int_equal(fs_getattr(t->fs, 999999, &st), -ENOENT);
}

static void test_mknod_lookup(void **state)
{
    T *t = *state;
    struct stat st, lk;
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "f", S_IFREG | 0640, 0, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_nlink, 1);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(st.st_uid, t->c.uid);
    assert_int_equal(st.st_gid, t->c.gid);
    assert_true(st.st_ino > FS_ROOT_INO);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "f", &lk), 0);
    assert_int_equal(lk.st_ino, st.st_ino);
    assert_int_equal(lk.st_mode, st.st_mode);
    /* Type 0 means a regular file. */
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "g", 0600, 0, &st), 0);
    assert_true(S_ISREG(st.st_mode));

    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "fifo", S_IFIFO | 0600, 0, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "sock", S_IFSOCK | 0600, 0, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "chr", S_IFCHR | 0600,
                              makedev(4, 5), &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(4, 5));
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "blk", S_IFBLK | 0600,
                              makedev(8, 1), &st), 0);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "blk", &lk), 0);
    assert_true(S_ISBLK(lk.st_mode));
    assert_int_equal(lk.st_rdev, makedev(8, 1));

    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "d", S_IFDIR | 0700, 0, &st),
                     -EINVAL);
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "f", S_IFREG | 0600, 0, &st),
                     -EEXIST);
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, ".", S_IFREG | 0600, 0, &st),
                     -EEXIST);
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "a/b", S_IFREG, 0, &st),
                     -EINVAL);
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "", S_IFREG, 0, &st), -EINVAL);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "nope", &st), -ENOENT);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "", &st), -ENOENT);
    /* A file is not a directory. */
    uint64_t f = lk.st_ino;
    assert_int_equal(fs_lookup(t->fs, f, "x", &st), -ENOTDIR);
    assert_int_equal(fs_mknod(t->fs, &t->c, f, "x", S_IFREG, 0, &st), -ENOTDIR);
    assert_int_equal(fs_mkdir(t->fs, &t->c, f, "x", 0700, &st), -ENOTDIR);
    /* A missing parent. */
    assert_int_equal(fs_mknod(t->fs, &t->c, 424242, "x", S_IFREG, 0, &st), -ENOENT);
    assert_int_equal(attr(t, FS_ROOT_INO).st_size, 6);   /* entries */
}

static void test_name_limits(void **state)
{
    T *t = *state;
    char name[300];
    memset(name, 'n', sizeof name);
    name[255] = '\0';
    struct stat st;
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, name, S_IFREG | 0600, 0, &st), 0);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, name, &st), 0);
    name[255] = 'n';
    name[256] = '\0';
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, name, S_IFREG, 0, &st),
                     -ENAMETOOLONG);
    assert_int_equal(fs_mkdir(t->fs, &t->c, FS_ROOT_INO, name, 0700, &st), -ENAMETOOLONG);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, name, &st), -ENAMETOOLONG);
    assert_int_equal(fs_symlink(t->fs, &t->c, FS_ROOT_INO, name, "x", &st),
                     -ENAMETOOLONG);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, name), -ENAMETOOLONG);
    assert_int_equal(fs_rmdir(t->fs, FS_ROOT_INO, name), -ENAMETOOLONG);
    assert_int_equal(fs_create(t->fs, &t->c, FS_ROOT_INO, name, 0600, O_EXCL, &st),
                     -ENAMETOOLONG);
    /* Arbitrary bytes other than '/' and NUL are fine. */
    assert_int_equal(fs_mknod(t->fs, &t->c, FS_ROOT_INO, "\xff\x01 ünï", S_IFREG, 0, &st), 0);
    assert_int_equal(fs_lookup(t->fs, FS_ROOT_INO, "\xff\x01 ünï", &st), 0);
}

static void test_mkdir_nlink_and_times(void **state)
{
    T *t = *state;
    age(t, FS_ROOT_INO);
    uint64_t a = mkdir_(t, FS_ROOT_INO, "a");
    struct stat r = attr(t, FS_ROOT_INO);
    assert_int_equal(r.st_nlink, 3);
    assert_true(r.st_mtim.tv_sec > 1000);
    assert_true(r.st_ctim.tv_sec > 1000);
    struct stat sa = attr(t, a);
    assert_int_equal(sa.st_nlink, 2);
    assert_int_equal(sa.st_mode, S_IFDIR | 0755);
    uint64_t b = mkdir_(t, a, "b");
    mkdir_(t, a, "c");
    mkfile(t, a, "f");
    assert_int_equal(attr(t, a).st_nlink, 4);
    struct stat st;
    assert_int_equal(fs_lookup(t->fs, b, "..", &st), 0);
    assert_int_equal(st.st_ino, a);
    assert_int_equal(fs_mkdir(t->fs, &t->c, a, "b", 0755, &st), -EEXIST);
    assert_int_equal(fs_mkdir(t->fs, &t->c, a, "f", 0755, &st), -EEXIST);
    age(t, a);
    assert_int_equal(fs_rmdir(t->fs, a, "b"), 0);
    struct stat s2 = attr(t, a);
    assert_int_equal(s2.st_nlink, 3);
    assert_true(s2.st_mtim.tv_sec > 1000);
    assert_int_equal(attr(t, FS_ROOT_INO).st_nlink, 3);
    reopen(t);
    assert_int_equal(attr(t, a).st_nlink, 3);
    assert_int_equal(attr(t, FS_ROOT_INO).st_nlink, 3);
    assert_int_equal(fs_lookup(t->fs, a, "b", &st), -ENOENT);
}

static void test_umask_and_setgid_dirs(void **state)
{
    T *t = *state;
    fs_cred c = t->c;
    c.umask = 022;
    struct stat st;
    assert_int_equal(fs_mkdir(t->fs, &c, FS_ROOT_INO, "m", 0777, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(fs_mknod(t->fs, &c, FS_ROOT_INO, "mf", S_IFREG | 0666, 0, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    /* A setgid directory owned by group 4242 passes its group on, and the
     * setgid bit to subdirectories only. */
    uint64_t g = mkdir_(t, FS_ROOT_INO, "sg");
    struct stat a;
    memset(&a, 0, sizeof a);
    a.st_gid = 4242;
    a.st_mode = 02775;
    assert_int_equal(fs_setattr(t->fs, &t->c, g, &a, FS_SET_GID, NULL), 0);
    assert_int_equal(fs_setattr(t->fs, &t->c, g, &a, FS_SET_MODE, &st), 0);
    assert_int_equal(st.st_mode, S_IFDIR | 02775);
    assert_int_equal(st.st_gid, 4242);
    assert_int_equal(fs_mknod(t->fs, &t->c, g, "f", S_IFREG | 0644, 0, &st), 0);
    assert_int_equal(st.st_gid, 4242);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(fs_mkdir(t->fs, &t->c, g, "d", 0750, &st), 0);
    assert_int_equal(st.st_gid, 4242);
    assert_int_equal(st.st_mode & 07777, 02750);
    uint64_t d = st.st_ino;
    assert_int_equal(fs_symlink(t->fs, &t->c, d, "l", "target", &st), 0);
    assert_int_equal(st.st_gid, 4242);
    /* Outside, the caller's group. */
    assert_int_equal(fs_mkdir(t->fs, &t->c, FS_ROOT_INO, "plain", 0750, &st), 0);
    assert_int_equal(st.st_gid, t->c.gid);
    assert_int_equal(st.st_mode & 07777, 0750);
}

static void test_unlink(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    uint64_t f = mkfile(t, d, "f");
    assert_int_equal(fs_write(t->fs, f, "hello", 5, 0, 0), 5);
    age(t, d);
    struct stat st;
    assert_int_equal(fs_unlink(t->fs, d, "f"), 0);
    st = attr(t, d);
    assert_true(st.st_mtim.tv_sec > 1000);
    assert_true(st.st_ctim.tv_sec > 1000);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(fs_lookup(t->fs, d, "f", &st), -ENOENT);
    assert_int_equal(fs_unlink(t->fs, d, "f"), -ENOENT);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "d"), -EISDIR);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "nope"), -ENOENT);
    assert_int_equal(fs_unlink(t->fs, f, "x"), -ENOENT);   /* f is gone */
    /* Times the kernel's writeback cache flushes after the unlink are
     * taken (and dropped: syncfs would report a failure); nothing else. */
    struct stat ta = { 0 };
    ta.st_mtim.tv_sec = 2000;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &ta, FS_SET_MTIME | FS_SET_CTIME, &st), 0);
    assert_int_equal(st.st_ino, f);
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &ta, FS_SET_MODE, NULL), -ENOENT);
    assert_int_equal(fs_setattr(t->fs, &t->c, f + 1000, &ta, FS_SET_MTIME, NULL), -ENOENT);
    uint64_t g = mkfile(t, d, "g");
    assert_int_equal(fs_unlink(t->fs, g, "x"), -ENOTDIR);
    assert_int_equal(fs_unlink(t->fs, d, "a/b"), -EINVAL);
    /* Removed without open handles: the inode is gone. */
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDONLY), -ENOENT);
    reopen(t);
    assert_int_equal(fs_getattr(t->fs, f, &st), -ENOENT);
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &ta, FS_SET_MTIME, NULL), -ENOENT);
    assert_int_equal(fs_lookup(t->fs, d, "g", &st), 0);
}

static void test_rmdir(void **state)
{
    T *t = *state;
    uint64_t a = mkdir_(t, FS_ROOT_INO, "a");
    mkdir_(t, a, "sub");
    mkfile(t, a, "f");
    assert_int_equal(fs_rmdir(t->fs, FS_ROOT_INO, "a"), -ENOTEMPTY);
    assert_int_equal(fs_rmdir(t->fs, a, "f"), -ENOTDIR);
    assert_int_equal(fs_rmdir(t->fs, a, "none"), -ENOENT);
    assert_int_equal(fs_rmdir(t->fs, a, "."), -EINVAL);
    assert_int_equal(fs_rmdir(t->fs, a, ".."), -ENOTEMPTY);
    assert_int_equal(fs_rmdir(t->fs, a, "sub"), 0);
    assert_int_equal(fs_unlink(t->fs, a, "f"), 0);
    assert_int_equal(attr(t, a).st_nlink, 2);
    assert_int_equal(fs_rmdir(t->fs, FS_ROOT_INO, "a"), 0);
    assert_int_equal(attr(t, FS_ROOT_INO).st_nlink, 2);
    /* The removed directory still answers getattr (the kernel may hold it)
     * but nothing can be made in it. */
    struct stat st;
    assert_int_equal(fs_getattr(t->fs, a, &st), 0);
    assert_int_equal(st.st_nlink, 0);
    assert_int_equal(fs_mknod(t->fs, &t->c, a, "x", S_IFREG, 0, &st), -ENOENT);
    assert_int_equal(fs_lookup(t->fs, a, "x", &st), -ENOENT);
}

static void test_symlink_readlink(void **state)
{
    T *t = *state;
    fs_cred c = t->c;
    c.umask = 077;
    struct stat st;
    assert_int_equal(fs_symlink(t->fs, &c, FS_ROOT_INO, "l", "../some/where", &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0777);
    assert_int_equal(st.st_size, 13);
    uint64_t l = st.st_ino;
    char buf[5000];
    assert_int_equal(fs_readlink(t->fs, l, buf, sizeof buf), 13);
    assert_memory_equal(buf, "../some/where", 13);
    assert_int_equal(fs_readlink(t->fs, l, buf, 4), 4);
    assert_memory_equal(buf, "../s", 4);

    char target[5000];
    memset(target, 't', sizeof target);
    target[4095] = '\0';
    assert_int_equal(fs_symlink(t->fs, &c, FS_ROOT_INO, "long", target, &st), 0);
    assert_int_equal(st.st_size, 4095);
    assert_int_equal(fs_readlink(t->fs, st.st_ino, buf, sizeof buf), 4095);
    assert_memory_equal(buf, target, 4095);
    target[4095] = 't';
    target[4096] = '\0';
    assert_int_equal(fs_symlink(t->fs, &c, FS_ROOT_INO, "toolong", target, &st),
                     -ENAMETOOLONG);
    assert_int_equal(fs_symlink(t->fs, &c, FS_ROOT_INO, "empty", "", &st), -ENOENT);
    assert_int_equal(fs_symlink(t->fs, &c, FS_ROOT_INO, "l", "x", &st), -EEXIST);
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    assert_int_equal(fs_readlink(t->fs, f, buf, sizeof buf), -EINVAL);
    assert_int_equal(fs_readlink(t->fs, FS_ROOT_INO, buf, sizeof buf), -EINVAL);
    /* chown of a symlink keeps its target. */
    struct stat a;
    memset(&a, 0, sizeof a);
    a.st_uid = 77;
    assert_int_equal(fs_setattr(t->fs, &t->c, l, &a, FS_SET_UID, &st), 0);
    assert_int_equal(st.st_uid, 77);
    reopen(t);
    assert_int_equal(fs_readlink(t->fs, l, buf, sizeof buf), 13);
    assert_memory_equal(buf, "../some/where", 13);
    assert_int_equal(attr(t, l).st_uid, 77);
}

static void test_link(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    assert_int_equal(fs_write(t->fs, f, "data", 4, 0, 0), 4);
    age(t, f);
    struct stat st;
    assert_int_equal(fs_link(t->fs, f, d, "g", &st), 0);
    assert_int_equal(st.st_ino, f);
    assert_int_equal(st.st_nlink, 2);
    assert_true(st.st_ctim.tv_sec > 1000);
    assert_int_equal(st.st_mtim.tv_sec, 1000);
    assert_int_equal(fs_lookup(t->fs, d, "g", &st), 0);
    assert_int_equal(st.st_ino, f);
    assert_int_equal(fs_link(t->fs, f, d, "g", &st), -EEXIST);
    assert_int_equal(fs_link(t->fs, d, FS_ROOT_INO, "dl", &st), -EPERM);
    assert_int_equal(fs_link(t->fs, f, f, "x", &st), -ENOTDIR);
    assert_int_equal(fs_link(t->fs, 777777, d, "x", &st), -ENOENT);
    /* One name goes, the data stays under the other. */
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "f"), 0);
    assert_int_equal(attr(t, f).st_nlink, 1);
    char buf[8];
    assert_int_equal(fs_read(t->fs, f, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "data", 4);
    reopen(t);
    assert_int_equal(attr(t, f).st_nlink, 1);
    assert_int_equal(fs_read(t->fs, f, buf, sizeof buf, 0), 4);
    assert_int_equal(fs_unlink(t->fs, d, "g"), 0);
    assert_int_equal(fs_getattr(t->fs, f, &st), -ENOENT);
}

static void test_create(void **state)
{
    T *t = *state;
    struct stat st, st2;
    assert_int_equal(fs_create(t->fs, &t->c, FS_ROOT_INO, "c", 0600,
                               O_CREAT | O_EXCL | O_WRONLY, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    uint64_t c = st.st_ino;
    assert_int_equal(fs_write(t->fs, c, "abc", 3, 0, 0), 3);
    assert_int_equal(fs_create(t->fs, &t->c, FS_ROOT_INO, "c", 0600,
                               O_CREAT | O_EXCL | O_WRONLY, &st2), -EEXIST);
    /* Without O_EXCL an existing file is opened (and O_TRUNC applies). */
    assert_int_equal(fs_create(t->fs, &t->c, FS_ROOT_INO, "c", 0600,
                               O_CREAT | O_WRONLY, &st2), 0);
    assert_int_equal(st2.st_ino, c);
    assert_int_equal(st2.st_size, 3);
    assert_int_equal(fs_create(t->fs, &t->c, FS_ROOT_INO, "c", 0600,
                               O_CREAT | O_WRONLY | O_TRUNC, &st2), 0);
    assert_int_equal(st2.st_size, 0);
    mkdir_(t, FS_ROOT_INO, "d");
    assert_int_equal(fs_create(t->fs, &t->c, FS_ROOT_INO, "d", 0600,
                               O_CREAT | O_WRONLY, &st2), -EISDIR);
    for (int i = 0; i < 3; i++)
        assert_int_equal(fs_release(t->fs, c), 0);
}

static void test_many_dirs_deep(void **state)
{
    T *t = *state;
    uint64_t p = FS_ROOT_INO;
    uint64_t chain[64];
    for (int i = 0; i < 64; i++) {
        char n[16];
        snprintf(n, sizeof n, "lvl%d", i);
        chain[i] = p = mkdir_(t, p, n);
    }
    reopen(t);
    p = FS_ROOT_INO;
    for (int i = 0; i < 64; i++) {
        char n[16];
        struct stat st;
        snprintf(n, sizeof n, "lvl%d", i);
        assert_int_equal(fs_lookup(t->fs, p, n, &st), 0);
        assert_int_equal(st.st_ino, chain[i]);
        assert_int_equal(st.st_nlink, i == 63 ? 2 : 3);
        p = st.st_ino;
    }
}

static void test_ino_never_reused(void **state)
{
    T *t = *state;
    uint64_t max = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20; i++) {
            char n[16];
            snprintf(n, sizeof n, "f%d", i);
            uint64_t ino = mkfile(t, FS_ROOT_INO, n);
            assert_true(ino > max);
            max = ino;
            assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, n), 0);
        }
        reopen(t);
    }
}

/* Finding an inode by number alone, as the kernel does for a file handle
 * whose inode it evicted: "." names the inode itself, of any type, also
 * after a reopen (nothing cached); ".." a directory's parent.  A deleted
 * inode, even one the kernel still references, or a number never handed
 * out is -ENOENT (the kernel's ESTALE), never another file. */
static void test_lookup_by_number(void **state)
{
    T *t = *state;
    struct stat st;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    uint64_t sub = mkdir_(t, d, "sub");
    uint64_t f = mkfile(t, sub, "f");
    uint64_t gone = mkfile(t, d, "gone");
    uint64_t lnk;
    assert_int_equal(fs_symlink(t->fs, &t->c, d, "l", "f", &st), 0);
    lnk = st.st_ino;
    assert_int_equal(fs_unlink(t->fs, d, "gone"), 0);
    /* Still referenced by the kernel (mknod's lookup), records gone. */
    assert_int_equal(fs_lookup(t->fs, gone, ".", &st), -ENOENT);
    reopen(t);
    assert_int_equal(fs_lookup(t->fs, f, ".", &st), 0);
    assert_int_equal(st.st_ino, f);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(fs_lookup(t->fs, lnk, ".", &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(fs_lookup(t->fs, sub, ".", &st), 0);
    assert_int_equal(st.st_ino, sub);
    assert_int_equal(fs_lookup(t->fs, sub, "..", &st), 0);
    assert_int_equal(st.st_ino, d);
    assert_int_equal(fs_lookup(t->fs, d, "..", &st), 0);
    assert_int_equal(st.st_ino, FS_ROOT_INO);
    assert_int_equal(fs_lookup(t->fs, f, "..", &st), -ENOTDIR);
    assert_int_equal(fs_lookup(t->fs, gone, ".", &st), -ENOENT);
    assert_int_equal(fs_lookup(t->fs, gone + 1000, ".", &st), -ENOENT);
    assert_int_equal(fs_lookup(t->fs, 0, ".", &st), -ENOENT);
    /* Each success counted one lookup reference; returning them all
     * lets the entries go (forgetting more is clamped). */
    fs_forget(t->fs, f, 1);
    fs_forget(t->fs, lnk, 1);
    fs_forget(t->fs, sub, 1);
    fs_forget(t->fs, d, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mknod_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_nlink_and_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_umask_and_setgid_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rmdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_readlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_dirs_deep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ino_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_by_number, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
