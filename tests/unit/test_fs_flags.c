/*
 * test_fs_flags.c — chattr flags at the fs layer: who may set them, what
 * immutable and append-only forbid (each refusal -EPERM) and allow, for
 * files and directories, their persistence, and the record encoding.
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
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include "fs.h"
#include "layout.h"
#include "fs_records.h"

#include "fs_fixture.h"

static const fs_cred root = { .uid = 0, .gid = 0 };
static const fs_cred user = { .uid = 1000, .gid = 1000 };

static unsigned flags_of(T *t, uint64_t ino)
{
    unsigned f = 0xdead;
    assert_int_equal(fs_getflags(t->fs, ino, &f), 0);
    return f;
}

static void test_setflags_permissions(void **state)
{
    T *t = *state;
    struct stat st;
    assert_int_equal(fs_mknod(t->fs, &user, FS_ROOT_INO, "mine", S_IFREG | 0644,
                              0, &st), 0);
    uint64_t f = st.st_ino;
    assert_int_equal(flags_of(t, f), 0);
    /* The owner without CAP_LINUX_IMMUTABLE: no change of either flag. */
    assert_int_equal(fs_setflags(t->fs, &user, f, FS_IMMUTABLE_FL), -EPERM);
    assert_int_equal(fs_setflags(t->fs, &user, f, FS_APPEND_FL), -EPERM);
    assert_int_equal(fs_setflags(t->fs, &user, f, 0), 0);   /* no change */
    fs_cred other = { .uid = 2000, .gid = 2000 };
    assert_int_equal(fs_setflags(t->fs, &other, f, 0), -EPERM);
    /* Flags lsmfs does not keep (noatime, sync, ...). */
    assert_int_equal(fs_setflags(t->fs, &root, f, FS_NOATIME_FL), -EOPNOTSUPP);
    assert_int_equal(fs_setflags(t->fs, &root, f, FS_IMMUTABLE_FL | FS_SYNC_FL),
                     -EOPNOTSUPP);
    assert_int_equal(flags_of(t, f), 0);
    age(t, f);
    assert_int_equal(fs_setflags(t->fs, &root, f, FS_IMMUTABLE_FL | FS_APPEND_FL), 0);
    assert_int_equal(flags_of(t, f), FS_IMMUTABLE_FL | FS_APPEND_FL);
    assert_true(attr(t, f).st_ctim.tv_sec > 1000);
    assert_int_equal(fs_setflags(t->fs, &user, f, FS_APPEND_FL), -EPERM);
    reopen(t);
    assert_int_equal(flags_of(t, f), FS_IMMUTABLE_FL | FS_APPEND_FL);
    assert_int_equal(fs_setflags(t->fs, &root, f, FS_APPEND_FL), 0);
    reopen(t);
    assert_int_equal(flags_of(t, f), FS_APPEND_FL);
    assert_int_equal(fs_setflags(t->fs, &root, f, 0), 0);
    assert_int_equal(flags_of(t, f), 0);
}

