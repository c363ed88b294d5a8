/*
 * test_fs_data.c — file data: inline and block files, sparse files,
 * truncate, O_APPEND, O_TRUNC, privilege clearing on write, fallocate,
 * SEEK_DATA/SEEK_HOLE, copy_file_range, a random-operation test
 * against an in-memory model, block patches, and reads of many blocks.
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
#include "fsck.h"
#include "layout.h"
#include "testutil.h"

#include "fs_fixture.h"

#include <linux/falloc.h>

/* A store with small blocks (4 KiB) and inline files up to 1 KiB. */
static void small_blocks(fs_options *o)
{
    o->block_bytes = 4096;
    o->inline_max = 1024;
    o->lsm.memtable_bytes = 256u << 10;
}

static int setup_small(void **state)
{
    return setup_with(state, small_blocks);
}

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (seed + i * 7) % 26);
}

static void check_read(T *t, uint64_t ino, off_t off, const char *want, size_t n)
{
    char *buf = malloc(n + 16);
    assert_non_null(buf);
    assert_int_equal(fs_read(t->fs, ino, buf, n + 16, off), (ssize_t)n);
    assert_memory_equal(buf, want, n);
    free(buf);
}

static int all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void test_inline_to_blocks_and_back(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    char small[100];
    fill(small, sizeof small, 1);
    assert_int_equal(fs_write(t->fs, f, small, 100, 0, 0), 100);
    struct stat st = attr(t, f);
    assert_int_equal(st.st_size, 100);
    assert_int_equal(st.st_blocks, 1);
    check_read(t, f, 0, small, 100);
    check_read(t, f, 40, small + 40, 60);
    char buf[16];
    assert_int_equal(fs_read(t->fs, f, buf, sizeof buf, 100), 0);
    assert_int_equal(fs_read(t->fs, f, buf, sizeof buf, 5000), 0);
    /* Past the inline threshold: the old bytes move to block 0. */
    size_t n = 3 * 4096 + 500;
    char *big = malloc(n);
    fill(big, n, 2);
    memcpy(big, small, 100);
    assert_int_equal(fs_write(t->fs, f, big + 100, n - 100, 100, 0), (ssize_t)(n - 100));
    check_read(t, f, 0, big, n);
    st = attr(t, f);
    assert_int_equal(st.st_size, n);
    assert_int_equal(st.st_blocks, (n + 511) / 512);
    /* Shrink to inline size: back inline, contents kept. */
    struct stat a;
    memset(&a, 0, sizeof a);
    a.st_size = 700;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    assert_int_equal(st.st_size, 700);
    check_read(t, f, 0, big, 700);
    reopen(t);
    check_read(t, f, 0, big, 700);
    /* Grow by truncation: zeros, inline while it fits. */
    a.st_size = 1000;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    char *z = malloc(1000);
    assert_int_equal(fs_read(t->fs, f, z, 1000, 0), 1000);
    assert_memory_equal(z, big, 700);
    assert_true(all_zero(z + 700, 300));
    a.st_size = 9000;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    char *r = malloc(9000);
    assert_int_equal(fs_read(t->fs, f, r, 9000, 0), 9000);
    assert_memory_equal(r, big, 700);
    assert_true(all_zero(r + 700, 9000 - 700));
    free(r);
    free(z);
    free(big);
}

static void test_no_stale_data_after_shrink(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    size_t n = 20000;
    char *d = malloc(n);
    fill(d, n, 3);
    assert_int_equal(fs_write(t->fs, f, d, n, 0, 0), (ssize_t)n);
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_size = 5000;          /* mid block 1 */
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    assert_int_equal(st.st_blocks, (5000 + 511) / 512);
    a.st_size = 20000;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    char *r = malloc(n);
    assert_int_equal(fs_read(t->fs, f, r, n, 0), (ssize_t)n);
    assert_memory_equal(r, d, 5000);
    assert_true(all_zero(r + 5000, n - 5000));
    /* Same through O_TRUNC and a write far away. */
    assert_int_equal(fs_open_file(t->fs, &t->c, f, O_WRONLY | O_TRUNC), 0);
    assert_int_equal(attr(t, f).st_size, 0);
    assert_int_equal(fs_write(t->fs, f, "z", 1, 12000, 0), 1);
    assert_int_equal(fs_read(t->fs, f, r, n, 0), 12001);
    assert_true(all_zero(r, 12000));
    assert_int_equal(r[12000], 'z');
    assert_int_equal(fs_release(t->fs, f), 0);
    free(r);
    free(d);
}

static void test_sparse_big_file(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "sparse");
    const off_t far = (off_t)1 << 40;        /* 1 TiB */
    assert_int_equal(fs_write(t->fs, f, "head", 4, 0, 0), 4);
    assert_int_equal(fs_write(t->fs, f, "tail", 4, far, 0), 4);
    struct stat st = attr(t, f);
    assert_int_equal(st.st_size, far + 4);
    assert_true(st.st_blocks <= 16);          /* two small blocks */
    char buf[8192];
    assert_int_equal(fs_read(t->fs, f, buf, sizeof buf, far / 2), (ssize_t)sizeof buf);
    assert_true(all_zero(buf, sizeof buf));
    assert_int_equal(fs_read(t->fs, f, buf, sizeof buf, far - 4), 8);
    assert_true(all_zero(buf, 4));
    assert_memory_equal(buf + 4, "tail", 4);
    assert_int_equal(fs_lseek(t->fs, f, 0, SEEK_HOLE), 4);
    assert_int_equal(fs_lseek(t->fs, f, 4, SEEK_DATA), far);
    assert_int_equal(fs_lseek(t->fs, f, far + 1, SEEK_HOLE), far + 4);
    assert_int_equal(fs_lseek(t->fs, f, far + 4, SEEK_DATA), -ENXIO);
    assert_int_equal(fs_lseek(t->fs, f, far + 4, SEEK_HOLE), -ENXIO);
    /* Writing zeros stores nothing. */
    uint64_t z = mkfile(t, FS_ROOT_INO, "zeros");
    char *zero = calloc(1, 64 << 10);
    assert_int_equal(fs_write(t->fs, z, zero, 64 << 10, 0, 0), 64 << 10);
    st = attr(t, z);
    assert_int_equal(st.st_size, 64 << 10);
    assert_int_equal(st.st_blocks, 0);
    assert_int_equal(fs_lseek(t->fs, z, 0, SEEK_DATA), -ENXIO);
    /* Overwriting data with zeros frees the block. */
    assert_int_equal(fs_write(t->fs, z, "x", 1, 5000, 0), 1);
    assert_true(attr(t, z).st_blocks > 0);
    assert_int_equal(fs_write(t->fs, z, zero, 4096, 4096, 0), 4096);
    assert_int_equal(attr(t, z).st_blocks, 0);
    free(zero);
    /* Removing the huge file is one range delete; the name goes. */
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "sparse"), 0);
    reopen(t);
    assert_int_equal(fs_getattr(t->fs, f, &st), -ENOENT);
}

static void test_append_and_priv(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    assert_int_equal(fs_write(t->fs, f, "abc", 3, 0, 0), 3);
    assert_int_equal(fs_write(t->fs, f, "def", 3, 0, FS_WRITE_APPEND), 3);
    check_read(t, f, 0, "abcdef", 6);
    assert_int_equal(fs_write(t->fs, f, "", 0, 100, 0), 0);
    assert_int_equal(attr(t, f).st_size, 6);

    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_mode = 06755;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MODE, &st), 0);
    assert_int_equal(st.st_mode & 07777, 06755);
    assert_int_equal(fs_write(t->fs, f, "g", 1, 6, FS_WRITE_KEEP_PRIV), 1);
    assert_int_equal(attr(t, f).st_mode & 07777, 06755);
    /* fs_write: a writer with no privilege in no group. */
    a.st_mode = 06744;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MODE, &st), 0);
    assert_int_equal(fs_write(t->fs, f, "h", 1, 7, 0), 1);
    assert_int_equal(attr(t, f).st_mode & 07777, 0744);
    /* Writes update mtime and ctime. */
    age(t, f);
    assert_int_equal(fs_write(t->fs, f, "j", 1, 9, 0), 1);
    st = attr(t, f);
    assert_true(st.st_mtim.tv_sec > 1000 && st.st_ctim.tv_sec > 1000);
    /* Data operations on non-files. */
    uint64_t d = mkdir_(t, FS_ROOT_INO, "d");
    char buf[4];
    assert_int_equal(fs_write(t->fs, d, "x", 1, 0, 0), -EISDIR);
    assert_int_equal(fs_read(t->fs, d, buf, 4, 0), -EISDIR);
    assert_int_equal(fs_open_file(t->fs, &t->c, d, O_WRONLY), -EISDIR);
    assert_int_equal(fs_open_file(t->fs, &t->c, d, O_RDONLY), 0);
    assert_int_equal(fs_release(t->fs, d), 0);
    assert_int_equal(fs_write(t->fs, f, "x", 1, -1, 0), -EINVAL);
    assert_int_equal(fs_write(t->fs, f, "x", 1, INT64_MAX, 0), -EFBIG);
    assert_int_equal(fs_write(t->fs, 999999, "x", 1, 0, 0), -ENOENT);
    a.st_size = 0;
    assert_int_equal(fs_setattr(t->fs, &t->c, d, &a, FS_SET_SIZE, &st), -EISDIR);
    a.st_size = -1;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), -EINVAL);
}

/* The kernel's rules for clearing setuid/setgid (setattr_should_drop_suidgid
 * and chown_common), applied by every kind of change for several callers. */
static int in_group_50(const fs_cred *c, gid_t g)
{
    (void)c;
    return g == 50;
}

static int holds_fsetid(const fs_cred *c)
{
    (void)c;
    return 1;
}

enum priv_op { OP_WRITE, OP_TRUNCATE, OP_KILL, OP_OTRUNC, OP_CHOWN, OP_COUNT };

/* Gives f mode `mode` and group 50, applies op as c, returns the mode. */
static mode_t priv_after(T *t, uint64_t f, mode_t mode, enum priv_op op,
                         const fs_cred *c)
{
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_mode = mode;
    a.st_gid = 50;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MODE | FS_SET_GID, &st), 0);
    assert_int_equal(st.st_mode & 07777, mode);
    a.st_size = 1;
    a.st_uid = 7;
    switch (op) {
    case OP_WRITE:
        assert_int_equal(fs_write_as(t->fs, c, f, "x", 1, 0, 0), 1);
        break;
    case OP_TRUNCATE:
        assert_int_equal(fs_setattr(t->fs, c, f, &a, FS_SET_SIZE, &st), 0);
        break;
    case OP_KILL:
        assert_int_equal(fs_setattr(t->fs, c, f, &a, FS_SET_KILL_PRIV, &st), 0);
        break;
    case OP_OTRUNC:
        assert_int_equal(fs_open_file(t->fs, c, f, O_WRONLY | O_TRUNC), 0);
        assert_int_equal(fs_release(t->fs, f), 0);
        break;
    default:
        assert_int_equal(fs_setattr(t->fs, c, f, &a, FS_SET_UID, &st), 0);
        break;
    }
    return attr(t, f).st_mode & 07777;
}

static void test_kill_priv_rules(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    fs_cred stranger = { .uid = 1000, .gid = 1000 };
    fs_cred member = { .uid = 1000, .gid = 50 };
    fs_cred supp = { .uid = 1000, .gid = 1000, .in_group = in_group_50 };
    fs_cred root = { .uid = 0, .gid = 0 };
    fs_cred capable = { .uid = 1000, .gid = 1000, .has_fsetid = holds_fsetid };
    static const struct {
        mode_t mode;
        int who;                 /* 0 stranger 1 member 2 supp 3 root 4 capable */
        mode_t after_write;      /* write, truncate, kill, O_TRUNC */
        mode_t after_chown;
    } cases[] = {
        { 06766, 0, 0766, 0766 },
        { 06666, 0, 0666, 0666 },
        { 02666, 0, 0666, 0666 },    /* setgid, no group-exec, outsider */
        { 02666, 1, 02666, 02666 },  /* ... the writer's own group */
        { 02666, 2, 02666, 02666 },  /* ... a supplementary group */
        { 02755, 1, 0755, 0755 },    /* group-exec: setgid goes anyway */
        { 06766, 1, 02766, 02766 },
        { 06766, 3, 06766, 02766 },  /* CAP_FSETID keeps both; chown: setuid goes */
        { 06755, 3, 06755, 0755 },
        { 06766, 4, 06766, 02766 },
        { 0755, 0, 0755, 0755 },
    };
    const fs_cred *who[] = { &stranger, &member, &supp, &root, &capable };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int op = 0; op < OP_COUNT; op++) {
            mode_t want = op == OP_CHOWN ? cases[i].after_chown : cases[i].after_write;
            mode_t got = priv_after(t, f, cases[i].mode, (enum priv_op)op,
                                    who[cases[i].who]);
            if (got != want)
                fail_msg("case %zu op %d: mode %o -> %o, want %o", i, op,
                         (unsigned)cases[i].mode, (unsigned)got, (unsigned)want);
        }
    }
    /* fallocate (any mode, changing bytes or not) and copy_file_range
     * into the file clear the bits as a write by the caller does (the
     * kernel leaves it to the daemon under FUSE_HANDLE_KILLPRIV_V2);
     * copying out of the file does not. */
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_mode = 06766;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MODE, &st), 0);
    assert_int_equal(fs_fallocate_as(t->fs, &capable, f, 0, 0, 100000), 0);
    assert_int_equal(attr(t, f).st_mode & 07777, 06766);
    assert_int_equal(fs_fallocate_as(t->fs, &stranger, f, FALLOC_FL_KEEP_SIZE,
                                     0, 10), 0);
    assert_int_equal(attr(t, f).st_mode & 07777, 0766);
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_MODE, &st), 0);
    uint64_t g = mkfile(t, FS_ROOT_INO, "g");
    assert_int_equal(fs_copy_file_range_as(t->fs, &stranger, f, 0, g, 0, 10), 10);
    assert_int_equal(attr(t, f).st_mode & 07777, 06766);
    assert_int_equal(fs_copy_file_range_as(t->fs, &capable, g, 0, f, 0, 10), 10);
    assert_int_equal(attr(t, f).st_mode & 07777, 06766);
    assert_int_equal(fs_copy_file_range_as(t->fs, &supp, g, 0, f, 0, 10), 10);
    assert_int_equal(attr(t, f).st_mode & 07777, 02766);
    /* chmod: setgid only for a member of the group or CAP_FSETID, which
     * also completes the kernel's half-done clearing after a write (it
     * sends the mode minus setuid, setgid kept when not group-exec). */
    a.st_mode = 02766;
    assert_int_equal(fs_setattr(t->fs, &stranger, f, &a, FS_SET_MODE, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0766);
    assert_int_equal(fs_setattr(t->fs, &supp, f, &a, FS_SET_MODE, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02766);
    assert_int_equal(fs_setattr(t->fs, &capable, f, &a, FS_SET_MODE, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02766);
    /* Directories keep setgid (it is inheritance there). */
    assert_int_equal(fs_mode_after_write(&stranger, S_IFDIR | 02775, 50),
                     S_IFDIR | 02775);
}

static void test_fallocate(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    struct stat st;
    assert_int_equal(fs_fallocate(t->fs, f, 0, 0, 10000), 0);
    assert_int_equal(attr(t, f).st_size, 10000);
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_KEEP_SIZE, 0, 50000), 0);
    assert_int_equal(attr(t, f).st_size, 10000);
    assert_int_equal(fs_fallocate(t->fs, f, 0, 100, 100), 0);
    assert_int_equal(attr(t, f).st_size, 10000);
    size_t n = 5 * 4096;
    char *d = malloc(n), *r = malloc(n);
    fill(d, n, 9);
    assert_int_equal(fs_write(t->fs, f, d, n, 0, 0), (ssize_t)n);
    /* Punch [1000, 13000): partial, two whole blocks, partial. */
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  1000, 12000), 0);
    st = attr(t, f);
    assert_int_equal(st.st_size, n);
    memset(d + 1000, 0, 12000);
    assert_int_equal(fs_read(t->fs, f, r, n, 0), (ssize_t)n);
    assert_memory_equal(r, d, n);
    assert_int_equal(fs_lseek(t->fs, f, 1000, SEEK_DATA), 12288);
    assert_int_equal(fs_lseek(t->fs, f, 0, SEEK_HOLE), 1000);
    /* Punching past the end changes nothing but stays valid. */
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  (off_t)n + 10, 100), 0);
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_PUNCH_HOLE, 0, 10), -EINVAL);
    assert_int_equal(fs_fallocate(t->fs, f, 0, 0, 0), -EINVAL);
    assert_int_equal(fs_fallocate(t->fs, f, 0, -1, 10), -EINVAL);
    assert_int_equal(fs_fallocate(t->fs, f, 0x40 /* ZERO_RANGE */, 0, 10), -EOPNOTSUPP);
    uint64_t dir = mkdir_(t, FS_ROOT_INO, "d");
    assert_int_equal(fs_fallocate(t->fs, dir, 0, 0, 10), -EISDIR);
    /* Punch inside an inline file. */
    uint64_t g = mkfile(t, FS_ROOT_INO, "g");
    assert_int_equal(fs_write(t->fs, g, "abcdefgh", 8, 0, 0), 8);
    assert_int_equal(fs_fallocate(t->fs, g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  2, 3), 0);
    check_read(t, g, 0, "ab\0\0\0fgh", 8);
    reopen(t);
    assert_int_equal(fs_read(t->fs, f, r, n, 0), (ssize_t)n);
    assert_memory_equal(r, d, n);
    check_read(t, g, 0, "ab\0\0\0fgh", 8);
    free(d);
    free(r);
}

static void test_lseek(void **state)
{
    T *t = *state;
    uint64_t f = mkfile(t, FS_ROOT_INO, "f");
    char blk[4096];
    fill(blk, sizeof blk, 4);
    /* Data in blocks 2 and 3 (block 3 short), hole, data in block 6. */
    assert_int_equal(fs_write(t->fs, f, blk, 4096, 2 * 4096, 0), 4096);
    assert_int_equal(fs_write(t->fs, f, blk, 100, 3 * 4096, 0), 100);
    assert_int_equal(fs_write(t->fs, f, blk, 4096, 6 * 4096, 0), 4096);
    assert_int_equal(fs_write(t->fs, f, "", 0, 0, 0), 0);
    assert_int_equal(fs_lseek(t->fs, f, 0, SEEK_DATA), 2 * 4096);
    assert_int_equal(fs_lseek(t->fs, f, 2 * 4096 + 5, SEEK_DATA), 2 * 4096 + 5);
    assert_int_equal(fs_lseek(t->fs, f, 2 * 4096, SEEK_HOLE), 3 * 4096 + 100);
    assert_int_equal(fs_lseek(t->fs, f, 3 * 4096 + 200, SEEK_DATA), 6 * 4096);
    assert_int_equal(fs_lseek(t->fs, f, 3 * 4096 + 200, SEEK_HOLE), 3 * 4096 + 200);
    assert_int_equal(fs_lseek(t->fs, f, 6 * 4096, SEEK_HOLE), 7 * 4096);
    assert_int_equal(fs_lseek(t->fs, f, 7 * 4096, SEEK_DATA), -ENXIO);
    assert_int_equal(fs_lseek(t->fs, f, 0, SEEK_SET), -EINVAL);
    assert_int_equal(fs_lseek(t->fs, f, -1, SEEK_DATA), -ENXIO);
    /* Extended by truncation: the tail is a hole up to the size. */
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_size = 10 * 4096;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    assert_int_equal(fs_lseek(t->fs, f, 6 * 4096 + 10, SEEK_HOLE), 7 * 4096);
    assert_int_equal(fs_lseek(t->fs, f, 7 * 4096, SEEK_DATA), -ENXIO);
    assert_int_equal(fs_lseek(t->fs, f, 9 * 4096, SEEK_HOLE), 9 * 4096);
    /* Inline files are all data. */
    uint64_t g = mkfile(t, FS_ROOT_INO, "g");
    assert_int_equal(fs_write(t->fs, g, "abc", 3, 0, 0), 3);
    assert_int_equal(fs_lseek(t->fs, g, 1, SEEK_DATA), 1);
    assert_int_equal(fs_lseek(t->fs, g, 1, SEEK_HOLE), 3);
    assert_int_equal(fs_lseek(t->fs, g, 3, SEEK_DATA), -ENXIO);
}