static void test_immutable_file(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    assert_int_equal(fs_write(t->fs, f, "stone", 5, 0, 0), 5);
    assert_int_equal(fs_setxattr(t->fs, f, "user.a", "1", 1, 0), 0);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDWR), 0);  /* before +i */
    assert_int_equal(fs_setflags(t->fs, &root, f, FS_IMMUTABLE_FL), 0);
    struct stat before = attr(t, f), st, a;

    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_WRONLY), -EPERM);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDWR | O_APPEND), -EPERM);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDONLY | O_TRUNC), -EPERM);
    assert_int_equal(fs_create(t->fs, &t->c, FS_ROOT_INO, "f", 0644,
                               O_CREAT | O_WRONLY, &st), -EPERM);
    /* The handle opened before cannot write either (nor can the kernel's
     * cached pages flushed through it). */
    assert_int_equal(fs_write(t->fs, f, "x", 1, 0, 0), -EPERM);
    assert_int_equal(fs_write(t->fs, f, "x", 1, 0, FS_WRITE_APPEND), -EPERM);
    memset(&a, 0, sizeof a);
    a.st_size = 0;
    assert_int_equal(fs_setattr(t->fs, &root, f, &a, FS_SET_SIZE, NULL), -EPERM);
    a.st_mode = 0600;
    assert_int_equal(fs_setattr(t->fs, &root, f, &a, FS_SET_MODE, NULL), -EPERM);
    assert_int_equal(fs_setattr(t->fs, &root, f, &a, FS_SET_UID, NULL), -EPERM);
    assert_int_equal(fs_setattr(t->fs, &root, f, &a,
                                FS_SET_ATIME_NOW | FS_SET_MTIME_NOW, NULL), -EPERM);
    assert_int_equal(fs_fallocate(t->fs, f, 0, 0, 100), -EPERM);
    assert_int_equal(fs_setxattr(t->fs, f, "user.b", "2", 1, 0), -EPERM);
    assert_int_equal(fs_removexattr(t->fs, f, "user.a"), -EPERM);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "f"), -EPERM);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "f", FS_ROOT_INO, "g", 0), -EPERM);
    assert_int_equal(fs_link(t->fs, f, FS_ROOT_INO, "h", &st), -EPERM);
    uint64_t src = mkfile(t, FS_ROOT_INO, "src");
    assert_int_equal(fs_write(t->fs, src, "abc", 3, 0, 0), 3);
    assert_int_equal(fs_copy_file_range(t->fs, src, 0, f, 0, 3), -EPERM);
    /* Renaming another file over it, or exchanging with it. */
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "src", FS_ROOT_INO, "f", 0), -EPERM);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "src", FS_ROOT_INO, "f",
                               RENAME_EXCHANGE), -EPERM);

    /* Nothing changed; reading and xattr reads still work. */
    st = attr(t, f);
    assert_int_equal(st.st_size, 5);
    assert_int_equal(st.st_nlink, 1);
    assert_int_equal(st.st_mode, before.st_mode);
    assert_int_equal(st.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    char buf[8];
    assert_int_equal(fs_read(t->fs, f, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "stone", 5);
    assert_int_equal(fs_getxattr(t->fs, f, "user.a", buf, sizeof buf), 1);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDONLY), 0);
    assert_int_equal(fs_release(t->fs, f), 0);

    /* Cleared: everything works again. */
    assert_int_equal(fs_setflags(t->fs, &root, f, 0), 0);
    assert_int_equal(fs_write(t->fs, f, "S", 1, 0, 0), 1);
    assert_int_equal(fs_release(t->fs, f), 0);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_WRONLY | O_TRUNC), 0);
    assert_int_equal(fs_release(t->fs, f), 0);
    assert_int_equal(fs_link(t->fs, f, FS_ROOT_INO, "h", &st), 0);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "h"), 0);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "f"), 0);
}

static void test_immutable_dir(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    uint64_t in = mkfile(t, d, "in");
    uint64_t sub = mkdir_(t, d, "sub");
    uint64_t out = mkfile(t, FS_ROOT_INO, "out");
    assert_int_equal(fs_setflags(t->fs, &root, d, FS_IMMUTABLE_FL), 0);
    struct stat st;
    assert_int_equal(fs_mknod(t->fs, &t->c, d, "n", S_IFREG | 0644, 0, &st), -EPERM);
    assert_int_equal(fs_mkdir(t->fs, &t->c, d, "m", 0755, &st), -EPERM);
    assert_int_equal(fs_symlink(t->fs, &t->c, d, "s", "t", &st), -EPERM);
    assert_int_equal(fs_create(t->fs, &t->c, d, "c", 0644, O_CREAT | O_RDWR, &st),
                     -EPERM);
    assert_int_equal(fs_tmpfile(t->fs, &t->c, d, 0600, O_RDWR, &st), -EPERM);
    assert_int_equal(fs_link(t->fs, out, d, "l", &st), -EPERM);
    assert_int_equal(fs_unlink(t->fs, d, "in"), -EPERM);
    assert_int_equal(fs_rmdir(t->fs, d, "sub"), -EPERM);
    assert_int_equal(fs_rename(t->fs, d, "in", d, "in2", 0), -EPERM);
    assert_int_equal(fs_rename(t->fs, d, "in", FS_ROOT_INO, "moved", 0), -EPERM);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "out", d, "new", 0), -EPERM);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "d", FS_ROOT_INO, "e", 0), -EPERM);
    assert_int_equal(fs_rmdir(t->fs, FS_ROOT_INO, "d"), -EPERM);
    assert_int_equal(attr(t, d).st_size, 2);
    /* Its entries are not immutable themselves; opening an existing name
     * with O_CREAT works too. */
    assert_int_equal(fs_write(t->fs, in, "ok", 2, 0, 0), 2);
    assert_int_equal(fs_create(t->fs, &t->c, d, "in", 0644, O_CREAT | O_RDWR, &st), 0);
    assert_int_equal(fs_release(t->fs, in), 0);
    assert_int_equal(fs_lookup(t->fs, d, "sub", &st), 0);
    assert_int_equal(st.st_ino, sub);
    assert_int_equal(fs_setflags(t->fs, &root, d, 0), 0);
    assert_int_equal(fs_unlink(t->fs, d, "in"), 0);
    assert_int_equal(fs_rmdir(t->fs, d, "sub"), 0);
}