static void test_copy_file_range(void **state)
{
    T *t = *state;
    uint64_t src = mkfile(t, FS_ROOT_INO, "src");
    uint64_t dst = mkfile(t, FS_ROOT_INO, "dst");
    size_t n = 3 * 4096;
    char *d = malloc(n), *r = malloc(2 * n + 100);
    fill(d, n, 5);
    assert_int_equal(fs_write(t->fs, src, d, n, 0, 0), (ssize_t)n);
    assert_int_equal(fs_write(t->fs, src, "end", 3, 100000, 0), 3);
    assert_int_equal(fs_copy_file_range(t->fs, src, 0, dst, 50, n), (ssize_t)n);
    assert_int_equal(fs_read(t->fs, dst, r, 2 * n, 0), (ssize_t)n + 50);
    assert_true(all_zero(r, 50));
    assert_memory_equal(r + 50, d, n);
    /* Past the source's end: 0; a range crossing it: short. */
    assert_int_equal(fs_copy_file_range(t->fs, src, 200000, dst, 0, 10), 0);
    assert_int_equal(fs_copy_file_range(t->fs, src, 100001, dst, 0, 100), 2);
    assert_int_equal(fs_read(t->fs, dst, r, 2, 0), 2);
    assert_memory_equal(r, "nd", 2);
    /* A hole copies as a hole. */
    uint64_t h = mkfile(t, FS_ROOT_INO, "h");
    assert_int_equal(fs_copy_file_range(t->fs, src, 20000, h, 0, 60000), 60000);
    assert_int_equal(attr(t, h).st_size, 60000);
    assert_int_equal(attr(t, h).st_blocks, 0);
    /* Overlap within one file is refused; disjoint ranges work. */
    assert_int_equal(fs_copy_file_range(t->fs, src, 0, src, 100, 200), -EINVAL);
    assert_int_equal(fs_copy_file_range(t->fs, src, 0, src, 200000, 100), 100);
    check_read(t, src, 200000, d, 100);
    uint64_t dir = mkdir_(t, FS_ROOT_INO, "d");
    assert_int_equal(fs_copy_file_range(t->fs, dir, 0, dst, 0, 10), -EISDIR);
    assert_int_equal(fs_copy_file_range(t->fs, src, 0, dir, 0, 10), -EISDIR);
    free(d);
    free(r);
}

/* The model steps the random tests share: truncate to ns, punch
 * [off, off + len) keeping the size. */
static void model_truncate(T *t, uint64_t f, char *model, size_t *size, size_t ns)
{
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_size = (off_t)ns;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    if (ns < *size)
        memset(model + ns, 0, *size - ns);
    *size = ns;
}

static void model_punch(T *t, uint64_t f, char *model, size_t size, size_t off,
                        size_t len)
{
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  (off_t)off, (off_t)len), 0);
    if (off < size)
        memset(model + off, 0, (off + len < size ? off + len : size) - off);
}

/* An append of 1..300 bytes (size < cap) as the writeback cache sends
 * it: from the start of the last page (one time in three from the old
 * end), the new bytes zeros one time in eight, and one time in six a
 * resent byte changed, which the append must write too. */
static void model_append(T *t, uint64_t f, char *model, size_t *size,
                         size_t cap, uint64_t *seed, unsigned tag)
{
    size_t n = 1 + (size_t)(tu_rand(seed) % 300);
    if (*size + n > cap)
        n = cap - *size;
    size_t from = *size - *size % 4096;
    if (tu_rand(seed) % 3 == 0)
        from = *size;
    if (tu_rand(seed) % 8 == 0)
        memset(model + *size, 0, n);
    else
        fill(model + *size, n, tag);
    if (tu_rand(seed) % 6 == 0 && *size > from)
        model[from + (*size - from) / 2] ^= 1;
    *size += n;
    assert_int_equal(fs_write(t->fs, f, model + from, *size - from, (off_t)from, 0),
                     (ssize_t)(*size - from));
}

/* Random writes, truncates, punches and reads against a memory model. */
static void test_random_model(void **state)
{
    T *t = *state;
    const size_t cap = 64 * 1024;
    char *model = calloc(1, cap), *buf = malloc(cap), *r = malloc(cap);
    size_t size = 0;
    uint64_t seed = 12345;
    uint64_t f = mkfile(t, FS_ROOT_INO, "m");
    for (int i = 0; i < 1500; i++) {
        unsigned op = (unsigned)(tu_rand(&seed) % 10);
        size_t off = (size_t)(tu_rand(&seed) % (cap - 1));
        size_t len = (size_t)(tu_rand(&seed) % (tu_rand(&seed) % 2 ? 64 : 9000)) + 1;
        if (off + len > cap)
            len = cap - off;
        if (op < 5) {
            int zeros = tu_rand(&seed) % 4 == 0;
            if (zeros)
                memset(buf, 0, len);
            else
                fill(buf, len, (unsigned)i);
            assert_int_equal(fs_write(t->fs, f, buf, len, (off_t)off, 0), (ssize_t)len);
            memcpy(model + off, buf, len);
            if (off + len > size)
                size = off + len;
        } else if (op < 7) {
            model_truncate(t, f, model, &size, tu_rand(&seed) % 2 ? off : off / 16);
        } else if (op < 8) {
            model_punch(t, f, model, size, off, len);
        } else {
            ssize_t want = off >= size ? 0 : (ssize_t)((off + len < size ? off + len : size) - off);
            assert_int_equal(fs_read(t->fs, f, r, len, (off_t)off), want);
            if (want > 0)
                assert_memory_equal(r, model + off, (size_t)want);
        }
        if (i % 300 == 299)
            reopen(t);
        struct stat st = attr(t, f);
        assert_int_equal(st.st_size, size);
        assert_true((size_t)st.st_blocks * 512 <= ((size + 4095) & ~(size_t)4095) + 4096);
    }
    assert_int_equal(fs_read(t->fs, f, r, cap, 0), (ssize_t)size);
    assert_memory_equal(r, model, size);
    /* Block accounting matches the stored data after a reopen too. */
    struct stat before = attr(t, f);
    reopen(t);
    assert_int_equal(attr(t, f).st_blocks, before.st_blocks);
    free(model);
    free(buf);
    free(r);
}

/* --- block patches (file.c): small writes into fully stored files ------- */

/* Patch keys of ino in the store (the fs closed and reopened around). */
static int patch_keys(T *t, uint64_t ino)
{
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
    lsm_db *db;
    assert_int_equal(lsm_open(t->store, NULL, &db), LSM_OK);
    char lo[32], hi[32];
    size_t ll = fs_key_ino_prefix(lo, FS_KEY_BLOCK, ino);
    size_t hl = fs_key_ino_end(hi, FS_KEY_BLOCK, ino);
    lsm_iter *it = lsm_iter_new(db, NULL);
    int n = 0;
    for (lsm_iter_seek(it, lo, ll); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl;
        const char *k = lsm_iter_key(it, &kl);
        if (memcmp(k, hi, kl < hl ? kl : hl) >= 0)
            break;
        uint64_t kino, blk;
        n += fs_decode_patch_key(k, kl, &kino, &blk) == 0;
    }
    assert_int_equal(lsm_iter_status(it), LSM_OK);
    lsm_iter_free(it);
    assert_int_equal(lsm_close(db), LSM_OK);
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
    return n;
}

static void check_model(T *t, uint64_t ino, const char *model, size_t size)
{
    char *r = malloc(size + 1);
    assert_int_equal(fs_read(t->fs, ino, r, size + 1, 0), (ssize_t)size);
    assert_memory_equal(r, model, size);
    free(r);
    assert_int_equal(attr(t, ino).st_size, (off_t)size);
}

static void put_model(T *t, uint64_t ino, char *model, size_t off, size_t n,
                      unsigned seed)
{
    char buf[4096];
    assert_true(n <= sizeof buf);
    fill(buf, n, seed);
    assert_int_equal(fs_write(t->fs, ino, buf, n, (off_t)off, 0), (ssize_t)n);
    memcpy(model + off, buf, n);
}

/* fsck of the store (the fs closed and reopened around) finds it clean. */
static void fsck_clean(T *t)
{
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
    fsck_options fo;
    fsck_options_init(&fo);
    fsck_result fr;
    assert_int_equal(fs_fsck(t->store, &fo, &fr), FSCK_EXIT_CLEAN);
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
}

/* A write over part of a block of a fully stored file is a patch (no
 * read-and-rewrite of the block), read back merged, across reopen;
 * patches fold into their block past half a block; truncate, punch and
 * unlink remove them with their blocks; fsck finds the store clean. */
static void test_block_patches(void **state)
{
    T *t = *state;
    const size_t bs = 4096, size = 8 * bs;
    char *model = malloc(size);
    uint64_t f = mkfile(t, FS_ROOT_INO, "p");
    fill(model, size, 1);
    assert_int_equal(fs_write(t->fs, f, model, size, 0, 0), (ssize_t)size);
    assert_int_equal(patch_keys(t, f), 0);

    put_model(t, f, model, bs + 100, 200, 2);         /* block 1 */
    put_model(t, f, model, 3 * bs + 4000, 300, 3);    /* blocks 3 and 4 */
    assert_int_equal(patch_keys(t, f), 3);
    check_model(t, f, model, size);
    assert_int_equal(attr(t, f).st_blocks, (blkcnt_t)(size / 512));

    /* Overlapping writes into block 1 merge into one patch. */
    put_model(t, f, model, bs + 50, 100, 4);
    put_model(t, f, model, bs + 280, 10, 5);
    assert_int_equal(patch_keys(t, f), 3);
    check_model(t, f, model, size);
    /* Past half a block, block 1's patch folds into the block. */
    put_model(t, f, model, bs + 1000, 1900, 6);
    assert_int_equal(patch_keys(t, f), 2);
    check_model(t, f, model, size);

    /* Truncate inside patched block 3: its patch goes with the bytes cut. */
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_size = (off_t)(3 * bs + 4050);
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    memset(model + a.st_size, 0, size - (size_t)a.st_size);
    check_model(t, f, model, (size_t)a.st_size);
    a.st_size = (off_t)size;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    check_model(t, f, model, size);

    /* Punch over a patched block, then patch a block next to the hole. */
    put_model(t, f, model, 6 * bs + 10, 20, 7);
    put_model(t, f, model, 5 * bs + 10, 20, 8);
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  (off_t)(5 * bs), (off_t)bs), 0);
    memset(model + 5 * bs, 0, bs);
    check_model(t, f, model, size);
    put_model(t, f, model, 5 * bs + 30, 40, 9);       /* into the hole */
    put_model(t, f, model, 6 * bs + 500, 40, 10);
    reopen(t);
    check_model(t, f, model, size);

    /* Many small writes everywhere: reads stay right, patches bounded. */
    uint64_t seed = 99;
    for (int i = 0; i < 400; i++) {
        size_t n = 1 + (size_t)(tu_rand(&seed) % 700);
        size_t off = (size_t)(tu_rand(&seed) % (size - n));
        put_model(t, f, model, off, n, (unsigned)i + 11);
        if (i % 100 == 99)
            check_model(t, f, model, size);
    }
    assert_true(patch_keys(t, f) <= 8);
    check_model(t, f, model, size);
    fsck_clean(t);

    /* Shrinking to inline size drops every block and patch. */
    a.st_size = 100;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    assert_int_equal(patch_keys(t, f), 0);
    check_model(t, f, model, 100);
    free(model);
}

/* Appends lines to a fully stored file the way the writeback cache sends
 * them: from a page start (here the block's: pages are 4 KiB like the
 * blocks) at most `back` bytes before the end, up to the new end. */
static void append_model(T *t, uint64_t ino, char *model, size_t *size,
                         size_t n, size_t back, unsigned seed)
{
    size_t from = *size - *size % 4096;
    if (*size - from > back)
        from = *size - back;
    fill(model + *size, n, seed);
    *size += n;
    assert_int_equal(fs_write(t->fs, ino, model + from, *size - from, (off_t)from, 0),
                     (ssize_t)(*size - from));
}

/* An append to the last block of a fully stored file goes into the
 * block's patch, the bytes resent unchanged left out; st_blocks counts
 * the appended bytes; the patch folds into the block past an eighth of a
 * block (512 bytes here); truncate and punch count what they drop; fsck
 * finds alloc right with a patch reaching past its block. */
static void test_append_patches(void **state)
{
    T *t = *state;
    const size_t bs = 4096, cap = 4 * bs;
    char *model = malloc(cap);
    size_t size = 2 * bs + 1000;
    uint64_t f = mkfile(t, FS_ROOT_INO, "log");
    fill(model, size, 1);
    assert_int_equal(fs_write(t->fs, f, model, size, 0, 0), (ssize_t)size);

    for (unsigned i = 0; i < 5; i++)
        append_model(t, f, model, &size, 40, 4096, 10 + i);
    assert_int_equal(patch_keys(t, f), 1);
    check_model(t, f, model, size);
    assert_int_equal(attr(t, f).st_blocks, (blkcnt_t)((size + 511) / 512));
    fsck_clean(t);

    /* 13 appends of 40 bytes pass 512: the patch folds, the next starts one. */
    for (unsigned i = 0; i < 8; i++)
        append_model(t, f, model, &size, 40, 4096, 20 + i);
    assert_int_equal(patch_keys(t, f), 0);
    append_model(t, f, model, &size, 40, 300, 30);
    assert_int_equal(patch_keys(t, f), 1);
    check_model(t, f, model, size);

    /* A resent head that differs (an overwrite and an append at once). */
    model[size - 10] ^= 1;
    append_model(t, f, model, &size, 40, 100, 31);
    check_model(t, f, model, size);
    assert_int_equal(attr(t, f).st_blocks, (blkcnt_t)((size + 511) / 512));

    /* Truncate into the appended bytes, then append again. */
    struct stat a, st;
    memset(&a, 0, sizeof a);
    size -= 20;
    a.st_size = (off_t)size;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    check_model(t, f, model, size);
    assert_int_equal(attr(t, f).st_blocks, (blkcnt_t)((size + 511) / 512));
    append_model(t, f, model, &size, 40, 100, 32);
    check_model(t, f, model, size);
    fsck_clean(t);

    /* Appends run into the next block: it starts whole, no patch. */
    while (size < 3 * bs + 100)
        append_model(t, f, model, &size, 200, 4096, 40 + (unsigned)size % 7);
    check_model(t, f, model, size);
    reopen(t);
    check_model(t, f, model, size);
    assert_int_equal(attr(t, f).st_blocks, (blkcnt_t)((size + 511) / 512));
    fsck_clean(t);

    /* Truncate to the start of the patched last block: it goes whole. */
    append_model(t, f, model, &size, 40, 100, 49);
    assert_int_equal(patch_keys(t, f), 1);
    size = 3 * bs;
    a.st_size = (off_t)size;
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    assert_int_equal(attr(t, f).st_blocks, (blkcnt_t)(size / 512));
    assert_int_equal(patch_keys(t, f), 0);
    append_model(t, f, model, &size, 300, 100, 48);
    append_model(t, f, model, &size, 40, 100, 47);

    /* Punch the last two blocks (one patched): st_blocks drops by them. */
    append_model(t, f, model, &size, 40, 100, 50);
    assert_int_equal(patch_keys(t, f), 1);
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  (off_t)(2 * bs), (off_t)(2 * bs)), 0);
    memset(model + 2 * bs, 0, size - 2 * bs);
    check_model(t, f, model, size);
    assert_int_equal(attr(t, f).st_blocks, (blkcnt_t)(2 * bs / 512));
    assert_int_equal(patch_keys(t, f), 0);
    fsck_clean(t);
    free(model);
}

/* Writes a fully stored file, then patches, in a process that dies. */
static uint64_t patched_file(fs_t *fs, const fs_cred *c)
{
    struct stat st;
    if (fs_mknod(fs, c, FS_ROOT_INO, "q", S_IFREG | 0644, 0, &st) != 0)
        return 0;
    char buf[4 * 4096];
    fill(buf, sizeof buf, 1);
    if (fs_write(fs, st.st_ino, buf, sizeof buf, 0, 0) != (ssize_t)sizeof buf)
        return 0;
    for (unsigned i = 0; i < 3; i++) {
        fill(buf, 100, 20 + i);
        if (fs_write(fs, st.st_ino, buf, 100, (off_t)(i * 4096 + 7 * i + 1), 0) != 100)
            return 0;
    }
    return st.st_ino;
}

static void test_block_patches_crash(void **state)
{
    T *t = *state;
    uint64_t ino = crash_after(t, patched_file);
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
    char model[4 * 4096];
    fill(model, sizeof model, 1);
    for (unsigned i = 0; i < 3; i++)
        fill(model + i * 4096 + 7 * i + 1, 100, 20 + i);
    check_model(t, ino, model, sizeof model);
    assert_int_equal(patch_keys(t, ino), 3);
    assert_int_equal(fs_unlink(t->fs, FS_ROOT_INO, "q"), 0);
    assert_int_equal(patch_keys(t, ino), 0);
}


/* --- reads of many blocks (file.c read_scan) -------------------------------- */

/* fs_read of [off, off + len) against the model of a file of `size`
 * bytes: the bytes inside the size, 0 at or past it. */
static void check_range(T *t, uint64_t ino, const char *model, size_t size,
                        size_t off, size_t len)
{
    size_t want = off >= size ? 0 : (len < size - off ? len : size - off);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    memset(buf, 0x5a, len + 1);
    ssize_t got = fs_read(t->fs, ino, buf, len, (off_t)off);
    if (got != (ssize_t)want)
        fail_msg("read of %zu at %zu: %zd bytes, want %zu", len, off, got, want);
    if (want > 0 && memcmp(buf, model + off, want) != 0)
        fail_msg("inode %llu: read of %zu at %zu: wrong bytes", (unsigned long long)ino, len, off);
    free(buf);
}

/* Every window over the file: starts at, next to and between block
 * boundaries, lengths under and over the many-block threshold, windows
 * reaching past the end, and starts at and past the end. */
static void check_windows(T *t, uint64_t ino, const char *model, size_t size)
{
    const size_t bs = 4096;
    const size_t offs[] = { 0, 1, bs - 1, bs, 5 * bs - 20, 6 * bs - 25,
                            10 * bs + 7, 29 * bs + 4000, size - 5 * bs - 3,
                            size - 1, size, size + 9 };
    const size_t lens[] = { 1, 100, bs, 3 * bs + 1, 4 * bs, 5 * bs + 7,
                            17 * bs, size + 100 };
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++)
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++)
            check_range(t, ino, model, size, offs[i], lens[j]);
}