static void test_append_only_file(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "log");
    assert_int_equal(fs_write(t->fs, f, "one\n", 4, 0, 0), 4);
    assert_int_equal(fs_setflags(t->fs, &root, f, FS_APPEND_FL), 0);
    struct stat st, a;
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_WRONLY), -EPERM);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDWR), -EPERM);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_WRONLY | O_APPEND | O_TRUNC),
                     -EPERM);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDONLY | O_TRUNC), -EPERM);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_WRONLY | O_APPEND), 0);
    assert_int_equal(fs_write(t->fs, f, "two\n", 4, 0, FS_WRITE_APPEND), 4);
    assert_int_equal(attr(t, f).st_size, 8);
    memset(&a, 0, sizeof a);
    assert_int_equal(fs_setattr(t->fs, &root, f, &a, FS_SET_SIZE, NULL), -EPERM);
    a.st_mode = 0600;
    assert_int_equal(fs_setattr(t->fs, &root, f, &a, FS_SET_MODE, NULL), -EPERM);
    assert_int_equal(fs_setattr(t->fs, &root, f, &a, FS_SET_GID, NULL), -EPERM);
    /* Times stay settable: the kernel stamps an append's mtime with one. */
    assert_int_equal(fs_setattr(t->fs, &root, f, &a, FS_SET_MTIME_NOW, NULL), 0);
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  0, 4), -EPERM);
    assert_int_equal(fs_fallocate(t->fs, f, 0, 0, 100), 0);     /* grows */
    assert_int_equal(attr(t, f).st_size, 100);
    assert_int_equal(fs_setxattr(t->fs, f, "user.b", "2", 1, 0), -EPERM);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "log"), -EPERM);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "log", FS_ROOT_INO, "x", 0), -EPERM);
    assert_int_equal(fs_link(t->fs, f, FS_ROOT_INO, "h", &st), -EPERM);
    assert_int_equal(fs_release(t->fs, f), 0);
    reopen(t);
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_RDWR), -EPERM);
    char buf[8];
    assert_int_equal(fs_read(t->fs, f, buf, 8, 0), 8);
    assert_memory_equal(buf, "one\ntwo\n", 8);
}

static void test_append_only_dir(void **state)
{
    T *t = *state;
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    mkfile(t, d, "old");
    mkfile(t, FS_ROOT_INO, "out");
    assert_int_equal(fs_setflags(t->fs, &root, d, FS_APPEND_FL), 0);
    struct stat st;
    /* New entries may come ... */
    assert_int_equal(fs_mknod(t->fs, &t->c, d, "new", S_IFREG | 0644, 0, &st), 0);
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "out", d, "moved", 0), 0);
    /* ... none may go or be replaced. */
    assert_int_equal(fs_unlink(t->fs, d, "new"), -EPERM);
    assert_int_equal(fs_rename(t->fs, d, "old", d, "renamed", 0), -EPERM);
    assert_int_equal(fs_rename(t->fs, d, "old", FS_ROOT_INO, "away", 0), -EPERM);
    mkfile(t, FS_ROOT_INO, "other");
    assert_int_equal(fs_rename(t->fs, FS_ROOT_INO, "other", d, "old", 0), -EPERM);
    assert_int_equal(attr(t, d).st_size, 3);
    assert_int_equal(fs_setflags(t->fs, &root, d, 0), 0);
    assert_int_equal(fs_unlink(t->fs, d, "new"), 0);
}

/* The flags are bits 1-2 of the record's flags byte: records of older
 * stores (no such bits) read unchanged, unknown bits stay malformed. */
static void test_record_encoding(void **state)
{
    (void)state;
    fs_inode out, in = inline_file(1, 2);
    in.flags |= FS_INODE_IMMUTABLE | FS_INODE_APPEND;
    char buf[FS_INODE_HEADER + 2];
    const char *data;
    size_t dlen;
    fs_encode_inode(buf, &in, "hi", 2);
    assert_int_equal(fs_decode_inode(buf, sizeof buf, &out, &data, &dlen), 0);
    assert_int_equal(out.flags, in.flags);
    assert_int_equal(dlen, 2);
    in.flags = FS_INODE_INLINE;
    fs_encode_inode(buf, &in, "hi", 2);
    assert_int_equal(fs_decode_inode(buf, sizeof buf, &out, &data, &dlen), 0);
    assert_int_equal(out.flags, FS_INODE_INLINE);
    buf[1] = (char)(FS_INODE_INLINE | 32);   /* an unknown flag */
    assert_int_equal(fs_decode_inode(buf, sizeof buf, &out, &data, &dlen), -1);
    buf[1] = (char)(FS_INODE_INLINE | FS_INODE_PATCHED);   /* no blocks */
    assert_int_equal(fs_decode_inode(buf, sizeof buf, &out, &data, &dlen), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_setflags_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_immutable_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_immutable_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_only_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_only_dir, setup, teardown),
        cmocka_unit_test(test_record_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