static lsm_stats engine_stats(T *t)
{
    lsm_stats st;
    lsm_get_stats(fs_engine(t->fs), &st);
    return st;
}

/* A read of many blocks is exact over holes (never written, punched, and
 * past a short block's stored bytes), block patches (first, middle,
 * spanning two blocks, in a last block that ends mid-block), files ending
 * mid-block, and past the end; from the memtable and, after a reopen,
 * from tables.  Such a read leaves the block cache as it was: a stream
 * does not push out cached blocks (a lookup per block cached each). */
static void test_read_many_blocks(void **state)
{
    T *t = *state;
    const size_t bs = 4096;

    /* Sparse: blocks 0-9 data, 10-14 never written, 15-29 data, block
     * 30 100 bytes then zeros, 31-39 hole, block 40 1000 bytes (the end). */
    const size_t ssize = 40 * bs + 1000;
    char *sm = calloc(1, ssize);
    uint64_t sf = mkfile(t, FS_ROOT_INO, "sparse");
    fill(sm, 10 * bs, 1);
    fill(sm + 15 * bs, 15 * bs, 2);
    fill(sm + 30 * bs, 100, 3);
    fill(sm + 40 * bs, 1000, 4);
    const size_t runs[][2] = { { 0, 10 * bs }, { 15 * bs, 15 * bs },
                               { 30 * bs, 100 }, { 40 * bs, 1000 } };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(fs_write(t->fs, sf, sm + runs[i][0], runs[i][1],
                                  (off_t)runs[i][0], 0), (ssize_t)runs[i][1]);
    assert_int_equal(fs_fallocate(t->fs, sf, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  (off_t)(20 * bs), (off_t)(2 * bs)), 0);
    memset(sm + 20 * bs, 0, 2 * bs);

    /* Fully stored, then patched: 20 blocks and 500 bytes. */
    const size_t psize = 20 * bs + 500;
    char *pm = malloc(psize);
    uint64_t pf = mkfile(t, FS_ROOT_INO, "patched");
    fill(pm, psize, 5);
    assert_int_equal(fs_write(t->fs, pf, pm, psize, 0, 0), (ssize_t)psize);
    put_model(t, pf, pm, 10, 50, 6);                  /* block 0 */
    put_model(t, pf, pm, 6 * bs - 20, 40, 7);         /* blocks 5 and 6 */
    put_model(t, pf, pm, 12 * bs + 4000, 30, 8);      /* block 12 */
    put_model(t, pf, pm, 20 * bs + 100, 200, 9);      /* the last block */

    check_windows(t, sf, sm, ssize);
    check_windows(t, pf, pm, psize);
    assert_int_equal(patch_keys(t, pf), 5);           /* reopens */
    check_windows(t, pf, pm, psize);
    check_windows(t, sf, sm, ssize);

    /* Cold cache: one read of the whole sparse file from tables. */
    reopen(t);
    /* No compaction moves blocks between tables meanwhile.  (The read
     * filled the cache when the file was in level 1 or deeper: their
     * iterators ignored no_fill_cache.) */
    lsm_hold_compactions(fs_engine(t->fs), 1);
    lsm_stats before = engine_stats(t);
    check_range(t, sf, sm, ssize, 0, ssize);
    check_range(t, sf, sm, ssize, 0, ssize);
    lsm_stats after = engine_stats(t);
    lsm_hold_compactions(fs_engine(t->fs), 0);
    assert_true(after.blocks_read > before.blocks_read);
    /* 26 data blocks were read, twice (a lookup that may fill the cache
     * caches a block at its second read: lsm_cache_admit); the inode and
     * patch lookups around them may cache a block or two (more when a
     * background compaction split the file across tables), a lookup per
     * data block caches them all. */
    assert_true(after.cache_bytes < before.cache_bytes + 4 * bs);
    free(sm);
    free(pm);
}

/* SEEK_DATA / SEEK_HOLE see the bytes an append put in a patch past its
 * block, also once the block is no longer the file's last. */
static void test_append_seek(void **state)
{
    T *t = *state;
    char d[4096];
    fill(d, sizeof d, 3);
    uint64_t f = mkfile(t, FS_ROOT_INO, "s");
    assert_int_equal(fs_write(t->fs, f, d, 2000, 0, 0), 2000);
    assert_int_equal(fs_write(t->fs, f, d + 2000, 100, 2000, 0), 100);
    assert_int_equal(patch_keys(t, f), 1);
    assert_int_equal(fs_lseek(t->fs, f, 0, SEEK_HOLE), 2100);
    assert_int_equal(fs_lseek(t->fs, f, 2050, SEEK_DATA), 2050);
    assert_int_equal(fs_write(t->fs, f, d, 4096, 8192, 0), 4096);
    assert_int_equal(fs_lseek(t->fs, f, 0, SEEK_HOLE), 2100);
    assert_int_equal(fs_lseek(t->fs, f, 2050, SEEK_DATA), 2050);
}

/* fallocate's reservations count an append's patched bytes as stored. */
static void test_append_reservations(void **state)
{
    T *t = *state;
    char d[4096];
    fill(d, sizeof d, 3);
    uint64_t f = mkfile(t, FS_ROOT_INO, "r");
    assert_int_equal(fs_write(t->fs, f, d, 2000, 0, 0), 2000);
    assert_int_equal(fs_write(t->fs, f, d + 2000, 500, 2000, 0), 500);
    assert_int_equal(patch_keys(t, f), 1);
    blkcnt_t before = attr(t, f).st_blocks;
    assert_int_equal(fs_fallocate(t->fs, f, FALLOC_FL_KEEP_SIZE, 0, 2500), 0);
    assert_int_equal(attr(t, f).st_blocks, before);

    uint64_t g = mkfile(t, FS_ROOT_INO, "r2");
    assert_int_equal(fs_write(t->fs, g, d, 2000, 0, 0), 2000);
    assert_int_equal(fs_fallocate(t->fs, g, FALLOC_FL_KEEP_SIZE, 0, 4096), 0);
    assert_int_equal(fs_write(t->fs, g, d + 2000, 500, 2000, 0), 500);
    assert_int_equal(patch_keys(t, g), 1);
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_size = 2400;
    assert_int_equal(fs_setattr(t->fs, &t->c, g, &a, FS_SET_SIZE, &st), 0);
    assert_int_equal(attr(t, g).st_blocks, (2400 + 511) / 512);
}

/* Asserts SEEK_DATA and SEEK_HOLE from p agree with the model. */
static void check_seek(T *t, uint64_t f, const char *model, size_t size, size_t p)
{
    off_t dd = fs_lseek(t->fs, f, (off_t)p, SEEK_DATA);
    off_t hh = fs_lseek(t->fs, f, (off_t)p, SEEK_HOLE);
    size_t dend = dd < 0 ? size : (size_t)dd;
    for (size_t q = p; q < dend; q++)
        assert_int_equal(model[q], 0);
    assert_true(hh >= (off_t)p && (size_t)hh <= size);
    if ((size_t)hh < size)
        assert_int_equal(model[hh], 0);
}

/* Random appends (the page head resent, sometimes changed), writes,
 * truncates, punches, fallocates and seeks against a model; fsck every
 * 500 operations. */
static void test_append_random_model(void **state)
{
    T *t = *state;
    const size_t cap = 48 * 1024;
    char *model = calloc(1, cap), *buf = malloc(cap), *r = malloc(cap);
    size_t size = 0;
    uint64_t seed = 777;
    uint64_t f = mkfile(t, FS_ROOT_INO, "ra");
    for (int i = 0; i < 2000; i++) {
        unsigned op = (unsigned)(tu_rand(&seed) % 20);
        size_t off = (size_t)(tu_rand(&seed) % (cap - 1));
        size_t len = (size_t)(tu_rand(&seed) % (tu_rand(&seed) % 2 ? 64 : 3000)) + 1;
        if (op < 10 && size + 1 < cap) {
            model_append(t, f, model, &size, cap, &seed, (unsigned)i);
        } else if (op < 13) {
            if (off + len > cap)
                len = cap - off;
            fill(buf, len, (unsigned)i * 3);
            assert_int_equal(fs_write(t->fs, f, buf, len, (off_t)off, 0), (ssize_t)len);
            memcpy(model + off, buf, len);
            if (off + len > size)
                size = off + len;
        } else if (op < 15) {
            size_t ns = size > 0 ? (size_t)(tu_rand(&seed) % (size + 200)) : 0;
            model_truncate(t, f, model, &size, ns < cap ? ns : cap);
        } else if (op < 16 && size > 0) {
            model_punch(t, f, model, size, (size_t)(tu_rand(&seed) % size), len);
        } else if (op < 17) {
            if (off + len > cap)
                len = cap - off;
            int keep = tu_rand(&seed) % 2;
            assert_int_equal(fs_fallocate(t->fs, f, keep ? FALLOC_FL_KEEP_SIZE : 0,
                                          (off_t)off, (off_t)len), 0);
            if (!keep && off + len > size)
                size = off + len;
        } else if (size > 0) {
            check_seek(t, f, model, size, (size_t)(tu_rand(&seed) % size));
        }
        assert_int_equal(fs_read(t->fs, f, r, cap, 0), (ssize_t)size);
        assert_memory_equal(r, model, size);
        if (i % 500 == 499)
            fsck_clean(t);
    }
    free(model);
    free(buf);
    free(r);
}

/* fsck reports an append's patch whose block was lost or shortened (the
 * patch's bytes would otherwise make alloc add up). */
static void append_then_damage(T *t, int shorten)
{
    char d[4096];
    fill(d, sizeof d, 3);
    uint64_t f = mkfile(t, FS_ROOT_INO, shorten ? "short" : "lost");
    assert_int_equal(fs_write(t->fs, f, d, 2000, 0, 0), 2000);
    assert_int_equal(fs_write(t->fs, f, d + 2000, 100, 2000, 0), 100);
    assert_int_equal(patch_keys(t, f), 1);
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
    lsm_db *db;
    assert_int_equal(lsm_open(t->store, NULL, &db), LSM_OK);
    char key[32];
    size_t kl = fs_key_block(key, f, 0);
    assert_int_equal(shorten ? lsm_put(db, key, kl, d, 1000, 0) : lsm_delete(db, key, kl, 0),
                     LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    fsck_options fo;
    fsck_options_init(&fo);
    fsck_result fr;
    assert_int_not_equal(fs_fsck(t->store, &fo, &fr), FSCK_EXIT_CLEAN);
    assert_true(fr.problems >= 1);
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
}

static void test_append_fsck_damage(void **state)
{
    append_then_damage(*state, 0);
    append_then_damage(*state, 1);
}

/* --- a random model of patched files ----------------------------------------
 * Small unaligned writes over a large fully stored file (block patches),
 * writeback-style and O_APPEND appends, large writes, truncates to
 * unaligned sizes (shrinks, extends, to inline and back), punches,
 * fallocate, copy_file_range (to, from and within the file), rewrites
 * that make the file fully stored again, reopens, snapshots read through
 * views against the model as of the snapshot, reads of fewer and of 4 or
 * more blocks (lookups, read_scan), SEEK_DATA/SEEK_HOLE, fsck. */

#define PM_SNAPS 3

struct pm_snap {
    char name[32];
    char *model;              /* NULL: no snapshot in this slot */
    size_t size;
};

static void pm_read(fs_t *fs, uint64_t ino, const char *model, size_t size,
                    size_t off, size_t len, uint64_t seed, int op, const char *what)
{
    size_t want = off >= size ? 0 : (len < size - off ? len : size - off);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    memset(buf, 0x5a, len + 1);
    ssize_t got = fs_read(fs, ino, buf, len, (off_t)off);
    if (got != (ssize_t)want)
        fail_msg("seed %llu op %d %s: read of %zu at %zu: %zd bytes, want %zu",
                 (unsigned long long)seed, op, what, len, off, got, want);
    for (size_t i = 0; i < want; i++)
        if (buf[i] != model[off + i])
            fail_msg("seed %llu op %d %s: read of %zu at %zu (size %zu): byte %zu "
                     "is 0x%02x, want 0x%02x", (unsigned long long)seed, op, what,
                     len, off, size, off + i, (unsigned char)buf[i],
                     (unsigned char)model[off + i]);
    free(buf);
}

/* Windows of the file: one of under 4 blocks (lookups), one of 4 or more
 * (read_scan), the same range read both ways, and the whole file. */
static void pm_windows(fs_t *fs, uint64_t ino, const char *model, size_t size,
                       size_t bs, uint64_t *rs, uint64_t seed, int op,
                       const char *what)
{
    size_t off = (size_t)(tu_rand(rs) % (size + 50));
    pm_read(fs, ino, model, size, off, 1 + (size_t)(tu_rand(rs) % (3 * bs)), seed, op, what);
    off = (size_t)(tu_rand(rs) % (size + 50));
    size_t len = 3 * bs + 2 + (size_t)(tu_rand(rs) % (8 * bs));
    pm_read(fs, ino, model, size, off, len, seed, op, what);
    for (size_t p = off; p < off + len; p += bs - 1)
        pm_read(fs, ino, model, size, p, bs - 1 < off + len - p ? bs - 1 : off + len - p,
                seed, op, what);
    pm_read(fs, ino, model, size, 0, size + 10, seed, op, what);
}

static void pm_check_snap(T *t, uint64_t ino, struct pm_snap *s, uint64_t *rs,
                          uint64_t seed, int op)
{
    fs_t *v;
    assert_int_equal(fs_view_open(t->fs, s->name, &v, NULL), 0);
    struct stat vst;
    assert_int_equal(fs_getattr(v, ino, &vst), 0);
    assert_int_equal(vst.st_size, (off_t)s->size);
    pm_windows(v, ino, s->model, s->size, t->o.block_bytes, rs, seed, op, s->name);
    fs_view_close(v);
}

static void pm_run(T *t, uint64_t seed0, int ops, int fsck_every)
{
    const size_t bs = t->o.block_bytes, cap = 48 * 4096;
    char *model = calloc(1, cap), *gm = calloc(1, cap), *buf = malloc(cap);
    char *tmp = malloc(cap);
    assert_true(model && gm && buf && tmp);
    char name[64];
    uint64_t seed = seed0 * 2654435761u + 1;
    snprintf(name, sizeof name, "pm%llu", (unsigned long long)seed0);
    uint64_t f = mkfile(t, FS_ROOT_INO, name);
    snprintf(name, sizeof name, "pg%llu", (unsigned long long)seed0);
    uint64_t g = mkfile(t, FS_ROOT_INO, name);
    size_t gsize = 20 * 4096 + 77;
    fill(gm, gsize, (unsigned)seed0 + 3);
    assert_int_equal(fs_write(t->fs, g, gm, gsize, 0, 0), (ssize_t)gsize);
    size_t size = 10 * 4096 + (size_t)(tu_rand(&seed) % (34 * 4096));
    fill(model, size, (unsigned)seed0);
    assert_int_equal(fs_write(t->fs, f, model, size, 0, 0), (ssize_t)size);
    struct pm_snap snaps[PM_SNAPS];
    memset(snaps, 0, sizeof snaps);
    size_t resv_hi = 0;                /* past every fallocate'd range */
    for (int i = 0; i < ops; i++) {
        unsigned op = (unsigned)(tu_rand(&seed) % 100);
        if (op < 35) {                       /* small write, mostly inside */
            size_t n = 1 + (size_t)(tu_rand(&seed) % (tu_rand(&seed) % 4 ? 100 : 1500));
            size_t off = (size_t)(tu_rand(&seed) % (size + (tu_rand(&seed) % 8 ? 1 : 300)));
            if (off >= cap)
                off = cap - 1;
            if (off + n > cap)
                n = cap - off;
            if (tu_rand(&seed) % 8 == 0)
                memset(buf, 0, n);
            else
                fill(buf, n, (unsigned)i * 5 + 1);
            assert_int_equal(fs_write(t->fs, f, buf, n, (off_t)off, 0), (ssize_t)n);
            memcpy(model + off, buf, n);
            if (off + n > size)
                size = off + n;
        } else if (op < 43) {                /* an append, the page head resent */
            if (size + 1 >= cap)
                continue;
            model_append(t, f, model, &size, cap, &seed, (unsigned)i);
        } else if (op < 48) {                /* O_APPEND */
            size_t n = 1 + (size_t)(tu_rand(&seed) % 700);
            if (size + n > cap)
                continue;
            fill(buf, n, (unsigned)i * 7);
            assert_int_equal(fs_write(t->fs, f, buf, n, (off_t)(tu_rand(&seed) % cap),
                                      FS_WRITE_APPEND), (ssize_t)n);
            memcpy(model + size, buf, n);
            size += n;
        } else if (op < 55) {                /* a large write */
            size_t n = 1 + (size_t)(tu_rand(&seed) % (5 * bs));
            size_t off = (size_t)(tu_rand(&seed) % (size + bs));
            if (off >= cap)
                off = cap - 1;
            if (off + n > cap)
                n = cap - off;
            fill(buf, n, (unsigned)i * 11);
            assert_int_equal(fs_write(t->fs, f, buf, n, (off_t)off, 0), (ssize_t)n);
            memcpy(model + off, buf, n);
            if (off + n > size)
                size = off + n;
        } else if (op < 63) {                /* truncate */
            unsigned k = (unsigned)(tu_rand(&seed) % 10);
            size_t ns;
            if (k < 5)
                ns = (size_t)(tu_rand(&seed) % (size + 1));
            else if (k < 8)
                ns = size + (size_t)(tu_rand(&seed) % (3 * bs));
            else if (k < 9)
                ns = (size / bs) * bs + (size_t)(tu_rand(&seed) % 3) - 1;
            else
                ns = (size_t)(tu_rand(&seed) % (t->o.inline_max + 100));
            if (ns > cap)
                ns = cap;
            model_truncate(t, f, model, &size, ns);
        } else if (op < 67) {                /* punch */
            size_t off = (size_t)(tu_rand(&seed) % (size + 100));
            size_t len = 1 + (size_t)(tu_rand(&seed) % (tu_rand(&seed) % 2 ? 300 : 6 * bs));
            model_punch(t, f, model, size, off, len);
        } else if (op < 70) {                /* fallocate */
            size_t off = (size_t)(tu_rand(&seed) % cap);
            size_t len = 1 + (size_t)(tu_rand(&seed) % (2 * bs));
            if (off + len > cap)
                len = cap - off;
            int keep = tu_rand(&seed) % 2;
            assert_int_equal(fs_fallocate(t->fs, f, keep ? FALLOC_FL_KEEP_SIZE : 0,
                                          (off_t)off, (off_t)len), 0);
            if (!keep && off + len > size)
                size = off + len;
            if (off + len > resv_hi)
                resv_hi = off + len;
        } else if (op < 75) {                /* copy_file_range */
            unsigned k = (unsigned)(tu_rand(&seed) % 3);
            uint64_t in = k == 0 ? g : f, out = k == 2 ? g : f;
            char *im = k == 0 ? gm : model, *om = k == 2 ? gm : model;
            size_t isz = k == 0 ? gsize : size, *osz = k == 2 ? &gsize : &size;
            size_t len = 1 + (size_t)(tu_rand(&seed) % (tu_rand(&seed) % 2 ? 500 : 6 * bs));
            size_t oi = (size_t)(tu_rand(&seed) % (isz + 100));
            size_t oo = (size_t)(tu_rand(&seed) % (*osz + 100));
            size_t got = oi >= isz ? 0 : (len < isz - oi ? len : isz - oi);
            if (oo + got > cap)
                continue;
            ssize_t r = fs_copy_file_range(t->fs, in, (off_t)oi, out, (off_t)oo, len);
            if (in == out && oi < oo + len && oo < oi + len) {
                assert_int_equal(r, -EINVAL);
                continue;
            }
            assert_int_equal(r, (ssize_t)got);
            memcpy(tmp, im + oi, got);
            memcpy(om + oo, tmp, got);
            if (got > 0 && oo + got > *osz)
                *osz = oo + got;
        } else if (op < 77) {                /* rewrite: fully stored again */
            fill(model, size, (unsigned)i * 13 + 2);
            assert_int_equal(fs_write(t->fs, f, model, size, 0, 0), (ssize_t)size);
        } else if (op < 88) {
            pm_windows(t->fs, f, model, size, bs, &seed, seed0, i, "live");
        } else if (op < 91) {
            if (size > 0)
                check_seek(t, f, model, size, (size_t)(tu_rand(&seed) % size));
        } else if (op < 93) {
            reopen(t);
        } else if (op < 96) {                /* take a snapshot */
            struct pm_snap *s = &snaps[tu_rand(&seed) % PM_SNAPS];
            if (s->model != NULL) {
                pm_check_snap(t, f, s, &seed, seed0, i);
                assert_int_equal(fs_snapshot_delete(t->fs, s->name), 0);
                free(s->model);
            }
            snprintf(s->name, sizeof s->name, "s%llu.%d", (unsigned long long)seed0, i);
            assert_int_equal(fs_snapshot_create(t->fs, s->name, NULL), 0);
            s->model = malloc(cap);
            assert_non_null(s->model);
            memcpy(s->model, model, cap);
            s->size = size;
        } else {                             /* read a snapshot */
            struct pm_snap *s = &snaps[tu_rand(&seed) % PM_SNAPS];
            if (s->model != NULL)
                pm_check_snap(t, f, s, &seed, seed0, i);
        }
        struct stat st = attr(t, f);
        if ((size_t)st.st_size != size)
            fail_msg("seed %llu op %d (kind %u): size %lld, want %zu",
                     (unsigned long long)seed0, i, op, (long long)st.st_size, size);
        /* st_blocks: the stored bytes and fallocate's reservations. */
        size_t room = size > resv_hi ? size : resv_hi;
        if ((size_t)st.st_blocks * 512 > ((room + 4095) & ~(size_t)4095) + 4096)
            fail_msg("seed %llu op %d (kind %u): %lld blocks for size %zu",
                     (unsigned long long)seed0, i, op, (long long)st.st_blocks, size);
        if (i % 50 == 49)
            pm_read(t->fs, f, model, size, 0, cap, seed0, i, "full");
        if (i % 50 == 49)
            pm_read(t->fs, g, gm, gsize, 0, cap, seed0, i, "source");
        if (fsck_every > 0 && i % fsck_every == fsck_every - 1)
            fsck_clean(t);
    }
    pm_read(t->fs, f, model, size, 0, cap, seed0, ops, "end");
    struct stat before = attr(t, f);
    reopen(t);
    assert_int_equal(attr(t, f).st_blocks, before.st_blocks);
    pm_read(t->fs, f, model, size, 0, cap, seed0, ops, "reopened");
    for (int k = 0; k < PM_SNAPS; k++) {
        if (snaps[k].model == NULL)
            continue;
        pm_check_snap(t, f, &snaps[k], &seed, seed0, ops);
        assert_int_equal(fs_snapshot_delete(t->fs, snaps[k].name), 0);
        free(snaps[k].model);
    }
    fsck_clean(t);
    free(model);
    free(gm);
    free(buf);
    free(tmp);
}

/* Seeds [first, first + count) of ops operations each, fsck every fsck
 * operations; LSMFS_PM_SEEDS="first:count:ops:fsck" runs others (e.g.
 * "1:200:1500:500" to hunt). */
static void pm_seeds(T *t, unsigned long long count, unsigned long long ops,
                     unsigned long long fe)
{
    unsigned long long first = 1;
    const char *env = getenv("LSMFS_PM_SEEDS");
    if (env != NULL)
        sscanf(env, "%llu:%llu:%llu:%llu", &first, &count, &ops, &fe);
    for (unsigned long long s = first; s < first + count; s++)
        pm_run(t, s, (int)ops, (int)fe);
}

static void test_patch_random_model(void **state)
{
    pm_seeds(*state, 2, 700, 350);
}

/* 512-byte blocks, inline files up to a whole block. */
static void tiny_blocks(fs_options *o)
{
    o->block_bytes = 512;
    o->inline_max = 512;
    o->lsm.memtable_bytes = 256u << 10;
}

static int setup_tiny(void **state)
{
    return setup_with(state, tiny_blocks);
}

static void test_patch_random_model_tiny(void **state)
{
    pm_seeds(*state, 1, 600, 0);
}

/* 4 KiB blocks, whole blocks in blob files (as mounted). */
static void blob_blocks(fs_options *o)
{
    small_blocks(o);
    o->lsm.memtable_bytes = 128u << 10;
    o->lsm.blob_min_bytes = 2048;
    o->lsm.blob_file_bytes = 256u << 10;
}

static int setup_blob(void **state)
{
    return setup_with(state, blob_blocks);
}

static void test_patch_random_model_blob(void **state)
{
    pm_seeds(*state, 1, 600, 0);
}

/* Data at the far end of the offset range: reads, shrink then extend,
 * punch, seek; fsck finds the store clean. */
static void test_huge_offsets(void **state)
{
    T *t = *state;
    const uint64_t bs = 4096;
    uint64_t f = mkfile(t, FS_ROOT_INO, "edge");
    char d[5 * 4096], r[6 * 4096];
    fill(d, sizeof d, 9);
    uint64_t base = (1ull << 62) + 5;
    assert_int_equal(fs_write(t->fs, f, d, 3000, (off_t)base, 0), 3000);
    /* dense? no. */
    memset(r, 1, sizeof r);
    assert_int_equal(fs_read(t->fs, f, r, sizeof r, (off_t)(base - 10000)), 13000);
    for (int i = 0; i < 10000; i++) assert_int_equal(r[i], 0);
    assert_memory_equal(r + 10000, d, 3000);
    struct stat a, st;
    memset(&a, 0, sizeof a);
    a.st_size = (off_t)(base + 1000);
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    a.st_size = (off_t)(base + 9000);
    assert_int_equal(fs_setattr(t->fs, &t->c, f, &a, FS_SET_SIZE, &st), 0);
    memset(r, 1, sizeof r);
    assert_int_equal(fs_read(t->fs, f, r, sizeof r, (off_t)(base - 10000)), 19000);
    for (int i = 0; i < 10000; i++) assert_int_equal(r[i], 0);
    assert_memory_equal(r + 10000, d, 1000);
    for (int i = 11000; i < 19000; i++) assert_int_equal(r[i], 0);
    assert_int_equal(fs_lseek(t->fs, f, 0, SEEK_DATA), (off_t)(base - base % bs));
    /* the very end */
    uint64_t g = mkfile(t, FS_ROOT_INO, "end");
    assert_int_equal(fs_write(t->fs, g, d, 10, (off_t)(INT64_MAX - 10), 0), 10);
    assert_int_equal(fs_read(t->fs, g, r, 100, (off_t)(INT64_MAX - 10)), 10);
    assert_memory_equal(r, d, 10);
    assert_int_equal(fs_read(t->fs, g, r, 5 * bs, (off_t)(INT64_MAX - 5 * bs)), 5 * bs);
    assert_memory_equal(r + 5 * bs - 10, d, 10);
    assert_int_equal(fs_write(t->fs, g, d, 10, (off_t)(INT64_MAX - 10), 0), 10);
    assert_int_equal(fs_write(t->fs, g, d, 1, (off_t)(INT64_MAX - 1), FS_WRITE_APPEND), -EFBIG);
    assert_int_equal(fs_fallocate(t->fs, g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  (off_t)(INT64_MAX - 5), 5), 0);
    assert_int_equal(fs_read(t->fs, g, r, 100, (off_t)(INT64_MAX - 10)), 10);
    assert_memory_equal(r, d, 5);
    assert_true(fs_lseek(t->fs, g, 0, SEEK_DATA) <= (off_t)(INT64_MAX - 10));
    assert_int_equal(fs_lseek(t->fs, g, 0, SEEK_HOLE), 0);
    a.st_size = 5000;
    assert_int_equal(fs_setattr(t->fs, &t->c, g, &a, FS_SET_SIZE, &st), 0);
    assert_int_equal(attr(t, g).st_blocks, 0);
    fsck_clean(t);
}

/* A read of 0 bytes at offset 0 of a block-based file reads nothing. */
static void test_read_zero_bytes(void **state)
{
    T *t = *state;
    char d[3 * 4096], r[16];
    fill(d, sizeof d, 4);
    uint64_t f = mkfile(t, FS_ROOT_INO, "z");
    assert_int_equal(fs_write(t->fs, f, d, sizeof d, 0, 0), (ssize_t)sizeof d);
    memset(r, 0x5a, sizeof r);
    assert_int_equal(fs_read(t->fs, f, r, 0, 0), 0);
    assert_int_equal(fs_read(t->fs, f, r, 0, 4096), 0);
    assert_int_equal(fs_read(t->fs, f, r, 0, 100), 0);
    for (size_t i = 0; i < sizeof r; i++)
        assert_int_equal(r[i], 0x5a);
}

/* A patch key of a file without the PATCHED flag is invisible to reads
 * until a later write sets the flag: fsck must not let it stay. */
static void test_fsck_stray_patch(void **state)
{
    T *t = *state;
    char d[2 * 4096];
    fill(d, sizeof d, 5);
    uint64_t f = mkfile(t, FS_ROOT_INO, "stray");
    assert_int_equal(fs_write(t->fs, f, d, sizeof d, 0, 0), (ssize_t)sizeof d);
    assert_int_equal(fs_close(t->fs), 0);
    t->fs = NULL;
    lsm_db *db;
    assert_int_equal(lsm_open(t->store, NULL, &db), LSM_OK);
    char key[32], p[8 + 4];
    lsm_encode_fixed32(p, 10);
    lsm_encode_fixed32(p + 4, 4);
    memcpy(p + 8, "XXXX", 4);
    assert_int_equal(lsm_put(db, key, fs_key_patch(key, f, 0), p, sizeof p, 0), LSM_OK);
    assert_int_equal(lsm_close(db), LSM_OK);
    fsck_options fo;
    fsck_options_init(&fo);
    fsck_result fr;
    int rc = fs_fsck(t->store, &fo, &fr);
    if (rc == FSCK_EXIT_CLEAN)
        fail_msg("fsck finds a store clean whose file %llu (not PATCHED) has a "
                 "patch that its next patched write brings to light",
                 (unsigned long long)f);
    fo.flags = FSCK_REPAIR;
    assert_int_equal(fs_fsck(t->store, &fo, &fr), FSCK_EXIT_FIXED);
    assert_int_equal(fs_open(t->store, &t->o, &t->fs), 0);
    char r[sizeof d];
    assert_int_equal(fs_write(t->fs, f, "y", 1, 5000, 0), 1);   /* a patch of block 1 */
    d[5000] = 'y';
    assert_int_equal(fs_read(t->fs, f, r, sizeof r, 0), (ssize_t)sizeof r);
    assert_memory_equal(r, d, sizeof d);
    fsck_clean(t);
}

/* --- reads racing writes -----------------------------------------------------
 * Two threads read windows of a file (lookups and read_scan) while writes,
 * truncates and punches change it: every read returns the bytes of one
 * version of the file (the shared inode lock keeps a read whole). */
#include <pthread.h>
#include <stdatomic.h>

#define PMT_RING 64

struct pmt {
    T *t;
    uint64_t f;
    size_t cap, bs;
    char *ring[PMT_RING];
    size_t sizes[PMT_RING];
    atomic_ulong ver;
    atomic_int stop;
    pthread_mutex_t mu;
    char *snap;               /* the file at version 0 (snapshot "race0") */
    size_t snap_size;
    char msg[256];
};

static void *pmt_reader(void *arg)
{
    struct pmt *p = arg;
    uint64_t rs = 77 + (uint64_t)(uintptr_t)&rs % 1000;
    char *buf = malloc(p->cap + 1);
    while (!atomic_load(&p->stop) && !p->msg[0]) {
        size_t off = (size_t)(tu_rand(&rs) % p->cap);
        size_t len = 1 + (size_t)(tu_rand(&rs) % (tu_rand(&rs) % 2 ? 3 * p->bs : 12 * p->bs));
        unsigned long v0 = atomic_load(&p->ver);
        ssize_t got = fs_read(p->t->fs, p->f, buf, len, (off_t)off);
        unsigned long v1 = atomic_load(&p->ver);
        /* The read saw v0..v1, or v1 + 1 committed but not yet published. */
        while (atomic_load(&p->ver) == v1 && !atomic_load(&p->stop))
            sched_yield();
        pthread_mutex_lock(&p->mu);
        unsigned long now = atomic_load(&p->ver);
        unsigned long hi = v1 + 1 <= now ? v1 + 1 : now;
        int ok = 0;
        if (now - v0 < PMT_RING - 1) {        /* else: versions overwritten */
            for (unsigned long v = v0; v <= hi && !ok; v++) {
                const char *m = p->ring[v % PMT_RING];
                size_t size = p->sizes[v % PMT_RING];
                size_t want = off >= size ? 0 : (len < size - off ? len : size - off);
                ok = got == (ssize_t)want && memcmp(buf, m + off, want) == 0;
            }
            if (!ok)
                snprintf(p->msg, sizeof p->msg, "read of %zu at %zu (versions %lu..%lu): "
                         "%zd bytes, matches none", len, off, v0, hi, got);
        }
        pthread_mutex_unlock(&p->mu);
    }
    free(buf);
    return NULL;
}

/* Reads the file through a view of snapshot "race0" (the file as it was
 * at version 0) while the live file changes. */
static void *pmt_view_reader(void *arg)
{
    struct pmt *p = arg;
    uint64_t rs = 99;
    char *buf = malloc(p->cap + 1);
    fs_t *v;
    if (fs_view_open(p->t->fs, "race0", &v, NULL) != 0) {
        snprintf(p->msg, sizeof p->msg, "view open failed");
        free(buf);
        return NULL;
    }
    while (!atomic_load(&p->stop) && !p->msg[0]) {
        size_t off = (size_t)(tu_rand(&rs) % p->cap);
        size_t len = 1 + (size_t)(tu_rand(&rs) % (tu_rand(&rs) % 2 ? 3 * p->bs : 12 * p->bs));
        ssize_t got = fs_read(v, p->f, buf, len, (off_t)off);
        size_t size = p->snap_size;
        size_t want = off >= size ? 0 : (len < size - off ? len : size - off);
        if (got != (ssize_t)want || memcmp(buf, p->snap + off, want) != 0)
            snprintf(p->msg, sizeof p->msg, "view: read of %zu at %zu: %zd bytes, "
                     "not the snapshot's", len, off, got);
    }
    fs_view_close(v);
    free(buf);
    return NULL;
}

static void test_reads_race_writes(void **state)
{
    T *t = *state;
    struct pmt p;
    memset(&p, 0, sizeof p);
    p.t = t;
    p.bs = t->o.block_bytes;
    p.cap = 40 * 4096;
    pthread_mutex_init(&p.mu, NULL);
    for (int i = 0; i < PMT_RING; i++)
        assert_non_null(p.ring[i] = calloc(1, p.cap));
    char *model = calloc(1, p.cap), *buf = malloc(p.cap);
    p.f = mkfile(t, FS_ROOT_INO, "race");
    size_t size = 30 * 4096 + 123;
    fill(model, size, 1);
    assert_int_equal(fs_write(t->fs, p.f, model, size, 0, 0), (ssize_t)size);
    memcpy(p.ring[0], model, p.cap);
    p.sizes[0] = size;
    assert_int_equal(fs_snapshot_create(t->fs, "race0", NULL), 0);
    assert_non_null(p.snap = malloc(p.cap));
    memcpy(p.snap, model, p.cap);
    p.snap_size = size;
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, i < 2 ? pmt_reader : pmt_view_reader,
                                        &p), 0);
    uint64_t seed = 4242;
    const char *env = getenv("LSMFS_RACE_OPS");
    int ops = env ? atoi(env) : 1500;
    for (int i = 0; i < ops && !p.msg[0]; i++) {
        unsigned op = (unsigned)(tu_rand(&seed) % 20);
        if (op < 12) {
            size_t n = 1 + (size_t)(tu_rand(&seed) % (op < 9 ? 200 : 5 * p.bs));
            size_t off = (size_t)(tu_rand(&seed) % (size + 100));
            if (off + n > p.cap)
                continue;
            fill(buf, n, (unsigned)i);
            assert_int_equal(fs_write(t->fs, p.f, buf, n, (off_t)off, 0), (ssize_t)n);
            memcpy(model + off, buf, n);
            if (off + n > size)
                size = off + n;
        } else if (op < 15) {
            size_t ns = (size_t)(tu_rand(&seed) % (size + 3 * p.bs));
            if (ns > p.cap)
                ns = p.cap;
            model_truncate(t, p.f, model, &size, ns);
        } else if (op < 17) {
            size_t off = (size_t)(tu_rand(&seed) % (size + 1));
            size_t len = 1 + (size_t)(tu_rand(&seed) % (4 * p.bs));
            model_punch(t, p.f, model, size, off, len);
        } else {
            fill(model, size, (unsigned)i + 7);
            assert_int_equal(fs_write(t->fs, p.f, model, size, 0, 0), (ssize_t)size);
        }
        pthread_mutex_lock(&p.mu);
        unsigned long v = atomic_load(&p.ver) + 1;
        memcpy(p.ring[v % PMT_RING], model, p.cap);
        p.sizes[v % PMT_RING] = size;
        atomic_store(&p.ver, v);
        pthread_mutex_unlock(&p.mu);
    }
    atomic_store(&p.stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    if (p.msg[0])
        fail_msg("%s", p.msg);
    for (int i = 0; i < PMT_RING; i++)
        free(p.ring[i]);
    free(p.snap);
    free(model);
    free(buf);
    pthread_mutex_destroy(&p.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inline_to_blocks_and_back, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_no_stale_data_after_shrink, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_sparse_big_file, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_sparse_big_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_and_priv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_priv_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallocate, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_lseek, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_copy_file_range, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_random_model, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_block_patches, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_block_patches_crash, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_append_patches, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_append_seek, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_append_reservations, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_append_random_model, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_append_fsck_damage, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_read_many_blocks, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_patch_random_model, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_patch_random_model_tiny, setup_tiny, teardown),
        cmocka_unit_test_setup_teardown(test_patch_random_model_blob, setup_blob, teardown),
        cmocka_unit_test_setup_teardown(test_huge_offsets, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_read_zero_bytes, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_fsck_stray_patch, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_reads_race_writes, setup_small, teardown),
    };
    if (getenv("LSMFS_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LSMFS_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
